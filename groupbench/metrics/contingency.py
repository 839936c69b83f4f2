"""Batched contingency tables of two labelings, reduced to what ARI and AMI need.

For image b, n_ij counts the valid pixels with true group i and predicted cluster j; a_i = sum_j n_ij
and c_j = sum_i n_ij are the group and cluster sizes and N = sum_ij n_ij the number of valid pixels.
Ids are first made small per image: kept as they are when they are already below P (the usual
case: object and slot indices), otherwise replaced by their rank among the image's ids (one row-wise
sort), so huge or sparse ids (2**40, more distinct ids than pixels) cost no memory. Cells are then
counted with one bincount over per-image offsets, or, when k_true * k_pred would be far larger than P,
by sorting the cell keys (then the group sizes get their own bincounts).
"""

from __future__ import annotations

from typing import NamedTuple

DENSE_CELLS_PER_PIXEL = 4  # dense (B, k_true * k_pred) table while it is at most this many times (B, P)


class ContingencySummary(NamedTuple):
    """Per-image contingency statistics, all float64 arrays of the backend.

    true_sizes (B, Kt) and pred_sizes (B, Kp) are group / cluster sizes in pixels (0 for unused ids),
    n_valid (B,) = N, cell_sum_sq (B,) = sum_ij n_ij**2, cell_sum_xlogx (B,) = sum_ij n_ij log n_ij.
    """

    true_sizes: object
    pred_sizes: object
    n_valid: object
    cell_sum_sq: object
    cell_sum_xlogx: object


def xlogx(counts, xp):
    """x log x for a float64 array, taken as 0 where x <= 1 (exact for counts)."""
    return counts * xp.log(xp.clip(counts, 1.0, None))


def contingency_summary(true, pred, valid, backend) -> ContingencySummary:
    """Summaries of the contingency tables of B images.

    true, pred: (B, P) int64, >= 0 where valid; valid: (B, P) bool. Invalid pixels are ignored
    whatever their ids.
    """
    xp = backend.xp
    n_images, n_pixels = true.shape
    if bool(xp.all(valid)):
        valid = None  # saves a pass over the pixels wherever the mask would be applied
    true_ids, k_true = _small_ids(true, valid, backend)
    pred_ids, k_pred = _small_ids(pred, valid, backend)
    cells_per_image = k_true * k_pred
    cells = true_ids * k_pred
    cells += pred_ids
    cells += backend.arange(n_images)[:, None] * cells_per_image
    if cells_per_image <= DENSE_CELLS_PER_PIXEL * max(n_pixels, 1):
        counts = _histogram(cells, valid, n_images * cells_per_image, backend).reshape(n_images, k_true, k_pred)
        true_sizes, pred_sizes = counts.sum(axis=2), counts.sum(axis=1)
        counts = counts.reshape(n_images, -1)
        cell_sum_sq = (counts * counts).sum(axis=1)
        cell_sum_xlogx = xlogx(counts, xp).sum(axis=1)
    else:
        image = backend.arange(n_images)[:, None]
        true_sizes = _histogram(image * k_true + true_ids, valid, n_images * k_true, backend).reshape(n_images, -1)
        pred_sizes = _histogram(image * k_pred + pred_ids, valid, n_images * k_pred, backend).reshape(n_images, -1)
        run_image, run_counts = _runs(cells.reshape(-1) if valid is None else cells[valid], cells_per_image, backend)
        cell_sum_sq = backend.bincount(run_image, n_images, weights=run_counts * run_counts)
        cell_sum_xlogx = backend.bincount(run_image, n_images, weights=xlogx(run_counts, xp))
    return ContingencySummary(
        true_sizes=true_sizes,
        pred_sizes=pred_sizes,
        n_valid=true_sizes.sum(axis=1),
        cell_sum_sq=cell_sum_sq,
        cell_sum_xlogx=cell_sum_xlogx,
    )


def _small_ids(labels, valid, backend):
    """(ids, k): per-image ids in [0, k) that induce the same partition of the valid pixels.

    Ids below P are kept (ids of invalid pixels may then be anything: they are never counted).
    """
    xp = backend.xp
    n_images, n_pixels = labels.shape
    largest = int(xp.amax(labels)) if n_images * n_pixels else 0
    if largest < max(n_pixels, 1):
        return labels, max(largest, 0) + 1
    # rank of each id among the image's distinct ids; invalid pixels share the rank of id -1
    sorted_ids, order = backend.sort_rows(labels if valid is None else xp.where(valid, labels, -1))
    is_new = backend.ones(sorted_ids.shape)
    is_new[:, 1:] = sorted_ids[:, 1:] != sorted_ids[:, :-1]
    ranks = xp.cumsum(is_new, 1) - 1
    return backend.scatter_rows(order, ranks), int(xp.amax(ranks[:, -1])) + 1


def _histogram(index, valid, n_bins: int, backend):
    """float64 counts of `index` over the valid pixels (valid None: all), as a flat (n_bins,) array."""
    if valid is None:
        return backend.float64(backend.bincount(index.reshape(-1), n_bins))
    shifted = index + 1
    shifted *= valid  # invalid pixels go to bin 0, without a branch per pixel
    return backend.float64(backend.bincount(shifted.reshape(-1), n_bins + 1)[1:])


def _runs(cell_keys, cells_per_image: int, backend):
    """(image, count) of each distinct key in the 1-D int64 array of cell keys."""
    keys = backend.sort(cell_keys)
    starts = backend.ones(keys.shape)
    starts[1:] = keys[1:] != keys[:-1]
    first = backend.nonzero(starts)[0]
    ends = backend.concatenate([first[1:], backend.arange(keys.shape[0], keys.shape[0] + 1)])
    return keys[first] // cells_per_image, backend.float64(ends - first)
