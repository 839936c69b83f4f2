"""Scoring speed: per-image loops written the way the reference repositories compute each metric,
against groupbench.metrics (numpy and torch on the CPU), all on the same images in one run.

Images: 10,000 of 64x64 with 1 to 7 objects each (uniform), every pixel drawing background or one
of the image's objects at random (the cost depends on group sizes, not on layout); predictions
copy the ground truth relabelled onto 8 slots on 80% of the pixels and draw one of the 8 slots
elsewhere. Background is no object (label 0): ARI and AMI leave its pixels out (FG-ARI); mBO, mIoU
and covering keep them in the predicted segments, as OCLF and Genesis do (groupbench:
``background=0``).

Reference loops (one image at a time, written here from what each repository does):
- scikit-learn's adjusted_rand_score / adjusted_mutual_info_score on the foreground pixels
  (object-centric-library, Genesis, ClevrTex);
- OCLF's unsupervised_mask_iou: one-hot masks as torch tensors, pairwise intersections and unions
  of every (slot, object), then the best overlap per object (mBO) or scipy's linear_sum_assignment
  (Hungarian mIoU; divided by objects, or by max(objects, segments) as ClevrTex divides);
- Genesis' average_segcover: for each true segment, the IoU with each predicted segment as torch
  masks (mSC and the size-weighted SC).
The loops score 200 images, groupbench 10,000, timed in alternation (each round times the loop, then
groupbench), so both see the same load; torch runs on one thread. With --benchmark-disable (the
default), every test runs once on 200 images (the loops on 20) as a smoke test.

Run: pytest benchmarks/bench_metrics.py --benchmark-enable --benchmark-json=metrics.json
Per-image times are in each test's extra_info; figures: docs/metrics.md.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

from groupbench.metrics import METRICS, iter_scores

PIXELS, MAX_OBJECTS, SLOTS, AGREEMENT = 64 * 64, 7, 8, 0.8
IMAGES = {"reference": 200, "groupbench": 10_000}
SMOKE_IMAGES = {"reference": 20, "groupbench": 200}
ROUNDS = 5


@pytest.fixture(scope="module")
def labels(request):
    """(true, pred): (10000, 4096) int64 each (200 images in smoke runs); 0 = background."""
    rng = np.random.default_rng(0)
    disabled = request.config.getoption("benchmark_disable") and not request.config.getoption("benchmark_enable")
    n = SMOKE_IMAGES["groupbench"] if disabled else IMAGES["groupbench"]
    objects = rng.integers(1, MAX_OBJECTS + 1, n)
    true = (rng.random((n, PIXELS)) * (objects[:, None] + 1)).astype(np.int64)  # 0 = background
    relabel = np.stack([rng.permutation(SLOTS) for _ in range(n)])
    pred = np.take_along_axis(relabel, true, axis=1)
    noisy = rng.random(true.shape) > AGREEMENT
    pred[noisy] = rng.integers(0, SLOTS, noisy.sum())
    return true, pred


def _images(benchmark, runner: str) -> int:
    return SMOKE_IMAGES[runner] if benchmark.disabled else IMAGES[runner]


def _record(benchmark, images: int) -> None:
    benchmark.extra_info["images"] = images
    if benchmark.stats is not None:
        benchmark.extra_info["ms_per_image"] = benchmark.stats.stats.min * 1e3 / images


def sklearn_loop(metric, true, pred):
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

    score = adjusted_rand_score if metric == "ari" else adjusted_mutual_info_score
    return [score(t[t > 0], p[t > 0]) for t, p in zip(true, pred)]


def oclf_loop(metric, true, pred):
    """Per image as OCLF's UnsupervisedMaskIoUMetric: one-hot torch masks, background entity dropped."""
    import torch
    from scipy.optimize import linear_sum_assignment

    scores = []
    for t, p in zip(torch.from_numpy(true), torch.from_numpy(pred)):
        prediction = torch.nn.functional.one_hot(p, SLOTS).T.to(torch.bool)  # (slots, pixels)
        target = torch.nn.functional.one_hot(t, MAX_OBJECTS + 1).T[1:] > 0  # background entity dropped
        target = target[target.sum(-1) > 0]
        if len(target) == 0:
            continue
        intersection = (prediction.unsqueeze(1) & target.unsqueeze(0)).sum(-1).to(torch.float64)
        union = (prediction.unsqueeze(1) | target.unsqueeze(0)).sum(-1).to(torch.float64)
        iou = intersection / union
        iou[union == 0] = 0.0
        if metric == "mbo":
            scores.append(iou.max(dim=0).values.mean().item())
            continue
        rows, cols = linear_sum_assignment(iou.numpy(), maximize=True)
        matched = iou[rows, cols].sum().item()
        segments = int(prediction.any(-1).sum())
        scores.append(matched / (len(target) if metric == "miou-objects" else max(len(target), segments)))
    return scores


def genesis_loop(metric, true, pred):
    """Per image as Genesis' average_segcover(ignore_background=True): each true segment against each
    predicted one, as torch masks."""
    import torch

    scores = []
    for t, p in zip(torch.from_numpy(true), torch.from_numpy(pred)):
        total = weighted = 0.0
        count = size = 0
        for i in torch.unique(t[t > 0]).tolist():
            a = t == i
            best = 0.0
            for j in torch.unique(p[p >= 0]).tolist():
                b = p == j
                best = max(best, ((a & b).sum().float() / (a | b).sum().float()).item())
            total, count = total + best, count + 1
            weighted, size = weighted + a.sum().item() * best, size + a.sum().item()
        scores.append(total / count if metric == "msc" else weighted / size)
    return scores


REFERENCES = {"ari": sklearn_loop, "ami": sklearn_loop, "mbo": oclf_loop, "miou-objects": oclf_loop,
              "miou-segments": oclf_loop, "msc": genesis_loop, "sc": genesis_loop}


def _scores(true, pred, metrics, backend="numpy"):
    """groupbench's scores, chunk by chunk: background (0) no object, as in the reference loops."""
    return list(iter_scores(true, pred, metrics=metrics, background=0, average_method="arithmetic", backend=backend))


@pytest.mark.parametrize("metric", METRICS)
def test_speed_up_over_the_reference_loop(benchmark, labels, metric):
    """Each round times the reference loop (200 images) and then groupbench's numpy backend (10,000
    images) right after it, so that both see the same load on a shared machine; the speed-up is the
    ratio of their fastest times per image."""
    n_reference, n = _images(benchmark, "reference"), _images(benchmark, "groupbench")
    true, pred = labels
    times = {"reference": [], "groupbench": []}

    def one_round():
        start = time.perf_counter()
        scores = REFERENCES[metric](metric, true[:n_reference], pred[:n_reference])
        middle = time.perf_counter()
        chunks = _scores(true[:n], pred[:n], (metric,))
        times["reference"].append((middle - start) / n_reference)
        times["groupbench"].append((time.perf_counter() - middle) / n)
        return scores, chunks

    scores, chunks = benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
    expected = np.concatenate([chunk.values[metric] for chunk in chunks])[:n_reference]
    np.testing.assert_allclose(scores, expected, atol=1e-9)  # the loops compute the same numbers
    reference, ours = min(times["reference"]), min(times["groupbench"])
    benchmark.extra_info.update(reference_images=n_reference, images=n, reference_ms_per_image=reference * 1e3,
                                ms_per_image=ours * 1e3, speed_up=round(reference / ours, 1))


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """torch on one thread: on a shared 2-core machine its OpenMP threads otherwise wait for each other."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("metric", METRICS)
def test_groupbench(benchmark, labels, metric, backend):
    n = _images(benchmark, "groupbench")
    true, pred = (x[:n] for x in labels)
    benchmark.pedantic(_scores, args=(true, pred, (metric,), backend), rounds=ROUNDS, iterations=1)
    _record(benchmark, n)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_groupbench_every_metric(benchmark, labels, backend):
    """All seven scores of every image in one pass (shared contingency cells), streamed in chunks."""
    n = _images(benchmark, "groupbench")
    true, pred = (x[:n] for x in labels)
    benchmark.pedantic(_scores, args=(true, pred, METRICS, backend), rounds=ROUNDS, iterations=1)
    _record(benchmark, n)


def test_peak_memory_numpy(benchmark, labels):
    """Memory allocated while scoring every metric (inputs excluded): bounded by the chunk size, not the image count."""
    n = _images(benchmark, "groupbench")
    true, pred = (x[:n] for x in labels)

    def traced_peak_mb():
        tracemalloc.start()
        for _ in iter_scores(true, pred, background=0):
            pass
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak / 2**20

    benchmark.extra_info["peak_mb"] = round(benchmark.pedantic(traced_peak_mb, rounds=1, iterations=1), 1)
    benchmark.extra_info["input_mb"] = round((true.nbytes + pred.nbytes) / 2**20, 1)
