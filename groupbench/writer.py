"""Writing files: the output rule every command follows, atomic outputs, and groupbench files streamed by chunk.

Every command that writes a file calls `check_output` before any work (never over one of its
inputs, never over an existing file without --overwrite) and writes through `atomic_output` or,
for HDF5, `hdf5_output`: a temporary name renamed when complete, and a failed write (a full disk)
as the one line ``cannot write OUT: <reason>`` with nothing left behind.

Groupbench files (`DatasetFileWriter`): blocks arrive already deflated (`encode_block`, which may
run in a worker process) and go to disk with HDF5 direct chunk writes, so the process that writes
never holds more than one block.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import errno
import io
import json
import math
import mmap
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import h5py
import numpy as np

from groupbench import __version__
from groupbench.errors import GroupbenchError
from groupbench.format import (
    FORMAT_VERSION,
    GZIP_LEVEL,
    Batch,
    SplitDigest,
    SplitLayout,
    compress_chunk,
    decompress_chunk,
    digest_bytes,
    isal_zlib,  # ISA-L, or zlib where it is not installed
    unreadable,
)


@dataclass
class EncodedBlock:
    """Deflated chunks of a block of samples [start, stop) of one split, ready for direct writes.

    ``raw`` keeps the uncompressed arrays when the block was encoded in the writing process
    (saves a decompression for the digest); blocks from worker processes leave it out.
    """

    start: int
    stop: int
    chunks: dict[str, list[bytes]]
    raw: dict[str, np.ndarray] | None = None


def encode_block(batch: Batch, layout: SplitLayout, start: int, keep_raw: bool) -> EncodedBlock:
    """Check a batch against the layout and deflate it chunk by chunk."""
    n = batch.images.shape[0]
    expected = layout.arrays(n)
    arrays = batch.arrays()
    if set(arrays) != set(expected):
        raise RuntimeError(f"generator produced arrays {sorted(arrays)}, layout expects {sorted(expected)}")
    chunk = layout.chunk_length
    encoded = {}
    for path, (shape, dtype) in expected.items():
        value = arrays[path]
        if value.shape != shape or value.dtype != dtype:
            raise RuntimeError(f"generator produced {path} {value.shape} {value.dtype}, layout expects {shape} {dtype}")
        encoded[path] = [compress_chunk(value[i : i + chunk], chunk) for i in range(0, n, chunk)]
    return EncodedBlock(start, start + n, encoded, arrays if keep_raw else None)


class SplitWriter:
    """Receives a split's blocks in index order and writes them as raw chunks."""

    def __init__(self, group: h5py.Group, layout: SplitLayout, n: int, check_written: Callable[[], None] = lambda: None):
        self.layout, self.n = layout, n
        self.check_written = check_written
        self.arrays = layout.arrays(n)
        self.digest = SplitDigest(self.arrays)
        self.written = 0
        chunk = layout.chunk_length
        self.datasets = {
            path: group.create_dataset(
                path,
                shape=shape,
                dtype=dtype,
                chunks=(chunk, *shape[1:]),
                maxshape=(None, *shape[1:]),
                compression="gzip",
                compression_opts=GZIP_LEVEL,
            )
            for path, (shape, dtype) in self.arrays.items()
        }

    def write(self, block: EncodedBlock) -> None:
        """Write the next block; blocks must come in order and start on chunk boundaries."""
        if block.start != self.written:
            raise RuntimeError(f"block starts at {block.start}, expected {self.written}")
        self.check_written()
        chunk = self.layout.chunk_length
        rows = block.stop - block.start
        for path, chunks in block.chunks.items():
            dset = self.datasets[path]
            zeros = (0,) * (dset.ndim - 1)
            for i, data in enumerate(chunks):
                dset.id.write_direct_chunk((block.start + i * chunk, *zeros), data)
            if block.raw is not None:
                self.digest.update(path, block.raw[path])
            else:
                for i, data in enumerate(chunks):
                    valid = min(chunk, rows - i * chunk)
                    self.digest.update(path, decompress_chunk(data, dset.dtype, dset.shape[1:], valid))
        self.written = block.stop

    def copy_chunks(self, source: h5py.Group, offset: int, count: int, check: SplitDigest | None) -> None:
        """Append ``count`` samples from a split of another file with the same layout, chunk by chunk.

        The compressed chunks are copied as they are, read straight from the source file's bytes.
        Meanwhile a thread inflates each chunk once (ISA-L and SHA-256 release the GIL) for this
        file's digest and for ``check`` (None: the caller takes the source's digest from this
        file's, as for the first shard), which verifies the source against its own digest.
        """
        chunk = self.layout.chunk_length
        if offset != self.written or offset % chunk:
            raise RuntimeError(f"copy at {offset}, expected {self.written} on a chunk boundary")
        digests = [self.digest] if check is None else [self.digest, check]
        pending: deque = deque()
        with open(source.file.filename, "rb") as stream, mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as stored, \
                concurrent.futures.ThreadPoolExecutor(1) as hashing:  # one thread: each array hashed in order
            try:
                for path, dset in self.datasets.items():
                    target_id, zeros = dset.id, (0,) * (dset.ndim - 1)
                    batch, stored_array = [], source[path]
                    for i, (start, size) in enumerate(_stored_chunks(stored_array, count, chunk)):
                        data = stored[start : start + size]
                        target_id.write_direct_chunk((offset + i * chunk, *zeros), data)
                        self.check_written()
                        batch.append((data, min(chunk, count - i * chunk)))
                        if len(batch) == HASH_BATCH:
                            pending.append(hashing.submit(_hash_chunks, batch, stored_array, path, digests))
                            batch = []
                            if len(pending) > 4:  # bounded memory: wait for the oldest batch
                                pending.popleft().result()
                    pending.append(hashing.submit(_hash_chunks, batch, stored_array, path, digests))
                while pending:
                    pending.popleft().result()
            finally:
                for future in pending:
                    future.cancel()
        self.written = offset + count


HASH_BATCH = 512
"""Chunks handed to the hashing thread at a time."""


def _hash_chunks(batch: list[tuple[bytes, int]], dataset: h5py.Dataset, path: str, digests: list[SplitDigest]) -> None:
    """Feed (compressed chunk, valid rows) pairs of array ``path`` to ``digests``: numbers as inflated
    (stored little-endian, as digests read them), booleans packed. ``dataset`` is where they come from."""
    dtype, row_shape = dataset.dtype, dataset.shape[1:]
    row_bytes = math.prod(row_shape) * dtype.itemsize
    for data, rows in batch:
        try:
            inflated = isal_zlib.decompress(data)
        except isal_zlib.error:
            raise unreadable(dataset, "a stored chunk does not inflate") from None
        if dtype == bool:
            hashed = digest_bytes(np.frombuffer(inflated, bool, rows * row_bytes).reshape(rows, *row_shape))
        else:
            hashed = memoryview(inflated)[: rows * row_bytes]
        for digest in digests:
            digest.update_bytes(path, hashed)


def _stored_chunks(dataset: h5py.Dataset, count: int, chunk: int) -> list[tuple[int, int]]:
    """(file offset, size) of the ``ceil(count / chunk)`` compressed chunks of an array chunked along N, in order."""
    stored = []
    dataset.id.chunk_iter(stored.append)
    stored.sort(key=lambda info: info.chunk_offset)
    zeros = (0,) * (dataset.ndim - 1)
    expected = [(i, *zeros) for i in range(0, count, chunk)]
    if [info.chunk_offset for info in stored] != expected or any(info.filter_mask for info in stored):
        raise GroupbenchError(f"{dataset.file.filename}: '{dataset.name}' is not stored as {len(expected)} whole deflated chunks")
    return [(info.byte_offset, info.size) for info in stored]


# --- outputs: the rules every command that writes a file follows ------------------------------


def _same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name one file (hard and symbolic links included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return a.resolve() == b.resolve()


def check_output(path: str | Path, *, overwrite: bool, inputs: Iterable[str | Path | None] = (), option: str = "--out") -> Path:
    """The overwrite rule of every command that writes a file, checked before any work.

    Refuses a directory; any of the command's ``inputs`` (through links too), even with
    ``overwrite``, since nothing the user gave is ever replaced by an output; and an existing file
    unless ``overwrite``. ``option`` names the command's option in the messages.
    """
    path = Path(path)
    if path.is_dir():
        raise GroupbenchError(f"{option} {path} is a directory; give a file name")
    for source in inputs:
        if source is not None and _same_file(path, Path(source)):
            which = "also an input of this command" if Path(source) == path else f"the same file as the input {source}"
            raise GroupbenchError(f"{option} {path} is {which}; inputs are never overwritten: choose another {option}")
    if os.path.lexists(path) and not overwrite:
        raise GroupbenchError(f"{path} exists; pass --overwrite to replace it or choose another {option}")
    return path


def _reason(exc: OSError) -> str:
    """What went wrong in a failed write, and what to do, e.g. "No space left on device; free ..."."""
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"{reason}; free some space or write elsewhere"
    return f"{reason}; choose a writable location"


def _is_write_failure(exc: OSError, *paths: Path) -> bool:
    """True when an OSError reports a failed write of one of ``paths``, False when it concerns another file."""
    if exc.errno is None:
        return False
    named = [name for name in (exc.filename, getattr(exc, "filename2", None)) if name is not None]
    if named and not any(Path(os.fsdecode(name)) in paths for name in named):
        return False
    message = str(exc)  # h5py puts the file name in the message: "... filename = 'NAME' ..."
    return "filename = '" not in message or any(f"filename = '{p}'" in message for p in paths)


@contextlib.contextmanager
def atomic_output(
    path: str | Path, *, overwrite: bool = True, inputs: Iterable[str | Path | None] = (), option: str = "--out"
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds.

    The rule of `check_output` applies (``overwrite`` True: files a command owns, such as a run's
    checkpoints; commands pass the user's --overwrite and their inputs). A failed write (a full
    disk, no permission: any OSError about the temporary file or the rename) ends in one
    `GroupbenchError` ``cannot write PATH: <reason>``; the temporary file is removed whatever happens,
    so nothing is left under ``path`` or beside it.
    """
    path = check_output(path, overwrite=overwrite, inputs=inputs, option=option)
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.touch()
    except OSError as exc:
        raise GroupbenchError(f"cannot write {path}: {_reason(exc)}") from None
    failure = None
    try:
        yield tmp
        if not overwrite and os.path.lexists(path):
            raise GroupbenchError(f"{path} was created by another program meanwhile; it was left as it is")
        os.replace(tmp, path)
    except OSError as exc:
        if not _is_write_failure(exc, tmp, path):
            raise
        failure = _reason(exc)
    finally:
        tmp.unlink(missing_ok=True)
    if failure is not None:  # raised here, once the failed write's frames (and open HDF5 objects) are freed
        raise GroupbenchError(f"cannot write {path}: {failure}")


class _GuardedFile(io.RawIOBase):
    """The file HDF5 writes through (h5py's ``fileobj`` driver): HDF5 never meets a failed write.

    A write that fails inside HDF5 (a full disk) can leave its objects half-closed: errors whenever
    one is released, and a segmentation fault when the process exits (what `export` did). Here the
    first failure is kept and every later write is discarded as if it had succeeded, so HDF5 stays
    consistent and closes cleanly; `OutputFile.check_written` and `hdf5_output` report the failure.
    """

    def __init__(self, raw: io.FileIO):
        self.raw = raw
        self.failure: OSError | None = None
        self.discard = False

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self.raw.readinto(buffer)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def _guard(self, operation, *args) -> None:
        if not self.discard:
            try:
                operation(*args)
            except OSError as exc:
                self.failure, self.discard = exc, True

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        if not self.discard:
            try:
                written = self.raw.write(view)
                while written < len(view):  # a short write: the rest, until it is done or fails
                    more = self.raw.write(view[written:])
                    if not more:
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    written += more
            except OSError as exc:
                self.failure, self.discard = exc, True
        return len(view)

    def truncate(self, size: int | None = None) -> int:
        self._guard(self.raw.truncate, size)
        return self.raw.tell() if size is None else size

    def flush(self) -> None:
        self._guard(self.raw.flush)


class OutputFile(h5py.File):
    """An HDF5 file that `hdf5_output` writes; long writing loops call `check_written` now and then,
    so that a full disk stops the work at once."""

    def check_written(self) -> None:
        """Raise the OSError of the first write that failed, if one did."""
        failure = self.guard.failure
        if failure is not None:
            raise OSError(failure.errno, os.strerror(failure.errno) if failure.errno else str(failure), self.guard.raw.name)


@contextlib.contextmanager
def hdf5_output(
    path: str | Path, *, overwrite: bool = True, inputs: Iterable[str | Path | None] = (), option: str = "--out"
) -> Iterator[OutputFile]:
    """An HDF5 file open for writing under a temporary name, renamed to ``path`` when complete.

    `atomic_output` with what HDF5 needs on top: writes go through `_GuardedFile`, so a failed
    write (a full disk) never reaches HDF5; the file is closed cleanly whatever happened, and a
    failed write then ends in the one line ``cannot write PATH: <reason>``.
    """
    with atomic_output(path, overwrite=overwrite, inputs=inputs, option=option) as tmp:
        with open(tmp, "w+b", buffering=0) as raw:
            guard = _GuardedFile(raw)
            handle = OutputFile(guard, "w")
            handle.guard = guard
            try:
                yield handle
            except BaseException:
                guard.discard = True  # the file is not wanted: close without writing it out
                raise
            finally:
                handle.close()
            handle.check_written()


class DatasetFileWriter:
    """Context manager that writes a groupbench file under a temporary name, renamed when complete.

    The output rule (`check_output`) is checked on construction, before any work. On any
    exception (Ctrl-C included) the temporary file is removed; a failed write ends in one line
    (`hdf5_output`); a killed process leaves only a hidden ``.<name>.partial-<pid>`` file that lacks
    the digests, which no reader accepts.
    """

    def __init__(self, path: str | Path, attrs: dict[str, Any], overwrite: bool = False, inputs: Iterable[str | Path | None] = ()):
        self.inputs = tuple(inputs)
        self.overwrite = overwrite
        self.path = check_output(path, overwrite=overwrite, inputs=self.inputs)
        self.attrs = attrs
        self.splits: dict[str, SplitWriter] = {}

    def __enter__(self) -> "DatasetFileWriter":
        self._output = hdf5_output(self.path, overwrite=self.overwrite, inputs=self.inputs)
        self.handle = self._output.__enter__()
        try:
            self.handle.attrs["format"] = FORMAT_VERSION
            self.handle.attrs["groupbench_version"] = __version__
            for name, value in self.attrs.items():
                self.handle.attrs[name] = json.dumps(value, sort_keys=True) if isinstance(value, dict) else value
        except BaseException as error:
            if not self._output.__exit__(type(error), error, error.__traceback__):
                raise
        return self

    def create_split(self, split: str, layout: SplitLayout, n: int, start: int = 0, total: int | None = None) -> SplitWriter:
        """A writer for split ``split`` of ``n`` samples: [start, start + n) of ``total`` (shards)."""
        group = self.handle.create_group(split)
        for name, value in (("start", start), ("total", n if total is None else total)):
            group.attrs[name] = value
        self.splits[split] = SplitWriter(group, layout, n, self.handle.check_written)
        return self.splits[split]

    def _finish(self) -> None:
        incomplete = [s for s, w in self.splits.items() if w.written != w.n]
        if incomplete:
            raise RuntimeError(f"split {incomplete[0]} was not written completely")
        digests = {split: writer.digest.hexdigest() for split, writer in self.splits.items()}
        self.handle.attrs["digests"] = json.dumps(digests, sort_keys=True)

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            try:
                self._finish()
            except BaseException as error:
                if not self._output.__exit__(type(error), error, error.__traceback__):
                    raise
                return False
        return self._output.__exit__(exc_type, exc, tb)
