"""The motion model of the flying datasets, shared by every family: trajectories and drawing.

An object is a rigid template cropped to its bounding box (h x w px) on a size x size canvas. Its
position is the box's top-left corner (row, col), a sub-pixel value on a grid of 2^-16 px,
confined to [0, size - h] x [0, size - w] (the object's *room*), so the whole object stays inside
the canvas in every frame.

Distribution, per object (streams ``base + 0..3``, see `STREAMS`):

- start: row and column uniform over the room on the 2^-16 grid (streams base + 0, base + 1);
- direction theta uniform over `DIRECTIONS` = 4,096 angles 2 pi k / 4096, counter-clockwise
  from rightwards as seen on screen (stream base + 2);
- speed uniform over [min_speed, max_speed] px/frame on a grid of 1/256 px/frame (stream
  base + 3), both ends included;
- velocity (row, col) = speed * (-sin theta, cos theta), each component truncated toward zero to
  the 2^-16 grid, so |velocity| <= speed, and less than 2^-15 px/frame below it.

Dynamics: constant velocity with elastic reflection at the walls and no interaction between
objects (they pass over one another, the later slot on top). Per axis, with room R and start p0,
position(t) = fold(p0 + v t), where fold reflects into [0, R] (period 2R): a bounce flips the sign
of that velocity component and keeps its size, and every frame-to-frame displacement is at most
the velocity in each axis, hence at most the speed. ``velocity[t]`` is the velocity an object
leaves frame t with: at a wall it points away from that wall. A room of 0 px holds the object
still on that axis.

Drawing rounds each position to the pixel grid: the template's top-left pixel is
floor(position + 1/2) on each axis (round half up), in [0, R].

Determinism: positions and velocities are int64 in units of 2^-16 px. The only float operation is
the product speed x cos (or sin) of the direction, one correctly rounded multiplication each, with
cosines and sines from `multi_dsprites.ROTATION` (computed with integer arithmetic at import);
everything after is integer arithmetic, so every machine computes identical trajectories.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from groupbench.format import FactorSpec
from groupbench.generators.base import compose
from groupbench.generators.multi_dsprites import ORIENTATIONS, ROTATION
from groupbench.seeding import CounterRandom

SUBPIXEL = 1 << 16
"""Positions and velocities are integers in units of 1 / SUBPIXEL px."""
SPEED_GRID = 256
"""Speeds are drawn in steps of 1 / SPEED_GRID px/frame."""
DIRECTIONS = ORIENTATIONS
"""Directions of motion in a full turn (4,096): the rotation table of multi-dSprites."""
STREAMS = 4
"""Streams an object's motion uses, from its base: start row, start column, direction, speed."""


@dataclass
class Trajectories:
    """Motion of B samples x O objects over T frames (integers, units of 2^-16 px).

    position (B,T,O,2) and velocity (B,T,O,2): (row, col) per frame; speed (B,O) in 1/256
    px/frame; pixel (B,T,O,2): the drawn top-left pixel, floor(position + 1/2).
    """

    position: np.ndarray
    velocity: np.ndarray
    speed: np.ndarray

    @property
    def pixel(self) -> np.ndarray:
        return (self.position + SUBPIXEL // 2) // SUBPIXEL

    def factors(self, active: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """``position``, ``velocity`` (B,T,O,2) and ``speed`` (B,O) as float32 px (exact values);
        slots where ``active`` (B,O) is False are 0."""
        keep = np.ones(self.speed.shape, bool) if active is None else active
        frame_keep = keep[:, None, :, None]
        return {
            "position": np.where(frame_keep, self.position / SUBPIXEL, 0).astype(np.float32),
            "velocity": np.where(frame_keep, self.velocity / SUBPIXEL, 0).astype(np.float32),
            "speed": np.where(keep, self.speed / SPEED_GRID, 0).astype(np.float32),
        }


def factor_specs() -> dict[str, FactorSpec]:
    """The factors `Trajectories.factors` writes, for a generator's layout."""
    return {
        "position": FactorSpec(
            "<f4", (2,), per_frame=True,
            doc="(row, col) of the object's box top-left in px, sub-pixel (multiples of 2^-16); drawn at floor(position + 1/2)",
        ),
        "velocity": FactorSpec(
            "<f4", (2,), per_frame=True,
            doc="(row, col) px/frame the object leaves the frame with; a bounce flips the sign of one component",
        ),
        "speed": FactorSpec("<f4", doc="the sampled speed in px/frame (multiple of 1/256); |velocity| <= speed"),
    }


def bounce(start: np.ndarray, velocity: np.ndarray, room: np.ndarray, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions and velocities over ``frames`` frames, with elastic reflection at 0 and ``room``.

    start, velocity and room (..., 2) int64 in units of 2^-16 px (start within [0, room]).
    Returns position and velocity (T, ..., 2) int64: position(t) = fold(start + velocity t), the
    velocity pointing away from a wall the object touches.
    """
    t = np.arange(frames, dtype=np.int64).reshape(frames, *[1] * start.ndim)
    period = np.maximum(2 * room, 1)
    unfolded = start + velocity * t
    phase = np.mod(unfolded, period)  # in [0, 2 room)
    position = np.where(phase <= room, phase, period - phase)
    magnitude = np.abs(velocity)
    moving = np.where(
        phase == 0, magnitude,  # on the low wall: leaving it
        np.where(phase < room, velocity, np.where(phase == room, -magnitude, -velocity)),
    )
    moving = np.where(room == 0, 0, moving)
    position = np.where(room == 0, 0, position)
    return position, moving


@dataclass(frozen=True)
class Motion:
    """The motion model with its speed range (px/frame, multiples of 1/256) and sequence length."""

    frames: int
    min_speed: float
    max_speed: float

    def __post_init__(self):
        low, high = self.min_speed * SPEED_GRID, self.max_speed * SPEED_GRID
        if low != int(low) or high != int(high) or not 0 < low <= high:
            raise ValueError(f"speeds must be multiples of 1/{SPEED_GRID} with 0 < min <= max, got {self.min_speed}, {self.max_speed}")
        if self.frames < 1:
            raise ValueError(f"frames must be >= 1, got {self.frames}")

    def sample(self, rng: CounterRandom, index: np.ndarray, base: np.ndarray, room: np.ndarray) -> Trajectories:
        """Trajectories of objects with streams ``base`` (O,) in samples ``index`` (B,).

        room (B,O,2) int64: (rows, cols) of free space, size minus the object's box, in px.
        """
        sample = index[:, None]
        room = np.asarray(room, np.int64) * SUBPIXEL
        start = np.stack([rng.integers(sample, base + 0, room[..., 0] + 1), rng.integers(sample, base + 1, room[..., 1] + 1)], -1)
        turn = rng.integers(sample, base + 2, DIRECTIONS)
        low, high = round(self.min_speed * SPEED_GRID), round(self.max_speed * SPEED_GRID)
        speed = low + rng.integers(sample, base + 3, high - low + 1)
        fixed = (speed * (SUBPIXEL // SPEED_GRID)).astype(np.float64)
        cos, sin = ROTATION[turn, 0], ROTATION[turn, 1]
        velocity = np.stack([np.trunc(-fixed * sin), np.trunc(fixed * cos)], -1).astype(np.int64)
        # |velocity| <= speed exactly, in integers (guards against a product rounded up to an integer)
        limit = (speed * (SUBPIXEL // SPEED_GRID)) ** 2
        over = (velocity**2).sum(-1) > limit
        bigger = np.abs(velocity[..., 0]) < np.abs(velocity[..., 1])
        velocity[..., 1] -= np.where(over & bigger, np.sign(velocity[..., 1]), 0)
        velocity[..., 0] -= np.where(over & ~bigger, np.sign(velocity[..., 0]), 0)
        position, moving = bounce(start, velocity, room, self.frames)
        return Trajectories(np.moveaxis(position, 0, 1), np.moveaxis(moving, 0, 1), speed)


def crop_to_box(templates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Templates (n,h,w) moved to the top-left corner of their frame, and their box sizes.

    The box is that of the non-zero pixels. Returns (n,h,w) (the box at the top-left, zero
    elsewhere) and (n,2) int64 (height, width); an empty template has a 1x1 box.
    """
    n, h, w = templates.shape
    on = templates != 0
    rows, cols = on.any(axis=2), on.any(axis=1)
    top = np.where(rows.any(axis=1), rows.argmax(axis=1), 0)
    left = np.where(cols.any(axis=1), cols.argmax(axis=1), 0)
    bottom = np.where(rows.any(axis=1), h - rows[:, ::-1].argmax(axis=1), 1)
    right = np.where(cols.any(axis=1), w - cols[:, ::-1].argmax(axis=1), 1)
    r, c = np.arange(h), np.arange(w)
    src_r = np.minimum(top[:, None] + r, h - 1)
    src_c = np.minimum(left[:, None] + c, w - 1)
    moved = templates[np.arange(n)[:, None, None], src_r[:, :, None], src_c[:, None, :]]
    size = np.stack([bottom - top, right - left], axis=1).astype(np.int64)
    inside = (r[None, :, None] < size[:, 0, None, None]) & (c[None, None, :] < size[:, 1, None, None])
    return np.where(inside, moved, 0).astype(templates.dtype), size


def paste(templates: np.ndarray, pixel: np.ndarray, size: int) -> np.ndarray:
    """Each object's template at its top-left pixel in every frame.

    templates (B,O,h,w) of any dtype (zero off the object), pixel (B,T,O,2) int64 (row, col) with
    the object's box inside the canvas. Returns (B,T,O,size,size).
    """
    b_count, objects, h, w = templates.shape
    frames = pixel.shape[1]
    canvas = np.zeros((b_count, frames, objects, size + h, size + w), templates.dtype)
    b = np.arange(b_count)[:, None, None, None, None]
    t = np.arange(frames)[None, :, None, None, None]
    o = np.arange(objects)[None, None, :, None, None]
    rows = (pixel[..., 0, None] + np.arange(h))[..., :, None]
    cols = (pixel[..., 1, None] + np.arange(w))[..., None, :]
    canvas[b, t, o, rows, cols] = templates[:, None]
    return np.ascontiguousarray(canvas[..., :size, :size])


def compose_frames(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`base.compose` over every frame: masks (B,T,O,H,W) -> labels, overlap (B,T,H,W)."""
    b, t, o, h, w = masks.shape
    labels, overlap = compose(masks.reshape(b * t, o, h, w))
    return labels.reshape(b, t, h, w), overlap.reshape(b, t, h, w)
