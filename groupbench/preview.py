"""Preview grids: images beside their ground-truth segmentations, as PNG or (sequences) animated GIF.

Each sample is a pair of panels under the heading "image | ground truth". The ground truth is drawn
so that it cannot be mistaken for data: a light background, objects in `PALETTE` (muted colours
that no dataset draws with: the datasets use black or grey backgrounds with pure or white colours),
and pixels covered by two or more objects (overlap) hatched black and white. Sequences carry a
frame counter. docs/datasets.md ("Previews") explains the colours.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from groupbench.errors import GroupbenchError
from groupbench.format import file_metadata, layout_of, open_split, read
from groupbench.progress import progress_bar
from groupbench.writer import atomic_output

GROUND_BACKGROUND = np.array([226, 226, 226], np.uint8)
"""Label 0 (background) in the ground-truth panels: light grey, unlike the datasets' dark backgrounds."""
PALETTE = np.array(
    [
        [31, 119, 180], [214, 39, 40], [44, 160, 44], [148, 103, 189], [255, 127, 14], [140, 86, 75],
        [227, 119, 194], [23, 190, 207], [188, 189, 34], [57, 59, 121], [132, 60, 57], [99, 121, 57],
    ],
    np.uint8,
)
"""Colours of objects 1..12 in the ground-truth panels (Tableau's qualitative colours without its grey,
then three dark ones); object ids above 12 cycle through them."""
HATCH = (np.array([20, 20, 20], np.uint8), np.array([250, 250, 250], np.uint8))
"""Overlap pixels: diagonal stripes of these two colours, 2 display pixels wide."""
CANVAS = np.array([48, 48, 48], np.uint8)
TEXT = (225, 225, 225)
HEADINGS = ("image", "ground truth")
HEADING_HEIGHT = 16
"""Height of the heading band (pixels) above the grid, and of the caption band below it (frame counter)."""
GIF_FRAME_MS = 120
"""Display time of one frame of an animated preview."""


def colorize(labels: np.ndarray, overlap: np.ndarray, scale: int = 1) -> np.ndarray:
    """labels, overlap (...,H,W) -> RGB (...,H*scale,W*scale,3) ground-truth panels.

    Background `GROUND_BACKGROUND`, object k in `PALETTE` [(k-1) mod 12], overlap hatched (`HATCH`).
    """
    ids = labels.astype(np.int64)
    rgb = np.where((ids == 0)[..., None], GROUND_BACKGROUND, PALETTE[(ids - 1) % len(PALETTE)])
    rgb = rgb.repeat(scale, axis=-3).repeat(scale, axis=-2)
    covered = overlap.repeat(scale, axis=-2).repeat(scale, axis=-1)
    h, w = covered.shape[-2:]
    stripes = ((np.arange(h)[:, None] + np.arange(w)[None, :]) // 2) % 2 == 0
    rgb[covered & stripes] = HATCH[0]
    rgb[covered & ~stripes] = HATCH[1]
    return rgb.astype(np.uint8)


def grid(images: np.ndarray, labels: np.ndarray, overlap: np.ndarray, columns: int = 4, scale: int = 4,
         caption: str = "") -> np.ndarray:
    """Image | ground-truth pairs tiled in a grid under a heading band, ``caption`` in a band below.

    images (N,H,W,C) uint8, labels and overlap (N,H,W) -> RGB (16 + rows*(H*scale+gap) + gap [+ 16],
    columns*(2*W*scale+1+gap) + gap, 3) uint8, gap = 2*scale.
    """
    n, h, w, c = images.shape
    rgb = images if c == 3 else np.repeat(images[..., :1], 3, axis=-1)
    rgb = rgb.repeat(scale, axis=1).repeat(scale, axis=2)
    pairs = np.concatenate([rgb, np.full((n, h * scale, 1, 3), 96, np.uint8), colorize(labels, overlap, scale)], axis=2)
    gap = 2 * scale
    columns = min(columns, n)
    rows = -(-n // columns)
    ph, pw = pairs.shape[1:3]
    top = HEADING_HEIGHT
    bottom = HEADING_HEIGHT if caption else 0
    canvas = np.empty((top + rows * (ph + gap) + gap + bottom, columns * (pw + gap) + gap, 3), np.uint8)
    canvas[:] = CANVAS
    for i in range(n):
        r, col = divmod(i, columns)
        y, x = top + gap + r * (ph + gap), gap + col * (pw + gap)
        canvas[y : y + ph, x : x + pw] = pairs[i]
    picture = Image.fromarray(canvas)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default()
    panel = w * scale
    for col in range(columns):
        for k, heading in enumerate(HEADINGS):
            if draw.textlength(heading, font=font) > panel:
                heading = heading.split()[-1]
            x = gap + col * (pw + gap) + k * (panel + 1) + (panel - draw.textlength(heading, font=font)) / 2
            draw.text((x, 2), heading, fill=TEXT, font=font)
    if caption:
        draw.text((gap, canvas.shape[0] - bottom), caption, fill=TEXT, font=font)
    return np.asarray(picture)


def _rgb_codes(picture: np.ndarray) -> np.ndarray:
    """RGB (H,W,3) uint8 -> (H,W) uint32 codes 0xRRGGBB."""
    rgb = picture.astype(np.uint32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def gif_frames(pictures: list[np.ndarray]) -> list[Image.Image]:
    """RGB pictures (H,W,3) as palette images sharing one palette, for an animated GIF.

    Exact when all pictures together use at most 256 colours (binary, grayscale and most
    segmentation previews); otherwise one palette of 256 colours is fitted to all of them, so
    colours do not flicker from frame to frame. Colours are found with a table of all 2**24
    RGB values (16 MB), in time linear in the pixels.
    """
    seen = np.zeros(1 << 24, bool)
    for picture in pictures:
        seen[_rgb_codes(picture)] = True
    colours = np.flatnonzero(seen)
    del seen
    if len(colours) <= 256:
        index = np.zeros(1 << 24, np.uint8)
        index[colours] = np.arange(len(colours), dtype=np.uint8)
        palette = np.stack([colours >> 16, (colours >> 8) & 255, colours & 255], axis=1).astype(np.uint8).reshape(-1).tolist()
        frames = []
        for picture in pictures:
            frame = Image.frombytes("P", picture.shape[1::-1], index[_rgb_codes(picture)].tobytes())
            frame.putpalette(palette)
            frames.append(frame)
        return frames
    shared = Image.fromarray(np.concatenate(pictures[:: max(1, len(pictures) // 8)])).quantize(256, dither=Image.Dither.NONE)
    return [Image.fromarray(p).quantize(palette=shared, dither=Image.Dither.NONE) for p in pictures]


def save_preview(path: str | Path, split: str, out: str | Path, n: int = 16, columns: int = 4, *,
                 overwrite: bool = False, progress: bool | None = False) -> Path:
    """Write the first ``n`` samples of ``split`` as a grid of image | ground truth pairs.

    ``out`` ending in ``.gif``: an animated GIF with one grid per frame (a still image gives one
    frame); any other name: a PNG, where sequences show their first frame. ``out`` may not be the
    dataset file, nor an existing file unless ``overwrite``.
    """
    if n < 1:
        raise GroupbenchError(f"--n must be >= 1, got {n}")
    with atomic_output(out, overwrite=overwrite, inputs=[path]) as tmp:
        handle, group = open_split(path, split)  # not SplitReader: showing needs no torch
        with handle:
            file_metadata(handle)
            layout_of(group)
            count = min(n, group["images"].shape[0])
            if count == 0:
                raise GroupbenchError(f"{path}: split '{split}' holds no samples to show")
            images, labels, overlap = (read(group[name], slice(0, count)) for name in ("images", "labels", "overlap"))
        sequence = images.ndim == 5
        if not sequence:  # still images: one frame
            images, labels, overlap = images[:, None], labels[:, None], overlap[:, None]
        animated = Path(out).suffix.lower() == ".gif"
        length = images.shape[1]
        frames = range(length) if animated else [0]
        scale = max(1, 128 // images.shape[3])
        pictures = []
        with progress_bar(len(frames), f"show {Path(path).name}", unit="frame", show=progress) as bar:
            for t in frames:
                caption = f"frame {t + 1}/{length}" if sequence else ""
                pictures.append(grid(images[:, t], labels[:, t], overlap[:, t], columns=columns, scale=scale, caption=caption))
                bar.update(1)
        if animated:
            first, *rest = gif_frames(pictures)
            first.save(tmp, format="GIF", save_all=True, append_images=rest, duration=GIF_FRAME_MS, loop=0, optimize=False)
        else:
            Image.fromarray(pictures[0]).save(tmp, format="PNG")
    return Path(out)
