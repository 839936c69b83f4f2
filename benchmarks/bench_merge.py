"""Merging shards: `merge` of the two shards of tetris-v1 at its default sizes (60k / 10k / 10k).

Run: pytest benchmarks/bench_merge.py --benchmark-enable. Figures: docs/benchmarks.md, next to the
time of generating the same file in one run (bench_generation.py, tetris-v1).
"""

from __future__ import annotations

import pytest

from groupbench.generation import Shard, generate, merge

SIZES = {"train": 60_000, "valid": 10_000, "test": 10_000}


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    folder = tmp_path_factory.mktemp("merge")
    return [
        generate("tetris-v1", folder / f"part{k}.h5", sizes=SIZES, shard=Shard(k, 2), progress=False) for k in (1, 2)
    ]


def test_merge_two_tetris_shards(benchmark, shards, tmp_path):
    out = tmp_path / "merged.h5"
    benchmark.pedantic(merge, args=(shards, out), kwargs=dict(overwrite=True, progress=False), rounds=3, iterations=1)
    images = sum(SIZES.values())
    megabytes = sum(path.stat().st_size for path in shards) / 1e6
    benchmark.extra_info.update(images=images, shard_megabytes=round(megabytes, 1))
    if benchmark.stats is not None:
        benchmark.extra_info["images_per_s"] = round(images / benchmark.stats.stats.mean)
        benchmark.extra_info["megabytes_per_s"] = round(megabytes / benchmark.stats.stats.mean, 1)
