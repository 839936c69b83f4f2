"""Worker and shard invariance of the datasets added with the bars ... multi-dSprites generators:
1 worker, 2 workers, and shards 1/2 + 2/2 merged give the same digests, and so does drawing
sample i alone."""

import numpy as np
import pytest

from groupbench import generation, registry
from groupbench.format import validate
from groupbench.generation import Shard, generate, merge
from groupbench.seeding import CounterRandom, split_key

SIZES = {"valid": 30, "test": 45, "single": 30}
CASES = [
    ("bars-v1", {}),
    ("corners-v1", {}),
    ("superposition-v1", {}),
    ("mnist-shape-mini-v1", {}),
    ("multi-mnist-mini-v1", {}),
    ("multi-dsprites-v1", {}),
    ("multi-dsprites-v1", {"variant": "binarized"}),
    ("multi-dsprites-v1", {"variant": "colored-on-colored"}),
]


def sizes_for(dataset_id, params):
    """SIZES, and a train split of 3 chunks and a bit: several blocks, a shard boundary inside it."""
    spec = registry.get(dataset_id)
    chunk = spec.make(spec.resolve_params(params)).layout("train" if "train" in spec.splits else "test").chunk_length
    sizes = dict(SIZES, train=3 * chunk + 7)
    return {split: min(n, spec.splits[split]) for split, n in sizes.items() if split in spec.splits}


@pytest.mark.parametrize("dataset_id,params", CASES, ids=[f"{d}{'-' + p['variant'] if p else ''}" for d, p in CASES])
def test_workers_and_shards_do_not_change_the_contents(tmp_path, monkeypatch, dataset_id, params):
    monkeypatch.setattr(generation, "BLOCK_BYTES", 64 * 1024)  # several blocks per split, so workers share them
    sizes = sizes_for(dataset_id, params)
    kw = dict(sizes=sizes, params=params, progress=False)
    one = validate(generate(dataset_id, tmp_path / "one.h5", workers=1, **kw))["digests"]
    two = validate(generate(dataset_id, tmp_path / "two.h5", workers=2, **kw))["digests"]
    parts = [generate(dataset_id, tmp_path / f"part{k}.h5", shard=Shard(k, 2), **kw) for k in (2, 1)]
    merged = validate(merge(parts, tmp_path / "merged.h5", progress=False))["digests"]
    assert one == two == merged
    assert set(one) == set(sizes)


@pytest.mark.parametrize("dataset_id,params", CASES[:6], ids=[d for d, _ in CASES[:6]])
def test_a_sample_does_not_depend_on_its_block(dataset_id, params):
    spec = registry.get(dataset_id)
    full = spec.resolve_params(params)
    generator = spec.make(full)
    split = "test"
    rng = CounterRandom(split_key(dataset_id, full, spec.default_seed, split))
    block = generator.generate(rng, split, np.arange(40, dtype=np.int64)).arrays()
    for i in (0, 17, 39):
        alone = generator.generate(rng, split, np.array([i], np.int64)).arrays()
        for name, value in block.items():
            assert (alone[name][0] == value[i]).all(), (name, i)


@pytest.mark.parametrize("dataset_id", ["bars-v1", "corners-v1", "mnist-shape-mini-v1", "multi-mnist-mini-v1", "multi-dsprites-v1"])
def test_seed_and_split_change_the_contents(tmp_path, dataset_id):
    kw = dict(sizes={s: (20 if s in ("train", "valid") else 0) for s in registry.get(dataset_id).splits}, progress=False)
    a = validate(generate(dataset_id, tmp_path / "a.h5", **kw))["digests"]
    b = validate(generate(dataset_id, tmp_path / "b.h5", seed=12345, **kw))["digests"]
    assert a["train"] != b["train"] and a["valid"] != b["valid"] and a["train"] != a["valid"]
