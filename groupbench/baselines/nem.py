"""Neural Expectation Maximization (N-EM) and RNN-EM: Greff, van Steenkiste & Schmidhuber 2017,
"Neural Expectation Maximization" (arXiv 1708.03498; code sjoerdvansteenkiste/Neural-EM), in one file.

Both model an image (or a frame) as a spatial mixture of K components: pixel i of component k is
a Bernoulli (binary data) or a Gaussian (grey data) whose parameter psi_ik a network computes from
component k's state. The EM iterations are unrolled and trained end to end:

    gamma ~ |N(0,1)| per pixel, normalised over K;   psi = 0;   state = 0
    for t in 0 .. steps-1:
        delta_k = x~_t - psi_k                        # x~: input with fresh noise at every step
        psi_k, state_k = cell(gamma_k * delta_k, state_k)   # the M-step, one network shared by all k
        gamma = posterior(psi, x_{t+1})               # the E-step, against the clean target
        loss_t = sum gamma * -log P(x_{t+1} | psi) + lambda * sum (1 - gamma) * KL(prior || P(x | psi))

N-EM's cell is one generalised-EM gradient step on theta (its decoder tied to its encoder);
RNN-EM replaces it by an RNN: fully connected for static shapes, with a convolutional encoder
and decoder for flying shapes and flying MNIST. A still image is its own target at every step
(x_{t+1} = x); a sequence is trained on next-frame prediction. Prediction: each pixel goes to
argmax_k gamma. Hyperparameters and their sources: docs/baselines.md; presets: presets.py.

Numerics: psi, the E-step and the loss are computed in float32 even under mixed precision, as in
the original (under bfloat16 a sigmoid rounds to exactly 1 once its logit passes about 6.2, and
the clipped loss would then give no gradient to the confidently wrong pixels the inter-cluster
loss pushes back). Every random draw of a training step (gamma's start, the input noise of every
EM step) is made up front by `NeuralEM.draw`, so the unrolled step itself draws nothing and can be
compiled and captured as one CUDA graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from groupbench.baselines.training import Task, TrainConfig, option, scored_task, seed_everything
from groupbench.errors import GroupbenchError
from groupbench.scoring import Conventions

CONVENTIONS = Conventions(include_background=False, include_overlap=False, average_method="max", frames=("skip-first", "all"))
"""N-EM's scoring: AMI with the max normaliser (sklearn <= 0.19) over the pixels of exactly one object;
on sequences per frame over frames 1..T-1 (the frames its steps predict: ``ami/per-frame/skip-first``,
the headline), and over all frames too, named ``ami/per-frame``."""


@dataclass
class Config(TrainConfig):
    dataset: str = option("shapes-v1", "dataset id the preset targets (--dataset FILE may hold another id's data)")
    network: str = option("rnn", "inner network: nem (N-EM cell), rnn (RNN-EM, fully connected), conv-shapes, conv-mnist")
    hidden: int = option(250, "units of each component's state (theta / the RNN)")
    k: int = option(4, "mixture components K")
    steps: int = option(15, "EM steps on a still image (a sequence of T frames takes T-1, one per frame)")
    pixel: str = option("bernoulli", "pixel distribution: bernoulli (binary data) or gaussian (grey data)")
    e_sigma: float = option(0.25, "standard deviation of the Gaussian in the E-step (the loss uses 1, as the original)")
    noise: str = option("bitflip", "input noise: bitflip, or masked_uniform (a pixel replaced by U(0,1))")
    noise_p: float = option(0.1, "probability that an input pixel is corrupted, drawn afresh at every step")
    loss_steps: str = option("last", "steps whose loss counts: last (still images) or all (sequences)")
    gradient_gamma: bool = option(True, "back-propagate through gamma (in the masking and the loss weights)")
    inter_weight: float = option(1.0, "weight of the inter-cluster loss (KL of out-of-cluster predictions to the prior)")
    standardize: bool = option(False, "standardise the masked differences of each image before the network (flying MNIST)")
    valid_size: int = option(1000, "validation images used (the original: the first 1,000)")
    metric_images: int = option(256, "validation images scored with AMI after every epoch (0: none)")
    predict_seed: int = option(0, "seed of gamma's random start and of the input noise when predicting")


# ---------------------------------------------------------------------------------------------
# The inner networks (M-step)


def _glorot(module: nn.Module) -> nn.Module:
    """TensorFlow's defaults, as in the original: Glorot-uniform weights, zero biases."""
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    return module


class NEMCell(nn.Module):
    """N-EM: theta <- theta + eta * sigma'(theta) * (W^T masked delta); psi = sigmoid(W sigma(theta)), W tied.

    Like every cell here it returns psi's pre-activation (the logits); `NeuralEM` applies the output
    activation in float32.

    One gradient-ascent step on the gamma-weighted Bernoulli log-likelihood w.r.t. theta (for a
    one-layer decoder without bias), with a learned step size eta.
    """

    def __init__(self, pixels: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.weight = nn.Parameter(nn.init.xavier_uniform_(torch.empty(pixels, hidden)))
        self.eta = nn.Parameter(nn.init.xavier_uniform_(torch.empty(1, 1)))  # U(-sqrt(3), sqrt(3)), as TF's default

    def forward(self, delta: torch.Tensor, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        squashed = torch.sigmoid(theta)
        theta = theta + self.eta * squashed * (1 - squashed) * (delta @ self.weight)
        return torch.sigmoid(theta) @ self.weight.T, theta


class RNNCell(nn.Module):
    """RNN-EM on still images: h <- sigmoid(W [delta; h] + b); psi = out(V h + c)."""

    def __init__(self, pixels: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.recurrent, self.output = _glorot(nn.Linear(pixels + hidden, hidden)), _glorot(nn.Linear(hidden, pixels))

    def forward(self, delta: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.sigmoid(self.recurrent(torch.cat([delta, h], 1)))
        return self.output(h), h


class UpConv(nn.Sequential):
    """Nearest-neighbour upsampling by 2, then a 4x4 convolution with stride 1 and TF's SAME padding."""

    def __init__(self, inputs: int, outputs: int):
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(inputs, outputs, 4))


class ConvRNNCell(nn.Module):
    """RNN-EM on sequences (Appendix A.2 / A.3): conv encoder, RNN with layer norm on its output, conv decoder.

    Encoder: 4x4 stride-2 convolutions (``channels``) with layer norm and ELU, then FC 512 ELU LN.
    Recurrence: z = W [e; h] + b, new state sigmoid(z), output sigmoid(LN(z)).
    Decoder: FC 512 ReLU LN, FC to the last feature map ReLU LN, then upsample-and-convolve back
    through the channels to the image (sigmoid for Bernoulli pixels, linear for Gaussian).
    Layer norm normalises each sample over all its features, with a scale and shift per channel.
    """

    def __init__(self, image_shape: tuple[int, int, int], hidden: int, channels: tuple[int, ...], standardize: bool):
        super().__init__()
        height, width, colours = image_shape
        factor = 2 ** len(channels)
        if height % factor or width % factor:
            raise GroupbenchError(f"this network needs images whose sides divide by {factor}; got {height}x{width}")
        self.image_shape, self.hidden, self.standardize = image_shape, hidden, standardize
        self.map_shape = (channels[-1], height // factor, width // factor)
        layers: list[nn.Module] = []
        for inputs, outputs in zip((colours, *channels), channels):
            layers += [nn.Conv2d(inputs, outputs, 4, stride=2, padding=1), nn.GroupNorm(1, outputs), nn.ELU()]
        flat = math.prod(self.map_shape)
        self.encoder = _glorot(nn.Sequential(*layers, nn.Flatten(), nn.Linear(flat, 512), nn.LayerNorm(512), nn.ELU()))
        self.recurrent, self.norm = _glorot(nn.Linear(512 + hidden, hidden)), nn.LayerNorm(hidden)
        self.decoder_fc = _glorot(nn.Sequential(
            nn.Linear(hidden, 512), nn.LayerNorm(512), nn.ReLU(), nn.Linear(512, flat), nn.LayerNorm(flat), nn.ReLU()
        ))
        layers = []
        for inputs, outputs in zip(channels[::-1], channels[-2::-1]):
            layers += [UpConv(inputs, outputs), nn.GroupNorm(1, outputs), nn.ReLU()]
        self.decoder_conv = _glorot(nn.Sequential(*layers, UpConv(channels[0], colours)))

    def forward(self, delta: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.standardize:  # the original has no epsilon here (NaN for a constant input); 1e-6 avoids that
            delta = (delta - delta.mean(1, keepdim=True)) / (delta.var(1, unbiased=False, keepdim=True) + 1e-6).sqrt()
        height, width, colours = self.image_shape
        e = self.encoder(delta.reshape(-1, height, width, colours).permute(0, 3, 1, 2))
        z = self.recurrent(torch.cat([e, h], 1))
        out = self.decoder_fc(torch.sigmoid(self.norm(z))).reshape(-1, *self.map_shape)
        psi = self.decoder_conv(out).permute(0, 2, 3, 1).reshape(len(delta), -1)
        return psi, torch.sigmoid(z)


def make_cell(config: Config, image_shape: tuple[int, int, int]) -> nn.Module:
    if config.pixel not in ("bernoulli", "gaussian"):
        raise GroupbenchError(f"pixel takes bernoulli or gaussian; got {config.pixel!r}")
    if config.noise not in ("bitflip", "masked_uniform"):
        raise GroupbenchError(f"noise takes bitflip or masked_uniform; got {config.noise!r}")
    if config.loss_steps not in ("last", "all"):
        raise GroupbenchError(f"loss_steps takes last or all; got {config.loss_steps!r}")
    pixels = math.prod(image_shape)
    if config.network == "nem":
        if config.pixel != "bernoulli":
            raise GroupbenchError("the N-EM cell models Bernoulli pixels (pixel=bernoulli)")
        return NEMCell(pixels, config.hidden)
    if config.network == "rnn":
        return RNNCell(pixels, config.hidden)
    if config.network in ("conv-shapes", "conv-mnist"):
        channels = (32, 64) if config.network == "conv-shapes" else (32, 64, 128)
        return ConvRNNCell(image_shape, config.hidden, channels, config.standardize)
    raise GroupbenchError(f"network takes nem, rnn, conv-shapes or conv-mnist; got {config.network!r}")


# ---------------------------------------------------------------------------------------------
# The spatial mixture: noise, E-step, loss (shared by N-EM and RNN-EM)


def corrupt(x: torch.Tensor, hit: torch.Tensor, value: torch.Tensor | None = None) -> torch.Tensor:
    """x with the pixels where ``hit`` is true flipped (bitflip: ``value`` None) or replaced by ``value`` (masked_uniform)."""
    return torch.where(hit, 1 - x if value is None else value, x)


def e_step(psi: torch.Tensor, target: torch.Tensor, pixel: str, sigma: float) -> torch.Tensor:
    """Posterior gamma (B,K,P,1) of each component for each pixel: P(x|psi_k) summed over channels, + 1e-6, normalised.

    psi (B,K,P,C); target (B,1,P,C). Mixing is uniform (no pi), as in the original.
    """
    if pixel == "bernoulli":
        likelihood = target * psi + (1 - target) * (1 - psi)
    else:
        likelihood = torch.exp(-((target - psi) ** 2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))
    likelihood = likelihood.sum(-1, keepdim=True) + 1e-6
    return likelihood / likelihood.sum(1, keepdim=True)


def mixture_loss(psi: torch.Tensor, gamma: torch.Tensor, target: torch.Tensor, pixel: str, inter_weight: float) -> torch.Tensor:
    """intra + inter_weight * inter, summed over components and pixels, averaged over the batch.

    Bernoulli: intra = gamma * BCE(psi, x), inter = (1 - gamma) * KL(Bernoulli(0) || psi) = -(1 - gamma) log(1 - psi),
    psi clipped to [1e-6, 1 - 1e-6]. Gaussian (sigma 1): intra = gamma (psi - x)^2 / 2, inter = (1 - gamma) psi^2 / 2.
    """
    if pixel == "bernoulli":
        clipped = psi.clamp(1e-6, 1 - 1e-6)
        intra = -(target * torch.log(clipped) + (1 - target) * torch.log1p(-clipped))
        inter = -torch.log1p(-clipped)
    else:
        intra, inter = (psi - target) ** 2 / 2, psi**2 / 2
    return ((gamma * intra).sum() + inter_weight * ((1 - gamma) * inter).sum()) / len(psi)


class NeuralEM(nn.Module):
    """The unrolled mixture around a cell; forward(images, draws) = the training loss of a batch."""

    def __init__(self, cell: nn.Module, config: Config, image_shape: tuple[int, int, int]):
        super().__init__()
        self.cell, self.config, self.image_shape = cell, config, image_shape

    def draw(self, images: torch.Tensor, generator: torch.Generator, k: int | None = None) -> dict[str, torch.Tensor]:
        """Every random draw of one pass over ``images`` (B,H,W,C) or (B,T,H,W,C), on their device:
        ``gamma`` (B,K,P,1), gamma's start |N(0,1)| normalised over K; ``hit`` (S,B,1,P,C) bool, the
        corrupted input pixels of each of the S EM steps; ``value`` (S,B,1,P,C), their U(0,1)
        replacements (masked_uniform noise only)."""
        config, k = self.config, k or self.config.k
        height, width, colours = self.image_shape
        pixels, device = height * width, images.device
        steps = config.steps if images.ndim == 4 else images.shape[1] - 1
        gamma = torch.randn((len(images), k, pixels, 1), generator=generator, device=device).abs_()
        gamma = gamma / gamma.sum(1, keepdim=True) if k > 1 else torch.ones_like(gamma)
        shape = (steps, len(images), 1, pixels, colours)
        draws = {"gamma": gamma, "hit": torch.rand(shape, generator=generator, device=device) < config.noise_p}
        if config.noise == "masked_uniform":
            draws["value"] = torch.rand(shape, generator=generator, device=device)
        return draws

    def unroll(self, images: torch.Tensor, draws: dict[str, torch.Tensor]):
        """Yield (psi, gamma, target) after each EM step; shapes (B,K,P,C), (B,K,P,1), (B,1,P,C), float32.

        images: uint8 (B,H,W,C) still images or (B,T,H,W,C) sequences, on the model's device;
        draws: from `draw` (K is that of its gamma).
        """
        config = self.config
        height, width, colours = self.image_shape
        frames = images.float().div(255.0).reshape(len(images), -1, 1, height * width, colours)  # (B,T,1,P,C)
        batch, length = frames.shape[:2]
        gamma = draws["gamma"]
        k, steps = gamma.shape[1], len(draws["hit"])
        psi = torch.zeros((batch, k, height * width, colours), device=images.device)
        state = torch.zeros((batch * k, self.cell.hidden), device=images.device)
        for t in range(steps):
            current, target = (frames[:, 0], frames[:, 0]) if length == 1 else (frames[:, t], frames[:, t + 1])
            noisy = corrupt(current, draws["hit"][t], draws["value"][t] if "value" in draws else None)
            weights = gamma if config.gradient_gamma else gamma.detach()
            out, state = self.cell(((noisy - psi) * weights).reshape(batch * k, -1), state)
            with torch.autocast(images.device.type, enabled=False):  # float32, as the original: see the module doc
                out = out.float().reshape(batch, k, height * width, colours)
                psi = torch.sigmoid(out) if config.pixel == "bernoulli" else out
                gamma = e_step(psi, target, config.pixel, config.e_sigma)
            yield psi, gamma, target

    def forward(self, images: torch.Tensor, draws: dict[str, torch.Tensor]) -> torch.Tensor:
        config = self.config
        losses = []
        for psi, gamma, target in self.unroll(images, draws):
            with torch.autocast(images.device.type, enabled=False):
                weights = gamma if config.gradient_gamma else gamma.detach()
                losses.append(mixture_loss(psi, weights, target, config.pixel, config.inter_weight))
        return losses[-1] if config.loss_steps == "last" else torch.stack(losses).sum()

    @torch.no_grad()
    def segment(self, images: torch.Tensor, generator: torch.Generator, k: int | None = None) -> torch.Tensor:
        """The assignments gamma, (B,K,H,W) for still images: after the last step. For sequences
        (B,T,K,H,W): frame t >= 1 from the step that predicted it; frame 0, which no step predicts, from step 1."""
        height, width = self.image_shape[:2]
        gammas = [gamma[..., 0] for _, gamma, _ in self.unroll(images, self.draw(images, generator, k))]  # each (B,K,H*W)
        if images.ndim == 4:
            return gammas[-1].reshape(len(images), -1, height, width)
        return torch.stack([gammas[0], *gammas], 1).reshape(len(images), len(gammas) + 1, -1, height, width)


# ---------------------------------------------------------------------------------------------
# The interface every baseline file offers to groupbench/baselines/runs.py


def method_name(config: Config) -> str:
    return "N-EM" if config.network == "nem" else "RNN-EM"


def build_model(config: Config, image_shape: tuple[int, ...]) -> NeuralEM:
    frame = tuple(image_shape[-3:])
    return NeuralEM(make_cell(config, frame), config, frame)


def predict(model: NeuralEM, images: torch.Tensor, config: Config, generator: torch.Generator, k: int | None = None) -> torch.Tensor:
    """uint8 images (B,[T,]H,W,C) on the model's device -> assignments (B,[T,]K,H,W); argmax over K: labels."""
    return model.segment(images, generator, k)


def predict_seed(config: Config) -> int:
    return config.predict_seed


def make_task(config: Config, dataset, conventions: Conventions = CONVENTIONS) -> Task:
    """The task of a preset's data; the validation AMI scores the pixels ``conventions`` choose."""
    # Seeding: the initial weights are a function of the seed; `fit` derives every later draw from it.
    seed_everything(config.seed, config.deterministic)
    return scored_task(config, dataset, build_model, predict, conventions, ("ami",))
