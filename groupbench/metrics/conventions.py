"""Which pixels are scored: the validity mask built from the ground truth, and the named conventions.

groupbench files label background 0 and each pixel with its visible (top-most) object, and mark
pixels covered by two or more objects in `overlap` (docs/format.md). The conventions differ in
which of those pixels count:

- "fg-unique": foreground pixels covered by exactly one object (the RC and N-EM papers);
- "fg-visible": every foreground pixel, overlap pixels under their visible object (DeepMind's
  FG-ARI: IODINE, MONet, Slot Attention; in DeepMind's files every pixel has one visible entity);
- "unique": background as one more group, overlap left out;
- "all": every pixel, background as one more group.
"""

from __future__ import annotations

from groupbench.errors import GroupbenchError

PIXEL_CONVENTIONS = {
    # name: (include_background, include_overlap, description)
    "fg-unique": (False, False, "foreground pixels covered by exactly one object: background and overlap left out (RC, N-EM)"),
    "fg-visible": (False, True, "every foreground pixel, overlap pixels under their visible object; background left out "
                                "(DeepMind's FG-ARI: IODINE, MONet, Slot Attention)"),
    "unique": (True, False, "background scored as one more group; overlap left out"),
    "all": (True, True, "every pixel: background as one more group, overlap pixels under their visible object"),
}
"""Named pixel conventions: which of the background and overlap pixels are scored."""


def pixel_convention(include_background: bool, include_overlap: bool) -> str:
    """The name of the pixel convention with these choices."""
    return next(name for name, (bg, ov, _) in PIXEL_CONVENTIONS.items() if (bg, ov) == (include_background, include_overlap))


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
