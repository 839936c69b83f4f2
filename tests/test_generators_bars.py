"""bars-v1 against its spec (RC code, original-code.md A.2)."""

import numpy as np
import pytest

from groupbench import registry
from groupbench.data import SplitReader
from groupbench.generators.bars import partial_shuffle
from groupbench.seeding import CounterRandom


@pytest.fixture(scope="module")
def bars(small_file):
    return small_file("bars-v1")


def test_spec_defaults():
    spec = registry.get("bars-v1")
    assert spec.image_size == (20, 20, 1) and spec.objects == "12"
    assert spec.splits["test"] == 10_000  # not the 60,000 of the RC bug


@pytest.mark.parametrize("split", ["train", "valid", "test"])
def test_every_image_has_12_bars_204_foreground_36_overlap(bars, split):
    with SplitReader(bars, split) as reader:
        s = reader[:]
    images, labels, overlap, masks = s["images"][..., 0], s["labels"], s["overlap"], s["masks"]
    n = len(images)
    assert set(np.unique(images)) == {0, 255}
    assert (s["num_objects"] == 12).all() and masks.shape[1] == 12
    assert ((images > 0).sum(axis=(1, 2)) == 204).all()
    assert (overlap.sum(axis=(1, 2)) == 36).all()
    scored = np.where(overlap, 0, labels)  # the RC files' groups: overlap -> 0
    assert ((scored > 0).sum(axis=(1, 2)) == 168).all()
    for k in range(1, 13):  # each bar keeps 14 pixels of its own, so exactly 12 groups
        assert ((scored == k).sum(axis=(1, 2)) == 14).all()
    # objects 1..6 vertical (full columns), 7..12 horizontal (full rows), at distinct places
    orientation, position = s["factors/orientation"], s["factors/position"]
    assert (orientation[:, :6] == 0).all() and (orientation[:, 6:] == 1).all()
    for b in range(n):
        cols, rows = position[b, :6], position[b, 6:]
        assert len(set(cols)) == 6 and len(set(rows)) == 6
        for k in range(6):
            expected = np.zeros((20, 20), bool)
            expected[:, cols[k]] = True
            assert (masks[b, k] == expected).all()
            expected = np.zeros((20, 20), bool)
            expected[rows[k], :] = True
            assert (masks[b, 6 + k] == expected).all()
        # crossings carry the horizontal bar's label (drawn last) and are flagged
        crossing = np.ix_(rows, cols)
        assert overlap[b][crossing].all()
        assert (labels[b][crossing] == (7 + np.arange(6))[:, None]).all()


def test_columns_and_rows_are_uniform(bars):
    with SplitReader(bars, "train") as reader:
        position = reader[:]["factors/position"]
    for part in (position[:, :6], position[:, 6:]):
        counts = np.bincount(part.ravel(), minlength=20)
        expected = part.size / 20  # 90 per value over 300 images
        assert counts.min() > 0.6 * expected and counts.max() < 1.4 * expected
        first = np.bincount(part[:, 0], minlength=20)  # the first bar drawn is uniform too
        assert first.min() >= 3 and first.max() <= 35


def test_partial_shuffle_is_a_uniform_ordered_subset():
    rng = CounterRandom(12345)
    draws = partial_shuffle(rng, np.arange(20000), 0, 5, 2)
    assert (draws[:, 0] != draws[:, 1]).all()
    pairs = np.bincount(draws[:, 0] * 5 + draws[:, 1], minlength=25).reshape(5, 5)
    assert (np.diag(pairs) == 0).all()
    off = pairs[~np.eye(5, dtype=bool)]
    assert off.min() > 850 and off.max() < 1150  # 20 ordered pairs, 1000 each expected


def test_single_split_has_one_full_bar(bars):
    with SplitReader(bars, "single") as reader:
        s = reader[:]
    assert s["masks"].shape[1] == 1 and (s["num_objects"] == 1).all()
    assert (s["masks"].sum(axis=(1, 2, 3)) == 20).all()
    assert not s["overlap"].any()
    vertical = s["factors/orientation"][:, 0] == 0
    assert 30 < vertical.sum() < 70  # 100 images, orientation with probability 1/2
    for b in range(len(vertical)):
        line = s["masks"][b, 0].any(axis=0 if vertical[b] else 1)
        assert np.flatnonzero(line).tolist() == [s["factors/position"][b, 0]]


def test_bar_counts_are_parameters(tmp_path):
    from groupbench.generation import generate
    from groupbench.format import validate

    path = generate("bars-v1", tmp_path / "b.h5", sizes={"train": 50, "valid": 0, "test": 0, "single": 0},
                    params={"vertical": "3", "horizontal": "2", "size": "10"}, progress=False)
    validate(path)
    with SplitReader(path, "train") as reader:
        s = reader[:]
    assert s["masks"].shape[1:] == (5, 10, 10)
    assert ((s["images"] > 0).sum(axis=(1, 2, 3)) == 3 * 10 + 2 * 10 - 6).all()
    assert (s["overlap"].sum(axis=(1, 2)) == 6).all()
