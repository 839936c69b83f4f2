"""Scoring a predictions file against a dataset split: streamed, exact, every convention named.

The protocol of a dataset configuration (which images, metrics and conventions the leaderboard
ranks by) lives in `groupbench.protocols`, which calls `score_file`.

PRED holds hard ``labels`` (N,[T,]H,W) with any integer ids, or soft ``masks`` (N,[T,]K,H,W)
(argmax over K), in HDF5 (root or ``/<split>/``), NPZ or NPY. Prediction i is scored against
image i of the split. Results: docs/metrics.md ("Scoring files").
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Iterator

import h5py
import numpy as np

from groupbench import __version__
from groupbench.data import SplitReader
from groupbench.errors import GroupbenchError
from groupbench.format import SplitDigest
from groupbench.metrics import METRICS, PIXEL_CONVENTIONS, SEQUENCE_MODES, iter_scores, pixel_convention, valid_mask
from groupbench.metrics.functional import check_options

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
CHUNK_IMAGES = 1024
"""Images read and scored at a time: memory is bounded by one chunk, whatever N."""


@dataclass(frozen=True)
class Conventions:
    """Which pixels count, how each metric is computed and which frames are scored; every result records them."""

    include_background: bool = False
    """Score background pixels too, as one more group (label 0); the papers leave them out."""
    include_overlap: bool = False
    """Score pixels covered by two or more objects, under their visible object; RC and N-EM leave them
    out, DeepMind's FG-ARI (IODINE, MONet, Slot Attention) keeps them."""
    average_method: str = "max"
    """AMI normaliser: "max" (RC and N-EM papers, sklearn <= 0.19) or "arithmetic" (sklearn >= 0.22)."""
    degenerate: str = "one"
    """ARI and AMI where the index is 0/0: "one" (scikit-learn: 1.0) or "nan" (DeepMind: left out, counted)."""
    background_in_segments: bool = False
    """Overlap metrics, background left out: its pixels still count in the predicted segments (OCLF,
    videosaur, Genesis), instead of being left out of them too."""
    frames: tuple[str, ...] = ("all",)
    """Sequences: the frame selections reported, "all" and/or "skip-first" (frames 1..T-1, N-EM)."""

    def __post_init__(self) -> None:
        check_options((), self.average_method, None, None, degenerate=self.degenerate)
        for frames in self.frames:
            check_options((), self.average_method, None, None, frames=frames)
        if not self.frames:
            raise GroupbenchError("frames: give at least one of all, skip-first")
        if self.background_in_segments and self.include_background:
            raise GroupbenchError("background_in_segments applies when background is left out; drop one of the two")

    @property
    def pixels(self) -> str:
        """The name of the pixel convention (groupbench.metrics.PIXEL_CONVENTIONS)."""
        return pixel_convention(self.include_background, self.include_overlap)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "frames": list(self.frames)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Conventions":
        """The conventions of a results file; files written before a field existed get its default."""
        known = {f.name for f in fields(cls)}
        chosen = {k: v for k, v in values.items() if k in known}
        if "frames" in chosen:
            chosen["frames"] = tuple(chosen["frames"])
        return cls(**chosen)


def metric_key(metric: str, sequence_mode: str | None = None, frames: str = "all") -> str:
    """The name a score is reported under: ``ami``; for sequences ``ami/per-frame``, and
    ``ami/per-frame/skip-first`` when frame 0 is left out."""
    if sequence_mode is None:
        return metric
    return f"{metric}/{sequence_mode}" + ("" if frames == "all" else f"/{frames}")


def parse_metric_key(key: str) -> tuple[str, str | None, str]:
    """(metric, sequence mode or None, frames) of a reported score name; inverse of `metric_key`."""
    parts = key.split("/")
    return parts[0], parts[1] if len(parts) > 1 else None, parts[2] if len(parts) > 2 else "all"


@dataclass
class Predictions:
    """An opened predictions array (lazy where the file format allows)."""

    path: Path
    kind: str  # "labels" or "masks"
    array: Any  # numpy array, memory map or h5py dataset
    handle: h5py.File | None = None

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


def _check_made_for(pred: Predictions, reader: SplitReader, dataset: str | Path, split: str) -> None:
    """Refuse predictions that `groupbench predict` made for another split or file: their file
    records the split and its digest (other predictions files carry no such record)."""
    if pred.handle is None:
        return
    attrs = pred.handle.attrs
    made_split, made_digest = attrs.get("split"), attrs.get("digest")
    if made_split is None or made_digest is None:
        return
    made_split, made_digest = str(made_split), str(made_digest)
    if made_digest != reader.digest:
        where = f"split {made_split!r} of {attrs.get('dataset', 'another dataset')}"
        hint = f"score with --split {made_split}" if made_split != split else "score them against the file they were made from"
        raise GroupbenchError(f"{pred.path}: predicted for {where} (digest {made_digest[:12]}), not for split {split!r} of "
                              f"{dataset} (digest {reader.digest[:12]}); {hint}")


def open_predictions(path: str | Path, split: str, frame_ndim: int) -> Predictions:
    """Open PRED; ``frame_ndim`` is 2 for images and 3 for sequences (T,H,W)."""
    path = Path(path)
    if not path.is_file():
        raise GroupbenchError(f"{path}: no such predictions file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".h5", ".hdf5"):
            handle = h5py.File(path, "r")
            for group in (handle.get(split), handle):
                if group is None or not isinstance(group, h5py.Group):
                    continue
                for kind in ("labels", "masks"):
                    if isinstance(group.get(kind), h5py.Dataset):
                        return Predictions(path, kind, group[kind], handle)
            handle.close()
            raise GroupbenchError(f"{path}: holds no 'labels' or 'masks' dataset (at the root or in '/{split}')")
        if suffix == ".npz":
            archive = np.load(path)
            for kind in ("labels", "masks"):
                if kind in archive.files:
                    return Predictions(path, kind, archive[kind])
            raise GroupbenchError(f"{path}: holds no 'labels' or 'masks' array (keys: {', '.join(archive.files)})")
        if suffix == ".npy":
            array = np.load(path, mmap_mode="r")
            kind = "labels" if array.ndim == 1 + frame_ndim else "masks"
            return Predictions(path, kind, array)
    except (OSError, ValueError) as exc:
        raise GroupbenchError(f"{path}: cannot read predictions ({exc})") from None
    raise GroupbenchError(f"{path}: unknown predictions format {suffix!r}; use .h5, .npz or .npy")


MASK_CHUNK_BYTES = 1 << 20
"""Target size of one stored chunk of soft masks (float16): about 1 MiB."""


@contextmanager
def predictions_writer(path: str | Path, count: int, frame_shape: tuple[int, ...], *, slots: int | None = None,
                       dtype: Any = np.uint8, overwrite: bool = True, inputs: tuple[str | Path, ...] = (),
                       **attrs: Any) -> Iterator[Callable[..., None]]:
    """Stream predictions for ``count`` images of shape ``frame_shape`` ([T,]H,W) into an HDF5 file
    that `score_file` reads; yields ``write(labels, masks=None)`` taking consecutive batches.

    labels (B,[T,]H,W) go to ``labels`` (``dtype``); with ``slots`` = K, soft masks (B,[T,]K,H,W) go to
    ``masks`` as float16 as well. ``attrs`` (method, dataset id, split, digest, seed, ...) become file
    attributes. Written under a temporary name, renamed once all ``count`` predictions are in, by the
    output rule (`writer.check_output`: ``overwrite``, never one of ``inputs``); a full disk ends in
    one line (`writer.hdf5_output`).
    """
    from groupbench.writer import hdf5_output

    frame_shape = tuple(frame_shape)
    mask_shape = (*frame_shape[:-2], slots, *frame_shape[-2:]) if slots else None
    with hdf5_output(path, overwrite=overwrite, inputs=inputs) as handle:
        labels = handle.create_dataset("labels", (count, *frame_shape), dtype=dtype, compression="gzip", compression_opts=1,
                                       chunks=(max(1, min(count, 256)), *frame_shape) if count else None)
        masks = None
        if mask_shape:
            per_image = 2 * math.prod(mask_shape)
            masks = handle.create_dataset("masks", (count, *mask_shape), dtype=np.float16, compression="gzip", compression_opts=1,
                                          chunks=(max(1, min(count, MASK_CHUNK_BYTES // per_image)), *mask_shape) if count else None)
        for name, value in attrs.items():
            handle.attrs[name] = value
        written = 0

        def write(batch_labels: np.ndarray, batch_masks: np.ndarray | None = None) -> None:
            nonlocal written
            if (batch_masks is None) != (masks is None):
                raise ValueError("soft masks are written with every batch exactly when slots is given")
            stop = written + len(batch_labels)
            labels[written:stop] = batch_labels
            if masks is not None:
                masks[written:stop] = batch_masks
            written = stop

        yield write
        if written != count:
            raise ValueError(f"{written} predictions written, {count} announced")


def write_predictions(path: str | Path, labels: np.ndarray, **attrs: Any) -> Path:
    """Write hard predictions (N,[T,]H,W) as ``labels`` in an HDF5 file that `score_file` reads;
    ``attrs`` are stored as file attributes."""
    with predictions_writer(path, len(labels), labels.shape[1:], dtype=labels.dtype, **attrs) as write:
        write(labels)
    return Path(path)


def _check_shape(pred: Predictions, frame_shape: tuple[int, ...]) -> None:
    shape = tuple(pred.array.shape)
    expected = f"(N, {', '.join(map(str, frame_shape))})"
    if pred.kind == "labels" and shape[1:] != frame_shape:
        raise GroupbenchError(f"{pred.path}: labels have shape {shape}, expected {expected} for this dataset")
    if pred.kind == "masks":
        lead, space = frame_shape[:-2], frame_shape[-2:]
        if len(shape) != len(frame_shape) + 2 or shape[1 : 1 + len(lead)] != lead or shape[-2:] != space:
            raise GroupbenchError(
                f"{pred.path}: masks have shape {shape}, expected (N, {', '.join(map(str, lead + ('K',) + space))})"
            )
    if pred.array.dtype.kind not in "biuf":
        raise GroupbenchError(f"{pred.path}: {pred.kind} have dtype {pred.array.dtype}, expected numbers")


def _hard_labels(pred: Predictions, rows: np.ndarray, start: int) -> np.ndarray:
    """(n,[T,]H,W) int64 labels of a chunk of predictions; rejects NaN and negative ids."""
    if rows.dtype.kind == "f" and np.isnan(rows).any():
        bad = int(np.flatnonzero(np.isnan(rows).reshape(len(rows), -1).any(axis=1))[0])
        raise GroupbenchError(f"{pred.path}: {pred.kind} contain NaN (prediction {start + bad})")
    if pred.kind == "masks":
        return np.argmax(rows, axis=-3).astype(np.int64)
    if rows.dtype.kind == "f" and (rows != np.floor(rows)).any():
        raise GroupbenchError(f"{pred.path}: labels must be integer ids; found fractional values")
    if (rows < 0).any():
        bad = int(np.flatnonzero((rows < 0).reshape(len(rows), -1).any(axis=1))[0])
        raise GroupbenchError(f"{pred.path}: negative label ids (prediction {start + bad}); ids must be >= 0")
    if (rows >= 2**63).any():  # uint64 (or float) ids that int64 cannot hold: they would wrap to negative numbers
        bad = int(np.flatnonzero((rows >= 2**63).reshape(len(rows), -1).any(axis=1))[0])
        raise GroupbenchError(f"{pred.path}: label ids of 2**63 or more (prediction {start + bad}); ids must be below 2**63: "
                              "renumber them (e.g. np.unique(labels, return_inverse=True))")
    return rows.astype(np.int64)


def _chunks(reader: SplitReader, pred: Predictions, first: int, count: int, pred_offset: int,
            digest: SplitDigest) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(true labels, predicted labels, overlap) chunks of (n,[T,]H,W) arrays for images first..first+count-1,
    from predictions pred_offset..pred_offset+count-1; feeds ``digest`` with the predictions read."""
    for done in range(0, count, CHUNK_IMAGES):
        n = min(CHUNK_IMAGES, count - done)
        rows = np.asarray(pred.array[pred_offset + done : pred_offset + done + n])
        digest.update(pred.kind, rows)
        predicted = _hard_labels(pred, rows, pred_offset + done)
        true = reader.group["labels"][first + done : first + done + n].astype(np.int64)
        overlap = reader.group["overlap"][first + done : first + done + n]
        yield true, predicted, overlap


def _summaries(columns: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """Per column of per-image scores: mean, std (ddof=1), standard error and a 95% percentile
    bootstrap interval over the images where the score is defined; ``undefined`` counts the others (NaN).

    Every column resamples with its own generator seeded BOOTSTRAP_SEED, so columns with as many
    defined values draw the same image indices: they are drawn once and applied to all of them.
    """
    defined = {name: values[~np.isnan(values)] for name, values in columns.items()}
    bounds: dict[str, tuple[float, float]] = {}
    by_count: dict[int, list[str]] = {}
    for name, values in defined.items():
        by_count.setdefault(len(values), []).append(name)
    for n, names in by_count.items():
        if n == 0:
            bounds.update({name: (math.nan, math.nan) for name in names})
            continue
        rng = np.random.default_rng(BOOTSTRAP_SEED)
        means = np.empty((BOOTSTRAP_RESAMPLES, len(names)))
        step = max(1, 2**22 // n)
        for i in range(0, BOOTSTRAP_RESAMPLES, step):
            j = min(i + step, BOOTSTRAP_RESAMPLES)
            index = rng.integers(0, n, (j - i, n))
            for k, name in enumerate(names):
                means[i:j, k] = np.take(defined[name], index).mean(axis=1)
        low, high = np.percentile(means, [2.5, 97.5], axis=0)
        bounds.update({name: (float(low[k]), float(high[k])) for k, name in enumerate(names)})
    summaries = {}
    for name, values in defined.items():
        n = len(values)
        mean = float(values.mean()) if n else math.nan
        std = float(values.std(ddof=1)) if n > 1 else 0.0
        summaries[name] = {"mean": mean, "std": std, "sem": std / math.sqrt(n) if n else math.nan, "ci95": list(bounds[name]),
                           "n": n, "undefined": len(columns[name]) - n}
    return summaries


METRIC_DOCS = {
    "ari": "adjusted Rand index of the scored pixels (scikit-learn's adjusted_rand_score)",
    "ami": "adjusted mutual information of the scored pixels (normaliser: average_method)",
    "mbo": "mean over true objects of the best IoU with any predicted segment (mean best overlap)",
    "miou-objects": "Hungarian matching of objects to segments maximising the total IoU, divided by the number of true objects",
    "miou-segments": "Hungarian matching of objects to segments maximising the total IoU, divided by max(true objects, "
                     "non-empty predicted segments)",
    "msc": "unweighted segmentation covering: mean over true objects of the best IoU (equal to mbo)",
    "sc": "size-weighted segmentation covering: best IoU of each true object, weighted by its size",
}
"""What each metric computes, recorded in every results file (formulae: docs/metrics.md)."""

_MODE_DOCS = {
    "per-frame": "score of each frame, averaged over the frames where it is defined (N-EM)",
    "spatiotemporal": "one clustering of all pixels of the sequence: an object must keep its id over time",
}
_FRAMES_DOCS = {
    "all": "every frame",
    "skip-first": "frames 1..T-1: frame 0 left out (N-EM scores the frames its steps predict)",
}


def score_file(
    predictions: str | Path,
    dataset: str | Path,
    *,
    split: str = "test",
    metrics: tuple[str, ...] = METRICS,
    conventions: Conventions = Conventions(),
    device: str = "cpu",
    first: int = 0,
    count: int | None = None,
) -> tuple[dict[str, Any], "pandas.DataFrame"]:  # noqa: F821
    """Score a predictions file against a dataset split.

    By default prediction i is scored against image i, for as many predictions as there are. With
    ``count``, images first..first+count-1 are scored: the predictions then cover the split from
    image 0, or hold exactly those ``count`` images. Returns the results (JSON-ready dict: per
    metric mean, std, sem, ci95, n, undefined; counts; conventions; dataset id and digest;
    predictions digest) and the per-image scores as a pandas DataFrame.
    """
    import pandas as pd

    unknown = set(metrics) - set(METRICS)
    if unknown or not metrics:
        raise GroupbenchError(f"--metrics takes {', '.join(METRICS)}; got {', '.join(sorted(unknown)) or 'nothing'}")
    backend = _backend(device)
    with SplitReader(dataset, split) as reader:
        sequence = reader.layout.sequence_length is not None
        frame_shape = reader.group["labels"].shape[1:]
        pred = open_predictions(predictions, split, len(frame_shape))
        try:
            _check_made_for(pred, reader, dataset, split)
            _check_shape(pred, frame_shape)
            n_images, n_pred = len(reader), pred.array.shape[0]
            first, count, pred_offset, warnings = _selection(pred, n_pred, n_images, split, first, count)
            modes = [(mode, frames) for mode in SEQUENCE_MODES for frames in conventions.frames] if sequence else [(None, "all")]
            digest = SplitDigest({pred.kind: (tuple(pred.array.shape), np.dtype(pred.array.dtype))})
            columns: dict[str, list[np.ndarray]] = {}
            background = 0 if conventions.background_in_segments else None
            for true, predicted, overlap in _chunks(reader, pred, first, count, pred_offset, digest):
                valid = valid_mask(true, overlap, include_background=conventions.include_background or background is not None,
                                   include_overlap=conventions.include_overlap)
                scored = valid if background is None else valid & (true != background)
                flat = (len(true), -1) if not sequence else (len(true), true.shape[1], -1)
                inputs = [x.reshape(flat) for x in (true, predicted, valid)]
                if backend == "torch":
                    import torch

                    inputs = [torch.from_numpy(x).to(device) for x in inputs]
                columns.setdefault("valid_pixels", []).append(scored.reshape(len(true), -1).sum(axis=1))
                for mode, frames in modes:
                    for scores in iter_scores(
                        *inputs, metrics=metrics, average_method=conventions.average_method, degenerate=conventions.degenerate,
                        background=background, sequence_mode=mode, frames=frames, backend=backend,
                    ):
                        for name in metrics:
                            columns.setdefault(metric_key(name, mode, frames), []).append(_to_numpy(scores.values[name]))
                        suffix = metric_key("", mode, frames)
                        columns.setdefault("degenerate" + suffix, []).append(_to_numpy(scores.degenerate))
        finally:
            pred.close()
        table = pd.DataFrame({name: np.concatenate(parts) for name, parts in columns.items()})
        table.insert(0, "index", np.arange(first, first + count))
        score_columns = [c for c in table.columns if c.split("/")[0] in METRICS]
        results = {
            "groupbench_version": __version__,
            "dataset": {
                "id": reader.dataset_id,
                "params": reader.meta["params"],
                "seed": reader.meta["seed"],
                "file": str(dataset),
                "split": split,
                "digest": reader.digest,
                "images": n_images,
            },
            "predictions": {"file": str(predictions), "kind": pred.kind, "shape": list(pred.array.shape), "digest": digest.hexdigest()},
            "conventions": _conventions_record(conventions, metrics, sequence),
            "first_image": first,
            "images_scored": count,
            "images_skipped": n_images - count,
            "degenerate_images": {c.partition("/")[2] or "images": int(table[c].sum()) for c in table.columns if c.startswith("degenerate")},
            "metrics": _summaries({c: table[c].to_numpy() for c in score_columns}),
            "device": device,
            "warnings": warnings,
        }
    return results, table


def prediction_digest(predictions: str | Path, dataset: str | Path, *, split: str = "test", first: int = 0,
                      count: int | None = None) -> str:
    """The digest `score_file` records for predictions first..first+count-1 of a file (all when count
    is None): what identifies the predictions a result was scored from."""
    with SplitReader(dataset, split) as reader:
        frame_ndim = len(reader.group["labels"].shape) - 1
    pred = open_predictions(predictions, split, frame_ndim)
    try:
        digest = SplitDigest({pred.kind: (tuple(pred.array.shape), np.dtype(pred.array.dtype))})
        stop = pred.array.shape[0] if count is None else min(first + count, pred.array.shape[0])
        for start in range(first, stop, CHUNK_IMAGES):
            digest.update(pred.kind, np.asarray(pred.array[start : min(start + CHUNK_IMAGES, stop)]))
        return digest.hexdigest()
    finally:
        pred.close()


def _selection(pred: Predictions, n_pred: int, n_images: int, split: str, first: int, count: int | None):
    """(first image, images scored, index of the first prediction used, warnings)."""
    if n_pred > n_images:
        raise GroupbenchError(f"{pred.path}: {n_pred} predictions for {n_images} images in split '{split}'")
    if n_pred == 0:
        raise GroupbenchError(f"{pred.path}: holds no predictions")
    if count is None:
        if first:
            raise GroupbenchError("a first image other than 0 needs the number of images to score")
        skipped = n_images - n_pred
        warning = [f"{n_pred} predictions for {n_images} images: scored the first {n_pred}, skipped {skipped}"] if skipped else []
        return 0, n_pred, 0, warning
    if first < 0 or count < 1 or first + count > n_images:
        raise GroupbenchError(f"images {first}..{first + count - 1} are not all in split '{split}' ({n_images} images)")
    if n_pred == count:
        return first, count, 0, []
    if n_pred >= first + count:
        return first, count, first, []
    raise GroupbenchError(
        f"{pred.path}: {n_pred} predictions; images {first}..{first + count - 1} of split '{split}' are scored: "
        f"give predictions for the whole split ({n_images}) or for exactly those {count} images"
    )


def _conventions_record(conventions: Conventions, metrics, sequence: bool) -> dict[str, Any]:
    """The conventions as the results file records them: every choice, named and explained."""
    background = "background pixels kept in the predicted segments (overlap metrics)" if conventions.background_in_segments else ""
    return {
        **conventions.as_dict(),
        "pixels": conventions.pixels,
        "pixels_description": PIXEL_CONVENTIONS[conventions.pixels][2] + (f"; {background}" if background else ""),
        "aggregation": "mean over images of per-image scores",
        "undefined": "images where a metric has no value are left out of its mean and counted ('undefined'): no true "
                     "object (overlap metrics), or ARI/AMI of 0/0 under degenerate='nan'",
        "metrics": {name: METRIC_DOCS[name] for name in metrics},
        **({"sequences": {m: _MODE_DOCS[m] for m in SEQUENCE_MODES}, "frame_selections": {f: _FRAMES_DOCS[f] for f in conventions.frames}}
           if sequence else {}),
        "std": "sample standard deviation (ddof=1); sem = std / sqrt(n)",
        "ci95": f"percentile bootstrap over images, {BOOTSTRAP_RESAMPLES} resamples, seed {BOOTSTRAP_SEED}",
    }


def _backend(device: str) -> str:
    if device == "cpu":
        return "numpy"
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise GroupbenchError("--device cuda: no CUDA device is available here; use --device cpu")
        return "torch"
    raise GroupbenchError(f"--device takes cpu or cuda; got {device!r}")


def _to_numpy(values) -> np.ndarray:
    return values.detach().cpu().numpy() if hasattr(values, "detach") else np.asarray(values)
