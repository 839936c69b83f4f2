"""What every generator is: parameters as a dataclass, a layout per split, and a pure `generate`.

A generator draws all randomness from the `CounterRandom` it is handed, addressed by sample
index, so a block of samples is a pure function of (dataset id, parameters, seed, split, indices).
To stay bit-identical across machines, code on the way to stored values uses integer arithmetic
and correctly rounded float operations (+ - * / sqrt) only, never libm transcendentals.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from groupbench.format import Batch, SplitLayout
from groupbench.seeding import CounterRandom


def param(default: Any, doc: str) -> Any:
    """A generator parameter with a one-line doc (shown by ``groupbench list -v``)."""
    return dataclasses.field(default=default, metadata={"doc": doc})


class Generator(ABC):
    """Base class of dataset generators. ``Params`` is a frozen dataclass of the parameters."""

    Params: ClassVar[type]

    def __init__(self, params):
        self.params = params

    @abstractmethod
    def layout(self, split: str) -> SplitLayout:
        """Shapes and dtypes of the arrays of ``split``."""

    @abstractmethod
    def generate(self, rng: CounterRandom, split: str, index: np.ndarray) -> Batch:
        """Samples ``index`` (B,) int64 of ``split``, drawn only through ``rng``."""


def template_sizes(templates: list[np.ndarray]) -> np.ndarray:
    """(K, 2) int64 (height, width) of each template."""
    return np.array([t.shape for t in templates], np.int64)


def placement_table(templates: list[np.ndarray], size: int) -> np.ndarray:
    """Every template at every position on a size x size canvas, for placement by one gather.

    Returns (K, size, size, size, size) bool: [k, top, left] is the canvas with template k's
    top-left pixel at (top, left); positions where it does not fit are left empty.
    """
    table = np.zeros((len(templates), size, size, size, size), bool)
    for k, template in enumerate(templates):
        h, w = template.shape
        for top in range(size - h + 1):
            for left in range(size - w + 1):
                table[k, top, left, top : top + h, left : left + w] = template
    return table


def compose(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels and overlap when later slots are drawn on top of earlier ones.

    masks (B,O,H,W) bool with O < 256 -> labels (B,H,W) uint8 (top-most slot + 1, 0 = background)
    and overlap (B,H,W) bool (two or more objects cover the pixel).
    """
    if masks.shape[1] >= 256:
        raise ValueError("compose handles fewer than 256 object slots")
    covered = masks.view(np.uint8)
    labels = np.zeros((masks.shape[0], *masks.shape[2:]), np.uint8)
    count = np.zeros_like(labels)
    for slot in range(masks.shape[1]):
        np.maximum(labels, covered[:, slot] * np.uint8(slot + 1), out=labels)
        np.minimum(count + covered[:, slot], 2, out=count)
    return labels, count >= 2


def zero_inactive(values: np.ndarray, active: np.ndarray, dtype: Any) -> np.ndarray:
    """Per-object factors (N,O,...) with the slots of absent objects zeroed; ``active`` (N,O) bool."""
    return np.where(active.reshape(*active.shape, *[1] * (values.ndim - 2)), values, 0).astype(dtype)


def binary_batch(masks: np.ndarray, factors: dict[str, np.ndarray]) -> Batch:
    """A batch of binary images (255 where any object is) from amodal masks, later slots on top.

    masks (B,O,H,W) bool, every slot used; factors name -> (B,O,...).
    """
    labels, overlap = compose(masks)
    return Batch(
        images=(np.minimum(labels, 1) * np.uint8(255))[..., None],
        labels=labels,
        overlap=overlap,
        masks=masks,
        num_objects=np.full(len(masks), masks.shape[1], np.uint8),
        factors=factors,
    )


def parse_pattern(rows: list[str]) -> np.ndarray:
    """A binary template from text rows, '#' (or '1') = on."""
    return np.array([[ch in "#1" for ch in row] for row in rows], dtype=bool)
