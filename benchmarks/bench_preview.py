"""Previews: an animated GIF of 16 sequences of flying-shapes-v1 (21 frames), time and peak memory.

Run: pytest benchmarks/bench_preview.py --benchmark-enable. Figures: docs/benchmarks.md. The time
is the library call in this process; the peak memory (VmHWM) and wall time are those of a fresh
process running `groupbench show FILE --out NAME.gif`, imports included, as a user sees them.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from groupbench.generation import generate
from groupbench.preview import save_preview

SEQUENCES = 16

SHOW = """
import sys
from groupbench.cli import main
try:
    main(sys.argv[1:], prog_name="groupbench")
except SystemExit as end:
    assert not end.code, end.code
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


@pytest.fixture(scope="module")
def sequences(tmp_path_factory):
    folder = tmp_path_factory.mktemp("preview")
    return generate("flying-shapes-v1", folder / "f.h5", sizes={"train": 0, "valid": 0, "test": 100}, progress=False)


def test_gif_of_16_sequences(benchmark, sequences, tmp_path):
    out = tmp_path / "s.gif"

    def write():
        out.unlink(missing_ok=True)
        save_preview(sequences, "test", out, n=SEQUENCES)

    benchmark.pedantic(write, rounds=3, iterations=1)
    benchmark.extra_info["frames"] = 21


def test_gif_command_peak_memory(benchmark, sequences, tmp_path):
    out = tmp_path / "c.gif"

    def run():
        out.unlink(missing_ok=True)
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", SHOW, "show", str(sequences), "--n", str(SEQUENCES), "--out", str(out)],
            check=True, capture_output=True, text=True,
        )
        return time.perf_counter() - started, int(result.stdout.split()[-1]) // 1024

    wall, peak_mb = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(wall_s=round(wall, 2), peak_rss_mb=peak_mb)
