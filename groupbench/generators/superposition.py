"""``superposition-v1``: Simple Superposition (Rao, Cecchi, Peck & Kozloski 2008), as in Reconstruction Clustering.

16 fixed 8x8 binary patterns (`PATTERNS`, as in the RC code, pixel counts 18, 20, 15, 16, 6, 6,
6, 6, 11, 7, 8, 9, 10, 17, 9, 8). The ``test`` split holds all 120 unordered pairs (i, j), i < j,
in lexicographic order: (1, 2), (1, 3), ..., (1, 16), (2, 3), ..., (15, 16). Its image is the OR
of the two patterns, pattern i is object 1 and pattern j object 2, drawn on top (the RC file
labels overlap pixels 0; here they carry label 2 and are flagged in ``overlap``). The ``single``
split holds the 16 patterns, pattern k as sample k - 1. No translation and no randomness: the
contents do not depend on the seed. A split asked for more samples than exist (120 and 16) is
refused.

Factors: ``pattern`` (N,O) the pattern number 1..16.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from groupbench.errors import GroupbenchError
from groupbench.format import Batch, FactorSpec, SplitLayout
from groupbench.generators.base import Generator, binary_batch, parse_pattern
from groupbench.seeding import CounterRandom

PATTERN_ROWS = [
    "........ .######. .#....#. .#....#. .#....#. .######. ........ ........",
    "........ .....##. ....###. ...##.#. ..##..#. .##...#. .######. ........",
    "...#.... ...#.... ...#.... ######## ...#.... ...#.... ...#.... ...#....",
    "...##... ..#..#.. .#....#. #......# #......# .#....#. ..#..#.. ...##...",
    "........ .#...... .#...... .#...... .#...... .#...... .#...... ........",
    "........ .######. ........ ........ ........ ........ ........ ........",
    "........ ......#. ......#. ......#. ......#. ......#. ......#. ........",
    "........ ........ ........ ........ ........ ........ .######. ........",
    "........ .#...... .##..... ..###... ....##.. .....##. ......#. ........",
    "........ ......#. .....#.. ....#... ...#.... ..#..... .#...... #.......",
    "...#.... ...#.... ...#.... ...#.... ####.... ........ ........ ........",
    "........ ........ .....### .....#.. .....#.. .....##. ......## ........",
    "........ ........ ........ ...##... ..#..#.. .#....#. .#....#. ..#..#..",
    "....#... ..####.. ###..#.. #....### #......# #....... #....... ........",
    "........ ........ ........ ..#..... ..#..... .######. .....#.. ........",
    ".#...... .#...... ####.... .#...... .#...... ........ ........ ........",
]
"""Pattern k (1-based) is line k - 1: its 8 rows top to bottom, left to right."""

PATTERNS = np.stack([parse_pattern(line.split()) for line in PATTERN_ROWS])
"""(16, 8, 8) bool."""

PAIRS = np.array(list(combinations(range(len(PATTERNS)), 2)), np.int64)
"""(120, 2) 0-based pattern indices of the test pairs, lexicographic."""


@dataclass(frozen=True)
class SuperpositionParams:
    """No parameters: the dataset is fixed."""


class SuperpositionGenerator(Generator):
    Params = SuperpositionParams

    def layout(self, split: str) -> SplitLayout:
        return SplitLayout(
            image_shape=(8, 8, 1),
            max_objects=1 if split == "single" else 2,
            factors={"pattern": FactorSpec("u1", doc="pattern number 1..16")},
        )

    def generate(self, rng: CounterRandom, split: str, index: np.ndarray) -> Batch:
        table = PATTERNS.shape[0] if split == "single" else len(PAIRS)
        if split not in ("single", "test"):
            raise GroupbenchError(f"superposition-v1 has only the 'test' and 'single' splits, not {split!r}")
        if len(index) and index.max() >= table:
            raise GroupbenchError(f"superposition-v1 '{split}' has exactly {table} samples; ask for at most {table}")
        chosen = index[:, None] if split == "single" else PAIRS[index]
        masks = PATTERNS[chosen]
        return binary_batch(masks, {"pattern": (chosen + 1).astype(np.uint8)})
