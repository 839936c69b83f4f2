"""shapes-v1 and tetris-v1 against their specifications (original-code.md A.2, deepmind.md 1.3)."""

import numpy as np
import pytest

from groupbench import registry
from groupbench.generators import shapes, tetris
from groupbench.seeding import CounterRandom, split_key

SQUARE_TEXT = ["#######", "#######", "##...##", "##...##", "##...##", "#######", "#######"]
TRIANGLE_TEXT = [
    ".....##.....",
    "....####....",
    "...######...",
    "..###..###..",
    ".###....###.",
    "############",
    "############",
]


def _as_bool(rows):
    return np.array([[c == "#" for c in r] for r in rows])


def _draw(dataset_id, split, n, seed=0, **params):
    spec = registry.get(dataset_id)
    full = spec.resolve_params(params)
    rng = CounterRandom(split_key(dataset_id, full, seed, split))
    return spec.make(full).generate(rng, split, np.arange(n))


def _crop(mask):
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], rows[0], cols[0]


def test_shapes_templates_match_the_specification():
    square, triangle = _as_bool(SQUARE_TEXT), _as_bool(TRIANGLE_TEXT)
    assert square.sum() == 40 and triangle.sum() == 48
    expected = [square, triangle, triangle[::-1]]
    assert all(np.array_equal(a, b) for a, b in zip(shapes.TEMPLATES, expected))


def test_every_shapes_object_is_exactly_one_template_at_its_position():
    batch = _draw("shapes-v1", "train", 500)
    expected = [_as_bool(SQUARE_TEXT), _as_bool(TRIANGLE_TEXT), _as_bool(TRIANGLE_TEXT)[::-1]]
    assert batch.masks.shape == (500, 3, 28, 28)
    for i in range(500):
        for o in range(3):
            crop, top, left = _crop(batch.masks[i, o])
            kind = batch.factors["shape"][i, o]
            assert np.array_equal(crop, expected[kind - 1])
            assert (top, left) == tuple(batch.factors["position"][i, o])


def test_shapes_statistics_are_close_to_the_original_generator():
    batch = _draw("shapes-v1", "train", 5000)
    with_overlap = batch.overlap.any(axis=(1, 2)).mean()
    foreground = (batch.labels > 0).mean()
    assert abs(with_overlap - 0.72) < 0.03
    assert abs(foreground - 0.16) < 0.01
    kinds = np.bincount(batch.factors["shape"].ravel(), minlength=4)[1:] / batch.factors["shape"].size
    assert np.allclose(kinds, 1 / 3, atol=0.02)
    # positions: uniform over every place where the template fits, both extremes reached
    square = batch.factors["shape"] == 1
    assert batch.factors["position"][square].min() == 0 and batch.factors["position"][square].max() == 21
    triangle_cols = batch.factors["position"][..., 1][batch.factors["shape"] > 1]
    assert triangle_cols.min() == 0 and triangle_cols.max() == 16
    assert np.array_equal(batch.images[..., 0] == 255, batch.labels > 0)
    assert np.array_equal(batch.overlap, batch.masks.sum(1) >= 2)


def test_shapes_single_split_and_object_count_parameter():
    single = _draw("shapes-v1", "single", 200)
    assert single.masks.shape[1] == 1 and not single.overlap.any() and set(np.unique(single.labels)) == {0, 1}
    five = _draw("shapes-v1", "train", 50, num_objects=5)
    assert five.masks.shape[1] == 5 and (five.num_objects == 5).all() and five.masks.any(axis=(2, 3)).all()


def test_later_shapes_are_on_top():
    batch = _draw("shapes-v1", "train", 300)
    top_most = np.where(batch.masks.any(1), 3 - np.argmax(batch.masks[:, ::-1], axis=1), 0)
    assert np.array_equal(batch.labels, top_most)


def _piece_pattern(shape_id):
    return np.array([[c == "1" for c in row] for row in tetris.PIECES[shape_id - 1]])


def test_the_19_tetrominoes_are_distinct_and_complete():
    patterns = {tuple(map(tuple, _piece_pattern(k))) for k in range(1, 20)}
    assert len(patterns) == 19 and all(_piece_pattern(k).sum() == 4 for k in range(1, 20))
    # closed under rotation: the 19 fixed tetrominoes
    for p in patterns:
        assert tuple(map(tuple, np.rot90(np.array(p)))) in patterns


def test_tetris_invariants():
    batch = _draw("tetris-v1", "train", 400)
    assert batch.images.shape == (400, 35, 35, 3) and batch.masks.shape == (400, 3, 35, 35)
    assert (batch.masks.sum(axis=(2, 3)) == 100).all()
    assert not batch.overlap.any() and (batch.masks.sum(1) <= 1).all()
    assert ((batch.labels > 0).sum(axis=(1, 2)) == 300).all()
    assert set(np.unique(batch.images)) <= {0, 63, 95, 127, 159, 191, 223, 255}
    assert set(np.unique(batch.images[batch.labels > 0].max(-1))) == {63, 95, 127, 159, 191, 223, 255}
    assert (batch.images[batch.labels == 0] == 0).all()
    colors = {tuple(c) for c in batch.factors["color"].reshape(-1, 3)}
    assert colors == {(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255)}
    assert set(np.unique(batch.factors["shape"])) == set(range(1, 20))


def test_tetris_pieces_match_their_factors_and_bevel():
    batch = _draw("tetris-v1", "test", 100)
    bevel = np.array(
        [[191, 255, 255, 255, 223], [127, 159, 159, 159, 191], [127, 159, 159, 159, 191],
         [127, 159, 159, 159, 191], [95, 63, 63, 63, 127]]
    )
    for i in range(100):
        for o in range(3):
            crop, top, left = _crop(batch.masks[i, o])
            pattern = _piece_pattern(batch.factors["shape"][i, o])
            assert np.array_equal(crop, np.kron(pattern, np.ones((5, 5), bool)))
            assert (top, left) == tuple(batch.factors["position"][i, o])
            rgb = batch.factors["color"][i, o] // 255
            for r, c in np.argwhere(pattern):
                block = batch.images[i, top + 5 * r : top + 5 * r + 5, left + 5 * c : left + 5 * c + 5]
                assert np.array_equal(block, bevel[..., None] * rgb)


@pytest.mark.parametrize("dataset_id, split", [("shapes-v1", "single"), ("tetris-v1", "test")])
def test_spec_matches_the_generator_layout(dataset_id, split):
    spec = registry.get(dataset_id)
    layout = spec.make().layout(split)
    assert layout.image_shape == spec.image_size
