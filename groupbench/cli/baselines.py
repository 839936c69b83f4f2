"""Baseline commands: presets, train, predict, reproduce, curves (RC, N-EM, RNN-EM, IODINE, Slot Attention; docs/baselines.md)."""

from __future__ import annotations

import dataclasses
import json

import click

from groupbench.cli import main

DATA_DIR_OPTION = click.option(
    "--data-dir", default="groupbench-data", show_default=True, type=click.Path(file_okay=False),
    help="Where the preset's data are generated (default seed and sizes) when no --dataset is given.",
)
SET_OPTION = click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                          help="Change a configuration field (repeatable); 'groupbench presets -v' lists them.")
DEVICE_OPTION = click.option("--device", default=None, help="auto (CUDA when available), cpu, cuda or cuda:N  [default: auto]")


def _changes(preset, sets, **explicit) -> dict:
    from groupbench.baselines.runs import parse_changes

    return {**parse_changes(preset, sets), **{k: v for k, v in explicit.items() if v is not None}}


@main.command("presets")
@click.option("-v", "--verbose", is_flag=True, help="Also show every configuration field, its value and its doc.")
def list_presets(verbose) -> None:
    """The baseline presets: one per experiment of the RC, N-EM, IODINE and Slot Attention papers."""
    from groupbench.baselines.presets import algorithm, presets

    listed = presets()
    widths = [max(len(getattr(p, field)) for p in listed) for field in ("name", "method", "dataset")]
    for preset in listed:
        reported = ", ".join(f"{m} {v:.3f}" for m, v in preset.reported.items()) or "none (not in the paper)"
        click.echo(f"{preset.name:<{widths[0]}}  {preset.method:<{widths[1]}}  {preset.dataset:<{widths[2]}}  paper: {reported}")
        if verbose:
            click.echo(f"    {preset.description}")
            config = preset.config()
            for f in dataclasses.fields(algorithm(preset.algorithm).Config):
                mark = "*" if f.name in preset.fields else " "
                click.echo(f"   {mark}{f.name}={getattr(config, f.name)!r}: {f.metadata.get('doc', '')}")
            for i, stage in enumerate(preset.stages, 1):
                click.echo(f"    stage {i} ({stage.name}): dataset params {stage.params or 'default'}, changes {stage.changes or 'none'}")
            if preset.offline:
                click.echo(f"    offline data with the same task: {preset.offline} (--dataset FILE)")


@main.command()
@click.argument("preset")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run folder (an existing run there is resumed).")
@click.option("--dataset", "datasets", multiple=True, type=click.Path(dir_okay=False, exists=True),
              help="Training data (a curriculum takes one file per stage); default: the preset's data, generated.")
@DEVICE_OPTION
@click.option("--max-epochs", type=int, default=None, help="Epochs at most (early stopping may end sooner).")
@click.option("--max-steps", type=int, default=None, help="Optimiser steps at most.")
@click.option("--seed", type=int, default=None, help="Training seed (default: the preset's).")
@SET_OPTION
@DATA_DIR_OPTION
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
def train(preset, out, datasets, device, max_epochs, max_steps, seed, sets, data_dir, progress) -> None:
    """Train PRESET into the folder OUT: early stopping on validation loss, checkpoints, metrics.csv.

    Several GPUs: torchrun --nproc_per_node N -m groupbench train PRESET ... (DDP).
    """
    from groupbench.baselines import presets, runs
    from groupbench.baselines.training import Processes

    spec = presets.get(preset)
    changes = _changes(spec, sets, device=device, max_epochs=max_epochs, max_steps=max_steps, seed=seed)
    echo = click.echo if Processes.from_env().main else (lambda *_: None)  # under torchrun, one process speaks
    summary = runs.train(preset, out, datasets=list(datasets) or None, changes=changes, data_dir=data_dir,
                         progress=progress, echo=echo)
    echo(f"{preset}: {summary['stopped'].replace('_', ' ')} after {summary['epochs']} epochs, {summary['steps']:,} steps, "
               f"{summary['wall_time_s']:.0f} s on {summary['device']}; best validation loss {summary['best_valid_loss']:.5g} "
               f"(epoch {summary['best_epoch'] + 1}) -> {out}/")


@main.command()
@click.argument("run", type=click.Path(file_okay=False, exists=True))
@click.option("--dataset", required=True, type=click.Path(dir_okay=False, exists=True), help="The groupbench file to segment.")
@click.option("--split", default="test", show_default=True, help="Split to segment, image i to prediction i.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Predictions file (HDF5: hard labels, soft masks optional).")
@click.option("--k", type=int, default=None, help="Clusters / components at test time (default: as trained).")
@click.option("--limit", type=int, default=None, help="Only the first N images (the RC paper scored the first 1,000).")
@click.option("--seed", type=int, default=None, help="Seed of the random start (and N-EM's noise); default: the run's.")
@click.option("--soft-masks", is_flag=True, help="Also write the soft assignments, 'masks' (N,[T,]K,H,W) float16.")
@DEVICE_OPTION
def predict(run, dataset, split, out, k, limit, seed, soft_masks, device) -> None:
    """Segment a split with the trained RUN; write predictions that 'groupbench score' reads."""
    from groupbench.baselines import runs

    path = runs.predict(run, dataset, out, split=split, k=k, limit=limit, seed=seed, device=device or "auto", soft_masks=soft_masks)
    click.echo(f"wrote {path}")


@main.command()
@click.argument("preset")
@click.option("--seeds", type=int, default=None, help="Training seeds (default: the paper's count, 1 for RC, 5 for N-EM).")
@click.option("--out", default="groupbench-runs", show_default=True, type=click.Path(file_okay=False),
              help="Runs go to OUT/PRESET/seedS (existing ones are resumed).")
@click.option("--dataset", "datasets", multiple=True, type=click.Path(dir_okay=False, exists=True),
              help="Training and test data (one file per stage of a curriculum; the last one's test split is scored).")
@click.option("--test-dataset", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Score the test split of this file instead (e.g. another number of objects).")
@click.option("--k", type=int, default=None, help="Clusters / components at test time (default: as trained).")
@DEVICE_OPTION
@click.option("--max-epochs", type=int, default=None, help="Epochs at most (a budget; recorded in the entry).")
@click.option("--max-steps", type=int, default=None, help="Optimiser steps at most (a budget; recorded in the entry).")
@SET_OPTION
@DATA_DIR_OPTION
@click.option("--board", default="leaderboard", show_default=True, type=click.Path(file_okay=False), help="Board folder.")
@click.option("--no-submit", is_flag=True, help="Score only; add nothing to the board.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
def reproduce(preset, seeds, out, datasets, test_dataset, k, device, max_epochs, max_steps, sets, data_dir, board, no_submit,
              progress) -> None:
    """Generate the data if needed, train PRESET over seeds, predict, score as the paper did, and add a reproduced entry."""
    from groupbench.baselines import presets, runs

    spec = presets.get(preset)
    changes = _changes(spec, sets, device=device, max_epochs=max_epochs, max_steps=max_steps)
    outcome = runs.reproduce(
        preset, seeds=seeds, out=out, datasets=list(datasets) or None, test_dataset=test_dataset, changes=changes,
        data_dir=data_dir, board=None if no_submit else board, k=k, progress=progress, echo=click.echo,
    )
    entry = outcome["entry"]
    for name, metric in entry["metrics"].items():
        spread = f" ± {metric['std']:.4f}" if metric["std"] is not None else ""
        reported = spec.reported.get(name)
        click.echo(f"{name}: {metric['mean']:.4f}{spread} over {metric['seeds']} seed(s)"
                   + (f" (paper: {reported:.3f})" if reported is not None else ""))
    if no_submit:
        click.echo(json.dumps(entry, indent=2))


@main.command()
@click.argument("runs_", metavar="RUN...", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="PNG to write.")
@click.option("--label", "labels", multiple=True, help="Legend label per RUN, in order (default: the paths as given).")
@click.option("--title", default="", help="Figure title.")
def curves(runs_, out, labels, title) -> None:
    """Learning curves of training RUN folders in one figure: loss and the validation metric over images seen."""
    from groupbench.baselines.figures import plot_learning_curves
    from groupbench.baselines.training import read_metrics
    from groupbench.errors import GroupbenchError

    if labels and len(labels) != len(runs_):
        raise GroupbenchError(f"{len(labels)} --label for {len(runs_)} runs; give one per RUN or none")
    names = list(labels or runs_)
    repeated = next((name for name in names if names.count(name) > 1), None)
    if repeated is not None:
        raise GroupbenchError(f"{repeated!r} is given twice; each RUN needs its own label")
    for run in runs_:
        if not read_metrics(run):
            raise GroupbenchError(f"{run}: metrics.csv has no rows yet; train first")
    click.echo(f"wrote {plot_learning_curves(dict(zip(names, runs_)), out, title)}")


@main.command("gpu-suite")
@click.option("--budget", default="10m", show_default=True,
              help="Wall-clock budget of the whole command (600, 90s, 10m, 1m30s); it ends within the budget plus one minute.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="A new (or empty) folder: report, runs, entries, logs.")
@DEVICE_OPTION
@click.option("--compile", "compile_", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True,
              help="auto: measure compiled steps on CUDA only, and compile a reproduction where that measured faster.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Change a configuration field of every preset that has it (repeatable), e.g. --set batch_size=8.")
@click.option("--data-dir", default="groupbench-data", show_default=True, type=click.Path(file_okay=False),
              help="Where the reproductions' standard data are found, or generated when missing.")
@click.option("--tiny-data", is_flag=True, help="Small generated splits, for a smoke test (e.g. on a CPU): entries unofficial.")
def gpu_suite(budget, out, device, compile_, sets, data_dir, tiny_data) -> None:
    """Spend a short GPU slot well: check the GPU path, measure every preset eager and compiled,
    reproduce nem-shapes, rnn-em-shapes, rnn-em-flying-shapes and iodine-tetris within the budget,
    and write OUT/report.md, OUT/report.json, OUT/runs/ and OUT/entries/ (docs/benchmarks.md)."""
    import shlex
    import sys
    from pathlib import Path

    from groupbench.baselines.suite import Suite, parse_duration, parse_sets

    suite = Suite(Path(out), parse_duration(budget), device=device or "auto", compile=compile_, changes=parse_sets(sets),
                  data_dir=Path(data_dir), tiny_data=tiny_data, echo=click.echo,
                  command="groupbench " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    report = suite.run()
    click.echo(f"wrote {Path(out) / 'report.md'} ({report['wall_time_s']:g} s of a {report['budget_s']:g} s budget)")
