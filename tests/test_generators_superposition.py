"""superposition-v1 against its spec (Rao et al. 2008 patterns as in the RC code, original-code.md A.2)."""

import numpy as np
import pytest

from groupbench.data import SplitReader
from groupbench.errors import GroupbenchError
from groupbench.format import validate
from groupbench.generation import generate
from groupbench.generators.superposition import PATTERNS

PIXELS = [18, 20, 15, 16, 6, 6, 6, 6, 11, 7, 8, 9, 10, 17, 9, 8]


@pytest.fixture(scope="module")
def superposition(tmp_path_factory):
    return generate("superposition-v1", tmp_path_factory.mktemp("sp") / "sp.h5", progress=False)


def test_patterns():
    assert PATTERNS.shape == (16, 8, 8)
    assert PATTERNS.sum(axis=(1, 2)).tolist() == PIXELS
    assert len({p.tobytes() for p in PATTERNS}) == 16
    assert PATTERNS[2, 3].all() and PATTERNS[2, :, 3].all()  # pattern 3 is a cross
    assert (PATTERNS[4, 1:7, 1] == 1).all() and PATTERNS[4].sum() == 6  # pattern 5 a vertical line


def test_test_split_holds_the_120_pairs_in_lexicographic_order(superposition):
    with SplitReader(superposition, "test") as reader:
        s = reader[:]
    assert len(s["images"]) == 120
    pairs = s["factors/pattern"].tolist()
    assert pairs == [[i, j] for i in range(1, 17) for j in range(i + 1, 17)]
    for b, (i, j) in enumerate(pairs):
        a, c = PATTERNS[i - 1], PATTERNS[j - 1]
        assert (s["masks"][b, 0] == a).all() and (s["masks"][b, 1] == c).all()
        assert (s["images"][b, ..., 0] == np.where(a | c, 255, 0)).all()
        assert (s["overlap"][b] == (a & c)).all()
        assert (s["labels"][b] == np.where(c, 2, np.where(a, 1, 0))).all()


def test_single_split_holds_the_16_patterns(superposition):
    with SplitReader(superposition, "single") as reader:
        s = reader[:]
    assert (s["masks"][:, 0] == PATTERNS).all()
    assert s["factors/pattern"][:, 0].tolist() == list(range(1, 17))
    assert (s["labels"] == PATTERNS).all() and not s["overlap"].any()


def test_contents_do_not_depend_on_the_seed(superposition, tmp_path):
    other = generate("superposition-v1", tmp_path / "other.h5", seed=1, progress=False)
    assert validate(other)["digests"] == validate(superposition)["digests"]


def test_more_samples_than_exist_is_refused(tmp_path):
    with pytest.raises(GroupbenchError, match="exactly 120 samples"):
        generate("superposition-v1", tmp_path / "x.h5", sizes={"test": 121}, progress=False)
    with pytest.raises(GroupbenchError, match="no 'train' split"):
        generate("superposition-v1", tmp_path / "x.h5", sizes={"train": 5}, progress=False)
    assert not (tmp_path / "x.h5").exists()
