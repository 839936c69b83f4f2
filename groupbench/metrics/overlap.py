"""Overlap metrics of true objects and predicted segments, from contingency cells: mean best overlap
(mBO), Hungarian mIoU in two variants, and segmentation covering (unweighted mSC, size-weighted SC).

For item r, objects G_i are the true groups over the scored pixels and segments P_j the predicted
groups over the valid pixels (a superset when background pixels are valid but no object: then
they still count in the segments, as in OCLF, videosaur and Genesis). IoU(G, P) = |G & P| / |G | P|
is computed from the non-empty cells only: an object and a segment that do not intersect have
IoU 0. With m objects and n non-empty segments:

    mbo = msc     = (1/m) sum_i max_j IoU(G_i, P_j)
    sc            = sum_i |G_i| max_j IoU(G_i, P_j) / sum_i |G_i|
    miou-objects  = S / m            S = max over one-to-one matchings of objects to segments of
    miou-segments = S / max(m, n)        the sum of matched IoUs (unmatched: 0)

Items without any object (m = 0) have no value: NaN, left out of means by the caller.
Docs: docs/metrics.md ("Overlap metrics").
"""

from __future__ import annotations

from groupbench.metrics.assignment import max_weight_sums
from groupbench.metrics.contingency import CellTable

OVERLAP_METRICS = ("mbo", "miou-objects", "miou-segments", "msc", "sc")


def overlap_scores(table: CellTable, metrics, backend) -> dict:
    """{metric: (R,) float64} for the requested overlap metrics of every item of a cell table."""
    xp = backend.xp
    n_rows, k_true = table.true_sizes.shape
    object_sizes = table.true_sizes
    objects = (object_sizes > 0).sum(axis=1)
    no_object = objects == 0
    nan = float("nan")
    union = object_sizes[table.row, table.true_id] + table.segment_sizes[table.row, table.pred_id] - table.count
    iou = table.count / union
    scores = {}
    if {"mbo", "msc", "sc"} & set(metrics):
        best = backend.scatter_max(n_rows * k_true, table.row * k_true + table.true_id, iou).reshape(n_rows, k_true)
        mean_best = xp.where(no_object, nan, best.sum(axis=1) / xp.clip(objects, 1, None))
        for name in ("mbo", "msc"):
            if name in metrics:
                scores[name] = mean_best
        if "sc" in metrics:
            total = object_sizes.sum(axis=1)
            scores["sc"] = xp.where(no_object, nan, (object_sizes * best).sum(axis=1) / xp.clip(total, 1.0, None))
    if {"miou-objects", "miou-segments"} & set(metrics):
        matched = _matched_iou_sums(table, iou, objects, backend)
        if "miou-objects" in metrics:
            scores["miou-objects"] = xp.where(no_object, nan, matched / xp.clip(objects, 1, None))
        if "miou-segments" in metrics:
            segments = (table.segment_sizes > 0).sum(axis=1)
            scores["miou-segments"] = xp.where(no_object, nan, matched / xp.clip(xp.maximum(objects, segments), 1, None))
    return {name: scores[name] for name in metrics}


def _matched_iou_sums(table: CellTable, iou, objects, backend):
    """(R,) the largest sum of IoUs over one-to-one matchings of each item's objects to its segments.

    The sum of each object's best IoU bounds it from above, and reaches it when no two objects have
    the same best segment: then that is the answer (most items of a good segmentation). Only the
    other items go through the Hungarian method. There, only intersecting (object, segment) pairs
    can add to the sum, and for each object only its m best segments can matter (with m objects, an
    optimal matching can always be changed to use one of them: the other m - 1 objects take at most
    m - 1 of them), so each item's matrix has at most m rows and m**2 columns, whatever the number of
    predicted ids.
    """
    xp = backend.xp
    n_rows, k_true = table.true_sizes.shape
    k_pred = table.pred_sizes.shape[1]
    if iou.shape[0] == 0:
        return backend.zeros((n_rows,))
    # cells ranked by IoU within each (item, object); rank 0 is the object's best segment
    group = table.row * k_true + table.true_id
    order = backend.argsort(-iou)
    order = order[backend.argsort(group[order])]
    rank = _rank_in_runs(group[order], backend)
    best = order[rank == 0]
    matched = backend.bincount(table.row[best], n_rows, weights=iou[best])
    best_key = backend.sort(table.row[best] * k_pred + table.pred_id[best])
    shared = best_key[1:][best_key[1:] == best_key[:-1]] // k_pred  # items where two objects share a best segment
    if shared.shape[0] == 0:
        return matched
    conflict = backend.zeros((n_rows,), dtype=backend.bool_dtype)
    conflict[shared] = True
    keep = order[(rank < objects[table.row[order]]) & conflict[table.row[order]]]
    item_index = xp.cumsum(conflict, 0) - 1  # the conflicting items, numbered 0..
    row, true_id, pred_id, weight = table.row[keep], table.true_id[keep], table.pred_id[keep], iou[keep]
    # compact the objects and the kept segments of each item to 0..m-1 and 0..columns-1
    object_index = (xp.cumsum(table.true_sizes > 0, 1) - 1)[row, true_id]
    order = backend.argsort(row * k_pred + pred_id)
    row, object_index, pred_id, weight = row[order], object_index[order], pred_id[order], weight[order]
    key = row * k_pred + pred_id
    is_new = backend.ones(key.shape)
    is_new[1:] = key[1:] != key[:-1]
    segment_number = xp.cumsum(is_new, 0) - 1
    first_of_row = backend.zeros((n_rows,), dtype=backend.index_dtype)
    row_start = backend.ones(row.shape)
    row_start[1:] = row[1:] != row[:-1]
    starts = backend.nonzero(row_start)[0]
    first_of_row[row[starts]] = segment_number[starts]
    column = segment_number - first_of_row[row]
    n_items = int(xp.amax(item_index)) + 1
    n_objects = int(xp.amax(objects[shared]))
    n_columns = max(int(xp.amax(column)) + 1, n_objects)
    weights = backend.zeros((n_items, n_objects, n_columns))
    weights[item_index[row], object_index, column] = weight
    matched[conflict] = max_weight_sums(weights, backend)
    return matched


def _rank_in_runs(keys, backend):
    """Position of each element within its run of equal values of a sorted 1-D array."""
    xp = backend.xp
    is_new = backend.ones(keys.shape)
    is_new[1:] = keys[1:] != keys[:-1]
    position = backend.arange(keys.shape[0])
    run_start = xp.cumsum(is_new, 0) - 1
    starts = backend.nonzero(is_new)[0]
    return position - starts[run_start]
