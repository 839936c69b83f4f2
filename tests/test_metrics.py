"""groupbench.metrics against scikit-learn, image by image, on random and adversarial inputs."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.distributed as dist

from groupbench.errors import GroupbenchError
from groupbench.metrics import (
    GroupingMetric,
    adjusted_mutual_info,
    adjusted_rand_index,
    degenerate_images,
    iter_scores,
    valid_mask,
)
from groupbench.metrics import contingency, hypergeometric
from groupbench.metrics.backend import NUMPY, resolve_backend

BACKENDS = ["numpy", "torch"]
AVERAGE_METHODS = ["arithmetic", "max"]
TOLERANCE = 1e-9


def sklearn_scores(true, pred, valid, metric, average_method="arithmetic"):
    """(B,) sklearn score of each image over its valid pixels."""
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

    true, pred, valid = (np.asarray(x) for x in (true, pred, valid))
    scores = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns on float-valued labels
        for t, p, v in zip(true, pred, valid):
            if metric == "ari":
                scores.append(adjusted_rand_score(t[v], p[v]))
            else:
                scores.append(adjusted_mutual_info_score(t[v], p[v], average_method=average_method))
    return np.array(scores)


def degenerate_reference(true, valid):
    """(B,) the definition: at most one true group, or as many groups as valid pixels."""
    flags = []
    for t, v in zip(np.asarray(true), np.asarray(valid)):
        k = len(np.unique(t[v]))
        flags.append(k <= 1 or k == v.sum())
    return np.array(flags)


def numpy_of(x):
    return x.cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def random_batch(seed, n_images, n_pixels, k_true, k_pred, p_valid, agree=0.7):
    """Labels where `pred` copies a relabelled `true` on a fraction `agree` of the pixels."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k_true, (n_images, n_pixels))
    relabel = rng.integers(0, k_pred, (n_images, k_true))
    pred = np.take_along_axis(relabel, true, axis=1)
    noisy = rng.random(true.shape) > agree
    pred[noisy] = rng.integers(0, k_pred, noisy.sum())
    valid = rng.random(true.shape) < p_valid
    return true, pred, valid


RANDOM_CASES = {
    # name: (images, pixels, true groups, predicted ids, fraction of valid pixels)
    "small": (40, 12, 3, 3, 1.0),
    "masked": (30, 100, 5, 8, 0.7),
    "twenty-groups": (12, 400, 20, 20, 0.8),
    "64x64": (4, 4096, 6, 7, 0.9),
    "more-ids-than-pixels": (10, 150, 4, 400, 1.0),
    "few-valid-pixels": (60, 30, 10, 10, 0.1),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(RANDOM_CASES))
def test_random_inputs_match_sklearn(case, backend):
    true, pred, valid = random_batch(len(case), *RANDOM_CASES[case])
    ari = adjusted_rand_index(true, pred, valid, backend=backend)
    np.testing.assert_allclose(numpy_of(ari), sklearn_scores(true, pred, valid, "ari"), rtol=0, atol=TOLERANCE)
    for method in AVERAGE_METHODS:
        ami = adjusted_mutual_info(true, pred, valid, average_method=method, backend=backend)
        expected = sklearn_scores(true, pred, valid, "ami", method)
        np.testing.assert_allclose(numpy_of(ami), expected, rtol=0, atol=TOLERANCE)
    assert numpy_of(ari).dtype == np.float64


def adversarial_batch():
    """(names, true, pred, valid): one image per edge case, 64 pixels each."""
    rng = np.random.default_rng(7)
    n = 64
    zeros, every = np.zeros(n, np.int64), np.ones(n, bool)
    some = rng.integers(0, 4, n)
    one_valid, two_valid = np.zeros(n, bool), np.zeros(n, bool)
    one_valid[5] = True
    two_valid[[5, 9]] = True
    cases = {
        "one true group": (zeros, some, every),
        "one true group, one cluster": (zeros + 3, zeros + 9, every),
        "everything in one predicted cluster": (some, zeros, every),
        "one cluster per pixel": (some, np.arange(n), every),
        "both one group per pixel": (np.arange(n), np.arange(n)[::-1].copy(), every),
        "true one group per pixel": (np.arange(n), np.arange(n) // 3, every),
        "more predicted ids than pixels": (some, rng.choice(10 * n, n, replace=False), every),
        "one-pixel objects": (np.concatenate([np.arange(1, 9), np.full(n - 8, 20)]), some, every),
        "huge non-contiguous ids": (some * 2**40 + 7, rng.integers(0, 6, n) * 3**30 + 2**50, every),
        "all pixels masked": (some, some, ~every),
        "single valid pixel": (some, rng.integers(0, 4, n), one_valid),
        "two valid pixels": (np.arange(n), np.arange(n) % 2, two_valid),
        "equal up to renaming": (some, (some * 7 + 3) % 11, every),
        "half masked": (some, rng.integers(0, 3, n), rng.random(n) < 0.5),
    }
    names = list(cases)
    true, pred, valid = (np.stack([cases[name][i] for name in names]) for i in range(3))
    return names, true, pred, valid


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("average_method", AVERAGE_METHODS)
def test_adversarial_inputs_match_sklearn(backend, average_method):
    names, true, pred, valid = adversarial_batch()
    garbage = np.where(valid, true, -3)  # ids of invalid pixels never matter, even negative ones
    results = {
        "ari": adjusted_rand_index(garbage, pred, valid, backend=backend),
        "ami": adjusted_mutual_info(garbage, pred, valid, average_method=average_method, backend=backend),
    }
    for metric, scores in results.items():
        expected = sklearn_scores(true, pred, valid, metric, average_method)
        for name, got, want in zip(names, numpy_of(scores), expected):
            assert abs(got - want) <= TOLERANCE, (metric, name, got, want)
    degenerate = numpy_of(degenerate_images(garbage, valid, backend=backend))
    np.testing.assert_array_equal(degenerate, degenerate_reference(true, valid))


def test_degenerate_images_score_only_zero_or_one():
    names, true, pred, valid = adversarial_batch()
    degenerate = degenerate_images(true, valid)
    for metric in (adjusted_rand_index(true, pred, valid), adjusted_mutual_info(true, pred, valid)):
        assert np.all(np.isclose(metric[degenerate], 0, atol=TOLERANCE) | (metric[degenerate] == 1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.uint8])
def test_torch_input_dtypes_and_autocast(dtype):
    true, pred, valid = random_batch(3, 10, 200, 5, 6, 0.8)
    expected_ari = sklearn_scores(true, pred, valid, "ari")
    expected_ami = sklearn_scores(true, pred, valid, "ami", "max")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        t, p, v = torch.tensor(true).to(dtype), torch.tensor(pred).to(dtype), torch.tensor(valid)
        ari = adjusted_rand_index(t, p, v)
        ami = adjusted_mutual_info(t, p, v, average_method="max")
    assert ari.dtype == ami.dtype == torch.float64
    np.testing.assert_allclose(ari.numpy(), expected_ari, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(ami.numpy(), expected_ami, rtol=0, atol=TOLERANCE)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_numpy():
    true, pred, valid = random_batch(4, 50, 1024, 8, 10, 0.8)
    on_gpu = [torch.tensor(x, device="cuda") for x in (true, pred, valid)]
    for method in AVERAGE_METHODS:
        got = adjusted_mutual_info(*on_gpu, average_method=method)
        assert got.device.type == "cuda"
        expected = adjusted_mutual_info(true, pred, valid, average_method=method)
        np.testing.assert_allclose(got.cpu().numpy(), expected, rtol=0, atol=1e-12)
    expected = adjusted_rand_index(true, pred, valid)
    np.testing.assert_allclose(adjusted_rand_index(*on_gpu).cpu().numpy(), expected, rtol=0, atol=1e-12)


def test_numpy_and_torch_backends_agree_on_any_input_type():
    true, pred, valid = random_batch(5, 64, 300, 7, 9, 0.75)
    tensors = [torch.tensor(x) for x in (true, pred, valid)]
    for method in AVERAGE_METHODS:
        from_numpy = adjusted_mutual_info(true, pred, valid, average_method=method)
        from_torch = adjusted_mutual_info(true, pred, valid, average_method=method, backend="torch")
        tensors_on_numpy = adjusted_mutual_info(*tensors, average_method=method, backend="numpy")
        assert isinstance(from_numpy, np.ndarray) and isinstance(from_torch, torch.Tensor)
        np.testing.assert_allclose(from_torch.numpy(), from_numpy, rtol=0, atol=1e-13)
        np.testing.assert_array_equal(tensors_on_numpy, from_numpy)
    expected = adjusted_rand_index(true, pred, valid)
    np.testing.assert_allclose(adjusted_rand_index(*tensors).numpy(), expected, rtol=0, atol=1e-13)


def test_numpy_path_does_not_import_torch():
    code = (
        "import sys, numpy as np\n"
        "from groupbench.metrics import adjusted_mutual_info, adjusted_rand_index, valid_mask\n"
        "t = np.array([[0, 1, 1, 2]]); p = np.array([[3, 3, 1, 1]])\n"
        "adjusted_rand_index(t, p, valid_mask(t)); adjusted_mutual_info(t, p)\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_dense_and_sorted_cell_counts_agree(monkeypatch):
    true, pred, valid = random_batch(6, 20, 80, 6, 30, 0.8)
    args = (true.astype(np.int64), pred.astype(np.int64), valid, NUMPY)
    dense = contingency.contingency_summary(*args)
    monkeypatch.setattr(contingency, "DENSE_CELLS_PER_PIXEL", 0)
    sorted_cells = contingency.contingency_summary(*args)
    for field in ("n_valid", "cell_sum_sq", "cell_sum_xlogx"):
        np.testing.assert_allclose(getattr(sorted_cells, field), getattr(dense, field), rtol=1e-15)


def exact_expected_xlogx(total, successes, draws):
    """E[X log X] with exact hypergeometric probabilities, each rounded once, summed exactly."""
    denominator = math.comb(total, draws)
    lowest, highest = max(2, successes + draws - total), min(successes, draws)
    probability = [
        float(Fraction(math.comb(successes, n) * math.comb(total - successes, draws - n), denominator))
        for n in range(lowest, highest + 1)
    ]
    return math.fsum(p * n * math.log(n) for n, p in enumerate(probability, start=lowest))


@pytest.mark.parametrize("short_walks", [False, True])
@pytest.mark.parametrize("block_elements", [NUMPY.block_elements, 50])
def test_hypergeometric_expectation_is_exact(monkeypatch, block_elements, short_walks):
    monkeypatch.setattr(NUMPY, "block_elements", block_elements)
    if short_walks:  # every walk starts too short and must be lengthened until its tail bound holds
        monkeypatch.setattr(hypergeometric, "GUESS_SIGMAS", 0.0)
        monkeypatch.setattr(hypergeometric, "GUESS_STEPS", 1.0)
    triples = [(2, 2, 2), (5, 2, 3), (10, 10, 4), (100, 2, 50), (10**6, 3, 40), (100, 60, 70)]
    triples += [(3000, 1500, 1500), (3000, 2900, 2950)]  # walks that stop well inside the support
    rng = np.random.default_rng(8)
    for _ in range(15):
        total = int(rng.integers(2, 2500))
        triples.append((total, int(rng.integers(2, total + 1)), int(rng.integers(2, total + 1))))
    total, successes, draws = (np.array(column, dtype=np.float64) for column in zip(*triples))
    got = hypergeometric.expected_xlogx(total, successes, draws, NUMPY)
    expected = np.array([exact_expected_xlogx(*t) for t in triples])
    np.testing.assert_allclose(got, expected, rtol=1e-14, atol=0)


def test_valid_mask_conventions():
    labels = np.array([[0, 1, 2], [0, 0, 3]])
    overlap = np.array([[0, 1, 0], [1, 0, 0]], dtype=bool)
    expected = {
        (False, False): [[0, 0, 1], [0, 0, 1]],
        (True, False): [[1, 0, 1], [0, 1, 1]],
        (False, True): [[0, 1, 1], [0, 0, 1]],
        (True, True): [[1, 1, 1], [1, 1, 1]],
    }
    for (background, overlapping), mask in expected.items():
        got = valid_mask(labels, overlap, include_background=background, include_overlap=overlapping)
        np.testing.assert_array_equal(got, np.array(mask, dtype=bool))
        options = dict(include_background=background, include_overlap=overlapping)
        as_tensor = valid_mask(torch.tensor(labels), torch.tensor(overlap), **options)
        np.testing.assert_array_equal(as_tensor.numpy(), np.array(mask, dtype=bool))
    np.testing.assert_array_equal(valid_mask(labels), labels != 0)
    with pytest.raises(GroupbenchError):
        valid_mask(labels, overlap[:1])


def sequence_batch():
    """(B, T, P) labels with fully masked frames, and one sequence without any valid pixel."""
    rng = np.random.default_rng(9)
    true = rng.integers(0, 4, (6, 5, 40))
    pred = (true + (rng.random(true.shape) < 0.3) * rng.integers(1, 3, true.shape)) % 5
    valid = valid_mask(true)
    valid[0, 1] = valid[2, [0, 4]] = False
    valid[3] = False
    true[4, 2] = 1  # a degenerate frame inside a scored sequence
    return true, pred, valid


@pytest.mark.parametrize("backend", BACKENDS)
def test_sequence_modes_match_a_manual_sklearn_reference(backend):
    true, pred, valid = sequence_batch()
    n, frames, pixels = true.shape
    by_frame = [x.reshape(n * frames, pixels) for x in (true, pred, valid)]
    for metric, function in (("ari", adjusted_rand_index), ("ami", adjusted_mutual_info)):
        per_frame = sklearn_scores(*by_frame, metric)
        scored = valid.reshape(n, frames, pixels).any(axis=2)
        expected = [per_frame.reshape(n, frames)[i][scored[i]].mean() if scored[i].any() else 1.0 for i in range(n)]
        got = function(true, pred, valid, sequence_mode="per-frame", backend=backend)
        np.testing.assert_allclose(numpy_of(got), expected, rtol=0, atol=TOLERANCE)
        flat = [x.reshape(n, frames * pixels) for x in (true, pred, valid)]
        got = function(true, pred, valid, sequence_mode="spatiotemporal", backend=backend)
        np.testing.assert_allclose(numpy_of(got), sklearn_scores(*flat, metric), rtol=0, atol=TOLERANCE)
    frame_flags = degenerate_reference(by_frame[0], by_frame[2]).reshape(n, frames)
    got = degenerate_images(true, valid, sequence_mode="per-frame", backend=backend)
    np.testing.assert_array_equal(numpy_of(got), frame_flags.all(axis=1))
    got = degenerate_images(true, valid, sequence_mode="spatiotemporal", backend=backend)
    np.testing.assert_array_equal(numpy_of(got), degenerate_reference(true.reshape(n, -1), valid.reshape(n, -1)))


def test_iter_scores_streams_chunks_from_hdf5(tmp_path):
    h5py = pytest.importorskip("h5py")
    true, pred, valid = random_batch(10, 23, 50, 4, 5, 0.9)
    with h5py.File(tmp_path / "scores.h5", "w") as f:
        f["true"], f["pred"], f["valid"] = true, pred, valid
        chunks = list(iter_scores(f["true"], f["pred"], f["valid"], metrics=("ari", "ami"), average_method="max", chunk_size=5))
    assert [c.start for c in chunks] == [0, 5, 10, 15, 20]
    np.testing.assert_allclose(np.concatenate([c.values["ari"] for c in chunks]), adjusted_rand_index(true, pred, valid), atol=0)
    np.testing.assert_allclose(
        np.concatenate([c.values["ami"] for c in chunks]), sklearn_scores(true, pred, valid, "ami", "max"), rtol=0, atol=TOLERANCE
    )
    assert np.concatenate([c.degenerate for c in chunks]).dtype == bool


def test_empty_batch():
    empty = np.zeros((0, 10), dtype=np.int64)
    assert adjusted_rand_index(empty, empty).shape == (0,)
    assert adjusted_mutual_info(torch.tensor(empty), torch.tensor(empty)).shape == (0,)
    assert degenerate_images(empty).dtype == bool


@pytest.mark.parametrize(
    "call",
    [
        lambda: adjusted_rand_index([[0, -1, 2]], [[0, 1, 2]]),
        lambda: adjusted_rand_index([[0, 1.5, 2]], [[0, 1, 2]]),
        lambda: adjusted_rand_index([[0, 1, 2]], [[0, 1]]),
        lambda: adjusted_rand_index([[0, 1, 2]], [[0, 1, 2]], [[True, False]]),
        lambda: adjusted_rand_index(np.zeros((2, 3, 4), int), np.zeros((2, 3, 4), int)),
        lambda: adjusted_rand_index([[0, 1]], [[0, 1]], sequence_mode="per-frame"),
        lambda: adjusted_rand_index([[0, 1]], [[0, 1]], chunk_size=0),
        lambda: adjusted_rand_index([[0, 1]], [[0, 1]], backend="jax"),
        lambda: adjusted_mutual_info([[0, 1]], [[0, 1]], average_method="geometric"),
        lambda: adjusted_rand_index(np.array([["a", "b"]]), np.array([["a", "b"]])),
    ],
)
def test_bad_input_is_reported(call):
    with pytest.raises(GroupbenchError):
        call()


def test_invalid_pixels_may_hold_any_value():
    true = np.array([[1.0, np.nan, 2.0, 2.0]])
    pred = np.array([[0, -7, 1, 1]])
    valid = np.array([[True, False, True, True]])
    assert adjusted_rand_index(true, pred, valid)[0] == 1.0


def test_wrapper_matches_functional():
    true, pred, valid = random_batch(11, 50, 120, 5, 6, 0.8)
    valid[3] = False
    metric = GroupingMetric(average_method="max", chunk_size=7)
    for start in range(0, 50, 16):
        metric.update(torch.tensor(true[start : start + 16]), pred[start : start + 16], valid[start : start + 16])
    result = metric.compute()
    ari = adjusted_rand_index(true, pred, valid)
    ami = adjusted_mutual_info(true, pred, valid, average_method="max")
    assert result["images"] == 50 and result["degenerate"] == degenerate_images(true, valid).sum()
    for name, scores in (("ari", ari), ("ami", ami)):
        assert result[name] == pytest.approx(scores.mean(), abs=1e-14)
        assert result[f"{name}_std"] == pytest.approx(scores.std(), abs=1e-12)
    assert metric.compute() == result  # computing leaves the state alone
    metric.reset()
    assert metric.compute()["images"] == 0 and math.isnan(metric.compute()["ari"])


def test_wrapper_sequences():
    true, pred, valid = sequence_batch()
    metric = GroupingMetric(sequence_mode="spatiotemporal")
    metric.update(true, pred, valid)
    expected = adjusted_mutual_info(true, pred, valid, sequence_mode="spatiotemporal")
    assert metric.compute()["ami"] == pytest.approx(expected.mean(), abs=1e-14)


def _distributed_worker(rank, world_size, init_file, true, pred, out_dir):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        metric = GroupingMetric(average_method="max")
        metric.update(true[rank::world_size], pred[rank::world_size])
        (out_dir / f"{rank}.json").write_text(json.dumps(metric.compute()))
    finally:
        dist.destroy_process_group()


def test_wrapper_sums_states_over_processes(tmp_path):
    true, pred, _ = random_batch(12, 30, 64, 4, 5, 1.0)
    torch.multiprocessing.spawn(
        _distributed_worker, args=(2, tmp_path / "init", true, pred, tmp_path), nprocs=2, join=True
    )
    single = GroupingMetric(average_method="max")
    single.update(true, pred)
    expected = single.compute()
    for rank in range(2):
        got = json.loads((tmp_path / f"{rank}.json").read_text())
        assert got.keys() == expected.keys()
        for key, value in expected.items():
            assert got[key] == pytest.approx(value, abs=1e-12), key


def test_backend_resolution():
    assert resolve_backend(None, np.zeros(2)).name == "numpy"
    assert resolve_backend(None, np.zeros(2), torch.zeros(2)).name == "torch"


def test_running_metric_rejects_bad_options_at_construction():
    from groupbench.errors import GroupbenchError
    from groupbench.metrics import GroupingMetric

    with pytest.raises(GroupbenchError, match="average_method"):
        GroupingMetric(average_method="geometric-ish")
    with pytest.raises(GroupbenchError, match="sequence_mode"):
        GroupingMetric(sequence_mode="frames")
