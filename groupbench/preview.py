"""Preview grids: images beside their ground-truth segmentations, as PNG or (sequences) animated GIF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from groupbench.data import SplitReader
from groupbench.errors import GroupbenchError
from groupbench.writer import atomic_output

PALETTE = np.array(
    [
        [0, 0, 0],
        [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
        [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212],
        [0, 128, 128], [220, 190, 255], [170, 110, 40], [128, 0, 0], [170, 255, 195],
        [128, 128, 0], [255, 215, 180], [0, 0, 128], [128, 128, 128],
    ],
    np.uint8,
)
"""Colour of label 0 (background, black) and of objects 1..19; ids above cycle through 1..19."""
OVERLAP_COLOR = np.array([255, 255, 255], np.uint8)


def colorize(labels: np.ndarray, overlap: np.ndarray) -> np.ndarray:
    """labels (...,H,W), overlap (...,H,W) -> RGB (...,H,W,3); overlap pixels white."""
    ids = np.where(labels == 0, 0, (labels.astype(np.int64) - 1) % (len(PALETTE) - 1) + 1)
    rgb = PALETTE[ids]
    rgb[overlap] = OVERLAP_COLOR
    return rgb


def grid(images: np.ndarray, labels: np.ndarray, overlap: np.ndarray, columns: int = 4, scale: int = 4) -> np.ndarray:
    """Image | segmentation pairs tiled in a grid.

    images (N,H,W,C) uint8, labels and overlap (N,H,W) -> (rows*(H+gap), columns*(2W+gap), 3) uint8.
    """
    n, h, w, c = images.shape
    rgb = images if c == 3 else np.repeat(images[..., :1], 3, axis=-1)
    pairs = np.concatenate([rgb, np.full((n, h, 1, 3), 96, np.uint8), colorize(labels, overlap)], axis=2)
    pairs = pairs.repeat(scale, axis=1).repeat(scale, axis=2)
    gap = 2 * scale
    rows = -(-n // columns)
    ph, pw = pairs.shape[1:3]
    canvas = np.full((rows * (ph + gap) + gap, columns * (pw + gap) + gap, 3), 48, np.uint8)
    for i in range(n):
        r, col = divmod(i, columns)
        canvas[gap + r * (ph + gap) : gap + r * (ph + gap) + ph, gap + col * (pw + gap) : gap + col * (pw + gap) + pw] = pairs[i]
    return canvas


GIF_FRAME_MS = 120
"""Display time of one frame of an animated preview."""


def gif_frames(pictures: list[np.ndarray]) -> list[Image.Image]:
    """RGB pictures (H,W,3) as palette images sharing one palette, for an animated GIF.

    Exact when all pictures together use at most 256 colours (binary, grayscale and most
    segmentation previews); otherwise one palette of 256 colours is fitted to all of them, so
    colours do not flicker from frame to frame.
    """
    stack = np.stack(pictures)
    colours, inverse = np.unique(stack.reshape(-1, 3), axis=0, return_inverse=True)
    if len(colours) <= 256:
        palette = colours.astype(np.uint8).reshape(-1).tolist()
        frames = []
        for indices in inverse.reshape(stack.shape[:3]).astype(np.uint8):
            frame = Image.frombytes("P", (indices.shape[1], indices.shape[0]), indices.tobytes())
            frame.putpalette(palette)
            frames.append(frame)
        return frames
    shared = Image.fromarray(stack.reshape(-1, *stack.shape[2:])).quantize(256, dither=Image.Dither.NONE)
    return [Image.fromarray(p).quantize(palette=shared, dither=Image.Dither.NONE) for p in pictures]


def save_preview(path: str | Path, split: str, out: str | Path, n: int = 16, columns: int = 4) -> Path:
    """Write the first ``n`` samples of ``split`` as a grid of image | ground truth pairs.

    ``out`` ending in ``.gif``: an animated GIF with one grid per frame (a still image gives one
    frame); any other name: a PNG, where sequences show their first frame.
    """
    if n < 1:
        raise GroupbenchError(f"--n must be >= 1, got {n}")
    with SplitReader(path, split) as reader:
        batch = reader[: min(n, len(reader))]
    images, labels, overlap = batch["images"], batch["labels"], batch["overlap"]
    if images.ndim == 4:  # still images: one frame
        images, labels, overlap = images[:, None], labels[:, None], overlap[:, None]
    animated = Path(out).suffix.lower() == ".gif"
    frames = range(images.shape[1]) if animated else [0]
    scale = max(1, 128 // images.shape[2])
    columns = min(columns, len(images))
    pictures = [grid(images[:, t], labels[:, t], overlap[:, t], columns=columns, scale=scale) for t in frames]
    with atomic_output(out) as tmp:
        if animated:
            first, *rest = gif_frames(pictures)
            first.save(tmp, format="GIF", save_all=True, append_images=rest, duration=GIF_FRAME_MS, loop=0, optimize=False)
        else:
            Image.fromarray(pictures[0]).save(tmp, format="PNG")
    return Path(out)
