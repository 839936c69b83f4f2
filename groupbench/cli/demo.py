"""``groupbench demo``: the main job on the embedded default, end to end, in a minute or so.

Generates small Shapes and Tetris sets, validates them, writes previews, segments the test split
with the connected-components baseline, trains a quick Reconstruction Clustering (RC) autoencoder
on the Shapes single-object images (CPU, well under two minutes) and segments with it, scores both
with the papers' conventions, submits the scores to a local leaderboard (next to the papers'
reported numbers, which groupbench ships) and renders that board.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click

from groupbench.cli import main

DEMO_RC_EPOCHS = 40
"""Epochs of the demo's RC autoencoder (the preset trains up to 500, with early stopping)."""

DEMO_SETS = {
    "shapes-v1": {"train": 2000, "valid": 500, "test": 1000, "single": 3000},
    "tetris-v1": {"train": 2000, "valid": 500, "test": 1000},
}
"""Small versions of the datasets the demo generates (full sizes: 'groupbench list -v')."""


@main.command()
@click.option("--out", default="groupbench-demo", show_default=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--seed", type=int, default=None, help="Seed for every dataset (default: each dataset's own).")
def demo(out, seed) -> None:
    """Generate, validate and preview small Shapes and Tetris sets, segment, score, submit and render a local board."""
    from groupbench.baselines.components import connected_components
    from groupbench.data import SplitReader
    from groupbench.format import validate
    from groupbench.generation import generate
    from groupbench.leaderboard import open_board
    from groupbench.leaderboard.render import render
    from groupbench.leaderboard.submit import entry_from_results
    from groupbench.preview import save_preview
    from groupbench.scoring import score_file, write_predictions
    from groupbench.writer import atomic_output

    folder = Path(out)
    board = open_board(folder / "leaderboard", create=True)  # the demo's own local board
    if board.entries_dir.is_dir():
        shutil.rmtree(board.entries_dir)  # the demo's board holds this run only
    for dataset_id, sizes in DEMO_SETS.items():
        path = folder / f"{dataset_id}.h5"
        generate(dataset_id, path, seed=seed, sizes=sizes, overwrite=True)
        meta = validate(path)
        preview = save_preview(path, "test", folder / f"{dataset_id}.png", overwrite=True)
        click.echo(f"{dataset_id}: {sum(sizes.values()):,} samples -> {path} (valid; test sha256 {meta['digests']['test'][:16]}), preview {preview}")
        with SplitReader(path, "test") as reader:
            labels = connected_components(reader.group["images"][:])
        predictions = write_predictions(folder / f"{dataset_id}-components.h5", labels, method="connected components", dataset=dataset_id, split="test")
        results, _ = score_file(predictions, path)
        with atomic_output(folder / f"{dataset_id}-components.json") as tmp:
            tmp.write_text(json.dumps(results, indent=2) + "\n")
        scores = ", ".join(f"{name.upper()} {m['mean']:.3f}" for name, m in results["metrics"].items())
        click.echo(f"  connected components on the test split: {scores} (background and overlap left out, AMI max)")
        entry = entry_from_results(
            [results], method="Connected components", variant="4-connected, same colour support", kind="baseline",
            source="reproduced", unofficial=True, compute={"device": "cpu"},
            notes="groupbench demo: a small test split, so not the official data",
        )
        board.add(entry)
        if dataset_id == "shapes-v1":
            _quick_rc(path, folder, board)
    markdown, page = render(board)
    reported = sum(entry["source"]["type"] == "reported" for _, entry in board.entries(reported=True))
    click.echo(f"leaderboard: {len(board.entries())} entries of this run next to the {reported} numbers the papers report "
               f"-> {markdown}, {page}")
    click.echo(f"done: see {folder}/ ('groupbench info {folder}/shapes-v1.h5' describes a file)")


def _quick_rc(dataset: Path, folder: Path, board) -> None:
    """Train the rc-shapes autoencoder briefly on the demo's single-object images, segment the test split, score, submit."""
    import time

    from groupbench.baselines import runs
    from groupbench.leaderboard.submit import entry_from_results
    from groupbench.scoring import score_file

    run = folder / "rc-shapes"
    if run.exists():
        shutil.rmtree(run)  # train afresh: the demo's data may have another seed than last time
    started = time.perf_counter()
    summary = runs.train("rc-shapes", run, datasets=[dataset], changes={"max_epochs": DEMO_RC_EPOCHS, "device": "cpu", "threads": 1},
                         progress=False, echo=click.echo)
    predictions = runs.predict(run, dataset, folder / "shapes-v1-rc.h5", device="cpu")
    results, _ = score_file(predictions, dataset)
    seconds = time.perf_counter() - started
    scores = ", ".join(f"{name.upper()} {m['mean']:.3f}" for name, m in results["metrics"].items())
    click.echo(f"  RC (autoencoder trained {summary['epochs']} epochs on {summary['train_images']:,} single shapes, "
               f"{summary['wall_time_s']:.0f} s on {summary['device']}; soft RC, K=3, 10 iterations): {scores}")
    entry = entry_from_results(
        [results], method="RC", variant=f"single-object DAE, soft RC, K=3, 10 iterations [budget: {summary['epochs']} epochs]",
        kind="baseline", source="reproduced", unofficial=True,
        compute={"device": summary["device"], "wall_time_s": round(seconds, 1), "steps": summary["steps"]},
        notes="groupbench demo: the rc-shapes preset with a short training budget on a small Shapes set",
    )
    board.add(entry)
