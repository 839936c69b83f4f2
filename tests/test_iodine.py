"""IODINE (groupbench/baselines/iodine.py): tensor shapes, the refinement inputs, the closed-form
gradient inputs against autograd, stop-gradients, masks, activation checkpointing, prediction,
seeding, the official configuration and its initialisation, the validation FG-ARI's conventions
and a short training run. Tiny, CPU only."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from groupbench.baselines import iodine, presets
from groupbench.baselines.training import Precision, TrainingStep, learning_rate, make_optimizer, seed_everything

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


pytestmark = pytest.mark.usefixtures("one_thread")


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
    assert [f.shape for f in out["flat_inputs"]] == [(B * K, 2 * NZ)] * 2 + [(B * K, 1)]  # + the code's flat 'capacity'


@pytest.mark.parametrize("changes, spatial, flat", [
    ({"coordinates": "linear", "legacy_constants": False}, 17, 2 * 2 * NZ),  # the paper's 17: 3+3+1+1+1+3+1+1+1 + 2 coordinates
    ({"coordinates": "cos", "legacy_constants": False}, 23, 2 * 2 * NZ),  # the code's 8 cosine channels
    ({}, 24, 2 * 2 * NZ + 1),  # the defaults (the code's): + 'capacity', the code's 24
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
    images = squares(4)
    loss = model(images, model.draw(images, torch.Generator().manual_seed(3)))
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
    step = TrainingStep(model, model, optimizer, Precision(torch.device("cpu"), amp=False), config, torch.device("cpu"))
    images = squares(8)
    noise = torch.Generator().manual_seed(seed)
    return model, [float(step(images, noise, index)) for index in range(steps)]


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


def test_presets_are_valid_configs():
    known = {f.name for f in dataclasses.fields(iodine.Config)}
    assert set(iodine.PRESETS) == {"iodine-tetris", "iodine-tetris-prose", "iodine-multi-dsprites", "iodine-multi-dsprites-prose",
                                   "iodine-multi-dsprites-binarized", "iodine-shapes", "iodine-clevr6"}
    for name, preset in iodine.PRESETS.items():
        assert set(preset["fields"]) <= known, name
        config = iodine.Config(**preset["fields"])
        assert config.iterations == 5 and config.dataset == preset["dataset"]
        assert presets.get(name).conventions == iodine.CONVENTIONS and iodine.CONVENTIONS.include_overlap
    assert iodine.PRESETS["iodine-tetris"]["fields"]["lstm"] == 0 and iodine.PRESETS["iodine-tetris"]["fields"]["k"] == 4
    assert iodine.PRESETS["iodine-multi-dsprites"]["fields"]["k"] == 6
    assert iodine.PRESETS["iodine-multi-dsprites-binarized"]["params"] == {"variant": "binarized"}
    assert {n: p["reported"]["ari"] for n, p in iodine.PRESETS.items()} == {
        "iodine-tetris": 0.992, "iodine-tetris-prose": 0.992, "iodine-multi-dsprites": 0.767, "iodine-multi-dsprites-prose": 0.767,
        "iodine-multi-dsprites-binarized": 0.648, "iodine-shapes": 0.910, "iodine-clevr6": 0.988}
    # CLEVR6 as the code's clevr6 configuration (deepmind.md 4.4): K=7, n_z 64, 3x3 convs of 64, MLP 256-256, LSTM 256,
    # linear refinement coordinates, 8 GPUs x 4 images at 1e-3
    clevr = presets.get("iodine-clevr6").config()
    assert (clevr.k, clevr.latent, clevr.lstm, clevr.mlp, clevr.coordinates) == (7, 64, 256, (256, 256), "linear")
    assert (clevr.encoder_channels, clevr.encoder_kernel, clevr.decoder_channels, clevr.decoder_kernel) == ((64,) * 4, 3, (64,) * 4, 3)
    assert (clevr.batch_size, clevr.lr, clevr.likelihood, clevr.sigma) == (32, 1e-3, "logistic", 0.03)
    assert presets.get("iodine-clevr6").image_shape == (128, 128, 3)
    # the refinement network sees 18 spatial channels, as the released checkpoint's first conv (3x3x18x64)
    assert iodine.input_channels(clevr, 3) == 18
    decoder = iodine.BroadcastDecoder(clevr, (128, 128, 3))  # and the decoder 3x3x67x64 (z, the 5.0 constant, 2 coordinates)
    assert decoder.net[0].weight.shape == (64, 67, 3, 3)


def test_the_paper_prose_variant_runs():
    model = model_for(tiny(**{k: v for k, v in iodine._PROSE.items() if k != "batch_size"}))
    images = squares(2)
    loss = model(images, model.draw(images, torch.Generator().manual_seed(0)))
    assert torch.isfinite(loss)
    loss.backward()


def test_presets_default_to_the_official_configuration():
    # deepmind-research/iodine configurations.py (docs/iodine.md, "Presets")
    official = dict(likelihood="logistic", sigma=0.03, prior_var=float(np.log(2)), posterior_scale="var", coordinates="cos",
                    legacy_constants=True, adam_beta1=0.95, lr=3e-4, lr_decay_steps=1e6, init="sonnet", clip_norm=5.0, iterations=5)
    prose = dict(likelihood="gaussian", sigma=0.1, prior_var=1.0, posterior_scale="softplus", coordinates="linear",
                 legacy_constants=False, init="torch", adam_beta1=0.9, lr=3e-4, lr_decay_steps=0, batch_size=32, iterations=5)
    for name, batch in (("iodine-tetris", 256), ("iodine-multi-dsprites", 128)):
        config = presets.get(name).config()
        assert {key: getattr(config, key) for key in official} == official, name
        assert config.batch_size == batch
        variant = presets.get(f"{name}-prose").config()
        assert {key: getattr(variant, key) for key in prose} == prose, name
        assert (variant.k, variant.latent, variant.lstm) == (config.k, config.latent, config.lstm)
    # the learning rate decays by 0.1 every 1e6 steps
    config = presets.get("iodine-tetris").config()
    assert learning_rate(config, 0) == 3e-4 and learning_rate(config, 10**6) == pytest.approx(3e-5)
    assert learning_rate(presets.get("iodine-tetris-prose").config(), 10**6) == 3e-4


def test_sonnet_initialisation():
    model = model_for(tiny(decoder_channels=(64, 64), lstm=64))
    for name, layer in [("decoder conv", model.decoder.net[2]), ("refinement head", model.refine.head)]:
        std = 1 / np.sqrt(layer.weight[0].numel())  # fan-in: kernel area x input channels, or input size
        weights = layer.weight.detach().numpy().ravel()
        assert np.abs(weights).max() <= 2 * std + 1e-7, name  # truncated at two standard deviations
        assert weights.std() == pytest.approx(0.8796 * std, rel=0.1), name  # the std of N(0, 1) truncated at +-2 is 0.8796
        assert not layer.bias.detach().any(), name
    lstm = model.refine.lstm
    std = 1 / np.sqrt(lstm.input_size + lstm.hidden_size)
    assert lstm.weight_ih.detach().std().item() == pytest.approx(0.8796 * std, rel=0.1)
    assert lstm.bias_ih.detach()[64:128].eq(1).all() and not lstm.bias_ih.detach()[:64].any() and not lstm.bias_hh.detach().any()
    assert model_for(tiny(decoder_channels=(64, 64), init="torch")).decoder.net[2].bias.detach().any()  # PyTorch draws biases


@pytest.mark.parametrize("changes", [
    {},  # the official configuration: logistic likelihood, variance-softplus posterior, legacy constants
    {"likelihood": "gaussian", "sigma": 0.1, "posterior_scale": "softplus", "legacy_constants": False, "prior_var": 1.0},
])
def test_closed_form_gradient_inputs_equal_autograd(changes):
    model = model_for(tiny(**changes))
    x = squares(B).float().div(255).permute(0, 3, 1, 2)
    lam = (model.initial[None, None] + 0.3 * torch.randn(B, K, 2 * NZ, generator=torch.Generator().manual_seed(2))).detach()
    eps = torch.randn(B, K, NZ, generator=torch.Generator().manual_seed(1))
    _, _, _, out = model.step(x, lam, eps, None, True)
    # the reference: the loss of the same decode, differentiated by autograd
    lam = lam.requires_grad_(True)
    mu, sigma = model.split(lam)
    means, logits, _ = model.decode(mu + sigma * eps)
    joint = torch.log_softmax(logits, 1) + iodine.pixel_log_likelihood(x[:, None], means, model.config.likelihood, model.config.sigma)
    loss = -torch.logsumexp(joint, 1).sum((1, 2)) + iodine.kl_to_prior(mu, sigma, model.config.prior_var).sum(1)
    expected = torch.autograd.grad(loss.sum(), [means, logits, lam])
    for name, reference in zip(("means", "mask_logits", "lambda"), expected):
        torch.testing.assert_close(out["gradients"][name], reference, atol=1e-5 * float(reference.abs().max()), rtol=1e-4, msg=name)


def test_validation_fg_ari_scores_overlap_pixels(small_file, monkeypatch):
    """IODINE's FG-ARI (DeepMind's segmentation_metrics) scores every foreground pixel under its visible
    object, overlap included: a segmentation wrong only on overlap pixels is not perfect."""
    from sklearn.metrics import adjusted_rand_score

    from groupbench.baselines import nem
    from groupbench.data import SplitReader

    dataset = small_file("multi-dsprites-v1")
    count = 64
    with SplitReader(dataset, "valid") as reader:
        labels, overlap = reader.group["labels"][:count].astype(np.int64), reader.group["overlap"][:count].astype(bool)
    assert overlap.any()
    wrong = np.where(overlap, 0, labels)  # right everywhere but on the overlap pixels, which go to the background's slot
    monkeypatch.setattr(iodine, "predict", lambda model, images, config, generator, k=None:
                        torch.nn.functional.one_hot(torch.from_numpy(wrong), 6).permute(0, 3, 1, 2).float())
    config = iodine.Config(dataset="multi-dsprites-v1", k=6, latent=4, decoder_channels=(4,), encoder_channels=(4,), mlp=(4,),
                           lstm=0, iterations=1, metric_images=count, batch_size=count, device="cpu")
    model = iodine.build_model(config, (64, 64, 3))
    score = iodine.make_task(config, dataset).valid_metrics(model)["valid_ari"]
    reference = np.mean([adjusted_rand_score(t[t > 0], p[t > 0]) for t, p in zip(labels, wrong)])  # sklearn, foreground pixels
    assert score == pytest.approx(reference, abs=1e-9) and score < 0.99
    overlap_left_out = iodine.make_task(config, dataset, conventions=nem.CONVENTIONS).valid_metrics(model)["valid_ari"]
    assert overlap_left_out == pytest.approx(1.0)


def test_bad_options_raise():
    from groupbench.errors import GroupbenchError

    with pytest.raises(GroupbenchError):
        iodine.build_model(tiny(likelihood="bernoulli"), (H, W, C))
    with pytest.raises(GroupbenchError):
        iodine.build_model(tiny(coordinates="polar"), (H, W, C))
    with pytest.raises(GroupbenchError):
        iodine.build_model(tiny(), (4, H, W, C))
    with pytest.raises(GroupbenchError, match="odd"):
        iodine.build_model(tiny(decoder_kernel=4), (H, W, C))


def test_trains_with_the_shared_loop(small_file, tmp_path):
    from groupbench.baselines.training import fit, read_metrics

    config = tiny(k=4, dataset="tetris-v1", max_steps=2, batch_size=4, train_size=8, valid_size=4, metric_images=4,
                  iterations=1, threads=1)
    task = iodine.make_task(config, small_file("tetris-v1"))
    summary = fit(task, config, tmp_path / "run", progress=False)
    assert summary["steps"] == 2 and (tmp_path / "run" / "best.pt").exists()
    assert -1.0 <= read_metrics(tmp_path / "run")[-1]["valid_ari"] <= 1.0
