"""EMORL's HDF5 copies of DeepMind's files -> groupbench files of the same ids.

The copies of Emami et al. 2021 (EfficientMORL; Zenodo record 4895643: ``tetrominoes.h5``,
``multi_dsprites_colored_on_grayscale.h5``, ``clevr6_with_masks_train.h5``, their ``_test`` files, ...)
are the converted files most users hold; EMORL's, SynCx's and CtCAE's loaders read them as:

- groups ``train``, ``val``, ``test`` (a file holds one or more), imported as train, valid, test;
- ``imgs`` (N, H, W, C) uint8: DeepMind's images as stored (CLEVR uncropped, 240x320: the loaders
  crop and resize when they read);
- ``masks`` (N, E, H, W, 1): DeepMind's entity masks, entity 0 the background, covered where non-zero;
- ``factors`` (N, E, F), in some files: for CLEVR, F = 9 columns x, y, z, rotation, size, material,
  shape, color, visibility (the order EMORL's disentanglement evaluation reads them in). No other
  layout is documented, and none is read.

Every row goes through the same mapping as an import of DeepMind's file (`groupbench.importers.scenes`),
so where a copy holds the same records with the same content, the digests are the same. The factors
are imported only where the copy holds every factor the id stores, exactly; otherwise none are, as
``groupbench import deepmind --no-factors`` leaves them out, which is then the import to compare with.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from groupbench.downloads import sha256_file
from groupbench.errors import GroupbenchError
from groupbench.importers import DEEPMIND, DeepMindDataset
from groupbench.importers.scenes import Scenes, get_dataset, import_attrs, scene_block, scene_objects, write_scenes, writer_for

GROUPS = {"train": "train", "val": "valid", "test": "test"}
"""EMORL's group -> the groupbench split it becomes."""
CLEVR_FACTOR_COLUMNS = ("x", "y", "z", "rotation", "size", "material", "shape", "color", "visibility")
"""The columns of ``factors`` in EMORL's CLEVR files."""
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _open(path: Path) -> h5py.File:
    if not path.exists():
        raise GroupbenchError(f"{path}: no such file")
    if path.is_dir():
        raise GroupbenchError(f"{path}: is a directory, expected an EMORL .h5 file")
    try:
        return h5py.File(path, "r")
    except OSError:
        with open(path, "rb") as handle:
            hdf5 = handle.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE
        if hdf5:
            raise GroupbenchError(f"{path}: truncated or damaged HDF5 file (an interrupted download?); download it again") from None
        raise GroupbenchError(f"{path}: not an HDF5 file; EMORL's copies are .h5 files with train/val/test groups") from None


def _groups(path: Path, handle: h5py.File) -> list[str]:
    """EMORL's groups in the file, each checked to hold imgs and masks of matching sizes."""
    if str(handle.attrs.get("format", "")).startswith("groupbench/"):
        raise GroupbenchError(f"{path}: is a groupbench file already; it needs no import")
    found = [g for g in GROUPS if isinstance(handle.get(g), h5py.Group)]
    if not found:
        raise GroupbenchError(f"{path}: not an EMORL file: no train, val or test group (it has {', '.join(handle) or 'nothing'})")
    for g in found:
        group = handle[g]
        for name in ("imgs", "masks"):
            if not isinstance(group.get(name), h5py.Dataset):
                raise GroupbenchError(f"{path}: not an EMORL file: group '{g}' has no '{name}' array (it has {', '.join(group) or 'nothing'})")
        imgs, masks = group["imgs"], group["masks"]
        if imgs.ndim != 4 or masks.ndim not in (4, 5) or (masks.ndim == 5 and masks.shape[4] != 1):
            raise GroupbenchError(
                f"{path}: not an EMORL file: '{g}/imgs' is {imgs.shape} and '{g}/masks' {masks.shape}, expected (N,H,W,C) and (N,E,H,W,1)"
            )
        if masks.shape[0] != imgs.shape[0] or masks.shape[2:4] != imgs.shape[1:3]:
            raise GroupbenchError(f"{path}: '{g}/imgs' {imgs.shape} and '{g}/masks' {masks.shape} do not describe the same images")
    return found


def _check_dataset(path: Path, d: DeepMindDataset, handle: h5py.File, groups: list[str]) -> None:
    """Refuse images or entity counts that are not those of ``d``'s file, naming the datasets that fit."""
    for g in groups:
        image, entities = handle[g]["imgs"].shape[1:], handle[g]["masks"].shape[1]
        if image == d.file.image and d.background < entities <= d.file.entities:
            continue
        fits = [x.name for x in DEEPMIND.values() if x.file.image == image and x.background < entities <= x.file.entities]
        hint = f"; it looks like --dataset {' or '.join(dict.fromkeys(fits))}" if fits else ""
        h, w, c = d.file.image
        raise GroupbenchError(
            f"{path}: group '{g}' holds {'x'.join(map(str, image))} images with {entities} masks, --dataset {d.name} "
            f"expects {h}x{w}x{c} images with at most {d.file.entities}{hint}"
        )


def _factor_source(d: DeepMindDataset, handle: h5py.File, groups: list[str]) -> str | None:
    """None when every group holds the factors ``d`` stores in a known layout, else why not."""
    if not d.factor_names:
        return None  # Objects Room: nothing to read
    if not all(isinstance(handle[g].get("factors"), h5py.Dataset) for g in groups):
        return "the file holds no factors" if not any("factors" in handle[g] for g in groups) else "some groups hold no factors"
    if d.file.name != "clevr_with_masks_train":
        return "EMORL's factor layout is documented for CLEVR only"
    missing = [name for name in d.factor_names if name not in CLEVR_FACTOR_COLUMNS]
    if missing:
        return f"EMORL's CLEVR factors hold no {missing[0]!r}"
    for g in groups:
        factors = handle[g]["factors"]
        expected = (handle[g]["imgs"].shape[0], handle[g]["masks"].shape[1], len(CLEVR_FACTOR_COLUMNS))
        if factors.shape != expected:
            return f"'{g}/factors' is {factors.shape}, not EMORL's CLEVR layout {expected}"
    return None


def _clevr_factors(path: Path, where: str, raw: np.ndarray, d: DeepMindDataset) -> dict[str, np.ndarray]:
    """EMORL's (n, E', 9) CLEVR factors -> name -> (n, E') as DeepMind stores them, checked to convert exactly."""
    out = {}
    for column, name in enumerate(CLEVR_FACTOR_COLUMNS):
        values = raw[..., column]
        dtype = np.float32 if d.file.factor(name).kind == "float" else np.uint8
        converted = values.astype(dtype)
        if not np.array_equal(converted.astype(values.dtype), values) or (dtype == np.uint8 and (values < 0).any()):
            raise GroupbenchError(f"{path}: {where}: factor column {column} ({name}) does not hold {np.dtype(dtype).name} values; "
                                  "not EMORL's CLEVR layout (pass --no-factors to import without factors)")
        out[name] = converted
    return out


def _padded(array: np.ndarray, entities: int) -> np.ndarray:
    """(n, E', ...) -> (n, entities, ...), the added entities zero (DeepMind's unused entities are all zero)."""
    if array.shape[1] == entities:
        return array
    pad = np.zeros((array.shape[0], entities - array.shape[1], *array.shape[2:]), array.dtype)
    return np.concatenate([array, pad], axis=1)


def _blocks(path: Path, d: DeepMindDataset, handle: h5py.File, groups: list[str], with_factors: bool) -> Iterator[tuple[str, Scenes]]:
    step = scene_block(d)
    entities = d.file.entities
    for g in groups:
        group = handle[g]
        n = group["imgs"].shape[0]
        for start in range(0, n, step):
            stop = min(n, start + step)
            where = f"group '{g}' rows {start:,}-{stop - 1:,}"
            try:
                images = group["imgs"][start:stop]
                masks = group["masks"][start:stop]
                raw_factors = group["factors"][start:stop] if with_factors else None
            except OSError as exc:
                raise GroupbenchError(f"{path}: cannot read {where} (truncated or damaged file: {exc})") from None
            if images.dtype != np.uint8:
                raise GroupbenchError(f"{path}: '{g}/imgs' is {images.dtype}, expected uint8 pixel values")
            masks = _padded(masks.reshape(masks.shape[:4]) != 0, entities)
            factors = None
            if with_factors:
                factors = {name: _padded(values, entities) for name, values in _clevr_factors(path, where, raw_factors, d).items()}
            objects = scene_objects(d, masks, None if factors is None else factors["visibility"])
            low, high = d.objects_kept or (0, d.max_objects)
            bad = np.flatnonzero((objects < low) | (objects > high))
            if bad.size:
                row = start + int(bad[0])
                raise GroupbenchError(
                    f"{path}: group '{g}' row {row:,} has {objects[bad[0]]} objects, --dataset {d.name} holds {low}-{high}; "
                    f"import the copy into the id whose scenes it holds (--dataset clevr_with_masks takes all CLEVR scenes)"
                )
            yield GROUPS[g], Scenes(images, masks, factors)


def import_emorl(
    source: str | Path,
    dataset: str,
    out: str | Path,
    *,
    factors: bool = True,
    overwrite: bool = False,
    progress: bool | None = None,
) -> tuple[Path, dict[str, int], str | None]:
    """Convert an EMORL .h5 copy of ``dataset``'s official file into a groupbench file at ``out``.

    Returns the path, the records written per split, and why the factors were left out (None
    when they were imported).
    """
    d = get_dataset(dataset)
    source = Path(source)
    writer = writer_for(out, overwrite)
    with _open(source) as handle:
        groups = _groups(source, handle)
        _check_dataset(source, d, handle, groups)
        why_not = "--no-factors" if not factors else _factor_source(d, handle, groups)
        with_factors = why_not is None
        sizes = {GROUPS[g]: handle[g]["imgs"].shape[0] for g in groups}
        if sum(sizes.values()) == 0:
            raise GroupbenchError(f"{source}: holds no images")
        params = {
            "source": source.name,
            "source_sha256": sha256_file(source, progress),
            "copy": "emorl",
            "groups": {GROUPS[g]: g for g in groups},
            "factors": with_factors,
        }
        writer.attrs = import_attrs(d, params)
        blocks = _blocks(source, d, handle, groups, with_factors)
        with writer, contextlib.closing(blocks):
            written = write_scenes(writer, d, with_factors, sizes, blocks, progress=progress)
    return Path(out), written, why_not
