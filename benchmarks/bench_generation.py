"""Generation speed and peak memory per dataset, writing a complete file on one core.

Run: pytest benchmarks/bench_generation.py --benchmark-enable. Figures: docs/benchmarks.md.
Memory is the peak RSS (VmHWM) of a fresh process that generates the file. (ru_maxrss would
not do: Linux carries it over from the parent process across exec.)
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from groupbench.generation import generate

COUNTS = {
    # dataset id -> split sizes benchmarked (the reference runs of the original generators)
    "shapes-v1": {"train": 60_000, "valid": 0, "test": 10_000, "single": 10_000},
    "tetris-v1": {"train": 60_000, "valid": 10_000, "test": 10_000},
    "bars-v1": {"train": 50_000, "valid": 10_000, "test": 10_000, "single": 10_000},
    "corners-v1": {"train": 50_000, "valid": 10_000, "test": 10_000, "single": 10_000},
    # mini ids: splits that use each digit once stay within their pools at 4x (superposition-v1 has
    # exactly 136 images and cannot be scaled: measured on its own, see docs/benchmarks.md)
    "mnist-shape-mini-v1": {"train": 750, "valid": 250, "test": 250, "single": 20_000},
    "multi-mnist-mini-v1": {"train": 10_000, "valid": 2_000, "test": 2_000, "single": 750},
    "multi-dsprites-v1": {"train": 6_000, "valid": 1_000, "test": 1_000},
    "multi-dsprites-v1[variant=binarized]": {"train": 6_000, "valid": 1_000, "test": 1_000},
    "multi-dsprites-v1[variant=colored-on-colored]": {"train": 6_000, "valid": 1_000, "test": 1_000},
    # sequences of 21 frames: "images" are sequences here
    "flying-shapes-v1": {"train": 4_000, "valid": 500, "test": 500},
    "flying-shapes-v1[num_objects=5]": {"train": 4_000, "valid": 500, "test": 500},
    "flying-mnist-mini-v1": {"train": 4_000, "valid": 500, "test": 500},
    "flying-dsprites-v1": {"train": 400, "valid": 50, "test": 50},
}
"""Keys are dataset labels: the id, and parameters in brackets for a configuration."""


def parse_label(label: str) -> tuple[str, dict[str, str]]:
    """``id[key=value,...]`` -> (id, params)."""
    dataset_id, _, rest = label.partition("[")
    return dataset_id, dict(pair.split("=", 1) for pair in rest.rstrip("]").split(",") if pair)

PEAK_RSS = """
import json, sys
from groupbench.generation import generate
generate(sys.argv[1], sys.argv[2], sizes=json.loads(sys.argv[3]), params=json.loads(sys.argv[4]), progress=False)
status = open("/proc/self/status").read()
print(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
"""


@pytest.mark.parametrize("label", sorted(COUNTS))
def test_generate_one_core(benchmark, tmp_path, label):
    sizes = COUNTS[label]
    dataset_id, params = parse_label(label)
    out = tmp_path / "data.h5"
    benchmark.pedantic(
        generate, args=(dataset_id, out), kwargs=dict(sizes=sizes, params=params, overwrite=True, progress=False),
        rounds=3, iterations=1,
    )
    images = sum(sizes.values())
    benchmark.extra_info["images"] = images
    if benchmark.stats is not None:
        benchmark.extra_info["images_per_s"] = round(images / benchmark.stats.stats.mean)


@pytest.mark.parametrize("scale", [1, 4])
@pytest.mark.parametrize("label", sorted(COUNTS))
def test_generate_peak_memory(benchmark, tmp_path, label, scale):
    """Peak RSS of a process generating the file, at 1x and 4x the count: it must not grow."""
    sizes = {split: n * scale for split, n in COUNTS[label].items()}
    dataset_id, params = parse_label(label)

    def run():
        result = subprocess.run(
            [sys.executable, "-c", PEAK_RSS, dataset_id, str(tmp_path / "m.h5"), json.dumps(sizes), json.dumps(params)],
            check=True, capture_output=True, text=True,
        )
        (tmp_path / "m.h5").unlink()
        return int(result.stdout.split()[-1]) // 1024

    peak_mb = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info["images"] = sum(sizes.values())
    benchmark.extra_info["peak_rss_mb"] = peak_mb
