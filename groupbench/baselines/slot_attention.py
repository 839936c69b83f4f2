"""Slot Attention: Locatello et al. 2020, "Object-Centric Learning with Slot Attention" (NeurIPS 2020,
arXiv 2006.15055; official code google-research/google-research ``slot_attention``, TF2), in one file.

An autoencoder whose bottleneck is a set of K slots:

    x in [-1, 1]  --CNN + soft position embedding-->  N = H*W features (N, D_in), LayerNorm + MLP
    slots ~ mu + sigma * eps, eps ~ N(0, I)           # learned Gaussian, shared by all K slots
    repeat `iterations` times:                        # slot attention
        attn = softmax over SLOTS of  k(inputs) q(LN(slots))^T / sqrt(D)       (N, K)
        updates = (attn + 1e-8) renormalised over INPUTS, weighted mean of v(inputs)   (K, D)
        slots = GRU(updates, slots);  slots += MLP(LN(slots))
    each slot --spatial broadcast decoder-->  RGB (C, H, W) and a mask logit (H, W)
    masks = softmax over slots;  reconstruction = sum_k masks_k * RGB_k;  loss = MSE(reconstruction, x)

Training: Adam at 4e-4, warmed up linearly over 10k steps and decayed by 0.5^(step / 100k), batch
64, 500k steps, no gradient clipping. Prediction: each pixel goes to the argmax of the alpha masks,
which are the soft masks. ``implicit`` detaches the slots before the last iteration (Chang et al.
2022, "Object Representations as Fixed Points"): the gradient flows through one iteration only, the
first-order approximation of implicit differentiation of the fixed point. Every random draw of a
step (the initial slots' eps) is made up front (`SlotAttentionAutoEncoder.draw`), so a step
compiles and replays as one CUDA graph. The defaults are the official code's CLEVR settings; the
presets at the end set each dataset's; deviations from the paper and the code: docs/baselines.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from groupbench.baselines.training import Task, TrainConfig, option, scored_task, seed_everything
from groupbench.errors import GroupbenchError
from groupbench.scoring import Conventions

METHOD = "Slot Attention"
PAPER = "https://arxiv.org/abs/2006.15055"
CODE = "https://github.com/google-research/google-research/tree/master/slot_attention"
CONVENTIONS = Conventions(include_background=False, include_overlap=True)
"""The paper's FG-ARI (DeepMind's ``segmentation_metrics``, as IODINE): background left out, every
foreground pixel (overlap included) scored under the object visible there."""
LAYER_NORM_EPS = 1e-3
"""Keras' LayerNormalization default, which the official code uses everywhere."""


@dataclass
class Config(TrainConfig):
    dataset: str = option("deepmind/clevr6-v1", "dataset id the preset targets (--dataset FILE may hold another id's data)")
    k: int = option(7, "slots K")
    iterations: int = option(3, "slot attention iterations")
    slot_size: int = option(64, "slot size D (also the size of the attention's queries, keys and values)")
    mlp_hidden: int = option(128, "hidden units of the residual MLP after the GRU")
    encoder_channels: tuple[int, ...] = option((64, 64, 64, 64), "channels of the encoder's 5x5 stride-1 convs (ReLU after each)")
    decoder_start: int = option(8, "side of the grid each slot is broadcast to (0: the image size); stride-2 transposed convs double it up to the image")
    decoder_channels: tuple[int, ...] = option((64, 64, 64, 64, 64), "channels of the decoder's 5x5 layers (ReLU after each): the stride-2 ones first, then stride 1; a 3x3 layer to C+1 follows")
    implicit: bool = option(False, "detach the slots before the last iteration (implicit differentiation, Chang et al. 2022)")
    init: str = option("keras", "weight initialisation: keras (Glorot-uniform, zero biases, orthogonal GRU recurrence: the code) or torch (PyTorch's defaults)")
    lr: float = option(4e-4, "peak learning rate (the code: 4e-4)")
    lr_warmup_steps: int = option(10_000, "linear learning-rate warm-up over this many steps (the code: 10k)")
    lr_decay_steps: float = option(100_000, "learning rate times lr_decay_base^(step / N) (the code: 0.5 every 100k steps)")
    lr_decay_base: float = option(0.5, "base of the exponential learning-rate decay (the code: 0.5)")
    batch_size: int = option(64, "images per step over all processes (the code: 64)")
    max_steps: int = option(500_000, "optimiser steps (the code: 500k)")
    max_epochs: int = option(100_000, "epochs at most (the code counts steps: max_steps ends training)")
    patience: int = option(100_000, "early stopping after this many epochs without improvement (the code trains a fixed number of steps)")
    valid_size: int = option(1000, "validation images used for the validation loss")
    metric_images: int = option(320, "validation images scored with FG-ARI and mBO after every epoch (0: none)")
    predict_seed: int = option(0, "seed of the initial slots when predicting")


# ---------------------------------------------------------------------------------------------
# Pieces


def position_grid(height: int, width: int) -> torch.Tensor:
    """(H, W, 4): y, x, 1 - y, 1 - x, each from linspace(0, 1) (the official ``build_grid``)."""
    y, x = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    return torch.stack([y, x, 1 - y, 1 - x], -1)


class SoftPositionEmbedding(nn.Module):
    """Adds a learned linear map of the 4-channel position grid to channels-last features (..., H, W, D)."""

    def __init__(self, channels: int, height: int, width: int):
        super().__init__()
        self.dense = nn.Linear(4, channels)
        self.register_buffer("grid", position_grid(height, width), persistent=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features + self.dense(self.grid.to(features.dtype))


class SlotAttention(nn.Module):
    """inputs (B, N, D_in), initial slots (B, K, D) -> slots (B, K, D) and the last attention (B, N, K).

    The attention is a softmax over slots (slots compete for each input), then a weighted mean over
    inputs; the update is a GRU step and a residual MLP. With ``implicit`` the slots are detached
    before the last iteration.
    """

    def __init__(self, inputs: int, config: Config):
        super().__init__()
        size = config.slot_size
        self.iterations, self.implicit, self.scale = config.iterations, config.implicit, size**-0.5
        self.norm_inputs = nn.LayerNorm(inputs, eps=LAYER_NORM_EPS)
        self.norm_slots = nn.LayerNorm(size, eps=LAYER_NORM_EPS)
        self.norm_mlp = nn.LayerNorm(size, eps=LAYER_NORM_EPS)
        self.project_q = nn.Linear(size, size, bias=False)
        self.project_k = nn.Linear(inputs, size, bias=False)
        self.project_v = nn.Linear(inputs, size, bias=False)
        self.gru = nn.GRUCell(size, size)
        self.mlp = nn.Sequential(nn.Linear(size, config.mlp_hidden), nn.ReLU(), nn.Linear(config.mlp_hidden, size))

    def forward(self, inputs: torch.Tensor, slots: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        inputs = self.norm_inputs(inputs)
        k, v = self.project_k(inputs), self.project_v(inputs)  # (B, N, D)
        batch, count, size = slots.shape
        attention = slots.new_zeros(0)
        for iteration in range(self.iterations):
            if self.implicit and iteration == self.iterations - 1:
                slots = slots.detach()
            previous = slots
            q = self.project_q(self.norm_slots(slots)) * self.scale  # (B, K, D)
            logits = torch.einsum("bnd,bkd->bnk", k, q)
            attention = torch.softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), -1)  # over slots, >= float32
            weights = attention + 1e-8
            weights = weights / weights.sum(1, keepdim=True)  # a weighted mean over inputs
            updates = torch.einsum("bnk,bnd->bkd", weights.to(v.dtype), v)
            slots = self.gru(updates.reshape(-1, size), previous.reshape(-1, size)).reshape(batch, count, size)
            slots = slots + self.mlp(self.norm_mlp(slots))
        return slots, attention


class Encoder(nn.Module):
    """x (B, C, H, W) in [-1, 1] -> features (B, H*W, D_in): 5x5 'same' convs with ReLU, the soft
    position embedding, flattening, LayerNorm and an MLP (D_in -> ReLU -> D_in)."""

    def __init__(self, config: Config, height: int, width: int, channels: int):
        super().__init__()
        layers, inputs = [], channels
        for outputs in config.encoder_channels:
            layers += [nn.Conv2d(inputs, outputs, 5, padding=2), nn.ReLU()]
            inputs = outputs
        self.convs = nn.Sequential(*layers)
        self.position = SoftPositionEmbedding(inputs, height, width)
        self.norm = nn.LayerNorm(inputs, eps=LAYER_NORM_EPS)
        self.mlp = nn.Sequential(nn.Linear(inputs, inputs), nn.ReLU(), nn.Linear(inputs, inputs))
        self.features = inputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.position(self.convs(x).permute(0, 2, 3, 1))  # (B, H, W, D_in)
        return self.mlp(self.norm(features.flatten(1, 2)))


class Decoder(nn.Module):
    """slots (n, D) -> RGB (n, C, H, W) without activation and mask logits (n, H, W).

    Each slot is broadcast to a ``decoder_start`` grid (the image size when 0) and gets its own
    position embedding; 5x5 transposed convs with ReLU follow, stride 2 (padding 2, output padding 1:
    the side doubles) until the image size is reached, then stride 1, and a 3x3 layer to C+1 channels.
    """

    def __init__(self, config: Config, height: int, width: int, channels: int):
        super().__init__()
        start = config.decoder_start or max(height, width)
        upsamples = 0
        while start << upsamples < max(height, width):
            upsamples += 1
        if (start << upsamples, start << upsamples) != (height, width) and config.decoder_start:
            raise GroupbenchError(f"decoder_start {config.decoder_start} doubles to {start << upsamples}, not the image "
                                  f"size {height}x{width}; use a start whose doublings reach it, or 0 (the image size)")
        if upsamples > len(config.decoder_channels):
            raise GroupbenchError(f"decoder_start {start} needs {upsamples} stride-2 layers to reach {height}x{width}; "
                                  f"decoder_channels has {len(config.decoder_channels)}")
        self.start = (height, width) if not config.decoder_start else (start, start)
        self.position = SoftPositionEmbedding(config.slot_size, *self.start)
        layers, inputs = [], config.slot_size
        for index, outputs in enumerate(config.decoder_channels):
            stride = 2 if index < upsamples else 1
            layers += [nn.ConvTranspose2d(inputs, outputs, 5, stride=stride, padding=2, output_padding=stride - 1), nn.ReLU()]
            inputs = outputs
        layers.append(nn.ConvTranspose2d(inputs, channels + 1, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, slots: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tiled = self.position(slots[:, None, None, :].expand(-1, *self.start, -1))  # (n, h, w, D)
        out = self.net(tiled.permute(0, 3, 1, 2))
        return out[:, :-1], out[:, -1]


def keras_init(module: nn.Module) -> None:
    """The official code's Keras defaults: Glorot-uniform weights and zero biases everywhere, the
    GRU's recurrent weights orthogonal (LayerNorms keep gain 1, bias 0)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.GRUCell):
            nn.init.xavier_uniform_(layer.weight_ih)
            nn.init.orthogonal_(layer.weight_hh)
            nn.init.zeros_(layer.bias_ih)
            nn.init.zeros_(layer.bias_hh)


# ---------------------------------------------------------------------------------------------
# The model


class SlotAttentionAutoEncoder(nn.Module):
    """forward(images, draws) -> the training loss (MSE of the reconstruction in [-1, 1]); `draw`
    makes the initial slots' noise; `decode_slots` returns every per-slot output."""

    def __init__(self, config: Config, image_shape: tuple[int, ...]):
        super().__init__()
        if len(image_shape) != 3:
            raise GroupbenchError(f"Slot Attention segments still images (H,W,C); this dataset has shape {image_shape}")
        if config.init not in ("keras", "torch"):
            raise GroupbenchError(f"init takes keras or torch; got {config.init!r}")
        if config.iterations < 1 or config.k < 1:
            raise GroupbenchError(f"iterations and k must be at least 1; got {config.iterations} and {config.k}")
        self.config = config
        height, width, channels = image_shape
        self.encoder = Encoder(config, height, width, channels)
        self.slot_attention = SlotAttention(self.encoder.features, config)
        self.decoder = Decoder(config, height, width, channels)
        if config.init == "keras":
            keras_init(self)
        bound = math.sqrt(6.0 / (1 + config.slot_size))  # Glorot-uniform of a [1, 1, D] variable, as Keras
        self.slots_mu = nn.Parameter(torch.empty(config.slot_size).uniform_(-bound, bound))
        self.slots_log_sigma = nn.Parameter(torch.empty(config.slot_size).uniform_(-bound, bound))

    def draw(self, images: torch.Tensor, generator: torch.Generator, k: int | None = None) -> dict[str, torch.Tensor]:
        """The initial slots' noise ``eps`` (B, K, D) ~ N(0, 1), on the images' device."""
        shape = (len(images), k or self.config.k, self.config.slot_size)
        return {"eps": torch.randn(shape, generator=generator, device=images.device)}

    def decode_slots(self, images: torch.Tensor, draws: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """uint8 images (B,H,W,C) -> target x (B,C,H,W) in [-1, 1], slots (B,K,D), attention (B,H*W,K),
        per-slot RGB (B,K,C,H,W), masks (B,K,H,W) summing to 1 over K, reconstruction (B,C,H,W)."""
        x = images.float().div(127.5).sub(1.0).permute(0, 3, 1, 2)
        eps = draws["eps"]
        initial = self.slots_mu + self.slots_log_sigma.exp() * eps  # gradients reach mu and sigma
        slots, attention = self.slot_attention(self.encoder(x), initial)
        batch, k = slots.shape[:2]
        rgb, logits = self.decoder(slots.flatten(0, 1))
        rgb = rgb.float().reshape(batch, k, *rgb.shape[1:])
        masks = torch.softmax(logits.float().reshape(batch, k, *logits.shape[1:]), 1)
        reconstruction = (masks[:, :, None] * rgb).sum(1)
        return {"x": x, "slots": slots, "attention": attention, "rgb": rgb, "masks": masks, "reconstruction": reconstruction}

    def forward(self, images: torch.Tensor, draws: dict[str, torch.Tensor]) -> torch.Tensor:
        out = self.decode_slots(images, draws)
        return F.mse_loss(out["reconstruction"], out["x"])


# ---------------------------------------------------------------------------------------------
# The interface every baseline file offers to groupbench/baselines/runs.py


def method_name(config: Config) -> str:
    return METHOD + (" (implicit)" if config.implicit else "")


def build_model(config: Config, image_shape: tuple[int, ...]) -> SlotAttentionAutoEncoder:
    return SlotAttentionAutoEncoder(config, tuple(image_shape))


@torch.no_grad()
def predict(model: SlotAttentionAutoEncoder, images: torch.Tensor, config: Config, generator: torch.Generator,
            k: int | None = None) -> torch.Tensor:
    """uint8 images (B,H,W,C) on the model's device -> the alpha masks (B,K,H,W) float32, summing to 1
    over K; their argmax over K is the segmentation. ``k`` other than the trained K draws that many slots."""
    was_training = model.training
    model.eval()
    try:
        return model.decode_slots(images, model.draw(images, generator, k))["masks"].float()
    finally:
        model.train(was_training)


@torch.no_grad()
def decompose(model: SlotAttentionAutoEncoder, images: torch.Tensor, config: Config, generator: torch.Generator) -> dict[str, np.ndarray]:
    """uint8 images (B,H,W,C) -> the arrays of `figures.plot_decomposition`, in [0,1]: images and
    reconstructions (B,H,W,C), alpha masks (B,K,H,W), each slot's RGB (B,K,H,W,C)."""
    was_training = model.training
    model.eval()
    try:
        out = model.decode_slots(images, model.draw(images, generator))
    finally:
        model.train(was_training)
    unit = lambda t: t.add(1.0).div(2.0).clamp(0, 1).float().cpu().numpy()  # noqa: E731  [-1, 1] -> [0, 1]
    return {"images": images.float().cpu().numpy() / 255.0, "reconstructions": unit(out["reconstruction"].permute(0, 2, 3, 1)),
            "masks": out["masks"].float().cpu().numpy(), "slots": unit(out["rgb"].permute(0, 1, 3, 4, 2))}


def predict_seed(config: Config) -> int:
    return config.predict_seed


def make_task(config: Config, dataset, conventions: Conventions = CONVENTIONS) -> Task:
    """The task of a preset's data; the validation FG-ARI and mBO score the pixels ``conventions`` choose."""
    # Seeding: the initial weights are a function of the seed; `fit` derives every later draw from it.
    seed_everything(config.seed, config.deterministic)
    return scored_task(config, dataset, build_model, predict, conventions, ("ari", "mbo"))


# ---------------------------------------------------------------------------------------------
# The paper's experiments (registered in presets.py; see docs/baselines.md)

_SMALL_NETS = dict(encoder_channels=(32, 32, 32, 32), decoder_start=0, decoder_channels=(32, 32, 32))
"""Multi-dSprites and Tetrominoes: broadcast at the image size, three 5x5 layers of 32 channels and a
3x3 output layer (the paper's appendix, as EfficientMORL restates it); 32-channel encoder convs."""

PRESETS: dict[str, dict[str, Any]] = {
    "slot-attention-clevr6": dict(
        fields=dict(dataset="deepmind/clevr6-v1", k=7), dataset="deepmind/clevr6-v1", params={}, reported={"ari": 0.988},
        description="Slot Attention on CLEVR6 (128x128, the crop of IODINE): K=7, 3 iterations, slots of 64, CNN encoder "
        "4 x 64, decoder from an 8x8 broadcast, batch 64, 500k steps",
        variant="K=7, 3 iterations",
    ),
    "slot-attention-multi-dsprites": dict(
        fields=dict(_SMALL_NETS, dataset="multi-dsprites-v1", k=6), dataset="multi-dsprites-v1", params={}, reported={"ari": 0.913},
        description="Slot Attention on Multi-dSprites, coloured on greyscale (64x64): K=6, 3 iterations, slots of 64, "
        "decoder broadcast at the image size, batch 64, 500k steps",
        variant="colored-on-grayscale, K=6, 3 iterations",
    ),
    "slot-attention-tetris": dict(
        fields=dict(_SMALL_NETS, dataset="tetris-v1", k=4), dataset="tetris-v1", params={}, reported={"ari": 0.995},
        description="Slot Attention on Tetris (35x35): K=4, 3 iterations, slots of 64, decoder broadcast at the image "
        "size, batch 64, 500k steps",
        variant="K=4, 3 iterations",
    ),
    "slot-attention-tetris-implicit": dict(
        fields=dict(_SMALL_NETS, dataset="tetris-v1", k=4, implicit=True), dataset="tetris-v1", params={}, reported={},
        description="Slot Attention on Tetris with implicit differentiation (Chang et al. 2022): the slots detached "
        "before the last of 3 iterations; otherwise slot-attention-tetris",
        variant="K=4, 3 iterations, implicit differentiation",
    ),
}
"""name -> Config field overrides, dataset id and parameters, the paper's FG-ARI (Table 1: CLEVR6
0.988, Multi-dSprites 0.913, Tetrominoes 0.995), description, variant."""
