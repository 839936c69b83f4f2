"""``corners-v1``: the Corners set of Reconstruction Clustering (Greff et al. 2016; after Reichert & Serre 2014).

28x28 binary images of 8 corner pieces. A corner piece is a 5x5 L whose two arms are 2 px thick
and 5 px long (16 px), in one of 4 orientations: 0 as drawn below, 1 flipped vertically (rows
reversed), 2 flipped horizontally (columns reversed), 3 both::

    #####
    #####
    ##...
    ##...
    ##...

Four of the pieces form one object, the *square*: a 20x20 frame with a piece in each corner, its
elbow at the frame's corner (top-left orientation 0, bottom-left 1, top-right 2, bottom-right 3),
10 px gaps between them; it shows that an object need not be connected. The other 4 pieces are
free, each at a uniform position and orientation. 5 objects: the square is object 1, the free
corners 2..5 in the order drawn, each drawn over the ones before. Positions are uniform integers
with the whole piece inside the image: the square's top-left pixel in [0, 8]^2, a corner's in
[0, 23]^2, as in the RC code.

The ``single`` split holds one object per image: a lone square or a lone corner piece with
probability 1/2 each (the RC file had 2,500 of each, shuffled), placed by the same rules.

Draws per sample: square column stream 0, row stream 1; free corner k (0..3): column 2 + 3k,
row 3 + 3k, orientation 4 + 3k (the RC code's order: x, y, orientation). ``single``: stream 0
chooses square or corner, 1 column, 2 row, 3 orientation.
Factors: ``shape`` (N,O) 1 square, 2 corner piece; ``orientation`` (N,O) 0..3 for a corner
piece, 0 for the square; ``position`` (N,O,2) int16 (row, col) of the top-left pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from groupbench.format import Batch, FactorSpec, SplitLayout
from groupbench.generators.base import Generator, binary_batch, param, parse_pattern, placement_table, template_sizes
from groupbench.seeding import CounterRandom

CORNER = parse_pattern(["#####", "#####", "##...", "##...", "##..."])
ORIENTED = [CORNER, CORNER[::-1], CORNER[:, ::-1], CORNER[::-1, ::-1]]
"""The corner piece in orientations 0 (as drawn), 1 (vertical flip), 2 (horizontal flip), 3 (both)."""

SQUARE_SIZE = 20


def square_template() -> np.ndarray:
    """The 20x20 square object: a corner piece at each corner, elbows outward."""
    square = np.zeros((SQUARE_SIZE, SQUARE_SIZE), bool)
    far = SQUARE_SIZE - 5
    square[:5, :5] = ORIENTED[0]
    square[far:, :5] = ORIENTED[1]
    square[:5, far:] = ORIENTED[2]
    square[far:, far:] = ORIENTED[3]
    return square


TEMPLATES = [square_template(), *ORIENTED]
"""Template 0 is the square, 1 + o the corner piece in orientation o."""
SIZES = template_sizes(TEMPLATES)


@dataclass(frozen=True)
class CornersParams:
    free_corners: int = param(4, "free corner pieces per image besides the square")
    size: int = param(28, "height and width of the image in pixels")

    def __post_init__(self):
        if not 0 <= self.free_corners <= 254:
            raise ValueError(f"free_corners must lie in 0..254, got {self.free_corners}")
        if not SQUARE_SIZE <= self.size <= 48:
            raise ValueError(f"size must lie in {SQUARE_SIZE}..48 so that the square fits, got {self.size}")


class CornersGenerator(Generator):
    Params = CornersParams

    def __init__(self, params: CornersParams):
        super().__init__(params)
        self.placements = placement_table(TEMPLATES, params.size)

    def num_objects(self, split: str) -> int:
        return 1 if split == "single" else 1 + self.params.free_corners

    def layout(self, split: str) -> SplitLayout:
        return SplitLayout(
            image_shape=(self.params.size, self.params.size, 1),
            max_objects=self.num_objects(split),
            factors={
                "shape": FactorSpec("u1", doc="1 square (four aligned corners), 2 corner piece"),
                "orientation": FactorSpec(
                    "u1", doc="corner piece: 0 as drawn, 1 vertical flip, 2 horizontal flip, 3 both; square: 0"
                ),
                "position": FactorSpec("<i2", (2,), doc="(row, col) of the top-left pixel"),
            },
        )

    def generate(self, rng: CounterRandom, split: str, index: np.ndarray) -> Batch:
        size = self.params.size
        sample = index[:, None]
        if split == "single":
            is_corner = rng.integers(sample, 0, 2)
            orientation = rng.integers(sample, 3, 4) * is_corner
            template = np.where(is_corner == 1, 1 + orientation, 0)
            left = rng.integers(sample, 1, size - SIZES[template, 1] + 1)
            top = rng.integers(sample, 2, size - SIZES[template, 0] + 1)
        else:
            k = np.arange(self.params.free_corners)
            square_left = rng.integers(sample, 0, size - SQUARE_SIZE + 1)
            square_top = rng.integers(sample, 1, size - SQUARE_SIZE + 1)
            corner_left = rng.integers(sample, 2 + 3 * k, size - 5 + 1)
            corner_top = rng.integers(sample, 3 + 3 * k, size - 5 + 1)
            corner_orientation = rng.integers(sample, 4 + 3 * k, 4)
            left = np.concatenate([square_left, corner_left], axis=1)
            top = np.concatenate([square_top, corner_top], axis=1)
            orientation = np.concatenate([np.zeros_like(square_left), corner_orientation], axis=1)
            template = np.concatenate([np.zeros_like(square_left), 1 + corner_orientation], axis=1)
        masks = self.placements[template, top, left]
        return binary_batch(
            masks,
            {
                "shape": np.where(template == 0, 1, 2).astype(np.uint8),
                "orientation": orientation.astype(np.uint8),
                "position": np.stack([top, left], -1).astype(np.int16),
            },
        )
