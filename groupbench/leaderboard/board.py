"""The board on disk: one validated JSON file per entry under ``<board>/entries/``, and the papers'
reported numbers, which groupbench ships (``groupbench/leaderboard/reported/``) and every board shows.

Entries are named by a digest of what identifies a result (method, variant, dataset, source,
metric values), so the same result cannot be added twice. Additions take an exclusive lock on
``<board>/.lock`` and write atomically, so concurrent submissions never lose or corrupt an entry.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import re
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

from groupbench.errors import GroupbenchError
from groupbench.writer import atomic_output

SCHEMA_VERSION = "groupbench-entry/1"
DEFAULT_BOARD = Path("leaderboard")
"""The repository's board; commands take --board to use another folder."""


def entry_schema() -> dict[str, Any]:
    """The JSON Schema of an entry (groupbench/leaderboard/entry.schema.json)."""
    return json.loads(resources.files("groupbench.leaderboard").joinpath("entry.schema.json").read_text())


def validate_entry(entry: dict[str, Any], where: str = "entry") -> None:
    """Raise GroupbenchError naming the first problem: schema violations, then cross-field checks."""
    try:
        import jsonschema
    except ImportError:
        raise GroupbenchError("validating leaderboard entries needs jsonschema: pip install jsonschema") from None

    validator = jsonschema.Draft202012Validator(entry_schema())
    error = next(iter(sorted(validator.iter_errors(entry), key=lambda e: list(e.absolute_path))), None)
    if error is not None:
        location = "/".join(map(str, error.absolute_path)) or "(top level)"
        raise GroupbenchError(f"{where}: invalid at {location}: {error.message}")
    for name, metric in entry["metrics"].items():
        values, seeds = metric["values"], metric["seeds"]
        if values is None:
            continue
        if seeds != len(values):
            raise GroupbenchError(f"{where}: metrics/{name} lists {len(values)} values for {seeds} seeds")
        if not math.isclose(metric["mean"], sum(values) / len(values), abs_tol=1e-9):
            raise GroupbenchError(f"{where}: metrics/{name} mean is not the mean of its values")
    if entry["source"]["type"] != "reported" and entry["dataset"]["digest"] is None:
        raise GroupbenchError(f"{where}: a {entry['source']['type']} entry needs the digest of the data it was scored on")


def entry_key(entry: dict[str, Any]) -> str:
    """12 hex digits identifying a result: equal for resubmissions of the same numbers."""
    identity = {
        "method": entry["method"],
        "variant": entry["variant"],
        "dataset": {k: entry["dataset"].get(k) for k in ("id", "params", "split", "digest")},
        "source": entry["source"]["type"],
        "metrics": {name: [m["mean"], m["values"]] for name, m in sorted(entry["metrics"].items())},
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]


def entry_filename(entry: dict[str, Any]) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", f"{entry['dataset']['id']} {entry['method']}".lower()).strip("-")
    return f"{slug}-{entry_key(entry)}.json"


def open_board(root: str | Path = DEFAULT_BOARD, *, create: bool = False) -> "Board":
    """The board in folder ``root``, which must exist unless ``create`` (a misspelt name must not
    start a new, empty board); with ``create`` the folder is made when the first entry or page is written."""
    path = Path(root)
    if path.exists() and not path.is_dir():
        raise GroupbenchError(f"board {str(root)!r}: not a folder")
    if not path.exists() and not create:
        raise GroupbenchError(f"board {str(root)!r}: no such leaderboard folder; pass --create to start a new one")
    return Board(path)


REPORTED = "reported"
"""Folder of `groupbench.leaderboard` holding the numbers the source papers report, one entry each
(installed with the package; tests/test_leaderboard_reported.py traces each to its paper)."""


def reported_entry_files() -> list[Path]:
    """The entry files of the papers' reported numbers shipped with groupbench, sorted by name."""
    folder = Path(str(resources.files("groupbench.leaderboard").joinpath(REPORTED)))
    return sorted(folder.glob("*.json"))


def _read_entry(path: Path) -> dict[str, Any]:
    try:
        entry = json.loads(path.read_text())
    except ValueError as exc:
        raise GroupbenchError(f"{path}: not valid JSON ({exc})") from None
    validate_entry(entry, str(path))
    return entry


class Board:
    """A leaderboard folder: ``entries/*.json``, and the rendered README.md and index.html."""

    def __init__(self, root: str | Path = DEFAULT_BOARD, reported: bool = True):
        """``reported``: whether its tables and pages show the papers' shipped numbers beside its own
        entries (off for a board that must show its own entries only)."""
        self.root = Path(root)
        self.entries_dir = self.root / "entries"
        self.reported = reported

    def entries(self, reported: bool = False) -> list[tuple[Path, dict[str, Any]]]:
        """(path, entry) of every entry of this folder, sorted by file name, each one validated; with
        ``reported``, also the papers' numbers that groupbench ships (`REPORTED`) and the folder does
        not hold itself, so that a board anywhere starts from them (rendering and loading use this)."""
        found = [(path, _read_entry(path)) for path in sorted(self.entries_dir.glob("*.json"))]
        if reported:
            own = {path.name for path, _ in found}
            found += [(path, _read_entry(path)) for path in reported_entry_files() if path.name not in own]
        return found

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.entries_dir.mkdir(parents=True, exist_ok=True)
            handle = open(self.root / ".lock", "a")
        except OSError as exc:
            raise GroupbenchError(f"cannot write to board {self.root}: {exc.strerror or exc}") from None
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def replace(self, old: Path, entry: dict[str, Any]) -> Path:
        """Put ``entry`` in place of the entry file ``old`` (a rescored result), under the lock."""
        validate_entry(entry)
        path = self.entries_dir / entry_filename(entry)
        with self._locked():
            if not old.is_file():
                raise GroupbenchError(f"{old}: no such entry on the board")
            if path.exists() and path != old:
                raise GroupbenchError(f"this result is already on the board as {path}")
            with atomic_output(path) as tmp:
                tmp.write_text(json.dumps(entry, indent=2, sort_keys=True) + "\n")
            if path != old:
                old.unlink()
        return path

    def add(self, entry: dict[str, Any]) -> Path:
        """Validate and add an entry; a duplicate of an existing entry is refused."""
        validate_entry(entry)
        path = self.entries_dir / entry_filename(entry)
        with self._locked():
            if path.exists():
                raise GroupbenchError(f"this result is already on the board as {path}")
            with atomic_output(path) as tmp:
                tmp.write_text(json.dumps(entry, indent=2, sort_keys=True) + "\n")
        return path
