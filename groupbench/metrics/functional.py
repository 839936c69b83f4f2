"""Per-image (or per-sequence) ARI and AMI of batches of label arrays, scored chunk by chunk.

Inputs are label arrays `true`, `pred` of shape (B, P) (B images of P pixels, flattened) holding
non-negative integer ids (any dtype with integer values; ids need not be contiguous, 2**40 is fine),
and an optional validity mask `valid` (B, P) bool (None: every pixel counts). Sequences are
(B, T, P) and need a named `sequence_mode`:

- "per-frame": one score per frame, averaged over the frames that have at least one valid pixel
  (frames without valid pixels are skipped; a sequence with none scores 1.0, like an empty image);
- "spatiotemporal": one clustering of all T * P pixels of the sequence.

Each function returns float64 scores (B,): a numpy array for the numpy backend, a torch tensor on
the inputs' device for the torch backend (backend=None picks torch when an input is a tensor).
Inputs are read `chunk_size` images (or sequences) at a time, so h5py datasets and memory maps
work and memory stays bounded.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, NamedTuple

import numpy as np

from groupbench.errors import GroupbenchError
from groupbench.metrics import adjusted
from groupbench.metrics.adjusted import AVERAGE_METHODS
from groupbench.metrics.backend import resolve_backend
from groupbench.metrics.contingency import contingency_summary

SEQUENCE_MODES = ("per-frame", "spatiotemporal")
METRICS = ("ari", "ami")


class Scores(NamedTuple):
    """Scores of items start .. start + n - 1 (images or sequences): (n,) arrays of the backend.

    ari, ami: float64, or None when not asked for; degenerate: bool (see `degenerate_images`).
    """

    start: int
    ari: Any
    ami: Any
    degenerate: Any


def iter_scores(
    true,
    pred,
    valid=None,
    *,
    metrics=METRICS,
    average_method: str = "arithmetic",
    sequence_mode: str | None = None,
    backend: str | None = None,
    chunk_size: int | None = None,
) -> Iterator[Scores]:
    """Yield `Scores` for consecutive chunks of `chunk_size` items (default: about 2**20 pixels on the CPU).

    true, pred: (B, P) or (B, T, P) label arrays (numpy, torch, h5py datasets: anything sliceable
    along axis 0); valid: same shape, bool, or None. metrics: any of "ari", "ami".
    """
    backend_ = resolve_backend(backend, true, pred, valid)
    yield from _iter_scores(true, pred, valid, metrics, average_method, sequence_mode, backend_, chunk_size)


def adjusted_rand_index(true, pred, valid=None, *, sequence_mode=None, backend=None, chunk_size=None):
    """(B,) float64 adjusted Rand index of each image over its valid pixels (sklearn's adjusted_rand_score).

    true, pred: (B, P) ids, or (B, T, P) with sequence_mode; valid: (B, P) / (B, T, P) bool or None.
    """
    backend_ = resolve_backend(backend, true, pred, valid)
    chunks = _iter_scores(true, pred, valid, ("ari",), "arithmetic", sequence_mode, backend_, chunk_size)
    return _collect(chunks, "ari", backend_)


def adjusted_mutual_info(
    true, pred, valid=None, *, average_method="arithmetic", sequence_mode=None, backend=None, chunk_size=None
):
    """(B,) float64 adjusted mutual information of each image over its valid pixels.

    Equals sklearn's adjusted_mutual_info_score(average_method=...): "arithmetic" (sklearn's
    default since 0.22) or "max" (sklearn <= 0.19, used by the RC and N-EM papers).
    true, pred: (B, P) ids, or (B, T, P) with sequence_mode; valid: (B, P) / (B, T, P) bool or None.
    """
    backend_ = resolve_backend(backend, true, pred, valid)
    chunks = _iter_scores(true, pred, valid, ("ami",), average_method, sequence_mode, backend_, chunk_size)
    return _collect(chunks, "ami", backend_)


def degenerate_images(true, valid=None, *, sequence_mode=None, backend=None, chunk_size=None):
    """(B,) bool: the ground truth leaves nothing to score beyond "same trivial partition or not".

    An image is degenerate when the true partition of its valid pixels is trivial: at most one group,
    or every valid pixel a group of its own (so images with 0 or 1 valid pixels are degenerate).
    Every prediction then scores the chance value of the index, and ARI and AMI are 1.0 if the
    prediction is the same trivial partition and 0.0 otherwise (AMI up to rounding, |AMI| < 1e-9).
    A sequence is degenerate when all its frames are ("per-frame") or when its T * P pixels are
    ("spatiotemporal").
    """
    backend_ = resolve_backend(backend, true, valid)
    chunks = _iter_scores(true, true, valid, (), "arithmetic", sequence_mode, backend_, chunk_size)
    return _collect(chunks, "degenerate", backend_)


def _iter_scores(true, pred, valid, metrics, average_method, sequence_mode, backend, chunk_size):
    true, pred, valid = (x if x is None or hasattr(x, "shape") else np.asarray(x) for x in (true, pred, valid))
    check_options(metrics, average_method, sequence_mode, chunk_size)
    _check_shapes(true, pred, valid, sequence_mode)
    n_items = true.shape[0]
    if chunk_size is None:
        chunk_size = max(1, backend.chunk_pixels // max(1, math.prod(true.shape[1:])))
    for start in range(0, n_items, chunk_size):
        stop = min(start + chunk_size, n_items)
        with backend.compute_context():
            scores = _score_chunk(
                true[start:stop],
                pred[start:stop],
                None if valid is None else valid[start:stop],
                metrics,
                average_method,
                sequence_mode,
                backend,
            )
        yield scores._replace(start=start)


def _score_chunk(true, pred, valid, metrics, average_method, sequence_mode, backend) -> Scores:
    xp = backend.xp
    true, pred = backend.asarray(true), backend.asarray(pred)
    valid = backend.ones(true.shape) if valid is None else backend.asarray(valid) != 0
    true = _labels(true, valid, backend, "true")
    pred = _labels(pred, valid, backend, "pred")
    n_items = true.shape[0]
    per_frame = sequence_mode == "per-frame"
    rows = (n_items * true.shape[1], true.shape[2]) if per_frame else (n_items, math.prod(true.shape[1:]))
    summary = contingency_summary(true.reshape(rows), pred.reshape(rows), valid.reshape(rows), backend)
    ari = adjusted.adjusted_rand_index(summary, xp) if "ari" in metrics else None
    ami = adjusted.adjusted_mutual_info(summary, average_method, backend) if "ami" in metrics else None
    degenerate = adjusted.degenerate(summary)
    if per_frame:
        frames = (n_items, true.shape[1])
        scored = (summary.n_valid > 0).reshape(frames)
        ari, ami = (None if s is None else _mean_over_frames(s.reshape(frames), scored, xp) for s in (ari, ami))
        degenerate = degenerate.reshape(frames).all(axis=1)
    return Scores(0, ari, ami, degenerate)


def _mean_over_frames(frame_scores, scored, xp):
    """(n,) mean of (n, T) scores over the scored frames; 1.0 where no frame is scored."""
    frames = scored.sum(axis=1)
    total = xp.where(scored, frame_scores, 0.0).sum(axis=1)
    return xp.where(frames > 0, total / xp.clip(frames, 1, None), 1.0)


def _labels(labels, valid, backend, name: str):
    """int64 labels, checked to be integers in [0, 2**63) at the valid pixels."""
    xp = backend.xp
    if backend.is_floating(labels):
        integral = (labels == xp.floor(labels)) & (labels >= 0) & (labels < 2.0**63)
        if bool(xp.any(valid & ~integral)):
            raise GroupbenchError(f"{name} labels must be integer ids >= 0 at valid pixels; found other values")
        return backend.int64(xp.where(valid, labels, 0))
    if not backend.is_integer(labels):
        raise GroupbenchError(f"{name} labels must hold integer ids; got dtype {labels.dtype}")
    may_be_negative = not backend.is_small_unsigned(labels)
    labels = backend.int64(labels)
    # one pass when no id is negative; otherwise look at the valid pixels only
    may_be_negative = may_be_negative and math.prod(labels.shape) > 0 and int(xp.amin(labels)) < 0
    if may_be_negative and bool(xp.any(valid & (labels < 0))):
        raise GroupbenchError(f"{name} labels must be ids in [0, 2**63) at valid pixels; found negative values")
    return labels


def check_options(metrics, average_method, sequence_mode, chunk_size) -> None:
    unknown = set(metrics) - set(METRICS)
    if unknown:
        raise GroupbenchError(f"unknown metrics {sorted(unknown)}; choose from {', '.join(METRICS)}")
    if average_method not in AVERAGE_METHODS:
        raise GroupbenchError(f"average_method must be one of {', '.join(AVERAGE_METHODS)}; got {average_method!r}")
    if sequence_mode is not None and sequence_mode not in SEQUENCE_MODES:
        raise GroupbenchError(f"sequence_mode must be one of {', '.join(SEQUENCE_MODES)}; got {sequence_mode!r}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise GroupbenchError(f"chunk_size must be a positive integer; got {chunk_size!r}")


def _check_shapes(true, pred, valid, sequence_mode) -> None:
    shape = tuple(true.shape)
    for name, x in (("pred", pred), ("valid", valid)):
        if x is not None and tuple(x.shape) != shape:
            raise GroupbenchError(f"{name} has shape {tuple(x.shape)}, true has {shape}; they must match")
    if len(shape) == 2 and sequence_mode is not None:
        raise GroupbenchError("sequence_mode is for (B, T, P) sequences; (B, P) images take sequence_mode=None")
    if len(shape) == 3 and sequence_mode is None:
        raise GroupbenchError(
            "(B, T, P) input is a batch of sequences: pass sequence_mode='per-frame' or 'spatiotemporal'"
        )
    if len(shape) not in (2, 3):
        raise GroupbenchError(f"labels must be (B, P) images or (B, T, P) sequences; got shape {shape}")


def _collect(chunks, field: str, backend):
    parts = [getattr(scores, field) for scores in chunks]
    if not parts:
        return backend.ones((0,)) if field == "degenerate" else backend.zeros((0,))  # bool, float64
    return backend.concatenate(parts)
