"""Adjusted Rand index, adjusted mutual information and degeneracy from contingency summaries.

The formulas and special cases are those of scikit-learn 1.9 (`adjusted_rand_score`,
`adjusted_mutual_info_score`), evaluated for a batch of images at once; docs/metrics.md states them.
"""

from __future__ import annotations

import numpy as np

from groupbench.metrics.contingency import ContingencySummary, xlogx
from groupbench.metrics.hypergeometric import expected_xlogx

AVERAGE_METHODS = ("arithmetic", "max")
_EPS = float(np.finfo(np.float64).eps)


def group_counts(sizes):
    """Number of non-empty groups per image; sizes (B, K) -> (B,) int64."""
    return (sizes > 0).sum(axis=1)


def degenerate(summary: ContingencySummary):
    """(B,) bool: the true partition is trivial (at most one group, or one group per valid pixel).

    For such an image every prediction scores the index's chance value, so ARI and AMI only say
    whether the prediction is the same trivial partition (1) or not (0, AMI up to rounding).
    Images with 0 or 1 valid pixels are degenerate.
    """
    k_true = group_counts(summary.true_sizes)
    return (k_true <= 1) | (k_true == summary.n_valid)


def undefined(summary: ContingencySummary):
    """(B,) bool: the index is 0/0, DeepMind's NaN: both partitions are the same trivial partition
    (one group each, one group per pixel each, or fewer than two scored pixels). scikit-learn, and
    the "one" policy, score these 1.0; a degenerate image with any other prediction scores 0 either way.
    """
    k_true = group_counts(summary.true_sizes)
    k_pred = group_counts(summary.pred_sizes)
    return (k_true == k_pred) & ((k_true <= 1) | (k_true == summary.n_valid))


def adjusted_rand_index(summary: ContingencySummary, xp):
    """(B,) float64 ARI; 1.0 where the two partitions are equal (this includes N < 2)."""
    n = summary.n_valid
    # sklearn's pair confusion matrix, in ordered pairs of distinct valid pixels: together in both
    # labelings (tp), only in the prediction (fp), only in the ground truth (fn), apart in both (tn)
    tp = summary.cell_sum_sq - n
    fp = (summary.pred_sizes**2).sum(axis=1) - summary.cell_sum_sq
    fn = (summary.true_sizes**2).sum(axis=1) - summary.cell_sum_sq
    tn = n * n - fp - fn - summary.cell_sum_sq
    numerator = 2.0 * (tp * tn - fn * fp)
    denominator = (tp + fn) * (fn + tn) + (tp + fp) * (fp + tn)
    equal = (fp == 0) & (fn == 0)  # the only case where the denominator is 0
    return xp.where(equal, 1.0, numerator / xp.where(equal, 1.0, denominator))


def adjusted_mutual_info(summary: ContingencySummary, average_method: str, backend):
    """(B,) float64 AMI = (MI - EMI) / (mean(H_true, H_pred) - EMI), natural logarithms."""
    xp = backend.xp
    n = xp.clip(summary.n_valid, 1.0, None)
    log_n = xp.log(n)
    true_xlogx = xlogx(summary.true_sizes, xp).sum(axis=1)
    pred_xlogx = xlogx(summary.pred_sizes, xp).sum(axis=1)
    h_true = log_n - true_xlogx / n
    h_pred = log_n - pred_xlogx / n
    mutual_info = xp.clip(log_n + (summary.cell_sum_xlogx - true_xlogx - pred_xlogx) / n, 0.0, None)
    expected = h_true + h_pred - log_n + _pair_xlogx_sums(summary, backend) / n
    if average_method == "max":
        normalizer = xp.maximum(h_true, h_pred)
    else:
        normalizer = (h_true + h_pred) / 2
    ami = _away_from_zero(mutual_info - expected, xp) / _away_from_zero(normalizer - expected, xp)
    k_true = group_counts(summary.true_sizes)
    k_pred = group_counts(summary.pred_sizes)
    one_cluster_each = (k_true == k_pred) & (k_true <= 1)  # both a single cluster, or both empty
    return xp.where(one_cluster_each, 1.0, xp.where((k_true == 1) | (k_pred == 1), 0.0, ami))


def _away_from_zero(x, xp):
    """x with |x| raised to at least float64 eps, keeping its sign (sklearn's guard against 0 / 0)."""
    return xp.where(x < 0, xp.clip(x, None, -_EPS), xp.clip(x, _EPS, None))


def _pair_xlogx_sums(summary: ContingencySummary, backend):
    """(B,) sum over (true group i, predicted cluster j) of E[X log X], X ~ Hypergeometric(N, a_i, c_j).

    Groups of size 0 or 1 contribute nothing and are left out; the (i, j) pairs of each image are
    enumerated as a ragged product, so memory is O(pairs), not O(B * Kt * Kp).
    """
    xp = backend.xp
    n_images = summary.n_valid.shape[0]
    true_image, true_group = backend.nonzero(summary.true_sizes >= 2)
    pred_image, pred_group = backend.nonzero(summary.pred_sizes >= 2)
    preds_per_image = backend.bincount(pred_image, n_images)
    first_pred = xp.cumsum(preds_per_image, 0) - preds_per_image
    partners = preds_per_image[true_image]
    pair_true = backend.repeat(backend.arange(true_image.shape[0]), partners)
    first_pair = xp.cumsum(partners, 0) - partners
    pair_pred = first_pred[true_image][pair_true] + backend.arange(pair_true.shape[0]) - first_pair[pair_true]
    pair_image = true_image[pair_true]
    values = expected_xlogx(
        summary.n_valid[pair_image],
        summary.true_sizes[true_image, true_group][pair_true],
        summary.pred_sizes[pred_image, pred_group][pair_pred],
        backend,
    )
    return backend.bincount(pair_image, n_images, weights=values)
