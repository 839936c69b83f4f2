"""Batched contingency tables of two labelings: the non-empty cells, the group sizes, and the summaries
ARI and AMI need.

For item r (an image, a frame or a whole sequence), n_ij counts the scored pixels with true group i
and predicted cluster j; a_i = sum_j n_ij and c_j = sum_i n_ij are the group and cluster sizes and
N = sum_ij n_ij the number of scored pixels. The overlap metrics (mBO, mIoU, covering) may also
count the predicted segments over a wider set of valid pixels (background pixels that belong to no
true object but stay in the segments): `segment_sizes`.

Ids are first made small per item: kept as they are when they are already below P (the usual
case: object and slot indices), otherwise replaced by their rank among the item's ids (one row-wise
sort), so huge or sparse ids (2**40, more distinct ids than pixels) cost no memory. Cells are then
counted with one bincount over per-item offsets, or, when k_true * k_pred would be far larger than P,
by sorting the cell keys.
"""

from __future__ import annotations

from typing import NamedTuple

DENSE_CELLS_PER_PIXEL = 4  # dense (R, k_true * k_pred) table while it is at most this many times (R, P)


class CellTable(NamedTuple):
    """The non-empty cells of R contingency tables and the group sizes (float64 arrays of the backend).

    true_sizes (R, Kt): true group sizes over the scored pixels (0 for unused ids);
    pred_sizes (R, Kp): predicted cluster sizes over the scored pixels;
    segment_sizes (R, Kp): predicted segment sizes over all valid pixels (scored or not);
    n_valid (R,): scored pixels; row, true_id, pred_id (C,) int64 and count (C,) float64: one entry
    per non-empty cell.
    """

    true_sizes: object
    pred_sizes: object
    segment_sizes: object
    n_valid: object
    row: object
    true_id: object
    pred_id: object
    count: object


class ContingencySummary(NamedTuple):
    """Per-item contingency statistics, all float64 arrays of the backend.

    true_sizes (R, Kt) and pred_sizes (R, Kp) are group / cluster sizes in pixels (0 for unused ids),
    n_valid (R,) = N, cell_sum_sq (R,) = sum_ij n_ij**2, cell_sum_xlogx (R,) = sum_ij n_ij log n_ij.
    """

    true_sizes: object
    pred_sizes: object
    n_valid: object
    cell_sum_sq: object
    cell_sum_xlogx: object


def xlogx(counts, xp):
    """x log x for a float64 array, taken as 0 where x <= 1 (exact for counts)."""
    return counts * xp.log(xp.clip(counts, 1.0, None))


def cell_table(true, pred, valid, backend, background=None) -> CellTable:
    """The contingency cells of R items over their valid pixels.

    true, pred: (R, P) integer ids (any integer dtype), >= 0 where valid; valid: (R, P) bool, or None
    for every pixel; pixels outside it are ignored whatever their ids. background: a true id that is
    no object: its valid pixels add to `segment_sizes` only (None: every true group is counted).
    """
    xp = backend.xp
    n_rows, n_pixels = true.shape
    if valid is not None and bool(xp.all(valid)):
        valid = None  # saves a pass over the pixels wherever the mask would be applied
    true_ids, k_true = _small_ids(true, valid, backend)
    pred_ids, k_pred = _small_ids(pred, valid, backend)
    dense = k_true * k_pred <= DENSE_CELLS_PER_PIXEL * max(n_pixels, 1)
    scored, drop = valid, None
    if background is not None:
        if dense and true_ids is true:  # ids kept as they are: the background is row `background` of the table
            drop = background if 0 <= background < k_true else None
        else:  # leave the background's pixels out of the true groups, count the segments apart
            scored = (true != background) if valid is None else valid & (true != background)
            true_ids, k_true = _small_ids(true, scored, backend)
            dense = k_true * k_pred <= DENSE_CELLS_PER_PIXEL * max(n_pixels, 1)
    cells_per_row = k_true * k_pred
    n_cells = n_rows * cells_per_row
    row_index = backend.arange(n_rows)[:, None]
    if dense:
        # one key per pixel, 1 + (row, true id, predicted id), in int32 while the keys fit (half the
        # bytes of every pass); pixels not counted get key 0 (a multiplication, no branch), a bin left out
        keys = backend.scaled(true_ids, k_pred, backend.int32 if n_cells < 2**31 - 1 else backend.index_dtype)
        keys += pred_ids
        keys += backend.cast(row_index * cells_per_row + 1, keys.dtype)
        if scored is not None:
            keys *= scored
        counts = backend.float64(backend.bincount(keys.reshape(-1), n_cells + 1)[1:])
        table = counts.reshape(n_rows, k_true, k_pred)
        segment_sizes = table.sum(axis=1)
        if drop is not None:
            table[:, drop, :] = 0.0  # the background is no object (counts is a view of table)
        true_sizes, pred_sizes = table.sum(axis=2), table.sum(axis=1)
        cell = backend.nonzero(counts)[0]
        count = counts[cell]
    else:
        true_ids, pred_ids = backend.int64(true_ids), backend.int64(pred_ids)
        keys = true_ids * k_pred
        keys += pred_ids
        keys += row_index * cells_per_row
        true_sizes = _histogram(row_index * k_true + true_ids, scored, n_rows * k_true, backend).reshape(n_rows, -1)
        pred_sizes = _histogram(row_index * k_pred + pred_ids, scored, n_rows * k_pred, backend).reshape(n_rows, -1)
        cell, count = _runs(keys.reshape(-1) if scored is None else keys[scored], backend)
        segment_sizes = pred_sizes
    if scored is not valid and drop is None:
        segment_sizes = _histogram(row_index * k_pred + backend.int64(pred_ids), valid, n_rows * k_pred, backend).reshape(n_rows, -1)
    row = cell // cells_per_row
    within = cell - row * cells_per_row
    true_id = within // k_pred
    return CellTable(
        true_sizes=true_sizes,
        pred_sizes=pred_sizes,
        segment_sizes=segment_sizes,
        n_valid=true_sizes.sum(axis=1),
        row=row,
        true_id=true_id,
        pred_id=within - true_id * k_pred,
        count=count,
    )


def summarize(table: CellTable, backend) -> ContingencySummary:
    """The statistics ARI and AMI need, from a cell table."""
    n_rows = table.n_valid.shape[0]
    return ContingencySummary(
        true_sizes=table.true_sizes,
        pred_sizes=table.pred_sizes,
        n_valid=table.n_valid,
        cell_sum_sq=backend.bincount(table.row, n_rows, weights=table.count * table.count),
        cell_sum_xlogx=backend.bincount(table.row, n_rows, weights=xlogx(table.count, backend.xp)),
    )


def contingency_summary(true, pred, valid, backend) -> ContingencySummary:
    """Summaries of the contingency tables of R items over their valid pixels (see `cell_table`)."""
    return summarize(cell_table(true, pred, valid, backend), backend)


def _small_ids(labels, valid, backend):
    """(ids, k): per-row ids in [0, k) that induce the same partition of the valid pixels.

    Ids below P are kept (ids of invalid pixels may then be anything: they are never counted).
    """
    xp = backend.xp
    n_rows, n_pixels = labels.shape
    largest = int(xp.amax(labels)) if n_rows * n_pixels else 0
    if largest < max(n_pixels, 1):
        return labels, max(largest, 0) + 1
    # rank of each id among the row's distinct ids; invalid pixels share the rank of id -1
    labels = backend.int64(labels)
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


def _runs(cell_keys, backend):
    """(key, count) of each distinct key in a 1-D int64 array of cell keys, keys ascending."""
    keys = backend.sort(cell_keys)
    starts = backend.ones(keys.shape)
    starts[1:] = keys[1:] != keys[:-1]
    first = backend.nonzero(starts)[0]
    ends = backend.concatenate([first[1:], backend.arange(keys.shape[0], keys.shape[0] + 1)])
    return keys[first], backend.float64(ends - first)
