"""The GPU suite (`groupbench gpu-suite`) run on the CPU with a tiny budget on tiny data, the way the
GPU machine runs it: from the checkout on PYTHONPATH, without isal, jsonschema, mlxtend and
google-crc32c (blocked here). Checks the report (Markdown and JSON), the entries (valid, carrying
device, steps, wall time and budget, and accepted by `groupbench leaderboard submit`), the data
written without ISA-L (same content digests), and that the command ended within its budget plus a
minute. Also the suite's small pieces: durations, --set, the throughput plan."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from groupbench.baselines import suite
from groupbench.errors import GroupbenchError

ROOT = Path(__file__).resolve().parents[1]
BLOCKED = ("isal", "jsonschema", "mlxtend", "google_crc32c")
BUDGET_S = 75


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory):
    """The suite's output folder after one run on the CPU, with the optional packages blocked."""
    folder = tmp_path_factory.mktemp("suite")
    for name in BLOCKED:  # a package that raises on import stands for one that is not installed
        (folder / "blocked" / name).mkdir(parents=True)
        (folder / "blocked" / name / "__init__.py").write_text("raise ImportError('not installed on the GPU machine')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder / "blocked"), str(ROOT)])}
    command = [sys.executable, "-m", "groupbench", "gpu-suite", "--budget", f"{BUDGET_S}s", "--out", str(folder / "out"),
               "--device", "cpu", "--tiny-data", "--set", "batch_size=4", "--set", "iterations=1", "--set", "hidden=16",
               "--set", "valid_size=16", "--set", "metric_images=16", "--set", "steps=3", "--set", "threads=1"]
    result = subprocess.run(command, env=env, cwd=folder, capture_output=True, text=True, timeout=BUDGET_S + 180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "wrote" in result.stdout and "report.md" in result.stdout
    return folder / "out"


def test_the_suite_reports_every_part_within_its_budget(suite_run):
    report = json.loads((suite_run / "report.json").read_text())
    assert report["wall_time_s"] <= BUDGET_S + suite.OVERRUN_S  # data generation and every part included
    assert set(BLOCKED) <= set(report["machine"]["optional_packages_missing"])
    assert report["machine"]["device"].startswith("cpu (")
    parts = report["parts"]
    metrics = [r for r in parts["checks"]["records"] if r.get("check") == "metric"]
    assert [r["name"] for r in metrics] == [name for name, _, _ in suite.metric_checks()] and all(r["ok"] for r in metrics)
    assert all(r["ok"] for r in parts["checks"]["records"] if r.get("check") == "loss")  # CPU against CPU: equal
    measured = [r for r in parts["throughput"]["records"] if r.get("status") == "measured"]
    assert measured and all(r["steps_per_s"] > 0 and r["batch"] == 4 for r in measured)
    assert not any(r["compiled"] for r in parts["throughput"]["records"] if "compiled" in r)  # auto: compiled on CUDA only
    runs = parts["reproductions"]["runs"]
    assert list(runs) == list(suite.REPRODUCTIONS)
    assert runs["nem-shapes"]["status"] == "done"  # first in order: it always gets its share
    markdown = (suite_run / "report.md").read_text()
    for heading in ("## 1. Checks", "## 2. Throughput", "## 3. Reproductions", "## 4. Entries"):
        assert heading in markdown
    assert report["machine"]["device"] in markdown and "tiny data" in markdown
    assert all(f"| {name} |" in markdown for name in suite.REPRODUCTIONS)


def test_the_entries_are_valid_and_carry_their_budget(suite_run, cli, tmp_path):
    from groupbench.leaderboard import Board
    from groupbench.leaderboard.board import validate_entry

    report = json.loads((suite_run / "report.json").read_text())
    done = {name: run for name, run in report["parts"]["reproductions"]["runs"].items() if run["status"] == "done"}
    paths = sorted((suite_run / "entries").glob("*.json"))
    assert len(paths) == len(done) >= 1
    for name, run in done.items():
        entry = json.loads(Path(run["entry"]).read_text())
        validate_entry(entry)
        assert entry["source"]["type"] == "reproduced" and entry["dataset"]["official"] is False  # tiny data
        device = report["machine"]["device"]  # the same CPU (the runs trained on one thread: threads=1)
        assert entry["compute"]["device"].split(" of a ")[1] == device.split(" of a ")[1] and entry["compute"]["steps"] >= 1
        assert entry["compute"]["wall_time_s"] > 0 and entry["compute"]["steps"] == run["steps"]
        # a run its share of the time stopped says so; one that stopped early (tiny data) is no budget run
        assert ("s time budget]" in entry["variant"]) is (run["stopped"] == "max_time"), (run["stopped"], entry["variant"])
        assert entry["compute"].get("budget", "").endswith("s time budget") is (run["stopped"] == "max_time")
        assert "gpu-suite" in entry["notes"] and "batch_size=4" in entry["notes"]
        ari = next(metric for key, metric in entry["metrics"].items() if key.split("/")[0] == "ari")  # sequences: ari/per-frame
        assert ari["conventions"]["include_overlap"] is name.startswith("iodine")  # each paper's conventions
        assert (Path(run["run"]) / "training.png").exists()
    result = cli("leaderboard", "submit", *map(str, paths), "--board", str(tmp_path / "board"), "--create")
    assert result.exit_code == 0, result.output
    assert len(Board(tmp_path / "board").entries()) == len(paths)


def test_data_written_without_isal_have_the_same_digests(suite_run, tmp_path):
    from groupbench.data import SplitReader
    from groupbench.generation import generate

    sizes = {split: n for split, n in suite.TINY_SIZES.items()}
    reference = generate("shapes-v1", tmp_path / "shapes.h5", sizes=sizes, progress=False)  # this process has isal
    for split in ("train", "test"):
        with SplitReader(suite_run / "data-tiny" / "shapes-v1.h5", split) as a, SplitReader(reference, split) as b:
            assert a.digest == b.digest


def test_the_suite_refuses_a_folder_in_use(suite_run, cli):
    result = cli("gpu-suite", "--out", str(suite_run), "--device", "cpu")
    assert result.exit_code == 1 and "not empty" in result.output and (suite_run / "report.json").exists()


def test_durations_and_changes():
    assert [suite.parse_duration(t) for t in ("600", "90s", "10m", "1m30s", "1h")] == [600, 90, 600, 90, 3600]
    with pytest.raises(GroupbenchError, match="duration"):
        suite.parse_duration("ten minutes")
    assert suite.parse_sets(("batch_size=8", "iterations=2")) == {"batch_size": "8", "iterations": "2"}
    with pytest.raises(GroupbenchError, match="did you mean 'iterations'"):
        suite.parse_sets(("iteration=2",))
    plan = suite.throughput_plan(compile_enabled=True)
    assert plan[:2] == [("nem-shapes", False), ("nem-shapes", True)] and len(plan) == len(set(plan))
    assert {name for name, _ in plan} == set(suite.ordered_presets()) and len(suite.throughput_plan(False)) == len(plan) // 2
