"""mBO, Hungarian mIoU, segmentation covering, DeepMind's degenerate policy and frame selection, each
against an independent per-image implementation written from the definitions (scipy's
linear_sum_assignment for the matching), on random and adversarial inputs, both backends."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from groupbench.errors import GroupbenchError
from groupbench.metrics import (
    GroupingMetric,
    adjusted_mutual_info,
    adjusted_rand_index,
    hard_labels,
    hungarian_miou,
    iter_scores,
    mean_best_overlap,
    segmentation_covering,
)
from groupbench.metrics.assignment import max_weight_sums
from groupbench.metrics.backend import resolve_backend
from test_metrics import random_batch  # labels where pred copies a relabelled true on a fraction of pixels

BACKENDS = ["numpy", "torch"]
OVERLAP = ("mbo", "miou-objects", "miou-segments", "msc", "sc")
TOLERANCE = 1e-9


def reference_overlap(true, pred, valid, background=None):
    """{metric: value} of one image from the definitions: objects = true ids over the scored pixels
    (valid, and not `background`), segments = predicted ids over all valid pixels."""
    true, pred, valid = (np.asarray(x).reshape(-1) for x in (true, pred, valid))
    scored = valid & (true != background) if background is not None else valid
    objects = np.unique(true[scored])
    segments = np.unique(pred[valid])
    if len(objects) == 0:
        return {name: np.nan for name in OVERLAP}
    iou = np.zeros((len(objects), len(segments)))
    for i, o in enumerate(objects):
        g = scored & (true == o)
        for j, s in enumerate(segments):
            p = valid & (pred == s)
            iou[i, j] = np.sum(g & p) / np.sum(g | p)
    best = iou.max(axis=1)
    sizes = np.array([np.sum(scored & (true == o)) for o in objects])
    rows, cols = linear_sum_assignment(iou, maximize=True)
    matched = iou[rows, cols].sum()
    return {
        "mbo": best.mean(),
        "msc": best.mean(),
        "sc": (sizes * best).sum() / sizes.sum(),
        "miou-objects": matched / len(objects),
        "miou-segments": matched / max(len(objects), len(segments)),
    }


def reference_batch(true, pred, valid, background=None):
    rows = [reference_overlap(t, p, v, background) for t, p, v in zip(true, pred, valid)]
    return {name: np.array([r[name] for r in rows]) for name in OVERLAP}


def deepmind_ari(true, pred, valid):
    """DeepMind's FG-ARI formula on the valid pixels: (RI - E) / (M - E); NaN where it is 0/0."""
    out = []
    for t, p, v in zip(np.asarray(true), np.asarray(pred), np.asarray(valid)):
        t, p = t[v], p[v]
        n = len(t)
        _, t_ids = np.unique(t, return_inverse=True)
        _, p_ids = np.unique(p, return_inverse=True)
        table = np.zeros((t_ids.max() + 1 if n else 0, p_ids.max() + 1 if n else 0))
        np.add.at(table, (t_ids, p_ids), 1)
        ri = (table * (table - 1)).sum()
        a, b = table.sum(1), table.sum(0)
        a_pairs, b_pairs = (a * (a - 1)).sum(), (b * (b - 1)).sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            expected = a_pairs * b_pairs / (n * (n - 1))
            out.append((ri - expected) / ((a_pairs + b_pairs) / 2 - expected))
    return np.array(out)


def numpy_of(x):
    return x.cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def scores_of(true, pred, valid, backend, **options):
    chunks = list(iter_scores(true, pred, valid, metrics=OVERLAP, backend=backend, **options))
    return {name: np.concatenate([numpy_of(c.values[name]) for c in chunks]) for name in OVERLAP}


def assert_scores(got, expected, where=""):
    for name in OVERLAP:
        np.testing.assert_allclose(got[name], expected[name], rtol=0, atol=TOLERANCE, err_msg=f"{name} {where}")


RANDOM_CASES = {
    # name: (images, pixels, true groups, predicted ids, fraction of valid pixels)
    "small": (40, 12, 3, 3, 1.0),
    "masked": (30, 100, 5, 8, 0.7),
    "more segments than objects": (20, 200, 3, 12, 0.9),
    "more objects than segments": (20, 200, 9, 3, 0.9),
    "64x64": (6, 4096, 7, 8, 0.9),
    "more ids than pixels": (10, 150, 4, 400, 1.0),
    "few valid pixels": (60, 30, 10, 10, 0.1),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(RANDOM_CASES))
def test_random_inputs_match_the_definitions(case, backend):
    true, pred, valid = random_batch(len(case), *RANDOM_CASES[case])
    assert_scores(scores_of(true, pred, valid, backend), reference_batch(true, pred, valid), case)


@pytest.mark.parametrize("backend", BACKENDS)
def test_background_kept_in_the_segments(backend):
    """OCLF's ignore_background: background is no object, but its pixels still count in the segments."""
    true, pred, valid = random_batch(3, 40, 300, 5, 6, 0.9)
    got = scores_of(true, pred, valid, backend, background=0)
    assert_scores(got, reference_batch(true, pred, valid, background=0))
    left_out = scores_of(true, pred, valid & (true != 0), backend)
    assert np.all(got["mbo"] <= left_out["mbo"] + 1e-12)  # the segments only grow
    assert np.any(got["mbo"] < left_out["mbo"] - 1e-6)


def adversarial_batch():
    """(names, true, pred, valid): one image per edge case, 64 pixels each."""
    rng = np.random.default_rng(7)
    n = 64
    zeros, every = np.zeros(n, np.int64), np.ones(n, bool)
    halves = np.repeat([1, 2], n // 2)
    quarters = np.repeat([1, 2, 3, 4], n // 4)
    some = rng.integers(0, 4, n)
    cases = {
        "no true object (all masked)": (some, some, ~every),
        "one object, one segment": (zeros + 3, zeros + 9, every),
        "one object, split in two": (zeros + 3, halves, every),
        "two objects, one segment": (halves, zeros, every),
        "more segments than objects": (halves, quarters, every),
        "one segment per pixel": (some, np.arange(n), every),
        "tie: two objects, two segments crossing them equally": (halves, np.tile([1, 2], n // 2), every),
        "tie: symmetric 2x2": (quarters, np.where(quarters <= 2, quarters % 2, 2 + quarters % 2), every),
        "huge non-contiguous ids": (some * 2**40 + 7, rng.integers(0, 6, n) * 3**30 + 2**50, every),
        "single valid pixel": (some, some, np.arange(n) == 5),
        "equal up to renaming": (some, (some * 7 + 3) % 11, every),
    }
    names = list(cases)
    true, pred, valid = (np.stack([cases[name][i] for name in names]) for i in range(3))
    return names, true, pred, valid


@pytest.mark.parametrize("backend", BACKENDS)
def test_edge_cases_match_the_definitions(backend):
    names, true, pred, valid = adversarial_batch()
    garbage = np.where(valid, true, -3)  # ids of invalid pixels never matter
    got = scores_of(garbage, pred, valid, backend)
    expected = reference_batch(true, pred, valid)
    for i, name in enumerate(names):
        for metric in OVERLAP:
            assert np.isclose(got[metric][i], expected[metric][i], rtol=0, atol=TOLERANCE, equal_nan=True), (name, metric)
    index = {name: i for i, name in enumerate(names)}
    assert np.isnan(got["mbo"][index["no true object (all masked)"]])
    assert got["miou-objects"][index["equal up to renaming"]] == pytest.approx(1.0)
    split = index["one object, split in two"]
    assert got["mbo"][split] == pytest.approx(0.5) and got["miou-segments"][split] == pytest.approx(0.25)


def test_the_functions_agree_with_iter_scores():
    true, pred, valid = random_batch(4, 25, 120, 5, 7, 0.8)
    together = scores_of(true, pred, valid, "numpy")
    alone = {
        "mbo": mean_best_overlap(true, pred, valid),
        "msc": segmentation_covering(true, pred, valid),
        "sc": segmentation_covering(true, pred, valid, weighted=True),
        "miou-objects": hungarian_miou(true, pred, valid),
        "miou-segments": hungarian_miou(true, pred, valid, divide_by="segments"),
    }
    for name, values in alone.items():
        np.testing.assert_array_equal(values, together[name])
    np.testing.assert_array_equal(together["msc"], together["mbo"])  # unweighted covering is mBO by definition


def test_soft_masks_are_scored_by_their_argmax():
    rng = np.random.default_rng(5)
    masks = rng.random((12, 6, 10, 10))
    masks[:, 5] = 0.0  # an empty slot: never the argmax
    true = rng.integers(0, 4, (12, 10, 10))
    labels = hard_labels(masks)
    assert labels.shape == (12, 10, 10) and labels.max() < 5
    assert np.array_equal(numpy_of(hard_labels(torch.tensor(masks))), labels)
    valid = np.ones((12, 100), bool)
    assert_scores(scores_of(true.reshape(12, -1), labels.reshape(12, -1), valid, "numpy"),
                  reference_batch(true.reshape(12, -1), labels.reshape(12, -1), valid))


@pytest.mark.parametrize("backend", BACKENDS)
def test_sequences_per_frame_spatiotemporal_and_skipping_the_first_frame(backend):
    rng = np.random.default_rng(9)
    true = rng.integers(0, 4, (5, 6, 40))
    pred = (true + (rng.random(true.shape) < 0.3) * rng.integers(1, 3, true.shape)) % 5
    valid = true != 0
    valid[0, 2] = False  # a frame without objects: skipped
    valid[1] = False  # a sequence without objects: NaN
    n, frames, pixels = true.shape
    by_frame = reference_batch(*(x.reshape(n * frames, pixels) for x in (true, pred, valid)))
    flat = reference_batch(*(x.reshape(n, frames * pixels) for x in (true, pred, valid)))
    got = scores_of(true, pred, valid, backend, sequence_mode="per-frame")
    for name in OVERLAP:
        per_frame = by_frame[name].reshape(n, frames)
        expected = [np.nanmean(r) if not np.all(np.isnan(r)) else np.nan for r in per_frame]
        np.testing.assert_allclose(got[name], expected, rtol=0, atol=TOLERANCE)
        skipped = [np.nanmean(r[1:]) if not np.all(np.isnan(r[1:])) else np.nan for r in per_frame]
        got_skipped = scores_of(true, pred, valid, backend, sequence_mode="per-frame", frames="skip-first")[name]
        np.testing.assert_allclose(got_skipped, skipped, rtol=0, atol=TOLERANCE)
    assert_scores(scores_of(true, pred, valid, backend, sequence_mode="spatiotemporal"), flat)
    later = [x[:, 1:] for x in (true, pred, valid)]
    assert_scores(scores_of(true, pred, valid, backend, sequence_mode="spatiotemporal", frames="skip-first"),
                  reference_batch(*(x.reshape(n, -1) for x in later)))


def test_frame_selection_applies_to_ari_and_ami():
    rng = np.random.default_rng(10)
    true = rng.integers(0, 4, (4, 5, 30))
    pred = rng.integers(0, 4, (4, 5, 30))
    valid = true != 0
    for function in (adjusted_rand_index, adjusted_mutual_info):
        got = function(true, pred, valid, sequence_mode="per-frame", frames="skip-first")
        expected = function(true[:, 1:], pred[:, 1:], valid[:, 1:], sequence_mode="per-frame")
        np.testing.assert_array_equal(got, expected)
    with pytest.raises(GroupbenchError, match="frames='skip-first' needs sequences"):
        adjusted_rand_index(true[:, 0], pred[:, 0], frames="skip-first")


def test_100k_pixel_clips_in_float64():
    """A 24-frame 64x64 clip scored spatio-temporally is one clustering of 98,304 pixels: products of
    pair counts exceed int64 in a naive implementation; here they stay exact in float64."""
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(11)
    true = rng.integers(0, 6, (2, 24, 64 * 64))
    pred = np.where(rng.random(true.shape) < 0.6, true, rng.integers(0, 8, true.shape))
    valid = np.ones(true.shape, bool)
    ari = adjusted_rand_index(true, pred, valid, sequence_mode="spatiotemporal")
    expected = [adjusted_rand_score(t.reshape(-1), p.reshape(-1)) for t, p in zip(true, pred)]
    np.testing.assert_allclose(ari, expected, rtol=0, atol=TOLERANCE)
    got = scores_of(true, pred, valid, "numpy", sequence_mode="spatiotemporal")
    assert_scores(got, reference_batch(true.reshape(2, -1), pred.reshape(2, -1), valid.reshape(2, -1)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_deepmind_degenerate_policy_gives_nan_where_its_formula_is_0_over_0(backend):
    names, true, pred, valid = adversarial_batch()
    extra_true = np.stack([np.arange(64), np.zeros(64, np.int64), np.zeros(64, np.int64)])
    extra_pred = np.stack([np.arange(64)[::-1], np.arange(64) % 3, np.zeros(64, np.int64)])
    true, pred = np.concatenate([true, extra_true]), np.concatenate([pred, extra_pred])
    valid = np.concatenate([valid, np.ones((3, 64), bool)])
    expected = deepmind_ari(true, pred, valid)
    got = numpy_of(adjusted_rand_index(true, pred, valid, degenerate="nan", backend=backend))
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)  # NaN where DeepMind's is NaN
    assert np.isnan(expected).sum() >= 4
    sklearn_like = numpy_of(adjusted_rand_index(true, pred, valid, backend=backend))
    assert np.all(sklearn_like[np.isnan(expected)] == 1.0)
    ami = numpy_of(adjusted_mutual_info(true, pred, valid, degenerate="nan", backend=backend))
    assert np.array_equal(np.isnan(ami), np.isnan(expected))


def test_nan_frames_are_skipped_in_per_frame_means():
    true = np.array([[[1, 1, 1, 1], [1, 2, 1, 2]]])  # frame 0: one group (0/0 under "nan"), frame 1: two
    pred = np.array([[[5, 5, 5, 5], [1, 2, 1, 2]]])
    one = adjusted_rand_index(true, pred, sequence_mode="per-frame")
    nan = adjusted_rand_index(true, pred, sequence_mode="per-frame", degenerate="nan")
    assert one[0] == 1.0 and nan[0] == 1.0  # frame 1 alone under "nan"
    assert np.isnan(adjusted_rand_index(true[:, :1], pred[:, :1], sequence_mode="per-frame", degenerate="nan")[0])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(30, 1, 1), (40, 3, 3), (25, 4, 9), (20, 7, 7), (10, 11, 30)])
def test_batched_assignment_matches_scipy(backend, shape):
    rng = np.random.default_rng(sum(shape))
    weights = rng.random(shape)
    weights[::3] = np.round(weights[::3] * 3) / 3  # many ties
    weights[1::4, -1] = 0.0  # absent objects
    expected = [w[linear_sum_assignment(w, maximize=True)].sum() for w in weights]
    be = resolve_backend(backend)
    got = numpy_of(max_weight_sums(be.asarray(weights), be))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_running_metric_counts_images_where_a_metric_is_defined():
    names, true, pred, valid = adversarial_batch()
    metric = GroupingMetric(metrics=("ari", "mbo"), degenerate="nan")
    metric.update(torch.tensor(true), torch.tensor(pred), torch.tensor(valid))
    result = metric.compute()
    expected = reference_batch(true, pred, valid)["mbo"]
    assert result["mbo_images"] == np.sum(~np.isnan(expected))
    assert result["mbo"] == pytest.approx(np.nanmean(expected), abs=1e-12)
    ari = adjusted_rand_index(true, pred, valid, degenerate="nan")
    assert result["ari_images"] == np.sum(~np.isnan(ari)) < len(names)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: hungarian_miou([[0, 1]], [[0, 1]], divide_by="pixels"), "divide_by"),
        (lambda: adjusted_rand_index([[0, 1]], [[0, 1]], degenerate="zero"), "degenerate"),
        (lambda: mean_best_overlap([[0, 1]], [[0, 1]], frames="last"), "frames"),
    ],
)
def test_bad_options_are_reported(call, message):
    with pytest.raises(GroupbenchError, match=message):
        call()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_overlap_metrics_on_cuda_match_numpy():
    true, pred, valid = random_batch(12, 40, 1024, 7, 9, 0.8)
    on_gpu = [torch.tensor(x, device="cuda") for x in (true, pred, valid)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        chunks = list(iter_scores(*on_gpu, metrics=OVERLAP, background=0))
    assert chunks[0].values["mbo"].device.type == "cuda"
    got = {name: np.concatenate([numpy_of(c.values[name]) for c in chunks]) for name in OVERLAP}
    expected = scores_of(true, pred, valid, "numpy", background=0)
    for name in OVERLAP:
        np.testing.assert_allclose(got[name], expected[name], rtol=0, atol=1e-12, equal_nan=True)
