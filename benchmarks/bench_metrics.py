"""Scoring speed: a per-image scikit-learn loop against groupbench.metrics (numpy and torch on the CPU).

Images are 64x64 with 6 true groups; predictions copy a relabelled ground truth on 80% of the
pixels and draw one of 7 ids elsewhere (the cost depends only on group sizes, not on layout).
sklearn scores 200 images, groupbench 10,000 (with --benchmark-disable, the default, every test runs
once on 200 images as a smoke test).

Run: pytest benchmarks/bench_metrics.py --benchmark-enable --benchmark-json=metrics.json
Per-image times are in each test's extra_info; figures: docs/metrics.md.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from groupbench.metrics import adjusted_mutual_info, adjusted_rand_index, iter_scores

PIXELS, TRUE_GROUPS, PRED_IDS, AGREEMENT = 64 * 64, 6, 7, 0.8
IMAGES = {"sklearn": 200, "groupbench": 10_000}
SMOKE_IMAGES = 200
ROUNDS = 5


@pytest.fixture(scope="module")
def labels(request):
    """(true, pred): (10000, 4096) int64 each (200 images in smoke runs)."""
    rng = np.random.default_rng(0)
    disabled = request.config.getoption("benchmark_disable") and not request.config.getoption("benchmark_enable")
    n = SMOKE_IMAGES if disabled else IMAGES["groupbench"]
    true = rng.integers(0, TRUE_GROUPS, (n, PIXELS))
    relabel = np.stack([rng.permutation(PRED_IDS)[:TRUE_GROUPS] for _ in range(n)])
    pred = np.take_along_axis(relabel, true, axis=1)
    noisy = rng.random(true.shape) > AGREEMENT
    pred[noisy] = rng.integers(0, PRED_IDS, noisy.sum())
    return true, pred


def _images(benchmark, runner: str) -> int:
    return SMOKE_IMAGES if benchmark.disabled else IMAGES[runner]


def _record(benchmark, images: int) -> None:
    benchmark.extra_info["images"] = images
    if benchmark.stats is not None:
        benchmark.extra_info["ms_per_image"] = benchmark.stats.stats.min * 1e3 / images


@pytest.mark.parametrize("metric", ["ari", "ami"])
def test_sklearn_loop(benchmark, labels, metric):
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

    score = adjusted_rand_score if metric == "ari" else adjusted_mutual_info_score
    n = _images(benchmark, "sklearn")
    true, pred = labels[0][:n], labels[1][:n]
    benchmark.pedantic(lambda: [score(t, p) for t, p in zip(true, pred)], rounds=ROUNDS, iterations=1)
    _record(benchmark, n)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("metric", ["ari", "ami"])
def test_groupbench(benchmark, labels, metric, backend):
    n = _images(benchmark, "groupbench")
    true, pred = labels[0][:n], labels[1][:n]
    score = adjusted_rand_index if metric == "ari" else adjusted_mutual_info
    benchmark.pedantic(score, args=(true, pred), kwargs={"backend": backend}, rounds=ROUNDS, iterations=1)
    _record(benchmark, n)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_groupbench_both_metrics(benchmark, labels, backend):
    """ARI and AMI of every image in one pass (shared contingency tables), streamed in chunks."""
    n = _images(benchmark, "groupbench")
    true, pred = labels[0][:n], labels[1][:n]
    benchmark.pedantic(lambda: list(iter_scores(true, pred, backend=backend)), rounds=ROUNDS, iterations=1)
    _record(benchmark, n)


def test_peak_memory_numpy(benchmark, labels):
    """Memory allocated while scoring (inputs excluded): bounded by the chunk size, not the image count."""
    n = _images(benchmark, "groupbench")
    true, pred = labels[0][:n], labels[1][:n]

    def traced_peak_mb():
        tracemalloc.start()
        for _ in iter_scores(true, pred):
            pass
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak / 2**20

    benchmark.extra_info["peak_mb"] = round(benchmark.pedantic(traced_peak_mb, rounds=1, iterations=1), 1)
    benchmark.extra_info["input_mb"] = round((true.nbytes + pred.nbytes) / 2**20, 1)
