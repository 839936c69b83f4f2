"""Baseline commands: presets, train, predict, reproduce, curves (RC, N-EM, RNN-EM, IODINE, Slot Attention; docs/baselines.md)."""

from __future__ import annotations

import dataclasses
import json

import click

from groupbench.cli import OVERWRITE_OPTION, main

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
@click.argument("names", metavar="[PRESET]...", nargs=-1)
@click.option("-v", "--verbose", is_flag=True, help="Every preset's page (as 'groupbench presets PRESET' shows one).")
def list_presets(names, verbose) -> None:
    """The baseline presets, one per experiment of the RC, N-EM, IODINE and Slot Attention papers; with
    PRESET, its page: what it trains, its paper, how it is scored, what a run costs, every field."""
    from groupbench.baselines.presets import get, presets

    listed = [get(name) for name in names] if names else presets()
    if names or verbose:
        for index, preset in enumerate(listed):
            if index:
                click.echo("")
            _preset_page(preset)
        return
    widths = [max(len(getattr(p, field)) for p in listed) for field in ("name", "method", "dataset")]
    click.echo(f"{'preset':<{widths[0]}}  {'method':<{widths[1]}}  {'data':<{widths[2]}}  paper's number")
    for preset in listed:
        reported = ", ".join(f"{m} {v:.3f}" for m, v in preset.reported.items()) or "none (not in the paper)"
        click.echo(f"{preset.name:<{widths[0]}}  {preset.method:<{widths[1]}}  {preset.dataset:<{widths[2]}}  {reported}")
    click.echo("\n'groupbench presets PRESET' shows a preset's page: its paper, scoring, cost and every field.")


def _preset_page(preset) -> None:
    """One preset's page: headed sections, then its fields with the preset's own marked."""
    from groupbench.baselines import costs
    from groupbench.baselines.presets import algorithm

    click.echo(f"{preset.name}: {preset.description}")
    reported = ", ".join(f"{m} {v:.3f}" for m, v in preset.reported.items()) or "none (no number in the paper)"
    click.echo(f"  method:    {preset.method} ({preset.paper}); the paper's number: {reported}")
    params = ", ".join(f"{k}={v!r}" for k, v in preset.params.items())
    click.echo(f"  data:      {preset.dataset}{f' [{params}]' if params else ''}"
               + (f"; offline data with the same task: {preset.offline} (--dataset FILE)" if preset.offline else ""))
    c = preset.conventions
    frames = f", frames {' and '.join(c.frames)}" if c.frames != ("all",) else ""
    first = f"the first {preset.score_images:,} test images" if preset.score_images else "the whole test split"
    click.echo(f"  scoring:   {first}; pixels {c.pixels}, AMI normaliser {c.average_method}{frames} (reproduce scores under the "
               "dataset's protocol: 'groupbench leaderboard protocols')")
    for i, stage in enumerate(preset.stages, 1):
        click.echo(f"  stage {i}:   {stage.name}: dataset params {stage.params or 'default'}, changes {stage.changes or 'none'}")
    lines = costs.describe(preset)
    click.echo(f"  cost:      {lines[0]}")
    for line in lines[1:]:
        click.echo(f"             {line}")
    config = preset.config()
    fields = dataclasses.fields(algorithm(preset.algorithm).Config)
    width = max(len(f.name) for f in fields)
    click.echo(f"  fields (* = set by this preset; the others are {preset.method}'s defaults; change any with --set FIELD=VALUE):")
    for f in fields:
        mark = "*" if f.name in preset.fields else " "
        click.echo(f"   {mark} {f.name:<{width}} = {getattr(config, f.name)!r}: {f.metadata.get('doc', '')}")


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
    try:
        summary = runs.train(preset, out, datasets=list(datasets) or None, changes=changes, data_dir=data_dir,
                             progress=progress, echo=echo)
    except KeyboardInterrupt:
        from pathlib import Path

        saved = Path(out) / "checkpoint.pt"
        where = (f"{saved} holds the last checkpoint (taken every checkpoint_every steps and at each epoch end)"
                 if saved.exists() else "no checkpoint was taken yet")
        click.echo(f"interrupted: {where}; run the same command again to resume from it", err=True)
        raise SystemExit(130) from None
    echo(_trained(preset, summary, out))


STOPPED = {"max_epochs": "reached max_epochs", "max_steps": "reached max_steps", "max_time": "ran out of time (max_time_s)",
           "early_stopping": "early stopping (the validation loss stopped improving)"}
"""What ended a run, as `train`'s last line says it."""


def _trained(preset: str, summary: dict, out) -> str:
    """`train`'s last line. Epochs are numbered from 1, as in metrics.csv and summary.json ("epoch N"
    is the N-th); how much training was done is a count of epochs, fractional when a budget ended it."""
    stages = summary.get("stages") or [summary]
    last = stages[-1]
    stage = f"stage {len(stages)} " if len(stages) > 1 else ""
    done = sum(s["images_seen"] / s["train_images"] for s in stages)
    best = (f"best validation loss {summary['best_valid_loss']:.5g} in {stage}epoch {last['best_epoch']}"
            if last.get("best_epoch") is not None else "no validation yet")
    return (f"{preset}: {STOPPED.get(summary['stopped'], summary['stopped'])} in {stage}epoch {last['epoch']}, after "
            f"{summary['steps']:,} steps ({done:.3g} epochs of training), {summary['wall_time_s']:.0f} s on {summary['device']}; "
            f"{best} -> {out}/")


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
@OVERWRITE_OPTION
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal; log lines otherwise).")
def predict(run, dataset, split, out, k, limit, seed, soft_masks, device, overwrite, progress) -> None:
    """Segment a split with the trained RUN; write predictions that 'groupbench score' reads."""
    from groupbench.baselines import runs

    path = runs.predict(run, dataset, out, split=split, k=k, limit=limit, seed=seed, device=device or "auto", soft_masks=soft_masks,
                        overwrite=overwrite, progress=progress)
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
@click.option("--create", is_flag=True, help="Start a new board when the --board folder does not exist.")
@click.option("--no-submit", is_flag=True, help="Score only; add nothing to the board.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
def reproduce(preset, seeds, out, datasets, test_dataset, k, device, max_epochs, max_steps, sets, data_dir, board, create,
              no_submit, progress) -> None:
    """Generate the data if needed, train PRESET over seeds, predict, score as the paper did, and add a reproduced entry."""
    from groupbench.baselines import presets, runs
    from groupbench.leaderboard.board import open_board

    if not no_submit:
        open_board(board, create=create)  # before hours of training, not after
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
@OVERWRITE_OPTION
def curves(runs_, out, labels, title, overwrite) -> None:
    """Learning curves of training RUN folders in one figure: loss and the validation metric over images seen."""
    from groupbench.baselines.figures import plot_learning_curves
    from groupbench.baselines.runs import run_files
    from groupbench.baselines.training import read_metrics
    from groupbench.errors import GroupbenchError
    from groupbench.writer import check_output

    check_output(out, overwrite=overwrite, inputs=[f for run in runs_ for f in run_files(run)])

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
    reproduce nem-shapes, rnn-em-shapes, rnn-em-flying-shapes, iodine-tetris and slot-attention-tetris within the budget,
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
