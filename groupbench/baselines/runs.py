"""Training runs, predictions and reproductions of the presets: what ``groupbench train``,
``predict`` and ``reproduce`` do.

A run folder holds ``config.json`` (preset, algorithm, every configuration field, the data it was
trained on), the files of `training.fit` (``checkpoint.pt``, ``best.pt``, ``metrics.csv``,
``summary.json``), and for a curriculum one such folder per stage (``stage1/``, ...).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import time
import typing
from pathlib import Path
from typing import Any

import numpy as np
import torch

from groupbench.baselines import presets as preset_registry
from groupbench.baselines.presets import Preset, Stage, algorithm
from groupbench.baselines.training import (
    RESUMABLE, Precision, Processes, fit, generator, load_checkpoint, load_config_file, resolve_device, scoring_targets,
)
from groupbench.data import SplitReader
from groupbench.errors import GroupbenchError
from groupbench.format import split_names
from groupbench.scoring import predictions_writer, write_predictions
from groupbench.writer import atomic_output, check_output

DEFAULT_DATA_DIR = Path("groupbench-data")
PREDICT_BATCH = 500
"""Images per prediction batch (the random starts depend on it, so it is fixed)."""


def split_pair(pair: str) -> tuple[str, str]:
    """``KEY=VALUE`` (a ``--set`` argument) -> (key, value), stripped; one clear error otherwise."""
    key, sep, raw = pair.partition("=")
    if not sep or not key.strip():
        raise GroupbenchError(f"--set {pair!r}: expected KEY=VALUE, e.g. --set lr=0.01")
    return key.strip(), raw.strip()


def parse_changes(preset: Preset, pairs: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` strings -> configuration changes typed by the algorithm's Config fields."""
    config_type = algorithm(preset.algorithm).Config
    hints = typing.get_type_hints(config_type)
    changes = {}
    for key, raw in map(split_pair, pairs):
        if key not in hints:
            close = preset_registry._did_you_mean(key, hints)
            raise GroupbenchError(f"{preset.name}: no configuration field {key!r}{close}")
        changes[key] = _parse(key, raw, hints[key])
    return changes


def _parse(key: str, raw: str, kind) -> Any:
    """A value of a Config field from text: bool, int, float, str, or a tuple of them (comma-separated)."""
    if typing.get_origin(kind) is tuple:
        item = typing.get_args(kind)[0]
        return tuple(_parse(key, part.strip(), item) for part in raw.split(",") if part.strip())
    try:
        if kind is bool:
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return raw.lower() in ("true", "1", "yes")
        if kind in (int, float, str):
            return kind(raw)
    except ValueError:
        raise GroupbenchError(f"--set {key}={raw!r}: not a valid {kind.__name__}") from None
    raise GroupbenchError(f"--set {key}: a field of type {kind} cannot be set from the command line")


def standard_data_path(dataset_id: str, params: dict[str, Any], data_dir: str | Path) -> Path:
    """Where `dataset_file` keeps a dataset configuration: DATA_DIR/<id>[-<param><value>...].h5."""
    label = dataset_id + "".join(f"-{k}{v}" for k, v in sorted(params.items()))
    return Path(data_dir) / (re.sub(r"[^A-Za-z0-9_.-]+", "_", label) + ".h5")


def dataset_file(dataset_id: str, params: dict[str, Any], data_dir: str | Path, echo=print) -> Path:
    """The standard file of a dataset configuration (default seed and sizes), generated if missing."""
    from groupbench.generation import generate

    path = standard_data_path(dataset_id, params, data_dir)
    processes = Processes.from_env()
    if not path.exists():
        if processes.main:
            echo(f"generating {dataset_id}{params or ''} -> {path}")
            generate(dataset_id, path, params=params)
        else:  # the main process writes it (atomically); the others wait for it
            while not path.exists():
                time.sleep(1)
    return path


def _dataset_record(path: Path) -> dict[str, Any]:
    with SplitReader(path, _first_split(path)) as reader:
        meta = reader.meta
    return {"file": str(path), "id": meta["dataset"], "params": meta["params"], "seed": meta["seed"], "digests": meta["digests"]}


def _first_split(path: Path, preferred: str = "test") -> str:
    """``preferred`` if the file has that split, else its first split."""
    from groupbench.format import open_file

    with open_file(path) as handle:
        names = split_names(handle)
    return preferred if preferred in names else names[0]


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def _check_same(run: Path, record: dict[str, Any]) -> None:
    """A run folder that already holds another configuration is refused (resuming needs the same one)."""
    if not (run / "config.json").exists():
        return
    old = load_config_file(run)
    if old.get("preset") != record["preset"]:
        raise GroupbenchError(f"{run} holds a run of preset {old.get('preset')!r}; choose another --out")
    # a field added to Config after the run was written counts as having had its default value
    defaults = {f.name: f.default for f in dataclasses.fields(algorithm(record["algorithm"]).Config)}
    before = {**defaults, **old["config"]}
    before, now = (json.loads(json.dumps(c, default=str)) for c in (before, record["config"]))  # as config.json holds them
    different = sorted(k for k in set(before) | set(now) if k not in RESUMABLE and before.get(k) != now.get(k))
    if different:
        key = different[0]
        raise GroupbenchError(f"{run} holds a run with {key}={before.get(key)!r} (now {now.get(key)!r}); "
                              "resume it with the same configuration or choose another --out")


def train(
    preset_name: str,
    out: str | Path,
    *,
    datasets: list[str | Path] | None = None,
    changes: dict[str, Any] | None = None,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    progress: bool | None = None,
    echo=print,
) -> dict[str, Any]:
    """Train a preset into folder ``out`` (resuming what is there); returns the summary.

    ``datasets``: one file, or one per stage of a curriculum; None generates the preset's data
    (default seed and sizes) under ``data_dir``.
    """
    preset = preset_registry.get(preset_name)
    module = algorithm(preset.algorithm)
    config = preset.config(**(changes or {}))
    stages: tuple[Stage | None, ...] = preset.stages or (None,)
    if datasets:
        if len(datasets) != len(stages):
            need = f"{len(stages)} files, one per stage ({', '.join(s.name for s in stages)})" if preset.stages else "one file"
            raise GroupbenchError(f"{preset.name} trains on {need}; got {len(datasets)}")
        files = [Path(d) for d in datasets]
    else:
        files = [dataset_file(preset.dataset, {**preset.params, **(s.params if s else {})}, data_dir, echo) for s in stages]
    out = Path(out)
    processes = Processes.from_env()
    record = {
        "preset": preset.name, "algorithm": preset.algorithm, "method": module.method_name(config),
        "config": dataclasses.asdict(config), "datasets": [_dataset_record(f) for f in files],
        "stages": [dataclasses.asdict(s) for s in preset.stages], "torch": torch.__version__,
    }
    with SplitReader(files[0], _first_split(files[0])) as reader:
        record["image_shape"] = list(reader.group["images"].shape[1:])
    _check_same(out, record)
    if processes.main:
        out.mkdir(parents=True, exist_ok=True)
        _write_json(out / "config.json", record)
    summaries = []
    for index, (stage, file) in enumerate(zip(stages, files)):
        folder = out if stage is None else out / f"stage{index + 1}"
        stage_config = dataclasses.replace(config, **stage.changes) if stage else config
        if stage is not None:
            echo(f"stage {index + 1}/{len(stages)} ({stage.name}): {file}")
        task = module.make_task(stage_config, file, conventions=preset.conventions)
        if index > 0 and not (folder / "checkpoint.pt").exists():  # start from the previous stage's best weights
            previous = load_checkpoint(out / f"stage{index}" / "best.pt")
            task.model.load_state_dict(previous["model"])
        summaries.append(fit(task, stage_config, folder, progress=progress))
    summary = summaries[-1] if len(summaries) == 1 else {
        **summaries[-1],
        "stages": summaries,
        "steps": sum(s["steps"] for s in summaries),
        "epochs": sum(s["epochs"] for s in summaries),
        "wall_time_s": round(sum(s["wall_time_s"] for s in summaries), 2),
        "images_seen": sum(s["images_seen"] for s in summaries),
    }
    if processes.main and preset.stages:
        _write_json(out / "summary.json", summary)
    if processes.main:
        for figure in write_figures(out, files[-1]):
            echo(f"wrote {figure}")
    return summary


FIGURE_IMAGES = 8
"""Validation images shown in a run's decomposition figure."""


def write_figures(run: str | Path, dataset: str | Path) -> list[Path]:
    """RUN/training.png (learning curves, best.pt's epoch marked; one line per stage of a curriculum)
    and, for algorithms that decompose an image into slots (IODINE, Slot Attention),
    RUN/decomposition.png of the first validation images of ``dataset`` with the best weights: image,
    ground truth, reconstruction, predicted segmentation and masked slots, each row's FG-ARI."""
    from groupbench.baselines.figures import plot_decomposition, plot_learning_curves

    run = Path(run)
    record = load_config_file(run)
    stages = record.get("stages") or []
    folders = {f"stage {i + 1} ({s['name']})": run / f"stage{i + 1}" for i, s in enumerate(stages)} or {record["preset"]: run}
    written = [plot_learning_curves(folders, run / "training.png", f"{record['preset']} ({record['method']}), seed {record['config']['seed']}")]
    module = algorithm(record["algorithm"])
    if hasattr(module, "decompose"):
        from groupbench.metrics import adjusted_rand_index

        device = resolve_device(record["config"].get("device", "auto"))
        _, config, model = load_model(run, device)
        split = _first_split(Path(dataset), "valid")
        # each image's ARI as the preset scores it (its validation pixels): FG-ARI for IODINE and Slot Attention
        conventions = preset_registry.get(record["preset"]).conventions
        images, truth, overlap, scored = scoring_targets(dataset, split, FIGURE_IMAGES, conventions)
        images = images.to(device)
        parts = module.decompose(model, images, config, generator(device, module.predict_seed(config)))
        flat = lambda a: a.reshape(len(a), -1)  # noqa: E731
        scores = adjusted_rand_index(flat(truth), flat(parts["masks"].argmax(1)), flat(scored), degenerate=conventions.degenerate)
        name = "ARI" if conventions.include_background else "FG-ARI"
        pixels = "background left out, " if not conventions.include_background else ""
        pixels += "overlap scored under the visible object" if conventions.include_overlap else "overlap left out"
        last = run / f"stage{len(stages)}" if stages else run
        try:
            epoch = f" (epoch {json.loads((last / 'summary.json').read_text())['best_epoch']})"
        except (OSError, ValueError, KeyError):
            epoch = ""
        title = (f"{record['preset']} ({record['method']}): the first {len(images)} '{split}' images, best.pt weights{epoch}\n"
                 f"per-image {name} ({pixels}); slot columns: each slot's RGB times its mask, over white")
        written.append(plot_decomposition(**parts, out=run / "decomposition.png", title=title, truth=truth, overlap=overlap,
                                          scores=np.asarray(scores, dtype=np.float64), score_name=name))
    return written


def best_weights(run: str | Path) -> Path:
    """The weights predict uses: RUN/best.pt, or the last stage's of a curriculum."""
    run = Path(run)
    record = load_config_file(run)
    path = run / f"stage{len(record['stages'])}" / "best.pt" if record.get("stages") else run / "best.pt"
    if not path.is_file():
        raise GroupbenchError(f"{run}: no trained weights yet ({path.name} is missing); train first")
    return path


def load_model(run: str | Path, device: torch.device):
    """(algorithm module, config, model in eval mode on ``device``) of a trained run."""
    record = load_config_file(run)
    module = algorithm(record["algorithm"])
    config = module.Config(**record["config"])
    model = module.build_model(config, tuple(record["image_shape"]))
    weights = best_weights(run)
    try:
        model.load_state_dict(load_checkpoint(weights)["model"])
    except RuntimeError as exc:  # the weights of another model (a replaced file)
        raise GroupbenchError(f"{weights} does not hold the weights of {run}'s model ({str(exc).splitlines()[0]}); "
                              "train again, or restore the file") from None
    return module, config, model.to(device).eval()


def run_files(run: str | Path) -> list[Path]:
    """What a run folder holds that an output must never replace: configuration, weights,
    checkpoints, logs and summaries (every stage's)."""
    run = Path(run)
    return sorted(p for pattern in ("*.json", "*.pt", "*.csv", "*.png", "stage*/*") for p in run.glob(pattern) if p.is_file())


def predict(
    run: str | Path,
    dataset: str | Path,
    out: str | Path,
    *,
    split: str = "test",
    k: int | None = None,
    limit: int | None = None,
    seed: int | None = None,
    device: str = "auto",
    soft_masks: bool = False,
    overwrite: bool = True,
    progress: bool | None = False,
) -> Path:
    """Segment a split (its first ``limit`` images) with a trained run and write a predictions file the
    scorer reads: hard ``labels`` (N,[T,]H,W), and with ``soft_masks`` the assignments each method
    computes, ``masks`` (N,[T,]K,H,W) float16 (RC's and N-EM's gamma, IODINE's and Slot Attention's
    masks). ``out`` follows the output rule (`writer.check_output`): replaced only with ``overwrite``,
    never the dataset or a file of the run; ``progress`` as `groupbench.progress.progress_bar`."""
    from groupbench.progress import progress_bar

    for name, value, low in (("--k", k, 1), ("--limit", limit, 1), ("--seed", seed, 0)):
        if value is not None and value < low:
            raise GroupbenchError(f"{name} must be at least {low}; got {value}")
    inputs = (dataset, *run_files(run))
    check_output(out, overwrite=overwrite, inputs=inputs)  # before any work
    torch_device = resolve_device(device)
    module, config, model = load_model(run, torch_device)
    record = load_config_file(run)
    seed = module.predict_seed(config) if seed is None else seed
    noise = generator(torch_device, seed)
    precision = Precision(torch_device, config.amp)
    k = config.k if k is None else k
    with SplitReader(dataset, split) as reader:
        count = len(reader) if limit is None else min(limit, len(reader))
        shape = tuple(reader.group["images"].shape[1:])
        if shape[-3:] != tuple(record["image_shape"][-3:]):
            raise GroupbenchError(f"{dataset}: images of shape {shape} but {run} was trained on {tuple(record['image_shape'])}")
        attrs = dict(method=record["method"], preset=record["preset"], dataset=reader.dataset_id, split=split,
                     digest=reader.digest, seed=seed, k=k, run=str(run))
        dtype = np.uint8 if k < 256 else np.uint16
        items = "sequences" if len(shape) == 4 else "images"
        with predictions_writer(out, count, shape[:-1], slots=k if soft_masks else None, dtype=dtype, overwrite=overwrite,
                                inputs=inputs, **attrs) as write, \
                progress_bar(count, f"predict {Path(dataset).name} {split}", unit=items[:3], show=progress) as bar, \
                torch.no_grad(), precision.autocast():
            for start in range(0, count, PREDICT_BATCH):
                images = torch.from_numpy(reader.group["images"][start : min(start + PREDICT_BATCH, count)]).to(torch_device)
                masks = module.predict(model, images, config, noise, k).float()  # (B,[T,]K,H,W)
                labels = masks.argmax(-3).cpu().numpy()
                write(labels, masks.half().cpu().numpy() if soft_masks else None)
                bar.update(len(images))
    return Path(out)


# ---------------------------------------------------------------------------------------------
# reproduce: data, training over seeds, predictions, scores with the paper's conventions, an entry


def _score(predictions: Path, dataset: Path, out: Path, conventions, split: str = "test", protocol=None) -> dict[str, Any]:
    """Score ``predictions`` of ``split`` with ``conventions``, or under ``protocol`` (its images,
    metrics and conventions; a split smaller than the protocol's scored whole); write OUT (JSON)
    and the per-image table beside it (CSV)."""
    from groupbench import protocols
    from groupbench.scoring import score_file

    if protocol is None:
        results, table = score_file(predictions, dataset, split=split, conventions=conventions)
    else:
        results, table = protocols.score(predictions, dataset, protocol=protocol, allow_fewer=True)
    _write_json(out, results)
    table.to_csv(out.with_suffix(".csv"), index=False)
    return results


def protocol_split(dataset: Path):
    """(protocol or None, the split to predict): the protocol of the file's configuration and the
    split that holds its images. None (and ``test``) when the configuration has no protocol or an
    import holds the protocol's records in no split (then the whole test split is scored)."""
    from groupbench import protocols

    with SplitReader(dataset, _first_split(dataset)) as reader:
        meta = reader.meta
    protocol = protocols.find(meta["dataset"], meta["params"])
    if protocol is None:
        return None, "test"
    try:
        return protocol, protocol.locate(dataset)[0]
    except GroupbenchError:
        return (None, "test") if protocol.first_record is not None else (protocol, protocol.split)


def _first(predictions: Path, count: int) -> Path:
    """A copy of the first ``count`` predictions (the paper's convention of scoring the first N images)."""
    import h5py

    out = predictions.with_name(f"{predictions.stem}-first{count}.h5")
    with h5py.File(predictions, "r") as handle:
        labels, attrs = handle["labels"][:count], dict(handle.attrs)
    return write_predictions(out, labels, **attrs)


def budget_text(summaries: list[dict[str, Any]], max_epochs: int) -> str | None:
    """How much training a budget allowed, when a budget ended it: ``250 steps (0.32 epochs)``, and
    ``..., a 120 s time budget`` when wall time ended it (None when every run stopped early or ran
    the paper's ``max_epochs``)."""
    if not any(s["stopped"] in ("max_steps", "max_time") or (s["stopped"] == "max_epochs" and s["epochs"] < max_epochs)
               for s in summaries):
        return None
    timed = sorted({s["max_time_s"] for s in summaries if s["stopped"] == "max_time"})
    steps = sorted({s["steps"] for s in summaries})
    epochs = sorted({round(sum(stage["images_seen"] / stage["train_images"] for stage in s.get("stages", [s])), 2) for s in summaries})
    ranges = lambda v, f: f"{v[0]:{f}}" if len(v) == 1 else f"{v[0]:{f}}-{v[-1]:{f}}"  # noqa: E731
    text = f"{ranges(steps, ',')} steps ({ranges(epochs, ',g')} epochs)"
    return text + (f" in a {ranges(timed, ',g')} s time budget" if timed else "")


CURVE_POINTS = 200
"""Most points of a learning curve kept in a leaderboard entry (evenly thinned, the last one kept)."""


def learning_curve(run: str | Path) -> dict[str, Any] | None:
    """The validation score a run logged after each validation, for its leaderboard entry:
    {"metric", "seed", "validation_images", "points": [[images seen, wall time s, score], ...]};
    the stages of a curriculum follow one another. None when the run logs no score (metric_images 0)."""
    from groupbench.baselines.training import read_metrics

    run = Path(run)
    record = load_config_file(run)
    folders = [run / f"stage{i + 1}" for i in range(len(record.get("stages") or []))] or [run]
    points, offset = [], (0.0, 0.0)
    metric = None
    for folder in folders:
        rows = read_metrics(folder)
        metric = metric or next((m for m in ("ami", "ari") if any(f"valid_{m}" in r for r in rows)), None)
        if metric is None:
            return None
        for r in rows:
            score = r.get(f"valid_{metric}", math.nan)
            if not math.isnan(score):
                points.append([int(offset[0] + r["images_seen"]), round(offset[1] + r["wall_time_s"], 1), round(score, 4)])
        if rows:
            offset = (offset[0] + rows[-1]["images_seen"], offset[1] + rows[-1]["wall_time_s"])
    if not points:
        return None
    if len(points) > CURVE_POINTS:
        keep = np.unique(np.linspace(0, len(points) - 1, CURVE_POINTS).round().astype(int))
        points = [points[i] for i in keep]
    config, scored = record["config"], record["config"]["metric_images"]
    last = Path(record["datasets"][-1]["file"])
    if last.is_file():  # the score was taken on the first metric_images of the last stage's valid split
        with SplitReader(last, "valid") as reader:
            scored = min(scored, len(reader))
    return {"metric": metric, "seed": config["seed"], "validation_images": scored, "points": points}


def reproduce(
    preset_name: str,
    *,
    seeds: int | None = None,
    out: str | Path = "groupbench-runs",
    datasets: list[str | Path] | None = None,
    test_dataset: str | Path | None = None,
    changes: dict[str, Any] | None = None,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    board: str | Path | None = "leaderboard",
    k: int | None = None,
    progress: bool | None = None,
    echo=print,
    notes: str | None = None,
) -> dict[str, Any]:
    """Train ``seeds`` runs of a preset, predict and score the test split, and add a reproduced entry to ``board``.

    Returns {"entry": the entry, "path": where it was added (None without a board), "results": per seed}.
    The test split is that of the last training file unless ``test_dataset`` names another.
    """
    from groupbench.leaderboard import Board
    from groupbench.leaderboard.submit import entry_from_results

    preset = preset_registry.get(preset_name)
    changes = dict(changes or {})
    base_seed = changes.pop("seed", None)
    base_seed = preset.config().seed if base_seed is None else base_seed
    if seeds is not None and seeds < 1:
        raise GroupbenchError(f"--seeds must be at least 1; got {seeds}")
    seeds = seeds or preset.seeds
    if datasets is None:
        stages = preset.stages or (None,)
        datasets = [dataset_file(preset.dataset, {**preset.params, **(s.params if s else {})}, data_dir, echo) for s in stages]
    test_file = Path(test_dataset or datasets[-1])
    protocol, split = protocol_split(test_file)
    results, summaries = [], []
    whole_split = []
    for index in range(seeds):
        seed = base_seed + index
        run = Path(out) / preset.name / f"seed{seed}"
        echo(f"[{preset.name} seed {seed}] training in {run} (resumes what is there)")
        summary = train(preset.name, run, datasets=datasets, changes={**changes, "seed": seed}, progress=progress, echo=echo)
        summaries.append(summary)
        predictions = predict(run, test_file, run / f"{split}-predictions.h5", split=split, k=k, device=changes.get("device", "auto"),
                              progress=progress)
        full = _score(predictions, test_file, run / f"{split}-results.json", preset.conventions, split)
        whole_split.append(full)
        scored = full
        if protocol is not None:  # the dataset's protocol: its images, metrics and conventions
            scored = _score(predictions, test_file, run / f"{protocol.name}-results.json", None, protocol=protocol)
        elif preset.score_images and preset.score_images < full["dataset"]["images"]:
            scored = _score(_first(predictions, preset.score_images), test_file, run / f"test-first{preset.score_images}-results.json",
                            preset.conventions)
        results.append(scored)
        shown = ", ".join(f"{name} {m['mean']:.4f}" for name, m in scored["metrics"].items())
        echo(f"[{preset.name} seed {seed}] {scored['images_scored']:,} test images: {shown} "
             f"({summary['stopped'].replace('_', ' ')} after {summary['steps']:,} steps, {summary['epochs']} epochs completed, "
             f"{summary['wall_time_s']:.0f} s)")
    budget = budget_text(summaries, preset.config().max_epochs)
    k_used = k or preset.config().k
    variant = preset.variant if k is None or k == preset.config().k else f"{preset.variant}; tested with K={k}"
    if budget:
        variant += f" [budget: {budget}]"
    lines = [
        f"groupbench reproduce {preset.name} (groupbench/baselines/{preset.algorithm}.py): "
        + (f"training seed {base_seed}" if seeds == 1 else f"{seeds} training seeds {base_seed}..{base_seed + seeds - 1}")
        + f", K={k_used} at test time.",
        "Data: " + "; ".join(_describe_data(Path(d)) for d in datasets) + "."
        + ("" if test_file in map(Path, datasets) else f" Tested on {_describe_data(test_file)}."),
    ]
    used = {_dataset_id(Path(d)) for d in datasets}
    if preset.dataset not in used:
        lines.append(f"The preset targets {preset.dataset}; {', '.join(sorted(used))} stood in for it (same task, other data).")
    primary = protocol.primary if protocol is not None else next(iter(preset.reported), "ami")
    if protocol is not None:
        lines.append(f"Scored under the {protocol.name} protocol: {protocol.describe()}"
                     + ("" if results[0]["images_scored"] >= protocol.images else
                        f"; this split holds {results[0]['images_scored']:,} images only, all scored (not the protocol's count)") + ".")
    elif preset.score_images and results[0]["images_skipped"]:
        lines.append(f"Scored as the paper: the first {preset.score_images:,} test images.")
    if results[0]["images_scored"] < whole_split[0]["images_scored"] and primary in whole_split[0]["metrics"]:
        mean_full = np.mean([r["metrics"][primary]["mean"] for r in whole_split])
        lines.append(f"{primary} over the whole {whole_split[0]['images_scored']:,}-image {split} split, with the preset's "
                     f"conventions: {mean_full:.4f}.")
    paper_result = None
    if preset.reported and k is None and test_dataset is None:
        lines.append("Paper: " + ", ".join(f"{m} {v:.3f}" for m, v in preset.reported.items()) + ".")
        metric, value = next(iter(preset.reported.items()))
        paper_result = {"metric": metric, "mean": value, "std": None, "reference": f"{preset.method}: {preset.paper}"}
    if budget:
        lines.append(f"Budget run, stopped by a budget before early stopping: {budget}.")
    if notes:
        lines.append(notes)
    devices = sorted({s["device"] for s in summaries})
    compute = {
        "device": "; ".join(devices),
        "wall_time_s": round(sum(s["wall_time_s"] for s in summaries), 1),
        "steps": int(sum(s["steps"] for s in summaries)),
        "note": "training over all seeds: " + "; ".join(
            f"seed {base_seed + i}: {s['epochs']} epochs, {s['steps']:,} steps, {s['wall_time_s']:.0f} s, "
            f"{s['images_per_s'] or 0:,.0f} images/s, stopped by {s['stopped'].replace('_', ' ')}" for i, s in enumerate(summaries)),
        **({"budget": budget} if budget else {}),
    }
    entry = entry_from_results(
        results, method=preset.method, variant=variant, kind="baseline", source="reproduced", paper=preset.paper,
        code=None, unofficial=True, compute=compute, notes=" ".join(lines), paper_result=paper_result,
    )
    curve = learning_curve(Path(out) / preset.name / f"seed{base_seed}")
    if curve is not None:
        entry["curve"] = curve
    path = None
    if board is not None:
        path = Board(board).add(entry)
        echo(f"added {path}" + ("" if entry["dataset"]["official"] else " (unofficial data)"))
    return {"entry": entry, "path": path, "results": results, "summaries": summaries}


def _dataset_id(path: Path) -> str:
    with SplitReader(path, _first_split(path)) as reader:
        return reader.dataset_id


def _describe_data(path: Path) -> str:
    """E.g. ``shapes-v1 (seed 265076; train 50,000, valid 10,000, test 10,000, single 10,000)``."""
    import h5py

    with SplitReader(path, _first_split(path)) as reader:
        meta = reader.meta
    with h5py.File(path, "r") as handle:
        sizes = ", ".join(f"{split} {handle[split]['images'].shape[0]:,}" for split in split_names(handle))
    from groupbench.leaderboard.submit import changed_params, dataset_label

    label = dataset_label(meta["dataset"], changed_params(meta["dataset"], meta["params"]))
    return f"{label} (seed {meta['seed']}; {sizes})"
