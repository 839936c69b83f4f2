"""``groupbench leaderboard``: submit results and render the board."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from groupbench.cli import main
from groupbench.errors import GroupbenchError

BOARD_OPTION = click.option(
    "--board", default="leaderboard", show_default=True, type=click.Path(file_okay=False), help="Board folder."
)
CREATE_OPTION = click.option("--create", is_flag=True, help="Start a new board when the --board folder does not exist.")


@main.group()
def leaderboard() -> None:
    """Add entries to a leaderboard and render it (README.md and index.html)."""


def _load_results(path: str) -> Any:
    """The JSON of a results file of 'groupbench score --out' (`entry_from_results` validates it)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise GroupbenchError(f"{path}: cannot read results JSON ({exc})") from None


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
@click.option("--budget", default=None, help="Compute: the budget that stopped training early, e.g. '900 steps (1.15 epochs)'.")
@click.option("--paper-result", default=None, metavar="METRIC=MEAN[+-STD]",
              help="The paper's number this reproduces, e.g. 'ami=0.929' or 'ari=0.992+-0.004': the board shows the difference.")
@click.option("--paper-reference", default=None, help="Where --paper-result is printed (paper, table).")
@BOARD_OPTION
@CREATE_OPTION
def submit(files, method, variant, kind, source, paper, code, submitter, dataset, split, unofficial, device, wall_time, steps,
           budget, paper_result, paper_reference, board, create) -> None:
    """Add one entry from FILES: results JSONs of 'groupbench score', or predictions files (with --dataset),
    which are scored under the dataset's protocol (or on --split, for a configuration without one).

    Several files are several training seeds of one configuration. FILES may instead be complete
    entries (e.g. those 'groupbench gpu-suite' writes): each is validated and added as it is.
    """
    from groupbench import protocols
    from groupbench.leaderboard.board import open_board
    from groupbench.leaderboard.submit import entry_from_results
    from groupbench.scoring import score_file

    target = open_board(board, create=create)
    _refuse_repeats(files)
    entries = [entry for entry in map(_load_entry, files) if entry is not None]
    if entries:
        if len(entries) != len(files):
            raise GroupbenchError("FILES mix complete entries with results or predictions; submit them separately")
        for entry in entries:
            click.echo(f"added {target.add(entry)}{'' if entry['dataset']['official'] else ' (unofficial data)'}")
        return
    if method is None:
        raise GroupbenchError("--method is required to make an entry from results or predictions files")
    paper_result = _paper_result(paper_result, paper_reference)
    results = []
    for path in files:
        if path.endswith(".json"):
            results.append(_load_results(path))
        elif dataset is None:
            raise GroupbenchError(f"{path} looks like predictions; pass --dataset FILE to score it (or give results JSON)")
        else:
            results.append(_score_under_protocol(path, dataset, split, protocols, score_file))
    compute = {k: v for k, v in (("device", device), ("wall_time_s", wall_time), ("steps", steps), ("budget", budget)) if v is not None}
    entry = entry_from_results(
        results, method=method, variant=variant, kind=kind, source=source, paper=paper, code=code,
        submitter=submitter, unofficial=unofficial, compute=compute or None, paper_result=paper_result, names=list(files),
    )
    path = target.add(entry)
    official = "" if entry["dataset"]["official"] else " (unofficial data)"
    click.echo(f"added {path}{official}")


def _score_under_protocol(path: str, dataset: str, split: str, protocols, score_file) -> dict:
    from groupbench.format import file_metadata, open_file

    with open_file(dataset) as handle:
        meta = file_metadata(handle)
    if protocols.find(meta["dataset"], meta["params"]) is None:
        return score_file(path, dataset, split=split)[0]
    return protocols.score(path, dataset)[0]


def _refuse_repeats(files) -> None:
    """Each file once: the same file twice would count one training seed as two."""
    seen: dict[Path, str] = {}
    for path in files:
        key = Path(path).resolve()
        if key in seen:
            same = "is given twice" if seen[key] == path else f"is {seen[key]} again"
            raise GroupbenchError(f"{path} {same}; each file is one training seed")
        seen[key] = path


def _paper_result(text: str | None, reference: str | None) -> dict | None:
    import math

    from groupbench.metrics import METRICS
    from groupbench.scoring import parse_metric_key

    if text is None:
        if reference is not None:
            raise GroupbenchError("--paper-reference goes with --paper-result METRIC=MEAN")
        return None
    metric, _, value = text.partition("=")
    mean, _, std = value.partition("+-")
    usage = f"--paper-result takes METRIC=MEAN or METRIC=MEAN+-STD, e.g. ami=0.929; got {text!r}"
    try:
        result = {"metric": metric.strip(), "mean": float(mean), "std": float(std) if std else None}
    except ValueError:
        raise GroupbenchError(usage) from None
    if not result["metric"]:
        raise GroupbenchError(f"{usage}: the metric name is missing")
    if parse_metric_key(result["metric"])[0] not in METRICS:
        raise GroupbenchError(f"--paper-result: unknown metric {result['metric']!r}; the scores are {', '.join(METRICS)} "
                              "(sequences: e.g. ami/per-frame/skip-first)")
    if not (math.isfinite(result["mean"]) and -1 <= result["mean"] <= 1):
        raise GroupbenchError(f"{usage}: the mean must be a score between -1 and 1")
    if result["std"] is not None and not (math.isfinite(result["std"]) and result["std"] >= 0):
        raise GroupbenchError(f"{usage}: the std must be a number of at least 0")
    if not reference:
        raise GroupbenchError("--paper-result needs --paper-reference (the paper and table it is printed in)")
    return {**result, "reference": reference}


@leaderboard.command()
@click.argument("entry", type=click.Path(dir_okay=False, exists=True))
@click.argument("predictions", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--dataset", required=True, type=click.Path(dir_okay=False), help="The data the entry was scored on.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True, help="Where to compute.")
def rescore(entry, predictions, dataset, device) -> None:
    """Rescore ENTRY (a file in BOARD/entries) under its dataset's protocol from the PREDICTIONS it was
    scored from (one file per seed; their digests are checked), in place of the old entry."""
    from groupbench.leaderboard import Board
    from groupbench.leaderboard.board import validate_entry
    from groupbench.leaderboard.submit import rescore_entry

    path = Path(entry)
    try:
        old = json.loads(path.read_text())
    except ValueError as exc:
        raise GroupbenchError(f"{path}: not valid JSON ({exc})") from None
    validate_entry(old, str(path))
    new = rescore_entry(old, list(predictions), dataset, device=device)
    written = Board(path.parent.parent).replace(path, new)
    shown = ", ".join(f"{name} {m['mean']:.4f}" for name, m in new["metrics"].items())
    click.echo(f"rescored under the {new['protocol']} protocol on {new['dataset']['images']:,} images: {written} ({shown})")


@leaderboard.command("protocols")
def list_protocols() -> None:
    """List the protocol of every dataset configuration: images, ranking score, conventions."""
    from groupbench import protocols

    for label, protocol in protocols.PROTOCOLS.items():
        click.echo(f"{label}: {protocol.name}: {protocol.describe()}")


@leaderboard.command()
@BOARD_OPTION
@CREATE_OPTION
def render(board, create) -> None:
    """Write BOARD/README.md and BOARD/index.html from the entries."""
    from groupbench.leaderboard.board import open_board
    from groupbench.leaderboard.render import render as run

    markdown, page = run(open_board(board, create=create))
    click.echo(f"wrote {markdown} and {page}")
