"""``bars-v1``: the Bars set of Reconstruction Clustering (Greff et al. 2016; after Foldiak 1990 and Reichert & Serre 2014).

20x20 binary images of 6 vertical and 6 horizontal bars, each 1 px wide and spanning the whole
image. The vertical bars sit at 6 distinct columns and the horizontal bars at 6 distinct rows,
drawn without replacement, so every image has exactly 12 objects, 6*20 + 6*20 - 36 = 204
foreground pixels and 36 overlap pixels (every crossing), and each bar has 14 pixels of its own.
Objects 1..6 are the vertical bars in the order drawn, 7..12 the horizontal bars (as in the RC
code); a horizontal bar is drawn over the vertical ones, so crossings carry its label and are
flagged in ``overlap`` (the RC files label them 0, as does ``groupbench export``).

The ``single`` split holds one bar per image: vertical or horizontal with probability 1/2, at a
uniform column or row (the RC file had 100 of each, shuffled).

Draws per sample: the columns are the first 6 entries of a Fisher-Yates shuffle of 0..19 whose
k-th swap partner comes from stream k; the rows likewise from streams 64 + k. ``single`` uses
stream 0 (orientation) and stream 1 (column or row).
Factors: ``orientation`` (N,O) 0 vertical, 1 horizontal; ``position`` (N,O) int16, the bar's
column (vertical) or row (horizontal).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from groupbench.format import Batch, FactorSpec, SplitLayout
from groupbench.generators.base import Generator, binary_batch, param
from groupbench.seeding import CounterRandom

ROW_STREAM = 64
"""Streams of the row shuffle start here (columns use 0, 1, ...)."""


def partial_shuffle(rng: CounterRandom, index: np.ndarray, stream: int, n: int, k: int) -> np.ndarray:
    """(B, k) int64: the first ``k`` entries of a uniform Fisher-Yates shuffle of 0..n-1 per sample.

    Swap ``j`` exchanges entry j with entry j + u, u uniform in [0, n - j), drawn from stream
    ``stream + j``: k distinct values, every ordered k-subset equally likely (up to the 2**-32
    bias of `CounterRandom.integers`).
    """
    perm = np.broadcast_to(np.arange(n, dtype=np.int64), (len(index), n)).copy()
    rows = np.arange(len(index))
    for j in range(k):
        other = j + rng.integers(index, stream + j, n - j)
        picked = perm[rows, other]
        perm[rows, other] = perm[:, j]
        perm[:, j] = picked
    return perm[:, :k]


@dataclass(frozen=True)
class BarsParams:
    size: int = param(20, "height and width of the image in pixels")
    vertical: int = param(6, "vertical bars per image (distinct columns)")
    horizontal: int = param(6, "horizontal bars per image (distinct rows)")

    def __post_init__(self):
        if not 2 <= self.size <= 255:
            raise ValueError(f"size must lie in 2..255, got {self.size}")
        for name in ("vertical", "horizontal"):
            if not 0 <= getattr(self, name) <= self.size:
                raise ValueError(f"{name} must lie in 0..size ({self.size}), got {getattr(self, name)}")
        if self.vertical + self.horizontal < 1:
            raise ValueError("an image needs at least one bar")


class BarsGenerator(Generator):
    Params = BarsParams

    def num_objects(self, split: str) -> int:
        return 1 if split == "single" else self.params.vertical + self.params.horizontal

    def layout(self, split: str) -> SplitLayout:
        return SplitLayout(
            image_shape=(self.params.size, self.params.size, 1),
            max_objects=self.num_objects(split),
            factors={
                "orientation": FactorSpec("u1", doc="0 vertical, 1 horizontal"),
                "position": FactorSpec("<i2", doc="column of a vertical bar, row of a horizontal one"),
            },
        )

    def generate(self, rng: CounterRandom, split: str, index: np.ndarray) -> Batch:
        size, p = self.params.size, self.params
        if split == "single":
            orientation = rng.integers(index, 0, 2)[:, None]
            position = rng.integers(index, 1, size)[:, None]
        else:
            columns = partial_shuffle(rng, index, 0, size, p.vertical)
            rows = partial_shuffle(rng, index, ROW_STREAM, size, p.horizontal)
            position = np.concatenate([columns, rows], axis=1)
            orientation = np.repeat(np.array([[0] * p.vertical + [1] * p.horizontal]), len(index), axis=0)
        line = np.arange(size)
        hit = line[None, None, :] == position[:, :, None]  # (B, O, size): the bar's column or row
        vertical = (orientation == 0)[:, :, None, None]
        masks = np.where(vertical, hit[:, :, None, :], hit[:, :, :, None])
        return binary_batch(masks, {"orientation": orientation.astype(np.uint8), "position": position.astype(np.int16)})
