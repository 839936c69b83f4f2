"""Importing an official-format Tetrominoes TFRecord file: records/s and peak memory.

Run: pytest benchmarks/bench_import.py --benchmark-enable. Figures: docs/benchmarks.md ("Import").
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

import google_crc32c
import numpy as np
import pytest

from groupbench import registry
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
                payload = _field(1, b"".join(_field(1, _field(1, k.encode()) + _field(2, v)) for k, v in features.items()))
                header = struct.pack("<Q", len(payload))
                sink.write(header + struct.pack("<I", _masked(google_crc32c.value(header))) + payload
                           + struct.pack("<I", _masked(google_crc32c.value(payload))))


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
    benchmark.extra_info["records"] = RECORDS
    benchmark.extra_info["file_mb"] = round(tfrecord.stat().st_size / 1e6, 1)
    if benchmark.stats is not None:
        benchmark.extra_info["records_per_s"] = round(RECORDS / benchmark.stats.stats.mean)


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
        result = subprocess.run(
            [sys.executable, "-c", PEAK_RSS, str(tfrecord), str(tmp_path / "m.h5"), str(records)],
            check=True, capture_output=True, text=True,
        )
        (tmp_path / "m.h5").unlink()
        return int(result.stdout.split()[-1]) // 1024

    peak_mb = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info["records"] = records
    benchmark.extra_info["peak_rss_mb"] = peak_mb
