"""Exports to the original layouts, read back with minimal readers written from original-code.md Part D."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from groupbench.data import SplitReader
from groupbench.errors import GroupbenchError
from groupbench.export import export
from groupbench.format import Batch, FactorSpec, SplitLayout
from groupbench.generation import Shard, generate
from groupbench.writer import DatasetFileWriter, encode_block


# --- minimal readers, as the original loaders read ----------------------------------------------


def read_binding(path, train_set="train_single"):
    """What Qwlouse/Binding dae.py reads: f[train_set]['default'] for training (input shape =
    shape[2:]), f['test']['default'] and f['test']['groups'] in full for evaluation."""
    with h5py.File(path, "r") as f:
        assert not f.attrs.keys()
        train = f[train_set]["default"][:]
        assert train.ndim == 5 and train.shape[0] == 1 and train.dtype == np.float32
        input_shape = train.shape[2:]
        n_train = train.shape[1]
        split = int(0.9 * n_train)  # the DAE's validation set: the last 10%, in file order
        x, groups = f["test"]["default"][:], f["test"]["groups"][:]
        assert x.dtype == np.float32 and groups.dtype == np.float32
        assert x.shape[0] == 1 and x.shape[2:] == input_shape and groups.shape == (*x.shape[:-1], 1)
        targets = {g: f[g]["targets"][:] for g in f if "targets" in f[g]}
        return {"train": train[0, :split], "valid": train[0, split:], "test_x": x[0], "test_groups": groups[0], "targets": targets}


def read_nem(path, usage, nr_steps=20):
    """What sjoerdvansteenkiste/Neural-EM datasets.py reads: f[usage]['features'] and ['groups'],
    (T, N, H, W, C); N from shape[1], the image from shape[-3:]; static data (T = 1) is tiled to
    nr_steps + 1 frames, sequences are cut to their first nr_steps + 1."""
    with h5py.File(path, "r") as f:
        assert not f.attrs.keys()
        features, groups = f[usage]["features"], f[usage]["groups"]
        assert features.dtype == np.float32 and groups.dtype == np.float32
        n, image = features.shape[1], features.shape[-3:]
        assert groups.shape[:2] == features.shape[:2] and groups.shape[-1] == 1
        if features.shape[0] == 1:
            x = np.repeat(features[:], nr_steps + 1, axis=0)
            y = np.repeat(groups[:], nr_steps + 1, axis=0)
        else:
            x, y = features[: nr_steps + 1], groups[: nr_steps + 1]
        assert x.shape == (nr_steps + 1, n, *image)
        return x, y, (f[usage]["overlaps"][:] if "overlaps" in f[usage] else None)


def expected_groups(labels, overlap):
    return np.where(overlap, 0, labels).astype(np.float32)


def split_arrays(path, split):
    with SplitReader(path, split) as reader:
        return reader[:]


# --- binding ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bars_binding(small_file, tmp_path_factory):
    source = small_file("bars-v1")
    out = tmp_path_factory.mktemp("export") / "bars.h5"
    report = export(source, "binding", out)
    return source, out, report


def test_binding_groups_and_contents(bars_binding):
    source, out, report = bars_binding
    assert report.groups == {"train_single": (("single",), 100), "train_multi": (("train", "valid"), 400), "test": (("test",), 200)}
    with h5py.File(out, "r") as f:
        assert set(f) == {"train_single", "train_multi", "test"}
        for group in f.values():
            assert set(group) == {"default", "groups"}
            for dset in group.values():
                assert dset.compression == "gzip" and dset.chunks[:2] == (1, min(100, dset.shape[1]))
        multi = f["train_multi"]["default"][0]
        multi_groups = f["train_multi"]["groups"][0]
    train, valid = split_arrays(source, "train"), split_arrays(source, "valid")
    assert (multi == np.concatenate([train["images"], valid["images"]]) / 255).all()
    labels = np.concatenate([train["labels"], valid["labels"]])
    overlap = np.concatenate([train["overlap"], valid["overlap"]])
    assert (multi_groups[..., 0] == expected_groups(labels, overlap)).all()
    data = read_binding(out)
    test = split_arrays(source, "test")
    assert set(np.unique(data["test_x"]).tolist()) == {0.0, 1.0}
    assert (data["test_x"] == test["images"] / 255).all()
    assert (data["test_groups"][..., 0] == expected_groups(test["labels"], test["overlap"])).all()
    # the RC scoring view: overlap pixels are 0, exactly 12 groups of 14 pixels per image
    g = data["test_groups"][..., 0]
    assert (g[test["overlap"]] == 0).all()
    assert all(sorted(np.unique(img[img > 0]).tolist()) == list(range(1, 13)) for img in g)
    assert ((g > 0).sum(axis=(1, 2)) == 168).all()
    single = split_arrays(source, "single")
    assert len(data["train"]) + len(data["valid"]) == 100 and (data["valid"] == single["images"][90:] / 255).all()


def test_binding_targets_for_digit_datasets(small_file, tmp_path):
    for dataset_id, width in (("multi-mnist-mini-v1", 3), ("mnist-shape-mini-v1", 1)):
        out = tmp_path / f"{dataset_id}.h5"
        export(small_file(dataset_id), "binding", out)
        data = read_binding(out, "train_multi")
        test = split_arrays(small_file(dataset_id), "test")
        targets = data["targets"]
        digits = test["factors/digit"][:, :width].astype(np.int64)
        assert targets["test"].shape == (1, len(digits), width) and (targets["test"][0] == digits).all()
        assert targets["train_multi"].shape == (1, 400, width)
        if dataset_id == "multi-mnist-mini-v1":
            assert targets["train_single"].shape == (1, 100, 1)
        else:  # single images hold a digit or a shape: no targets, as in the RC file
            assert "train_single" not in targets


def test_binding_keeps_rgb_channels_and_pixel_values(small_file, tmp_path):
    source = small_file("tetris-v1")
    out = tmp_path / "tetris.h5"
    report = export(source, "binding", out)
    assert report.missing_groups == ["train_single"]
    data = read_binding(out, "train_multi")
    test = split_arrays(source, "test")
    assert data["test_x"].shape == (200, 35, 35, 3)
    assert np.array_equal(data["test_x"], test["images"].astype(np.float32) / np.float32(255))
    assert (data["test_groups"][..., 0] == test["labels"]).all()  # tetrominoes never overlap


# --- nem ----------------------------------------------------------------------------------------


def test_nem_layout(small_file, tmp_path):
    source = small_file("multi-dsprites-v1")
    out = tmp_path / "md.h5"
    report = export(source, "nem", out)
    assert report.groups == {"training": (("train",), 300), "validation": (("valid",), 100), "test": (("test",), 200)}
    assert report.frames == 1
    with h5py.File(out, "r") as f:
        assert set(f) == {"training", "validation", "test"}
        assert set(f["test"]) == {"features", "groups", "overlaps"}
    for usage, split in (("training", "train"), ("validation", "valid"), ("test", "test")):
        x, y, overlaps = read_nem(out, usage)
        ours = split_arrays(source, split)
        assert x.shape == (21, len(ours["images"]), 64, 64, 3)
        assert (x[0] == ours["images"] / np.float32(255)).all() and (x[20] == x[0]).all()
        assert (y[0, ..., 0] == expected_groups(ours["labels"], ours["overlap"])).all()
        assert overlaps.shape == (1, len(ours["images"]), 64, 64, 1)
        assert (overlaps[0, ..., 0] == ours["overlap"]).all()
        assert int(y.max()) <= 5  # one-hot depth of the TF ARI: max(groups) + 1


def test_nem_superposition_has_only_a_test_group(tmp_path):
    source = generate("superposition-v1", tmp_path / "sp.h5", progress=False)
    report = export(source, "nem", tmp_path / "sp_nem.h5")
    assert list(report.groups) == ["test"] and report.missing_groups == ["training", "validation"]
    assert report.skipped_splits == ["single"]
    x, y, _ = read_nem(tmp_path / "sp_nem.h5", "test", nr_steps=1)
    assert x.shape == (2, 120, 8, 8, 1)


def sequence_file(path, n=6, frames=4):
    """A groupbench file with a sequence split (N, T, H, W, C), written through the format's writer."""
    layout = SplitLayout(image_shape=(5, 5, 1), max_objects=2, sequence_length=frames, factors={"k": FactorSpec("u1", per_frame=True)})
    masks = np.zeros((n, frames, 2, 5, 5), bool)
    for i in range(n):
        for t in range(frames):
            masks[i, t, 0, t, :] = True  # a row moving down
            masks[i, t, 1, :, (i + t) % 5] = True  # a column moving right
    labels = np.where(masks[:, :, 1], 2, np.where(masks[:, :, 0], 1, 0)).astype(np.uint8)
    overlap = masks.sum(axis=2) >= 2
    batch = Batch(
        images=(np.minimum(labels, 1) * 255).astype(np.uint8)[..., None], labels=labels, overlap=overlap, masks=masks,
        num_objects=np.full(n, 2, np.uint8), factors={"k": np.ones((n, frames, 2), np.uint8)},
    )
    with DatasetFileWriter(path, {"dataset": "test/seq-v1", "params": {}, "seed": 0}) as writer:
        for split in ("train", "valid", "test"):
            writer.create_split(split, layout, n).write(encode_block(batch, layout, 0, keep_raw=True))
    return batch


def test_nem_sequences_are_time_major(tmp_path):
    batch = sequence_file(tmp_path / "seq.h5")
    export(tmp_path / "seq.h5", "nem", tmp_path / "seq_nem.h5")
    with h5py.File(tmp_path / "seq_nem.h5", "r") as f:
        features, groups = f["training"]["features"][:], f["training"]["groups"][:]
    assert features.shape == (4, 6, 5, 5, 1) and groups.shape == (4, 6, 5, 5, 1)
    for t in range(4):
        assert (features[t, ..., 0] == batch.images[:, t, ..., 0] / 255).all()
        assert (groups[t, ..., 0] == np.where(batch.overlap[:, t], 0, batch.labels[:, t])).all()
    x, y, _ = read_nem(tmp_path / "seq_nem.h5", "training", nr_steps=3)
    assert x.shape == (4, 6, 5, 5, 1)
    with pytest.raises(GroupbenchError, match="still images only"):
        export(tmp_path / "seq.h5", "binding", tmp_path / "seq_binding.h5")
    assert not (tmp_path / "seq_binding.h5").exists()


@pytest.mark.parametrize("dataset_id,name", [("flying-shapes-v1", "flying_shapes.h5"), ("flying-mnist-mini-v1", "flying_mnist_hard_2digits.h5")])
def test_nem_reads_the_flying_sequences_with_its_default_20_steps(small_file, tmp_path, dataset_id, name):
    source = small_file(dataset_id)
    out = tmp_path / name
    report = export(source, "nem", out)
    assert report.frames == 21 and report.groups["training"] == (("train",), 300)
    size = 28 if "shapes" in dataset_id else 24
    for usage, split in (("training", "train"), ("validation", "valid"), ("test", "test")):
        x, y, overlaps = read_nem(out, usage, nr_steps=20)  # time first: (21, N, H, W, 1)
        ours = split_arrays(source, split)
        n = len(ours["images"])
        assert x.shape == (21, n, size, size, 1) and y.shape == (21, n, size, size, 1) and overlaps.shape == (21, n, size, size, 1)
        for t in (0, 7, 20):
            assert (x[t] == ours["images"][:, t] / np.float32(255)).all()
            assert (y[t, ..., 0] == expected_groups(ours["labels"][:, t], ours["overlap"][:, t])).all()
            assert (overlaps[t, ..., 0] == ours["overlap"][:, t]).all()
        assert set(np.unique(y).tolist()) <= set(range(int(ours["masks"].shape[2]) + 1))
    if "mnist" in dataset_id:  # grayscale in [0, 1], not binary
        assert len(np.unique(x)) > 2 and x.min() == 0.0 and x.max() == 1.0
    else:
        assert set(np.unique(x).tolist()) == {0.0, 1.0}


def test_nem_export_reads_sequences_in_bounded_blocks(small_file, tmp_path, monkeypatch):
    """Still images are read 1,000 at a time; sequences in whole chunks of 100 samples, so memory
    stays bounded (100 sequences of 21 RGB 64x64 frames as float32: 103 MB); the output does not
    depend on the block size."""
    import groupbench.export as module

    assert module.rows_per_read(1) == 1000 and module.rows_per_read(5) == 200
    assert module.rows_per_read(21) == 100 and module.rows_per_read(51) == 100 and module.rows_per_read(1000) == 100
    assert module.rows_per_read(21) * 21 * 64 * 64 * 3 * 4 < 110e6
    source = small_file("flying-shapes-v1")
    export(source, "nem", tmp_path / "a.h5")
    monkeypatch.setattr(module, "ROWS_PER_READ", 10**6)  # the whole split in one block
    export(source, "nem", tmp_path / "b.h5")
    with h5py.File(tmp_path / "a.h5", "r") as a, h5py.File(tmp_path / "b.h5", "r") as b:
        for usage in ("training", "validation", "test"):
            for name in ("features", "groups", "overlaps"):
                assert (a[usage][name][:] == b[usage][name][:]).all()


# --- errors and the command ---------------------------------------------------------------------


def test_export_errors(small_file, tmp_path):
    source = small_file("bars-v1")
    with pytest.raises(GroupbenchError, match="unknown layout"):
        export(source, "tfrecord", tmp_path / "x.h5")
    (tmp_path / "exists.h5").write_bytes(b"keep")
    with pytest.raises(GroupbenchError, match="exists; pass --overwrite"):
        export(source, "nem", tmp_path / "exists.h5")
    assert (tmp_path / "exists.h5").read_bytes() == b"keep"
    export(source, "nem", tmp_path / "exists.h5", overwrite=True)
    assert h5py.is_hdf5(tmp_path / "exists.h5")
    with pytest.raises(GroupbenchError, match="no such file"):
        export(tmp_path / "missing.h5", "nem", tmp_path / "y.h5")
    with pytest.raises(GroupbenchError, match="is also an input of this command; inputs are never overwritten"):
        export(source, "nem", source, overwrite=True)


def test_export_command(small_file, tmp_path, cli):
    result = cli("export", str(small_file("corners-v1")), "--layout", "binding", "--out", str(tmp_path / "c.h5"))
    assert result.exit_code == 0, result.output
    assert "train_multi   <- train + valid" in result.output and f"wrote {tmp_path / 'c.h5'}" in result.output
    data = read_binding(tmp_path / "c.h5")
    assert data["test_x"].shape == (200, 28, 28, 1)
    from click.testing import CliRunner

    from groupbench.cli import main

    result = CliRunner().invoke(main, ["export", str(tmp_path / "nothing.h5"), "--layout", "nem", "--out", str(tmp_path / "n.h5")])
    assert result.exit_code == 1 and "no such file" in result.output and "Traceback" not in result.output


def test_empty_splits_of_a_shard_are_left_out(tmp_path, cli):
    """A shard of a small dataset may hold no sample of a split: export leaves it out, show picks a split with samples."""
    path = generate("tetris-v1", tmp_path / "s.h5", sizes={"train": 16, "valid": 8, "test": 8}, shard=Shard(1, 2), progress=False)
    with h5py.File(path) as f:
        assert f["test/images"].shape[0] == 0 and f["train/images"].shape[0] == 8
    result = cli("export", str(path), "--layout", "nem", "--out", str(tmp_path / "e.h5"))
    assert result.exit_code == 0 and "not written: validation, test (FILE has no samples for it)" in result.output
    with h5py.File(tmp_path / "e.h5") as f:
        assert list(f) == ["training"] and f["training/features"].shape == (1, 8, 35, 35, 3)
    shown = cli("show", str(path), "--out", str(tmp_path / "g.png"))
    assert shown.exit_code == 0 and shown.output.strip() == f"wrote {tmp_path / 'g.png'}: split train"
