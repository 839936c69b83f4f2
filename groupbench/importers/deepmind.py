"""DeepMind's official multi_object_datasets files -> groupbench files, without TensorFlow.

Each record of the official files (`groupbench.importers.FILES`) is a tf.train.Example with

- ``image``: H*W*C one-byte strings, (H, W, C) uint8;
- ``mask``: E*H*W one-byte strings, 0 or 255, one mask per entity, entity 0 the background
  (Objects Room: entities 0-3); multi-dSprites stores them pixel-major (H, W, E), as DeepMind's
  readers transpose them, the others (E, H, W);
- per-entity factors: float32 lists of E values (``x``, ``y``, ``shape``, ``visibility``, ...; ``color``
  E x C, CLEVR's ``pixel_coords`` E x 3) and, in CLEVR, one-byte codes (``color``, ``material``,
  ``shape``, ``size``). Objects Room has none.

The mapping to ``groupbench/1`` is `groupbench.importers.scenes` (docs/deepmind.md). Splits:

- most ids take consecutive records: the first ``splits[0]`` records are train, the next valid,
  then test;
- CLEVR6 and CLEVR10 keep the records with the id's number of objects (`Selection`): train from the
  records before ``evaluation_from``, then the first ``test`` kept records, then ``valid``.

The file is read twice: once to check the framing and CRCs of the records the splits need, count
them and (CLEVR6, CLEVR10) count each record's objects, so that a damaged file fails before anything
is written; once to convert them, block by block. Memory stays bounded whatever the file's size.
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

import numpy as np
from tqdm.auto import tqdm

from groupbench.downloads import cache_dir, sha256_file, target_folder
from groupbench.errors import GroupbenchError
from groupbench.importers import BUCKET_URL, DEEPMIND, FILES, DeepMindDataset, DeepMindFile, Selection
from groupbench.importers.scenes import (
    SPLIT_NAMES,
    Scenes,
    get_dataset,
    import_attrs,
    parse_splits,
    scene_block,
    scene_objects,
    split_sizes,
    write_scenes,
    writer_for,
)
from groupbench.importers.tfrecord import (
    ExampleLayout,
    Feature,
    MalformedExample,
    crc32c_module,
    iter_records,
    parse_example,
)
from groupbench.progress import progress_bar

PROGRESS_EVERY = 64
"""Records between two updates of a progress bar."""


def datasets_of(f: DeepMindFile) -> list[str]:
    """The ``--dataset`` names imported from file ``f``."""
    return [d.name for d in DEEPMIND.values() if d.file == f]


def dataset_hint(f: DeepMindFile) -> str:
    """``--dataset a``, or ``--dataset a, b or c`` for a file several ids are imported from."""
    names = datasets_of(f)
    return "--dataset " + (names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}")


def expected_sizes(f: DeepMindFile) -> dict[str, tuple[str, int]]:
    """Feature name -> (kind, number of values) of one record of ``f``."""
    h, w, c = f.image
    sizes = {"image": ("bytes", h * w * c), "mask": ("bytes", f.entities * h * w)}
    for feature in f.factors:
        sizes[feature.name] = ("float", f.entities * feature.width) if feature.kind == "float" else ("bytes", f.entities)
    return sizes


def _guess(features: dict[str, Feature]) -> DeepMindFile | None:
    """The official file whose feature sizes a record matches, if any."""
    for f in FILES.values():
        expected = expected_sizes(f)
        if set(expected) == set(features) and all(
            features[k].kind == kind and len(features[k].values) == n for k, (kind, n) in expected.items()
        ):
            return f
    return None


def _amount(n: int, kind: str) -> str:
    return f"{n:,} " + {"bytes": "bytes", "float": "floats", "int64": "int64 values"}[kind]


class RecordDecoder:
    """Checks the records of one official file and takes their features' values."""

    def __init__(self, d: DeepMindDataset, path: Path):
        self.d, self.f, self.path = d, d.file, path
        self.expected = expected_sizes(self.f)
        self._known: ExampleLayout | None = None
        """The structure of the last record parsed (checked): records that share it are read by position."""

    def _check(self, index: int, features: dict[str, Feature]) -> None:
        guess = _guess(features)
        hint = f"; it looks like DeepMind's {guess.file_name} ({dataset_hint(guess)})" if guess and guess != self.f else ""
        missing = [name for name in self.expected if name not in features]
        if missing:
            raise GroupbenchError(
                f"{self.path}: record {index} has no feature {missing[0]!r} (it has {', '.join(sorted(features)) or 'none'}), "
                f"which --dataset {self.d.name} needs{hint}"
            )
        for name, (kind, n) in self.expected.items():
            feature = features[name]
            if feature.kind != kind or len(feature.values) != n:
                raise GroupbenchError(
                    f"{self.path}: record {index}: feature {name!r} holds {_amount(len(feature.values), feature.kind)}, "
                    f"--dataset {self.d.name} expects {_amount(n, kind)}{hint}"
                )

    def values(self, index: int, payload: bytes) -> dict[str, np.ndarray]:
        """Feature name -> values (uint8 for bytes, float32 for floats) of record ``index``."""
        values = self._known.read(payload) if self._known is not None else None
        if values is None:  # a record of another structure than the last one: parse it
            try:
                features = parse_example(payload)
            except MalformedExample as exc:
                raise GroupbenchError(f"{self.path}: record {index} is not a tf.train.Example ({exc})") from None
            self._check(index, features)
            self._known = ExampleLayout.learn(payload, features, self.expected)
            values = {name: features[name].values for name in self.expected}
        return values

    def entity_masks(self, values: dict[str, np.ndarray]) -> np.ndarray:
        """The record's masks as (E, H, W) uint8 (a view where possible)."""
        h, w, _ = self.f.image
        e = self.f.entities
        mask = values["mask"]
        return mask.reshape(h, w, e).transpose(2, 0, 1) if self.f.pixel_major_mask else mask.reshape(e, h, w)

    def objects(self, values: dict[str, np.ndarray]) -> int:
        """Objects in the record's scene (`scene_objects`)."""
        visibility = values.get("visibility")
        return int(scene_objects(self.d, self.entity_masks(values)[None], None if visibility is None else visibility[None])[0])


class _Block:
    """Records of one split gathered into arrays, up to ``size`` of them."""

    def __init__(self, decoder: RecordDecoder, size: int, with_factors: bool):
        f = decoder.f
        h, w, c = f.image
        e = f.entities
        self.decoder, self.size, self.split, self.rows = decoder, size, None, 0
        self.images = np.empty((size, h, w, c), np.uint8)
        self.masks = np.empty((size, e, h, w), np.uint8)
        self.factors = {
            feature.name: np.empty((size, e, feature.width) if feature.width > 1 else (size, e), "<f4" if feature.kind == "float" else np.uint8)
            for feature in f.factors
            if with_factors
        }

    def add(self, values: dict[str, np.ndarray]) -> None:
        row = self.rows
        self.images[row] = values["image"].reshape(self.images.shape[1:])
        self.masks[row] = self.decoder.entity_masks(values)
        for name, array in self.factors.items():
            array[row] = values[name].reshape(array.shape[1:])
        self.rows += 1

    def take(self) -> tuple[str, Scenes]:
        """The gathered records (copies), emptying the block."""
        n, self.rows = self.rows, 0
        factors = {name: array[:n].copy() for name, array in self.factors.items()} if self.factors else None
        return self.split, Scenes(self.images[:n].copy(), self.masks[:n] != 0, factors)


def _check_file_name(d: DeepMindDataset, source: Path) -> None:
    """Refuse a file named as another official file (Objects Room's two 10-entity test files look alike)."""
    other = next((f for f in FILES.values() if f.file_name == source.name and f != d.file), None)
    if other is not None:
        raise GroupbenchError(
            f"{source} is named as DeepMind's {other.file_name}, not {d.file_name} (which --dataset {d.name} imports); "
            f"use {dataset_hint(other)}, or rename the file if it really is {d.file_name}"
        )


def _assign_consecutive(
    d: DeepMindDataset, decoder: RecordDecoder, source: Path, splits: tuple[int, int, int], limit: int | None, progress
) -> np.ndarray:
    """Split index (0 train, 1 valid, 2 test) of each record to read, after checking framing and CRCs."""
    wanted = sum(splits) if limit is None else min(sum(splits), limit)
    available = 0
    with progress_bar(wanted, "checking records", unit="rec", show=progress) as bar:
        for _ in iter_records(source, limit=wanted):
            available += 1
            if available % PROGRESS_EVERY == 0:
                bar.update(PROGRESS_EVERY)
        bar.update(available % PROGRESS_EVERY)
    sizes = split_sizes(splits, available)
    return np.repeat(np.arange(3, dtype=np.int8), [sizes[name] for name in SPLIT_NAMES])


def _assign_selected(
    d: DeepMindDataset, decoder: RecordDecoder, source: Path, selection: Selection, limit: int | None, progress
) -> np.ndarray:
    """Split index of each record to read (-1: not imported) by its objects, after checking framing and CRCs."""
    low, high = d.objects_kept
    train, valid, test = (SPLIT_NAMES.index(name) for name in ("train", "valid", "test"))
    counts = [0, 0, 0]
    assigned: list[int] = []
    total = limit if limit is not None else d.file.records
    with progress_bar(total, "checking records", unit="rec", show=progress) as bar:
        for index, payload in enumerate(iter_records(source, limit=limit)):
            if index % PROGRESS_EVERY == 0:
                bar.update(index - bar.n)
            split = -1
            if index >= selection.evaluation_from or selection.train:
                objects = decoder.objects(decoder.values(index, payload))
                if low <= objects <= high:
                    if index < selection.evaluation_from:
                        split = train
                    elif counts[test] < selection.test:
                        split = test
                    elif selection.valid is None or counts[valid] < selection.valid:
                        split = valid
            if split >= 0:
                counts[split] += 1
            assigned.append(split)
            if index >= selection.evaluation_from and counts[test] == selection.test and counts[valid] == selection.valid:
                break
        bar.update(len(assigned) - bar.n)
    return np.array(assigned, np.int8)


def _blocks(
    d: DeepMindDataset, decoder: RecordDecoder, source: Path, assigned: np.ndarray, with_factors: bool
) -> Iterator[tuple[str, Scenes]]:
    """(split, scenes) blocks of the assigned records, in file order."""
    block = _Block(decoder, scene_block(d), with_factors)
    reader = iter_records(source, limit=len(assigned))
    with contextlib.closing(reader):
        for index, payload in enumerate(reader):
            code = assigned[index]
            if code < 0:
                continue
            split = SPLIT_NAMES[code]
            if block.rows and (block.split != split or block.rows == block.size):
                yield block.take()
            block.split = split
            block.add(decoder.values(index, payload))
    if block.rows:
        yield block.take()


def import_deepmind(
    source: str | Path,
    dataset: str,
    out: str | Path,
    *,
    splits: str | tuple[int, int, int] | None = None,
    selection: Selection | None = None,
    limit: int | None = None,
    factors: bool = True,
    overwrite: bool = False,
    progress: bool | None = None,
) -> tuple[Path, dict[str, int]]:
    """Convert an official DeepMind TFRecord file into a groupbench file at ``out``.

    ``dataset`` names the id (`groupbench.importers.DEEPMIND`). Ids of consecutive records take
    ``splits`` (records for train, valid and test; default the id's); CLEVR6 and CLEVR10 take a
    `Selection` (default the id's). ``limit`` caps the records read; ``factors`` False leaves the
    factors out (num_objects then counts the objects with a non-empty mask), as a converted copy
    without factors gives them. Returns the path and the records written per split (fewer than
    asked where the file or ``limit`` ends first; a split with none is left out). ``progress`` False
    reports nothing, else `groupbench.progress.progress_bar` reports.
    """
    d = get_dataset(dataset)
    if d.selected:
        if splits is not None:
            raise GroupbenchError(f"--dataset {d.name} keeps records by their objects: give --evaluation-from, --test and --valid, not --splits")
        selection = selection or d.selection
        if selection.evaluation_from < 0 or selection.test < 0 or (selection.valid is not None and selection.valid < 0):
            raise GroupbenchError("--evaluation-from, --test and --valid must be >= 0")
    else:
        if selection is not None:
            raise GroupbenchError(f"--dataset {d.name} takes consecutive records: give --splits, not --evaluation-from, --test or --valid")
        splits = parse_splits(splits if splits is not None else d.splits)
    if limit is not None and limit < 1:
        raise GroupbenchError(f"--limit must be >= 1, got {limit}")
    source = Path(source)
    writer = writer_for(out, overwrite)
    decoder = RecordDecoder(d, source)
    first = next(iter_records(source, limit=1), None)
    if first is not None:
        decoder.values(0, first)  # a file of another layout fails here, before the whole file is read
        _check_file_name(d, source)  # one of the same layout, by its name
    if d.selected:
        assigned = _assign_selected(d, decoder, source, selection, limit, progress)
    else:
        assigned = _assign_consecutive(d, decoder, source, splits, limit, progress)
    counts = np.bincount(assigned[assigned >= 0], minlength=3) if len(assigned) else np.zeros(3, np.int64)
    sizes = {name: int(counts[i]) for i, name in enumerate(SPLIT_NAMES)}
    if len(assigned) == 0:
        raise GroupbenchError(f"{source}: holds no records")
    if sum(sizes.values()) == 0:
        low, high = d.objects_kept
        raise GroupbenchError(f"{source}: none of the {len(assigned):,} records read has {low}-{high} objects; is it DeepMind's {d.file_name}?")
    if d.selected:
        s = selection
        carving: dict[str, Any] = {"evaluation_from": s.evaluation_from, "test": s.test, "valid": s.valid}
    else:
        carving = {"splits": list(splits)}
    params = {"source": source.name, "source_sha256": sha256_file(source, progress), **carving, "limit": limit, "factors": factors}
    writer.attrs = import_attrs(d, params)
    last = int(np.flatnonzero(assigned >= 0)[-1]) + 1
    with writer:
        write_scenes(writer, d, factors, sizes, _blocks(d, decoder, source, assigned[:last], factors), progress=progress)
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
    url = f"{base_url.rstrip('/')}/{d.file.bucket_path}"
    tmp = folder / f".{d.file_name}.partial-{os.getpid()}"
    try:
        sha, md5, crc, crc32c = hashlib.sha256(), hashlib.md5(), 0, crc32c_module()
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
                    crc = crc32c.extend(crc, block)
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
