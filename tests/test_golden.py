"""Golden digests: any change to what a registered id generates fails here and needs a new version."""

import pytest

from groupbench import registry
from groupbench.format import validate

GOLDEN = {
    # dataset id -> {split: sha256} at tests.conftest.SMALL sizes with the default seed and params
    "shapes-v1": {
        "single": "8b81a020e4b61e96bd647a4bfb46c8f56fa9e26213151a92605472ac393543c9",
        "test": "5e43a7c7706ca158ccfbec484a8dc3e174431b7a0e9d1b50d0913e870850d168",
        "train": "48b32a90a0cbe1721b231aaa0db77ef42fb3eb5383877168e8279a290beefc8a",
        "valid": "2ed896bba4270521dbd4a89076970b337986050f9beb0b2b34e1070e82dd156e",
    },
    "tetris-v1": {
        "test": "166d357e1c74a5b1024bfafdf2706236e7f22f28200a91f991701bb9ac881e02",
        "train": "68c9b81ca84e9fc9fcf2a59a4807655de55c71d4559e57cab818e68757702009",
        "valid": "fe1b0b30ed7a58b8a84a57db44c7414f5f4c8b56e09fede87acd9425870b2a7d",
    },
}


def test_every_registered_dataset_has_a_golden_digest():
    assert sorted(s.id for s in registry.specs()) == sorted(GOLDEN)


@pytest.mark.parametrize("dataset_id", sorted(GOLDEN))
def test_golden_digest(small_file, dataset_id):
    assert validate(small_file(dataset_id))["digests"] == GOLDEN[dataset_id]
