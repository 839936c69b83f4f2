"""Generating dataset files: split sizes, shards, worker processes, and merging shards.

Work is cut into blocks of whole chunks. Each block is generated and deflated by a worker (or in
process with one worker) and written in index order, so memory holds a bounded window of blocks
whatever the dataset size, and the bytes of every array do not depend on the number of workers.
"""

from __future__ import annotations

import concurrent.futures
import math
import multiprocessing
import os
import re
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from groupbench import registry
from groupbench.errors import GroupbenchError
from groupbench.format import SPLITS, SplitDigest, SplitLayout, file_metadata, layout_of, open_file, split_names, split_position
from groupbench.progress import progress_bar
from groupbench.seeding import CounterRandom, split_key
from groupbench.writer import DatasetFileWriter, EncodedBlock, check_output, encode_block

BLOCK_BYTES = 8 * 1024 * 1024
"""Approximate uncompressed size of one block of work."""


@dataclass(frozen=True)
class Shard:
    """Part ``index`` (1-based) of ``count`` equal parts of every split, cut on chunk boundaries."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
        if not match or not 1 <= int(match[1]) <= int(match[2]):
            raise GroupbenchError(f"--shard {text!r}: expected K/N with 1 <= K <= N, e.g. 1/4")
        return cls(int(match[1]), int(match[2]))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def range(self, n: int, chunk: int) -> tuple[int, int]:
        """[start, stop) of this shard within a split of ``n`` samples."""
        chunks = -(-n // chunk)
        first = (self.index - 1) * chunks // self.count
        last = self.index * chunks // self.count
        return min(first * chunk, n), min(last * chunk, n)


WORKERS_PER_CPU = 4
"""More worker processes than this per CPU only cost memory and start-up time."""

ADDRESS_BYTES = 2**63
"""HDF5 addresses a file's bytes with signed 64-bit offsets: no array can hold more, even compressed."""


def sample_bytes(layout: SplitLayout) -> int:
    """Uncompressed bytes of one sample, all arrays together."""
    return sum(math.prod(shape[1:]) * dtype.itemsize for shape, dtype in layout.arrays(1).values())


def block_length(layout: SplitLayout) -> int:
    """Samples per block: whole chunks, about `BLOCK_BYTES` uncompressed."""
    chunk = layout.chunk_length
    return chunk * max(1, BLOCK_BYTES // (sample_bytes(layout) * chunk))


_worker_generators: dict = {}


def _encode(generator_class: type, params: dict, key: int, split: str, start: int, stop: int, keep_raw: bool):
    """Generate and deflate samples [start, stop) of a split (runs in a worker process or in process)."""
    cache_key = (generator_class, repr(sorted(params.items())))
    generator = _worker_generators.get(cache_key)
    if generator is None:
        generator = _worker_generators[cache_key] = generator_class(generator_class.Params(**params))
    batch = generator.generate(CounterRandom(key), split, np.arange(start, stop, dtype=np.int64))
    return encode_block(batch, generator.layout(split), start, keep_raw)


def _run(tasks: Iterable[tuple], workers: int) -> Iterator[EncodedBlock]:
    """Results of `_encode` over ``tasks`` in order, with at most 2 x workers blocks in flight."""
    if workers <= 1:
        for task in tasks:
            yield _encode(*task, keep_raw=True)
        return
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending: deque = deque()
        try:
            for task in tasks:
                pending.append(pool.submit(_encode, *task, keep_raw=False))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def resolve_sizes(spec: registry.DatasetSpec, sizes: dict[str, int | None] | None) -> dict[str, int]:
    """Split sizes: the spec's defaults, overridden where given; 0 leaves a split out."""
    result = dict(spec.splits)
    for split, n in (sizes or {}).items():
        if n is None:
            continue
        if split not in spec.splits:
            if n == 0:
                continue
            raise GroupbenchError(f"{spec.id} has no '{split}' split (it has {', '.join(spec.splits)})")
        if n < 0:
            raise GroupbenchError(f"--n-{split} must be >= 0, got {n}")
        result[split] = n
    result = {split: n for split, n in result.items() if n > 0}
    if not result:
        raise GroupbenchError("every split has 0 samples; nothing to generate")
    return result


def generate(
    dataset_id: str,
    out: str | Path,
    *,
    seed: int | None = None,
    sizes: dict[str, int | None] | None = None,
    params: dict[str, Any] | None = None,
    workers: int = 1,
    shard: Shard | None = None,
    overwrite: bool = False,
    inputs: Iterable[str | Path] = (),
    progress: bool | None = None,
) -> Path:
    """Write dataset ``dataset_id`` to ``out``; returns the path. See docs/format.md.

    ``sizes`` maps split -> number of samples (None keeps the default), ``params`` overrides
    generator parameters (strings are parsed), ``shard`` writes only that part of every split.
    ``inputs``: files the generator reads (MNIST), which ``out`` may not be. ``progress`` False
    reports nothing; otherwise a bar on a terminal, log lines elsewhere (`progress_bar`).
    """
    check_output(out, overwrite=overwrite, inputs=inputs)  # before the generator reads its inputs
    spec = registry.get(dataset_id)
    seed = spec.default_seed if seed is None else int(seed)
    if not 0 <= seed < 2**63:
        raise GroupbenchError(f"--seed must lie in [0, 2**63), got {seed}")
    if workers < 1:
        raise GroupbenchError(f"--workers must be >= 1, got {workers}")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if workers > WORKERS_PER_CPU * cpus:
        raise GroupbenchError(
            f"--workers {workers} is too many for the {cpus} CPUs this process may use (each worker is a process with "
            f"its own generator); use at most {WORKERS_PER_CPU * cpus}"
        )
    full_params = spec.resolve_params(params)
    split_sizes = resolve_sizes(spec, sizes)
    generator = spec.make(full_params)
    cls = type(generator)
    attrs: dict[str, Any] = {"dataset": spec.id, "params": full_params, "seed": seed}
    if shard is not None:
        attrs["shard"] = str(shard)
    plan = []
    for split in (s for s in SPLITS if s in split_sizes):
        layout = generator.layout(split)
        n = split_sizes[split]
        most = (ADDRESS_BYTES - 1) // sample_bytes(layout)
        if n > most:
            raise GroupbenchError(
                f"--n-{split} {n:,} is more than a file can hold: at most {most:,} samples of {spec.id} "
                f"({sample_bytes(layout):,} bytes each before compression)"
            )
        start, stop = shard.range(n, layout.chunk_length) if shard else (0, n)
        plan.append((split, layout, n, start, stop))

    def tasks(split: str, layout: SplitLayout, start: int, stop: int):
        key = split_key(spec.id, full_params, seed, split)
        step = block_length(layout)
        for begin in range(start, stop, step):
            yield cls, full_params, key, split, begin, min(begin + step, stop)

    total = sum(stop - start for *_, start, stop in plan)
    with DatasetFileWriter(out, attrs, overwrite=overwrite, inputs=inputs) as writer, progress_bar(
        total, f"generate {spec.id}", unit="img", show=progress
    ) as bar:
        for split, layout, n, start, stop in plan:
            split_writer = writer.create_split(split, layout, stop - start, start=start, total=n)
            for block in _run(tasks(split, layout, start, stop), workers):
                split_writer.write(_shift(block, start))
                bar.update(block.stop - block.start)
    return Path(out)


def _shift(block: EncodedBlock, offset: int) -> EncodedBlock:
    """The block with indices relative to the start of a shard."""
    block.start -= offset
    block.stop -= offset
    return block


def merge(shards: list[str | Path], out: str | Path, *, overwrite: bool = False, progress: bool | None = None) -> Path:
    """Join the shard files of one generation into one file, identical to generating it in one run.

    Checks that the shards come from the same dataset, parameters, seed and shard count, that each
    shard is present once, and that their stored digests hold; chunks are copied without
    recompression.
    """
    if not shards:
        raise GroupbenchError("merge needs at least one shard file")
    handles = []
    try:
        for path in shards:
            handles.append(open_file(path))
        metas = [file_metadata(h) for h in handles]
        first = metas[0]
        for path, meta in zip(shards, metas):
            if "shard" not in meta:
                raise GroupbenchError(f"{path}: not a shard file (written without --shard)")
            for name in ("dataset", "params", "seed", "groupbench_version"):
                if meta[name] != first[name]:
                    raise GroupbenchError(f"{path}: {name} {meta[name]!r} differs from {first[name]!r} in {shards[0]}")
        parsed = [Shard.parse(m["shard"]) for m in metas]
        count = parsed[0].count
        seen: dict[int, str] = {}
        for path, part in zip(shards, parsed):
            if part.count != count:
                raise GroupbenchError(f"{path}: shard {part} does not belong to a split into {count}")
            if part.index in seen:
                raise GroupbenchError(f"{path}: shard {part} given twice (also {seen[part.index]})")
            seen[part.index] = str(path)
        missing = sorted(set(range(1, count + 1)) - set(seen))
        if missing:
            raise GroupbenchError(f"shard {missing[0]}/{count} is missing; merge needs all {count} shards")
        order = sorted(range(len(handles)), key=lambda i: parsed[i].index)
        attrs = {name: first[name] for name in ("dataset", "params", "seed")}
        splits = split_names(handles[0])
        for path, handle in zip(shards, handles):
            if split_names(handle) != splits:
                raise GroupbenchError(f"{path}: holds splits {split_names(handle)}, {shards[0]} holds {splits}")
        total = sum(split_position(handles[0][split])[1] for split in splits)
        with DatasetFileWriter(out, attrs, overwrite=overwrite, inputs=shards) as writer, progress_bar(
            total, "merge", unit="img", show=progress
        ) as bar:
            for split in splits:
                _merge_split(writer, split, [handles[i] for i in order], [metas[i] for i in order], bar)
    finally:
        for handle in handles:
            handle.close()
    return Path(out)


def _merge_split(writer: DatasetFileWriter, split: str, handles: list, metas: list[dict], bar) -> None:
    """Copy one split from every shard, in shard order, checking coverage and each shard's digest."""
    groups = [h[split] for h in handles]
    layout = layout_of(groups[0])
    n = split_position(groups[0])[1]
    split_writer = writer.create_split(split, layout, n, start=0, total=n)
    for handle, meta, group in zip(handles, metas, groups):
        if layout_of(group) != layout:
            raise GroupbenchError(f"{handle.filename}: split '{split}' has other array shapes than the first shard")
        (start, total), count = split_position(group), group["images"].shape[0]
        if start != split_writer.written or total != n:
            raise GroupbenchError(
                f"{handle.filename}: split '{split}' covers [{start}, {start + count}) of {total}, "
                f"expected it to start at {split_writer.written} of {n}"
            )
        if start == 0:  # the split's digest has read exactly the first shard: one hash for both
            split_writer.copy_chunks(group, start, count, None)
            shard_digest = split_writer.digest.fork(layout.arrays(count))
        else:
            shard_digest = SplitDigest(layout.arrays(count))
            split_writer.copy_chunks(group, start, count, shard_digest)
        if shard_digest.hexdigest() != meta["digests"][split]:
            raise GroupbenchError(f"{handle.filename}: split '{split}' does not match its stored digest (corrupted shard)")
        bar.update(count)
    if split_writer.written != n:
        raise GroupbenchError(f"split '{split}': the shards cover {split_writer.written} of {n} samples")
