"""``tetris-v1``: the Tetrominoes set of IODINE (Greff et al. 2019; DeepMind multi_object_datasets).

35x35 RGB images of 3 tetrominoes on black. A piece is one of the 19 fixed tetrominoes (rotations
counted, ids as in the DeepMind files where they were observed), made of 5x5 px blocks with a
bevel: top edge 255, right 191, interior 159, left 127, bottom 63, corners the mean of their two
edges (TL 191, TR 223, BL 95, BR 127), times the piece's colour, one of red, green, blue, yellow,
magenta, cyan. Pieces never overlap (they may touch); positions are arbitrary integers.

Pieces are placed in slot order. For slot ``o``, attempt ``a`` draws shape, row and column on
streams 4(o*MAX_ATTEMPTS + a) + 0, 1, 2 and is rejected if it covers an earlier piece; colours
use streams COLOR_STREAM + o. Factors: ``shape`` (N,O) id 1..19; ``position`` (N,O,2) int16
(row, col) of the bounding box's top-left pixel; ``color`` (N,O,3) uint8 RGB, 0 or 255.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from groupbench.format import Batch, FactorSpec, SplitLayout
from groupbench.generators.base import Generator, compose, param, parse_pattern, template_sizes
from groupbench.seeding import CounterRandom

PIECES = [
    ["1111"],  # 1  I horizontal (inferred)
    ["1", "1", "1", "1"],  # 2  I vertical
    ["111", "100"],  # 3
    ["100", "111"],  # 4  (inferred)
    ["001", "111"],  # 5
    ["111", "001"],  # 6
    ["11", "01", "01"],  # 7
    ["01", "01", "11"],  # 8  (inferred)
    ["11", "10", "10"],  # 9
    ["10", "10", "11"],  # 10
    ["110", "011"],  # 11 Z
    ["011", "110"],  # 12 S
    ["01", "11", "10"],  # 13
    ["10", "11", "01"],  # 14
    ["010", "111"],  # 15 T
    ["111", "010"],  # 16 T
    ["01", "11", "01"],  # 17 T
    ["10", "11", "10"],  # 18 T
    ["11", "11"],  # 19 O
]
"""Block patterns of shape ids 1..19, rows top to bottom."""

BLOCK = 5
BEVEL = np.array(
    [
        [191, 255, 255, 255, 223],
        [127, 159, 159, 159, 191],
        [127, 159, 159, 159, 191],
        [127, 159, 159, 159, 191],
        [95, 63, 63, 63, 127],
    ],
    np.uint8,
)
"""Intensity of each pixel of a 5x5 block, before multiplying by the 0/1 colour channels."""

COLORS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1]], np.uint8)
"""red, green, blue, yellow, magenta, cyan."""

MAX_ATTEMPTS = 4096
COLOR_STREAM = 1 << 24

_BLOCK_PATTERNS = [parse_pattern(rows) for rows in PIECES]
_PIXEL_MASKS = [np.kron(p, np.ones((BLOCK, BLOCK), bool)) for p in _BLOCK_PATTERNS]
SIZES = template_sizes(_PIXEL_MASKS)
OFFSETS = np.stack([np.argwhere(m) for m in _PIXEL_MASKS])
"""(19, 100, 2) (row, col) of each of a piece's 100 pixels within its bounding box."""
SHADES = np.stack([np.kron(p, BEVEL)[m] for p, m in zip(_BLOCK_PATTERNS, _PIXEL_MASKS)])
"""(19, 100) bevel intensity of each pixel of each piece, in the order of OFFSETS."""


@dataclass(frozen=True)
class TetrisParams:
    num_objects: int = param(3, "pieces per image")
    size: int = param(35, "height and width of the canvas in pixels")

    def __post_init__(self):
        if not 1 <= self.num_objects <= 8:
            raise ValueError(f"num_objects must lie in 1..8, got {self.num_objects}")
        if not 20 <= self.size <= 1024 or self.size * self.size < 200 * self.num_objects:
            raise ValueError(f"size {self.size} leaves too little room for {self.num_objects} pieces (20..1024)")


class TetrisGenerator(Generator):
    Params = TetrisParams

    def layout(self, split: str) -> SplitLayout:
        return SplitLayout(
            image_shape=(self.params.size, self.params.size, 3),
            max_objects=self.params.num_objects,
            factors={
                "shape": FactorSpec("u1", doc="tetromino id 1..19"),
                "position": FactorSpec("<i2", (2,), doc="(row, col) of the bounding box's top-left pixel"),
                "color": FactorSpec("u1", (3,), doc="RGB, each 0 or 255"),
            },
        )

    def generate(self, rng: CounterRandom, split: str, index: np.ndarray) -> Batch:
        size, num = self.params.size, self.params.num_objects
        batch = len(index)
        kind = np.zeros((batch, num), np.int64)
        position = np.zeros((batch, num, 2), np.int64)
        occupied = np.zeros((batch, size, size), bool)
        for slot in range(num):
            pending = np.arange(batch)
            for attempt in range(MAX_ATTEMPTS):
                if not pending.size:
                    break
                stream = 4 * (slot * MAX_ATTEMPTS + attempt)
                k = rng.integers(index[pending], stream, len(PIECES))
                top = rng.integers(index[pending], stream + 1, size - SIZES[k, 0] + 1)
                left = rng.integers(index[pending], stream + 2, size - SIZES[k, 1] + 1)
                rows = top[:, None] + OFFSETS[k, :, 0]
                cols = left[:, None] + OFFSETS[k, :, 1]
                clash = occupied[pending[:, None], rows, cols].any(axis=1)
                placed = pending[~clash]
                occupied[placed[:, None], rows[~clash], cols[~clash]] = True
                kind[placed, slot] = k[~clash]
                position[placed, slot] = np.stack([top, left], -1)[~clash]
                pending = pending[clash]
            else:
                raise RuntimeError(f"no free place for piece {slot} after {MAX_ATTEMPTS} attempts")
        color = COLORS[rng.integers(index[:, None], COLOR_STREAM + np.arange(num), len(COLORS))]
        b, o = np.indices((batch, num))
        rows = position[..., 0, None] + OFFSETS[kind, :, 0]
        cols = position[..., 1, None] + OFFSETS[kind, :, 1]
        masks = np.zeros((batch, num, size, size), bool)
        masks[b[..., None], o[..., None], rows, cols] = True
        images = np.zeros((batch, size, size, 3), np.uint8)
        images[b[..., None], rows, cols] = SHADES[kind][..., None] * color[:, :, None, :]
        labels, overlap = compose(masks)
        return Batch(
            images=images,
            labels=labels,
            overlap=overlap,
            masks=masks,
            num_objects=np.full(batch, num, np.uint8),
            factors={"shape": (kind + 1).astype(np.uint8), "position": position.astype(np.int16), "color": color * 255},
        )
