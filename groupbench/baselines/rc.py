"""Reconstruction Clustering (RC): Greff, Srivastava & Schmidhuber 2015, "Binding via Reconstruction
Clustering" (arXiv 1511.06418; code Qwlouse/Binding), in one file.

A denoising autoencoder (DAE) with one hidden layer learns to remove salt-and-pepper noise from
binary images, of single objects (``train_split="single"``) or of whole multi-object images
(``"train"``). RC then segments an image x into K clusters by EM in which the DAE is the M-step:

    gamma ~ |N(0, 1)| per pixel and cluster, normalised over K
    repeat `iterations` times:
        y_k   = DAE(gamma_k * x)                          # reconstruct what cluster k holds
        l_k   = x * y_k + (1 - x) * (1 - y_k)             # Bernoulli likelihood of each pixel
        gamma = l / sum_k l_k          (soft RC, the E-step of a mixture with pi = 1/K)
              = [l_k == max_j l_j]     (hard RC, K-means-like; used for multi-object DAEs)

and each pixel goes to its most responsible cluster. The DAE is plain SGD on binary cross-entropy
(summed over pixels, averaged over the batch of 100), early-stopped on validation loss. Every
hyperparameter and its source: docs/baselines.md; the presets: groupbench/baselines/presets.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from groupbench.baselines.training import Task, TrainConfig, option, read_images, seed_everything, validation_metrics
from groupbench.errors import GroupbenchError
from groupbench.scoring import Conventions

METHOD = "RC"
CONVENTIONS = Conventions(include_background=False, include_overlap=False, average_method="max")
"""RC's scoring (the original ``run_evaluation.py``): AMI, max normaliser, pixels of exactly one object."""


@dataclass
class Config(TrainConfig):
    dataset: str = option("shapes-v1", "dataset id the preset targets (--dataset FILE may hold another id's data)")
    train_split: str = option("single", "DAE training images: 'single' (last 10% held out) or 'train' (multi-object; 'valid' validates)")
    hidden: int = option(500, "units of the DAE's one fully connected hidden layer")
    activation: str = option("tanh", "hidden activation: relu, tanh or sigmoid")
    salt_pepper: float = option(0.4, "probability that a DAE input pixel is corrupted (half set to 1, half to 0)")
    k: int = option(3, "clusters K at RC time")
    iterations: int = option(10, "RC iterations")
    e_step: str = option("soft", "soft (posterior) or hard (one-hot of the most likely cluster)")
    rc_seed: int = option(1337, "seed of gamma's random start at RC time (original evaluations: 1337 soft, 23 hard)")
    optimizer: str = option("sgd", "plain SGD, as the original")
    lr: float = option(0.08314720669724956, "SGD learning rate")
    batch_size: int = option(100, "images per step")
    checkpoint_every: int = option(5000, "steps between checkpoints (and one at every epoch end)")
    log_every: int = option(500, "steps between training-loss rows in metrics.csv")
    # 100, not N-EM's 256: RC's K x 10 iterations on them cost ~0.15 s per epoch on one CPU thread (~10% of an rc-shapes epoch)
    metric_images: int = option(100, "multi-object validation images (the valid split) segmented by RC and scored with AMI "
                                     "after every epoch, for the learning curve (0: none)")


VALID_FRACTION = 0.1
"""A 'single' training split is cut like the original: the last 10% (file order) validate."""

ACTIVATIONS = {"relu": (nn.ReLU, math.sqrt(12)), "tanh": (nn.Tanh, math.sqrt(6)), "sigmoid": (nn.Sigmoid, 4 * math.sqrt(6))}
"""Activation and brainstorm's init scale for it: weights ~ U(+-scale / sqrt(fan_in + fan_out))."""


class DAE(nn.Module):
    """pixels -> hidden (activation) -> pixels (logits of a sigmoid output), brainstorm's "F<act><size>"."""

    def __init__(self, pixels: int, hidden: int, activation: str):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise GroupbenchError(f"activation takes {', '.join(ACTIVATIONS)}; got {activation!r}")
        kind, scale = ACTIVATIONS[activation]
        self.encoder, self.activation, self.decoder = nn.Linear(pixels, hidden), kind(), nn.Linear(hidden, pixels)
        for layer, layer_scale in ((self.encoder, scale), (self.decoder, 1.0)):
            bound = layer_scale / math.sqrt(pixels + hidden)
            nn.init.uniform_(layer.weight, -bound, bound)
            nn.init.normal_(layer.bias, 0.0, 0.1)  # brainstorm's fallback initialiser

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.activation(self.encoder(x)))


def pixels(images: torch.Tensor) -> torch.Tensor:
    """uint8 binary images (n,H,W,1) -> (n, H*W) float in {0, 1}."""
    return images.reshape(len(images), -1).float().div_(255.0)


def salt_and_pepper(x: torch.Tensor, corrupt: torch.Tensor, salt: torch.Tensor) -> torch.Tensor:
    """x with the pixels where ``corrupt`` is true set to 1 where ``salt`` is true, else 0; the targets stay clean."""
    return torch.where(corrupt, salt.to(x.dtype), x)


class DenoisingLoss(nn.Module):
    """What `fit` trains: forward(images, draws) = BCE of the DAE on noisy inputs, summed over pixels, per image."""

    def __init__(self, dae: DAE, salt_pepper: float):
        super().__init__()
        self.dae, self.salt_pepper = dae, salt_pepper

    def draw(self, images: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """The noise of one step, on the images' device: ``corrupt`` (B,D) bool, each pixel with
        probability ``salt_pepper``; ``salt`` (B,D) bool, even odds of 1 or 0 for a corrupted pixel."""
        shape, device = (len(images), images[0].numel()), images.device
        corrupt = torch.rand(shape, generator=generator, device=device) < self.salt_pepper
        return {"corrupt": corrupt, "salt": torch.rand(shape, generator=generator, device=device) < 0.5}

    def forward(self, images: torch.Tensor, draws: dict[str, torch.Tensor]) -> torch.Tensor:
        x = pixels(images)
        logits = self.dae(salt_and_pepper(x, draws["corrupt"], draws["salt"]))
        return F.binary_cross_entropy_with_logits(logits.float(), x, reduction="sum") / len(x)


@torch.no_grad()
def reconstruction_clustering(
    dae: DAE, x: torch.Tensor, k: int, iterations: int, e_step: str, generator: torch.Generator
) -> torch.Tensor:
    """RC on a batch of clean binary images x (B, D): the assignments gamma (B, K, D) after the last iteration."""
    if e_step not in ("soft", "hard"):
        raise GroupbenchError(f"e_step takes soft or hard; got {e_step!r}")
    gamma = torch.randn((len(x), k, x.shape[1]), generator=generator, device=x.device).abs_()
    gamma /= gamma.sum(1, keepdim=True)
    x = x[:, None]
    for _ in range(iterations):
        y = torch.sigmoid(dae(gamma * x).float())
        likelihood = x * y + (1 - x) * (1 - y)
        if e_step == "soft":
            gamma = likelihood / likelihood.sum(1, keepdim=True).clamp_min(1e-30)
        else:  # ties give several ones, as in the original
            gamma = (likelihood == likelihood.amax(1, keepdim=True)).float()
    return gamma


# ---------------------------------------------------------------------------------------------
# The interface every baseline file offers to groupbench/baselines/runs.py


def method_name(config: Config) -> str:
    return METHOD


def build_model(config: Config, image_shape: tuple[int, ...]) -> DenoisingLoss:
    if len(image_shape) != 3 or image_shape[-1] != 1:
        raise GroupbenchError(f"RC takes binary single-channel images (H,W,1); this dataset has {image_shape}")
    return DenoisingLoss(DAE(math.prod(image_shape), config.hidden, config.activation), config.salt_pepper)


def make_task(config: Config, dataset, conventions: Conventions = CONVENTIONS) -> Task:
    """The DAE's task; with ``metric_images``, RC's AMI (``conventions``: its pixels and normaliser) on
    that many multi-object images of the valid split is logged as ``valid_ami`` after every epoch (the
    DAE's own validation images may be single objects, which say nothing about segmentation), RC's
    random start seeded by ``rc_seed`` as when predicting."""
    # Seeding: the initial weights are a function of the seed; `fit` derives every later draw from it.
    seed_everything(config.seed, config.deterministic)
    if config.train_split == "single":
        images = read_images(dataset, "single")
        cut = int((1 - VALID_FRACTION) * len(images))
        train, valid = images[:cut], images[cut:]
    elif config.train_split == "train":
        train, valid = read_images(dataset, "train"), read_images(dataset, "valid")
    else:
        raise GroupbenchError(f"train_split takes single or train; got {config.train_split!r}")
    if train.ndim != 4:
        raise GroupbenchError(f"RC segments still images; {dataset} holds sequences")
    model = build_model(config, tuple(train.shape[1:]))
    scores, names = validation_metrics(config, dataset, predict, conventions, ("ami",), seed_field="rc_seed")
    return Task(model, train, valid, scores, names)


def predict(model: DenoisingLoss, images: torch.Tensor, config: Config, generator: torch.Generator, k: int | None = None) -> torch.Tensor:
    """uint8 images (B,H,W,1) on the model's device -> each pixel's assignment to the K clusters after RC,
    (B,K,H,W) summing to 1 over K (hard RC: one-hot, ties shared); its argmax over K is the segmentation."""
    gamma = reconstruction_clustering(model.dae, pixels(images), k or config.k, config.iterations, config.e_step, generator)
    gamma = gamma / gamma.sum(1, keepdim=True)
    return gamma.reshape(len(images), gamma.shape[1], *images.shape[1:3])


def predict_seed(config: Config) -> int:
    return config.rc_seed
