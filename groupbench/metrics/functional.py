"""Per-image (or per-sequence) grouping scores of batches of label arrays, scored chunk by chunk.

Inputs are label arrays `true`, `pred` of shape (B, P) (B images of P pixels, flattened) holding
non-negative integer ids (any dtype with integer values; ids need not be contiguous, 2**40 is fine),
and an optional validity mask `valid` (B, P) bool (None: every pixel counts). Soft masks become
labels with `hard_labels`. Sequences are (B, T, P) and need a named `sequence_mode`:

- "per-frame": one score per frame, averaged over the frames where the score is defined (frames
  without scored pixels, or without a true object for the overlap metrics, are skipped);
- "spatiotemporal": one score over all T * P pixels of the sequence (an object must keep its id).

and may leave frame 0 out with ``frames="skip-first"`` (N-EM scores the frames its steps predict).

Metrics (`METRICS`): "ari", "ami" (partitions of the scored pixels) and "mbo", "miou-objects",
"miou-segments", "msc", "sc" (overlaps of true objects and predicted segments). Each function
returns float64 scores (B,): a numpy array for the numpy backend, a torch tensor on the inputs'
device for the torch backend (backend=None picks torch when an input is a tensor). NaN marks an
item where the metric has no value (no true object; or, with ``degenerate="nan"``, an ARI/AMI of
0/0). Inputs are read `chunk_size` items at a time, so h5py datasets and memory maps work and
memory stays bounded. Definitions: docs/metrics.md.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, NamedTuple

import numpy as np

from groupbench.errors import GroupbenchError
from groupbench.metrics import adjusted
from groupbench.metrics.adjusted import AVERAGE_METHODS
from groupbench.metrics.backend import resolve_backend
from groupbench.metrics.contingency import cell_table, summarize
from groupbench.metrics.overlap import OVERLAP_METRICS, overlap_scores

SEQUENCE_MODES = ("per-frame", "spatiotemporal")
PARTITION_METRICS = ("ari", "ami")
METRICS = PARTITION_METRICS + OVERLAP_METRICS
DEGENERATE_POLICIES = ("one", "nan")
"""ARI / AMI where the index is 0/0: "one" (scikit-learn: 1.0) or "nan" (DeepMind's FG-ARI: NaN)."""
FRAME_SELECTIONS = ("all", "skip-first")
"""Frames of a sequence that are scored: all, or frames 1..T-1 (N-EM: the frames its steps predict)."""


class Scores(NamedTuple):
    """Scores of items start .. start + n - 1 (images or sequences), arrays of the backend.

    values: {metric: (n,) float64, NaN where undefined}; degenerate: (n,) bool (see `degenerate_images`).
    """

    start: int
    values: dict
    degenerate: Any


def iter_scores(
    true,
    pred,
    valid=None,
    *,
    metrics=METRICS,
    average_method: str = "arithmetic",
    degenerate: str = "one",
    background: int | None = None,
    sequence_mode: str | None = None,
    frames: str = "all",
    backend: str | None = None,
    chunk_size: int | None = None,
) -> Iterator[Scores]:
    """Yield `Scores` for consecutive chunks of `chunk_size` items (default: about 2**20 pixels on the CPU).

    true, pred: (B, P) or (B, T, P) label arrays (numpy, torch, h5py datasets: anything sliceable
    along axis 0); valid: same shape, bool, or None. metrics: any of `METRICS`.
    background: a true id that is no object: ARI and AMI leave its pixels out; the overlap metrics
    keep them in the predicted segments but match them to nothing (OCLF, videosaur, Genesis).
    None: every true group over the valid pixels is an object.
    """
    backend_ = resolve_backend(backend, true, pred, valid)
    options = _Options(tuple(metrics), average_method, degenerate, background, sequence_mode, frames)
    yield from _iter_scores(true, pred, valid, options, backend_, chunk_size)


def adjusted_rand_index(true, pred, valid=None, *, degenerate="one", sequence_mode=None, frames="all", backend=None,
                        chunk_size=None):
    """(B,) float64 adjusted Rand index of each image over its valid pixels (sklearn's adjusted_rand_score).

    true, pred: (B, P) ids, or (B, T, P) with sequence_mode; valid: (B, P) / (B, T, P) bool or None.
    degenerate="nan" gives NaN where the index is 0/0 (DeepMind's FG-ARI) instead of 1.0.
    """
    return _one("ari", true, pred, valid, backend, chunk_size, degenerate=degenerate, sequence_mode=sequence_mode,
                frames=frames)


def adjusted_mutual_info(true, pred, valid=None, *, average_method="arithmetic", degenerate="one", sequence_mode=None,
                         frames="all", backend=None, chunk_size=None):
    """(B,) float64 adjusted mutual information of each image over its valid pixels.

    Equals sklearn's adjusted_mutual_info_score(average_method=...): "arithmetic" (sklearn's
    default since 0.22) or "max" (sklearn <= 0.19, used by the RC and N-EM papers).
    true, pred: (B, P) ids, or (B, T, P) with sequence_mode; valid: (B, P) / (B, T, P) bool or None.
    """
    return _one("ami", true, pred, valid, backend, chunk_size, average_method=average_method, degenerate=degenerate,
                sequence_mode=sequence_mode, frames=frames)


def mean_best_overlap(true, pred, valid=None, *, background=None, sequence_mode=None, frames="all", backend=None,
                      chunk_size=None):
    """(B,) float64 mBO: the mean over true objects of their best IoU with any predicted segment.

    A segment may be the best of several objects. NaN for images without a true object.
    true, pred: (B, P) ids, or (B, T, P) with sequence_mode; valid: bool or None; background: see `iter_scores`.
    """
    return _one("mbo", true, pred, valid, backend, chunk_size, background=background, sequence_mode=sequence_mode,
                frames=frames)


def hungarian_miou(true, pred, valid=None, *, divide_by="objects", background=None, sequence_mode=None, frames="all",
                   backend=None, chunk_size=None):
    """(B,) float64 mIoU of the one-to-one matching of true objects to predicted segments that
    maximises the total IoU, divided by the number of true objects (``divide_by="objects"``: OCLF,
    SlotFormer) or by max(objects, non-empty segments) (``"segments"``: extra segments count, as
    in ClevrTex). NaN for images without a true object.
    """
    if divide_by not in ("objects", "segments"):
        raise GroupbenchError(f"divide_by must be 'objects' or 'segments'; got {divide_by!r}")
    return _one(f"miou-{divide_by}", true, pred, valid, backend, chunk_size, background=background,
                sequence_mode=sequence_mode, frames=frames)


def segmentation_covering(true, pred, valid=None, *, weighted=False, background=None, sequence_mode=None, frames="all",
                          backend=None, chunk_size=None):
    """(B,) float64 segmentation covering of the true objects by the predicted segments (Genesis):
    each object's best IoU, averaged over objects (mSC, equal to mBO) or weighted by object size
    (``weighted=True``: SC, ClevrTex's "mSC" column). NaN for images without a true object.
    """
    return _one("sc" if weighted else "msc", true, pred, valid, backend, chunk_size, background=background,
                sequence_mode=sequence_mode, frames=frames)


def degenerate_images(true, valid=None, *, sequence_mode=None, frames="all", backend=None, chunk_size=None):
    """(B,) bool: the ground truth leaves nothing to score beyond "same trivial partition or not".

    An image is degenerate when the true partition of its valid pixels is trivial: at most one group,
    or every valid pixel a group of its own (so images with 0 or 1 valid pixels are degenerate).
    Every prediction then scores the chance value of the index, and ARI and AMI are 1.0 if the
    prediction is the same trivial partition and 0.0 otherwise (AMI up to rounding, |AMI| < 1e-9).
    A sequence is degenerate when all its frames are ("per-frame") or when its T * P pixels are
    ("spatiotemporal").
    """
    backend_ = resolve_backend(backend, true, valid)
    options = _Options((), "arithmetic", "one", None, sequence_mode, frames)
    return _collect(_iter_scores(true, true, valid, options, backend_, chunk_size), None, backend_)


def hard_labels(masks, axis: int = -3):
    """Labels (argmax over the slot axis, the first slot on ties) of soft masks (N,[T,]K,H,W)."""
    return masks.argmax(axis)


class _Options(NamedTuple):
    metrics: tuple
    average_method: str
    degenerate: str
    background: int | None
    sequence_mode: str | None
    frames: str


def _one(metric, true, pred, valid, backend, chunk_size, *, average_method="arithmetic", degenerate="one",
         background=None, sequence_mode=None, frames="all"):
    backend_ = resolve_backend(backend, true, pred, valid)
    options = _Options((metric,), average_method, degenerate, background, sequence_mode, frames)
    return _collect(_iter_scores(true, pred, valid, options, backend_, chunk_size), metric, backend_)


def _iter_scores(true, pred, valid, options: _Options, backend, chunk_size):
    true, pred, valid = (x if x is None or hasattr(x, "shape") else np.asarray(x) for x in (true, pred, valid))
    check_options(options.metrics, options.average_method, options.sequence_mode, chunk_size,
                  degenerate=options.degenerate, frames=options.frames)
    _check_shapes(true, pred, valid, options)
    n_items = true.shape[0]
    if chunk_size is None:
        chunk_size = max(1, backend.chunk_pixels // max(1, math.prod(true.shape[1:])))
    for start in range(0, n_items, chunk_size):
        stop = min(start + chunk_size, n_items)
        with backend.compute_context():
            scores = _score_chunk(
                true[start:stop], pred[start:stop], None if valid is None else valid[start:stop], options, backend
            )
        yield scores._replace(start=start)


def _score_chunk(true, pred, valid, options: _Options, backend) -> Scores:
    xp = backend.xp
    true, pred = backend.asarray(true), backend.asarray(pred)
    if options.frames == "skip-first":
        true, pred = true[:, 1:], pred[:, 1:]
    if valid is not None:
        valid = backend.asarray(valid)[:, 1:] if options.frames == "skip-first" else backend.asarray(valid)
        valid = valid != 0
    true = _labels(true, valid, backend, "true")
    pred = _labels(pred, valid, backend, "pred")
    n_items = true.shape[0]
    per_frame = options.sequence_mode == "per-frame"
    rows = (n_items * true.shape[1], true.shape[2]) if per_frame else (n_items, math.prod(true.shape[1:]))
    table = cell_table(true.reshape(rows), pred.reshape(rows), None if valid is None else valid.reshape(rows), backend,
                       background=options.background)
    values = {}
    partition = [m for m in options.metrics if m in PARTITION_METRICS]
    if partition or not options.metrics:
        summary = summarize(table, backend)
        degenerate = adjusted.degenerate(summary)
        undefined = adjusted.undefined(summary) if options.degenerate == "nan" else None
        for name in partition:
            score = adjusted.adjusted_rand_index(summary, xp) if name == "ari" else \
                adjusted.adjusted_mutual_info(summary, options.average_method, backend)
            values[name] = score if undefined is None else xp.where(undefined, float("nan"), score)
    else:
        k_true = (table.true_sizes > 0).sum(axis=1)
        degenerate = (k_true <= 1) | (k_true == table.n_valid)
    overlap = [m for m in options.metrics if m in OVERLAP_METRICS]
    if overlap:
        values.update(overlap_scores(table, overlap, backend))
    values = {name: values[name] for name in options.metrics}
    if per_frame:
        frames = (n_items, true.shape[1])
        has_pixels = (table.n_valid > 0).reshape(frames)
        empty_value = 1.0 if options.degenerate == "one" else float("nan")
        values = {
            name: _mean_over_frames(score.reshape(frames), has_pixels, empty_value if name in PARTITION_METRICS else float("nan"), xp)
            for name, score in values.items()
        }
        degenerate = degenerate.reshape(frames).all(axis=1)
    return Scores(0, values, degenerate)


def _mean_over_frames(frame_scores, has_pixels, empty_value: float, xp):
    """(n,) mean of (n, T) scores over the frames with scored pixels and a defined score;
    `empty_value` where no frame has one."""
    defined = has_pixels & ~xp.isnan(frame_scores)
    frames = defined.sum(axis=1)
    total = xp.where(defined, frame_scores, 0.0).sum(axis=1)
    return xp.where(frames > 0, total / xp.clip(frames, 1, None), empty_value)


def _labels(labels, valid, backend, name: str):
    """Integer labels (int64, or the input's own narrow unsigned dtype), checked to be ids in
    [0, 2**63) at the valid pixels (valid None: every pixel)."""
    xp = backend.xp
    if backend.is_floating(labels):
        integral = (labels == xp.floor(labels)) & (labels >= 0) & (labels < 2.0**63)
        if bool(xp.any(~integral if valid is None else valid & ~integral)):
            raise GroupbenchError(f"{name} labels must be integer ids >= 0 at valid pixels; found other values")
        return backend.int64(labels if valid is None else xp.where(valid, labels, 0))
    if not backend.is_integer(labels):
        raise GroupbenchError(f"{name} labels must hold integer ids; got dtype {labels.dtype}")
    if backend.is_small_unsigned(labels):
        return labels  # bool or narrow unsigned: read as they are, no int64 copy
    if isinstance(labels, np.ndarray) and labels.dtype == np.uint64 and labels.size and int(labels.max()) >= 2**63:
        too_big = labels >= 2**63  # would wrap to negative ids in int64
        if bool(xp.any(too_big if valid is None else valid & too_big)):
            raise GroupbenchError(f"{name} labels must be ids in [0, 2**63) at valid pixels; found ids of 2**63 or more")
    labels = backend.int64(labels)
    # one pass when no id is negative; otherwise look at the valid pixels only
    if math.prod(labels.shape) and int(xp.amin(labels)) < 0:
        negative = labels < 0
        if bool(xp.any(negative if valid is None else valid & negative)):
            raise GroupbenchError(f"{name} labels must be ids in [0, 2**63) at valid pixels; found negative values")
    return labels


def check_options(metrics, average_method, sequence_mode, chunk_size, *, degenerate="one", frames="all") -> None:
    unknown = set(metrics) - set(METRICS)
    if unknown:
        raise GroupbenchError(f"unknown metrics {sorted(unknown)}; choose from {', '.join(METRICS)}")
    if average_method not in AVERAGE_METHODS:
        raise GroupbenchError(f"average_method must be one of {', '.join(AVERAGE_METHODS)}; got {average_method!r}")
    if sequence_mode is not None and sequence_mode not in SEQUENCE_MODES:
        raise GroupbenchError(f"sequence_mode must be one of {', '.join(SEQUENCE_MODES)}; got {sequence_mode!r}")
    if degenerate not in DEGENERATE_POLICIES:
        raise GroupbenchError(f"degenerate must be one of {', '.join(DEGENERATE_POLICIES)}; got {degenerate!r}")
    if frames not in FRAME_SELECTIONS:
        raise GroupbenchError(f"frames must be one of {', '.join(FRAME_SELECTIONS)}; got {frames!r}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise GroupbenchError(f"chunk_size must be a positive integer; got {chunk_size!r}")


def _check_shapes(true, pred, valid, options: _Options) -> None:
    shape = tuple(true.shape)
    for name, x in (("pred", pred), ("valid", valid)):
        if x is not None and tuple(x.shape) != shape:
            raise GroupbenchError(f"{name} has shape {tuple(x.shape)}, true has {shape}; they must match")
    if len(shape) == 2 and options.sequence_mode is not None:
        raise GroupbenchError("sequence_mode is for (B, T, P) sequences; (B, P) images take sequence_mode=None")
    if len(shape) == 3 and options.sequence_mode is None:
        raise GroupbenchError(
            "(B, T, P) input is a batch of sequences: pass sequence_mode='per-frame' or 'spatiotemporal'"
        )
    if len(shape) not in (2, 3):
        raise GroupbenchError(f"labels must be (B, P) images or (B, T, P) sequences; got shape {shape}")
    if options.frames != "all" and (len(shape) != 3 or shape[1] < 2):
        raise GroupbenchError(f"frames={options.frames!r} needs sequences of at least 2 frames; got shape {shape}")


def _collect(chunks, metric: str | None, backend):
    """Concatenate one metric's scores (or the degenerate flags, metric None) over the chunks."""
    parts = [scores.degenerate if metric is None else scores.values[metric] for scores in chunks]
    if not parts:
        return backend.ones((0,)) if metric is None else backend.zeros((0,))  # bool, float64
    return backend.concatenate(parts)
