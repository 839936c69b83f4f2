"""``groupbench leaderboard``: submit results and render the board."""

from __future__ import annotations

import json
from pathlib import Path

import click

from groupbench.cli import main
from groupbench.errors import GroupbenchError

BOARD_OPTION = click.option(
    "--board", default="leaderboard", show_default=True, type=click.Path(file_okay=False), help="Board folder."
)


@main.group()
def leaderboard() -> None:
    """Add entries to a leaderboard and render it (README.md and index.html)."""


def _load_results(path: str) -> dict:
    try:
        results = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise GroupbenchError(f"{path}: cannot read results JSON ({exc})") from None
    if not isinstance(results, dict) or not {"dataset", "metrics", "conventions"} <= set(results):
        raise GroupbenchError(f"{path}: not a results file of 'groupbench score --out'")
    return results


@leaderboard.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--method", required=True, help="Method name, e.g. 'Slot Attention'.")
@click.option("--variant", default="", help="What distinguishes this configuration.")
@click.option("--kind", type=click.Choice(["baseline", "third-party"]), default="third-party", show_default=True)
@click.option("--source", type=click.Choice(["submitted", "reproduced"]), default="submitted", show_default=True)
@click.option("--paper", default=None, help="Link to the paper.")
@click.option("--code", default=None, help="Link to the code.")
@click.option("--submitter", default=None, help="Who submits.")
@click.option("--dataset", type=click.Path(dir_okay=False), default=None, help="Dataset file, when FILES are predictions.")
@click.option("--split", default="test", show_default=True, help="Split, when FILES are predictions.")
@click.option("--unofficial", is_flag=True, help="Accept data other than the registered standard split, marked as such.")
@click.option("--device", default=None, help="Compute: device the method ran on.")
@click.option("--wall-time", type=float, default=None, help="Compute: training wall time in seconds.")
@click.option("--steps", type=int, default=None, help="Compute: training steps.")
@BOARD_OPTION
def submit(files, method, variant, kind, source, paper, code, submitter, dataset, split, unofficial, device, wall_time, steps, board) -> None:
    """Add one entry from FILES: results JSONs of 'groupbench score', or predictions files (with --dataset).

    Several files are several training seeds of one configuration.
    """
    from groupbench.leaderboard import Board
    from groupbench.leaderboard.submit import entry_from_results
    from groupbench.scoring import score_file

    results = []
    for path in files:
        if path.endswith(".json"):
            results.append(_load_results(path))
        elif dataset is None:
            raise GroupbenchError(f"{path} looks like predictions; pass --dataset FILE to score it (or give results JSON)")
        else:
            results.append(score_file(path, dataset, split=split)[0])
    compute = {k: v for k, v in (("device", device), ("wall_time_s", wall_time), ("steps", steps)) if v is not None}
    entry = entry_from_results(
        results, method=method, variant=variant, kind=kind, source=source, paper=paper, code=code,
        submitter=submitter, unofficial=unofficial, compute=compute or None,
    )
    path = Board(board).add(entry)
    official = "" if entry["dataset"]["official"] else " (unofficial data)"
    click.echo(f"added {path}{official}")


@leaderboard.command()
@BOARD_OPTION
def render(board) -> None:
    """Write BOARD/README.md and BOARD/index.html from the entries."""
    from groupbench.leaderboard import Board
    from groupbench.leaderboard.render import render as run

    markdown, page = run(Board(board))
    click.echo(f"wrote {markdown} and {page}")
