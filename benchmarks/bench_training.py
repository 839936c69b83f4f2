"""Training throughput of the learned baselines, eager against compiled, in one run: one optimiser
step (`training.TrainingStep`: draws, forward, backward, clipping as the preset does, update) on
synthetic images of the preset's shape, in steps (and images or sequences) per second.

Run: pytest benchmarks/bench_training.py --benchmark-enable (one thread on the CPU). The batch is
the preset's, except IODINE's and Slot Attention's on the CPU (8 and 16, 2 on CLEVR6: a step at the
papers' batches takes minutes here).
The warm-up (3 steps: compilation, for the compiled case) is timed apart, in extra_info, with the
peak resident memory of a fresh process taking two such steps (`throughput.cpu_peak_rss_mb`).
Without --benchmark-enable (the test suite) one eager case per algorithm and image size runs one
step on a batch of 2, so the benchmark cannot rot without taking long; compiling every preset would take many minutes there, so
the compiled cases run only when measuring (tests/test_compile.py covers the compiled step).
"""

from __future__ import annotations

import time

import pytest
import torch

from groupbench.baselines import presets
from groupbench.baselines.throughput import Stepper, cpu_peak_rss_mb

CPU_BATCH = {"iodine": 8, "slot_attention": 16}
"""Batch on the CPU for the algorithms whose paper batch takes minutes a step here (None: the preset's)."""
LARGE_IMAGE_BATCH = 2
"""... and for their 128x128 CLEVR6 presets."""


def _cpu_batch(preset) -> int | None:
    if preset.algorithm not in CPU_BATCH:
        return None
    return LARGE_IMAGE_BATCH if preset.image_shape[0] >= 128 else CPU_BATCH[preset.algorithm]


CASES = {p.name: _cpu_batch(p) for p in presets.presets()}
"""Every preset: its batch on the CPU (None: the preset's own)."""

SMOKE = {}
for _preset in presets.presets():  # one preset per algorithm and image shape: the networks the others share
    SMOKE.setdefault((_preset.algorithm, _preset.image_shape), _preset.name)
SMOKE_CASES = set(SMOKE.values())
"""The eager cases the test suite runs (one step, batch 2); measuring runs every case."""


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name", list(CASES))
def test_training_step(benchmark, name, compiled):
    if compiled and benchmark.disabled:
        pytest.skip("compiling every preset takes minutes on a CPU: measured with --benchmark-enable only")
    if benchmark.disabled and name not in SMOKE_CASES:
        pytest.skip("the same network and image size as another preset's smoke step: measured with --benchmark-enable only")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        batch = 2 if benchmark.disabled else CASES[name]
        stepper = Stepper(name, device="cpu", compile=compiled, batch_size=batch)
        started = time.perf_counter()
        for _ in range(1 if benchmark.disabled else 3):
            stepper.step()
        warmup_s = time.perf_counter() - started
        loss = benchmark.pedantic(stepper.step, rounds=1 if benchmark.disabled else 5, iterations=1)
    finally:
        torch.set_num_threads(threads)
        torch._dynamo.reset()
    assert loss == loss  # finite
    if benchmark.stats is not None:
        mean = benchmark.stats.stats.mean
        benchmark.extra_info.update(batch=stepper.config.batch_size, compiled=compiled, warmup_s=round(warmup_s, 1),
                                    steps_per_s=round(1 / mean, 3), images_per_s=round(stepper.config.batch_size / mean, 1),
                                    peak_rss_mb=cpu_peak_rss_mb(name, batch_size=batch, compile=compiled))
