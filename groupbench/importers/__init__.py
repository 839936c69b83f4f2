"""Import-only dataset ids: files converted from data published elsewhere, not generated.

DeepMind's multi_object_datasets (Kabra et al. 2019) publish Tetrominoes and three multi-dSprites
variants as gzip-compressed TFRecord files. `groupbench import deepmind` converts them
(`groupbench.importers.deepmind`); this module only describes them and registers their ids, so that
`groupbench info`, the scorer and the leaderboard know them. See docs/deepmind.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from groupbench.registry import DatasetSpec, register

BUCKET_URL = "https://storage.googleapis.com/multi-object-datasets"
"""Public HTTPS address of DeepMind's bucket ``gs://multi-object-datasets``."""

DEFAULT_SPLITS = (60_000, 10_000, 10_000)
"""Records for train, valid and test, taken consecutively from the start of the file."""


@dataclass(frozen=True)
class DeepMindDataset:
    """One official file and how its records are laid out (DeepMind's reader modules)."""

    name: str
    """The ``--dataset`` name: the file's base name without ``.tfrecords`` (and ``_train``)."""
    dataset_id: str
    bucket_path: str
    """Path of the file in the bucket."""
    image: tuple[int, int, int]
    """(H, W, C) of the ``image`` feature (one byte per value)."""
    entities: int
    """E: masks and factors per record, entity 0 being the background (DeepMind's MAX_NUM_ENTITIES)."""
    pixel_major_mask: bool
    """The ``mask`` feature is stored (H, W, E) and must be transposed to (E, H, W)."""
    factors: tuple[str, ...]
    """Float features of E values each; ``color`` has E x C values."""
    objects: str
    description: str

    @property
    def file_name(self) -> str:
        return self.bucket_path.rsplit("/", 1)[-1]

    @property
    def url(self) -> str:
        return f"{BUCKET_URL}/{self.bucket_path}"


_DSPRITES_FACTORS = ("x", "y", "shape", "color", "visibility", "orientation", "scale")

DEEPMIND = {
    d.name: d
    for d in (
        DeepMindDataset(
            name="tetrominoes",
            dataset_id="deepmind/tetrominoes-v1",
            bucket_path="tetrominoes/tetrominoes_train.tfrecords",
            image=(35, 35, 3),
            entities=4,
            pixel_major_mask=False,
            factors=("x", "y", "shape", "color", "visibility"),
            objects="3",
            description="35x35 RGB: 3 tetrominoes of bevelled 5x5 blocks in 6 colours on black",
        ),
        DeepMindDataset(
            name="multi_dsprites_binarized",
            dataset_id="deepmind/multi-dsprites-binarized-v1",
            bucket_path="multi_dsprites/multi_dsprites_binarized.tfrecords",
            image=(64, 64, 1),
            entities=4,
            pixel_major_mask=True,
            factors=_DSPRITES_FACTORS,
            objects="2-3",
            description="64x64 grey: 2-3 white dSprites (square, ellipse, heart) on black, occluding each other",
        ),
        DeepMindDataset(
            name="multi_dsprites_colored_on_grayscale",
            dataset_id="deepmind/multi-dsprites-colored-on-grayscale-v1",
            bucket_path="multi_dsprites/multi_dsprites_colored_on_grayscale.tfrecords",
            image=(64, 64, 3),
            entities=6,
            pixel_major_mask=True,
            factors=_DSPRITES_FACTORS,
            objects="2-5",
            description="64x64 RGB: 2-5 dSprites in random colours on a random grey background, occluding",
        ),
        DeepMindDataset(
            name="multi_dsprites_colored_on_colored",
            dataset_id="deepmind/multi-dsprites-colored-on-colored-v1",
            bucket_path="multi_dsprites/multi_dsprites_colored_on_colored.tfrecords",
            image=(64, 64, 3),
            entities=5,
            pixel_major_mask=True,
            factors=_DSPRITES_FACTORS,
            objects="1-4",
            description="64x64 RGB: 1-4 dSprites in random colours on a random colour, occluding",
        ),
    )
}
"""``--dataset`` name -> description of the official file."""

_SOURCE = "Kabra et al. 2019 (DeepMind multi_object_datasets), official TFRecord file {file}; used by Greff et al. 2019 (IODINE)"
_NOTES = (
    "imported, not generated: consecutive records of the official file (train, valid, test); masks are the visible "
    "regions (DeepMind publishes no amodal masks), so overlap is empty; factors as stored (float32); seed 0 is unused"
)

for _d in DEEPMIND.values():
    register(
        DatasetSpec(
            id=_d.dataset_id,
            generator=None,
            description=_d.description,
            paper=_SOURCE.format(file=_d.bucket_path),
            image_size=_d.image,
            objects=_d.objects,
            splits=dict(zip(("train", "valid", "test"), DEFAULT_SPLITS)),
            default_seed=0,
            primary_metric="ari",
            notes=_NOTES,
            imported_by=f"groupbench import deepmind FILE --dataset {_d.name} --out OUT",
            import_params={"source": _d.file_name, "source_sha256": None, "splits": list(DEFAULT_SPLITS), "limit": None},
        )
    )
