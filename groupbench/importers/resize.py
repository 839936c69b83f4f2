"""Cropping and resizing imported images and masks, exactly: integer arithmetic only.

The standard CLEVR preprocessing of IODINE and Slot Attention (docs/deepmind.md) crops each 240x320
frame to rows 29..220 and columns 64..255 (192x192) and resizes the crop to 128x128: images
bilinearly, masks by nearest neighbour. Both sample at pixel centres (the convention of
TensorFlow 2's ``tf.image.resize``, PyTorch's ``interpolate(align_corners=False)`` and
``mode="nearest-exact"``): output pixel d along an axis of n -> m pixels looks at source position
``s = (d + 1/2) n / m - 1/2``.

- Bilinear: the two source pixels around s, weighted by the distance to them (clamped at the
  border), in both axes. Weights are fractions with denominator 2m, so the weighted sum is an
  integer over (2m)^2 and is rounded to the nearest integer, halves up: every stored value is a
  function of integer arithmetic alone, the same on every machine. (For 192 -> 128 the weights are
  quarters, and no clamping occurs.)
- Nearest: the source pixel that contains the output pixel's centre, ``floor((d + 1/2) n / m)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Crop:
    """Rows [top, top + height) and columns [left, left + width) of the source, resized to ``size``."""

    top: int
    left: int
    height: int
    width: int
    size: tuple[int, int]
    """(H, W) after resizing."""

    def window(self, array: np.ndarray, row_axis: int) -> np.ndarray:
        """The cropped window of ``array`` whose rows and columns are axes ``row_axis`` and ``row_axis + 1``."""
        index = [slice(None)] * array.ndim
        index[row_axis] = slice(self.top, self.top + self.height)
        index[row_axis + 1] = slice(self.left, self.left + self.width)
        return array[tuple(index)]


def _bilinear_taps(n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Source indices (i0, i1) and integer weights (w0, w1) over ``2 m`` for each of m outputs."""
    scale = 2 * m
    position = (2 * np.arange(m, dtype=np.int64) + 1) * n - m  # s * 2m
    position = np.clip(position, 0, (n - 1) * scale)
    i0 = position // scale
    w1 = position - i0 * scale
    i1 = np.minimum(i0 + 1, n - 1)
    return i0, i1, scale - w1, w1, scale


def _resize_axis(values: np.ndarray, axis: int, m: int) -> tuple[np.ndarray, int]:
    """Weighted sums along ``axis`` (in ``values``' integer type) and the denominator of the weights."""
    i0, i1, w0, w1, scale = _bilinear_taps(values.shape[axis], m)
    shape = [1] * values.ndim
    shape[axis] = m
    weights = [w.reshape(shape).astype(values.dtype) for w in (w0, w1)]
    first = np.take(values, i0, axis=axis) * weights[0]
    first += np.take(values, i1, axis=axis) * weights[1]
    return first, scale


def resize_bilinear(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """images (N, h, w, C) uint8 -> (N, H, W, C) uint8, bilinear at pixel centres, rounded half up."""
    largest = 255 * (2 * size[0]) * (2 * size[1]) + 2 * size[0] * size[1]  # the largest sum, before rounding
    work = np.int32 if largest < 2**31 else np.int64
    rows, row_scale = _resize_axis(images.astype(work), 1, size[0])
    both, col_scale = _resize_axis(rows, 2, size[1])
    denominator = row_scale * col_scale
    both += denominator // 2
    both //= denominator
    return both.astype(np.uint8)


def nearest_indices(n: int, m: int) -> np.ndarray:
    """For each of m outputs, the source index (of n) whose pixel contains the output pixel's centre."""
    return ((2 * np.arange(m, dtype=np.int64) + 1) * n) // (2 * m)


def resize_nearest(masks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """masks (..., h, w) -> (..., H, W) by nearest neighbour at pixel centres (any dtype)."""
    h, w = masks.shape[-2:]
    return masks[..., nearest_indices(h, size[0])[:, None], nearest_indices(w, size[1])[None, :]]


def crop_resize(images: np.ndarray, masks: np.ndarray, crop: Crop) -> tuple[np.ndarray, np.ndarray]:
    """images (N, H, W, C) and masks (N, E, H, W) -> cropped and resized (bilinear, nearest)."""
    return (
        resize_bilinear(crop.window(images, 1), crop.size),
        resize_nearest(crop.window(masks, 2), crop.size),
    )
