"""Training throughput of the learned baselines: one optimiser step (forward, backward, clipping as
the preset does, update) on a batch of the preset's size, in images (or sequences) per second, on the CPU, one thread.

Run: pytest benchmarks/bench_training.py --benchmark-enable. Without it (the test suite) each
step runs once on a batch of 2, so the benchmark cannot rot without taking long.
"""

from __future__ import annotations

import pytest
import torch

from groupbench.baselines import presets
from groupbench.baselines.training import Precision, generator, make_optimizer, seed_everything

CASES = {  # preset: shape of one image or sequence (as the dataset stores it)
    "rc-shapes": (28, 28, 1),
    "rc-multi-mnist": (48, 48, 1),
    "nem-shapes": (28, 28, 1),
    "rnn-em-shapes": (28, 28, 1),
    "rnn-em-flying-shapes": (21, 28, 28, 1),
    "rnn-em-flying-mnist": (21, 24, 24, 1),
    "iodine-tetris": (35, 35, 3),
    "iodine-multi-dsprites": (64, 64, 3),
    "iodine-shapes": (28, 28, 1),
}


@pytest.mark.parametrize("name", list(CASES))
def test_training_step(benchmark, name):
    preset = presets.get(name)
    config = preset.config(device="cpu")
    module = presets.algorithm(preset.algorithm)
    seed_everything(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = module.build_model(config, CASES[name])
        optimizer = make_optimizer(config, model.parameters())
        precision = Precision(torch.device("cpu"), config.amp)
        batch = 2 if benchmark.disabled else config.batch_size
        images = (torch.rand((batch, *CASES[name]), generator=generator(torch.device("cpu"), 1)) < 0.2).to(torch.uint8) * 255
        noise = generator(torch.device("cpu"), 2)

        def step():
            loss = model(images, noise)
            precision.step(loss, optimizer, config.clip_norm)
            return float(loss.detach())

        step()  # warm-up: allocations, lazy imports
        loss = benchmark.pedantic(step, rounds=1 if benchmark.disabled else 5, iterations=1)
    finally:
        torch.set_num_threads(threads)
    assert loss == loss  # finite
    if benchmark.stats is not None:
        benchmark.extra_info["images_per_s"] = round(batch / benchmark.stats.stats.mean, 1)
        benchmark.extra_info["batch"] = batch
