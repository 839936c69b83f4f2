"""Writing groupbench files: atomic (temporary name, renamed when complete) and streamed by chunk.

Blocks arrive already deflated (`encode_block`, which may run in a worker process) and go to disk
with HDF5 direct chunk writes, so the process that writes never holds more than one block.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np

from groupbench import __version__
from groupbench.errors import GroupbenchError
from groupbench.format import FORMAT_VERSION, GZIP_LEVEL, Batch, SplitDigest, SplitLayout, compress_chunk, decompress_chunk


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

    def __init__(self, group: h5py.Group, layout: SplitLayout, n: int):
        self.layout, self.n = layout, n
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

    def copy_chunks(self, source: h5py.Group, offset: int, count: int, check: SplitDigest) -> None:
        """Append ``count`` samples from a split of another file with the same layout, chunk by chunk.

        ``check`` receives the same contents, to verify the source against its own digest.
        """
        chunk = self.layout.chunk_length
        if offset != self.written or offset % chunk:
            raise RuntimeError(f"copy at {offset}, expected {self.written} on a chunk boundary")
        for path, dset in self.datasets.items():
            src = source[path]
            zeros = (0,) * (dset.ndim - 1)
            for i in range(0, count, chunk):
                mask, data = src.id.read_direct_chunk((i, *zeros))
                if mask:
                    raise GroupbenchError(f"{source.file.filename}: chunk of {path} stored with a skipped filter")
                dset.id.write_direct_chunk((offset + i, *zeros), data)
                rows = decompress_chunk(data, dset.dtype, dset.shape[1:], min(chunk, count - i))
                self.digest.update(path, rows)
                check.update(path, rows)
        self.written = offset + count


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds."""
    path = Path(path)
    if path.is_dir():
        raise GroupbenchError(f"{path} is a directory; give a file name")
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.touch()
    except OSError as exc:
        raise GroupbenchError(f"cannot write {path}: {exc.strerror or exc}; choose a writable location") from None
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class DatasetFileWriter:
    """Context manager that writes a groupbench file under a temporary name, renamed when complete.

    On any exception (Ctrl-C included) the temporary file is removed; a killed process leaves only
    a hidden ``.<name>.partial-<pid>`` file that lacks the digests, which no reader accepts.
    """

    def __init__(self, path: str | Path, attrs: dict[str, Any], overwrite: bool = False):
        self.path = Path(path)
        self.attrs = attrs
        self.splits: dict[str, SplitWriter] = {}
        if self.path.exists() and not self.path.is_dir() and not overwrite:
            raise GroupbenchError(f"{self.path} exists; pass --overwrite to replace it or choose another --out")

    def __enter__(self) -> "DatasetFileWriter":
        self._output = atomic_output(self.path)
        tmp = self._output.__enter__()
        try:
            self.handle = h5py.File(tmp, "w")
        except OSError as exc:
            self._output.__exit__(type(exc), exc, None)
            raise GroupbenchError(f"cannot write {self.path}: {exc}; choose a writable --out") from None
        self.handle.attrs["format"] = FORMAT_VERSION
        self.handle.attrs["groupbench_version"] = __version__
        for name, value in self.attrs.items():
            self.handle.attrs[name] = json.dumps(value, sort_keys=True) if isinstance(value, dict) else value
        return self

    def create_split(self, split: str, layout: SplitLayout, n: int, **attrs: Any) -> SplitWriter:
        group = self.handle.create_group(split)
        for name, value in attrs.items():
            group.attrs[name] = value
        self.splits[split] = SplitWriter(group, layout, n)
        return self.splits[split]

    def _finish(self) -> None:
        incomplete = [s for s, w in self.splits.items() if w.written != w.n]
        if incomplete:
            raise RuntimeError(f"split {incomplete[0]} was not written completely")
        digests = {split: writer.digest.hexdigest() for split, writer in self.splits.items()}
        self.handle.attrs["digests"] = json.dumps(digests, sort_keys=True)

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                self._finish()
        except BaseException as error:
            exc_type, exc, tb = type(error), error, error.__traceback__
            raise
        finally:
            self.handle.close()
            self._output.__exit__(exc_type, exc, tb)
        return False
