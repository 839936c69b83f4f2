"""Protocols: how each dataset configuration on the leaderboard is scored, and what ranks together.

A `Protocol` names, for one dataset configuration (a dataset id and its non-default parameters),
the images that are scored (split, first image, count; for files imported from DeepMind's records,
the first record of the source file), the metrics, the conventions (pixels, AMI normaliser,
degenerate images, frames of a sequence) and the metric that ranks. The papers whose numbers the
board holds define them: RC scored the first 1,000 test images, N-EM all 10,000 and the frames
its steps predict, IODINE and Slot Attention 320 images with DeepMind's FG-ARI.

    protocol = protocols.get("tetris-v1")                 # or get(dataset_id, params)
    results, table = protocols.score("pred.h5", "tetris.h5")   # under the file's protocol
    results["headline"]                                   # {"metric": "ari", "mean": ..., ...}
    protocol.differences(entry)                           # [] when a leaderboard entry follows it

The list per dataset, with the papers behind each: docs/leaderboard.md ("Protocols").
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from groupbench import registry
from groupbench.errors import GroupbenchError
from groupbench.metrics import METRICS
from groupbench.scoring import Conventions, parse_metric_key, score_file

SPLIT_ORDER = ("train", "valid", "test")
"""Order of the splits of an imported file in its source's records (docs/deepmind.md)."""


@dataclass(frozen=True)
class Protocol:
    """How one dataset configuration is scored and ranked."""

    name: str
    """Short name shown on the board, e.g. ``rc-1000``."""
    dataset: str
    """Dataset id."""
    params: dict[str, Any] = field(default_factory=dict)
    """The configuration: parameters that differ from the dataset's defaults."""
    images: int = 0
    """Images (or sequences) scored."""
    primary: str = "ami"
    """The score that ranks, as results name it (``ari``, ``ami/per-frame/skip-first``)."""
    conventions: Conventions = Conventions()
    """Pixels, normaliser, degenerate policy and frames of every metric."""
    defined_by: str = ""
    """The papers (and what they scored) that define the protocol."""
    split: str = "test"
    """Split scored (generated data): its first `images` images."""
    first_record: int | None = None
    """Imported data: the scored images start at this record of the source file, in whichever
    split of the import holds it (IODINE and Slot Attention: records 60,000..60,319)."""
    metrics: tuple[str, ...] = METRICS
    """Metrics reported, the primary's among them."""

    @property
    def label(self) -> str:
        """The configuration as the board labels it: ``multi-dsprites-v1[variant=binarized]``."""
        from groupbench.leaderboard.submit import dataset_label

        return dataset_label(self.dataset, self.params)

    @property
    def images_text(self) -> str:
        """E.g. ``the first 1,000 test images`` or ``records 60,000..60,319 of the source file``."""
        if self.first_record is not None:
            return f"records {self.first_record:,}..{self.first_record + self.images - 1:,} of the source file"
        try:
            spec = registry.get(self.dataset)
        except GroupbenchError:
            return f"the first {self.images:,} {self.split} images"
        items = "sequences" if spec.sequence_length else "images"
        whole = spec.splits.get(self.split) == self.images
        return f"{'all' if whole else 'the first'} {self.images:,} {self.split} {items}"

    def describe(self, name_of=str) -> str:
        """One line: images, primary score (named by ``name_of``) and conventions."""
        c = self.conventions
        parts = [f"{self.images_text}", f"ranked by {name_of(self.primary)}", f"pixels {c.pixels}"]
        if "ami" in self.metrics:
            parts.append(f"AMI normaliser {c.average_method}")
        parts.append(f"degenerate images {'1.0 (scikit-learn)' if c.degenerate == 'one' else 'NaN (DeepMind)'}")
        if c.frames != ("all",):
            parts.append("frames " + " and ".join(c.frames))
        return "; ".join(parts)

    def record(self) -> dict[str, Any]:
        """The protocol as results files record it."""
        return {
            "name": self.name,
            "dataset": self.dataset,
            "params": dict(self.params),
            "images": self.images,
            "split": self.split,
            "first_record": self.first_record,
            "primary": self.primary,
            "metrics": list(self.metrics),
            "conventions": self.conventions.as_dict(),
            "defined_by": self.defined_by,
        }

    def locate(self, dataset: str | Path) -> tuple[str, int]:
        """(split, first image) of the protocol's images in a groupbench file of this configuration."""
        from groupbench.format import open_file, split_names

        with open_file(dataset) as handle:
            sizes = {s: handle[s]["images"].shape[0] for s in split_names(handle)}
        return self.locate_in(sizes, str(dataset))

    def locate_in(self, sizes: dict[str, int], where: str = "the file") -> tuple[str, int]:
        """(split, first image) of the protocol's images, given the number of images of each split."""
        if self.first_record is None:
            if sizes.get(self.split, 0) < self.images:
                raise GroupbenchError(
                    f"{where}: the {self.name} protocol scores {self.images_text}; its {self.split} split holds "
                    f"{sizes.get(self.split, 0):,} (generate it with the default sizes)"
                )
            return self.split, 0
        offset = 0
        for split in SPLIT_ORDER:
            size = sizes.get(split, 0)
            if offset <= self.first_record and self.first_record + self.images <= offset + size:
                return split, self.first_record - offset
            offset += size
        held = ", ".join(f"{s} {sizes.get(s, 0):,}" for s in SPLIT_ORDER)
        raise GroupbenchError(
            f"{where}: the {self.name} protocol scores {self.images_text}, which no split of this import holds "
            f"whole ({held}, in that order); import with the default splits or --splits "
            f"{self.first_record},0,{self.images}"
        )

    def differences(self, entry: dict[str, Any]) -> list[str]:
        """How a leaderboard entry departs from the protocol: [] when it follows it.

        Reported numbers count as official data (the paper's own test data); entries that do not
        state a degenerate policy or a frame selection are read with the defaults (1.0; all frames).
        """
        data, conventions = entry["dataset"], self.conventions
        found = []
        if not data["official"]:
            found.append("not the official data")
        if self.first_record is None and data["split"] != self.split:
            found.append(f"split {data['split']} (protocol: {self.split})")
        if data["images"] != self.images:
            found.append(f"{data['images']:,} images (protocol: {self.images:,})" if data["images"] else "image count unknown")
        metric = entry["metrics"].get(self.primary)
        if metric is None:
            found.append(f"no {self.primary} score")
            return found
        c = metric["conventions"]
        if c["include_background"] != conventions.include_background:
            found.append("background scored" if c["include_background"] else "background left out")
        if c["include_overlap"] != conventions.include_overlap:
            found.append("overlap pixels scored" if c["include_overlap"] else "overlap pixels left out "
                         "(protocol: scored under their visible object)")
        if parse_metric_key(self.primary)[0] == "ami" and c.get("average_method") != conventions.average_method:
            found.append(f"AMI normaliser {c.get('average_method', 'unknown')} (protocol: {conventions.average_method})")
        if c.get("degenerate", "one") != conventions.degenerate:
            found.append(f"degenerate images scored {c['degenerate']} (protocol: {conventions.degenerate})")
        if c.get("background_in_segments", False) != conventions.background_in_segments:
            found.append("background kept in the segments" if c.get("background_in_segments") else "background left out of the segments")
        return found


def configuration(dataset_id: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """The configuration of a dataset file or entry: its parameters that differ from the defaults.

    The options of an import (source file, its SHA-256, splits) are not a configuration: the
    protocol says which records are scored. Unregistered ids keep their parameters as given.
    """
    from groupbench.leaderboard.submit import changed_params

    try:
        spec = registry.get(dataset_id)
    except GroupbenchError:
        return dict(sorted((params or {}).items()))
    if spec.imported:
        return {}
    return changed_params(dataset_id, params or {})


def configuration_label(dataset_id: str, params: dict[str, Any] | None = None) -> str:
    """``shapes-v1``, ``flying-shapes-v1[num_objects=5]``: what the board groups entries by."""
    from groupbench.leaderboard.submit import dataset_label

    return dataset_label(dataset_id, configuration(dataset_id, params))


def get(dataset_id: str, params: dict[str, Any] | None = None) -> Protocol:
    """The protocol of a dataset configuration (params: the file's or entry's parameters, full or
    only those that differ). Unknown configurations raise GroupbenchError with a suggestion."""
    label = configuration_label(dataset_id, params)
    if label in PROTOCOLS:
        return PROTOCOLS[label]
    close = difflib.get_close_matches(label, list(PROTOCOLS), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise GroupbenchError(f"no protocol for {label}{hint} ('groupbench leaderboard protocols' lists them)")


def find(dataset_id: str, params: dict[str, Any] | None = None) -> Protocol | None:
    """The protocol of a configuration, or None when it has none."""
    return PROTOCOLS.get(configuration_label(dataset_id, params))


def score(predictions: str | Path, dataset: str | Path, *, protocol: Protocol | None = None, device: str = "cpu",
          allow_fewer: bool = False):
    """Score a predictions file under the protocol of the dataset file's configuration (or the one given).

    Predictions cover the split that holds the protocol's images, from its first image, or exactly
    the protocol's images. A file whose split holds fewer images than the protocol scores is
    refused, unless ``allow_fewer``: then all its images are scored with the protocol's metrics and
    conventions (a small test set; the board shows such a result apart). Returns (results, per-image
    table) as `groupbench.scoring.score_file`, with ``results["protocol"]`` (the protocol) and
    ``results["headline"]`` (its primary score).
    """
    from groupbench.format import file_metadata, open_file

    with open_file(dataset) as handle:
        meta = file_metadata(handle)
    label = configuration_label(meta["dataset"], meta["params"])
    protocol = protocol or get(meta["dataset"], meta["params"])
    if protocol.label != label:
        raise GroupbenchError(f"{dataset} is {label}; the {protocol.name} protocol is for {protocol.label}")
    try:
        split, first = protocol.locate(dataset)
        count = protocol.images
    except GroupbenchError:
        if not allow_fewer or protocol.first_record is not None:
            raise
        split, first, count = protocol.split, 0, None
    results, table = score_file(predictions, dataset, split=split, metrics=protocol.metrics,
                                conventions=protocol.conventions, device=device, first=first, count=count)
    results["protocol"] = protocol.record()
    results["headline"] = {"metric": protocol.primary, **results["metrics"][protocol.primary]}
    return results, table


# --- the protocols -------------------------------------------------------------------------------

RC = ("Greff, Srivastava & Schmidhuber 2015 (RC), Appendix B: mean AMI (scikit-learn 0.17, max normaliser) of "
      "the first 1,000 test images, background and overlap left out")
NEM_STATIC = ("Greff, van Steenkiste & Schmidhuber 2017 (N-EM), Section 4.1: mean AMI (scikit-learn 0.18, max "
              "normaliser) of the 10,000 test images, background and overlap left out")
NEM_SEQUENCES = ("Greff, van Steenkiste & Schmidhuber 2017 (N-EM), Table 1 and Section 4.3: per-frame AMI (max "
                 "normaliser) of the frames its 20 steps predict (1..20; frame 0 is not predicted), averaged over "
                 "frames and then over the 10,000 test sequences, background and overlap left out")
IODINE = ("Greff et al. 2019 (IODINE), Table 1, and after it Slot Attention (Locatello et al. 2020) and "
          "EfficientMORL (Emami et al. 2021): FG-ARI of 320 test images in DeepMind's convention (every foreground "
          "pixel, under its visible object)")
GROUPBENCH_FG_ARI = ("groupbench (no paper protocol for these images): FG-ARI in DeepMind's convention (every "
                     "foreground pixel, under its visible object) over the whole test split")
VIDEO = ("groupbench (no paper numbers on this dataset): video FG-ARI over all pixels of a sequence "
         "(spatio-temporal, as SAVi and OCLF score video), every foreground pixel under its visible object")

_RC = Conventions(average_method="max")
_NEM = Conventions(average_method="max", frames=("skip-first", "all"))
_FG_VISIBLE = Conventions(include_overlap=True, average_method="max")


def _protocols() -> list[Protocol]:
    found = []
    for dataset in ("bars-v1", "corners-v1", "mnist-shape-v1", "mnist-shape-mini-v1", "multi-mnist-v1", "multi-mnist-mini-v1"):
        found.append(Protocol("rc-1000", dataset, images=1000, primary="ami", conventions=_RC, defined_by=RC))
    found.append(Protocol("rc-120", "superposition-v1", images=120, primary="ami", conventions=_RC,
                          defined_by=RC.replace("the first 1,000 test images", "all 120 test images")))
    found.append(Protocol("nem-10000", "shapes-v1", images=10_000, primary="ami", conventions=_RC, defined_by=NEM_STATIC))
    primary = "ami/per-frame/skip-first"
    for dataset, configurations, images in (
        ("flying-shapes-v1", ({}, {"num_objects": 4}, {"num_objects": 5}), 10_000),
        ("flying-mnist-v1", ({}, {"num_objects": 3}), 10_000),
        ("flying-mnist-mini-v1", ({}, {"num_objects": 3}), 2_000),
    ):
        defined_by = NEM_SEQUENCES if images == 10_000 else NEM_SEQUENCES + "; here all 2,000 test sequences of the offline set"
        for params in configurations:
            found.append(Protocol("nem-frames-1-20", dataset, params, images=images, primary=primary, conventions=_NEM,
                                  defined_by=defined_by))
    found.append(Protocol("video-fg-ari", "flying-dsprites-v1", images=1000, primary="ari/spatiotemporal",
                          conventions=_FG_VISIBLE, defined_by=VIDEO))
    for dataset, params, original in (
        ("tetris-v1", {}, "tetrominoes"), ("multi-dsprites-v1", {}, "multi-dsprites-colored-on-grayscale"),
        ("multi-dsprites-v1", {"variant": "binarized"}, "multi-dsprites-binarized"),
        ("multi-dsprites-v1", {"variant": "colored-on-colored"}, "multi-dsprites-colored-on-colored"),
    ):
        found.append(Protocol("fg-ari-320", dataset, params, images=320, primary="ari", conventions=_FG_VISIBLE,
                              defined_by=IODINE + "; here the first 320 images of groupbench's test split. The papers' "
                              f"numbers, on DeepMind's own file, are under deepmind/{original}-v1"))
    for name in ("tetrominoes", "multi-dsprites-binarized", "multi-dsprites-colored-on-grayscale", "multi-dsprites-colored-on-colored"):
        found.append(Protocol("fg-ari-320", f"deepmind/{name}-v1", images=320, primary="ari", conventions=_FG_VISIBLE,
                              first_record=60_000,
                              defined_by=IODINE + "; here records 60,000..60,319 of DeepMind's file, after the 60,000 "
                              "training records"))
    found.append(Protocol("fg-ari-320", "deepmind/clevr6-v1", images=320, primary="ari", conventions=_FG_VISIBLE,
                          defined_by=IODINE + "; the 320 CLEVR6 evaluation scenes of Slot Attention (at most 6 objects, "
                          "from record 70,000 on): the import's test split"))
    found.append(Protocol("fg-ari-320", "deepmind/clevr10-v1", images=320, primary="ari", conventions=_FG_VISIBLE,
                          defined_by=IODINE + "; the CLEVR6-to-CLEVR10 generalisation test: 320 scenes with 7-10 objects, "
                          "the import's test split"))
    found.append(Protocol("fg-ari-test", "deepmind/clevr-with-masks-v1", images=20_000, primary="ari",
                          conventions=_FG_VISIBLE, defined_by=GROUPBENCH_FG_ARI + " of the uncropped scenes"))
    found.append(Protocol("fg-ari-test", "deepmind/objects-room-v1", images=10_000, primary="ari", conventions=_FG_VISIBLE,
                          defined_by=GROUPBENCH_FG_ARI + "; papers carve the training file differently (MONet, GENESIS; "
                          "object-centric-library: 90k/5k/5k), so their numbers are not on these images"))
    for name in ("six-objects", "identical-color"):
        found.append(Protocol("fg-ari-922", f"deepmind/objects-room-{name}-v1", images=922, primary="ari",
                              conventions=_FG_VISIBLE, defined_by=GROUPBENCH_FG_ARI + " of DeepMind's test file"))
    return found


PROTOCOLS: dict[str, Protocol] = {p.label: p for p in _protocols()}
"""Configuration label -> its protocol."""
