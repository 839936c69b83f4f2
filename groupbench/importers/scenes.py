"""DeepMind scenes -> groupbench files: the mapping and the writing every importer shares.

A scene as DeepMind's files hold it (and the converted copies of them): an image (H, W, C) uint8,
one mask per entity (E, H, W), the first ``background`` entities background, later entities
objects or unused padding, and per-entity factors. `to_batch` maps a block of scenes to a
groupbench `Batch` for a `DeepMindDataset` (docs/deepmind.md, "Mapping to groupbench/1"):

- images and masks cropped and resized where the id says so (`groupbench.importers.resize`);
- slot o (0-based) is entity ``background + o``; ``masks[o]`` its mask; ``labels`` the slot covering
  each pixel (0 where only background entities do); ``overlap`` where two slots do;
- ``num_objects``: 1 + the last slot that is present: a non-empty mask, or visibility > 0 where the
  import keeps the factors (an object hidden entirely, or cropped away, still counts then);
- ``factors/<name>``: the id's factors of the object entities, as stored.

Importing the same scenes from any source therefore gives the same arrays and the same digests.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from groupbench.errors import GroupbenchError
from groupbench.format import Batch, FactorSpec, SplitLayout
from groupbench.generation import block_length
from groupbench.generators.base import compose
from groupbench.importers import DEEPMIND, DeepMindDataset
from groupbench.importers.resize import crop_resize
from groupbench.progress import progress_bar
from groupbench.registry import _did_you_mean
from groupbench.writer import DatasetFileWriter, encode_block

SPLIT_NAMES = ("train", "valid", "test")

FACTOR_DOCS = {
    "x": "as stored (Tetrominoes: the top row of the piece's bounding box, in pixels; CLEVR: 3-D scene coordinate)",
    "y": "as stored (Tetrominoes: the left column of the piece's bounding box, in pixels; CLEVR: 3-D scene coordinate)",
    "z": "as stored: CLEVR 3-D scene coordinate",
    "rotation": "as stored: CLEVR rotation, degrees",
    "pixel_coords": "as stored: CLEVR (column, row, depth) in the 240x320 frame",
    "shape": "as stored: a shape id (Tetrominoes 1..19, multi-dSprites 1..3, CLEVR 1..3; 0 unused)",
    "color": "as stored: RGB in [0, 1] (one grey value for binarized); CLEVR a colour code 1..8",
    "material": "as stored: CLEVR material code 1..2",
    "size": "as stored: CLEVR size code 1..2",
    "visibility": "as stored: 0 for an unused entity",
    "orientation": "as stored",
    "scale": "as stored",
}
"""Per-factor notes; DeepMind documents no ranges (docs/deepmind.md says what was checked)."""


def get_dataset(name: str, among: Iterable[str] | None = None) -> DeepMindDataset:
    """The id described by ``name`` (a ``--dataset`` name or a ``deepmind/...`` id), one of ``among``."""
    names = list(among) if among is not None else list(DEEPMIND)
    for key in names:
        d = DEEPMIND[key]
        if name in (d.name, d.dataset_id):
            return d
    raise GroupbenchError(f"unknown dataset {name!r}{_did_you_mean(name, names)} (one of {', '.join(names)})")


@dataclass
class Scenes:
    """A block of n scenes as stored: ``images`` (n, H, W, C) uint8; ``masks`` (n, E, H, W) bool (the
    entity covers the pixel); ``factors`` name -> (n, E[, width]) as stored, None where the source has none."""

    images: np.ndarray
    masks: np.ndarray
    factors: dict[str, np.ndarray] | None


def layout(d: DeepMindDataset, with_factors: bool) -> SplitLayout:
    """The groupbench layout of a split of ``d``; without factors where ``with_factors`` is False."""
    factors = {}
    if with_factors:
        for name in d.factor_names:
            feature = d.file.factor(name)
            dtype = "<f4" if feature.kind == "float" else "|u1"
            factors[name] = FactorSpec(dtype, (feature.width,) if feature.width > 1 else (), doc=FACTOR_DOCS[name])
    return SplitLayout(image_shape=d.image, max_objects=d.max_objects, factors=factors)


def last_present(present: np.ndarray) -> np.ndarray:
    """present (n, S) bool -> (n,) int64: 1 + the index of the last True, 0 where none is."""
    slots = present.shape[1]
    last = slots - np.argmax(present[:, ::-1], axis=1)
    return np.where(present.any(axis=1), last, 0)


def scene_objects(d: DeepMindDataset, masks: np.ndarray, visibility: np.ndarray | None) -> np.ndarray:
    """Objects in each scene as stored (before any crop): 1 + the last object entity present.

    masks (n, E, H, W); visibility (n, E) or None. In DeepMind's files, where unused entities are
    padding after the objects, this is the number of objects (the sum of visibility minus the background).
    """
    n, e, h, w = masks.shape
    present = masks[:, d.background :].reshape(n, e - d.background, h * w).any(axis=2)
    if visibility is not None:
        present |= visibility[:, d.background :] > 0
    return last_present(present)


def to_batch(d: DeepMindDataset, scenes: Scenes, with_factors: bool) -> Batch:
    """A block of scenes as a groupbench Batch of ``d`` (see the module docstring).

    Every object entity beyond the id's slots must be absent (`scene_objects` checks it beforehand).
    """
    images, masks = scenes.images, scenes.masks
    if d.crop is not None:
        images, masks = crop_resize(images, masks, d.crop)
    objects = np.ascontiguousarray(masks[:, d.background : d.background + d.max_objects])
    if objects.shape[1] < d.max_objects:  # Objects Room's empty room: one slot, always empty
        objects = np.concatenate([objects, np.zeros((len(objects), d.max_objects - objects.shape[1], *objects.shape[2:]), bool)], 1)
    labels, overlap = compose(objects)
    present = objects.any(axis=(2, 3))
    factors = {}
    if with_factors and scenes.factors is not None:
        visibility = scenes.factors.get("visibility")
        if visibility is not None:
            present |= visibility[:, d.background : d.background + d.max_objects] > 0
        factors = {
            name: np.ascontiguousarray(scenes.factors[name][:, d.background : d.background + d.max_objects])
            for name in d.factor_names
        }
    num_objects = last_present(present).astype(labels.dtype)
    return Batch(np.ascontiguousarray(images), labels, overlap, objects, num_objects, factors)


def parse_splits(text: str | tuple[int, ...] | list[int]) -> tuple[int, int, int]:
    """``"60000,10000,10000"`` -> (60000, 10000, 10000): records for train, valid and test."""
    try:
        parts = [int(p) for p in text.split(",")] if isinstance(text, str) else [int(p) for p in text]
    except ValueError:
        parts = []
    if len(parts) != 3 or min(parts) < 0 or sum(parts) == 0:
        raise GroupbenchError(f"--splits {text!r}: expected three record counts TRAIN,VALID,TEST (>= 0, not all 0), e.g. 60000,10000,10000")
    return tuple(parts)  # type: ignore[return-value]


def split_sizes(splits: tuple[int, int, int], available: int) -> dict[str, int]:
    """Records per split when ``available`` records can be read: the splits filled in order."""
    sizes, left = {}, available
    for name, wanted in zip(SPLIT_NAMES, splits):
        sizes[name] = min(wanted, left)
        left -= sizes[name]
    return sizes


def write_scenes(
    writer: DatasetFileWriter,
    d: DeepMindDataset,
    with_factors: bool,
    sizes: dict[str, int],
    blocks: Iterator[tuple[str, Scenes]],
    *,
    progress: bool | None,
) -> dict[str, int]:
    """Write the splits of ``sizes`` (splits of 0 left out) from ``blocks`` into the open ``writer``.

    ``blocks`` yields (split, scenes) in the order of the splits' samples, each split's blocks
    contiguous and whole blocks of `scene_block` scenes but for its last. Returns the sizes written.
    """
    split_layout = layout(d, with_factors)
    sizes = {split: n for split, n in sizes.items() if n}
    writers = {split: writer.create_split(split, split_layout, n, start=0, total=n) for split, n in sizes.items()}
    written = dict.fromkeys(sizes, 0)
    with contextlib.closing(blocks), progress_bar(sum(sizes.values()), f"import {d.dataset_id}", unit="rec", show=progress) as bar:
        for split, scenes in blocks:
            batch = to_batch(d, scenes, with_factors)
            writers[split].write(encode_block(batch, split_layout, written[split], keep_raw=True))
            written[split] += len(batch.images)
            bar.update(len(batch.images))
    return sizes


def scene_block(d: DeepMindDataset) -> int:
    """Scenes per block: whole chunks, about `groupbench.generation.BLOCK_BYTES` of output."""
    return block_length(layout(d, True))


def writer_for(out: str | Path, overwrite: bool) -> DatasetFileWriter:
    """The output's writer, refusing an existing output before anything is read."""
    return DatasetFileWriter(out, {}, overwrite=overwrite)


def import_attrs(d: DeepMindDataset, params: dict[str, Any]) -> dict[str, Any]:
    """File attributes of an import of ``d`` with ``params``."""
    return {"dataset": d.dataset_id, "params": params, "seed": 0}
