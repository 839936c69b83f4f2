"""``shapes-v1``: the Shapes set of Reconstruction Clustering and N-EM (after Reichert & Serre 2014).

28x28 binary images of 3 shapes drawn with replacement from {7x7 hollow square, 7x12 triangle,
the triangle flipped vertically}. Each shape sits at a uniform integer position with the whole
template inside the canvas; shapes may overlap, a later shape on top of an earlier one (labels).
The ``single`` split holds one shape per image (the RC autoencoders train on it).

Draws per sample and slot ``o``: stream 3o = template, 3o+1 = column, 3o+2 = row (the original
drew type, x, y in that order). Factors: ``shape`` (N,O) 1 square, 2 triangle, 3 inverted
triangle; ``position`` (N,O,2) int16 (row, col) of the template's top-left pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from groupbench.format import Batch, FactorSpec, SplitLayout
from groupbench.generators.base import Generator, binary_batch, param, parse_pattern, placement_table, template_sizes
from groupbench.seeding import CounterRandom

SQUARE = parse_pattern(["#######", "#######", "##...##", "##...##", "##...##", "#######", "#######"])
TRIANGLE = parse_pattern(
    [
        ".....##.....",
        "....####....",
        "...######...",
        "..###..###..",
        ".###....###.",
        "############",
        "############",
    ]
)
TEMPLATES = [SQUARE, TRIANGLE, TRIANGLE[::-1]]
"""Shape codes 1, 2, 3 index this list from 1."""
SIZES = template_sizes(TEMPLATES)


@dataclass(frozen=True)
class ShapesParams:
    num_objects: int = param(3, "shapes per image in train, valid and test (single has 1)")
    size: int = param(28, "height and width of the canvas in pixels")

    def __post_init__(self):
        if not 1 <= self.num_objects <= 255:
            raise ValueError(f"num_objects must lie in 1..255, got {self.num_objects}")
        if not 12 <= self.size <= 64:
            raise ValueError(f"size must lie in 12..64 so that every template fits, got {self.size}")


class ShapesGenerator(Generator):
    Params = ShapesParams

    def __init__(self, params: ShapesParams):
        super().__init__(params)
        self.placements = placement_table(TEMPLATES, params.size)

    def num_objects(self, split: str) -> int:
        return 1 if split == "single" else self.params.num_objects

    def layout(self, split: str) -> SplitLayout:
        return SplitLayout(
            image_shape=(self.params.size, self.params.size, 1),
            max_objects=self.num_objects(split),
            factors={
                "shape": FactorSpec("u1", doc="1 square, 2 triangle, 3 inverted triangle"),
                "position": FactorSpec("<i2", (2,), doc="(row, col) of the template's top-left pixel"),
            },
        )

    def generate(self, rng: CounterRandom, split: str, index: np.ndarray) -> Batch:
        size, slots = self.params.size, np.arange(self.num_objects(split))
        sample = index[:, None]
        kind = rng.integers(sample, 3 * slots, len(TEMPLATES))
        left = rng.integers(sample, 3 * slots + 1, size - SIZES[kind, 1] + 1)
        top = rng.integers(sample, 3 * slots + 2, size - SIZES[kind, 0] + 1)
        masks = self.placements[kind, top, left]
        return binary_batch(
            masks, {"shape": (kind + 1).astype(np.uint8), "position": np.stack([top, left], -1).astype(np.int16)}
        )
