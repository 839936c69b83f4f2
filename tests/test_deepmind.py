"""Importing DeepMind's official TFRecord files: framing, Example parsing, the mapping, errors, fetch.

The TFRecord files are written here by a minimal encoder of this file's own (pure-Python CRC32C,
protobuf written by hand), in the layout of DeepMind's files: one gzip stream, one tf.train.Example
per record, one one-byte string per image or mask value, float32 lists for the factors, the
multi-dSprites mask pixel-major.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import http.server
import json
import os
import struct
import threading

import h5py
import numpy as np
import pytest

from groupbench import __version__, registry
from groupbench.errors import GroupbenchError
from groupbench.format import validate
from groupbench.importers import DEEPMIND
from groupbench.importers import deepmind as dm
from groupbench.importers.tfrecord import (
    ExampleLayout,
    iter_records,
    masked_crc32c,
    parse_example,
)

# --- a minimal independent encoder ------------------------------------------------------------


def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def tag(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def length_delimited(number: int, payload: bytes) -> bytes:
    return tag(number, 2) + varint(len(payload)) + payload


def bytes_feature(values: np.ndarray) -> bytes:
    """Feature{bytes_list}: one one-byte string per value, as DeepMind stores images and masks."""
    strings = b"".join(length_delimited(1, bytes([v])) for v in np.asarray(values, np.uint8).ravel().tolist())
    return length_delimited(1, strings)


def float_feature(values, packed: bool = True) -> bytes:
    values = np.asarray(values, np.float32).ravel().tolist()
    if packed:
        body = length_delimited(1, struct.pack(f"<{len(values)}f", *values))
    else:
        body = b"".join(tag(1, 5) + struct.pack("<f", v) for v in values)
    return length_delimited(2, body)


def int64_feature(values) -> bytes:
    body = b"".join(tag(1, 0) + varint(v & 0xFFFFFFFFFFFFFFFF) for v in values)
    return length_delimited(3, body)


def example(features: dict[str, bytes]) -> bytes:
    entries = b"".join(
        length_delimited(1, length_delimited(1, key.encode()) + length_delimited(2, value)) for key, value in features.items()
    )
    return length_delimited(1, entries)


def frame(payload: bytes) -> bytes:
    header = struct.pack("<Q", len(payload))
    return header + struct.pack("<I", masked(crc32c(header))) + payload + struct.pack("<I", masked(crc32c(payload)))


def write_tfrecord(path, payloads, compress: bool = True):
    data = b"".join(frame(p) for p in payloads)
    path.write_bytes(gzip.compress(data, 6) if compress else data)
    return path


# --- scenes in the layout of the official files -------------------------------------------------


def make_scenes(d, n: int, seed: int) -> dict[str, np.ndarray]:
    """Random scenes: entity 0 the background, objects as rectangles drawn in entity order (later on top).

    Scene 0 has a fully occluded object (visible 1, empty mask), scene 1 an unused entity before a
    used one, the others a random number of objects with the unused entities at the end.
    """
    rng = np.random.default_rng(seed)
    h, w, c = d.image
    e = d.entities
    owner = np.zeros((n, h, w), np.int64)
    visibility = np.zeros((n, e), np.float32)
    visibility[:, 0] = 1
    floats = {name: np.zeros((n, e, c) if name == "color" else (n, e), np.float32) for name in d.factors if name != "visibility"}
    for i in range(n):
        if i == 0:
            present = list(range(1, min(e, 3)))
        elif i == 1:
            present = list(range(2, e))
        else:
            present = list(range(1, 1 + int(rng.integers(1, e))))
        for k in present:
            top, left = rng.integers(0, h - 4), rng.integers(0, w - 4)
            bottom, right = top + rng.integers(3, h - top + 1), left + rng.integers(3, w - left + 1)
            owner[i, top:bottom, left:right] = k
            visibility[i, k] = 1
            for array in floats.values():
                array[i, k] = rng.random(array.shape[2:], dtype=np.float32) * 20
        if i == 0:  # the last object covers the first one entirely
            owner[i][owner[i] == present[0]] = present[-1]
    colors = rng.integers(0, 256, (n, e, c), dtype=np.uint8)
    images = np.take_along_axis(colors[:, None, None], owner[..., None, None], axis=3)[..., 0, :]
    masks = (owner[:, None] == np.arange(e)[None, :, None, None]).astype(np.uint8) * 255
    return {"image": images, "mask": masks, "visibility": visibility, **floats}


def encode_scenes(d, scenes, packed: bool = True, extra: bool = False, shuffled=(5, 9)) -> list[bytes]:
    """One serialized Example per scene, in the official files' layout.

    The features come in one order, except in the records ``shuffled`` (protobuf gives map entries
    no order), so that the importer meets a change of structure within a file.
    """
    payloads = []
    rng = np.random.default_rng(1)
    for i in range(len(scenes["image"])):
        mask = scenes["mask"][i]
        if d.pixel_major_mask:
            mask = mask.transpose(1, 2, 0)  # (H, W, E) as DeepMind stores multi-dSprites masks
        features = {"image": bytes_feature(scenes["image"][i]), "mask": bytes_feature(mask)}
        for name in d.factors:
            features[name] = float_feature(scenes[name][i], packed=packed)
        if extra:
            features["count"] = int64_feature([i, -1])
        keys = list(features)
        if i in shuffled:
            rng.shuffle(keys)
        payloads.append(example({k: features[k] for k in keys}))
    return payloads


def expected_arrays(d, scenes) -> dict[str, np.ndarray]:
    masks = scenes["mask"][:, 1:] > 0
    present = (scenes["visibility"][:, 1:] > 0) | masks.any(axis=(2, 3))
    num = np.array([1 + np.flatnonzero(p).max() if p.any() else 0 for p in present])
    return {
        "images": scenes["image"],
        "labels": np.argmax(scenes["mask"], axis=1),
        "overlap": np.zeros(masks.shape[:1] + masks.shape[2:], bool),
        "masks": masks,
        "num_objects": num,
        **{f"factors/{name}": scenes[name][:, 1:] for name in d.factors},
    }


N_RECORDS = 13


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """dataset name -> (TFRecord path, scenes) of N_RECORDS records."""
    folder = tmp_path_factory.mktemp("deepmind")
    made = {}
    for seed, (name, d) in enumerate(DEEPMIND.items()):
        scenes = make_scenes(d, N_RECORDS, seed)
        made[name] = (write_tfrecord(folder / d.file_name, encode_scenes(d, scenes)), scenes)
    return made


# --- the reader ---------------------------------------------------------------------------------


def test_crc_and_framing_agree_with_the_encoder(tmp_path):
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    assert masked_crc32c(b"some bytes") == masked(crc32c(b"some bytes"))
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


@pytest.mark.parametrize("name", sorted(DEEPMIND))
def test_import_matches_the_encoded_arrays(cli, official, tmp_path, name, monkeypatch):
    # small blocks, so that a split spans several blocks as on the real files
    monkeypatch.setattr(dm, "block_length", lambda layout: layout.chunk_length)
    d = DEEPMIND[name]
    path, scenes = official[name]
    out = tmp_path / "imported.h5"
    result = cli("import", "deepmind", str(path), "--dataset", name, "--out", str(out), "--splits", "6,3,4")
    assert result.exit_code == 0, result.output
    assert "train 6, valid 3, test 4 records" in result.output
    meta = validate(out)
    assert meta["dataset"] == d.dataset_id and meta["seed"] == 0
    assert meta["params"] == {
        "source": d.file_name, "source_sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "splits": [6, 3, 4], "limit": None,
    }
    expected = expected_arrays(d, scenes)
    assert expected["num_objects"][0] == 2 and not expected["masks"][0, 0].any()  # fully occluded, still counted
    assert expected["num_objects"][1] == d.entities - 1 and not expected["masks"][1, 0].any()  # unused slot first
    with h5py.File(out) as f:
        assert list(f) == ["test", "train", "valid"]
        for split, (first, stop) in {"train": (0, 6), "valid": (6, 9), "test": (9, 13)}.items():
            for array, values in expected.items():
                stored = f[split][array][:]
                assert stored.dtype == (np.float32 if array.startswith("factors") else values.dtype if array != "labels"
                                        and array != "num_objects" else np.uint8), array
                np.testing.assert_array_equal(stored, values[first:stop], err_msg=f"{split}/{array}")
    info = cli("info", str(out))
    assert d.dataset_id in info.output and "(imported, not generated: no seed)" in info.output and "seed 0" not in info.output


def test_import_extra_features_and_unpacked_floats(official, tmp_path):
    d = DEEPMIND["multi_dsprites_colored_on_colored"]
    scenes = official[d.name][1]
    path = write_tfrecord(tmp_path / "x.tfrecords", encode_scenes(d, scenes, packed=False, extra=True), compress=False)
    out, sizes = dm.import_deepmind(path, d.name, tmp_path / "x.h5", splits=(N_RECORDS, 0, 0))
    assert sizes == {"train": N_RECORDS}
    validate(out)
    with h5py.File(out) as f:
        assert list(f) == ["train"]
        np.testing.assert_array_equal(f["train/masks"][:], expected_arrays(d, scenes)["masks"])
        np.testing.assert_array_equal(f["train/factors/color"][:], scenes["color"][:, 1:])


def test_limit_and_short_files_fill_the_splits_in_order(cli, official, tmp_path):
    path = official["tetrominoes"][0]
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
    path = official["tetrominoes"][0]
    out = tmp_path / "t.h5"
    assert cli("import", "deepmind", str(path), "--dataset", "tetrominoes", "--out", str(out), "--splits", "10,20,0").exit_code == 0
    lines = cli("info", str(out)).output.splitlines()
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert lines[0] == f"{out}: deepmind/tetrominoes-v1 (imported, not generated: no seed), groupbench/1, groupbench {__version__}"
    assert lines[1] == (f"source: {path.name} (sha256 {sha[:16]}...): its first {N_RECORDS} records "
                        "(asked for 10 train, 20 valid, 0 test; no limit)")
    assert [line.split()[:2] for line in lines[2:]] == [["train", "10"], ["valid", str(N_RECORDS - 10)]]
    described = json.loads(cli("info", "--json", str(out)).output)
    assert described["imported"] and described["seed"] is None and described["source"]["source_sha256"] == sha
    shown = cli("show", str(out), "--out", str(tmp_path / "t.png"))
    assert shown.exit_code == 0 and shown.output.strip() == f"wrote {tmp_path / 't.png'}: split valid"


def test_import_reports_progress_in_a_log(cli, official, tmp_path, monkeypatch):
    from groupbench import progress

    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 0.0)
    result = cli("import", "deepmind", str(official["tetrominoes"][0]), "--dataset", "tetrominoes", "--out", str(tmp_path / "t.h5"))
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith("checking records: ") and " rec/s, ETA " in lines[0]
    assert lines[-1].startswith("import deepmind/tetrominoes-v1: done, 13 rec in ")


def test_import_never_writes_over_its_source_and_survives_a_full_disk(groupbench_process, refused, official, tmp_path):
    source = tmp_path / "tetrominoes_train.tfrecords"
    source.write_bytes(official["tetrominoes"][0].read_bytes())
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
    data = official["tetrominoes"][0].read_bytes()
    cut = tmp_path / "cut.tfrecords"
    cut.write_bytes(data[: len(data) * 2 // 3])
    assert "truncated" in _error(cli, cut, tmp_path) and "record" in _error(cli, cut, tmp_path)
    raw = gzip.decompress(data)
    cut.write_bytes(raw[: len(raw) // 2])  # uncompressed, cut inside a record
    assert "truncated" in _error(cli, cut, tmp_path)


def test_crc_mismatch_names_the_record(cli, official, tmp_path):
    raw = bytearray(gzip.decompress(official["tetrominoes"][0].read_bytes()))
    record = len(raw) // N_RECORDS
    raw[3 * record + 5000] ^= 0x40  # a bit of record 3's data
    bad = tmp_path / "bad.tfrecords"
    bad.write_bytes(gzip.compress(bytes(raw)))
    message = _error(cli, bad, tmp_path)
    assert "record 3" in message and "CRC mismatch" in message


def test_corrupted_gzip_data(cli, official, tmp_path):
    data = bytearray(official["tetrominoes"][0].read_bytes())
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
    without = dataclasses.replace(d, factors=tuple(f for f in d.factors if f != "orientation"))
    payloads = encode_scenes(d, official[d.name][1])[:4] + encode_scenes(without, make_scenes(without, 2, 5))
    path = write_tfrecord(tmp_path / "m.tfrecords", payloads)
    with pytest.raises(GroupbenchError, match="record 4 has no feature 'orientation'"):
        dm.import_deepmind(path, d.name, tmp_path / "m.h5", splits=(6, 0, 0))


def test_bad_options(cli, official, tmp_path):
    path = official["tetrominoes"][0]
    assert "--splits" in _error(cli, path, tmp_path, "tetrominoes", "--splits", "10,10")
    assert "--splits" in _error(cli, path, tmp_path, "tetrominoes", "--splits", "0,0,0")
    assert "--limit" in _error(cli, path, tmp_path, "tetrominoes", "--limit", "0")


# --- registry, scoring, leaderboard -------------------------------------------------------------


def test_ids_are_registered_import_only(cli):
    for d in DEEPMIND.values():
        spec = registry.get(d.dataset_id)
        assert spec.imported and spec.primary_metric == "ari" and spec.image_size == d.image
        assert spec.resolve_params() == {"source": d.file_name, "source_sha256": None,
                                         "splits": [60000, 10000, 10000], "limit": None}
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
    dm.import_deepmind(official["tetrominoes"][0], "tetrominoes", out, splits=(3, 3, 7))
    with h5py.File(out) as f:
        np.save(tmp_path / "pred.npy", f["test/labels"][:])
    result = cli("score", str(tmp_path / "pred.npy"), "--dataset", str(out), "--out", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["dataset"]["id"] == "deepmind/tetrominoes-v1" and results["metrics"]["ari"]["mean"] == 1.0
    board = tmp_path / "board"
    refused = cli("leaderboard", "submit", str(tmp_path / "r.json"), "--method", "oracle", "--board", str(board))
    assert refused.exit_code == 1 and "--unofficial" in refused.output
    result = cli("leaderboard", "submit", str(tmp_path / "r.json"), "--method", "oracle", "--unofficial", "--board", str(board))
    assert result.exit_code == 0, result.output
    assert cli("leaderboard", "render", "--board", str(board)).exit_code == 0
    readme = (board / "README.md").read_text()
    assert "deepmind/tetrominoes-v1[" in readme and "Ranked by ARI" in readme


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
    body = official["tetrominoes"][0].read_bytes()
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
