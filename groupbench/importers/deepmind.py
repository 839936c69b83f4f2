"""DeepMind's official Tetrominoes and multi-dSprites files -> groupbench files, without TensorFlow.

Each record of the official files (`groupbench.importers.DEEPMIND`) is a tf.train.Example with

- ``image``: H*W*C one-byte strings, (H, W, C) uint8;
- ``mask``: E*H*W one-byte strings, 0 or 255, one mask per entity, entity 0 the background;
  Tetrominoes stores them (E, H, W), multi-dSprites pixel-major (H, W, E), as DeepMind's readers
  transpose them;
- float32 lists of E values per entity: ``x``, ``y``, ``shape``, ``visibility`` (and
  ``orientation``, ``scale`` for multi-dSprites); ``color`` E x C.

The masks are DeepMind's visible (one-hot) segmentation; no amodal masks are published. The mapping
to ``groupbench/1`` (docs/deepmind.md):

- ``images``: as stored; slot o (0-based) is entity o + 1: the background entity is dropped;
- ``masks[o]``: entity o + 1's mask (a non-zero byte is covered): the visible region, not amodal;
- ``labels``: the entity covering each pixel (0 = background); ``overlap``: pixels two object
  entities cover (none in one-hot masks: all false). Were a pixel covered twice, the later entity
  would be its label, as in groupbench's generators;
- ``num_objects``: 1 + the last slot whose entity is present: visibility > 0 or a non-empty mask.
  Slots keep DeepMind's entity order (factors stay aligned with masks); in the official files
  absent entities are padding at the end, so this is the number of objects (sum of visibility
  minus the background's 1);
- ``factors/<name>``: each float feature of the object entities, float32 as stored, (N, O) or
  (N, O, C) for ``color``.

Splits are consecutive records: the first ``splits[0]`` records are train, the next valid, then
test. The file is read twice: once to check the framing and CRCs of the records the splits need
and count them (a file or ``limit`` shorter than the splits fills them in order), once to
convert them, block by block.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import google_crc32c
import numpy as np
from tqdm.auto import tqdm

from groupbench.downloads import cache_dir, sha256_file, target_folder
from groupbench.errors import GroupbenchError
from groupbench.format import Batch, FactorSpec, SplitLayout
from groupbench.generation import block_length
from groupbench.generators.base import compose
from groupbench.importers import BUCKET_URL, DEEPMIND, DEFAULT_SPLITS, DeepMindDataset
from groupbench.importers.tfrecord import (
    ExampleLayout,
    Feature,
    MalformedExample,
    iter_records,
    parse_example,
)
from groupbench.registry import _did_you_mean
from groupbench.progress import progress_bar
from groupbench.writer import DatasetFileWriter, encode_block

SPLIT_NAMES = ("train", "valid", "test")

FACTOR_DOCS = {
    "x": "as stored (Tetrominoes: the top row of the piece's bounding box, in pixels)",
    "y": "as stored (Tetrominoes: the left column of the piece's bounding box, in pixels)",
    "shape": "as stored: a shape id (Tetrominoes 1..19, multi-dSprites 1..3)",
    "color": "as stored: RGB in [0, 1] (one grey value for binarized)",
    "visibility": "as stored: 0 for an unused entity",
    "orientation": "as stored",
    "scale": "as stored",
}
"""Per-factor notes; DeepMind documents no ranges (docs/deepmind.md says what was checked)."""


def get_dataset(name: str) -> DeepMindDataset:
    """The official file described by ``name`` (a ``--dataset`` name or a ``deepmind/...`` id)."""
    for d in DEEPMIND.values():
        if name in (d.name, d.dataset_id):
            return d
    raise GroupbenchError(f"unknown DeepMind dataset {name!r}{_did_you_mean(name, DEEPMIND)} (one of {', '.join(DEEPMIND)})")


def layout(d: DeepMindDataset) -> SplitLayout:
    """The groupbench layout of a split imported from ``d``."""
    channels = d.image[2]
    factors = {
        name: FactorSpec("<f4", (channels,) if name == "color" else (), doc=FACTOR_DOCS[name]) for name in d.factors
    }
    return SplitLayout(image_shape=d.image, max_objects=d.entities - 1, factors=factors)


def parse_splits(text: str | tuple[int, ...] | list[int]) -> tuple[int, int, int]:
    """``"60000,10000,10000"`` -> (60000, 10000, 10000): records for train, valid and test."""
    try:
        parts = [int(p) for p in text.split(",")] if isinstance(text, str) else [int(p) for p in text]
    except ValueError:
        parts = []
    if len(parts) != 3 or min(parts) < 0 or sum(parts) == 0:
        raise GroupbenchError(f"--splits {text!r}: expected three record counts TRAIN,VALID,TEST (>= 0, not all 0), e.g. 60000,10000,10000")
    return tuple(parts)  # type: ignore[return-value]


def _expected_sizes(d: DeepMindDataset) -> dict[str, tuple[str, int]]:
    """Feature name -> (kind, number of values) for one record of ``d``."""
    h, w, c = d.image
    sizes = {"image": ("bytes", h * w * c), "mask": ("bytes", d.entities * h * w)}
    for name in d.factors:
        sizes[name] = ("float", d.entities * (c if name == "color" else 1))
    return sizes


def _guess(features: dict[str, Feature]) -> str | None:
    """The DeepMind dataset whose feature sizes a record matches, if any."""
    for d in DEEPMIND.values():
        expected = _expected_sizes(d)
        if set(expected) == set(features) and all(
            features[k].kind == kind and len(features[k].values) == n for k, (kind, n) in expected.items()
        ):
            return d.name
    return None


def _amount(n: int, kind: str) -> str:
    return f"{n:,} " + {"bytes": "bytes", "float": "floats", "int64": "int64 values"}[kind]


class _BlockDecoder:
    """Decodes records of one official file into groupbench blocks."""

    def __init__(self, d: DeepMindDataset, path: Path):
        self.d, self.path = d, path
        self.expected = _expected_sizes(d)
        self.layout = layout(d)
        self._known: ExampleLayout | None = None
        """The structure of the last record parsed (checked): records that share it are read by position."""

    def _check(self, index: int, features: dict[str, Feature]) -> None:
        missing = [name for name in self.expected if name not in features]
        if missing:
            guess = _guess(features)
            hint = f"; it looks like a {guess} file (--dataset {guess})" if guess else ""
            raise GroupbenchError(
                f"{self.path}: record {index} has no feature {missing[0]!r} (it has {', '.join(sorted(features)) or 'none'}), "
                f"which --dataset {self.d.name} needs{hint}"
            )
        for name, (kind, n) in self.expected.items():
            feature = features[name]
            if feature.kind != kind or len(feature.values) != n:
                guess = _guess(features)
                hint = f"; it looks like a {guess} file (--dataset {guess})" if guess and guess != self.d.name else ""
                raise GroupbenchError(
                    f"{self.path}: record {index}: feature {name!r} holds {_amount(len(feature.values), feature.kind)}, "
                    f"--dataset {self.d.name} expects {_amount(n, kind)}{hint}"
                )

    def decode(self, records: Iterator[tuple[int, bytes]], count: int) -> Batch:
        """The next ``count`` records as a Batch."""
        d = self.d
        h, w, c = d.image
        e = d.entities
        images = np.empty((count, h, w, c), np.uint8)
        raw_masks = np.empty((count, e, h, w), np.uint8)
        floats = {name: np.empty((count, e, c) if name == "color" else (count, e), "<f4") for name in d.factors}
        for row in range(count):
            index, payload = next(records)
            values = self._known.read(payload) if self._known is not None else None
            if values is None:  # a record of another structure than the last one: parse it
                try:
                    features = parse_example(payload)
                except MalformedExample as exc:
                    raise GroupbenchError(f"{self.path}: record {index} is not a tf.train.Example ({exc})") from None
                self._check(index, features)
                self._known = ExampleLayout.learn(payload, features, self.expected)
                values = {name: features[name].values for name in self.expected}
            images[row] = values["image"].reshape(h, w, c)
            mask = values["mask"]
            raw_masks[row] = mask.reshape(h, w, e).transpose(2, 0, 1) if d.pixel_major_mask else mask.reshape(e, h, w)
            for name, array in floats.items():
                array[row] = values[name].reshape(array.shape[1:])
        masks = raw_masks[:, 1:] != 0
        labels, overlap = compose(masks)
        present = (floats["visibility"][:, 1:] > 0) | masks.any(axis=(2, 3))
        slots = present.shape[1]
        last = slots - np.argmax(present[:, ::-1], axis=1)  # 1 + index of the last present slot
        num_objects = np.where(present.any(axis=1), last, 0).astype(self.layout.label_dtype)
        factors = {name: np.ascontiguousarray(array[:, 1:]) for name, array in floats.items()}
        return Batch(images, labels, overlap, masks, num_objects, factors)


def split_sizes(splits: tuple[int, int, int], available: int) -> dict[str, int]:
    """Records per split when ``available`` records can be read: the splits filled in order."""
    sizes, left = {}, available
    for name, wanted in zip(SPLIT_NAMES, splits):
        sizes[name] = min(wanted, left)
        left -= sizes[name]
    return sizes


def import_deepmind(
    source: str | Path,
    dataset: str,
    out: str | Path,
    *,
    splits: str | tuple[int, int, int] = DEFAULT_SPLITS,
    limit: int | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
) -> tuple[Path, dict[str, int]]:
    """Convert an official DeepMind TFRecord file into a groupbench file at ``out``.

    ``dataset`` names the file's dataset (`DEEPMIND`); ``splits`` the records for train, valid and
    test, consecutive from the start of the file; ``limit`` caps the records read. Returns the path
    and the records written per split (fewer than asked where the file or ``limit`` ends first; a
    split with none is left out). ``progress`` False reports nothing, else `progress_bar` reports.
    """
    d = get_dataset(dataset)
    splits = parse_splits(splits)
    if limit is not None and limit < 1:
        raise GroupbenchError(f"--limit must be >= 1, got {limit}")
    source = Path(source)
    wanted = sum(splits) if limit is None else min(sum(splits), limit)
    writer = DatasetFileWriter(out, {}, overwrite=overwrite)  # refuses an existing output before any reading
    available = 0
    with progress_bar(wanted, "checking records", unit="rec", show=progress) as bar:
        for _ in iter_records(source, limit=wanted):  # framing and CRCs, before anything is written
            available += 1
            if available % 1000 == 0:
                bar.update(1000)
        bar.update(available % 1000)
    if available == 0:
        raise GroupbenchError(f"{source}: holds no records")
    sizes = split_sizes(splits, available)
    params: dict[str, Any] = {
        "source": source.name,
        "source_sha256": sha256_file(source),
        "splits": list(splits),
        "limit": limit,
    }
    writer.attrs = {"dataset": d.dataset_id, "params": params, "seed": 0}
    decoder = _BlockDecoder(d, source)
    split_layout = decoder.layout
    step = block_length(split_layout)
    reader = iter_records(source, limit=available)
    records = enumerate(reader)
    with contextlib.closing(reader), writer, progress_bar(available, f"import {d.dataset_id}", unit="rec", show=progress) as bar:
        for split, n in sizes.items():
            if n == 0:
                continue
            split_writer = writer.create_split(split, split_layout, n, start=0, total=n)
            for begin in range(0, n, step):
                batch = decoder.decode(records, min(step, n - begin))
                split_writer.write(encode_block(batch, split_layout, begin, keep_raw=True))
                bar.update(batch.images.shape[0])
    return Path(out), {split: n for split, n in sizes.items() if n}


# --- download ---------------------------------------------------------------------------------


def default_dir() -> Path:
    """Where ``groupbench fetch deepmind`` writes by default: ``$XDG_CACHE_HOME/groupbench/deepmind``."""
    return cache_dir("deepmind")


def _server_hashes(headers) -> dict[str, str]:
    """``x-goog-hash`` values (Google Cloud Storage's stored checksums): name -> base64 value."""
    hashes = {}
    for header in headers.get_all("x-goog-hash") or []:
        for item in header.split(","):
            name, sep, value = item.strip().partition("=")
            if sep and name in ("md5", "crc32c"):
                hashes[name] = value.strip()
    return hashes


def fetch_deepmind(
    dataset: str,
    out: str | Path | None = None,
    *,
    sha256: str | None = None,
    base_url: str = BUCKET_URL,
    timeout: float = 60.0,
    report: Callable[[str], None] = print,
    progress: bool | None = None,
) -> tuple[Path, str]:
    """Download the official file of ``dataset`` into ``out`` (default `default_dir`); returns (path, SHA-256).

    DeepMind publishes no checksums for these files. What is verified: the length the server
    announces (Content-Length), the checksums the bucket stores for the object (``x-goog-hash``:
    MD5 and CRC32C, where the server sends them), and ``sha256`` when given. The download goes to a
    temporary name and becomes the file only once every check passed. A file already present is
    kept if it matches ``sha256`` (or if none is given: its SHA-256 is reported).
    """
    d = get_dataset(dataset)
    if sha256 is not None:
        sha256 = sha256.strip().lower()
        if len(sha256) != 64 or any(ch not in "0123456789abcdef" for ch in sha256):
            raise GroupbenchError(f"--sha256 {sha256!r}: expected 64 hexadecimal digits")
    folder = target_folder(out, "deepmind")
    target = folder / d.file_name
    if target.is_file():
        got = sha256_file(target)
        if sha256 is None:
            report(f"{d.file_name}: present, {target.stat().st_size:,} bytes, sha256 {got} (no published checksum to compare)")
            return target, got
        if got == sha256:
            report(f"{d.file_name}: present, sha256 verified")
            return target, got
        report(f"{d.file_name}: present but its sha256 {got[:16]}... differs from --sha256; downloading again")
    url = f"{base_url.rstrip('/')}/{d.bucket_path}"
    tmp = folder / f".{d.file_name}.partial-{os.getpid()}"
    try:
        sha, md5, crc = hashlib.sha256(), hashlib.md5(), 0
        size = 0
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as sink:
            announced = response.headers.get("Content-Length")
            expected_size = int(announced) if announced and announced.isdigit() else None
            hashes = _server_hashes(response.headers)
            with tqdm(total=expected_size, unit="B", unit_scale=True, desc=d.file_name,
                      disable=None if progress is None else not progress) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    sha.update(block)
                    md5.update(block)
                    crc = google_crc32c.extend(crc, block)
                    sink.write(block)
                    size += len(block)
                    bar.update(len(block))
        checked = []
        if expected_size is not None:
            if size != expected_size:
                raise GroupbenchError(f"{url}: download ended after {size:,} of {expected_size:,} bytes; try again")
            checked.append("length")
        if "md5" in hashes:
            if base64.b64encode(md5.digest()).decode() != hashes["md5"]:
                raise GroupbenchError(f"{url}: the download's MD5 differs from the one the server stores (x-goog-hash); try again")
            checked.append("the server's MD5")
        if "crc32c" in hashes:
            if base64.b64encode(crc.to_bytes(4, "big")).decode() != hashes["crc32c"]:
                raise GroupbenchError(f"{url}: the download's CRC32C differs from the one the server stores (x-goog-hash); try again")
            checked.append("the server's CRC32C")
        got = sha.hexdigest()
        if sha256 is not None:
            if got != sha256:
                raise GroupbenchError(f"{url}: SHA-256 {got} differs from --sha256 {sha256}; the file was not kept")
            checked.append("--sha256")
        os.replace(tmp, target)
    except urllib.error.HTTPError as exc:
        raise GroupbenchError(f"could not download {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise GroupbenchError(f"could not download {url}: {getattr(exc, 'reason', None) or exc}") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    verified = ", ".join(checked) if checked else "nothing (the server sent neither a length nor checksums)"
    report(f"{d.file_name}: downloaded {size:,} bytes, sha256 {got}; verified: {verified}")
    return target, got
