"""The HDF5 format ``groupbench/1`` in code: layout of a split, chunking, digests, validation.

`docs/format.md` is the specification; this module implements it and nothing else. Writing lives
in `groupbench.writer`, generation in `groupbench.generation`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np

import zlib

try:  # ISA-L inflates faster than zlib (reading); without it zlib reads the same streams
    from isal import isal_zlib
except ImportError:
    isal_zlib = zlib

from groupbench.errors import GroupbenchError

FORMAT_VERSION = "groupbench/1"
SPLITS = ("train", "valid", "test", "single")
"""Split names, in the order files list them. `single` holds one object per image."""

GZIP_LEVEL = 1
"""Deflate level of every chunk. Chunks are deflated with zlib (a standard zlib stream, which every
HDF5 gzip filter reads): its output is a function of the input alone, so the same contents give the
same file bytes. ISA-L deflates about 4x faster but not deterministically (docs/architecture.md)."""

CHUNK_IMAGE_BYTES = 32 * 1024
"""Target size of one `images` chunk; a chunk holds whole samples (1 to 1024). Reading sample i
decompresses one chunk per array, so smaller chunks read faster by index and write a little slower."""

REQUIRED_ATTRS = ("format", "dataset", "params", "seed", "groupbench_version", "digests")


@dataclass(frozen=True)
class FactorSpec:
    """One per-object factor stored at ``factors/<name>`` with shape (N,[T,]O, *shape)."""

    dtype: str
    shape: tuple[int, ...] = ()
    per_frame: bool = False
    doc: str = ""


@dataclass(frozen=True)
class SplitLayout:
    """Shapes and dtypes of every array in one split, for a given number of samples."""

    image_shape: tuple[int, int, int]
    """(H, W, C) of one image or frame."""
    max_objects: int
    """O: number of object slots in `masks` and factors."""
    sequence_length: int | None = None
    """T for sequence datasets, None for still images."""
    factors: dict[str, FactorSpec] = field(default_factory=dict)

    @property
    def label_dtype(self) -> np.dtype:
        return np.dtype(np.uint8 if self.max_objects < 256 else np.uint16)

    def arrays(self, n: int) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """Path -> (shape, dtype) of every array of a split with ``n`` samples."""
        h, w, c = self.image_shape
        t = () if self.sequence_length is None else (self.sequence_length,)
        o = self.max_objects
        specs = {
            "images": ((n, *t, h, w, c), np.dtype(np.uint8)),
            "labels": ((n, *t, h, w), self.label_dtype),
            "overlap": ((n, *t, h, w), np.dtype(bool)),
            "masks": ((n, *t, o, h, w), np.dtype(bool)),
            "num_objects": ((n,), self.label_dtype),
        }
        for name, spec in self.factors.items():
            lead = (n, *t, o) if spec.per_frame else (n, o)
            specs[f"factors/{name}"] = ((*lead, *spec.shape), np.dtype(spec.dtype))
        return specs

    @property
    def chunk_length(self) -> int:
        """Samples per chunk: whole samples, about `CHUNK_IMAGE_BYTES` of images."""
        sample_bytes = math.prod(self.image_shape) * (self.sequence_length or 1)
        return int(min(1024, max(1, CHUNK_IMAGE_BYTES // sample_bytes)))


def canonical(array: np.ndarray) -> np.ndarray:
    """C-ordered little-endian copy (or view) of ``array``: the byte form that is stored."""
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))


def digest_bytes(rows: np.ndarray) -> bytes:
    """The bytes a digest reads for ``rows`` (n, ...) of an array.

    Numbers: their C-ordered little-endian bytes. Booleans: each row's values, C-ordered,
    packed 8 to a byte (`np.packbits`, first value in the high bit, each row padded to whole bytes).
    """
    if rows.dtype == bool:
        return np.packbits(rows.reshape(len(rows), -1), axis=1).tobytes()
    return canonical(rows).tobytes()


class SplitDigest:
    """Streaming SHA-256 of a split's array contents, independent of chunking and compression.

    digest = sha256 over the lines ``"<path> <dtype> <shape> <sha256 of digest_bytes(array)>\\n"``
    sorted by path (see docs/format.md).
    """

    def __init__(self, arrays: dict[str, tuple[tuple[int, ...], np.dtype]]):
        self._arrays = arrays
        self._hashers = {path: hashlib.sha256() for path in arrays}

    def update(self, path: str, rows: np.ndarray) -> None:
        """Feed the next rows of array ``path`` (rows in index order)."""
        self._hashers[path].update(digest_bytes(rows))

    def update_bytes(self, path: str, data: bytes) -> None:
        """Feed the `digest_bytes` of the next rows of array ``path`` (computed once for several digests)."""
        self._hashers[path].update(data)

    def fork(self, arrays: dict[str, tuple[tuple[int, ...], np.dtype]]) -> "SplitDigest":
        """A digest of arrays with other shapes (``arrays``) that has read what this one has so far:
        the digest of a first shard, taken from that of the split it starts."""
        forked = SplitDigest(arrays)
        forked._hashers = {path: hasher.copy() for path, hasher in self._hashers.items()}
        return forked

    def hexdigest(self) -> str:
        lines = []
        for path in sorted(self._arrays):
            shape, dtype = self._arrays[path]
            dtype_str = np.dtype(dtype).newbyteorder("<").str
            shape_str = "x".join(map(str, shape))
            lines.append(f"{path} {dtype_str} {shape_str} {self._hashers[path].hexdigest()}\n")
        return hashlib.sha256("".join(lines).encode()).hexdigest()


def compress_chunk(rows: np.ndarray, chunk_length: int) -> bytes:
    """Deflate one chunk as the HDF5 gzip filter stores it: a zlib stream of the zero-padded chunk."""
    if rows.shape[0] < chunk_length:
        padded = np.zeros((chunk_length, *rows.shape[1:]), dtype=rows.dtype)
        padded[: rows.shape[0]] = rows
        rows = padded
    return zlib.compress(canonical(rows), GZIP_LEVEL)


@dataclass
class Batch:
    """A block of generated samples (B = block size, O = object slots, [T] for sequences).

    images (B,[T,]H,W,C) uint8; labels (B,[T,]H,W) uint; overlap (B,[T,]H,W) bool;
    masks (B,[T,]O,H,W) bool; num_objects (B,); factors name -> (B,[T,]O,...).
    """

    images: np.ndarray
    labels: np.ndarray
    overlap: np.ndarray
    masks: np.ndarray
    num_objects: np.ndarray
    factors: dict[str, np.ndarray]

    def arrays(self) -> dict[str, np.ndarray]:
        out = {
            "images": self.images,
            "labels": self.labels,
            "overlap": self.overlap,
            "masks": self.masks,
            "num_objects": self.num_objects,
        }
        out.update({f"factors/{name}": value for name, value in self.factors.items()})
        return out


# --- reading ----------------------------------------------------------------------------------


def decompress_chunk(data: bytes, dtype: np.dtype, row_shape: tuple[int, ...], rows: int) -> np.ndarray:
    """Inverse of `compress_chunk`: the first ``rows`` rows of a chunk as an array."""
    flat = np.frombuffer(isal_zlib.decompress(data), dtype=np.dtype(dtype).newbyteorder("<"))
    return flat[: rows * math.prod(row_shape)].reshape(rows, *row_shape)


REMAKE = "generate or import it again"
"""What to do about a damaged or incomplete file: make it again the way it was made."""

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _what_else(path: Path) -> str:
    """Why a file that HDF5 cannot open is not a groupbench file, from its first bytes."""
    with open(path, "rb") as stream:
        head = stream.read(8)
    if head.startswith(HDF5_SIGNATURE):
        return f"a damaged or truncated HDF5 file; {REMAKE}"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\x93NUMPY"):
        return "a NumPy file, not a groupbench HDF5 file (predictions are scored with 'groupbench score PRED --dataset FILE')"
    return "not an HDF5 file (nor a damaged one); expected a groupbench file from 'groupbench generate' or 'groupbench import'"


def _foreign_kind(handle: h5py.File) -> str:
    """What an HDF5 file without the groupbench ``format`` attribute holds, as far as groupbench knows."""
    if any(isinstance(handle.get(name), h5py.Dataset) for name in ("labels", "masks")):
        return "a predictions file, not a dataset ('groupbench score PRED --dataset FILE' scores it)"
    if "training" in handle or "train_multi" in handle:
        return "a file exported for the original RC or N-EM code ('groupbench export'); 'groupbench info' reads the file it came from"
    return "not a groupbench file (no 'format' attribute)"


def open_file(path: str | Path) -> h5py.File:
    """Open a groupbench file for reading, with one clear error for the usual problems."""
    path = Path(path)
    if not path.exists():
        raise GroupbenchError(f"{path}: no such file")
    if path.is_dir():
        raise GroupbenchError(f"{path}: is a directory, expected a groupbench HDF5 file")
    try:
        handle = h5py.File(path, "r")
    except OSError:
        raise GroupbenchError(f"{path}: {_what_else(path)}") from None
    version = handle.attrs.get("format")
    if version is None:
        kind = _foreign_kind(handle)
        handle.close()
        raise GroupbenchError(f"{path}: {kind}")
    if version != FORMAT_VERSION:
        handle.close()
        raise GroupbenchError(
            f"{path}: format {version!r} is not supported; this groupbench reads {FORMAT_VERSION!r}"
        )
    return handle


def _shown(value: Any) -> str:
    """An attribute's value as the user would write it (numpy scalars as plain numbers)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _damaged(handle: h5py.File, what: str) -> GroupbenchError:
    return GroupbenchError(f"{handle.filename}: {what} (a damaged or hand-edited file); {REMAKE}")


def _integer(value: Any) -> int | None:
    """``value`` as an int if it is an integer (Python or numpy, not bool), else None."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    return None


def file_metadata(handle: h5py.File) -> dict[str, Any]:
    """The file attributes, JSON fields decoded and every type checked.

    Raises a `GroupbenchError` naming the attribute when one is missing (an interrupted write) or
    damaged (wrong type, invalid JSON, a digest that is not a SHA-256).
    """
    missing = [name for name in REQUIRED_ATTRS if name not in handle.attrs]
    if missing:
        raise GroupbenchError(
            f"{handle.filename}: incomplete file, attribute {missing[0]!r} is missing (an interrupted write?); {REMAKE}"
        )
    meta = {}
    for name in handle.attrs:
        try:
            meta[name] = handle.attrs[name]
        except (OSError, TypeError, ValueError):
            raise _damaged(handle, f"attribute {name!r} cannot be read") from None
    for name in ("format", "dataset", "groupbench_version", "params", "digests", *(("shard",) if "shard" in meta else ())):
        if not isinstance(meta[name], str):
            raise _damaged(handle, f"attribute {name!r} is {_shown(meta[name])}, expected a string")
    for name in ("params", "digests"):
        try:
            meta[name] = json.loads(meta[name])
        except ValueError:
            raise _damaged(handle, f"attribute {name!r} is not valid JSON") from None
        if not isinstance(meta[name], dict):
            raise _damaged(handle, f"attribute {name!r} is {json.dumps(meta[name])[:40]}, expected a JSON object")
    for split, digest in meta["digests"].items():
        if split not in SPLITS or not isinstance(digest, str) or not re.fullmatch("[0-9a-f]{64}", digest):
            raise _damaged(handle, f"attribute 'digests' holds {split!r}: {digest!r}, expected split names and SHA-256 digests")
    seed = _integer(meta["seed"])
    if seed is None or not 0 <= seed < 2**63:
        raise _damaged(handle, f"attribute 'seed' is {_shown(meta['seed'])}, expected an integer in [0, 2**63)")
    meta["seed"] = seed
    if "shard" in meta and not re.fullmatch(r"[1-9][0-9]*/[1-9][0-9]*", meta["shard"]):
        raise _damaged(handle, f"attribute 'shard' is {meta['shard']!r}, expected K/N")
    return meta


def split_position(group: h5py.Group) -> tuple[int, int]:
    """(start, total) of a stored split: where its samples lie within the full split (shards)."""
    n = group["images"].shape[0]
    start, total = (_integer(group.attrs.get(name, default)) for name, default in (("start", 0), ("total", n)))
    if start is None or total is None or not 0 <= start <= start + n <= total:
        raise _damaged(
            group.file,
            f"split '{group.name.strip('/')}' has start {_shown(group.attrs.get('start', 0))} and total {_shown(group.attrs.get('total', n))}, "
            f"which do not hold its {n:,} samples",
        )
    return start, total


def split_names(handle: h5py.File) -> list[str]:
    """Splits present in the file, in the canonical order."""
    return [name for name in SPLITS if name in handle]


def open_split(path: str | Path, split: str) -> tuple[h5py.File, h5py.Group]:
    """Open a file and one of its splits (the caller closes the file); a missing split names those present."""
    handle = open_file(path)
    if split not in handle:
        available = ", ".join(split_names(handle)) or "none"
        handle.close()
        raise GroupbenchError(f"{path}: no split '{split}' (splits: {available})")
    return handle, handle[split]


def default_split(handle: h5py.File) -> str:
    """The split to look at when none is named: ``test``, or else the first of valid, train, single
    that holds samples (a shard's splits may be empty)."""
    def samples(name: str) -> int:
        images = handle[name].get("images") if isinstance(handle[name], h5py.Group) else None
        return images.shape[0] if isinstance(images, h5py.Dataset) and images.ndim else 0

    preferred = [name for name in ("test", "valid", "train", "single") if name in handle]
    if not preferred:
        raise GroupbenchError(f"{handle.filename}: holds no split")
    return next((name for name in preferred if samples(name)), preferred[0])


def unreadable(dataset: h5py.Dataset, reason: str) -> GroupbenchError:
    """The error for stored data that cannot be read back (a damaged chunk, a failing disk)."""
    return GroupbenchError(f"{dataset.file.filename}: '{dataset.name.lstrip('/')}' cannot be read ({reason}); {REMAKE}")


def read(dataset: h5py.Dataset, selection: Any = ()) -> np.ndarray:
    """``dataset[selection]``; data that cannot be read back end in one `GroupbenchError` naming the array."""
    try:
        return dataset[selection]
    except OSError as exc:
        reason = str(exc).split(" (", 1)[-1].rstrip(")") if " (" in str(exc) else str(exc)
        raise unreadable(dataset, f"damaged data: {reason}") from None


def iter_rows(dataset: h5py.Dataset, step: int) -> Iterator[tuple[int, np.ndarray]]:
    """(start, rows) blocks of ``step`` samples along axis 0: bounded memory reads."""
    for start in range(0, dataset.shape[0], step):
        yield start, read(dataset, slice(start, start + step))


def layout_of(group: h5py.Group) -> SplitLayout:
    """The layout of a stored split, read from its arrays and checked against them.

    Every array the layout implies must be present with its shape and dtype (metadata only, no
    data read), so that readers meet a damaged split as one error naming the array.
    """
    where = f"{group.file.filename}: split '{group.name.strip('/')}'"
    if not isinstance(group, h5py.Group):
        raise GroupbenchError(f"{where} is not a group of arrays (a damaged file); {REMAKE}")
    for name in ("images", "labels", "overlap", "masks", "num_objects"):
        if not isinstance(group.get(name), h5py.Dataset):
            raise GroupbenchError(f"{where} has no '{name}' array")
    images, masks = group["images"], group["masks"]
    if images.ndim not in (4, 5):
        raise GroupbenchError(f"{where}: 'images' has shape {images.shape}, expected (N,[T,]H,W,C)")
    sequence = images.ndim == 5
    if masks.ndim != images.ndim:
        raise GroupbenchError(f"{where}: 'masks' has shape {masks.shape}, expected (N,{'T,' if sequence else ''}O,H,W)")
    stored = group.get("factors", {})
    if not isinstance(stored, (h5py.Group, dict)):
        raise GroupbenchError(f"{where}: 'factors' is not a group of arrays")
    factors = {}
    for name, dset in stored.items():
        if not isinstance(dset, h5py.Dataset) or dset.ndim < 2:
            raise GroupbenchError(f"{where}: factor '{name}' is not an (N,[T,]O,...) array")
        per_frame = sequence and dset.ndim >= 3 and dset.shape[1:3] == masks.shape[1:3]
        trailing = dset.shape[(3 if per_frame else 2) :]
        factors[name] = FactorSpec(dtype=dset.dtype.str, shape=tuple(trailing), per_frame=per_frame)
    layout = SplitLayout(
        image_shape=tuple(images.shape[-3:]),
        max_objects=masks.shape[-3],
        sequence_length=images.shape[1] if sequence else None,
        factors=factors,
    )
    for path, (shape, dtype) in layout.arrays(images.shape[0]).items():
        dset = group[path]
        if dset.shape != shape:
            raise GroupbenchError(f"{where}: '{path}' has shape {dset.shape}, expected {shape}")
        if dset.dtype != dtype:
            raise GroupbenchError(f"{where}: '{path}' has dtype {dset.dtype}, expected {dtype}")
    return layout


def _check_block(where: str, start: int, labels, overlap, masks, num_objects) -> None:
    """Value checks on a block of samples; raises at the first inconsistent sample."""
    obj_axis = masks.ndim - 3
    count = masks.sum(axis=obj_axis, dtype=np.int64)
    bad = np.flatnonzero((overlap != (count >= 2)).reshape(len(labels), -1).any(axis=1))
    if bad.size:
        raise GroupbenchError(f"{where}: 'overlap' disagrees with 'masks' at sample {start + bad[0]}")
    o = masks.shape[obj_axis]
    if labels.max(initial=0) > o:
        bad = np.flatnonzero((labels > o).reshape(len(labels), -1).any(axis=1))
        raise GroupbenchError(f"{where}: label above the {o} object slots at sample {start + bad[0]}")
    # The labelled object must cover the pixel; background exactly where no object does.
    onehot = np.moveaxis(masks, obj_axis, -1)
    covered = np.take_along_axis(
        np.concatenate([count[..., None] == 0, onehot], axis=-1), labels[..., None].astype(np.int64), axis=-1
    )[..., 0]
    bad = np.flatnonzero((~covered).reshape(len(labels), -1).any(axis=1))
    if bad.size:
        raise GroupbenchError(f"{where}: 'labels' disagree with 'masks' at sample {start + bad[0]}")
    slot_used = masks.reshape(*masks.shape[: obj_axis + 1], -1).any(axis=-1)
    if slot_used.ndim == 3:  # sequences: a slot is used if any frame shows it
        slot_used = slot_used.any(axis=1)
    beyond = np.arange(o)[None, :] >= num_objects[:, None].astype(np.int64)
    bad = np.flatnonzero((slot_used & beyond).any(axis=1) | (num_objects > o))
    if bad.size:
        raise GroupbenchError(f"{where}: mask slots beyond 'num_objects' are not empty at sample {start + bad[0]}")


def validate(path: str | Path) -> dict[str, Any]:
    """Check a file against the format; returns its metadata, raises GroupbenchError at the first problem.

    Checks attributes, split names, array presence, dtypes and shapes, chunked gzip storage, the
    consistency of labels / overlap / masks / num_objects in every sample, and recomputes each
    split's digest. Reads in chunks, so memory does not grow with the file.
    """
    with open_file(path) as handle:
        meta = file_metadata(handle)
        names = split_names(handle)
        unknown = sorted(set(handle) - set(SPLITS))
        if unknown:
            raise GroupbenchError(f"{path}: unknown group {unknown[0]!r}; splits are {', '.join(SPLITS)}")
        if not names:
            raise GroupbenchError(f"{path}: holds no split")
        if sorted(meta["digests"]) != sorted(names):
            raise GroupbenchError(f"{path}: digests are listed for {sorted(meta['digests'])}, splits are {names}")
        for split in names:
            group = handle[split]
            where = f"{path}: split '{split}'"
            layout = layout_of(group)
            n = group["images"].shape[0]
            split_position(group)
            expected = layout.arrays(n)
            for array_path in expected:
                dset = group[array_path]
                if dset.chunks is None or dset.compression != "gzip":
                    raise GroupbenchError(f"{where}: '{array_path}' is not stored chunked with gzip")
            digest = SplitDigest(expected)
            step = layout.chunk_length * 16
            blocks = {p: iter_rows(group[p], step) for p in expected}
            for start in range(0, n, step):
                rows = {p: next(blocks[p])[1] for p in expected}
                _check_block(where, start, rows["labels"], rows["overlap"], rows["masks"], rows["num_objects"])
                for p, data in rows.items():
                    digest.update(p, data)
            if digest.hexdigest() != meta["digests"][split]:
                raise GroupbenchError(f"{where}: contents do not match the stored digest (file corrupted or edited)")
        return meta
