"""multi-dsprites-v1 against its spec (IODINE B.2, deepmind.md 1.2 and 3): counts, factors, colours,
occlusion order, amodal masks redrawn by an independent rasteriser, sprite sizes, the exact
rotation table, and digests of the two non-default variants."""

import math

import numpy as np
import pytest

from groupbench.data import SplitReader
from groupbench.format import validate
from groupbench.generation import generate
from groupbench.generators import multi_dsprites as md

SIZES = {"train": 300, "valid": 100, "test": 200}


@pytest.fixture(scope="module")
def variants(small_file, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dsprites")
    files = {"colored-on-grayscale": small_file("multi-dsprites-v1")}
    for variant in ("binarized", "colored-on-colored"):
        files[variant] = generate("multi-dsprites-v1", folder / f"{variant}.h5", sizes=SIZES, params={"variant": variant}, progress=False)
    return files


def read(path, split="train"):
    with SplitReader(path, split) as reader:
        return reader[:]


# --- rotation table and colours -----------------------------------------------------------------


def test_rotation_table_is_exact():
    table = md.ROTATION
    assert table.shape == (4096, 2)
    assert table[0].tolist() == [1.0, 0.0] and table[1024].tolist() == [0.0, 1.0]
    assert table[2048].tolist() == [-1.0, 0.0] and table[3072].tolist() == [0.0, -1.0]
    assert table[512, 0] == table[512, 1] == math.sqrt(0.5)  # correctly rounded sqrt(2)/2
    k = np.arange(1, 1024)
    assert (table[1024 - k, 0] == table[k, 1]).all()  # cos(pi/2 - t) = sin t, exactly
    assert (table[4096 - k, 0] == table[k, 0]).all() and (table[4096 - k, 1] == -table[k, 1]).all()
    angle = 2 * np.pi * np.arange(4096) / 4096  # libm agrees to a few ulps (the angle itself is rounded)
    assert np.abs(table[:, 0] - np.cos(angle)).max() < 1e-15 and np.abs(table[:, 1] - np.sin(angle)).max() < 1e-15


def test_rotation_table_is_correctly_rounded():
    mpmath = pytest.importorskip("mpmath")  # comes with torch (through sympy)
    mpmath.mp.prec = 200
    for step in range(4096):
        turns = mpmath.mpf(step) / 2048  # angle / pi, exact
        assert md.ROTATION[step, 0] == float(mpmath.cospi(turns)) and md.ROTATION[step, 1] == float(mpmath.sinpi(turns)), step
    assert (md.rotation_table(8, bits=128) == md.ROTATION[::512]).all()  # the grid does not change values


def test_saturated_colors_are_all_and_only_the_saturated_colours():
    colors = md.saturated_color(np.arange(6 * 255))
    assert len({tuple(c) for c in colors}) == 1530
    assert (colors.max(axis=1) == 255).all() and (colors.min(axis=1) == 0).all()
    assert colors[0].tolist() == [255, 0, 0] and colors[255].tolist() == [255, 255, 0] and colors[510].tolist() == [0, 255, 0]


# --- object counts and factors ------------------------------------------------------------------


@pytest.mark.parametrize("variant", list(md.VARIANTS))
def test_counts_and_factor_values(variants, variant):
    fewest, most, channels = md.VARIANTS[variant]
    s = read(variants[variant])
    count = s["num_objects"].astype(int)
    n = len(count)
    assert s["images"].shape[1:] == (64, 64, channels) and s["masks"].shape[1] == most
    assert sorted(np.unique(count).tolist()) == list(range(fewest, most + 1))
    share = np.bincount(count - fewest) / n
    assert share.min() > 0.6 / (most - fewest + 1)  # uniform over the range
    active = np.arange(most)[None] < count[:, None]
    masks_used = s["masks"].any(axis=(2, 3))
    assert (masks_used == active).all()  # every sprite has pixels; unused slots are empty
    shape, scale = s["factors/shape"], s["factors/scale"]
    assert set(np.unique(shape[active]).tolist()) == {1, 2, 3} and (shape[~active] == 0).all()
    assert set(np.unique(scale[active]).tolist()) == set(np.float32([0.5, 0.6, 0.7, 0.8, 0.9, 1.0]).tolist())
    orientation = s["factors/orientation"][active].astype(np.float64)
    assert orientation.min() >= 0 and orientation.max() < 2 * math.pi
    steps = orientation / (2 * math.pi / 4096)
    assert np.abs(steps - np.round(steps)).max() < 1e-3  # on the 4,096-step grid
    for axis in ("x", "y"):
        value = s[f"factors/{axis}"][active].astype(np.float64)
        assert value.min() >= 0 and value.max() < 1 and 0.4 < value.mean() < 0.6
        assert (value * 65536 == np.round(value * 65536)).all()
    for name in ("scale", "orientation", "x", "y", "color"):
        assert (s[f"factors/{name}"][~active] == 0).all()


def test_colours_per_variant(variants):
    s = read(variants["colored-on-grayscale"])
    active = np.arange(5)[None] < s["num_objects"][:, None]
    color = s["factors/color"][active].astype(int)
    assert (color.max(axis=1) == 255).all() and (color.min(axis=1) == 0).all()  # saturated
    background = s["images"][s["labels"] == 0]
    assert (background[:, 0] == background[:, 1]).all() and (background[:, 0] == background[:, 2]).all()  # grey
    levels = np.array([s["images"][b][s["labels"][b] == 0][0, 0] for b in range(len(s["images"]))])
    assert levels.min() < 30 and levels.max() > 225  # grey levels over the whole range

    s = read(variants["binarized"])
    assert set(np.unique(s["images"]).tolist()) == {0, 255}
    assert ((s["images"][..., 0] == 255) == (s["labels"] > 0)).all()

    s = read(variants["colored-on-colored"])
    active = np.arange(4)[None] < s["num_objects"][:, None]
    color = s["factors/color"][active].astype(int)
    assert 0.4 < color.mean() / 255 < 0.6 and (color.max(axis=1) - color.min(axis=1)).min() < 60  # not only saturated
    background = np.array([s["images"][b][s["labels"][b] == 0][0] for b in range(len(s["images"]))]).astype(int)
    assert (background[:, 0] != background[:, 1]).mean() > 0.9  # coloured, not grey


@pytest.mark.parametrize("variant", list(md.VARIANTS))
def test_later_sprites_occlude_earlier_ones(variants, variant):
    s = read(variants[variant])
    masks, labels = s["masks"], s["labels"]
    slots = masks.shape[1]
    count = masks.sum(axis=1)
    top = np.where(count > 0, slots - np.argmax(masks[:, ::-1], axis=1), 0)
    assert (labels == top).all() and ((count >= 2) == s["overlap"]).all()
    # each pixel shows the colour of its top-most sprite, else the background
    background = np.array([s["images"][b][labels[b] == 0][0] for b in range(len(labels))])
    palette = np.concatenate([background[:, None], s["factors/color"]], axis=1)
    assert (s["images"] == palette[np.arange(len(labels))[:, None, None], labels]).all()
    assert s["overlap"].any(axis=(1, 2)).mean() > 0.3  # occlusion is common


# --- geometry -------------------------------------------------------------------------------------


def reference_margin(shape, scale, angle, x, y):
    """Signed distance-like margin of every pixel centre of a 64x64 image to a sprite (> 0 inside),
    from the spec's numbers with libm's cos and sin, independently of the generator's arithmetic."""
    rows, cols = np.mgrid[0:64, 0:64] + 0.5
    dx, dy = cols - (16 + 32 * x), rows - (16 + 32 * y)
    c, s = math.cos(angle), math.sin(angle)
    u = c * dx - s * dy  # sprite frame: turned counter-clockwise as seen, v points down
    v = s * dx + c * dy
    if shape == 1:
        return 9.6 * scale - np.maximum(np.abs(u), np.abs(v))
    if shape == 2:
        return 1 - (u / (11.8 * scale)) ** 2 - (v / (6.4 * scale)) ** 2
    a = 10.2 * scale
    radius, q = a / 2, a / (2 * math.sqrt(2))
    w = v - (radius - q) / 2  # bounding box centred on the sprite centre
    diamond = a / math.sqrt(2) - np.abs(u) - np.abs(w)
    discs = radius**2 - (np.abs(u) - q) ** 2 - (w + q) ** 2
    return np.maximum(diamond, discs)


@pytest.mark.parametrize("variant", ["colored-on-grayscale", "binarized"])
def test_amodal_masks_match_an_independent_rasteriser(variants, variant):
    s = read(variants[variant], "test")
    checked = unsure = 0
    for b in range(len(s["images"])):
        for k in range(int(s["num_objects"][b])):
            f = {name: float(s[f"factors/{name}"][b, k]) for name in ("scale", "orientation", "x", "y")}
            step = round(f["orientation"] / (2 * math.pi / 4096))
            margin = reference_margin(int(s["factors/shape"][b, k]), f["scale"], 2 * math.pi * step / 4096, f["x"], f["y"])
            sure = np.abs(margin) > 1e-9
            assert (s["masks"][b, k][sure] == (margin > 0)[sure]).all(), (b, k)
            checked += 1
            unsure += int((~sure).sum())
    assert checked > 500 and unsure < 5


def test_heart_points_down_and_ellipse_lies_flat_at_orientation_zero():
    window, top, left = md.rasterize(np.array([2, 3]), np.ones(2), np.zeros(2, np.int64), np.full(2, 32.0), np.full(2, 32.0))
    ellipse, heart = window
    rows, cols = np.flatnonzero(ellipse.any(axis=1)), np.flatnonzero(ellipse.any(axis=0))
    assert len(cols) == 24 and len(rows) == 12  # 23.6 x 12.8 px
    width = heart.sum(axis=1)
    filled = np.flatnonzero(width)
    assert width[filled[-1]] <= 2 and width[filled[0]] > 2  # a tip at the bottom, lobes at the top
    # the window's pixel centres run from 17.5 to 47.5: column 32 - 0.5 - j mirrors 32 + 0.5 + j
    assert (heart[:, :15] == heart[:, 15:30][:, ::-1]).all() and not heart[:, 30].any()  # mirror-symmetric
    turned, *_ = md.rasterize(np.array([3]), np.ones(1), np.array([2048]), np.full(1, 32.0), np.full(1, 32.0))
    assert (turned[0][:30, :30] == heart[:30, :30][::-1, ::-1]).all()  # half a turn: tip up


def test_sprite_sizes_follow_dsprites(variants):
    s = read(variants["binarized"])
    areas = {1: [], 2: [], 3: []}
    for b in range(len(s["images"])):
        for k in range(int(s["num_objects"][b])):
            areas[int(s["factors/shape"][b, k])].append(s["masks"][b, k].sum() / float(s["factors/scale"][b, k]) ** 2)
    expected = {1: 19.2**2, 2: math.pi * 11.8 * 6.4, 3: 10.2**2 + math.pi * 5.1**2}  # 368.6, 237.3, 185.8 px
    for shape, values in areas.items():
        assert len(values) > 50
        assert abs(np.mean(values) / expected[shape] - 1) < 0.03, shape


def test_sprites_stay_inside_the_image(variants):
    s = read(variants["colored-on-grayscale"])
    edge = np.zeros((64, 64), bool)
    edge[:2], edge[-2:], edge[:, :2], edge[:, -2:] = True, True, True, True
    assert not s["masks"][:, :, edge].any()  # centres in [16, 48), half-extent at most 13.6 px


# --- digests of the non-default variants -------------------------------------------------------

VARIANT_GOLDEN = {
    # variant -> {split: sha256} at SIZES with the default seed (the default variant is in tests/test_golden.py)
    "binarized": {
        "test": "17691527a16136ff9e5f7c64b04eb72e059d053ada1f1225e58683849622f354",
        "train": "c33254f4093bdea1b14db7d20d602dcf2b1899edf2e3feebf2017a325f0e4683",
        "valid": "b7d979ac174f6f70b770c9ed216a34075bdc855e0ebf67ccfbbbf976a1f66fe7",
    },
    "colored-on-colored": {
        "test": "7f236204e3cb2072344bd3faa1a657c10b557bcc5cd7c24660bc3a271d5963a1",
        "train": "20bef63c423ca2aca72b9f5b25873a5bf50257cad8fc421372edc2353589c233",
        "valid": "87b99ce78e750ec7350d3610be383b0b8efa52e528328319ce8657e6674e0016",
    },
}


@pytest.mark.parametrize("variant", ["binarized", "colored-on-colored"])
def test_variant_golden_digest(variants, variant):
    assert validate(variants[variant])["digests"] == VARIANT_GOLDEN[variant]
