"""Progress: a tqdm bar on a terminal, log lines with count, rate and ETA elsewhere, from every long
dataset command."""

from __future__ import annotations

import sys

import pytest
from tqdm.auto import tqdm

from groupbench import progress
from groupbench.generation import Shard, generate
from groupbench.progress import LogProgress, progress_bar


@pytest.fixture
def clock(monkeypatch):
    """Set the clock the progress reports read: clock(seconds)."""
    now = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])

    def set_to(seconds: float) -> None:
        now[0] = seconds

    return set_to


def test_log_lines_give_count_rate_and_eta(clock, capsys):
    clock(0)
    bar = LogProgress(1000, "generate tetris-v1", "img", interval=30)
    clock(10)
    bar.update(100)  # within the interval: silent
    clock(40)
    bar.update(300)
    clock(45)
    bar.update(100)
    clock(100)
    bar.update(100)
    clock(130)
    bar.close()
    assert capsys.readouterr().err.splitlines() == [
        "generate tetris-v1: 400/1,000 img (40%), 10 img/s, ETA 1m00s",
        "generate tetris-v1: 600/1,000 img (60%), 6 img/s, ETA 1m07s",
        "generate tetris-v1: done, 600 img in 2m10s (5 img/s)",
    ]


def test_short_work_stays_silent_and_a_failure_says_no_done(clock, capsys):
    clock(0)
    with LogProgress(10, "merge", "img", interval=30) as bar:
        bar.update(10)
    with pytest.raises(KeyboardInterrupt):
        with LogProgress(None, "show", "frame", interval=0) as bar:
            clock(3600 * 2 + 60)
            bar.update(7)
            raise KeyboardInterrupt
    assert capsys.readouterr().err.splitlines() == ["show: 7 frame, 0 frame/s"]


def test_the_kind_of_report_follows_stderr(monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    bar, off = progress_bar(5, "x", show=None), progress_bar(5, "x", show=False)
    assert isinstance(bar, tqdm) and not bar.disable and isinstance(off, tqdm) and off.disable
    bar.close()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert isinstance(progress_bar(5, "x", show=None), LogProgress) and isinstance(progress_bar(5, "x", show=True), LogProgress)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shards")
    sizes = {"train": 200, "valid": 40, "test": 40}
    return [generate("tetris-v1", folder / f"p{k}.h5", sizes=sizes, shard=Shard(k, 2), progress=False) for k in (1, 2)]


@pytest.mark.parametrize("command, desc, unit", [
    (["generate", "tetris-v1", "--n-train", "200", "--n-valid", "40", "--n-test", "40"], "generate tetris-v1", "img"),
    (["merge", "SHARDS"], "merge", "img"),
    (["export", "DATA", "--layout", "nem"], "export nem", "img"),
    (["show", "SEQUENCES"], "show flying-shapes-v1.h5", "frame"),
])
def test_commands_report_progress_in_a_log(cli, monkeypatch, small_file, shards, tmp_path, command, desc, unit):
    """Off a terminal (the test runner's stderr is not one) every long command writes progress lines."""
    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 0.0)
    out = tmp_path / ("out.gif" if command[0] == "show" else "out.h5")
    args = []
    for arg in command:
        args += {"SHARDS": list(map(str, shards)), "DATA": [str(small_file("tetris-v1"))],
                 "SEQUENCES": [str(small_file("flying-shapes-v1"))]}.get(arg, [arg])
    result = cli(*args, "--out", str(out))
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith(f"{desc}: ") for line in lines), result.stderr
    assert f" {unit}/s, ETA " in lines[0] and lines[-1].startswith(f"{desc}: done, ")


def test_hashing_a_source_file_reports_progress(monkeypatch, tmp_path, capsys):
    """The importers hash their source (10.5 GB for CLEVR) before reading it: that pass shows progress too."""
    import hashlib

    from groupbench.downloads import sha256_file

    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 0.0)
    source = tmp_path / "clevr.tfrecords"
    source.write_bytes(bytes(range(256)) * 12_000)  # 3 MiB minus a little: 3 blocks
    assert sha256_file(source, progress=None) == hashlib.sha256(source.read_bytes()).hexdigest()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("sha256 clevr.tfrecords: 1/3 MiB (33%)") and lines[-1].startswith("sha256 clevr.tfrecords: done, 3 MiB")
    assert sha256_file(source) == hashlib.sha256(source.read_bytes()).hexdigest() and not capsys.readouterr().err  # quiet by default


def test_train_reports_progress_and_validations_in_a_log(cli, monkeypatch, small_file, tmp_path):
    """`train` into a log file used to print nothing for minutes: now step counts with rate and ETA
    (to the step budget), each validation, and the end."""
    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 0.0)
    out = tmp_path / "run"
    result = cli("train", "rc-shapes", "--dataset", str(small_file("shapes-v1")), "--out", str(out), "--device", "cpu",
                 "--max-steps", "6", "--set", "hidden=20", "--set", "batch_size=10", "--set", "metric_images=0")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    steps = [line for line in lines if line.startswith("train run: ")]
    assert steps and " step/s, ETA " in steps[0] and "/6 step (" in steps[0] and steps[-1].startswith("train run: done, 6 step")
    assert any(line.startswith("epoch 1 step 6: valid loss ") for line in lines), lines


def test_ctrl_c_on_train_says_how_to_resume(cli, monkeypatch, small_file, tmp_path):
    from groupbench.baselines import runs

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runs, "train", interrupted)
    args = ["train", "rc-shapes", "--dataset", str(small_file("shapes-v1")), "--out", str(tmp_path / "run"), "--device", "cpu"]
    result = cli(*args)
    assert result.exit_code == 130 and "interrupted: no checkpoint was taken yet; run the same command again" in result.stderr
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"")
    result = cli(*args)
    assert result.exit_code == 130 and "checkpoint.pt holds the last checkpoint" in result.stderr
    assert "run the same command again to resume from it" in result.stderr
