"""Training throughput of a preset: optimiser steps per second of the training step `fit` takes
(`training.TrainingStep`: draws, forward and backward, eager or compiled, clipping, update) on
synthetic images of the preset's shape at a given batch size, and peak memory (GPU: allocated by
torch; CPU: the peak resident size of a process that takes the steps).
``benchmarks/bench_training.py`` and the GPU suite (`groupbench.baselines.suite`) measure with it.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import torch

from groupbench.baselines import presets
from groupbench.baselines.training import (
    Precision, TrainingStep, describe_device, generator, make_optimizer, resolve_device, seed_everything,
)


def synthetic_images(preset: presets.Preset, batch: int, device: torch.device, seed: int = 0) -> torch.Tensor:
    """uint8 images (batch, *preset.image_shape) on ``device``: binary (0 or 255, 20% on) for
    single-channel data, uniform colours otherwise. The step's cost does not depend on the content."""
    shape = (batch, *preset.image_shape)
    draw = torch.rand(shape, generator=generator(torch.device("cpu"), seed))
    images = (draw < 0.2) * 255 if shape[-1] == 1 else draw * 255
    return images.to(torch.uint8).to(device)


class Stepper:
    """A preset's model, optimiser and `TrainingStep` on synthetic images: ``step()`` trains one step
    and waits for the device. Weights, images and noise are seeded, so two Steppers of one preset
    (eager and compiled) start from the same state and see the same draws."""

    def __init__(self, name: str, *, device: str | torch.device = "auto", compile: bool = False,
                 batch_size: int | None = None, changes: dict[str, Any] | None = None, seed: int = 0):
        self.preset = presets.get(name)
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        module = presets.algorithm(self.preset.algorithm)
        config = self.preset.config(**{**(changes or {}), "device": str(self.device)})
        self.config = dataclasses.replace(config, compile=compile, batch_size=batch_size or config.batch_size)
        seed_everything(seed, deterministic=False)
        self.model = module.build_model(self.config, self.preset.image_shape).to(self.device)
        if getattr(self.config, "channels_last", False) and self.device.type == "cuda":
            self.model.to(memory_format=torch.channels_last)
        optimizer = make_optimizer(self.config, self.model.parameters(), self.device)
        self.precision = Precision(self.device, self.config.amp)
        self.train_step = TrainingStep(self.model, self.model, optimizer, self.precision, self.config, self.device)
        self.images = synthetic_images(self.preset, self.config.batch_size, self.device, seed)
        self.noise = generator(self.device, seed + 1)
        self.steps = 0

    def step(self) -> float:
        """One optimiser step; returns its loss (this waits for the device)."""
        loss = self.train_step(self.images, self.noise, self.steps)
        self.steps += 1
        return float(loss)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def measure(name: str, *, device: str | torch.device = "auto", compile: bool = False, batch_size: int | None = None,
            changes: dict[str, Any] | None = None, warmup: int = 3, min_steps: int = 5, min_seconds: float = 1.0) -> dict[str, Any]:
    """Steps per second of preset ``name`` after ``warmup`` steps (which include compilation and the
    recording of CUDA graphs), over at least ``min_steps`` steps and ``min_seconds``; peak GPU memory
    of the measured steps. Returns a record for reports (losses: the warm-up steps', to compare runs)."""
    started = time.perf_counter()
    stepper = Stepper(name, device=device, compile=compile, batch_size=batch_size, changes=changes)
    losses = [stepper.step() for _ in range(warmup)]
    warmup_s = time.perf_counter() - started
    cuda = stepper.device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(stepper.device)
    count, began = 0, time.perf_counter()
    while count < min_steps or time.perf_counter() - began < min_seconds:
        stepper.train_step(stepper.images, stepper.noise, stepper.steps)  # no wait per step: as in training
        stepper.steps += 1
        count += 1
        if count % min_steps == 0:
            stepper.sync()
    stepper.sync()
    seconds = time.perf_counter() - began
    return {
        "preset": name,
        "compiled": compile,
        "device": describe_device(stepper.device),
        "precision": stepper.precision.name,
        "batch": stepper.config.batch_size,
        "warmup_steps": warmup,
        "warmup_s": round(warmup_s, 2),
        "steps": count,
        "seconds": round(seconds, 3),
        "steps_per_s": round(count / seconds, 3),
        "images_per_s": round(count * stepper.config.batch_size / seconds, 1),
        "peak_memory_mb": round(torch.cuda.max_memory_allocated(stepper.device) / 2**20, 1) if cuda else None,
        "losses": [round(value, 6) for value in losses],
    }


def cpu_peak_rss_mb(name: str, *, batch_size: int | None = None, compile: bool = False, steps: int = 2) -> float:
    """Peak resident memory (MiB) of a fresh process that builds preset ``name``'s model and takes
    ``steps`` training steps on the CPU with one thread: what a CPU run of the preset needs (the
    interpreter and torch included, about 300 MiB of it)."""
    import json
    import subprocess
    import sys

    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over an exec from the forking parent
    script = (
        "import json, re, torch; torch.set_num_threads(1)\n"
        "from groupbench.baselines.throughput import Stepper\n"
        f"stepper = Stepper({name!r}, device='cpu', compile={compile!r}, batch_size={batch_size!r})\n"
        f"for _ in range({steps}): stepper.step()\n"
        "print(json.dumps(int(re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1))))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return round(json.loads(done.stdout.strip().splitlines()[-1]) / 1024, 1)  # kB
