"""Importing DeepMind's official TFRecord files: framing, Example parsing, the mapping, CLEVR's crop
and carving, Objects Room's backgrounds, errors, fetch.

The TFRecord files are written here by a minimal encoder of the tests' own (tests/deepmind_layout.py:
protobuf written by hand, a pure-Python CRC32C reference), in the layout of DeepMind's files: one
gzip stream, one tf.train.Example per record, one one-byte string per image or mask value, float32
lists for the factors, the multi-dSprites mask pixel-major. Expected arrays are computed from the
scenes independently of the importer (the crop and resize with PyTorch).
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import http.server
import json
import os
import threading

import google_crc32c
import h5py
import numpy as np
import pytest
import torch
from deepmind_layout import (
    bytes_feature,
    crc32c,
    encode_scenes,
    example,
    expected_arrays,
    float_feature,
    frame,
    int64_feature,
    length_delimited,
    make_scenes,
    masked,
    scene_counts,
    tag,
    varint,
    write_tfrecord,
)

from groupbench import __version__, registry
from groupbench.errors import GroupbenchError
from groupbench.format import validate
from groupbench.importers import DEEPMIND, FILES, Selection
from groupbench.importers import deepmind as dm
from groupbench.importers.resize import resize_bilinear, resize_nearest
from groupbench.importers.scenes import layout
from groupbench.importers.tfrecord import (
    ExampleLayout,
    iter_records,
    masked_crc32c,
    parse_example,
)

N_RECORDS = 13
CLEVR_OBJECTS = [2, 8, 5, 10, 6, 7, 3, 9, 4, 7, 6, 8, 1]
"""Objects in the 13 CLEVR scenes: records 0-5 give CLEVR6's train with --evaluation-from 6."""
CLEVR_CARVING = ("--evaluation-from", "6", "--test", "2")


def scenes_of(f, n, seed):
    if f.name == "clevr_with_masks_train":
        return make_scenes(f, n, seed, objects=CLEVR_OBJECTS[:n], outside=2)
    return make_scenes(f, n, seed, background=4 if f.name.startswith("objects_room") else 1)


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """file name -> (TFRecord path, scenes) of N_RECORDS records, for every official file."""
    folder = tmp_path_factory.mktemp("deepmind")
    made = {}
    for seed, f in enumerate(FILES.values()):
        scenes = scenes_of(f, N_RECORDS, seed)
        made[f.name] = (write_tfrecord(folder / f.file_name, encode_scenes(f, scenes)), scenes)
    return made


def carve(d, scenes, evaluation_from: int, test: int, valid: int | None) -> dict[str, list[int]]:
    """The records of each split of a selected id, worked out from the scenes' object counts."""
    low, high = d.objects_kept
    kept = [i for i, n in enumerate(scene_counts(scenes)) if low <= n <= high]
    late = [i for i in kept if i >= evaluation_from]
    out = {"train": [i for i in kept if i < evaluation_from] if d.selection.train else []}
    out["test"] = late[:test]
    out["valid"] = late[test:] if valid is None else late[test : test + valid]
    return {split: records for split, records in out.items() if records}


# --- the reader ---------------------------------------------------------------------------------


def test_crc_and_framing_agree_with_the_encoder(tmp_path):
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    assert masked_crc32c(b"some bytes") == masked(crc32c(b"some bytes"))
    data = np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    assert all(google_crc32c.value(data[:n]) == crc32c(data[:n]) for n in (0, 1, 7, 64, 4999))  # the framing's CRCs
    payloads = [b"", b"x" * 1000, bytes(range(256)) * 50]
    assert list(iter_records(write_tfrecord(tmp_path / "a.tfrecords", payloads))) == payloads
    assert list(iter_records(write_tfrecord(tmp_path / "b.tfrecords", payloads, compress=False))) == payloads
    assert list(iter_records(tmp_path / "a.tfrecords", limit=2)) == payloads[:2]
    # a file of two gzip members reads as one stream
    two = tmp_path / "c.tfrecords"
    two.write_bytes(gzip.compress(frame(payloads[1])) + gzip.compress(frame(payloads[2])))
    assert list(iter_records(two)) == payloads[1:]


def test_parse_example_packed_unpacked_and_other_kinds():
    payload = example({
        "a": float_feature([1.5, -2.0, 3.25], packed=True),
        "b": float_feature([0.5, 7.0], packed=False),
        "c": int64_feature([3, -5, 2**40]),
        "d": length_delimited(1, length_delimited(1, b"hello") + length_delimited(1, b"")),
        "e": bytes_feature(np.array([9, 8, 7])),
    })
    features = parse_example(payload + tag(7, 0) + varint(12))  # an unknown trailing field is skipped
    assert features["a"].kind == "float" and features["a"].values.tolist() == [1.5, -2.0, 3.25]
    assert features["b"].values.tolist() == [0.5, 7.0]
    assert features["c"].kind == "int64" and features["c"].values.tolist() == [3, -5, 2**40]
    assert features["d"].kind == "bytes" and bytes(features["d"].values) == b"hello" and features["d"].count == 2
    assert features["e"].values.tolist() == [9, 8, 7] and features["e"].count == 3


def test_example_layout_reads_only_identical_structures():
    features = {"image": bytes_feature(np.arange(12)), "x": float_feature([1.0, 2.0])}
    first = example(features)
    layout = ExampleLayout.learn(first, parse_example(first), ["image", "x"])
    second = example({"image": bytes_feature(np.arange(12) * 3), "x": float_feature([-4.0, 0.5])})
    values = layout.read(second)
    assert values["image"].tolist() == (np.arange(12) * 3).tolist() and values["x"].tolist() == [-4.0, 0.5]
    # same length, other structure: refused, and so is anything that is not byte-identical outside the values
    assert layout.read(example({"image": bytes_feature(np.arange(12)), "y": float_feature([1.0, 2.0])})) is None
    assert layout.read(example({"x": float_feature([1.0, 2.0]), "image": bytes_feature(np.arange(12))})) is None
    two_bytes = bytearray(first)
    two_bytes[first.index(b"\x0a\x01\x05") + 1] = 2  # an element claims two bytes: a different parse
    assert layout.read(bytes(two_bytes)) is None
    assert ExampleLayout.learn(first, parse_example(example({"x": float_feature([1.0], packed=False)})), ["x"]) is None


# --- importing ----------------------------------------------------------------------------------


def _import_options(d) -> list[str]:
    return list(CLEVR_CARVING) if d.selected else ["--splits", "6,3,4"]


def _expected_splits(d, scenes) -> dict[str, list[int]]:
    if d.selected:
        return carve(d, scenes, 6, 2, d.selection.valid)
    return {"train": list(range(6)), "valid": list(range(6, 9)), "test": list(range(9, 13))}


@pytest.mark.parametrize("name", list(DEEPMIND))
def test_import_matches_the_encoded_arrays(cli, official, tmp_path, name, monkeypatch):
    # small blocks, so that a split spans several blocks as on the real files
    monkeypatch.setattr(dm, "scene_block", lambda d: layout(d, True).chunk_length)
    d = DEEPMIND[name]
    path, scenes = official[d.file.name]
    out = tmp_path / "imported.h5"
    result = cli("import", "deepmind", str(path), "--dataset", name, "--out", str(out), *_import_options(d))
    assert result.exit_code == 0, result.output
    splits = _expected_splits(d, scenes)
    counts = ", ".join(f"{split} {len(splits[split])}" for split in ("train", "valid", "test") if split in splits)
    assert f"({d.dataset_id}: {counts} records)" in result.output
    meta = validate(out)
    assert meta["dataset"] == d.dataset_id and meta["seed"] == 0
    carving = {"evaluation_from": 6, "test": 2, "valid": d.selection.valid} if d.selected else {"splits": [6, 3, 4]}
    assert meta["params"] == {
        "source": d.file_name, "source_sha256": hashlib.sha256(path.read_bytes()).hexdigest(), **carving,
        "limit": None, "factors": True,
    }
    expected = expected_arrays(d, scenes)
    with h5py.File(out) as f:
        assert sorted(f) == sorted(splits)
        for split, records in splits.items():
            for array, values in expected.items():
                stored = f[split][array][:]
                kind = {"labels": np.uint8, "num_objects": np.uint8}.get(array, values.dtype)
                assert stored.dtype == kind, array
                np.testing.assert_array_equal(stored, values[records], err_msg=f"{split}/{array}")
            assert f[split]["masks"].shape[1] == d.max_objects
    info = cli("info", str(out))
    assert d.dataset_id in info.output and "(imported, not generated: no seed)" in info.output and "seed 0" not in info.output


def test_scene_quirks_are_kept(official):
    """Hidden objects count, an unused entity before a used one leaves an empty slot, cropped-away objects count."""
    d = DEEPMIND["tetrominoes"]
    expected = expected_arrays(d, official[d.file.name][1])
    assert expected["num_objects"][0] == 2 and not expected["masks"][0, 0].any()  # fully occluded, still counted
    assert expected["num_objects"][1] == d.max_objects and not expected["masks"][1, 0].any()  # unused slot first
    clevr = expected_arrays(DEEPMIND["clevr6"], official["clevr_with_masks_train"][1])
    assert clevr["num_objects"][2] == CLEVR_OBJECTS[2] and not clevr["masks"][2, 0].any()  # outside the crop, counted
    room = DEEPMIND["objects_room"]
    scenes = official[room.file.name][1]
    expected = expected_arrays(room, scenes)
    background = (scenes["mask"][:, :4] > 0).any(axis=1)
    assert (expected["labels"][background] == 0).all() and (expected["labels"][~background] > 0).all()


def test_crop_and_resize_match_pytorch():
    """Bilinear at pixel centres rounded half up, nearest at pixel centres, for any sizes (PyTorch as the reference)."""
    rng = np.random.default_rng(3)
    for h, w, size in [(192, 192, (128, 128)), (35, 35, (32, 32)), (6, 9, (13, 4))]:
        images = rng.integers(0, 256, (2, h, w, 3), dtype=np.uint8)
        reference = torch.nn.functional.interpolate(
            torch.from_numpy(images).permute(0, 3, 1, 2).double(), size=size, mode="bilinear", align_corners=False
        ).permute(0, 2, 3, 1).numpy()
        ours = resize_bilinear(images, size)
        near_tie = np.abs(reference - np.floor(reference) - 0.5) < 1e-6  # float rounding may go either way there
        assert (ours == np.floor(reference + 0.5))[~near_tie].all() and (np.abs(ours - reference) <= 0.5 + 1e-6).all()
        masks = rng.integers(0, 4, (2, 3, h, w))
        nearest = torch.nn.functional.interpolate(torch.from_numpy(masks).double(), size=size, mode="nearest-exact").numpy()
        np.testing.assert_array_equal(resize_nearest(masks, size), nearest)


def test_clevr_defaults_and_valid_limit(official, tmp_path):
    d = DEEPMIND["clevr6"]
    path, scenes = official[d.file.name]
    # the default carving: all 13 records lie before record 70,000, so only train is written
    out, sizes = dm.import_deepmind(path, "clevr6", tmp_path / "a.h5")
    kept = [i for i, n in enumerate(scene_counts(scenes)) if n <= 6]
    assert sizes == {"train": len(kept)}
    # --valid caps the validation records; reading stops once test and valid are full
    out, sizes = dm.import_deepmind(path, "clevr6", tmp_path / "b.h5", selection=Selection(4, 1, 1))
    assert sizes == {split: len(r) for split, r in carve(d, scenes, 4, 1, 1).items()}
    few = write_tfrecord(tmp_path / "few.tfrecords", encode_scenes(d.file, scenes)[::12])  # 2 and 1 objects
    with pytest.raises(GroupbenchError, match="none of the 2 records read has 7-10 objects"):
        dm.import_deepmind(few, "clevr10", tmp_path / "c.h5", selection=Selection(0, 5, 0, train=False))
    assert not (tmp_path / "c.h5").exists()


def test_no_factors_counts_visible_objects(official, tmp_path):
    d = DEEPMIND["multi_dsprites_colored_on_colored"]
    scenes = {k: v.copy() for k, v in official[d.file.name][1].items()}
    last = scene_counts(scenes)[3]
    scenes["mask"][3, last] = 0  # scene 3's last object: visible by its factors, no pixel in its mask
    path = write_tfrecord(tmp_path / "hidden.tfrecords", encode_scenes(d.file, scenes))
    out, _ = dm.import_deepmind(path, d.name, tmp_path / "n.h5", splits=(N_RECORDS, 0, 0), factors=False)
    meta = validate(out)
    assert meta["params"]["factors"] is False
    expected = expected_arrays(d, scenes, factors=False)
    with h5py.File(out) as f:
        assert "factors" not in f["train"]
        for array, values in expected.items():
            np.testing.assert_array_equal(f["train"][array][:], values, err_msg=array)
    assert expected["num_objects"][3] == last - 1 and expected_arrays(d, scenes)["num_objects"][3] == last


def test_import_extra_features_and_unpacked_floats(official, tmp_path):
    d = DEEPMIND["multi_dsprites_colored_on_colored"]
    scenes = official[d.file.name][1]
    path = write_tfrecord(tmp_path / "x.tfrecords", encode_scenes(d.file, scenes, packed=False, extra=True), compress=False)
    out, sizes = dm.import_deepmind(path, d.name, tmp_path / "x.h5", splits=(N_RECORDS, 0, 0))
    assert sizes == {"train": N_RECORDS}
    validate(out)
    with h5py.File(out) as f:
        assert list(f) == ["train"]
        np.testing.assert_array_equal(f["train/masks"][:], expected_arrays(d, scenes)["masks"])
        np.testing.assert_array_equal(f["train/factors/color"][:], scenes["color"][:, 1:])


def test_limit_and_short_files_fill_the_splits_in_order(cli, official, tmp_path):
    path = official["tetrominoes_train"][0]
    out = tmp_path / "t.h5"
    result = cli("import", "deepmind", str(path), "--dataset", "tetrominoes", "--out", str(out), "--splits", "5,3,3",
                 "--limit", "10")
    assert result.exit_code == 0, result.output
    assert "train 5, valid 3, test 2 records" in result.output and "--limit 10" in result.output
    assert validate(out)["params"]["limit"] == 10
    result = cli("import", "deepmind", str(path), "--dataset", "tetrominoes", "--out", str(out), "--overwrite")
    assert result.exit_code == 0 and f"train {N_RECORDS} records" in result.output
    assert f"holds only {N_RECORDS} records" in result.output
    with h5py.File(out) as f:
        assert list(f) == ["train"] and f["train/images"].shape[0] == N_RECORDS
    exists = cli("import", "deepmind", str(path), "--dataset", "tetrominoes", "--out", str(out))
    assert exists.exit_code == 1 and "--overwrite" in exists.output


def test_info_and_show_describe_what_an_imported_file_holds(cli, official, tmp_path):
    """A short file and no test split: info tells the records held (not the spec's default splits
    or a seed), show picks a split the file holds."""
    path = official["tetrominoes_train"][0]
    out = tmp_path / "t.h5"
    assert cli("import", "deepmind", str(path), "--dataset", "tetrominoes", "--out", str(out), "--splits", "10,20,0").exit_code == 0
    lines = cli("info", str(out)).output.splitlines()
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert lines[0] == f"{out}: deepmind/tetrominoes-v1 (imported, not generated: no seed), groupbench/1, groupbench {__version__}"
    assert lines[1] == f"imported from {path.name} (sha256 {sha[:16]}...): holds {N_RECORDS} records; factors yes; limit none; splits 10,20,0"
    assert [line.split()[:2] for line in lines[2:]] == [["train", "10"], ["valid", str(N_RECORDS - 10)]]
    described = json.loads(cli("info", "--json", str(out)).output)
    assert described["imported"] and described["seed"] is None and described["params"]["source_sha256"] == sha
    shown = cli("show", str(out), "--out", str(tmp_path / "t.png"))
    assert shown.exit_code == 0 and shown.output.strip() == f"wrote {tmp_path / 't.png'}: split valid"


def test_import_reports_progress_in_a_log(cli, official, tmp_path, monkeypatch):
    from groupbench import progress

    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 0.0)
    result = cli("import", "deepmind", str(official["tetrominoes_train"][0]), "--dataset", "tetrominoes", "--out", str(tmp_path / "t.h5"))
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith("checking records: ") and " rec/s, ETA " in lines[0]
    assert lines[-1].startswith("import deepmind/tetrominoes-v1: done, 13 rec in ")


def test_import_never_writes_over_its_source_and_survives_a_full_disk(groupbench_process, refused, official, tmp_path):
    source = tmp_path / "tetrominoes_train.tfrecords"
    source.write_bytes(official["tetrominoes_train"][0].read_bytes())
    before = source.read_bytes()
    refused(groupbench_process("import", "deepmind", source, "--dataset", "tetrominoes", "--out", source, "--overwrite"),
            "is also an input of this command; inputs are never overwritten")
    out = tmp_path / "out" / "t.h5"
    out.parent.mkdir()
    refused(groupbench_process("import", "deepmind", source, "--dataset", "tetrominoes", "--out", out, file_size_limit=8000),
            f"cannot write {out}: File too large")
    assert source.read_bytes() == before and os.listdir(out.parent) == []


def _error(cli, path, tmp_path, dataset="tetrominoes", *extra):
    result = cli("import", "deepmind", str(path), "--dataset", dataset, "--out", str(tmp_path / "e.h5"), *extra)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert not (tmp_path / "e.h5").exists() and not list(tmp_path.glob(".e.h5.partial-*"))
    return lines[0]


def test_truncated_file(cli, official, tmp_path):
    data = official["tetrominoes_train"][0].read_bytes()
    cut = tmp_path / "cut.tfrecords"
    cut.write_bytes(data[: len(data) * 2 // 3])
    assert "truncated" in _error(cli, cut, tmp_path) and "record" in _error(cli, cut, tmp_path)
    raw = gzip.decompress(data)
    cut.write_bytes(raw[: len(raw) // 2])  # uncompressed, cut inside a record
    assert "truncated" in _error(cli, cut, tmp_path)


def test_crc_mismatch_names_the_record(cli, official, tmp_path):
    raw = bytearray(gzip.decompress(official["tetrominoes_train"][0].read_bytes()))
    record = len(raw) // N_RECORDS
    raw[3 * record + 5000] ^= 0x40  # a bit of record 3's data
    bad = tmp_path / "bad.tfrecords"
    bad.write_bytes(gzip.compress(bytes(raw)))
    message = _error(cli, bad, tmp_path)
    assert "record 3" in message and "CRC mismatch" in message


def test_corrupted_gzip_data(cli, official, tmp_path):
    data = bytearray(official["tetrominoes_train"][0].read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 64):
        data[i] ^= 0xFF
    bad = tmp_path / "bad.tfrecords"
    bad.write_bytes(bytes(data))
    message = _error(cli, bad, tmp_path)
    assert "corrupted" in message and "record" in message


def test_not_gzip_and_not_tfrecord(cli, tmp_path):
    png = tmp_path / "image.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    assert "not a gzip file" in _error(cli, png, tmp_path)
    text = tmp_path / "text.gz"
    text.write_bytes(gzip.compress(b"just some text that is long enough to be a header " * 10))
    assert "not a TFRecord file" in _error(cli, text, tmp_path)
    text.write_bytes(gzip.compress(b"short"))
    assert "not a TFRecord file" in _error(cli, text, tmp_path)
    empty = tmp_path / "empty.tfrecords"
    empty.write_bytes(b"")
    assert "empty" in _error(cli, empty, tmp_path)
    assert "no such file" in _error(cli, tmp_path / "missing.tfrecords", tmp_path)


def test_not_an_example(cli, tmp_path):
    path = write_tfrecord(tmp_path / "p.tfrecords", [example({"image": bytes_feature(np.zeros(5))}), b"\xff\xff\xff"])
    assert "record 0 has no feature 'mask'" in _error(cli, path, tmp_path)
    path = write_tfrecord(tmp_path / "q.tfrecords", [b"\x0f\x01"])
    assert "record 0 is not a tf.train.Example" in _error(cli, path, tmp_path)


def test_wrong_dataset_is_named(cli, official, tmp_path):
    path = official["multi_dsprites_colored_on_grayscale"][0]
    message = _error(cli, path, tmp_path, "tetrominoes")
    assert "record 0" in message and "multi_dsprites_colored_on_grayscale" in message
    message = _error(cli, path, tmp_path, "multi_dsprites_colored_on_colored")
    assert "feature 'mask'" in message and "--dataset multi_dsprites_colored_on_grayscale" in message


def test_missing_feature_names_the_record(official, tmp_path):
    d = DEEPMIND["multi_dsprites_binarized"]
    without = dataclasses.replace(d.file, factors=tuple(f for f in d.file.factors if f.name != "orientation"))
    payloads = encode_scenes(d.file, official[d.file.name][1])[:4] + encode_scenes(without, make_scenes(without, 2, 5))
    path = write_tfrecord(tmp_path / "m.tfrecords", payloads)
    with pytest.raises(GroupbenchError, match="record 4 has no feature 'orientation'"):
        dm.import_deepmind(path, d.name, tmp_path / "m.h5", splits=(6, 0, 0))


def test_bad_options(cli, official, tmp_path):
    path = official["tetrominoes_train"][0]
    assert "--splits" in _error(cli, path, tmp_path, "tetrominoes", "--splits", "10,10")
    assert "--splits" in _error(cli, path, tmp_path, "tetrominoes", "--splits", "0,0,0")
    assert "--limit" in _error(cli, path, tmp_path, "tetrominoes", "--limit", "0")
    assert "not --evaluation-from" in _error(cli, path, tmp_path, "tetrominoes", "--test", "5")
    clevr = official["clevr_with_masks_train"][0]
    assert "not --splits" in _error(cli, clevr, tmp_path, "clevr6", "--splits", "5,5,5")
    assert ">= 0" in _error(cli, clevr, tmp_path, "clevr6", "--test", "-1")


def test_files_of_other_datasets_are_refused(cli, official, tmp_path):
    # the CLEVR file into a multi-dSprites id, and a room test file into the train id: told apart by their sizes
    message = _error(cli, official["clevr_with_masks_train"][0], tmp_path, "multi_dsprites_colored_on_colored")
    assert "--dataset clevr6, clevr10 or clevr_with_masks" in message
    message = _error(cli, official["objects_room_test_six_objects"][0], tmp_path, "objects_room")
    assert "feature 'mask'" in message and "objects_room_six_objects" in message
    # the two 10-entity room test files look alike: told apart by their official names
    message = _error(cli, official["objects_room_test_six_objects"][0], tmp_path, "objects_room_identical_color")
    assert "named as DeepMind's objects_room_test_six_objects.tfrecords" in message
    assert "--dataset objects_room_six_objects" in message


# --- registry, scoring, leaderboard -------------------------------------------------------------


def test_ids_are_registered_import_only(cli):
    for d in DEEPMIND.values():
        spec = registry.get(d.dataset_id)
        assert spec.imported and spec.primary_metric == "ari" and spec.image_size == d.image
        carving = ({"evaluation_from": 70000, "test": 320, "valid": d.selection.valid} if d.selected
                   else {"splits": list(d.splits)})
        assert spec.resolve_params() == {"source": d.file_name, "source_sha256": None, **carving, "limit": None,
                                         "factors": True}
        with pytest.raises(GroupbenchError, match="groupbench import deepmind"):
            spec.resolve_params({"variant": "x"})
    result = cli("generate", "deepmind/tetrominoes-v1", "--out", "never.h5")
    assert result.exit_code == 1 and "groupbench import deepmind" in result.output
    assert len(result.output.strip().splitlines()) == 1
    listing = cli("list").output.splitlines()
    line = next(x for x in listing if x.startswith("deepmind/tetrominoes-v1 "))
    assert "[imported]" in line and not any("[imported]" in x for x in listing if x.startswith("tetris-v1 "))
    verbose = cli("list", "-v").output
    assert "import: groupbench import deepmind FILE --dataset tetrominoes" in verbose


def test_score_and_submit_imported_data(cli, official, tmp_path):
    out = tmp_path / "t.h5"
    dm.import_deepmind(official["tetrominoes_train"][0], "tetrominoes", out, splits=(3, 3, 7))
    with h5py.File(out) as f:
        np.save(tmp_path / "pred.npy", f["test/labels"][:])
    result = cli("score", str(tmp_path / "pred.npy"), "--dataset", str(out), "--out", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["dataset"]["id"] == "deepmind/tetrominoes-v1" and results["metrics"]["ari"]["mean"] == 1.0
    board = tmp_path / "board"
    refused = cli("leaderboard", "submit", str(tmp_path / "r.json"), "--method", "oracle", "--board", str(board), "--create")
    assert refused.exit_code == 1 and "--unofficial" in refused.output
    result = cli("leaderboard", "submit", str(tmp_path / "r.json"), "--method", "oracle", "--unofficial", "--board", str(board),
                 "--create")
    assert result.exit_code == 0, result.output
    assert cli("leaderboard", "render", "--board", str(board)).exit_code == 0
    readme = (board / "README.md").read_text()
    # one section per configuration (an import's options are none); an unofficial part of the data is shown apart
    assert "## deepmind/tetrominoes-v1\n" in readme
    assert "Apart, not ranked with the above (not the official data; 7 images (protocol: 320); overlap pixels left out" in readme


# --- fetch --------------------------------------------------------------------------------------


class _Server:
    """A local HTTP server for one file, with the headers Google Cloud Storage sends (or wrong ones)."""

    def __init__(self, body: bytes, headers: dict[str, str]):
        self.body, self.headers, self.requests = body, headers, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", str(len(server.body)))
                for name, value in server.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _goog_hash(body: bytes) -> str:
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    crc = base64.b64encode(crc32c(body).to_bytes(4, "big")).decode()
    return f"crc32c={crc},md5={md5}"


def test_fetch_downloads_and_verifies(cli, official, tmp_path):
    body = official["tetrominoes_train"][0].read_bytes()
    digest = hashlib.sha256(body).hexdigest()
    server = _Server(body, {"x-goog-hash": _goog_hash(body)})
    try:
        folder = tmp_path / "dl"
        result = cli("fetch", "deepmind", "tetrominoes", "--out", str(folder), "--base-url", server.url, "--sha256", digest)
        assert result.exit_code == 0, result.output
        assert server.requests == ["/tetrominoes/tetrominoes_train.tfrecords"]
        target = folder / "tetrominoes_train.tfrecords"
        assert target.read_bytes() == body
        assert "verified: length, the server's MD5, the server's CRC32C, --sha256" in result.output
        again = cli("fetch", "deepmind", "tetrominoes", "--out", str(folder), "--base-url", server.url)
        assert again.exit_code == 0 and digest in again.output and len(server.requests) == 1  # kept, not downloaded
        assert cli("import", "deepmind", str(target), "--dataset", "tetrominoes", "--out", str(tmp_path / "t.h5"),
                   "--splits", "13,0,0").exit_code == 0
        assert validate(tmp_path / "t.h5")["params"]["source_sha256"] == digest
    finally:
        server.close()


def test_fetch_without_published_checksum_prints_the_digest(cli, tmp_path):
    body = b"not really a tfrecord, but bytes to download" * 100
    server = _Server(body, {})
    try:
        result = cli("fetch", "deepmind", "multi_dsprites_binarized", "--out", str(tmp_path), "--base-url", server.url)
        assert result.exit_code == 0, result.output
        assert hashlib.sha256(body).hexdigest() in result.output and "verified: length" in result.output
        assert (tmp_path / "multi_dsprites_binarized.tfrecords").read_bytes() == body
    finally:
        server.close()


@pytest.mark.parametrize("dataset, path", [
    ("clevr6", "/clevr_with_masks/clevr_with_masks_train.tfrecords"),
    ("objects_room_identical_color", "/objects_room/objects_room_test_identical_color.tfrecords"),
])
def test_fetch_knows_the_clevr_and_objects_room_files(cli, official, tmp_path, dataset, path):
    name = path.rsplit("/", 1)[1].removesuffix(".tfrecords")
    body = official[name][0].read_bytes()
    server = _Server(body, {"x-goog-hash": _goog_hash(body)})
    try:
        result = cli("fetch", "deepmind", dataset, "--out", str(tmp_path), "--base-url", server.url)
        assert result.exit_code == 0, result.output
        assert server.requests == [path] and (tmp_path / path.rsplit("/", 1)[1]).read_bytes() == body
        assert f"--dataset {dataset}" in result.output
        if dataset == "clevr6":  # the other CLEVR ids use the same file: already there
            again = cli("fetch", "deepmind", "clevr_with_masks", "--out", str(tmp_path), "--base-url", server.url)
            assert again.exit_code == 0 and "present" in again.output and len(server.requests) == 1
        imported = cli("import", "deepmind", str(tmp_path / path.rsplit("/", 1)[1]), "--dataset", dataset,
                       "--out", str(tmp_path / "x.h5"), *(CLEVR_CARVING if dataset == "clevr6" else ()))
        assert imported.exit_code == 0, imported.output
    finally:
        server.close()


@pytest.mark.parametrize("problem", ["sha256", "md5", "crc32c"])
def test_fetch_refuses_a_mismatch(cli, tmp_path, problem):
    body = b"0123456789" * 1000
    good = _goog_hash(body)
    headers = {"x-goog-hash": good}
    if problem == "md5":
        headers = {"x-goog-hash": good.split(",")[0] + ",md5=" + base64.b64encode(bytes(16)).decode()}
    if problem == "crc32c":
        headers = {"x-goog-hash": "crc32c=AAAAAA==," + good.split(",")[1]}
    sha = "0" * 64 if problem == "sha256" else hashlib.sha256(body).hexdigest()
    server = _Server(body, headers)
    try:
        result = cli("fetch", "deepmind", "tetrominoes", "--out", str(tmp_path), "--base-url", server.url, "--sha256", sha)
        assert result.exit_code == 1 and problem.upper() in result.output.upper()
        assert list(tmp_path.iterdir()) == []  # nothing kept, no partial file
    finally:
        server.close()


def test_fetch_reports_http_errors(cli, tmp_path):
    server = _Server(b"", {})
    server.httpd.RequestHandlerClass.do_GET = lambda self: self.send_error(404)
    try:
        result = cli("fetch", "deepmind", "tetrominoes", "--out", str(tmp_path), "--base-url", server.url)
        assert result.exit_code == 1 and "HTTP 404" in result.output
    finally:
        server.close()


def test_list_describes_the_carving_of_clevr6(cli):
    """CLEVR6's and CLEVR10's splits are carved by object count, not consecutive records: `list -v` says so."""
    output = cli("list", "-v").output
    clevr6 = output[output.index("deepmind/clevr6-v1"):].split("\n")[1]
    assert "carved by object count" in clevr6 and "before 70,000" in clevr6 and "the first 320" in clevr6
    assert "consecutive records" not in clevr6
    tetrominoes = output[output.index("deepmind/tetrominoes-v1"):].split("\n")[1]
    assert "consecutive records of the source file" in tetrominoes


def test_objects_room_records_with_three_background_masks(tmp_path):
    """Records with only three room masks (an object drawn at entity 3, as third parties report):
    no heuristic moves it, so it is background (label 0) like the other room entities, exactly as
    the foreground ARI that leaves out the first four entities scores it; objects from entity 4 on
    keep their labels."""
    room = DEEPMIND["objects_room"]
    scenes = make_scenes(room.file, 6, 11, background=3)  # entity 3 is an object rectangle here
    path = write_tfrecord(tmp_path / "room3.tfrecords", encode_scenes(room.file, scenes))
    out, _ = dm.import_deepmind(path, room.name, tmp_path / "room3.h5", splits=(6, 0, 0))
    with h5py.File(out) as f:
        labels = f["train/labels"][:]
        np.testing.assert_array_equal(labels, expected_arrays(room, scenes)["labels"])
    entity3 = scenes["mask"][:, 3] > 0
    later = (scenes["mask"][:, 4:] > 0).any(axis=1)
    assert entity3.any() and (labels[entity3 & ~later] == 0).all()  # the entity-3 object, where nothing covers it
    assert (labels[later] > 0).all()
