"""End-to-end scoring of a predictions file: read, mask, every metric, summaries (one process).

10,000 test images of 64x64 with 6 objects (shapes-v1 with size=64, num_objects=6), predictions
= ground truth with 20% of pixels relabelled; scored for ARI and AMI only, and for all seven
metrics (`groupbench score`'s default). Run: pytest benchmarks/bench_score.py --benchmark-enable.
"""

from __future__ import annotations

import numpy as np
import pytest

from groupbench.data import SplitReader
from groupbench.generation import generate
from groupbench.metrics import METRICS
from groupbench.scoring import score_file

IMAGES = 10_000


@pytest.fixture(scope="module")
def scored_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("score")
    dataset = generate(
        "shapes-v1", folder / "d.h5", sizes={"train": 0, "valid": 0, "test": IMAGES, "single": 0},
        params={"size": "64", "num_objects": "6"}, progress=False,
    )
    with SplitReader(dataset, "test") as reader:
        labels = reader.group["labels"][:].astype(np.int64)
    rng = np.random.default_rng(0)
    noise = rng.random(labels.shape) < 0.2
    labels[noise] = rng.integers(0, 7, int(noise.sum()))
    np.save(folder / "pred.npy", labels)
    return dataset, folder / "pred.npy"


@pytest.mark.parametrize("metrics", [("ari", "ami"), METRICS], ids=["ari-ami", "every-metric"])
def test_score_10k_images_64x64(benchmark, scored_files, metrics):
    dataset, pred = scored_files
    results, _ = benchmark.pedantic(score_file, args=(pred, dataset), kwargs={"metrics": metrics}, rounds=3, iterations=1)
    assert results["images_scored"] == IMAGES and set(results["metrics"]) == set(metrics)
    if benchmark.stats is not None:
        benchmark.extra_info["images_per_s"] = round(IMAGES / benchmark.stats.stats.mean)
