"""Slot Attention: the module against a per-image implementation written from the paper's equations,
its defining symmetries (a set of inputs, exchangeable slots, attention normalised over slots),
implicit differentiation, the learned slot initialisation, the decoder's sizes and the official
learning-rate schedule."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from groupbench.baselines import presets
from groupbench.baselines import slot_attention as sa
from groupbench.baselines.training import generator, learning_rate
from groupbench.errors import GroupbenchError

CPU = torch.device("cpu")
SMALL = sa.Config(k=4, slot_size=8, mlp_hidden=12, iterations=3, device="cpu")


def _module(config: sa.Config = SMALL, inputs: int = 6) -> sa.SlotAttention:
    torch.manual_seed(0)
    module = sa.SlotAttention(inputs, config).double()
    with torch.no_grad():  # LayerNorm gains and biases away from 1 and 0, so that they are exercised
        for norm in (module.norm_inputs, module.norm_slots, module.norm_mlp):
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.5, 0.5)
        module.gru.bias_ih.uniform_(-0.3, 0.3)
        module.gru.bias_hh.uniform_(-0.3, 0.3)
    return module


def _reference(module: sa.SlotAttention, inputs: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
    """One image at a time, from the paper's Algorithm 1, with the module's weights: inputs (N, D_in),
    slots (K, D) -> slots (K, D)."""

    def norm(x, layer):
        mean, var = x.mean(-1, keepdim=True), x.var(-1, unbiased=False, keepdim=True)
        return (x - mean) / torch.sqrt(var + sa.LAYER_NORM_EPS) * layer.weight + layer.bias

    gru = module.gru
    size = slots.shape[1]
    x = norm(inputs, module.norm_inputs)
    k, v = x @ module.project_k.weight.T, x @ module.project_v.weight.T
    for _ in range(module.iterations):
        previous = slots
        q = norm(slots, module.norm_slots) @ module.project_q.weight.T
        logits = k @ q.T / math.sqrt(size)  # (N, K)
        attention = torch.exp(logits - logits.max(1, keepdim=True).values)
        attention = attention / attention.sum(1, keepdim=True)  # softmax over slots
        weights = attention + 1e-8
        updates = (weights / weights.sum(0, keepdim=True)).T @ v  # weighted mean over inputs
        w_ir, w_iz, w_in = gru.weight_ih.chunk(3)
        w_hr, w_hz, w_hn = gru.weight_hh.chunk(3)
        b_ir, b_iz, b_in = gru.bias_ih.chunk(3)
        b_hr, b_hz, b_hn = gru.bias_hh.chunk(3)
        r = torch.sigmoid(updates @ w_ir.T + b_ir + previous @ w_hr.T + b_hr)
        z = torch.sigmoid(updates @ w_iz.T + b_iz + previous @ w_hz.T + b_hz)
        n = torch.tanh(updates @ w_in.T + b_in + r * (previous @ w_hn.T + b_hn))
        slots = (1 - z) * n + z * previous
        hidden = torch.relu(norm(slots, module.norm_mlp) @ module.mlp[0].weight.T + module.mlp[0].bias)
        slots = slots + hidden @ module.mlp[2].weight.T + module.mlp[2].bias
    return slots


def _inputs(batch=3, count=20, inputs=6, k=4, size=8, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, count, inputs, generator=g, dtype=torch.float64), torch.randn(batch, k, size, generator=g, dtype=torch.float64)


def test_the_module_computes_the_papers_algorithm():
    module = _module()
    inputs, slots = _inputs()
    out, attention = module(inputs, slots)
    for b in range(len(inputs)):
        torch.testing.assert_close(out[b], _reference(module, inputs[b], slots[b]), rtol=1e-9, atol=1e-9)
    assert attention.shape == (3, 20, 4)


def test_attention_is_a_softmax_over_slots():
    module = _module()
    inputs, slots = _inputs()
    _, attention = module(inputs, slots)
    torch.testing.assert_close(attention.sum(-1), torch.ones(3, 20, dtype=attention.dtype), rtol=0, atol=1e-6)
    assert (attention > 0).all()
    assert not torch.allclose(attention.sum(1), attention.sum(1)[:, :1].expand(-1, 4))  # not normalised over inputs


def test_slots_ignore_the_order_of_the_inputs():
    module = _module()
    inputs, slots = _inputs()
    order = torch.randperm(inputs.shape[1], generator=torch.Generator().manual_seed(5))
    out, attention = module(inputs, slots)
    shuffled, shuffled_attention = module(inputs[:, order], slots)
    torch.testing.assert_close(shuffled, out, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(shuffled_attention, attention[:, order], rtol=1e-10, atol=1e-10)


def test_permuting_the_initial_slots_permutes_the_output():
    module = _module()
    inputs, slots = _inputs()
    order = torch.tensor([2, 0, 3, 1])
    out, attention = module(inputs, slots)
    permuted, permuted_attention = module(inputs, slots[:, order])
    torch.testing.assert_close(permuted, out[:, order], rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(permuted_attention, attention[:, :, order], rtol=1e-10, atol=1e-10)


def _model(**changes) -> sa.SlotAttentionAutoEncoder:
    config = dataclasses.replace(SMALL, encoder_channels=(8,), decoder_start=0, decoder_channels=(8,), **changes)
    torch.manual_seed(0)
    return sa.build_model(config, (6, 6, 3))


def _images(seed=2):
    return (torch.rand((2, 6, 6, 3), generator=torch.Generator().manual_seed(seed)) * 255).to(torch.uint8)


def test_gradients_reach_the_learned_slot_distribution():
    """The initial slots are mu + sigma * eps with eps drawn apart: mu and log sigma are trained (a
    torch.normal(mu, sigma) draw, as some ports wrote it, passes them no gradient)."""
    model = _model()
    images = _images()
    model(images, model.draw(images, generator(CPU, 0))).backward()
    assert model.slots_mu.grad.abs().max() > 0 and model.slots_log_sigma.grad.abs().max() > 0


def test_implicit_differentiation_detaches_all_but_the_last_iteration():
    explicit, implicit = _model(), _model(implicit=True)
    implicit.load_state_dict(explicit.state_dict())
    images = _images()
    draws = explicit.draw(images, generator(CPU, 0))
    loss, loss_implicit = explicit(images, draws), implicit(images, draws)
    assert loss_implicit.item() == loss.item()  # the same forward pass
    loss.backward()
    loss_implicit.backward()
    # the gradient flows through the last iteration only: none reaches the initial slots or the
    # encoder through the earlier iterations' queries; the keys and values still get one
    assert implicit.slots_mu.grad is None and implicit.slots_log_sigma.grad is None
    assert explicit.slots_mu.grad.abs().max() > 0
    q, q_implicit = explicit.slot_attention.project_q.weight.grad, implicit.slot_attention.project_q.weight.grad
    assert q_implicit.abs().max() > 0 and not torch.allclose(q, q_implicit)
    assert implicit.slot_attention.project_k.weight.grad.abs().max() > 0
    # one iteration with the gradient is what a single-iteration model on the detached slots computes
    with torch.no_grad():
        inputs = implicit.encoder(images.float().div(127.5).sub(1).permute(0, 3, 1, 2))
        start = implicit.slots_mu + implicit.slots_log_sigma.exp() * draws["eps"]
        implicit.slot_attention.iterations, implicit.slot_attention.implicit = 2, False
        before_last, _ = implicit.slot_attention(inputs, start)
    implicit.slot_attention.iterations = 1
    last, _ = implicit.slot_attention(inputs, before_last)
    implicit.slot_attention.iterations, implicit.slot_attention.implicit = 3, True
    full, _ = implicit.slot_attention(inputs, start)
    torch.testing.assert_close(full, last, rtol=1e-6, atol=1e-6)


def test_the_alpha_masks_are_the_soft_masks_and_the_reconstruction_their_mixture():
    model = _model()
    images = _images()
    out = model.decode_slots(images, model.draw(images, generator(CPU, 0)))
    torch.testing.assert_close(out["masks"].sum(1), torch.ones(2, 6, 6), rtol=0, atol=1e-6)
    torch.testing.assert_close(out["reconstruction"], (out["masks"][:, :, None] * out["rgb"]).sum(1))
    assert out["x"].min() >= -1 and out["x"].max() <= 1
    loss = model(images, model.draw(images, generator(CPU, 0)))
    assert loss.item() == pytest.approx(((out["reconstruction"] - out["x"]) ** 2).mean().item(), rel=1e-6)
    masks = sa.predict(model, images, model.config, generator(CPU, 0), k=6)  # another K at test time
    assert masks.shape == (2, 6, 6, 6)


def test_decoders_reach_the_image_size():
    clevr = presets.get("slot-attention-clevr6").config()
    decoder = sa.Decoder(clevr, 128, 128, 3)
    strides = [layer.stride[0] for layer in decoder.net if isinstance(layer, torch.nn.ConvTranspose2d)]
    assert strides == [2, 2, 2, 2, 1, 1] and decoder.start == (8, 8)  # 8 -> 128, then 5x5 and 3x3 at stride 1
    rgb, logits = decoder(torch.zeros(2, 64))
    assert rgb.shape == (2, 3, 128, 128) and logits.shape == (2, 128, 128)
    tetris = presets.get("slot-attention-tetris").config()
    rgb, logits = sa.Decoder(tetris, 35, 35, 3)(torch.zeros(2, 64))
    assert rgb.shape == (2, 3, 35, 35)
    with pytest.raises(GroupbenchError, match="decoder_start 8 doubles to 64, not the image size 35x35"):
        sa.Decoder(dataclasses.replace(clevr, decoder_start=8), 35, 35, 3)
    with pytest.raises(GroupbenchError, match="needs 4 stride-2 layers"):
        sa.Decoder(dataclasses.replace(clevr, decoder_channels=(64, 64)), 128, 128, 3)


def test_the_official_learning_rate_schedule():
    """4e-4 x min(1, step / 10k) x 0.5^(step / 100k): the decay runs during the warm-up too."""
    config = presets.get("slot-attention-tetris").config()
    for step in (0, 1, 5_000, 10_000, 100_000, 499_999):
        expected = 4e-4 * min(1.0, step / 10_000) * 0.5 ** (step / 100_000)
        assert learning_rate(config, step) == pytest.approx(expected, rel=1e-12)
    iodine = presets.get("iodine-tetris").config()  # the other schedules are unchanged
    assert learning_rate(iodine, 500_000) == pytest.approx(3e-4 * 0.1**0.5, rel=1e-12)


def test_presets_follow_the_papers_settings():
    expected = {"slot-attention-clevr6": (7, (128, 128, 3)), "slot-attention-multi-dsprites": (6, (64, 64, 3)),
                "slot-attention-tetris": (4, (35, 35, 3))}
    for name, (k, shape) in expected.items():
        preset = presets.get(name)
        config = preset.config()
        assert (config.k, preset.image_shape) == (k, shape)
        assert (config.iterations, config.slot_size, config.batch_size, config.lr, config.max_steps) == (3, 64, 64, 4e-4, 500_000)
        assert preset.score_images == 320 and preset.conventions.include_overlap and not preset.conventions.include_background
    assert presets.get("slot-attention-clevr6").reported == {"ari": 0.988}
    assert presets.get("slot-attention-tetris-implicit").config().implicit


def test_keras_initialisation():
    model = sa.build_model(presets.get("slot-attention-tetris").config(), (35, 35, 3))
    gru = model.slot_attention.gru
    hh = gru.weight_hh.detach()
    torch.testing.assert_close(hh.T @ hh, torch.eye(64), rtol=0, atol=1e-5)  # orthogonal recurrence
    assert not gru.bias_ih.any() and not model.decoder.net[0].bias.any()
    bound = math.sqrt(6 / (64 * 25 + 32 * 25))  # Glorot-uniform of the first decoder layer: 64 -> 32 channels, 5x5
    largest = float(model.decoder.net[0].weight.abs().max())
    assert 0.95 * bound < largest <= bound  # PyTorch's default would stay below 1 / sqrt(32 * 25) = 0.035
    assert model.slots_mu.abs().max() <= math.sqrt(6 / 65)


def test_validation_logs_fg_ari_and_mbo(small_file, tmp_path):
    """The paper's protocol metric and mBO, logged after every epoch on the validation images."""
    from groupbench.baselines import runs
    from groupbench.baselines.training import read_metrics

    changes = dict(max_steps=1, batch_size=2, valid_size=2, metric_images=4, device="cpu", threads=1)
    runs.train("slot-attention-tetris", tmp_path / "run", datasets=[small_file("tetris-v1")], changes=changes, progress=False)
    validated = [r for r in read_metrics(tmp_path / "run") if r["valid_loss"] == r["valid_loss"]]
    assert validated and all(0 <= r["valid_mbo"] <= 1 and -1 <= r["valid_ari"] <= 1 for r in validated)


def test_a_resumed_run_ends_bit_identical_with_the_warm_up_schedule(small_file, tmp_path):
    """Exact resume through the shared loop, mid warm-up: the learning rate of a step is a function
    of the step, so an interrupted and resumed run ends where an uninterrupted one does."""
    from groupbench.baselines.training import fit, load_checkpoint

    dataset = small_file("tetris-v1")
    config = dataclasses.replace(SMALL, dataset="tetris-v1", encoder_channels=(8,), decoder_start=0, decoder_channels=(8,),
                                 batch_size=4, max_steps=6, checkpoint_every=3, lr_warmup_steps=4, lr_decay_steps=10,
                                 valid_size=4, metric_images=4, threads=1)
    fit(sa.make_task(config, dataset), config, tmp_path / "whole", progress=False)

    def interrupt(state):
        if state.step == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(sa.make_task(config, dataset), config, tmp_path / "cut", progress=False, callback=interrupt)
    fit(sa.make_task(config, dataset), config, tmp_path / "cut", progress=False)
    whole, cut = (load_checkpoint(tmp_path / run / "checkpoint.pt", weights_only=False) for run in ("whole", "cut"))
    assert whole["state"]["step"] == cut["state"]["step"] == 6
    assert all(torch.equal(whole["model"][k], cut["model"][k]) for k in whole["model"])
