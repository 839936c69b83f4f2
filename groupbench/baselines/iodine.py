"""IODINE: Greff et al. 2019, "Multi-Object Representation Learning with Iterative Variational
Inference" (ICML 2019, arXiv 1903.00450; official code deepmind-research/iodine, TF1), in one file.

An image x is a spatial mixture of K slots. Slot k has a latent z_k ~ q(z_k | lambda_k) = N(mu, sigma);
a spatial broadcast decoder (shared by all slots) turns z_k into pixel means mu_k and a mask logit
m^_k, and the masks m = softmax_k(m^) mix the per-slot pixel likelihoods:

    p(x | z) = prod_i sum_k m_ik N(x_i; mu_ik, sigma_x^2)         (Gaussian, fixed sigma_x; paper)
                                  or Logistic(x_i; mu_ik, 0.03)      (the official code's choice)

Inference starts from a trainable lambda^(0) (the same for every slot) and refines it T times:

    for t in 0 .. T:
        z = mu + sigma * eps                                   # reparameterised sample, per slot
        means, mask_logits = decode(z);  masks = softmax_k(mask_logits)
        L_t = -log p(x | z) + sum_k KL(q(z_k) || p(z_k))        # per image
        if t < T:                                              # refine (the gradients are stop-gradient)
            a_k = inputs(x, means, masks, dL/dmeans, dL/dmask_logits, dL/dlambda, ...)
            lambda_k <- lambda_k + f_phi(a_k, h_k)              # conv encoder + MLP (+ LSTM)
    loss = sum_t (t / T) * L_t                                 # the initial guess gets weight 0

The gradient inputs come from one backward pass through the decoder at every step
(``torch.autograd.grad`` without ``create_graph``: no double derivatives, as the paper); they
are LayerNorm-ed, and so are the pixel log-likelihood and the leave-one-out term. Training
back-propagates through the whole unrolled chain otherwise. Prediction: each pixel goes to the
argmax of the final masks. Every deviation from the paper and the code, the options and the
memory knobs: docs/iodine.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from groupbench.baselines.training import Task, TrainConfig, option, predicted_labels, scored_task, seed_everything
from groupbench.errors import GroupbenchError

METHOD = "IODINE"
PAPER = "https://arxiv.org/abs/1903.00450"


@dataclass
class Config(TrainConfig):
    dataset: str = option("tetris-v1", "dataset id the preset targets (--dataset FILE may hold another id's data)")
    k: int = option(4, "slots K")
    iterations: int = option(5, "refinement iterations T (T+1 decodes; the initial one has loss weight 0)")
    latent: int = option(32, "latent size n_z of each slot (the posterior lambda_k has 2 * n_z numbers)")
    decoder_channels: tuple[int, ...] = option((32, 32, 32, 32), "channels of the decoder's stride-1 convs (then a linear conv to C+1)")
    decoder_kernel: int = option(5, "kernel size of the decoder's convs")
    encoder_channels: tuple[int, ...] = option((32, 32, 32), "channels of the refinement encoder's stride-2 convs (ELU after each)")
    encoder_kernel: int = option(5, "kernel size of the refinement encoder's convs")
    mlp: tuple[int, ...] = option((128,), "refinement MLP sizes after average pooling (ELU between, linear last)")
    lstm: int = option(0, "units of the refinement LSTM (0: feed-forward, as for Tetris)")
    likelihood: str = option("gaussian", "pixel likelihood: gaussian (paper, fixed sigma) or logistic (official code)")
    sigma: float = option(0.1, "fixed scale of the pixel likelihood (paper: Gaussian std 0.1; code: logistic scale 0.03)")
    prior_var: float = option(1.0, "variance of the N(0, v) prior on z (paper 1; the code's softplus(0) = ln 2)")
    posterior_scale: str = option("softplus", "sigma_z from lambda's second half s: softplus (sigma = softplus(s)) or var (sigma^2 = softplus(s), code)")
    coordinates: str = option("linear", "coordinate channels of the refinement inputs: linear (2, paper) or cos (8, code)")
    legacy_constants: bool = option(False, "the code's constant inputs: 5.0 channel on z in the decoder, 0.5 'capacity' inputs")
    adam_beta1: float = option(0.9, "Adam beta1 (paper: default 0.9; code: 0.95)")
    clip_norm: float = option(5.0, "global gradient-norm clipping (0: none), as the paper")
    activation_checkpointing: bool = option(False, "recompute each refinement step in the backward pass (memory ~1/T, ~1.3x time)")
    compile: bool = option(False, "torch.compile the decoder and the refinement network")
    optimizer: str = option("adam", "Adam, as the paper")
    lr: float = option(3e-4, "learning rate (paper: 3e-4)")
    batch_size: int = option(32, "images per step over all processes (paper: 32 = 4 x 8 GPUs)")
    max_epochs: int = option(1000, "epochs at most (the paper trains 1M steps)")
    patience: int = option(20, "stop when the validation loss has not improved for this many epochs")
    valid_size: int = option(1000, "validation images used")
    metric_images: int = option(256, "validation images scored with FG-ARI after every epoch (0: none)")
    predict_seed: int = option(0, "seed of the posterior samples when predicting")


INPUT_CHANNELS = {  # name -> (channels, or 'C' for the image's channels; LayerNorm; stop-gradient)
    "image": ("C", False, False),
    "means": ("C", False, False),
    "mask": (1, False, False),
    "mask_logits": (1, False, False),
    "mask_posterior": (1, False, False),
    "grad_means": ("C", True, True),
    "grad_mask": (1, True, True),
    "log_likelihood": (1, True, True),
    "leave_one_out": (1, True, True),
}
"""The image-sized refinement inputs of the paper's Appendix C (plus the coordinate channels)."""


def input_channels(config: Config, channels: int) -> int:
    """Image-sized refinement input channels: 17 for RGB with linear coordinates (the paper's count)."""
    total = sum(channels if c == "C" else c for c, _, _ in INPUT_CHANNELS.values())
    return total + coordinate_channels(config.coordinates) + int(config.legacy_constants)


def coordinate_channels(kind: str) -> int:
    if kind not in ("linear", "cos"):
        raise GroupbenchError(f"coordinates takes linear or cos; got {kind!r}")
    return 2 if kind == "linear" else 8


def coordinates(kind: str, height: int, width: int) -> torch.Tensor:
    """(n, H, W): linear y, x in [-1, 1], or the code's cos(f_y v) cos(f_x u), f in {0,1,2}, without (0,0)."""
    if kind == "linear":
        y, x = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
        return torch.stack([y, x])
    coordinate_channels(kind)
    v, u = torch.meshgrid(torch.linspace(0, math.pi, height), torch.linspace(0, math.pi, width), indexing="ij")
    return torch.stack([torch.cos(fy * v) * torch.cos(fx * u) for fy in range(3) for fx in range(3) if fy or fx])


# ---------------------------------------------------------------------------------------------
# Generative model


class BroadcastDecoder(nn.Module):
    """z (n, n_z) -> tile over H x W, append 2 linear coordinate channels, stride-1 'same' convs with
    ELU, a linear conv to C+1 channels: (means (n,C,H,W), mask logits (n,H,W)). No squashing of the means."""

    def __init__(self, config: Config, shape: tuple[int, int, int]):
        super().__init__()
        height, width, channels = shape
        self.constant = 5.0 if config.legacy_constants else None
        self.register_buffer("grid", coordinates("linear", height, width), persistent=False)
        layers, inputs = [], config.latent + 2 + int(config.legacy_constants)
        for outputs in config.decoder_channels:
            layers += [nn.Conv2d(inputs, outputs, config.decoder_kernel, padding="same"), nn.ELU()]
            inputs = outputs
        layers.append(nn.Conv2d(inputs, channels + 1, config.decoder_kernel, padding="same"))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.constant is not None:
            z = torch.cat([z, torch.full_like(z[:, :1], self.constant)], 1)
        height, width = self.grid.shape[1:]
        tiled = z[:, :, None, None].expand(-1, -1, height, width)
        grid = self.grid.to(z.dtype)[None].expand(len(z), -1, -1, -1)
        out = self.net(torch.cat([tiled, grid], 1))
        return out[:, 1:], out[:, 0]


def pixel_log_likelihood(x: torch.Tensor, means: torch.Tensor, kind: str, scale: float) -> torch.Tensor:
    """log p(x_i | slot k), summed over colour channels: x (B,1,C,H,W), means (B,K,C,H,W) -> (B,K,H,W)."""
    if kind == "gaussian":
        log_p = -0.5 * ((x - means) / scale) ** 2 - math.log(scale) - 0.5 * math.log(2 * math.pi)
    elif kind == "logistic":
        u = (x - means) / scale
        log_p = -u - 2 * F.softplus(-u) - math.log(scale)
    else:
        raise GroupbenchError(f"likelihood takes gaussian or logistic; got {kind!r}")
    return log_p.sum(2)


def kl_to_prior(mu: torch.Tensor, sigma: torch.Tensor, prior_var: float) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, prior_var)) summed over the last axis."""
    ratio = sigma**2 / prior_var
    return 0.5 * (ratio + mu**2 / prior_var - 1 - torch.log(ratio)).sum(-1)


# ---------------------------------------------------------------------------------------------
# Refinement network


class InputNorm(nn.Module):
    """LayerNorm of one image-sized input per (image, slot) over all its pixels and channels, with a
    learnable per-channel gain and bias (Sonnet 1's LayerNorm on [B*K, H*W, C], as the code)."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.ones(channels)), nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (n, C, H, W)
        x = F.layer_norm(x, x.shape[1:], eps=1e-5)
        return x * self.weight[:, None, None] + self.bias[:, None, None]


class RefinementNetwork(nn.Module):
    """(image-sized inputs (n, D, H, W), flat inputs (n, F), LSTM state) -> (delta lambda (n, 2 n_z), state).

    Stride-2 convs with ELU (also after the last), global average pooling, an MLP (ELU between
    layers, linear last), concatenation with [LN(dL/dlambda), lambda], an optional LSTM, a linear head.
    """

    def __init__(self, config: Config, inputs: int, flat: int):
        super().__init__()
        layers = []
        for outputs in config.encoder_channels:
            layers += [nn.Conv2d(inputs, outputs, config.encoder_kernel, stride=2, padding=config.encoder_kernel // 2), nn.ELU()]
            inputs = outputs
        self.conv = nn.Sequential(*layers)
        mlp = []
        for index, outputs in enumerate(config.mlp):
            mlp += ([nn.ELU()] if index else []) + [nn.Linear(inputs, outputs)]
            inputs = outputs
        self.mlp = nn.Sequential(*mlp)
        inputs += flat
        self.lstm = nn.LSTMCell(inputs, config.lstm) if config.lstm else None
        if self.lstm is not None:
            with torch.no_grad():  # Sonnet's forget-gate bias of 1, the rest zero
                self.lstm.bias_ih.zero_()
                self.lstm.bias_hh.zero_()
                self.lstm.bias_ih[config.lstm : 2 * config.lstm] = 1.0
            inputs = config.lstm
        self.head = nn.Linear(inputs, 2 * config.latent)

    def forward(self, spatial: torch.Tensor, flat: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None):
        h = self.mlp(self.conv(spatial).mean((2, 3)))
        h = torch.cat([h, flat.to(h.dtype)], 1)
        if self.lstm is not None:
            state = self.lstm(h, state)
            h = state[0]
        return self.head(h), state


# ---------------------------------------------------------------------------------------------
# The model


class IODINE(nn.Module):
    """forward(images, generator) -> the training loss (batch mean of sum_t t/T L_t); `infer` runs the
    iterations and returns every step's tensors."""

    def __init__(self, config: Config, image_shape: tuple[int, ...]):
        super().__init__()
        if len(image_shape) != 3:
            raise GroupbenchError(f"IODINE segments still images (H,W,C); this dataset has shape {image_shape}")
        for name in ("likelihood", "posterior_scale"):
            allowed = {"likelihood": ("gaussian", "logistic"), "posterior_scale": ("softplus", "var")}[name]
            if getattr(config, name) not in allowed:
                raise GroupbenchError(f"{name} takes {' or '.join(allowed)}; got {getattr(config, name)!r}")
        self.config = config
        self.image_shape = tuple(image_shape)
        height, width, channels = self.image_shape
        self.decoder = BroadcastDecoder(config, self.image_shape)
        self.register_buffer("refine_grid", coordinates(config.coordinates, height, width), persistent=False)
        self.norms = nn.ModuleDict({
            name: InputNorm(channels if c == "C" else c) for name, (c, norm, _) in INPUT_CHANNELS.items() if norm
        })
        self.grad_lambda_norm = nn.LayerNorm(2 * config.latent, eps=1e-5)
        flat = 4 * config.latent + int(config.legacy_constants)
        self.refine = RefinementNetwork(config, input_channels(config, channels), flat)
        bound = math.sqrt(6.0 / (1 + 2 * config.latent))  # Glorot-uniform, as TF's default for the code's variable
        self.initial = nn.Parameter(torch.empty(2 * config.latent).uniform_(-bound, bound))
        self._decode, self._refine = self.decoder, self.refine
        if config.compile:
            self._decode, self._refine = torch.compile(self.decoder), torch.compile(self.refine)

    def __getstate__(self):  # compiled callables are not picklable; rebuilt by build_model
        return {k: v for k, v in self.__dict__.items() if k not in ("_decode", "_refine")}

    # --- pieces --------------------------------------------------------------------------------

    def split(self, lam: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """lambda (..., 2 n_z) -> (mu, sigma) of q(z)."""
        mu, s = lam.chunk(2, -1)
        sigma = F.softplus(s) if self.config.posterior_scale == "softplus" else F.softplus(s).sqrt()
        return mu, sigma + 1e-6

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z (B,K,n_z) -> means (B,K,C,H,W), mask logits (B,K,H,W), float32."""
        batch, k = z.shape[:2]
        means, logits = self._decode(z.reshape(batch * k, -1))
        return means.float().reshape(batch, k, *means.shape[1:]), logits.float().reshape(batch, k, *logits.shape[1:])

    def step(self, x: torch.Tensor, lam: torch.Tensor, eps: torch.Tensor, state, refine: bool, chain: bool = True):
        """One decode (and refinement unless ``refine`` is False) from lambda (B,K,2n_z) and noise eps (B,K,n_z).

        ``chain``: keep the graph for a backward pass through the unrolled chain (training); else
        lambda is a fresh leaf and only the gradient inputs are differentiated (prediction).
        Returns (loss per image (B,), next lambda or None, next LSTM state, outputs dict).
        """
        cfg = self.config
        with torch.enable_grad():
            if not chain:  # prediction (also under no_grad): the gradient inputs still need a graph
                lam = lam.detach().requires_grad_(True)
            mu, sigma = self.split(lam)
            z = mu + sigma * eps
            means, logits = self.decode(z)
            log_masks = F.log_softmax(logits, 1)
            component = pixel_log_likelihood(x[:, None], means, cfg.likelihood, cfg.sigma)  # (B,K,H,W)
            joint = log_masks + component
            log_p = torch.logsumexp(joint, 1)  # (B,H,W)
            nll = -log_p.sum((1, 2))
            kl = kl_to_prior(mu, sigma, cfg.prior_var).sum(1)
            loss = nll + kl
            outputs = {"means": means, "mask_logits": logits, "masks": log_masks.exp(), "nll": nll, "kl": kl}
            if not refine:
                return loss, None, state, outputs
            grads = torch.autograd.grad(loss.sum(), [means, logits, lam], retain_graph=chain)
        grad_means, grad_mask, grad_lambda = (g.detach() for g in grads)  # stop-gradient (no double derivatives)
        batch, k = means.shape[:2]
        mask_posterior = torch.softmax(component, 1) + 1e-6  # normalised likelihood, mask prior left out (code)
        with torch.no_grad():  # the likelihood terms are stop-gradient as well (paper's table, code)
            # leave-one-out: log sum_{j != k} m_j p_j / (1 - m_k), i.e. the softmax renormalised over the other slots
            others = torch.logsumexp(joint[:, None].expand(-1, k, -1, -1, -1).masked_fill(
                torch.eye(k, dtype=torch.bool, device=x.device)[None, :, :, None, None], -math.inf), 2)
            others = others - torch.log1p(-log_masks.exp().clamp(max=1 - 1e-6))
            counterfactual = log_p[:, None] - others  # log p(x) - log p_{without k}(x), as the code
            log_likelihood = log_p[:, None].expand(-1, k, -1, -1)
        flat = lambda t: t.reshape(batch * k, *t.shape[2:])  # noqa: E731
        parts = {
            "image": x[:, None].expand(-1, k, -1, -1, -1),
            "means": means,
            "mask": outputs["masks"][:, :, None],
            "mask_logits": logits[:, :, None],
            "mask_posterior": mask_posterior[:, :, None],
            "grad_means": grad_means,
            "grad_mask": grad_mask[:, :, None],
            "log_likelihood": log_likelihood[:, :, None],
            "leave_one_out": counterfactual[:, :, None],
        }
        spatial = [self.norms[n](flat(v)) if n in self.norms else flat(v) for n, v in parts.items()]
        spatial.append(self.refine_grid[None].expand(batch * k, -1, -1, -1))
        flat_inputs = [self.grad_lambda_norm(flat(grad_lambda)), flat(lam)]
        if cfg.legacy_constants:
            spatial.append(torch.full_like(spatial[0][:, :1], 0.5))
            flat_inputs.append(torch.full_like(flat_inputs[0][:, :1], 0.5))
        outputs["inputs"] = spatial  # for inspection (tests); freed with the step
        outputs["flat_inputs"] = flat_inputs
        outputs["gradients"] = {"means": grad_means, "mask_logits": grad_mask, "lambda": grad_lambda}
        delta, state = self._refine(torch.cat(spatial, 1), torch.cat(flat_inputs, 1), state)
        return loss, lam + delta.float().reshape(batch, k, -1), state, outputs

    def _checkpointed(self, x, lam, eps, h, c):
        state = (h, c) if h is not None else None
        loss, lam, state, outputs = self.step(x, lam, eps, state, True)
        h, c = state if state is not None else (None, None)
        return loss, lam, h, c, outputs["masks"]

    # --- the iterations ------------------------------------------------------------------------

    def infer(self, images: torch.Tensor, noise: torch.Generator, k: int | None = None, keep: bool = False):
        """uint8 images (B,H,W,C) -> (per-step losses (T+1, B), final masks (B,K,H,W), per-step outputs if keep)."""
        cfg = self.config
        k = k or cfg.k
        x = images.float().div(255.0).permute(0, 3, 1, 2)
        batch = len(x)
        lam = self.initial.float()[None, None].expand(batch, k, -1)
        # every sample of the unrolled chain is drawn up front, so recomputation (checkpointing) sees the same noise
        eps = torch.randn((cfg.iterations + 1, batch, k, cfg.latent), generator=noise, device=noise.device).to(x.device)
        state, losses, steps = None, [], []
        chain = self.training and torch.is_grad_enabled()
        for t in range(cfg.iterations + 1):
            last = t == cfg.iterations
            if cfg.activation_checkpointing and chain and not last:
                h, c = state if state is not None else (None, None)
                loss, lam, h, c, masks = checkpoint(self._checkpointed, x, lam, eps[t], h, c, use_reentrant=False)
                state = (h, c) if h is not None else None
                outputs = {"masks": masks}
            else:
                loss, nxt, state, outputs = self.step(x, lam, eps[t], state, not last, chain)
                lam = nxt if nxt is not None else lam
            if not chain:  # no backward through the chain when predicting or validating
                lam, loss = lam.detach(), loss.detach()
                outputs = {key: value.detach() for key, value in outputs.items() if torch.is_tensor(value)}
                state = tuple(s.detach() for s in state) if state is not None else None
            losses.append(loss)
            if keep:
                steps.append(outputs)
        return torch.stack(losses), outputs["masks"], steps

    def forward(self, images: torch.Tensor, noise: torch.Generator) -> torch.Tensor:
        losses, _, _ = self.infer(images, noise)
        weights = torch.linspace(0, 1, len(losses), device=losses.device)  # t / T, t = 0..T
        return (weights[:, None] * losses).sum(0).mean()


# ---------------------------------------------------------------------------------------------
# The interface every baseline file offers to groupbench/baselines/runs.py


def method_name(config: Config) -> str:
    return METHOD


def build_model(config: Config, image_shape: tuple[int, ...]) -> IODINE:
    return IODINE(config, tuple(image_shape))


@torch.no_grad()
def predict(model: IODINE, images: torch.Tensor, config: Config, generator: torch.Generator, k: int | None = None) -> torch.Tensor:
    """uint8 images (B,H,W,C) on the model's device -> the final masks (B,K,H,W) float32, summing to 1
    over K; their argmax over K is the segmentation."""
    was_training = model.training
    model.eval()
    try:
        _, masks, _ = model.infer(images, generator, k)
    finally:
        model.train(was_training)
    return masks.float()


@torch.no_grad()
def decompose(model: IODINE, images: torch.Tensor, config: Config, generator: torch.Generator) -> dict[str, np.ndarray]:
    """uint8 images (B,H,W,C) -> the arrays of `figures.plot_decomposition`, in [0,1]: images and
    reconstructions (B,H,W,C), final masks (B,K,H,W), each slot's means (B,K,H,W,C)."""
    was_training = model.training
    model.eval()
    try:
        _, masks, steps = model.infer(images, generator, keep=True)
    finally:
        model.train(was_training)
    means = steps[-1]["means"].float().permute(0, 1, 3, 4, 2)  # (B,K,H,W,C)
    reconstructions = (masks[..., None] * means).sum(1)
    numpy = lambda t: t.float().cpu().numpy()  # noqa: E731
    return {"images": numpy(images) / 255.0, "reconstructions": numpy(reconstructions), "masks": numpy(masks), "slots": numpy(means)}


def predict_seed(config: Config) -> int:
    return config.predict_seed


def validation_ari(model: IODINE, images: torch.Tensor, labels: np.ndarray, overlap: np.ndarray, config: Config) -> float:
    """Mean FG-ARI (background and overlap left out) of a few validation images."""
    from groupbench.metrics import adjusted_rand_index, valid_mask

    predicted = predicted_labels(predict, model, images, config)
    flat = lambda a: a.reshape(len(a), -1)  # noqa: E731
    return float(np.mean(adjusted_rand_index(flat(labels), flat(predicted), flat(valid_mask(labels, overlap)))))


def make_task(config: Config, dataset) -> Task:
    # Seeding: the initial weights are a function of the seed; `fit` derives every later draw from it.
    seed_everything(config.seed, config.deterministic)
    return scored_task(config, dataset, build_model, "ari", validation_ari)


# ---------------------------------------------------------------------------------------------
# The paper's experiments (to be registered in presets.py; see docs/iodine.md)

_SMALL = dict(latent=16, decoder_channels=(32, 32, 32, 32), decoder_kernel=5, encoder_channels=(32, 32, 32),
              encoder_kernel=5, mlp=(128,), lstm=128, iterations=5, lr=3e-4, batch_size=32)

PRESETS: dict[str, dict[str, Any]] = {
    "iodine-tetris": dict(
        fields=dict(_SMALL, dataset="tetris-v1", k=4, latent=32, lstm=0),
        dataset="tetris-v1", params={}, reported={"ari": 0.992},
        description="IODINE on Tetris (35x35): K=4, T=5, n_z=32, feed-forward refinement (no LSTM), Gaussian sigma 0.1",
        variant="K=4, T=5, no LSTM",
    ),
    "iodine-multi-dsprites": dict(
        fields=dict(_SMALL, dataset="multi-dsprites-v1", k=6),
        dataset="multi-dsprites-v1", params={}, reported={"ari": 0.767},
        description="IODINE on Multi-dSprites, coloured on greyscale (64x64): K=6, T=5, n_z=16, LSTM 128, Gaussian sigma 0.1",
        variant="colored-on-grayscale, K=6, T=5",
    ),
    "iodine-multi-dsprites-binarized": dict(
        fields=dict(_SMALL, dataset="multi-dsprites-v1", k=4),
        dataset="multi-dsprites-v1", params={"variant": "binarized"}, reported={"ari": 0.648},
        description="IODINE on binarized Multi-dSprites (64x64, 2-3 white sprites): K=4, T=5, n_z=16, LSTM 128",
        variant="binarized, K=4, T=5",
    ),
    "iodine-shapes": dict(
        fields=dict(_SMALL, dataset="shapes-v1", k=4),
        dataset="shapes-v1", params={}, reported={"ari": 0.910},
        description="IODINE on Shapes (28x28 binary, 3 shapes): K=4, T=5, n_z=16, LSTM 128",
        variant="K=4, T=5",
    ),
}
"""name -> Config field overrides, dataset id and parameters, the paper's FG-ARI (Table/Figure of the
paper: Tetris 0.992, Multi-dSprites 0.767, binarized 0.648, Shapes 0.910), description, variant."""
