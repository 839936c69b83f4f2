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


def _load_entry(path: str) -> dict | None:
    """The entry a JSON file holds (it names the entry schema), or None for any other file."""
    if not path.endswith(".json"):
        return None
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise GroupbenchError(f"{path}: cannot read JSON ({exc})") from None
    return data if isinstance(data, dict) and "schema" in data else None


@leaderboard.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--method", default=None, help="Method name, e.g. 'Slot Attention' (required unless FILES are entries).")
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

    Several files are several training seeds of one configuration. FILES may instead be complete
    entries (e.g. those 'groupbench gpu-suite' writes): each is validated and added as it is.
    """
    from groupbench.leaderboard import Board
    from groupbench.leaderboard.submit import entry_from_results
    from groupbench.scoring import score_file

    entries = [entry for entry in map(_load_entry, files) if entry is not None]
    if entries:
        if len(entries) != len(files):
            raise GroupbenchError("FILES mix complete entries with results or predictions; submit them separately")
        for entry in entries:
            click.echo(f"added {Board(board).add(entry)}{'' if entry['dataset']['official'] else ' (unofficial data)'}")
        return
    if method is None:
        raise GroupbenchError("--method is required to make an entry from results or predictions files")
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
