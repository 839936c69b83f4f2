"""IODINE (groupbench/baselines/iodine.py): tensor shapes, the refinement inputs, stop-gradients,
masks, activation checkpointing, prediction, seeding and a short training run. Tiny, CPU only."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from groupbench.baselines import iodine
from groupbench.baselines.training import Precision, make_optimizer, seed_everything

B, K, H, W, C, NZ = 2, 3, 16, 16, 3, 8


def tiny(**changes) -> iodine.Config:
    fields = dict(k=K, latent=NZ, iterations=2, decoder_channels=(8, 8), decoder_kernel=3, encoder_channels=(8, 8),
                  encoder_kernel=3, mlp=(16,), lstm=16, device="cpu")
    return iodine.Config(**{**fields, **changes})


def squares(n: int = 8, seed: int = 0) -> torch.Tensor:
    """n RGB 16x16 uint8 images, each with 2 coloured 5x5 squares on black."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, H, W, C), np.uint8)
    for image in images:
        for _ in range(2):
            y, x = rng.integers(0, H - 5, 2)
            image[y : y + 5, x : x + 5] = rng.integers(64, 256, C)
    return torch.from_numpy(images)


def model_for(config: iodine.Config, seed: int = 0) -> iodine.IODINE:
    seed_everything(seed)
    return iodine.build_model(config, (H, W, C))


@pytest.fixture(autouse=True)
def _threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def one_step(config: iodine.Config):
    model = model_for(config)
    x = squares(B).float().div(255).permute(0, 3, 1, 2)
    lam = model.initial[None, None].expand(B, K, -1)
    eps = torch.randn(B, K, NZ, generator=torch.Generator().manual_seed(1))
    return model, model.step(x, lam, eps, None, True)


def test_shapes_through_one_refinement_step():
    _, (loss, lam, state, out) = one_step(tiny())
    assert loss.shape == (B,) and lam.shape == (B, K, 2 * NZ)
    assert state[0].shape == state[1].shape == (B * K, 16)
    assert out["means"].shape == (B, K, C, H, W)
    assert out["mask_logits"].shape == out["masks"].shape == (B, K, H, W)
    assert out["nll"].shape == out["kl"].shape == (B,)
    assert out["gradients"]["means"].shape == (B, K, C, H, W)
    assert out["gradients"]["mask_logits"].shape == (B, K, H, W)
    assert out["gradients"]["lambda"].shape == (B, K, 2 * NZ)
    assert all(part.shape[0] == B * K and part.shape[2:] == (H, W) for part in out["inputs"])
    assert [f.shape for f in out["flat_inputs"]] == [(B * K, 2 * NZ)] * 2


@pytest.mark.parametrize("changes, spatial, flat", [
    ({}, 17, 2 * 2 * NZ),  # the paper's 17 channels: 3+3+1+1+1+3+1+1+1 + 2 coordinates
    ({"coordinates": "cos"}, 23, 2 * 2 * NZ),  # the code's 8 cosine channels
    ({"coordinates": "cos", "legacy_constants": True}, 24, 2 * 2 * NZ + 1),  # + 'capacity' (the code's 24)
])
def test_refinement_inputs_are_the_documented_set(changes, spatial, flat):
    config = tiny(**changes)
    assert iodine.input_channels(config, C) == spatial
    model, (_, _, _, out) = one_step(config)
    per_input = [part.shape[1] for part in out["inputs"]]
    names = list(iodine.INPUT_CHANNELS) + ["coordinates"] + (["capacity"] if config.legacy_constants else [])
    assert len(per_input) == len(names)
    assert dict(zip(names, per_input))["image"] == C and dict(zip(names, per_input))["grad_means"] == C
    assert sum(per_input) == spatial == model.refine.conv[0].in_channels
    assert sum(f.shape[1] for f in out["flat_inputs"]) == flat
    assert set(model.norms) == {"grad_means", "grad_mask", "log_likelihood", "leave_one_out"}


def test_gradient_inputs_are_stopped():
    _, (loss, lam, _, out) = one_step(tiny())
    for gradient in out["gradients"].values():
        assert not gradient.requires_grad and gradient.grad_fn is None
    assert out["means"].requires_grad and out["mask_logits"].requires_grad  # the other inputs keep their gradients
    assert lam.requires_grad and lam.grad_fn is not None
    # the whole loss back-propagates without second derivatives
    (loss.sum() + lam.sum()).backward()


def test_masks_sum_to_one_over_k():
    _, (_, _, _, out) = one_step(tiny())
    torch.testing.assert_close(out["masks"].sum(1), torch.ones(B, H, W))
    posterior = out["inputs"][list(iodine.INPUT_CHANNELS).index("mask_posterior")].reshape(B, K, H, W)
    torch.testing.assert_close(posterior.sum(1), torch.ones(B, H, W), atol=1e-4, rtol=0)


def _loss_and_grads(config: iodine.Config):
    model = model_for(config)
    loss = model(squares(4), torch.Generator().manual_seed(3))
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("lstm", [16, 0])
def test_activation_checkpointing_gives_the_same_loss_and_gradients(lstm):
    loss, grads = _loss_and_grads(tiny(lstm=lstm))
    loss_ckpt, grads_ckpt = _loss_and_grads(tiny(lstm=lstm, activation_checkpointing=True))
    assert abs(float(loss - loss_ckpt)) <= 1e-6 * max(1.0, abs(float(loss)))
    assert grads.keys() == grads_ckpt.keys()
    for name in grads:
        torch.testing.assert_close(grads_ckpt[name], grads[name], atol=1e-6, rtol=1e-6, msg=name)


def test_prediction_returns_masks_that_sum_to_one():
    config = tiny()
    model = model_for(config)
    images = squares(3)
    masks = iodine.predict(model, images, config, torch.Generator().manual_seed(0))
    assert masks.shape == (3, K, H, W) and masks.dtype == torch.float32
    torch.testing.assert_close(masks.sum(1), torch.ones(3, H, W))
    with torch.no_grad():  # runs.predict calls it under no_grad: the gradient inputs still work
        again = iodine.predict(model, images, config, torch.Generator().manual_seed(0))
        five = iodine.predict(model, images, config, torch.Generator().manual_seed(0), k=5)
    assert torch.equal(again, masks)  # same seed, same segmentation
    assert five.shape == (3, 5, H, W)
    assert model.training  # predict restores the mode


def _train(config: iodine.Config, steps: int, seed: int = 0):
    """Adam with the configured beta1 and gradient clipping, as the shared training loop steps."""
    model = model_for(config, seed)
    optimizer = make_optimizer(config, model.parameters())
    precision = Precision(torch.device("cpu"), amp=False)
    images = squares(8)
    noise = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        loss = model(images, noise)
        precision.step(loss, optimizer, config.clip_norm)
        losses.append(float(loss.detach()))
    return model, losses


def test_loss_decreases_with_adam():
    _, losses = _train(tiny(lr=3e-3), 30)
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), losses


def test_seeds_make_two_runs_identical():
    config = tiny()
    first, losses = _train(config, 3)
    second, again = _train(config, 3)
    assert losses == again
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name
    _, other = _train(config, 3, seed=1)
    assert other != losses


@pytest.mark.parametrize("changes", [
    {"likelihood": "logistic", "sigma": 0.03, "prior_var": float(np.log(2)), "posterior_scale": "var",
     "coordinates": "cos", "legacy_constants": True, "lstm": 0, "adam_beta1": 0.95},
])
def test_official_code_options_run(changes):
    model = model_for(tiny(**changes))
    loss = model(squares(2), torch.Generator().manual_seed(0))
    assert torch.isfinite(loss)
    loss.backward()


def test_presets_are_valid_configs():
    known = {f.name for f in dataclasses.fields(iodine.Config)}
    assert set(iodine.PRESETS) == {"iodine-tetris", "iodine-multi-dsprites", "iodine-multi-dsprites-binarized", "iodine-shapes"}
    for name, preset in iodine.PRESETS.items():
        assert set(preset["fields"]) <= known, name
        config = iodine.Config(**preset["fields"])
        assert config.iterations == 5 and config.dataset == preset["dataset"]
    assert iodine.PRESETS["iodine-tetris"]["fields"]["lstm"] == 0 and iodine.PRESETS["iodine-tetris"]["fields"]["k"] == 4
    assert iodine.PRESETS["iodine-multi-dsprites"]["fields"]["k"] == 6
    assert iodine.PRESETS["iodine-multi-dsprites-binarized"]["params"] == {"variant": "binarized"}
    assert {n: p["reported"]["ari"] for n, p in iodine.PRESETS.items()} == {
        "iodine-tetris": 0.992, "iodine-multi-dsprites": 0.767, "iodine-multi-dsprites-binarized": 0.648, "iodine-shapes": 0.910}


def test_bad_options_raise():
    from groupbench.errors import GroupbenchError

    with pytest.raises(GroupbenchError):
        iodine.build_model(tiny(likelihood="bernoulli"), (H, W, C))
    with pytest.raises(GroupbenchError):
        iodine.build_model(tiny(coordinates="polar"), (H, W, C))
    with pytest.raises(GroupbenchError):
        iodine.build_model(tiny(), (4, H, W, C))


def test_trains_with_the_shared_loop(small_file, tmp_path):
    from groupbench.baselines.training import fit, read_metrics

    config = tiny(k=4, dataset="tetris-v1", max_steps=2, batch_size=4, train_size=8, valid_size=4, metric_images=4,
                  iterations=1, threads=1)
    task = iodine.make_task(config, small_file("tetris-v1"))
    summary = fit(task, config, tmp_path / "run", progress=False)
    assert summary["steps"] == 2 and (tmp_path / "run" / "best.pt").exists()
    assert -1.0 <= read_metrics(tmp_path / "run")[-1]["valid_ari"] <= 1.0
