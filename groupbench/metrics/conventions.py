"""Which pixels are scored: the validity mask built from the ground truth.

groupbench files label background 0 and mark pixels covered by two or more objects in `overlap`
(docs/format.md). The masked scores of the RC, N-EM and IODINE papers ("FG-ARI") leave out both;
"ARI with background" keeps background pixels.
"""

from __future__ import annotations

from groupbench.errors import GroupbenchError


def valid_mask(labels, overlap=None, *, include_background: bool = False, include_overlap: bool = False):
    """Bool mask of the pixels to score, same shape and array type (numpy or torch) as `labels`.

    labels: integer ids, 0 = background, any shape; overlap: same shape, nonzero where two or more
    objects cover the pixel, or None when the data has no overlap information.
    Background pixels are scored only with include_background, overlap pixels only with
    include_overlap.
    """
    valid = (labels != 0) | include_background
    if overlap is not None and not include_overlap:
        if tuple(overlap.shape) != tuple(labels.shape):
            shapes = f"overlap has shape {tuple(overlap.shape)}, labels {tuple(labels.shape)}"
            raise GroupbenchError(f"{shapes}; they must match")
        valid = valid & (overlap == 0)
    return valid
