"""Figures of a training run: learning curves (every baseline) and IODINE's decomposition.

`groupbench train` writes ``RUN/training.png`` when a run ends, and ``RUN/decomposition.png`` for
algorithms that decompose images into slots; `groupbench curves` draws several runs in one figure.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from groupbench.baselines.training import read_metrics
from groupbench.preview import colorize
from groupbench.writer import atomic_output

METRIC_NAMES = {"valid_ami": "validation AMI (max)", "valid_ari": "validation FG-ARI"}
"""Validation metrics an algorithm may log per epoch, and their axis labels."""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, out: str | Path) -> Path:
    out = Path(out)
    with atomic_output(out) as tmp:
        figure.savefig(tmp, dpi=110, format="png")
    _pyplot().close(figure)
    return out


def _finite(rows: list[dict[str, float]], column: str) -> list[tuple[float, float]]:
    return [(r["images_seen"], r[column]) for r in rows if not math.isnan(r.get(column, math.nan))]


def _record(folder: Path) -> dict | None:
    """The config.json of a run folder, or of the run a curriculum stage's folder belongs to (None if neither)."""
    for candidate in (folder, folder.parent):
        try:
            return json.loads((candidate / "config.json").read_text())
        except (OSError, ValueError):
            continue
    return None


def data_unit(folders) -> str:
    """``image`` when the runs trained on still images, ``sequence`` on sequences (their config.json's
    image_shape: (H,W,C) or (T,H,W,C)); ``image or sequence`` when unknown or mixed."""
    units = set()
    for folder in folders:
        record = _record(Path(folder))
        shape = (record or {}).get("image_shape")
        units.add({3: "image", 4: "sequence"}.get(len(shape)) if isinstance(shape, list) else None)
    return units.pop() if len(units) == 1 and None not in units else "image or sequence"


def best_row(folder: str | Path, rows: list[dict[str, float]]) -> dict[str, float] | None:
    """The metrics.csv row of the validation whose weights best.pt keeps: summary.json's best_epoch and
    best_valid_loss (that epoch's validation with that loss; interim validations share the epoch).
    None before summary.json is written (a run still training) or when no validation is logged."""
    try:
        summary = json.loads((Path(folder) / "summary.json").read_text())
        epoch, loss = summary["best_epoch"], float(summary["best_valid_loss"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    candidates = [r for r in rows if r.get("epoch") == epoch and not math.isnan(r.get("valid_loss", math.nan))]
    return min(candidates, key=lambda r: abs(r["valid_loss"] - loss)) if epoch is not None and candidates else None


def plot_learning_curves(runs: dict[str, str | Path], out: str | Path, title: str = "", unit: str | None = None) -> Path:
    """A PNG of training and validation loss over images seen (and of the validation metric an
    algorithm logs, AMI or FG-ARI, in a second panel), one colour per run; a star and a dotted line
    mark the validation whose weights each run's best.pt keeps.

    ``runs`` maps a label to a run folder (or a curriculum stage's folder) holding metrics.csv;
    ``unit``: ``image`` or ``sequence`` (default: from the runs' config.json).
    """
    import matplotlib.ticker

    plt = _pyplot()
    unit = unit or data_unit(runs.values())
    units = "images or sequences" if unit == "image or sequence" else f"{unit}s"
    rows = {label: read_metrics(folder) for label, folder in runs.items()}
    metrics = [m for m in METRIC_NAMES if any(_finite(rs, m) for rs in rows.values())]
    figure, axes = plt.subplots(1, 1 + len(metrics), figsize=(5.5 + 4.5 * len(metrics), 3.8), squeeze=False, sharex=True)
    for index, (label, rs) in enumerate(rows.items()):
        colour = f"C{index}"
        if train := _finite(rs, "train_loss"):
            axes[0, 0].plot(*zip(*train), color=colour, alpha=0.45, lw=1, label=f"{label}: training")
        if valid := _finite(rs, "valid_loss"):
            axes[0, 0].plot(*zip(*valid), "o-", color=colour, ms=3, lw=1.5, label=f"{label}: validation")
        for axis, metric in zip(axes[0, 1:], metrics):
            if points := _finite(rs, metric):
                axis.plot(*zip(*points), "o-", color=colour, ms=3, lw=1.5, label=label)
        best = best_row(runs[label], rs)
        if best is not None:
            x = best["images_seen"]
            for axis in axes[0]:
                axis.axvline(x, color=colour, ls=":", lw=1.2, alpha=0.8)
            axes[0, 0].plot([x], [best["valid_loss"]], "*", color=colour, ms=13, mec="black", mew=0.8, zorder=5,
                            label=f"{label}: best.pt, epoch {best['epoch']:g} (lowest validation loss, {best['valid_loss']:.4g})")
            for axis, metric in zip(axes[0, 1:], metrics):
                if not math.isnan(best.get(metric, math.nan)):
                    axis.plot([x], [best[metric]], "*", color=colour, ms=13, mec="black", mew=0.8, zorder=5,
                              label=f"{label}: at best.pt's epoch {best['epoch']:g}: {best[metric]:.3f}")
    short = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1e6:g}M" if v >= 1e6 else f"{v / 1e3:g}k" if v >= 1e3 else f"{v:g}")
    for axis in axes[0]:
        axis.xaxis.set_major_formatter(short)
        axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(6))
        axis.set_xlabel(f"training {units} seen")
    losses = [v for rs in rows.values() for column in ("train_loss", "valid_loss") for _, v in _finite(rs, column)]
    # a log scale unless a loss is <= 0 (IODINE's Gaussian NLL with a small sigma goes negative)
    axes[0, 0].set(ylabel=f"loss per {unit}", yscale="log" if all(v > 0 for v in losses) else "symlog")
    for axis, metric in zip(axes[0, 1:], metrics):
        axis.set(ylabel=METRIC_NAMES[metric], ylim=(0, 1))
    for axis in axes[0]:
        axis.legend(fontsize=7)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return _save(figure, out)


def plot_decomposition(images: np.ndarray, reconstructions: np.ndarray, masks: np.ndarray, slots: np.ndarray,
                       out: str | Path, title: str = "", truth: np.ndarray | None = None, overlap: np.ndarray | None = None,
                       scores: np.ndarray | None = None, score_name: str = "FG-ARI") -> Path:
    """One row per image: the image, its ground-truth segmentation (``truth``, when given), the
    reconstruction, the predicted segmentation (argmax of the masks), and each slot's reconstruction
    masked (its RGB times its mask, over white); each row is labelled with its ``scores`` (per image,
    ``score_name``; NaN: undefined).

    images and reconstructions (N,H,W,C) in [0,1]; masks (N,K,H,W) summing to 1 over K; slots
    (N,K,H,W,C) in [0,1], the slots' means; truth and overlap (N,H,W): labels (0 background) and
    pixels of several objects (hatched).
    """
    plt = _pyplot()
    n, k = masks.shape[:2]
    gray = lambda a: np.repeat(a, 3, -1) if a.shape[-1] == 1 else a  # noqa: E731
    segmentation = colorize(masks.argmax(1) + 1, np.zeros(masks.shape[:1] + masks.shape[2:], bool))
    weighted = masks[..., None] * gray(slots) + (1 - masks[..., None])
    columns = [("image", gray(images))]
    if truth is not None:
        hatched = np.zeros(truth.shape, bool) if overlap is None else overlap.astype(bool)
        columns.append(("ground truth", colorize(truth, hatched) / 255.0))
    columns += [("reconstruction", gray(reconstructions)), ("predicted\n(mask argmax)", segmentation / 255.0)]
    columns += [(f"slot {j + 1}\nRGB × mask", weighted[:, j]) for j in range(k)]
    height = 1.3 * n + (0.75 if title else 0.5)
    figure, axes = plt.subplots(n, len(columns), figsize=(0.3 + 1.3 * len(columns), height), squeeze=False)
    for row in range(n):
        for column, (name, pictures) in enumerate(columns):
            axis = axes[row, column]
            axis.imshow(np.clip(pictures[row], 0, 1), interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(name, fontsize=8)
        if scores is not None:
            value = float(scores[row])
            shown = "undefined" if math.isnan(value) else f"{value:.2f}"
            axes[row, 0].set_ylabel(f"#{row}\n{score_name} {shown}", fontsize=8)
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return _save(figure, out)


def plot_time_to_quality(curves: dict[str, dict], out: str | Path, title: str = "") -> Path:
    """A PNG of each run's validation score over its training wall time: a time-to-quality reading.

    ``curves`` maps a label to a learning curve as `runs.learning_curve` returns it (metric, seed,
    validation_images, points [images seen, wall time s, score]).
    """
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6.5, 3.8))
    for index, (label, curve) in enumerate(curves.items()):
        seconds, scores = [p[1] for p in curve["points"]], [p[2] for p in curve["points"]]
        name = METRIC_NAMES.get(f"valid_{curve['metric']}", curve["metric"])
        axis.plot(seconds, scores, "o-", color=f"C{index}", ms=3, lw=1.5,
                  label=f"{label}: {name}, {curve['validation_images']} images")
    axis.set(xlabel="training wall time (s), compilation included", ylabel="validation score", ylim=(0, 1))
    axis.legend(fontsize=7)
    if title:
        axis.set_title(title, fontsize=9)
    figure.tight_layout()
    return _save(figure, out)
