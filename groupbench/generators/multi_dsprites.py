"""``multi-dsprites-v1``: Multi-dSprites of IODINE (Greff et al. 2019, appendix B.2; DeepMind multi_object_datasets).

64x64 images of dSprites shapes (Matthey et al. 2017) placed one over the other. Three variants,
chosen with ``--param variant=...``, as in the DeepMind files:

- ``colored-on-grayscale`` (default; IODINE's Multi-dSprites): 2-5 sprites, each a random fully
  saturated colour (hue uniform over the 1,530 8-bit colours with one channel 255 and one 0),
  on a uniform grey background (level uniform in 0..255). RGB.
- ``binarized``: 2-3 white sprites (255) on black. One channel.
- ``colored-on-colored``: 1-4 sprites, sprite and background colours uniform over 8-bit RGB.

The number of sprites is uniform over the variant's range. Each sprite has, as in dSprites:

- shape: 1 square, 2 ellipse, 3 heart (dSprites' order), uniform;
- scale: one of the 6 values 0.5, 0.6, ..., 1.0, uniform;
- orientation: in [0, 2 pi), on a grid of 4,096 steps (0.088 degrees), counter-clockwise as seen;
- position: x and y in [0, 1) on a grid of 2^-16; the centre lies at column 16 + 32 x and row
  16 + 32 y in pixel units (pixel (r, c) covers [r, r+1) x [c, c+1)), as in dSprites, so every
  sprite lies entirely inside the image.

Sprite geometry at scale 1, measured on dSprites (to about a pixel; the original vector shapes
are not published): square of side 19.2 px; ellipse of semi-axes 11.8 x 6.4 px, long axis
horizontal at orientation 0; heart of the classic construction, a square of side 10.2 px turned
by 45 degrees with a half-disc of diameter 10.2 px on each of its two upper sides, tip down at
orientation 0, its bounding box (17.4 x 15.9 px) centred on the sprite centre. A pixel belongs
to a sprite when its centre lies inside the shape (no anti-aliasing).

Sprites are drawn in slot order, later ones over earlier ones (``labels`` is the top-most
sprite); masks are amodal (the whole sprite, hidden parts included); ``overlap`` marks pixels that
2 or more sprites cover. Unused slots (fewer sprites than the variant's maximum) are empty, with
all factors 0.

Determinism: the rasteriser uses only + - * / on float64 and comparisons. The cosine and sine of
the 4,096 orientations come from `ROTATION`, a table computed at import with integer arithmetic
only (pi by Machin's formula and Taylor series in 128-bit fixed point, then one correctly rounded
int / int division per entry), never from libm, so every machine rasterises identical pixels.

Draws per sample: stream 0 number of sprites; 1, 2, 3 background (grey level, or R, G, B); sprite
k uses streams 8 + 8k + j for j = 0 shape, 1 scale, 2 orientation, 3 x, 4 y, 5 colour (hue, or
R), 6 G, 7 B.
Factors: ``shape`` (N,O) uint8; ``scale``, ``orientation``, ``x``, ``y`` (N,O) float32 (the values
above, exactly); ``color`` (N,O,C) uint8 the sprite's colour as drawn (C = 3, or 1 for binarized).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from groupbench.format import Batch, FactorSpec, SplitLayout
from groupbench.generators.base import Generator, compose, param, zero_inactive
from groupbench.seeding import CounterRandom

SIZE = 64

VARIANTS = {
    # name: (fewest sprites, most sprites, channels)
    "colored-on-grayscale": (2, 5, 3),
    "binarized": (2, 3, 1),
    "colored-on-colored": (1, 4, 3),
}

SHAPES = ("square", "ellipse", "heart")
"""Shape codes 1, 2, 3 (dSprites' order)."""

SCALES = np.array([5, 6, 7, 8, 9, 10], np.float64) / 10
"""The 6 scales of dSprites, linspace(0.5, 1, 6)."""

ORIENTATIONS = 4096
"""Orientation steps in a full turn."""
POSITIONS = 1 << 16
"""Position steps in [0, 1)."""

SQUARE_HALF = 9.6
ELLIPSE_AXES = (11.8, 6.4)
HEART_SIDE = 10.2

WINDOW = 31
"""Side of the square of pixels tested around each sprite centre: every sprite at scale 1 lies
within 13.6 px of its centre (the square's half diagonal), so 15 px on each side suffice."""
HALF_WINDOW = WINDOW // 2

BACKGROUND_STREAM = 1
SPRITE_STREAM = 8
STREAMS_PER_SPRITE = 8


# --- exact rotation table -----------------------------------------------------------------------


def _fixed_pi(bits: int) -> int:
    """pi * 2**bits (to within a few units), by Machin's formula on integers."""

    def arctan_inverse(x: int) -> int:
        total = term = (1 << bits) // x
        x2, n, sign = x * x, 1, 1
        while term:
            term //= x2
            n += 2
            sign = -sign
            total += sign * (term // n)
        return total

    return 16 * arctan_inverse(5) - 4 * arctan_inverse(239)


def rotation_table(steps: int = ORIENTATIONS, bits: int = 128) -> np.ndarray:
    """(steps, 2) float64: cos and sin of 2 pi k / steps for k = 0..steps-1.

    Integer arithmetic only: the angle of each step of the first quadrant in ``bits``-bit fixed
    point, its Taylor series summed until the terms vanish, then the other quadrants by exact
    symmetry. The fixed-point values are good to about 2**-(bits - 8); converting them with int / int
    (correctly rounded in Python) gives the nearest float64 of the true value.
    """
    if steps % 4:
        raise ValueError("steps must be a multiple of 4")
    one = 1 << bits
    pi = _fixed_pi(bits + 16) >> 16
    quarter = steps // 4
    first = []
    for k in range(quarter + 1):
        angle = 2 * pi * k // steps
        cos = sin = 0
        term, n = one, 0
        while term:
            if n % 4 == 0:
                cos += term
            elif n % 4 == 1:
                sin += term
            elif n % 4 == 2:
                cos -= term
            else:
                sin -= term
            n += 1
            term = term * angle // one // n
        first.append((cos, sin))
    table = np.empty((steps, 2), np.float64)
    for k in range(steps):
        turn, rest = divmod(k, quarter)
        cos, sin = first[rest]
        cos, sin = [(cos, sin), (-sin, cos), (-cos, -sin), (sin, -cos)][turn]
        table[k] = (cos / one, sin / one)
    return table


ROTATION = rotation_table()
"""cos and sin of each of the `ORIENTATIONS` orientations."""


# --- shapes -------------------------------------------------------------------------------------

_SQRT2 = np.sqrt(np.float64(2.0))
_HEART_R = HEART_SIDE / 2
_HEART_Q = HEART_SIDE / (2 * _SQRT2)
_HEART_D = HEART_SIDE / _SQRT2
_HEART_SHIFT = (_HEART_R - _HEART_Q) / 2
_INV_A2 = 1 / (ELLIPSE_AXES[0] * ELLIPSE_AXES[0])
_INV_B2 = 1 / (ELLIPSE_AXES[1] * ELLIPSE_AXES[1])


def inside(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether points (u, v), in sprite units at scale 1 (u right, v down), lie in the shape."""
    if shape == 1:
        return np.maximum(np.abs(u), np.abs(v)) <= SQUARE_HALF
    if shape == 2:
        return u * u * _INV_A2 + v * v * _INV_B2 <= 1.0
    # heart: a square of side a on its corner (the diamond |u| + |v - s| <= a / sqrt 2) and two
    # discs of radius a / 2 centred on the midpoints of its upper sides, (+-q, s - q)
    w = v - _HEART_SHIFT
    diamond = np.abs(u) + np.abs(w) <= _HEART_D
    du = np.abs(u) - _HEART_Q
    dv = w + _HEART_Q
    return diamond | (du * du + dv * dv <= _HEART_R * _HEART_R)


def rasterize(shape, scale, turn, centre_col, centre_row):
    """Sprites on the `WINDOW` x `WINDOW` pixels around their centres.

    shape (N,) 1..3, scale (N,) float64, turn (N,) orientation step, centre_col / centre_row (N,)
    float64 in pixel units. Returns (N, WINDOW, WINDOW) bool and the (N,) top and left pixel of
    each window.
    """
    top = np.floor(centre_row).astype(np.int64) - HALF_WINDOW
    left = np.floor(centre_col).astype(np.int64) - HALF_WINDOW
    offsets = np.arange(WINDOW, dtype=np.float64) + 0.5
    inverse = 1.0 / scale
    dx = ((left[:, None] + offsets) - centre_col[:, None]) * inverse[:, None]  # (N, W) columns
    dy = ((top[:, None] + offsets) - centre_row[:, None]) * inverse[:, None]  # (N, W) rows
    cos = ROTATION[turn, 0][:, None, None]
    sin = ROTATION[turn, 1][:, None, None]
    # A turn by theta counter-clockwise as seen (rows point down): sprite coordinates of a pixel.
    u = cos * dx[:, None, :] - sin * dy[:, :, None]
    v = sin * dx[:, None, :] + cos * dy[:, :, None]
    window = np.zeros((len(shape), WINDOW, WINDOW), bool)
    for code in (1, 2, 3):
        chosen = np.flatnonzero(shape == code)
        if chosen.size:
            window[chosen] = inside(code, u[chosen], v[chosen])
    return window, top, left


def saturated_color(hue: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB of hue steps 0..1529: the 8-bit colours with one channel 255 and one 0.

    Integer HSV with S = V = 1: 6 sectors of 255 steps, red -> yellow -> green -> cyan -> blue ->
    magenta -> red; each such colour appears exactly once.
    """
    sector, f = np.divmod(hue, 255)
    g = 255 - f
    full = np.full_like(f, 255)
    zero = np.zeros_like(f)
    table = np.stack(
        [
            np.stack([full, f, zero], -1),
            np.stack([g, full, zero], -1),
            np.stack([zero, full, f], -1),
            np.stack([zero, g, full], -1),
            np.stack([f, zero, full], -1),
            np.stack([full, zero, g], -1),
        ],
        axis=0,
    )
    return np.take_along_axis(table, sector[None, ..., None], axis=0)[0].astype(np.uint8)


@dataclass(frozen=True)
class MultiDspritesParams:
    variant: str = param(
        "colored-on-grayscale", "colored-on-grayscale (2-5 sprites), binarized (2-3) or colored-on-colored (1-4)"
    )

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}; got {self.variant!r}")


class MultiDspritesGenerator(Generator):
    Params = MultiDspritesParams

    @property
    def channels(self) -> int:
        return VARIANTS[self.params.variant][2]

    @property
    def max_objects(self) -> int:
        return VARIANTS[self.params.variant][1]

    def layout(self, split: str) -> SplitLayout:
        return SplitLayout(
            image_shape=(SIZE, SIZE, self.channels),
            max_objects=self.max_objects,
            factors={
                "shape": FactorSpec("u1", doc="1 square, 2 ellipse, 3 heart; 0 for an unused slot"),
                "scale": FactorSpec("<f4", doc="0.5, 0.6, ..., 1.0"),
                "orientation": FactorSpec("<f4", doc="radians in [0, 2 pi), counter-clockwise"),
                "x": FactorSpec("<f4", doc="horizontal position in [0, 1): centre column 16 + 32 x"),
                "y": FactorSpec("<f4", doc="vertical position in [0, 1): centre row 16 + 32 y (down)"),
                "color": FactorSpec("u1", (self.channels,), doc="the sprite's colour as drawn"),
            },
        )

    def generate(self, rng: CounterRandom, split: str, index: np.ndarray) -> Batch:
        fewest, most, channels = VARIANTS[self.params.variant]
        n = len(index)
        sample = index[:, None]
        count = fewest + rng.integers(index, 0, most - fewest + 1)
        active = np.arange(most)[None, :] < count[:, None]  # (B, O)
        base = SPRITE_STREAM + STREAMS_PER_SPRITE * np.arange(most)
        shape = 1 + rng.integers(sample, base + 0, len(SHAPES))
        scale_step = rng.integers(sample, base + 1, len(SCALES))
        turn = rng.integers(sample, base + 2, ORIENTATIONS)
        x_step = rng.integers(sample, base + 3, POSITIONS)
        y_step = rng.integers(sample, base + 4, POSITIONS)
        x = x_step / POSITIONS
        y = y_step / POSITIONS
        if self.params.variant == "binarized":
            color = np.full((n, most, 1), 255, np.uint8)
            background = np.zeros((n, 1), np.uint8)
        elif self.params.variant == "colored-on-grayscale":
            color = saturated_color(rng.integers(sample, base + 5, 6 * 255))
            background = np.repeat(rng.integers(index, BACKGROUND_STREAM, 256)[:, None], 3, axis=1).astype(np.uint8)
        else:
            color = np.stack([rng.integers(sample, base + 5 + c, 256) for c in range(3)], -1).astype(np.uint8)
            background = np.stack([rng.integers(index, BACKGROUND_STREAM + c, 256) for c in range(3)], -1).astype(np.uint8)

        b, o = np.nonzero(active)
        window, top, left = rasterize(
            shape[b, o], SCALES[scale_step[b, o]], turn[b, o], 16 + 32 * x[b, o], 16 + 32 * y[b, o]
        )
        masks = np.zeros((n, most, SIZE, SIZE), bool)
        span = np.arange(WINDOW)
        masks[b[:, None, None], o[:, None, None], (top[:, None] + span)[:, :, None], (left[:, None] + span)[:, None, :]] = window
        labels, overlap = compose(masks)
        palette = np.concatenate([background[:, None, :], color], axis=1)  # (B, O+1, C)
        images = palette[np.arange(n)[:, None, None], labels]

        return Batch(
            images=images,
            labels=labels,
            overlap=overlap,
            masks=masks,
            num_objects=count.astype(np.uint8),
            factors={
                "shape": zero_inactive(shape, active, np.uint8),
                "scale": zero_inactive(SCALES[scale_step], active, np.float32),
                "orientation": zero_inactive(turn * (2 * np.pi / ORIENTATIONS), active, np.float32),
                "x": zero_inactive(x, active, np.float32),
                "y": zero_inactive(y, active, np.float32),
                "color": zero_inactive(color, active, np.uint8),
            },
        )
