"""IODINE: Greff et al. 2019, "Multi-Object Representation Learning with Iterative Variational
Inference" (ICML 2019, arXiv 1903.00450; official code deepmind-research/iodine, TF1), in one file.

An image x is a spatial mixture of K slots. Slot k has a latent z_k ~ q(z_k | lambda_k) = N(mu, sigma);
a spatial broadcast decoder (shared by all slots) turns z_k into pixel means mu_k and a mask logit
m^_k, and the masks m = softmax_k(m^) mix the per-slot pixel likelihoods:

    p(x | z) = prod_i sum_k m_ik Logistic(x_i; mu_ik, 0.03)      (the official code; the default)
                                  or N(x_i; mu_ik, sigma_x^2)      (the paper's prose, sigma_x = 0.1)

Inference starts from a trainable lambda^(0) (the same for every slot) and refines it T times:

    for t in 0 .. T:
        z = mu + sigma * eps                                   # reparameterised sample, per slot
        means, mask_logits = decode(z);  masks = softmax_k(mask_logits)
        L_t = -log p(x | z) + sum_k KL(q(z_k) || p(z_k))        # per image
        if t < T:                                              # refine (the gradients are stop-gradient)
            a_k = inputs(x, means, masks, dL/dmeans, dL/dmask_logits, dL/dlambda, ...)
            lambda_k <- lambda_k + f_phi(a_k, h_k)              # conv encoder + MLP (+ LSTM)
    loss = sum_t (t / T) * L_t                                 # the initial guess gets weight 0

The gradient inputs are the gradients of L_t, stop-gradient as in the paper (no double
derivatives). They are computed in closed form: the mixture's derivatives with respect to the
means and mask logits, a vector-Jacobian product back through the decoder's convolutions to z
(`BroadcastDecoder.input_gradient`), and the reparameterisation and KL derivatives to lambda; the
tests check them against ``torch.autograd.grad``. So a training step calls no autograd inside its
forward pass and, with every posterior sample drawn up front (`IODINE.draw`), compiles and replays
as one CUDA graph. Training back-propagates through the whole unrolled chain otherwise.
Prediction: each pixel goes to the argmax of the final masks. The defaults are the official
configuration; every deviation from the paper and the code, the options and the memory knobs:
docs/iodine.md.
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

from groupbench.baselines.training import Task, TrainConfig, option, scored_task, seed_everything
from groupbench.errors import GroupbenchError
from groupbench.scoring import Conventions

METHOD = "IODINE"
PAPER = "https://arxiv.org/abs/1903.00450"
CONVENTIONS = Conventions(include_background=False, include_overlap=True)
"""IODINE's FG-ARI as DeepMind's ``segmentation_metrics`` computes it: background left out, every
foreground pixel (overlap included) scored under the object visible there."""
LN2 = math.log(2.0)


@dataclass
class Config(TrainConfig):
    dataset: str = option("tetris-v1", "dataset id the preset targets (--dataset FILE may hold another id's data)")
    k: int = option(4, "slots K")
    iterations: int = option(5, "refinement iterations T (T+1 decodes; the initial one has loss weight 0)")
    latent: int = option(32, "latent size n_z of each slot (the posterior lambda_k has 2 * n_z numbers)")
    decoder_channels: tuple[int, ...] = option((32, 32, 32, 32), "channels of the decoder's stride-1 convs (then a linear conv to C+1)")
    decoder_kernel: int = option(5, "kernel size of the decoder's convs (odd)")
    encoder_channels: tuple[int, ...] = option((32, 32, 32), "channels of the refinement encoder's stride-2 convs (ELU after each)")
    encoder_kernel: int = option(5, "kernel size of the refinement encoder's convs")
    mlp: tuple[int, ...] = option((128,), "refinement MLP sizes after average pooling (ELU between, linear last)")
    lstm: int = option(0, "units of the refinement LSTM (0: feed-forward, as for Tetris)")
    likelihood: str = option("logistic", "pixel likelihood: logistic (official code) or gaussian (paper's prose)")
    sigma: float = option(0.03, "fixed scale of the pixel likelihood (code: logistic scale 0.03; prose: Gaussian std 0.1)")
    prior_var: float = option(LN2, "variance of the N(0, v) prior on z (code: softplus(0) = ln 2; prose: 1)")
    posterior_scale: str = option("var", "sigma_z from lambda's second half s: var (sigma^2 = softplus(s), code) or softplus (sigma = softplus(s))")
    coordinates: str = option("cos", "coordinate channels of the refinement inputs: cos (8, code) or linear (2, paper)")
    legacy_constants: bool = option(True, "the code's constant inputs: 5.0 channel on z in the decoder, 0.5 'capacity' inputs")
    init: str = option("sonnet", "weight initialisation: sonnet (truncated normal, std 1/sqrt(fan-in), zero biases: the code) or torch (PyTorch's defaults)")
    adam_beta1: float = option(0.95, "Adam beta1 (code: 0.95; paper: default 0.9)")
    lr_decay_steps: float = option(1e6, "learning rate times 0.1^(step / N) (code: 1e6; 0: constant)")
    clip_norm: float = option(5.0, "global gradient-norm clipping (0: none), as the paper")
    activation_checkpointing: bool = option(False, "recompute each refinement step in the backward pass (memory ~1/T, ~1.3x time)")
    channels_last: bool = option(True, "on CUDA, convolutions in channels-last memory format (faster with bfloat16)")
    optimizer: str = option("adam", "Adam, as the paper")
    lr: float = option(3e-4, "learning rate (paper and code: 3e-4 at the paper's batch)")
    batch_size: int = option(256, "images per step over all processes (code: 8 GPUs x 32 for Tetris, x 16 for Multi-dSprites)")
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


def sonnet_init(module: nn.Module) -> None:
    """Sonnet 1's defaults, which the official code used: weights from a normal truncated at two
    standard deviations, std 1/sqrt(fan-in) (a conv's fan-in: kernel area x input channels; an
    LSTM's: input + hidden size, for every gate), zero biases. LSTM forget-gate biases are set after."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            weights = [layer.weight]
            fan_in = layer.weight[0].numel()
            biases = [layer.bias]
        elif isinstance(layer, nn.LSTMCell):
            weights = [layer.weight_ih, layer.weight_hh]
            fan_in = layer.input_size + layer.hidden_size
            biases = [layer.bias_ih, layer.bias_hh]
        else:
            continue
        std = 1.0 / math.sqrt(fan_in)
        for weight in weights:
            nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)
        for bias in biases:
            if bias is not None:
                nn.init.zeros_(bias)


def memory_format(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """A 4-d conv input in channels-last layout when asked for and on CUDA (else unchanged)."""
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.is_cuda else x


# ---------------------------------------------------------------------------------------------
# Generative model


class BroadcastDecoder(nn.Module):
    """z (n, n_z) -> tile over H x W, append 2 linear coordinate channels, stride-1 'same' convs with
    ELU, a linear conv to C+1 channels: (means (n,C,H,W), mask logits (n,H,W)). No squashing of the means."""

    def __init__(self, config: Config, shape: tuple[int, int, int]):
        super().__init__()
        height, width, channels = shape
        if config.decoder_kernel % 2 == 0:
            raise GroupbenchError(f"decoder_kernel must be odd ('same' padding on both sides); got {config.decoder_kernel}")
        self.latent, self.channels_last = config.latent, config.channels_last
        self.constant = 5.0 if config.legacy_constants else None
        self.register_buffer("grid", coordinates("linear", height, width), persistent=False)
        layers, inputs = [], config.latent + 2 + int(config.legacy_constants)
        for outputs in config.decoder_channels:
            layers += [nn.Conv2d(inputs, outputs, config.decoder_kernel, padding="same"), nn.ELU()]
            inputs = outputs
        layers.append(nn.Conv2d(inputs, channels + 1, config.decoder_kernel, padding="same"))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """-> means (n,C,H,W), mask logits (n,H,W), and the hidden activations (each ELU's output),
        which `input_gradient` takes."""
        if self.constant is not None:
            z = torch.cat([z, torch.full_like(z[:, :1], self.constant)], 1)
        height, width = self.grid.shape[1:]
        tiled = z[:, :, None, None].expand(-1, -1, height, width)
        grid = self.grid.to(z.dtype)[None].expand(len(z), -1, -1, -1)
        out, hidden = memory_format(torch.cat([tiled, grid], 1), self.channels_last), []
        for layer in self.net:
            out = layer(out)
            if isinstance(layer, nn.ELU):
                hidden.append(out)
        return out[:, 1:], out[:, 0], hidden

    def input_gradient(self, grad_out: torch.Tensor, hidden: list[torch.Tensor]) -> torch.Tensor:
        """The vector-Jacobian product back to z: dL/dz (n, n_z) from dL/d(output) (n, C+1, H, W)
        (channel 0 the mask logit) and the hidden activations of the forward pass. A stride-1 conv
        with 'same' padding p back-propagates as the transposed conv with padding p; ELU's
        derivative is 1 where its output is positive, else its output + 1."""
        convs = [layer for layer in self.net if isinstance(layer, nn.Conv2d)]
        grad = memory_format(grad_out, self.channels_last)
        for index in range(len(convs) - 1, -1, -1):
            weight = convs[index].weight.detach()
            if index == 0:  # only z's channels are needed (not the constant's or the coordinates')
                weight = weight[:, : self.latent]
            grad = F.conv_transpose2d(grad, weight, padding=convs[index].kernel_size[0] // 2)
            if index > 0:
                h = hidden[index - 1]
                grad = grad * torch.where(h > 0, torch.ones_like(h), h + 1)
        return grad.sum((2, 3))


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


def log_likelihood_gradient(x: torch.Tensor, means: torch.Tensor, kind: str, scale: float) -> torch.Tensor:
    """d log p(x_ic | slot k) / d mean_ikc (B,K,C,H,W): Gaussian (x - mu) / s^2; logistic tanh(u / 2) / s, u = (x - mu) / s."""
    if kind == "gaussian":
        return (x - means) / scale**2
    return torch.tanh((x - means) / (2 * scale)) / scale


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
        self.channels_last = config.channels_last
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
            inputs = config.lstm
        self.head = nn.Linear(inputs, 2 * config.latent)
        if config.init == "sonnet":
            sonnet_init(self)
        if self.lstm is not None:
            with torch.no_grad():  # Sonnet's forget-gate bias of 1, the rest zero
                self.lstm.bias_ih.zero_()
                self.lstm.bias_hh.zero_()
                self.lstm.bias_ih[config.lstm : 2 * config.lstm] = 1.0

    def forward(self, spatial: torch.Tensor, flat: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None):
        h = self.mlp(self.conv(memory_format(spatial, self.channels_last)).mean((2, 3)))
        h = torch.cat([h, flat.to(h.dtype)], 1)
        if self.lstm is not None:
            state = self.lstm(h, state)
            h = state[0]
        return self.head(h), state


# ---------------------------------------------------------------------------------------------
# The model


class IODINE(nn.Module):
    """forward(images, draws) -> the training loss (batch mean of sum_t t/T L_t); `draw` makes the
    posterior samples of every step; `infer` runs the iterations and returns every step's tensors."""

    def __init__(self, config: Config, image_shape: tuple[int, ...]):
        super().__init__()
        if len(image_shape) != 3:
            raise GroupbenchError(f"IODINE segments still images (H,W,C); this dataset has shape {image_shape}")
        allowed = {"likelihood": ("logistic", "gaussian"), "posterior_scale": ("var", "softplus"), "init": ("sonnet", "torch")}
        for name, choices in allowed.items():
            if getattr(config, name) not in choices:
                raise GroupbenchError(f"{name} takes {' or '.join(choices)}; got {getattr(config, name)!r}")
        self.config = config
        self.image_shape = tuple(image_shape)
        height, width, channels = self.image_shape
        self.decoder = BroadcastDecoder(config, self.image_shape)
        if config.init == "sonnet":
            sonnet_init(self.decoder)
        self.register_buffer("refine_grid", coordinates(config.coordinates, height, width), persistent=False)
        self.norms = nn.ModuleDict({
            name: InputNorm(channels if c == "C" else c) for name, (c, norm, _) in INPUT_CHANNELS.items() if norm
        })
        self.grad_lambda_norm = nn.LayerNorm(2 * config.latent, eps=1e-5)
        flat = 4 * config.latent + int(config.legacy_constants)
        self.refine = RefinementNetwork(config, input_channels(config, channels), flat)
        bound = math.sqrt(6.0 / (1 + 2 * config.latent))  # Glorot-uniform, as TF's default for the code's variable
        self.initial = nn.Parameter(torch.empty(2 * config.latent).uniform_(-bound, bound))

    # --- pieces --------------------------------------------------------------------------------

    def split(self, lam: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """lambda (..., 2 n_z) -> (mu, sigma) of q(z)."""
        mu, s = lam.chunk(2, -1)
        sigma = F.softplus(s) if self.config.posterior_scale == "softplus" else F.softplus(s).sqrt()
        return mu, sigma + 1e-6

    def sigma_derivative(self, lam: torch.Tensor) -> torch.Tensor:
        """d sigma / d s of `split` (..., n_z): sigmoid(s), or sigmoid(s) / (2 sqrt(softplus(s))) for ``var``."""
        s = lam.chunk(2, -1)[1]
        if self.config.posterior_scale == "softplus":
            return torch.sigmoid(s)
        return torch.sigmoid(s) / (2 * F.softplus(s).sqrt())

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """z (B,K,n_z) -> means (B,K,C,H,W), mask logits (B,K,H,W), float32; and the decoder's hidden activations."""
        batch, k = z.shape[:2]
        means, logits, hidden = self.decoder(z.reshape(batch * k, -1))
        return means.float().reshape(batch, k, *means.shape[1:]), logits.float().reshape(batch, k, *logits.shape[1:]), hidden

    def gradient_inputs(self, x: torch.Tensor, lam: torch.Tensor, eps: torch.Tensor, means: torch.Tensor,
                        log_masks: torch.Tensor, joint: torch.Tensor, hidden: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """The gradients of the per-image loss L_t with respect to the means (B,K,C,H,W), the mask
        logits (B,K,H,W) and lambda (B,K,2n_z), in closed form and stop-gradient.

        With responsibilities r = softmax_k(log m_k + log p_k(x)): dL/d logit_k = m_k - r_k;
        dL/d mean_k = -r_k d log p_k / d mean_k; dL/dz by `BroadcastDecoder.input_gradient`;
        dL/dmu = dL/dz + mu / v; dL/ds = (dL/dz eps + sigma / v - 1 / sigma) d sigma / d s.
        """
        cfg = self.config
        with torch.no_grad():
            lam = lam.detach()
            responsibilities = torch.softmax(joint, 1)
            grad_logits = log_masks.exp() - responsibilities
            grad_means = -responsibilities[:, :, None] * log_likelihood_gradient(x[:, None], means, cfg.likelihood, cfg.sigma)
            batch, k = means.shape[:2]
            grad_out = torch.cat([grad_logits[:, :, None], grad_means], 2).flatten(0, 1)
            grad_z = self.decoder.input_gradient(grad_out, hidden).float().reshape(batch, k, -1)
            mu, sigma = self.split(lam)
            grad_mu = grad_z + mu / cfg.prior_var
            grad_s = (grad_z * eps + sigma / cfg.prior_var - 1 / sigma) * self.sigma_derivative(lam)
        return {"means": grad_means, "mask_logits": grad_logits, "lambda": torch.cat([grad_mu, grad_s], -1)}

    def step(self, x: torch.Tensor, lam: torch.Tensor, eps: torch.Tensor, state, refine: bool):
        """One decode (and refinement unless ``refine`` is False) from lambda (B,K,2n_z) and noise eps (B,K,n_z).

        x: images (B,C,H,W) in [0, 1]. Returns (loss per image (B,), next lambda or None, next LSTM
        state, outputs dict).
        """
        cfg = self.config
        mu, sigma = self.split(lam)
        means, logits, hidden = self.decode(mu + sigma * eps)
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
        gradients = self.gradient_inputs(x, lam, eps, means, log_masks, joint, hidden)
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
            "grad_means": gradients["means"],
            "grad_mask": gradients["mask_logits"][:, :, None],
            "log_likelihood": log_likelihood[:, :, None],
            "leave_one_out": counterfactual[:, :, None],
        }
        spatial = [self.norms[n](flat(v)) if n in self.norms else flat(v) for n, v in parts.items()]
        spatial.append(self.refine_grid[None].expand(batch * k, -1, -1, -1))
        flat_inputs = [self.grad_lambda_norm(flat(gradients["lambda"])), flat(lam)]
        if cfg.legacy_constants:
            spatial.append(torch.full_like(spatial[0][:, :1], 0.5))
            flat_inputs.append(torch.full_like(flat_inputs[0][:, :1], 0.5))
        outputs["inputs"] = spatial  # for inspection (tests); freed with the step
        outputs["flat_inputs"] = flat_inputs
        outputs["gradients"] = gradients
        delta, state = self.refine(torch.cat(spatial, 1), torch.cat(flat_inputs, 1), state)
        return loss, lam + delta.float().reshape(batch, k, -1), state, outputs

    def _checkpointed(self, x, lam, eps, h, c):
        state = (h, c) if h is not None else None
        loss, lam, state, outputs = self.step(x, lam, eps, state, True)
        h, c = state if state is not None else (None, None)
        return loss, lam, h, c, outputs["masks"]

    # --- the iterations ------------------------------------------------------------------------

    def draw(self, images: torch.Tensor, generator: torch.Generator, k: int | None = None) -> dict[str, torch.Tensor]:
        """The posterior samples' noise of every step, on the images' device: ``eps`` (T+1, B, K, n_z) ~ N(0, 1).
        Drawn up front, so recomputation (checkpointing) and a compiled step see the same samples."""
        shape = (self.config.iterations + 1, len(images), k or self.config.k, self.config.latent)
        return {"eps": torch.randn(shape, generator=generator, device=images.device)}

    def infer(self, images: torch.Tensor, draws: dict[str, torch.Tensor], keep: bool = False):
        """uint8 images (B,H,W,C), draws from `draw` (K is theirs) -> (per-step losses (T+1, B), final
        masks (B,K,H,W), per-step outputs if keep)."""
        cfg = self.config
        eps = draws["eps"]
        x = images.float().div(255.0).permute(0, 3, 1, 2)
        lam = self.initial.float()[None, None].expand(len(x), eps.shape[2], -1)
        state, losses, steps = None, [], []
        chain = self.training and torch.is_grad_enabled()  # back-propagated through (training)
        for t in range(cfg.iterations + 1):
            last = t == cfg.iterations
            if cfg.activation_checkpointing and chain and not last:
                h, c = state if state is not None else (None, None)
                loss, lam, h, c, masks = checkpoint(self._checkpointed, x, lam, eps[t], h, c, use_reentrant=False)
                state = (h, c) if h is not None else None
                outputs = {"masks": masks}
            else:
                loss, nxt, state, outputs = self.step(x, lam, eps[t], state, not last)
                lam = nxt if nxt is not None else lam
            losses.append(loss)
            if keep:
                steps.append(outputs)
        return torch.stack(losses), outputs["masks"], steps

    def forward(self, images: torch.Tensor, draws: dict[str, torch.Tensor]) -> torch.Tensor:
        losses, _, _ = self.infer(images, draws)
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
        _, masks, _ = model.infer(images, model.draw(images, generator, k))
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
        _, masks, steps = model.infer(images, model.draw(images, generator), keep=True)
    finally:
        model.train(was_training)
    means = steps[-1]["means"].float().permute(0, 1, 3, 4, 2)  # (B,K,H,W,C)
    reconstructions = (masks[..., None] * means).sum(1)
    numpy = lambda t: t.float().cpu().numpy()  # noqa: E731
    return {"images": numpy(images) / 255.0, "reconstructions": numpy(reconstructions), "masks": numpy(masks), "slots": numpy(means)}


def predict_seed(config: Config) -> int:
    return config.predict_seed


def make_task(config: Config, dataset, conventions: Conventions = CONVENTIONS) -> Task:
    """The task of a preset's data; the validation FG-ARI scores the pixels ``conventions`` choose."""
    # Seeding: the initial weights are a function of the seed; `fit` derives every later draw from it.
    seed_everything(config.seed, config.deterministic)
    return scored_task(config, dataset, build_model, predict, conventions, ("ari",))


# ---------------------------------------------------------------------------------------------
# The paper's experiments (registered in presets.py; see docs/iodine.md)

_TETRIS = dict(dataset="tetris-v1", k=4, latent=32, lstm=0, batch_size=256)
_MULTI_DSPRITES = dict(dataset="multi-dsprites-v1", k=6, latent=16, lstm=128, batch_size=128)
_CLEVR6 = dict(dataset="deepmind/clevr6-v1", k=7, latent=64, decoder_channels=(64, 64, 64, 64), decoder_kernel=3,
               encoder_channels=(64, 64, 64, 64), encoder_kernel=3, mlp=(256, 256), lstm=256, coordinates="linear",
               batch_size=32, lr=1e-3)
"""CLEVR6 in the code's ``clevr6`` configuration (deepmind.md section 4.4): 8 GPUs x 4 images at 1e-3."""
_PROSE = dict(likelihood="gaussian", sigma=0.1, prior_var=1.0, posterior_scale="softplus", coordinates="linear",
              legacy_constants=False, init="torch", adam_beta1=0.9, lr_decay_steps=0, batch_size=32)
"""What the paper's prose (Section 2, Appendix C) says where the released configuration differs."""

PRESETS: dict[str, dict[str, Any]] = {
    "iodine-tetris": dict(
        fields=_TETRIS, dataset="tetris-v1", params={}, reported={"ari": 0.992},
        description="IODINE on Tetris (35x35), the official configuration: K=4, T=5, n_z=32, feed-forward refinement, "
        "logistic likelihood (scale 0.03), batch 256",
        variant="K=4, T=5, no LSTM",
    ),
    "iodine-tetris-prose": dict(
        fields=dict(_TETRIS, **_PROSE), dataset="tetris-v1", params={}, reported={"ari": 0.992},
        description="IODINE on Tetris as the paper's prose describes it: Gaussian sigma 0.1, N(0,1) prior, batch 32",
        variant="K=4, T=5, no LSTM; paper's prose (Gaussian 0.1, N(0,1) prior, batch 32)",
    ),
    "iodine-multi-dsprites": dict(
        fields=_MULTI_DSPRITES, dataset="multi-dsprites-v1", params={}, reported={"ari": 0.767},
        description="IODINE on Multi-dSprites, coloured on greyscale (64x64), the official configuration: K=6, T=5, "
        "n_z=16, LSTM 128, logistic likelihood (scale 0.03), batch 128",
        variant="colored-on-grayscale, K=6, T=5",
    ),
    "iodine-multi-dsprites-prose": dict(
        fields=dict(_MULTI_DSPRITES, **_PROSE), dataset="multi-dsprites-v1", params={}, reported={"ari": 0.767},
        description="IODINE on Multi-dSprites, coloured on greyscale, as the paper's prose describes it: Gaussian "
        "sigma 0.1, N(0,1) prior, batch 32",
        variant="colored-on-grayscale, K=6, T=5; paper's prose (Gaussian 0.1, N(0,1) prior, batch 32)",
    ),
    "iodine-multi-dsprites-binarized": dict(
        fields=dict(_MULTI_DSPRITES, k=4), dataset="multi-dsprites-v1", params={"variant": "binarized"}, reported={"ari": 0.648},
        description="IODINE on binarized Multi-dSprites (64x64, 2-3 white sprites): the Multi-dSprites configuration with K=4",
        variant="binarized, K=4, T=5",
    ),
    "iodine-clevr6": dict(
        fields=_CLEVR6, dataset="deepmind/clevr6-v1", params={}, reported={"ari": 0.988},
        description="IODINE on CLEVR6 (128x128, the crop and resize of the code), the official configuration: K=7, T=5, "
        "n_z=64, 3x3 convs of 64 channels, MLP 256-256, LSTM 256, linear coordinates, batch 32 at 1e-3",
        variant="K=7, T=5",
    ),
    "iodine-shapes": dict(
        fields=dict(_MULTI_DSPRITES, dataset="shapes-v1", k=4), dataset="shapes-v1", params={}, reported={"ari": 0.910},
        description="IODINE on Shapes (28x28 binary, 3 shapes): the Multi-dSprites configuration with K=4",
        variant="K=4, T=5",
    ),
}
"""name -> Config field overrides, dataset id and parameters, the paper's FG-ARI (CLEVR6 0.988, Tetris
0.992, Multi-dSprites 0.767, binarized 0.648, Shapes 0.910), description, variant. The defaults are the
official configuration (deepmind-research/iodine ``configurations.py``); ``-prose`` presets follow
the paper's text instead."""
