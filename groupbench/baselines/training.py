"""Shared training machinery of the learned baselines (RC, N-EM, RNN-EM, IODINE, Slot Attention).

An algorithm file builds a `Task` (a model whose ``draw`` makes every random draw of a step and
whose forward returns the training loss of a batch from them, plus its training and validation
images) and hands it to `fit`, which does the rest:

- device choice (``auto``: CUDA when present, else CPU) and mixed precision on CUDA (bfloat16
  where the GPU supports it, else float16 with a gradient scaler); CPU runs stay in float32;
- several processes started by ``torchrun`` (DDP): ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` are
  read from the environment; ``batch_size`` is the global batch, split over the processes, so a
  configuration means the same thing on 1 or 8 GPUs; gloo on CPU, NCCL on CUDA;
- seeding: the seed fixes the initial weights, and every random draw of training comes from a
  generator derived from (seed, purpose, epoch, rank), so a run is a function of its config;
- the training step (`TrainingStep`): the draws made eagerly, then forward and backward,
  compiled with ``compile`` (``torch.compile``; on CUDA the mode that replays CUDA graphs), fused
  Adam on CUDA, gradient clipping, an optional linear warm-up and exponential learning-rate decay;
- the epoch loop: shuffled batches (the incomplete last batch is dropped), validation loss after
  every epoch, early stopping once it has not improved for ``patience`` epochs (the papers'
  rule), the best weights kept in ``best.pt``; budgets of steps (``max_steps``) and of wall time
  (``max_time_s``) that stop mid-epoch, validate and checkpoint;
- checkpoints every ``checkpoint_every`` steps and at every epoch end (``checkpoint.pt``: model,
  optimiser, gradient scaler, position in the epoch, generator states); `fit` on a folder that
  holds one resumes from it and ends exactly where an uninterrupted run would;
- logs: ``metrics.csv`` (and TensorBoard event files when the ``tensorboard`` package is
  installed), a tqdm progress bar on a terminal, ``summary.json`` at the end. Epochs are numbered
  from 1 everywhere a user reads one: messages, metrics.csv's ``epoch`` column, summary.json's
  ``epoch`` (the one training stopped in) and ``best_epoch`` (that of best.pt's weights), best.pt;
  summary.json's ``epochs`` counts the epochs completed.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import platform
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch
from torch import nn

from groupbench.data import SplitReader
from groupbench.errors import GroupbenchError
from groupbench.writer import atomic_output

if TYPE_CHECKING:
    from groupbench.scoring import Conventions


def option(default: Any, doc: str) -> Any:
    """A configuration field with a one-line doc (shown by ``groupbench presets -v``)."""
    return dataclasses.field(default=default, metadata={"doc": doc})


@dataclass
class TrainConfig:
    """Fields every learned baseline shares; algorithm configs extend it."""

    seed: int = option(0, "seed of the initial weights and of every random draw in training")
    device: str = option("auto", "auto (CUDA when available, else CPU), cpu, cuda or cuda:N")
    amp: bool = option(True, "mixed precision on CUDA (bfloat16 where supported, else float16); CPU runs in float32")
    threads: int = option(0, "CPU threads for torch (0: torch's default)")
    deterministic: bool = option(True, "deterministic cuDNN kernels (reproducible, a little slower); off: cuDNN autotuning")
    compile: bool = option(False, "torch.compile the training step (on CUDA with CUDA graphs, mode reduce-overhead); validation and prediction stay eager")
    optimizer: str = option("adam", "adam (beta2 and eps: torch defaults) or sgd (plain, no momentum)")
    lr: float = option(1e-3, "learning rate")
    lr_decay_steps: float = option(0, "learning rate times lr_decay_base^(step / N) (0: constant)")
    lr_decay_base: float = option(0.1, "base of the exponential learning-rate decay")
    lr_warmup_steps: int = option(0, "learning rate raised linearly from 0 over the first N steps (0: no warm-up)")
    adam_beta1: float = option(0.9, "Adam beta1")
    clip_norm: float = option(0.0, "clip the global gradient norm to this value after each backward pass (0: off)")
    batch_size: int = option(64, "images (or sequences) per step, over all processes together")
    max_epochs: int = option(500, "epochs at most")
    patience: int = option(10, "stop when the validation loss has not improved for this many epochs")
    max_steps: int = option(0, "stop after this many optimiser steps (0: no limit); for smoke tests and budgets")
    max_time_s: float = option(0.0, "stop after this many seconds of training wall time, compilation included (0: no limit)")
    train_size: int = option(0, "use only the first N training images (0: all)")
    valid_size: int = option(0, "use only the first N validation images (0: all)")
    checkpoint_every: int = option(500, "steps between checkpoints (and one at every epoch end)")
    log_every: int = option(50, "steps between training-loss rows in metrics.csv")
    validate_every: int = option(0, "also validate every N steps within an epoch, for the learning curve only (0: epoch ends only)")


MINIMUM = {"seed": 0, "threads": 0, "lr_decay_steps": 0, "lr_warmup_steps": 0, "clip_norm": 0, "batch_size": 1, "max_epochs": 1,
           "patience": 1, "max_steps": 0, "max_time_s": 0, "train_size": 0, "valid_size": 0, "checkpoint_every": 1, "log_every": 1,
           "validate_every": 0, "k": 1, "iterations": 1, "steps": 1, "metric_images": 0, "predict_seed": 0}
"""The smallest value each numeric configuration field takes (algorithm fields included where named alike)."""


def check_config(config: Any) -> Any:
    """``config`` itself, or one `GroupbenchError` line naming the first field out of range (a
    negative step budget, K of 0, a negative seed) before any work: such values used to run 0 steps
    and exit 0, or end in a traceback."""
    for name, low in MINIMUM.items():
        value = getattr(config, name, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not value >= low:
            raise GroupbenchError(f"{name} must be at least {low}; got {value}")
    if not config.lr > 0:
        raise GroupbenchError(f"lr must be positive; got {config.lr}")
    return config


RESUMABLE = {"device", "amp", "threads", "compile", "max_epochs", "max_steps", "max_time_s", "patience", "checkpoint_every",
             "log_every", "validate_every"}
"""Fields a resumed run may change (how long and where it runs, not what it computes)."""

_ORDER, _NOISE, _VALID = 1, 2, 3


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from non-negative integers (seed, purpose, epoch, rank): independent streams."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """The explicit seeding block: Python, numpy and torch (all devices); deterministic cuDNN."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic


def read_images(path: str | Path, split: str) -> torch.Tensor:
    """A split's uint8 images (N,[T,]H,W,C) as a CPU tensor (the sets are small enough to hold)."""
    with SplitReader(path, split) as reader:
        return torch.from_numpy(reader.group["images"][:])


def generator(device: torch.device, seed: int) -> torch.Generator:
    """A torch generator on ``device`` seeded with ``seed``."""
    return torch.Generator(device=device).manual_seed(seed)


def predicted_labels(predict: Callable[..., torch.Tensor], model: nn.Module, images: torch.Tensor, config: Any,
                     seed: int | None = None) -> np.ndarray:
    """Hard labels (N,[T,]H,W) of uint8 ``images`` from a baseline's ``predict`` (soft assignments,
    argmax over K): batches of ``config.batch_size``, eval mode, noise seeded by ``seed`` (default
    ``config.predict_seed``)."""
    device = next(model.parameters()).device
    noise = generator(device, config.predict_seed if seed is None else seed)
    was_training = model.training
    model.eval()
    try:
        return np.concatenate([
            predict(model, images[i : i + config.batch_size].to(device), config, noise).argmax(-3).cpu().numpy()
            for i in range(0, len(images), config.batch_size)
        ])
    finally:
        model.train(was_training)


def scoring_targets(dataset: str | Path, split: str, count: int, conventions: Conventions):
    """(uint8 images (n,[T,]H,W,C) tensor, int64 labels (n,[T,]H,W), overlap, the pixels ``conventions``
    score) of the first ``count`` images of a split (validation scores, a run's decomposition figure)."""
    from groupbench.metrics import valid_mask

    with SplitReader(dataset, split) as reader:
        count = min(count, len(reader))
        images = torch.from_numpy(reader.group["images"][:count])
        labels, overlap = reader.group["labels"][:count].astype(np.int64), reader.group["overlap"][:count]
    scored = valid_mask(labels, overlap, include_background=conventions.include_background,
                        include_overlap=conventions.include_overlap)
    return images, labels, overlap, scored


VALIDATION_METRICS = ("ari", "ami", "mbo")
"""What a baseline may log on its validation images (``valid_<name>`` in metrics.csv)."""


def validation_metrics(config: Any, dataset: str | Path, predict: Callable[..., torch.Tensor], conventions: Conventions,
                       metrics: tuple[str, ...], seed_field: str = "predict_seed"):
    """(``valid_metrics(model)`` for a `Task`, its names) scoring ``predict``'s segmentations of the
    first ``config.metric_images`` images of ``dataset``'s valid split, each metric the mean over
    images of the pixels ``conventions`` score, with its AMI normaliser and degenerate policy;
    sequences per frame (over frames 1..T-1 when the conventions select ``skip-first``, as N-EM).
    The predictions' noise is seeded by ``config.<seed_field>``. (None, ()) without metric images
    or a valid split."""
    from groupbench.format import open_file, split_names
    from groupbench.metrics import adjusted_mutual_info, adjusted_rand_index, mean_best_overlap

    unknown = set(metrics) - set(VALIDATION_METRICS)
    if unknown:
        raise GroupbenchError(f"validation metrics are {', '.join(VALIDATION_METRICS)}; got {', '.join(sorted(unknown))}")
    if not config.metric_images:
        return None, ()
    with open_file(dataset) as handle:
        if "valid" not in split_names(handle):
            return None, ()
    images, labels, _, scored = scoring_targets(dataset, "valid", config.metric_images, conventions)
    sequence = labels.ndim == 4
    options = dict(sequence_mode="per-frame" if sequence else None,
                   frames="skip-first" if sequence and "skip-first" in conventions.frames else "all")
    shape = (lambda a: a.reshape(*a.shape[:2], -1)) if sequence else (lambda a: a.reshape(len(a), -1))
    true, valid = shape(labels), shape(scored)
    score = {
        "ari": lambda pred: adjusted_rand_index(true, pred, valid, degenerate=conventions.degenerate, **options),
        "ami": lambda pred: adjusted_mutual_info(true, pred, valid, average_method=conventions.average_method,
                                                 degenerate=conventions.degenerate, **options),
        "mbo": lambda pred: mean_best_overlap(true, pred, valid, **options),
    }

    def valid_metrics(model: nn.Module) -> dict[str, float]:
        predicted = shape(predicted_labels(predict, model, images, config, getattr(config, seed_field)))
        return {f"valid_{name}": float(np.nanmean(score[name](predicted))) for name in metrics}

    return valid_metrics, tuple(f"valid_{name}" for name in metrics)


def scored_task(config: Any, dataset: str | Path, build_model: Callable[..., nn.Module], predict: Callable[..., torch.Tensor],
                conventions: Conventions, metrics: tuple[str, ...]) -> Task:
    """The Task of a model trained on ``dataset``'s train split and validated on its valid split, with
    the `validation_metrics` ``metrics`` of ``predict`` logged after every epoch (``metric_images``)."""
    train, valid = read_images(dataset, "train"), read_images(dataset, "valid")
    model = build_model(config, tuple(train.shape[1:]))
    scores, names = validation_metrics(config, dataset, predict, conventions, metrics)
    return Task(model, train, valid, scores, names, bool(getattr(config, "channels_last", False)))


# ---------------------------------------------------------------------------------------------
# Devices, processes, precision


@dataclass(frozen=True)
class Processes:
    """This process's place among the ``torchrun`` processes (one process when not under torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> "Processes":
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0)))

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA (this process's GPU under torchrun) when available, else CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise GroupbenchError(f"--device {name}: no CUDA device is available here; use --device cpu or auto")
        return torch.device(name if ":" in name else f"cuda:{local_rank}")
    if name != "cpu":
        raise GroupbenchError(f"--device takes auto, cpu, cuda or cuda:N; got {name!r}")
    return torch.device("cpu")


def describe_device(device: torch.device, world_size: int = 1) -> str:
    """E.g. ``cpu (1 thread of a 2-core AMD EPYC)`` or ``2 x cuda (NVIDIA H100 80GB HBM3)``."""
    if device.type == "cuda":
        name = f"cuda ({torch.cuda.get_device_name(device)})"
    else:
        model = platform.processor() or platform.machine()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        threads = torch.get_num_threads()
        name = f"cpu ({threads} thread{'s' if threads > 1 else ''} of a {os.cpu_count()}-core {model})"
    return f"{world_size} x {name}" if world_size > 1 else name


class Precision:
    """Autocast and loss scaling: on CUDA with ``amp``, bfloat16 if supported, else float16 + GradScaler."""

    def __init__(self, device: torch.device, amp: bool):
        self.device = device
        self.enabled = amp and device.type == "cuda"
        self.dtype = torch.bfloat16 if self.enabled and torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.enabled and self.dtype == torch.float16)

    @property
    def name(self) -> str:
        return str(self.dtype).replace("torch.", "") if self.enabled else "float32"

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=self.enabled)

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, clip_norm: float = 0.0) -> None:
        """Backward, optional global gradient-norm clipping (on unscaled gradients), optimiser step; the
        gradients are released after the step (before the next forward, which CUDA graphs need)."""
        self.scaler.scale(loss).backward()
        if clip_norm:
            self.scaler.unscale_(optimizer)
            parameters = [p for group in optimizer.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(parameters, clip_norm)
        self.scaler.step(optimizer)
        self.scaler.update()
        optimizer.zero_grad(set_to_none=True)


def make_optimizer(config: TrainConfig, parameters, device: torch.device | None = None) -> torch.optim.Optimizer:
    """Adam (fused into a few kernels on CUDA) or plain SGD, as ``config`` says."""
    if config.optimizer == "adam":
        fused = device is not None and device.type == "cuda"
        return torch.optim.Adam(parameters, lr=config.lr, betas=(config.adam_beta1, 0.999), fused=fused or None)
    if config.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=config.lr)
    raise GroupbenchError(f"optimizer takes adam or sgd; got {config.optimizer!r}")


def learning_rate(config: TrainConfig, step: int) -> float:
    """The learning rate of optimiser step ``step`` (0-based): ``lr`` x min(1, step / lr_warmup_steps)
    x lr_decay_base^(step / lr_decay_steps), each factor 1 when its field is 0 (the decay runs during
    the warm-up too, as Slot Attention's code)."""
    rate = config.lr
    if config.lr_warmup_steps:
        rate *= min(1.0, step / config.lr_warmup_steps)
    if config.lr_decay_steps:
        rate *= config.lr_decay_base ** (step / config.lr_decay_steps)
    return rate


def compiled(module: nn.Module, device: torch.device) -> Callable[..., torch.Tensor]:
    """``torch.compile`` of a loss module: on CUDA mode ``reduce-overhead`` (forward and backward
    replayed as CUDA graphs), elsewhere the default mode; static shapes."""
    return torch.compile(module, mode="reduce-overhead" if device.type == "cuda" else None, dynamic=False)


# ---------------------------------------------------------------------------------------------
# The task an algorithm hands to `fit`


@dataclass
class Task:
    """What `fit` trains.

    ``model.draw(images, generator)`` makes every random draw of one step up front, on the images'
    device, and returns them as a dict of tensors; ``model(images, draws)`` returns the mean
    training loss of a batch of uint8 images (n,[T,]H,W,C) already on the device, with no random
    draw, no host synchronisation and shapes fixed by the batch's, so the step can be compiled and
    captured as a CUDA graph. ``valid_metrics(model)``, if given, returns the numbers named in
    ``metric_names``, logged after each epoch (e.g. AMI on a few validation images); it runs on the
    main process only. ``channels_last``: on CUDA, the model's convolutions use that memory format.
    """

    model: nn.Module
    train_images: torch.Tensor
    valid_images: torch.Tensor
    valid_metrics: Callable[[nn.Module], dict[str, float]] | None = None
    metric_names: tuple[str, ...] = ()
    channels_last: bool = False


class TrainingStep:
    """One optimiser step as `fit` takes it: the draws (eager), forward and backward (compiled when
    ``config.compile``), gradient clipping, the update at the step's learning rate.

    ``model`` offers ``draw``; ``trained`` computes the loss (the model, or its DDP wrapper).
    """

    def __init__(self, model: nn.Module, trained: nn.Module, optimizer: torch.optim.Optimizer, precision: Precision,
                 config: TrainConfig, device: torch.device):
        self.model, self.optimizer, self.precision, self.config = model, optimizer, precision, config
        self.loss = compiled(trained, device) if config.compile else trained
        self.graphs = bool(config.compile) and device.type == "cuda"

    def __call__(self, images: torch.Tensor, noise: torch.Generator, step: int) -> torch.Tensor:
        """Train on ``images`` with draws from ``noise``; returns the loss (float64, detached, a copy)."""
        draws = self.model.draw(images, noise)
        if self.config.lr_decay_steps or self.config.lr_warmup_steps:
            for group in self.optimizer.param_groups:
                group["lr"] = learning_rate(self.config, step)
        if self.graphs:  # a new iteration: the graphs' previous outputs are no longer read
            torch.compiler.cudagraph_mark_step_begin()
        with self.precision.autocast():
            loss = self.loss(images, draws)
        value = loss.detach().double()
        self.precision.step(loss, self.optimizer, self.config.clip_norm)
        return value


@dataclass
class State:
    """Where training stands; saved in every checkpoint."""

    epoch: int = 0  # epochs completed (0-based index of the current one); files and messages say epoch + 1
    batch: int = 0  # batches of the current epoch already done
    step: int = 0
    best_loss: float = math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    wall_time_s: float = 0.0
    images_seen: int = 0
    running_loss: float = 0.0  # training loss summed since the last logged row, and over how many steps
    running_steps: int = 0
    stopped: str = ""


CSV_FIELDS = ["epoch", "step", "images_seen", "wall_time_s", "lr", "train_loss", "valid_loss", "images_per_s"]


class Logger:
    """metrics.csv (always) and TensorBoard (when installed); main process only."""

    def __init__(self, run: Path, extra_fields: list[str], resume_step: int | None, enabled: bool,
                 validated_at_resume: bool = True):
        """``resume_step``: the step of the checkpoint a resumed run starts from (None: a new run);
        ``validated_at_resume``: whether the validation of that step, if any, is in the checkpoint
        (else it is done again, and its row dropped)."""
        self.enabled = enabled
        self.path = run / "metrics.csv"
        self.fields = CSV_FIELDS + extra_fields
        self.tensorboard = None
        if not enabled:
            return
        rows = []
        if resume_step is not None and self.path.exists():  # drop what was logged after the checkpoint
            with open(self.path, newline="") as handle:
                rows = [r for r in csv.DictReader(handle) if int(r["step"]) < resume_step
                        or (int(r["step"]) == resume_step and (validated_at_resume or not r["valid_loss"]))]
        with open(self.path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, self.fields, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard = SummaryWriter(str(run / "tensorboard"), purge_step=None if resume_step is None else resume_step + 1)
        except ImportError:  # tensorboard is optional
            self.tensorboard = None

    def log(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", newline="") as handle:
            csv.DictWriter(handle, self.fields, extrasaction="ignore").writerow(
                {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
            )
        if self.tensorboard is not None:
            for key, value in row.items():
                if key not in ("epoch", "step") and isinstance(value, (int, float)) and value == value:
                    self.tensorboard.add_scalar(key, value, row["step"])

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def read_metrics(run: str | Path) -> list[dict[str, float]]:
    """The rows of RUN/metrics.csv as floats (missing values: NaN)."""
    path = Path(run) / "metrics.csv"
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            rows = [{k: float(v) if v not in ("", None) else math.nan for k, v in row.items()} for row in reader]
            fields = reader.fieldnames or []
    except FileNotFoundError:
        raise GroupbenchError(f"{run}: no metrics.csv (not a training run, or a curriculum: give its stage folders)") from None
    except (OSError, ValueError, TypeError, csv.Error) as exc:
        raise GroupbenchError(f"{path}: not a metrics file a run writes ({exc})") from None
    missing = [name for name in ("step", "images_seen") if name not in fields]
    if missing:
        raise GroupbenchError(f"{path}: not a metrics file a run writes (no {missing[0]!r} column)")
    return rows


# ---------------------------------------------------------------------------------------------
# The loop


def _all_reduce(values: list[float], device: torch.device, processes: Processes) -> list[float]:
    if not processes.distributed:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    torch.distributed.all_reduce(tensor)
    return tensor.tolist()


def validation_loss(model: nn.Module, images: torch.Tensor, config: TrainConfig, device: torch.device,
                    precision: Precision, processes: Processes, epoch: int) -> float:
    """Mean loss over the validation images. Noise is drawn afresh for every epoch, as the original
    RC and N-EM code did (which makes early stopping insensitive to improvements below the noise),
    from a generator derived from (seed, epoch), so a resumed run validates as an uninterrupted one."""
    model.eval()
    noise = generator(device, derive_seed(config.seed, _VALID, epoch, processes.rank))
    total, count = 0.0, 0
    with torch.no_grad(), precision.autocast():
        starts = range(processes.rank * config.batch_size, len(images), processes.world_size * config.batch_size)
        for start in starts:
            batch = images[start : start + config.batch_size].to(device, non_blocking=True)
            total += float(model(batch, model.draw(batch, noise))) * len(batch)
            count += len(batch)
    model.train()
    total, count = _all_reduce([total, float(count)], device, processes)
    return total / count


def _save(path: Path, payload: dict[str, Any]) -> None:
    """Write a checkpoint atomically. Serialised in memory first: torch.save onto a full disk raises
    a RuntimeError of its own, where a plain write raises the OSError `atomic_output` reports in one line."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_output(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())


def load_config_file(run: str | Path) -> dict[str, Any]:
    """RUN/config.json (what `runs.train` records); a missing or damaged one is refused in one line."""
    path = Path(run) / "config.json"
    if not path.is_file():
        raise GroupbenchError(f"{run}: not a training run (no config.json); 'groupbench train' writes one")
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GroupbenchError(f"{path} is damaged ({exc}); train into a new folder, or restore the file") from None
    if not isinstance(record, dict) or not {"preset", "algorithm", "config", "image_shape"} <= set(record) or not isinstance(record["config"], dict):
        raise GroupbenchError(f"{path} is not a run's configuration (it lacks preset, algorithm, config or image_shape); "
                              "train into a new folder, or restore the file")
    return record


def load_checkpoint(path: str | Path, weights_only: bool = True) -> dict[str, Any]:
    """A checkpoint or weights file written by `fit` (``torch.load`` on the CPU; ``weights_only``:
    tensors and plain containers only, as best.pt holds); a truncated or foreign file is refused in one line."""
    import pickle
    import zipfile

    try:
        payload = torch.load(path, map_location="cpu", weights_only=weights_only)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GroupbenchError(f"{path} cannot be read (damaged or truncated: {reason}); train again, or restore the file") from None
    if not isinstance(payload, dict) or "model" not in payload:
        raise GroupbenchError(f"{path} is not a groupbench checkpoint (no model weights in it); train again, or restore the file")
    return payload


def fit(
    task: Task,
    config: TrainConfig,
    run: str | Path,
    *,
    progress: bool | None = None,
    callback: Callable[[State], None] | None = None,
) -> dict[str, Any]:
    """Train ``task`` in folder ``run`` (resuming from ``run/checkpoint.pt`` if present); returns the summary.

    ``callback(state)`` runs after every step (and after any checkpoint of that step).
    """
    processes = Processes.from_env()
    device = resolve_device(config.device, processes.local_rank)
    if processes.distributed and not torch.distributed.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        return _fit(task, config, Path(run), processes, device, progress, callback)
    finally:
        torch.set_num_threads(threads)


def _fit(task: Task, config: TrainConfig, run: Path, processes: Processes, device: torch.device,
         progress: bool | None, callback: Callable[[State], None] | None) -> dict[str, Any]:
    if config.batch_size < processes.world_size:
        raise GroupbenchError(f"batch_size {config.batch_size} is smaller than the {processes.world_size} processes")
    precision = Precision(device, config.amp)
    model = task.model.to(device)
    if task.channels_last and device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    trained = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) \
        if processes.distributed else model
    optimizer = make_optimizer(config, model.parameters(), device)
    step = TrainingStep(model, trained, optimizer, precision, config, device)
    state = State()
    noise_state = None
    checkpoint = run / "checkpoint.pt"
    resumed = checkpoint.exists()
    if resumed:
        saved = load_checkpoint(checkpoint, weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        precision.scaler.load_state_dict(saved["scaler"])
        state = State(**{**saved["state"], "stopped": ""})
        if saved["world_size"] == processes.world_size:
            noise_state = saved["noise_states"][processes.rank]
    if processes.main:
        run.mkdir(parents=True, exist_ok=True)

    train_images = task.train_images[: config.train_size or None]
    valid_images = task.valid_images[: config.valid_size or None]
    if device.type == "cuda":  # small uint8 sets: keep them on the GPU, no loader in the way
        train_images, valid_images = train_images.to(device), valid_images.to(device)
    n = len(train_images)
    batch = min(config.batch_size, n)
    if n == 0 or len(valid_images) == 0:
        raise GroupbenchError(f"nothing to train on: {n} training and {len(valid_images)} validation images")
    steps_per_epoch = n // batch
    # a checkpoint taken at the last step of an epoch precedes that epoch's validation, which runs again
    logger = Logger(run, list(task.metric_names), state.step if resumed else None, processes.main,
                    validated_at_resume=state.batch != steps_per_epoch)
    local = torch.arange(batch).tensor_split(processes.world_size)[processes.rank].to(train_images.device)
    bar = None
    show = processes.main and (progress if progress is not None else os.isatty(2))
    log = None  # off a terminal: plain progress lines (steps, rate, ETA to the step or epoch budget) and validations
    if processes.main and not show and progress is None:
        from groupbench.progress import progress_bar

        budget = config.max_steps if config.max_steps else config.max_epochs * steps_per_epoch
        log = progress_bar(max(budget - state.step, 0), f"train {run.name}", unit="step", show=True)
    started = time.perf_counter() - state.wall_time_s
    window = (time.perf_counter(), state.images_seen)
    running = torch.full((), state.running_loss, device=device, dtype=torch.float64)  # summed without a sync per step

    def out_of_time(agreed: bool) -> bool:
        """Whether ``max_time_s`` is spent. Several processes decide together, and only at ``agreed``
        points that every one of them reaches (epoch starts and logging steps), where they sync anyway."""
        if not config.max_time_s:
            return False
        spent = time.perf_counter() - started >= config.max_time_s
        if not processes.distributed:
            return spent
        return agreed and _all_reduce([float(spent)], device, processes)[0] > 0

    def save_checkpoint() -> None:
        states = [noise.get_state()]
        if processes.distributed:
            gathered: list[Any] = [None] * processes.world_size
            torch.distributed.all_gather_object(gathered, states[0].cpu())
            states = gathered
        state.running_loss = float(running)
        if processes.main:
            state.wall_time_s = time.perf_counter() - started
            _save(checkpoint, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": precision.scaler.state_dict(),
                "state": dataclasses.asdict(state), "noise_states": [s.cpu() for s in states],
                "world_size": processes.world_size, "config": dataclasses.asdict(config),
            })

    def end_of_training_pass(epoch_done: bool, interim: bool = False) -> None:
        """Validate and log; unless ``interim`` (a `validate_every` point), also keep the best weights
        and count the epoch for early stopping."""
        loss = validation_loss(model, valid_images, config, device, precision, processes, state.epoch)
        state.wall_time_s = time.perf_counter() - started
        improved = not interim and loss < state.best_loss
        if improved:
            state.best_loss, state.best_epoch, state.bad_epochs = loss, state.epoch, 0
            if processes.main:
                _save(run / "best.pt", {"model": model.state_dict(), "epoch": state.epoch + 1, "step": state.step, "valid_loss": loss})
        elif epoch_done and not interim:
            state.bad_epochs += 1
        extra = task.valid_metrics(model) if (task.valid_metrics and processes.main) else {}
        logger.log({"epoch": state.epoch + 1, "step": state.step, "images_seen": state.images_seen,
                    "wall_time_s": state.wall_time_s, "lr": learning_rate(config, state.step), "valid_loss": loss, **extra})
        if show or log is not None:
            from tqdm.auto import tqdm

            shown = ", ".join(f"{k} {v:.4g}" for k, v in extra.items())
            (log.write if log is not None else tqdm.write)(
                f"epoch {state.epoch + 1} step {state.step}: valid loss {loss:.5g}{' (best)' if improved else ''}"
                f"{', ' + shown if shown else ''} [{state.wall_time_s:.0f} s]")

    while not state.stopped:
        if state.epoch >= config.max_epochs:
            state.stopped = "max_epochs"
        elif state.bad_epochs >= config.patience:
            state.stopped = "early_stopping"
        elif config.max_steps and state.step >= config.max_steps:
            state.stopped = "max_steps"
        elif out_of_time(agreed=True):
            state.stopped = "max_time"
        if state.stopped:
            break
        order = torch.randperm(n, generator=generator(torch.device("cpu"), derive_seed(config.seed, _ORDER, state.epoch)))
        order = order.to(train_images.device)  # indexed on the device: no copy from the host per step
        noise = generator(device, derive_seed(config.seed, _NOISE, state.epoch, processes.rank))
        if noise_state is not None and state.batch > 0:
            noise.set_state(noise_state)
        noise_state = None
        if show:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps_per_epoch, initial=state.batch, desc=f"epoch {state.epoch + 1}", unit="step",
                       dynamic_ncols=True, leave=False)
        for index in range(state.batch, steps_per_epoch):
            images = train_images[order[index * batch : (index + 1) * batch][local]].to(device, non_blocking=True)
            running += step(images, noise, state.step)
            state.step, state.batch = state.step + 1, index + 1
            state.images_seen += batch
            state.running_steps += 1
            logging = state.step % config.log_every == 0 or state.batch == steps_per_epoch
            if logging:
                now = time.perf_counter()
                mean = _all_reduce([float(running) / state.running_steps], device, processes)[0] / processes.world_size
                rate = (state.images_seen - window[1]) / max(now - window[0], 1e-9)
                window = (now, state.images_seen)
                running.zero_()
                state.running_steps = 0
                logger.log({"epoch": state.epoch + 1, "step": state.step, "images_seen": state.images_seen,
                            "wall_time_s": now - started, "lr": learning_rate(config, state.step - 1), "train_loss": mean,
                            "images_per_s": rate})
                if bar is not None:
                    bar.set_postfix_str(f"loss {mean:.4g}, {rate:,.0f} img/s")
            if bar is not None:
                bar.update()
            if log is not None:
                log.update()
            if config.max_steps and state.step >= config.max_steps:
                state.stopped = "max_steps"
            elif out_of_time(agreed=logging):
                state.stopped = "max_time"
            if (config.validate_every and state.step % config.validate_every == 0 and state.batch < steps_per_epoch
                    and not state.stopped):  # before the checkpoint, which then holds it
                end_of_training_pass(epoch_done=False, interim=True)
            if state.step % config.checkpoint_every == 0:
                save_checkpoint()
            if callback is not None:
                callback(state)
            if state.stopped:
                break
        if bar is not None:
            bar.close()
        if state.stopped and state.batch < steps_per_epoch:  # a budget ran out mid-epoch: validate what there is
            end_of_training_pass(epoch_done=False)
            save_checkpoint()
            break
        end_of_training_pass(epoch_done=True)
        state.epoch, state.batch = state.epoch + 1, 0
        save_checkpoint()
    logger.close()
    if log is not None:
        log.close()
    state.wall_time_s = time.perf_counter() - started
    summary = {
        "stopped": state.stopped,
        "epochs": state.epoch,  # epochs completed
        "epoch": state.epoch + (1 if state.batch else 0),  # the epoch training stopped in (0: none begun)
        "steps": state.step,
        "images_seen": state.images_seen,
        "best_epoch": state.best_epoch + 1 if state.best_epoch >= 0 else None,  # the epoch of best.pt's weights
        "best_valid_loss": state.best_loss,
        "wall_time_s": round(state.wall_time_s, 2),
        "max_time_s": config.max_time_s,
        "compiled": bool(config.compile),
        "images_per_s": round(state.images_seen / state.wall_time_s, 1) if state.wall_time_s else None,
        "device": describe_device(device, processes.world_size),
        "precision": precision.name,
        "world_size": processes.world_size,
        "train_images": n,
        "valid_images": len(valid_images),
        "seed": config.seed,
        "torch": torch.__version__,
    }
    if processes.main:
        with atomic_output(run / "summary.json") as tmp:
            tmp.write_text(json.dumps(summary, indent=2) + "\n")
    return summary
