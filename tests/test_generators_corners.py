"""corners-v1 against its spec (RC code, original-code.md A.2)."""

import numpy as np
import pytest

from groupbench.data import SplitReader
from groupbench.generators.corners import CORNER, ORIENTED, square_template


@pytest.fixture(scope="module")
def corners(small_file):
    return small_file("corners-v1")


def test_templates():
    assert CORNER.sum() == 16 and CORNER.shape == (5, 5)
    assert CORNER[:2].all() and CORNER[:, :2].all() and not CORNER[2:, 2:].any()
    assert (ORIENTED[1] == CORNER[::-1]).all() and (ORIENTED[2] == CORNER[:, ::-1]).all()
    square = square_template()
    assert square.shape == (20, 20) and square.sum() == 64
    assert (square[:5, :5] == CORNER).all() and (square[15:, 15:] == CORNER[::-1, ::-1]).all()
    assert not square[5:15].any() and not square[:, 5:15].any()  # 10 px gaps between the pieces
    for corner in ((0, 0), (0, 19), (19, 0), (19, 19)):  # elbows at the frame corners
        assert square[corner]


def placed(template, top, left, size=28):
    canvas = np.zeros((size, size), bool)
    h, w = template.shape
    canvas[top : top + h, left : left + w] = template
    return canvas


@pytest.mark.parametrize("split", ["train", "valid", "test"])
def test_one_square_and_four_free_corners(corners, split):
    with SplitReader(corners, split) as reader:
        s = reader[:]
    masks, shape, orientation, position = s["masks"], s["factors/shape"], s["factors/orientation"], s["factors/position"]
    assert masks.shape[1:] == (5, 28, 28) and (s["num_objects"] == 5).all()
    assert (shape[:, 0] == 1).all() and (shape[:, 1:] == 2).all() and (orientation[:, 0] == 0).all()
    assert (masks[:, 0].sum(axis=(1, 2)) == 64).all() and (masks[:, 1:].sum(axis=(2, 3)) == 16).all()
    assert position[:, 0].min() == 0 and position[:, 0].max() == 8
    assert position[:, 1:].min() == 0 and position[:, 1:].max() == 23
    for b in range(len(masks)):
        assert (masks[b, 0] == placed(square_template(), *position[b, 0])).all()
        for k in range(1, 5):
            assert (masks[b, k] == placed(ORIENTED[orientation[b, k]], *position[b, k])).all()
    # labels: the later object on top; overlap = covered twice or more
    count = masks.sum(axis=1)
    assert ((count >= 2) == s["overlap"]).all()
    top = np.where(count > 0, 5 - np.argmax(masks[:, ::-1], axis=1), 0)
    assert (top == s["labels"]).all()
    assert set(np.unique(s["images"])) == {0, 255}


def test_orientations_and_positions_are_uniform(corners):
    with SplitReader(corners, "train") as reader:
        s = reader[:]
    counts = np.bincount(s["factors/orientation"][:, 1:].ravel(), minlength=4)
    assert counts.min() > 0.8 * 300 and counts.max() < 1.2 * 300  # 1,200 corners, 4 orientations
    square = np.bincount(s["factors/position"][:, 0].ravel(), minlength=9)
    assert square.min() > 0.5 * 600 / 9


def test_overlap_is_common(corners):
    with SplitReader(corners, "test") as reader:
        overlap = reader[:]["overlap"]
    share = overlap.any(axis=(1, 2)).mean()
    assert 0.75 < share < 0.97  # about 88% in the RC data (original-code.md)


def test_single_split(corners):
    with SplitReader(corners, "single") as reader:
        s = reader[:]
    shape = s["factors/shape"][:, 0]
    assert set(np.unique(shape)) == {1, 2} and 25 < (shape == 1).sum() < 75
    pixels = s["masks"][:, 0].sum(axis=(1, 2))
    assert (pixels == np.where(shape == 1, 64, 16)).all()
    assert not s["overlap"].any() and (s["labels"] <= 1).all()
