"""The groupbench/1 format: round trip, layout, digests, validation of damaged and foreign files."""

import json

import h5py
import numpy as np
import pytest

from groupbench import registry
from groupbench.data import GroupingDataset, SplitReader
from groupbench.errors import GroupbenchError
from groupbench.format import FORMAT_VERSION, SplitDigest, validate
from groupbench.seeding import CounterRandom, split_key


def test_round_trip_matches_the_generator(small_file):
    path = small_file("shapes-v1")
    spec = registry.get("shapes-v1")
    params = spec.resolve_params()
    generator = spec.make(params)
    for split in ("train", "single"):
        with SplitReader(path, split) as reader:
            stored = reader[:]
            n = len(reader)
        rng = CounterRandom(split_key("shapes-v1", params, spec.default_seed, split))
        expected = generator.generate(rng, split, np.arange(n)).arrays()
        assert stored.keys() == expected.keys()
        for name in expected:
            np.testing.assert_array_equal(stored[name], expected[name], err_msg=name)
            assert stored[name].dtype == expected[name].dtype


def test_file_attributes_and_layout(small_file):
    path = small_file("tetris-v1")
    with h5py.File(path) as f:
        assert f.attrs["format"] == FORMAT_VERSION
        assert f.attrs["dataset"] == "tetris-v1"
        assert json.loads(f.attrs["params"]) == {"num_objects": 3, "size": 35}
        assert int(f.attrs["seed"]) == registry.get("tetris-v1").default_seed
        assert sorted(json.loads(f.attrs["digests"])) == ["test", "train", "valid"]
        assert "single" not in f
        test = f["test"]
        assert test["images"].shape == (200, 35, 35, 3) and test["images"].dtype == np.uint8
        assert test["labels"].shape == (200, 35, 35) and test["labels"].dtype.kind == "u"
        assert test["overlap"].dtype == bool and test["masks"].shape == (200, 3, 35, 35)
        assert test["factors/color"].shape == (200, 3, 3)
        for dset in (test["images"], test["masks"]):
            assert dset.compression == "gzip" and dset.chunks[0] < 200 and dset.chunks[1:] == dset.shape[1:]


def test_binary_images_use_only_0_and_255(small_file):
    with SplitReader(small_file("shapes-v1"), "test") as reader:
        assert set(np.unique(reader[:]["images"])) == {0, 255}


def test_digest_does_not_depend_on_block_boundaries():
    arrays = {"a": ((10, 3), np.dtype("<i2")), "m": ((10, 5), np.dtype(bool))}
    rng = np.random.default_rng(0)
    a, m = rng.integers(-9, 9, (10, 3)).astype("<i2"), rng.random((10, 5)) < 0.5
    whole, pieces = SplitDigest(arrays), SplitDigest(arrays)
    whole.update("a", a), whole.update("m", m)
    for lo, hi in ((0, 3), (3, 4), (4, 10)):
        pieces.update("a", a[lo:hi]), pieces.update("m", m[lo:hi])
    assert whole.hexdigest() == pieces.hexdigest()
    changed = SplitDigest(arrays)
    m[9, 4] = not m[9, 4]
    changed.update("a", a), changed.update("m", m)
    assert changed.hexdigest() != whole.hexdigest()


def test_big_endian_input_hashes_like_little_endian():
    arrays = {"a": ((4,), np.dtype("<i4"))}
    little, big = SplitDigest(arrays), SplitDigest(arrays)
    little.update("a", np.arange(4, dtype="<i4"))
    big.update("a", np.arange(4, dtype=">i4"))
    assert little.hexdigest() == big.hexdigest()


def _copy(src, tmp_path, name="copy.h5"):
    dst = tmp_path / name
    dst.write_bytes(src.read_bytes())
    return dst


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda f: f["test/images"].__setitem__((0, 0, 0, 0), 7), "digest"),
        (lambda f: f["test/overlap"].__setitem__((3, 0, 0), True), "'overlap' disagrees with 'masks' at sample 3"),
        (lambda f: f["test/labels"].__setitem__((5, 0, 0), 2), "'labels' disagree with 'masks' at sample 5"),
        (lambda f: f["test/num_objects"].__setitem__(7, 1), "beyond 'num_objects' are not empty at sample 7"),
        (lambda f: f.attrs.__delitem__("digests"), "incomplete file"),
        (lambda f: f.attrs.__setitem__("format", "groupbench/9"), "not supported"),
        (lambda f: f.__delitem__("test/masks"), "no 'masks' array"),
        (lambda f: f.create_group("extra"), "unknown group 'extra'"),
    ],
)
def test_validate_reports_the_first_problem(small_file, tmp_path, edit, message):
    path = _copy(small_file("shapes-v1"), tmp_path)
    with h5py.File(path, "r+") as f:
        edit(f)
    with pytest.raises(GroupbenchError, match=message):
        validate(path)


def test_validate_rejects_truncated_and_foreign_files(small_file, tmp_path):
    data = small_file("shapes-v1").read_bytes()
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(GroupbenchError, match="a damaged or truncated HDF5 file"):
        validate(truncated)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(GroupbenchError, match="not a groupbench file"):
        validate(foreign)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(GroupbenchError, match="not an HDF5 file"):
        validate(text)
    with pytest.raises(GroupbenchError, match="no such file"):
        validate(tmp_path / "missing.h5")


def _replace(path: str, data):
    def edit(f):
        del f[path]
        f[path] = data

    return edit


def _attr(name: str, value, where: str = "/"):
    return lambda f: f[where].attrs.__setitem__(name, value)


DAMAGED = {
    "seed-text": (_attr("seed", "abc"), "attribute 'seed' is 'abc', expected an integer"),
    "seed-float": (_attr("seed", 1.5), "attribute 'seed' is 1.5, expected an integer"),
    "digests-list": (_attr("digests", "[1, 2]"), "attribute 'digests' is [1, 2], expected a JSON object"),
    "digests-not-json": (_attr("digests", "{"), "attribute 'digests' is not valid JSON"),
    "digests-number": (_attr("digests", 5), "attribute 'digests' is 5, expected a string"),
    "digests-values": (_attr("digests", json.dumps({"train": 1})), "attribute 'digests' holds 'train': 1"),
    "params-list": (_attr("params", "[1]"), "attribute 'params' is [1], expected a JSON object"),
    "dataset-number": (_attr("dataset", 7), "attribute 'dataset' is 7, expected a string"),
    "version-number": (_attr("groupbench_version", 3), "attribute 'groupbench_version' is 3, expected a string"),
    "shard": (_attr("shard", "x"), "attribute 'shard' is 'x', expected K/N"),
    "start": (_attr("start", "abc", "test"), "split 'test' has start 'abc' and total"),
    "total": (_attr("total", 3, "test"), "split 'test' has start 0 and total 3"),
    "split-not-a-group": (_replace("test", [1]), "split 'test' is not a group of arrays"),
    "images-1d": (_replace("test/images", np.zeros(200, np.uint8)), "'images' has shape (200,), expected (N,[T,]H,W,C)"),
    "labels-2d": (_replace("test/labels", np.zeros((200, 28), np.uint8)), "'labels' has shape (200, 28), expected (200, 28, 28)"),
    "masks-1d": (_replace("test/masks", np.zeros(200, bool)), "'masks' has shape (200,), expected (N,O,H,W)"),
    "num-objects-short": (_replace("test/num_objects", np.zeros(3, np.uint8)), "'num_objects' has shape (3,), expected (200,)"),
    "labels-float": (_replace("test/labels", np.zeros((200, 28, 28))), "'labels' has dtype float64, expected uint8"),
    "factor-scalar": (_replace("test/factors/shape", np.zeros(200)), "factor 'shape' is not an (N,[T,]O,...) array"),
}


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_damaged_files_are_refused_in_one_line_by_every_reader(small_file, tmp_path, cli, refused, case):
    """Hand-damaged attributes and arrays: info and validate name the problem; show, export and merge
    refuse cleanly too (or work, where the damage does not concern them); never a traceback."""
    edit, message = DAMAGED[case]
    path = _copy(small_file("shapes-v1"), tmp_path)
    with h5py.File(path, "r+") as f:
        edit(f)
    for args in (["info", path], ["info", "--json", path], ["validate", path]):
        refused(cli(*map(str, args)), message)
    for args in (["show", path, "--out", tmp_path / "g.png"], ["export", path, "--layout", "nem", "--out", tmp_path / "e.h5"],
                 ["merge", path, "--out", tmp_path / "m.h5"]):
        result = cli(*map(str, args))
        if result.exit_code:
            refused(result, "")


def _damage_chunk(path, array: str, chunk: int = 0) -> None:
    """Flip bytes in the middle of a stored chunk of ``array`` (a damaged disk block)."""
    with h5py.File(path) as f:
        stored = []
        f[array].id.chunk_iter(stored.append)
        info = sorted(stored, key=lambda s: s.chunk_offset)[chunk]
    data = bytearray(path.read_bytes())
    for k in range(4):
        data[info.byte_offset + info.size // 2 + k] ^= 0xA5
    path.write_bytes(bytes(data))


def test_damaged_chunks_are_refused_in_one_line(small_file, tmp_path, cli, refused):
    path = _copy(small_file("tetris-v1"), tmp_path)
    _damage_chunk(path, "test/images")
    message = "'test/images' cannot be read (damaged data: "
    for args in (["validate", path], ["show", path, "--out", tmp_path / "g.png"], ["export", path, "--layout", "nem", "--out", tmp_path / "e.h5"]):
        refused(cli(*map(str, args)), message)
    with pytest.raises(GroupbenchError, match="'test/images' cannot be read"):
        with SplitReader(path, "test") as reader:
            reader[:]
    dataset = GroupingDataset(path, "test")
    with pytest.raises(GroupbenchError, match="'test/images' cannot be read"):
        for i in range(len(dataset)):
            dataset[i]
    counts = _copy(small_file("tetris-v1"), tmp_path, "counts.h5")
    _damage_chunk(counts, "test/num_objects")
    refused(cli("info", str(counts)), "'test/num_objects' cannot be read")


def test_merge_refuses_a_damaged_shard(tmp_path, cli, refused):
    from groupbench.generation import Shard, generate

    sizes = {"train": 100, "valid": 20, "test": 20}
    shards = [generate("tetris-v1", tmp_path / f"p{k}.h5", sizes=sizes, shard=Shard(k, 2), progress=False) for k in (1, 2)]
    _damage_chunk(shards[1], "train/images", chunk=2)
    refused(cli("merge", *map(str, shards), "--out", str(tmp_path / "m.h5")), "p2.h5: 'train/images' cannot be read")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p1.h5", "p2.h5"]
