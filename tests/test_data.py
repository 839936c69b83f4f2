"""Readers: the numpy SplitReader and the torch GroupingDataset (with DataLoader workers)."""

import h5py
import numpy as np
import pytest
import torch

from groupbench.data import GroupingDataset, SampleReader, SplitReader


def test_split_reader_indexing(small_file):
    with SplitReader(small_file("tetris-v1"), "valid") as reader:
        assert len(reader) == 100 and reader.dataset_id == "tetris-v1" and len(reader.digest) == 64
        everything = reader[:]
        one = reader[7]
        assert one["images"].shape == (35, 35, 3) and one["masks"].shape == (3, 35, 35)
        np.testing.assert_array_equal(one["labels"], everything["labels"][7])
        picked = reader[[9, 2, 9]]
        np.testing.assert_array_equal(picked["images"], everything["images"][[9, 2, 9]])
        np.testing.assert_array_equal(reader[-1]["masks"], everything["masks"][99])
        with pytest.raises(IndexError):
            reader[100]


def test_torch_dataset_items(small_file):
    dataset = GroupingDataset(small_file("tetris-v1"), "test", with_factors=True)
    item = dataset[3]
    assert item["image"].shape == (3, 35, 35) and item["image"].dtype == torch.float32
    assert 0.0 <= item["image"].min() and item["image"].max() <= 1.0
    assert item["labels"].dtype == torch.int64 and item["masks"].shape == (3, 35, 35)
    assert item["factors"]["color"].shape == (3, 3) and int(item["num_objects"]) == 3
    with SplitReader(small_file("tetris-v1"), "test") as reader:
        raw = reader[3]
    np.testing.assert_array_equal((item["image"] * 255).round().byte().permute(1, 2, 0).numpy(), raw["images"])


def test_dataloader_with_worker_processes_sees_every_sample_once(small_file):
    dataset = GroupingDataset(small_file("shapes-v1"), "train")
    loader = torch.utils.data.DataLoader(dataset, batch_size=32, shuffle=True, num_workers=2,
                                         generator=torch.Generator().manual_seed(0))
    seen, images = [], {}
    for batch in loader:
        assert batch["image"].shape[1:] == (1, 28, 28) and batch["masks"].shape[1:] == (3, 28, 28)
        for i, image in zip(batch["index"].tolist(), batch["image"]):
            images[i] = image
        seen.extend(batch["index"].tolist())
    assert sorted(seen) == list(range(len(dataset)))
    with SplitReader(small_file("shapes-v1"), "train") as reader:
        expected = torch.from_numpy(reader[:]["images"]).float().div(255).permute(0, 3, 1, 2)
    assert torch.equal(torch.stack([images[i] for i in range(len(dataset))]), expected)


@pytest.mark.parametrize("stored", ["groupbench", "shuffled"])
def test_sample_reader_matches_hdf5_in_any_order(small_file, tmp_path, stored):
    """Direct chunk reads give exactly h5py's values, in shuffled and in index order; arrays stored
    any other way (here with HDF5's shuffle filter) are read through h5py."""
    path = small_file("tetris-v1")
    if stored == "shuffled":
        copy = tmp_path / "shuffled.h5"
        copy.write_bytes(path.read_bytes())
        with h5py.File(copy, "r+") as f:
            for name in ("images", "masks", "factors/color"):
                data = f["valid"][name][:]
                del f["valid"][name]
                f["valid"].create_dataset(name, data=data, chunks=(7, *data.shape[1:]), compression="gzip", shuffle=True)
        path = copy
    with h5py.File(path) as f:
        readers = {name: SampleReader(f["valid"][name]) for name in ("images", "labels", "overlap", "masks", "num_objects", "factors/color")}
        assert readers["images"].direct == (stored == "groupbench") and readers["labels"].direct
        expected = {name: f["valid"][name][:] for name in readers}
        order = np.concatenate([np.random.default_rng(0).permutation(100), np.arange(100)])
        for i in order:
            for name, reader in readers.items():
                value = reader[int(i)]
                assert value.dtype == expected[name].dtype and value.flags.writeable
                np.testing.assert_array_equal(value, expected[name][i], err_msg=f"{name}[{i}]")
