"""Import-only dataset ids: files converted from data published elsewhere, not generated.

DeepMind's multi_object_datasets (Kabra et al. 2019) publish Tetrominoes, three multi-dSprites
variants, CLEVR (with masks) and Objects Room as gzip-compressed TFRecord files. `groupbench import
deepmind` converts them (`groupbench.importers.deepmind`), `groupbench import emorl` and `groupbench
import huggingface` convert the copies users already hold (`groupbench.importers.emorl`,
`groupbench.importers.huggingface`) into the same ids. This module only describes the files and the
ids and registers them, so that `groupbench info`, the scorer and the leaderboard know them. See
docs/deepmind.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from groupbench.importers.resize import Crop
from groupbench.registry import DatasetSpec, register

BUCKET_URL = "https://storage.googleapis.com/multi-object-datasets"
"""Public HTTPS address of DeepMind's bucket ``gs://multi-object-datasets``."""

DEFAULT_SPLITS = (60_000, 10_000, 10_000)
"""Records for train, valid and test, taken consecutively from the start of the file."""


@dataclass(frozen=True)
class FactorFeature:
    """A per-entity feature of the records: ``width`` values per entity."""

    name: str
    kind: str
    """"float": a float32 list (FloatList); "code": one one-byte string per entity (uint8 codes)."""
    width: int = 1


@dataclass(frozen=True)
class DeepMindFile:
    """One official file and how its records are laid out (DeepMind's reader modules)."""

    name: str
    """The file's base name without ``.tfrecords``."""
    bucket_path: str
    """Path of the file in the bucket."""
    image: tuple[int, int, int]
    """(H, W, C) of the ``image`` feature (one byte per value)."""
    entities: int
    """E: masks (and factors) per record, the first the background (DeepMind's MAX_NUM_ENTITIES)."""
    pixel_major_mask: bool
    """The ``mask`` feature is stored (H, W, E) and must be transposed to (E, H, W)."""
    factors: tuple[FactorFeature, ...]
    records: int
    """How many records the file holds, as documented (DeepMind's README, or third-party counts)."""
    users: str
    """Papers that report results on it."""

    @property
    def file_name(self) -> str:
        return self.bucket_path.rsplit("/", 1)[-1]

    @property
    def url(self) -> str:
        return f"{BUCKET_URL}/{self.bucket_path}"

    def factor(self, name: str) -> FactorFeature:
        return next(f for f in self.factors if f.name == name)


@dataclass(frozen=True)
class Selection:
    """Splits of the records an object-count filter keeps, after IODINE and Slot Attention's CLEVR6.

    Records before ``evaluation_from`` that pass the filter are ``train`` (if ``train``); from
    ``evaluation_from`` on, the first ``test`` records that pass are ``test`` and the next ``valid``
    (None: all the rest of the file) are ``valid``.
    """

    evaluation_from: int = 70_000
    test: int = 320
    valid: int | None = None
    train: bool = True


@dataclass(frozen=True)
class DeepMindDataset:
    """A registered id: which file it is imported from, and how (``--dataset`` name ``name``)."""

    name: str
    dataset_id: str
    file: DeepMindFile
    description: str
    objects: str
    background: int = 1
    """Entities 0..background-1 are background (label 0); the object slots are the entities after them."""
    slots: int | None = None
    """O, the object slots kept (None: every entity after the background)."""
    factors: tuple[str, ...] | None = None
    """The factors the id stores (None: every factor of the file)."""
    crop: Crop | None = None
    """Crop and resize of images (bilinear) and masks (nearest), or None to keep them as stored."""
    objects_kept: tuple[int, int] | None = None
    """Only records with this many objects (inclusive range) are imported; `selection` splits them."""
    splits: tuple[int, int, int] = DEFAULT_SPLITS
    """Default consecutive records for train, valid and test (ids without `objects_kept`)."""
    selection: Selection = Selection()
    """Default splits of ids with `objects_kept`."""

    @property
    def image(self) -> tuple[int, int, int]:
        """(H, W, C) of the imported images."""
        if self.crop is None:
            return self.file.image
        return (*self.crop.size, self.file.image[2])

    @property
    def max_objects(self) -> int:
        return self.slots if self.slots is not None else self.file.entities - self.background

    @property
    def factor_names(self) -> tuple[str, ...]:
        return self.factors if self.factors is not None else tuple(f.name for f in self.file.factors)

    @property
    def selected(self) -> bool:
        return self.objects_kept is not None

    @property
    def file_name(self) -> str:
        return self.file.file_name


_DSPRITES_FACTORS = tuple(
    FactorFeature(name, "float", 3 if name == "color" else 1)
    for name in ("x", "y", "shape", "color", "visibility", "orientation", "scale")
)
_CLEVR_FACTORS = (
    *(FactorFeature(name, "float") for name in ("x", "y", "z", "rotation")),
    FactorFeature("pixel_coords", "float", 3),
    FactorFeature("visibility", "float"),
    *(FactorFeature(name, "code") for name in ("color", "material", "shape", "size")),
)
CLEVR_FRAME_FREE_FACTORS = ("x", "y", "z", "rotation", "visibility", "color", "material", "shape", "size")
"""CLEVR factors that do not depend on the image frame: all but ``pixel_coords`` (the cropped ids)."""
CLEVR_CROP = Crop(top=29, left=64, height=192, width=192, size=(128, 128))
"""IODINE's and Slot Attention's CLEVR preprocessing: rows 29..220, columns 64..255, to 128x128."""


_IODINE, _MONET, _SLOTS = "Greff et al. 2019 (IODINE)", "Burgess et al. 2019 (MONet)", "Locatello et al. 2020 (Slot Attention)"


def _dsprites_file(name: str, channels: int, entities: int) -> DeepMindFile:
    return DeepMindFile(
        name, f"multi_dsprites/{name}.tfrecords", (64, 64, channels), entities, True, _DSPRITES_FACTORS, 1_000_000,
        f"{_MONET}, {_IODINE}, {_SLOTS}",
    )


def _room_file(name: str, entities: int, records: int) -> DeepMindFile:
    return DeepMindFile(name, f"objects_room/{name}.tfrecords", (64, 64, 3), entities, False, (), records, _MONET)


FILES = {
    f.name: f
    for f in (
        DeepMindFile(
            "tetrominoes_train", "tetrominoes/tetrominoes_train.tfrecords", (35, 35, 3), 4, False,
            tuple(FactorFeature(n, "float", 3 if n == "color" else 1) for n in ("x", "y", "shape", "color", "visibility")),
            1_000_000, f"{_IODINE}, {_SLOTS}",
        ),
        _dsprites_file("multi_dsprites_binarized", 1, 4),
        _dsprites_file("multi_dsprites_colored_on_grayscale", 3, 6),
        _dsprites_file("multi_dsprites_colored_on_colored", 3, 5),
        DeepMindFile(
            "clevr_with_masks_train", "clevr_with_masks/clevr_with_masks_train.tfrecords", (240, 320, 3), 11, False,
            _CLEVR_FACTORS, 100_000, f"{_MONET}, {_IODINE}, {_SLOTS}",
        ),
        _room_file("objects_room_train", 7, 1_000_000),
        _room_file("objects_room_test_empty_room", 4, 922),
        _room_file("objects_room_test_six_objects", 10, 922),
        _room_file("objects_room_test_identical_color", 10, 922),
    )
}
"""File name -> description of the official file."""

_ROOM = "64x64 RGB renders of a room (sky, floor, two walls) with"
ROOM_TEST_SPLITS = (0, 0, 922)
"""Objects Room's test files: all their records (922 each, third-party counts) make the test split."""

DEEPMIND = {
    d.name: d
    for d in (
        DeepMindDataset(
            "tetrominoes", "deepmind/tetrominoes-v1", FILES["tetrominoes_train"],
            "35x35 RGB: 3 tetrominoes of bevelled 5x5 blocks in 6 colours on black", "3",
        ),
        DeepMindDataset(
            "multi_dsprites_binarized", "deepmind/multi-dsprites-binarized-v1", FILES["multi_dsprites_binarized"],
            "64x64 grey: 2-3 white dSprites (square, ellipse, heart) on black, occluding each other", "2-3",
        ),
        DeepMindDataset(
            "multi_dsprites_colored_on_grayscale", "deepmind/multi-dsprites-colored-on-grayscale-v1",
            FILES["multi_dsprites_colored_on_grayscale"],
            "64x64 RGB: 2-5 dSprites in random colours on a random grey background, occluding", "2-5",
        ),
        DeepMindDataset(
            "multi_dsprites_colored_on_colored", "deepmind/multi-dsprites-colored-on-colored-v1",
            FILES["multi_dsprites_colored_on_colored"],
            "64x64 RGB: 1-4 dSprites in random colours on a random colour, occluding", "1-4",
        ),
        DeepMindDataset(
            "clevr6", "deepmind/clevr6-v1", FILES["clevr_with_masks_train"],
            "128x128 RGB: CLEVR scenes with at most 6 objects, cropped and resized as IODINE and Slot Attention did",
            "<=6", slots=6, factors=CLEVR_FRAME_FREE_FACTORS, crop=CLEVR_CROP, objects_kept=(0, 6),
        ),
        DeepMindDataset(
            "clevr10", "deepmind/clevr10-v1", FILES["clevr_with_masks_train"],
            "128x128 RGB: CLEVR scenes with 7-10 objects (the CLEVR6 generalisation test), cropped and resized",
            "7-10", factors=CLEVR_FRAME_FREE_FACTORS, crop=CLEVR_CROP, objects_kept=(7, 10),
            selection=Selection(test=320, valid=0, train=False),
        ),
        DeepMindDataset(
            "clevr_with_masks", "deepmind/clevr-with-masks-v1", FILES["clevr_with_masks_train"],
            "240x320 RGB: DeepMind's CLEVR renders with up to 10 objects, uncropped", "<=10",
            splits=(70_000, 10_000, 20_000),
        ),
        DeepMindDataset(
            "objects_room", "deepmind/objects-room-v1", FILES["objects_room_train"],
            f"{_ROOM} up to 3 objects", "<=3", background=4,
        ),
        DeepMindDataset(
            "objects_room_empty_room", "deepmind/objects-room-empty-room-v1", FILES["objects_room_test_empty_room"],
            f"{_ROOM} no object (test set; one object slot, always empty)", "0", background=4, slots=1,
            splits=ROOM_TEST_SPLITS,
        ),
        DeepMindDataset(
            "objects_room_six_objects", "deepmind/objects-room-six-objects-v1", FILES["objects_room_test_six_objects"],
            f"{_ROOM} 6 objects (test set)", "6", background=4, splits=ROOM_TEST_SPLITS,
        ),
        DeepMindDataset(
            "objects_room_identical_color", "deepmind/objects-room-identical-color-v1",
            FILES["objects_room_test_identical_color"], f"{_ROOM} 4-6 objects of one colour (test set)", "4-6",
            background=4, splits=ROOM_TEST_SPLITS,
        ),
    )
}
"""``--dataset`` name -> the id and how it is imported."""

_SOURCE = "Kabra et al. 2019 (DeepMind multi_object_datasets), official TFRecord file {file}; used by {users}"
_NOTES = (
    "imported, not generated: {carving}; masks are the visible regions (DeepMind publishes no amodal masks), so "
    "overlap is empty; {background}; {factors}; seed 0 is unused"
)


def carving_note(d: DeepMindDataset) -> str:
    """The carving of ``d``'s splits, in words."""
    if not d.selected:
        if d.splits[:2] == (0, 0):
            return "the records of the official test file, in order (test)"
        return "consecutive records of the official file (train, valid, test)"
    low, high = d.objects_kept
    kept = f"records with {low}-{high} objects" if low else f"records with at most {high} objects"
    s = d.selection
    parts = [f"train: the {kept} among records 0-{s.evaluation_from - 1:,}"] if s.train else []
    parts.append(f"test: the first {s.test} {kept} from record {s.evaluation_from:,} on")
    if s.valid != 0:
        parts.append(f"valid: the {kept} after those" + ("" if s.valid is None else f" (at most {s.valid:,})"))
    return "; ".join(parts)


def _background_note(d: DeepMindDataset) -> str:
    if d.background == 1:
        note = "entity 0 (the background) is label 0"
    else:
        note = (f"entities 0-{d.background - 1} (sky, floor, walls) are label 0, even in the records where only 3 "
                "of them are background")
    if d.crop is not None:
        c = d.crop
        note += (f"; cropped to rows {c.top}-{c.top + c.height - 1}, columns {c.left}-{c.left + c.width - 1} and "
                 f"resized to {c.size[0]}x{c.size[1]} (images bilinear, masks nearest)")
    return note


def _splits_of(d: DeepMindDataset) -> dict[str, int]:
    if not d.selected:
        return {name: n for name, n in zip(("train", "valid", "test"), d.splits) if n}
    s = d.selection
    sizes = {"train": s.evaluation_from} if s.train else {}
    if s.valid != 0:  # at most the records after the evaluation set
        sizes["valid"] = s.valid if s.valid is not None else d.file.records - s.evaluation_from - s.test
    sizes["test"] = s.test
    return sizes


def standard_params(d: DeepMindDataset) -> dict:
    """The ``params`` a standard import of ``d`` from the official file records (bar the file's SHA-256)."""
    if d.selected:
        s = d.selection
        carving = {"evaluation_from": s.evaluation_from, "test": s.test, "valid": s.valid}
    else:
        carving = {"splits": list(d.splits)}
    return {"source": d.file_name, "source_sha256": None, **carving, "limit": None, "factors": True}


for _d in DEEPMIND.values():
    register(
        DatasetSpec(
            id=_d.dataset_id,
            generator=None,
            description=_d.description,
            paper=_SOURCE.format(file=_d.file.bucket_path, users=_d.file.users),
            image_size=_d.image,
            objects=_d.objects,
            splits=_splits_of(_d),
            default_seed=0,
            primary_metric="ari",
            notes=_NOTES.format(
                carving=carving_note(_d), background=_background_note(_d),
                factors="factors as stored" if _d.factor_names else "no factors (DeepMind publishes none)",
            ),
            imported_by=f"groupbench import deepmind FILE --dataset {_d.name} --out OUT",
            import_params=standard_params(_d),
        )
    )
