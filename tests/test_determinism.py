"""Determinism and scale: workers, shards, sample purity, interrupted writes."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from groupbench import registry
from groupbench.errors import GroupbenchError
from groupbench.format import validate
from groupbench.generation import Shard, generate, merge
from groupbench.seeding import CounterRandom, split_key

SIZES = {"train": 700, "valid": 0, "test": 301, "single": 0}


@pytest.mark.parametrize("dataset_id", ["shapes-v1", "tetris-v1"])
def test_workers_and_shards_give_identical_digests(tmp_path, dataset_id):
    sizes = {k: v for k, v in SIZES.items() if k in registry.get(dataset_id).splits}
    one = validate(generate(dataset_id, tmp_path / "one.h5", sizes=sizes, progress=False))
    two = validate(generate(dataset_id, tmp_path / "two.h5", sizes=sizes, workers=2, progress=False))
    shards = [
        generate(dataset_id, tmp_path / f"part{k}.h5", sizes=sizes, shard=Shard(k, 3), progress=False)
        for k in (3, 1, 2)
    ]
    merged = validate(merge(shards, tmp_path / "merged.h5", progress=False))
    assert one["digests"] == two["digests"] == merged["digests"]
    assert (tmp_path / "one.h5").read_bytes() != b""


def test_the_same_id_and_seed_give_the_same_file_bytes(tmp_path):
    """Same bytes, not only the same digests: in separate processes and with 1 or 2 workers.
    (ISA-L's deflate, used before, gave a different file in most processes on these data.)"""
    outputs = []
    for name, workers in (("a.h5", 1), ("b.h5", 1), ("c.h5", 2)):
        subprocess.run([sys.executable, "-m", "groupbench", "generate", "shapes-v1", "--out", str(tmp_path / name),
                        "--workers", str(workers)], check=True, capture_output=True)
        outputs.append((tmp_path / name).read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]


def test_a_sample_does_not_depend_on_its_block():
    spec = registry.get("tetris-v1")
    params = spec.resolve_params()
    generator = spec.make(params)
    rng = CounterRandom(split_key(spec.id, params, 5, "train"))
    block = generator.generate(rng, "train", np.arange(100, 160)).arrays()
    for i in (100, 137, 159):
        alone = generator.generate(rng, "train", np.array([i])).arrays()
        for name, value in alone.items():
            np.testing.assert_array_equal(value[0], block[name][i - 100], err_msg=name)


def test_seed_split_and_params_change_the_data(tmp_path):
    sizes = {"train": 50, "valid": 50, "test": 0, "single": 0}
    base = validate(generate("shapes-v1", tmp_path / "a.h5", seed=1, sizes=sizes, progress=False))["digests"]
    other_seed = validate(generate("shapes-v1", tmp_path / "b.h5", seed=2, sizes=sizes, progress=False))["digests"]
    other_params = validate(
        generate("shapes-v1", tmp_path / "c.h5", seed=1, sizes=sizes, params={"num_objects": "4"}, progress=False)
    )["digests"]
    assert base["train"] != base["valid"]
    assert base["train"] != other_seed["train"] and base["train"] != other_params["train"]


def test_shard_ranges_cover_every_sample_once():
    for n in (0, 1, 5, 83, 84, 1000):
        for count in (1, 2, 3, 7):
            ranges = [Shard(k, count).range(n, chunk=83) for k in range(1, count + 1)]
            assert ranges[0][0] == 0 and ranges[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
            assert all(start % 83 == 0 or start == n for start, _ in ranges)


def test_merge_refuses_incomplete_or_mixed_shards(tmp_path):
    sizes = {"train": 200, "valid": 0, "test": 100, "single": 0}
    a1 = generate("shapes-v1", tmp_path / "a1.h5", sizes=sizes, shard=Shard(1, 2), progress=False)
    a2 = generate("shapes-v1", tmp_path / "a2.h5", sizes=sizes, shard=Shard(2, 2), progress=False)
    b2 = generate("shapes-v1", tmp_path / "b2.h5", seed=9, sizes=sizes, shard=Shard(2, 2), progress=False)
    whole = generate("shapes-v1", tmp_path / "whole.h5", sizes=sizes, progress=False)
    with pytest.raises(GroupbenchError, match="shard 2/2 is missing"):
        merge([a1], tmp_path / "m.h5")
    with pytest.raises(GroupbenchError, match="given twice"):
        merge([a1, a1, a2], tmp_path / "m.h5")
    with pytest.raises(GroupbenchError, match="seed"):
        merge([a1, b2], tmp_path / "m.h5")
    with pytest.raises(GroupbenchError, match="not a shard file"):
        merge([a1, whole], tmp_path / "m.h5")
    assert not (tmp_path / "m.h5").exists()


def test_merge_detects_a_corrupted_shard(tmp_path):
    import h5py

    sizes = {"train": 200, "valid": 0, "test": 0, "single": 0}
    parts = [generate("shapes-v1", tmp_path / f"p{k}.h5", sizes=sizes, shard=Shard(k, 2), progress=False) for k in (1, 2)]
    with h5py.File(parts[1], "r+") as f:
        f["train/images"][0, 0, 0, 0] = 3
    with pytest.raises(GroupbenchError, match="does not match its stored digest"):
        merge(parts, tmp_path / "m.h5")
    assert not (tmp_path / "m.h5").exists()


def test_exception_during_generation_leaves_no_file(tmp_path, monkeypatch):
    from groupbench.generators.shapes import ShapesGenerator

    calls = {"n": 0}
    original = ShapesGenerator.generate

    def interrupted(self, rng, split, index):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, rng, split, index)

    monkeypatch.setattr(ShapesGenerator, "generate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        generate("shapes-v1", tmp_path / "out.h5", sizes={"train": 5000}, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_killed_generation_never_leaves_a_complete_looking_file(tmp_path):
    out = tmp_path / "big.h5"
    proc = subprocess.Popen(
        [sys.executable, "-m", "groupbench", "generate", "tetris-v1", "--out", str(out), "--n-train", "200000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while not any(p.name.startswith(".big.h5.partial") for p in tmp_path.iterdir()):
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.05)
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    leftovers = list(tmp_path.iterdir())
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".big.h5.partial")
    with pytest.raises(GroupbenchError):
        validate(leftovers[0])
