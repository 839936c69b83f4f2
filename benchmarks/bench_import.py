"""Importing official-format Tetrominoes and CLEVR TFRecord files: records/s and peak memory.

Run: pytest benchmarks/bench_import.py --benchmark-enable. Figures: docs/benchmarks.md ("Import")
and docs/deepmind.md (CLEVR).
The file is written here in the layout of DeepMind's tetrominoes_train.tfrecords (one gzip stream
at zlib's default level 6, as TensorFlow writes; one-byte strings per image and mask value; float32
factors), with scenes of the tetris-v1 generator. Memory is the peak RSS (VmHWM) of a fresh
process importing 1x and 4x the records: it must not grow with the file.
"""

from __future__ import annotations

import gzip
import struct
import subprocess
import sys
from pathlib import Path

import google_crc32c
import numpy as np
import pytest

from groupbench import registry
from groupbench.importers import Selection
from groupbench.importers.deepmind import import_deepmind
from groupbench.seeding import CounterRandom, split_key

RECORDS = 20_000
SPLITS = (16_000, 2_000, 2_000)


def _masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _bytes_feature(values: np.ndarray) -> bytes:
    strings = np.empty((values.size, 3), np.uint8)
    strings[:, 0], strings[:, 1], strings[:, 2] = 0x0A, 0x01, values.ravel()  # one one-byte string per value
    return _field(1, strings.tobytes())


def _float_feature(values: np.ndarray) -> bytes:
    return _field(2, _field(1, np.ascontiguousarray(values, "<f4").tobytes()))


def _record(features: dict[str, bytes]) -> bytes:
    """One framed TFRecord record of a tf.train.Example with these features."""
    payload = _field(1, b"".join(_field(1, _field(1, k.encode()) + _field(2, v)) for k, v in features.items()))
    header = struct.pack("<Q", len(payload))
    return (header + struct.pack("<I", _masked(google_crc32c.value(header))) + payload
            + struct.pack("<I", _masked(google_crc32c.value(payload))))


def _peak_rss_mb(script: str, *args) -> int:
    """VmHWM of a fresh process running ``script`` (which prints it, in kB), in MB."""
    result = subprocess.run([sys.executable, "-c", script, *map(str, args)], check=True, capture_output=True, text=True)
    return int(result.stdout.split()[-1]) // 1024


def _rate(benchmark, records: int, source) -> None:
    benchmark.extra_info["records"] = records
    benchmark.extra_info["file_mb"] = round(source.stat().st_size / 1e6, 1)
    if benchmark.stats is not None:
        benchmark.extra_info["records_per_s"] = round(records / benchmark.stats.stats.mean, 1)


def write_tetrominoes(path, n: int) -> None:
    spec = registry.get("tetris-v1")
    params = spec.resolve_params()
    generator = spec.make(params)
    rng = CounterRandom(split_key("tetris-v1", params, 0, "train"))
    with gzip.open(path, "wb", compresslevel=6) as sink:
        for start in range(0, n, 1000):
            batch = generator.generate(rng, "train", np.arange(start, min(n, start + 1000), dtype=np.int64))
            entity = (batch.labels[:, None] == np.arange(4)[None, :, None, None]).astype(np.uint8) * 255
            zero = np.zeros((len(entity), 1), np.float32)
            floats = {
                "x": np.concatenate([zero, batch.factors["position"][..., 0]], 1),
                "y": np.concatenate([zero, batch.factors["position"][..., 1]], 1),
                "shape": np.concatenate([zero, batch.factors["shape"]], 1),
                "color": np.concatenate([np.zeros((len(entity), 1, 3)), batch.factors["color"] / 255], 1),
                "visibility": np.ones((len(entity), 4), np.float32),
            }
            for i in range(len(entity)):
                features = {"image": _bytes_feature(batch.images[i]), "mask": _bytes_feature(entity[i])}
                features.update({name: _float_feature(value[i]) for name, value in floats.items()})
                sink.write(_record(features))


@pytest.fixture(scope="module")
def tfrecord(tmp_path_factory):
    path = tmp_path_factory.mktemp("import") / "tetrominoes_train.tfrecords"
    write_tetrominoes(path, RECORDS)
    return path


def test_import_tetrominoes(benchmark, tfrecord, tmp_path):
    out = tmp_path / "t.h5"
    benchmark.pedantic(
        import_deepmind, args=(tfrecord, "tetrominoes", out),
        kwargs={"splits": SPLITS, "overwrite": True, "progress": False}, rounds=3, iterations=1,
    )
    _rate(benchmark, RECORDS, tfrecord)


PEAK_RSS = """
import sys
from groupbench.importers.deepmind import import_deepmind
n = int(sys.argv[3])
import_deepmind(sys.argv[1], "tetrominoes", sys.argv[2], splits=(n - 2 * (n // 10), n // 10, n // 10), progress=False)
status = open("/proc/self/status").read()
print(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
"""


@pytest.mark.parametrize("records", [RECORDS // 4, RECORDS])
def test_import_peak_memory(benchmark, tfrecord, tmp_path, records):
    """Peak RSS of a process importing 1x and 4x the records: it must not grow with them."""

    def run():
        peak = _peak_rss_mb(PEAK_RSS, tfrecord, tmp_path / "m.h5", records)
        (tmp_path / "m.h5").unlink()
        return peak

    peak_mb = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info["records"] = records
    benchmark.extra_info["peak_rss_mb"] = peak_mb


# --- CLEVR (with masks) -----------------------------------------------------------------------

CLEVR_RECORDS = 800
"""Records of the synthetic CLEVR file: 3.2 MB each before compression, as DeepMind's."""
CLEVR_SMOKE = 40
"""Records in smoke runs (benchmarks disabled, as in CI)."""


def _smoke(config) -> bool:
    return config.getoption("benchmark_disable") and not config.getoption("benchmark_enable")


def write_clevr(path, n: int, seed: int = 0) -> None:
    """n records in the layout of clevr_with_masks_train.tfrecords: 240x320 scenes of 1-10 rectangles,
    11 one-hot entity masks, float factors and one-byte codes, one gzip stream at level 6."""
    rng = np.random.default_rng(seed)
    entities = np.arange(11)[:, None, None]
    with gzip.open(path, "wb", compresslevel=6) as sink:
        for _ in range(n):
            count = int(rng.integers(1, 11))
            owner = np.zeros((240, 320), np.int64)
            for k in range(1, count + 1):
                top, left = rng.integers(0, 200), rng.integers(0, 280)
                owner[top : top + rng.integers(10, 40), left : left + rng.integers(10, 40)] = k
            colours = rng.integers(0, 256, (11, 3), dtype=np.uint8)
            visibility = (np.arange(11) <= count).astype(np.float32)
            features = {
                "image": _bytes_feature(colours[owner]),
                "mask": _bytes_feature((owner[None] == entities).astype(np.uint8) * 255),
                "visibility": _float_feature(visibility),
                "pixel_coords": _float_feature(rng.random((11, 3), dtype=np.float32) * visibility[:, None]),
            }
            for name in ("x", "y", "z", "rotation"):
                features[name] = _float_feature(rng.random(11, dtype=np.float32) * visibility)
            for name in ("color", "material", "shape", "size"):
                features[name] = _bytes_feature(rng.integers(1, 9, 11).astype(np.uint8) * (visibility > 0))
            sink.write(_record(features))


def clevr6_selection(n: int) -> Selection:
    """CLEVR6's carving scaled to n records: train from the first 70%, 10% test, valid the rest."""
    return Selection(evaluation_from=n * 7 // 10, test=n // 10, valid=None)


@pytest.fixture(scope="module")
def clevr_file(request, tmp_path_factory):
    """(path, records) of the synthetic CLEVR file."""
    path = tmp_path_factory.mktemp("clevr") / "clevr_with_masks_train.tfrecords"
    records = CLEVR_SMOKE if _smoke(request.config) else CLEVR_RECORDS
    write_clevr(path, records)
    return path, records


def test_import_clevr6(benchmark, clevr_file, tmp_path):
    """Both passes over the file (checking and counting objects, converting), crop and resize included."""
    path, records = clevr_file
    benchmark.pedantic(
        import_deepmind, args=(path, "clevr6", tmp_path / "c.h5"),
        kwargs={"selection": clevr6_selection(records), "overwrite": True, "progress": False}, rounds=1, iterations=1,
    )
    _rate(benchmark, records, path)


CLEVR_PEAK_RSS = """
import sys
sys.path.insert(0, sys.argv[4])
from bench_import import clevr6_selection
from groupbench.importers.deepmind import import_deepmind
n = int(sys.argv[3])
import_deepmind(sys.argv[1], "clevr6", sys.argv[2], selection=clevr6_selection(n), limit=n, progress=False)
status = open("/proc/self/status").read()
print(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
"""


@pytest.mark.parametrize("share", [4, 1])
def test_import_clevr6_peak_memory(benchmark, clevr_file, tmp_path, share):
    """Peak RSS of a process importing CLEVR6 from 1x and 4x the records: it must not grow with them."""
    path, records = clevr_file
    records //= share

    def run():
        peak = _peak_rss_mb(CLEVR_PEAK_RSS, path, tmp_path / "m.h5", records, Path(__file__).parent)
        (tmp_path / "m.h5").unlink()
        return peak

    peak_mb = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info["records"] = records
    benchmark.extra_info["peak_rss_mb"] = peak_mb
