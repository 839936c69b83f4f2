"""Random access by index: one sample at a time in shuffled order, as a DataLoader reads, and a
shuffled DataLoader epoch with 2 worker processes.

Run: pytest benchmarks/bench_reading.py --benchmark-enable. Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from groupbench.data import GroupingDataset
from groupbench.generation import generate

READS = 2000


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reading")
    return {
        "shapes-v1": generate("shapes-v1", folder / "s.h5", sizes={"train": 50_000, "valid": 0, "test": 0, "single": 0}, progress=False),
        "tetris-v1": generate("tetris-v1", folder / "t.h5", sizes={"train": 60_000, "valid": 0, "test": 0}, progress=False),
    }


@pytest.mark.parametrize("dataset_id", ["shapes-v1", "tetris-v1"])
def test_random_access_items(benchmark, files, dataset_id):
    dataset = GroupingDataset(files[dataset_id], "train")
    order = np.random.default_rng(0).permutation(len(dataset))[:READS]

    def read():
        for i in order:
            dataset[int(i)]

    benchmark.pedantic(read, rounds=3, iterations=1)
    benchmark.extra_info["items"] = READS
    if benchmark.stats is not None:
        benchmark.extra_info["items_per_s"] = round(READS / benchmark.stats.stats.mean)


def test_dataloader_epoch_two_workers(benchmark, files):
    """One shuffled epoch over the 50,000 shapes-v1 images, batches of 64, 2 workers (a smoke run of
    4,096 images when timing is disabled, as in the test suite)."""
    dataset = GroupingDataset(files["shapes-v1"], "train")
    if benchmark.disabled:
        dataset = torch.utils.data.Subset(dataset, range(4096))
    loader = torch.utils.data.DataLoader(dataset, batch_size=64, shuffle=True, num_workers=2,
                                         generator=torch.Generator().manual_seed(0))

    def epoch():
        return sum(len(batch["image"]) for batch in loader)

    items = benchmark.pedantic(epoch, rounds=3, iterations=1)
    assert items == len(dataset)
    benchmark.extra_info["items"] = items
    if benchmark.stats is not None:
        benchmark.extra_info["items_per_s"] = round(items / benchmark.stats.stats.mean)
