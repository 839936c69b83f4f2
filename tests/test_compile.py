"""A training step is one graph, and compiled it computes what the eager one does: the same loss and
gradients for every baseline (RC, RNN-EM, IODINE, Slot Attention), with torch.compile on the CPU (Inductor's C++
backend). On CUDA the same code runs in mode reduce-overhead (CUDA graphs); the GPU suite checks
that path.

Tolerance: relative 1e-4 on the loss, and on every gradient 1e-4 relative plus 1e-5 of its largest
entry. A gradient that is zero but for rounding (Slot Attention's LayerNorm bias before the queries:
adding the same vector to every slot's query leaves the softmax over slots unchanged) is compared
with the largest gradient of the model instead: both must stay below 1e-6 of it. Inductor fuses and reorders float32 reductions, so the last bits differ; anything beyond
float32 rounding through a few unrolled steps (a missed draw, a dropped term) is orders larger.
Tiny models and images, so that compiling stays cheap on CI's two cores.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from groupbench.baselines import iodine, nem, rc, slot_attention
from groupbench.baselines.training import Precision, TrainingStep, compiled, generator, make_optimizer, seed_everything

CPU = torch.device("cpu")


def _images(shape: tuple[int, ...], channels_binary: bool = True) -> torch.Tensor:
    draw = torch.rand(shape, generator=generator(CPU, 7))
    return ((draw < 0.3) * 255 if channels_binary else draw * 255).to(torch.uint8)


CASES = {  # name: (module, config, shape of one image or sequence, binary)
    "rc": (rc, rc.Config(hidden=16, salt_pepper=0.3, device="cpu"), (6, 6, 1), True),
    "rnn-em": (nem, nem.Config(network="rnn", hidden=16, k=3, steps=2, device="cpu"), (6, 6, 1), True),
    "iodine": (iodine, iodine.Config(k=3, latent=4, iterations=1, decoder_channels=(8,), decoder_kernel=3, encoder_channels=(8,),
                                     encoder_kernel=3, mlp=(8,), lstm=8, device="cpu"), (8, 8, 3), False),
    "slot-attention": (slot_attention, slot_attention.Config(k=3, slot_size=8, mlp_hidden=8, encoder_channels=(8,), decoder_start=2,
                                                             decoder_channels=(8, 8), device="cpu"), (8, 8, 3), False),
}


def _loss_and_gradients(model: torch.nn.Module, loss_fn, images: torch.Tensor, draws: dict[str, torch.Tensor]):
    model.zero_grad(set_to_none=True)
    loss = loss_fn(images, draws)
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.fixture(autouse=True)
def _fresh_compiler(one_thread):
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize("name", list(CASES))
def test_a_compiled_step_computes_the_eager_loss_and_gradients(name):
    module, config, shape, binary = CASES[name]
    seed_everything(0)
    model = module.build_model(config, shape)
    images = _images((4, *shape), binary)
    draws = model.draw(images, generator(CPU, 1))
    # one graph: no draw, no host synchronisation, nothing data-dependent breaks the step apart
    explained = torch._dynamo.explain(model)(images, draws)
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), explained.break_reasons
    loss, gradients = _loss_and_gradients(model, model, images, draws)
    loss_c, gradients_c = _loss_and_gradients(model, compiled(model, CPU), images, draws)
    assert float(loss_c) == pytest.approx(float(loss), rel=1e-4)
    assert gradients_c.keys() == gradients.keys() and len(gradients) == len(list(model.parameters()))
    scale = max(float(g.abs().max()) for g in gradients.values())
    for key, gradient in gradients.items():
        if float(gradient.abs().max()) < 1e-7 * scale:  # zero but for rounding (a parameter the loss cannot see)
            assert float(gradients_c[key].abs().max()) < 1e-6 * scale, key
            continue
        torch.testing.assert_close(gradients_c[key], gradient, rtol=1e-4, atol=1e-5 * float(gradient.abs().max()), msg=key)


def test_the_training_step_with_compile_follows_the_eager_one():
    """Three optimiser steps of TrainingStep (draws, compiled forward and backward, clipping, Adam with a
    decaying learning rate) end at the weights the eager steps reach."""
    _, config, shape, binary = CASES["rnn-em"]
    config = dataclasses.replace(config, clip_norm=1.0, lr_decay_steps=2.0)
    weights = {}
    for mode in (False, True):
        seed_everything(0)
        model = nem.build_model(config, shape)
        setting = dataclasses.replace(config, compile=mode)
        step = TrainingStep(model, model, make_optimizer(setting, model.parameters(), CPU), Precision(CPU, False), setting, CPU)
        noise = generator(CPU, 3)
        losses = [float(step(_images((4, *shape), binary), noise, index)) for index in range(3)]
        weights[mode] = (losses, {k: v.clone() for k, v in model.state_dict().items()})
    assert weights[True][0] == pytest.approx(weights[False][0], rel=1e-4)
    for key, value in weights[False][1].items():
        torch.testing.assert_close(weights[True][1][key], value, rtol=1e-4, atol=1e-6, msg=key)
