"""Run folders and the baseline commands under bad input: damaged files, numbers out of range, outputs
that would replace an input or a file of the run, a full disk. Each is refused in one line, exit 1,
no traceback, and nothing the user gave is changed."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from groupbench.baselines import runs


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_file):
    """(dataset, a trained rc-shapes run folder) made once; tests copy the run before damaging it."""
    dataset = small_file("shapes-v1")
    run = tmp_path_factory.mktemp("runs") / "run"
    runs.train("rc-shapes", run, datasets=[dataset], changes={"max_steps": 3, "device": "cpu", "hidden": 20}, progress=False)
    return dataset, run


def _copy(run, tmp_path):
    target = tmp_path / "run"
    shutil.copytree(run, target)
    return target


def _digests(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_damaged_run_folder_is_refused_in_one_line(cli, refused, trained, tmp_path):
    dataset, run = trained
    truncated = _copy(run, tmp_path / "a")
    data = (truncated / "best.pt").read_bytes()
    (truncated / "best.pt").write_bytes(data[: len(data) // 2])
    refused(cli("predict", str(truncated), "--dataset", str(dataset), "--out", str(tmp_path / "p.h5"), "--device", "cpu"),
            "best.pt cannot be read (damaged or truncated")
    broken = _copy(run, tmp_path / "b")
    (broken / "config.json").write_text("{not json")
    refused(cli("predict", str(broken), "--dataset", str(dataset), "--out", str(tmp_path / "p.h5"), "--device", "cpu"),
            "config.json is damaged")
    refused(cli("train", "rc-shapes", "--out", str(broken), "--dataset", str(dataset), "--device", "cpu", "--max-steps", "4"),
            "config.json is damaged")
    foreign = _copy(run, tmp_path / "c")
    (foreign / "config.json").write_text('{"a": 1}')
    refused(cli("predict", str(foreign), "--dataset", str(dataset), "--out", str(tmp_path / "p.h5"), "--device", "cpu"),
            "is not a run's configuration")
    checkpoint = _copy(run, tmp_path / "d")
    (checkpoint / "checkpoint.pt").write_bytes(b"\x00" * 100)
    refused(cli("train", "rc-shapes", "--out", str(checkpoint), "--dataset", str(dataset), "--device", "cpu", "--max-steps", "4",
                "--set", "hidden=20"), "checkpoint.pt cannot be read")
    assert not (tmp_path / "p.h5").exists()


@pytest.mark.parametrize("args, message", [
    (["--k", "-2"], "--k must be at least 1; got -2"),
    (["--k", "0"], "--k must be at least 1; got 0"),
    (["--limit", "-1"], "--limit must be at least 1; got -1"),
    (["--limit", "0"], "--limit must be at least 1; got 0"),
    (["--seed", "-1"], "--seed must be at least 0; got -1"),
])
def test_predict_refuses_numbers_out_of_range(cli, refused, trained, tmp_path, args, message):
    dataset, run = trained
    refused(cli("predict", str(run), "--dataset", str(dataset), "--out", str(tmp_path / "p.h5"), "--device", "cpu", *args), message)
    assert not (tmp_path / "p.h5").exists()


@pytest.mark.parametrize("args, message", [
    (["--max-steps", "-1"], "max_steps must be at least 0; got -1"),
    (["--max-epochs", "-1"], "max_epochs must be at least 1; got -1"),
    (["--max-epochs", "0"], "max_epochs must be at least 1; got 0"),
    (["--seed", "-1"], "seed must be at least 0; got -1"),
    (["--set", "k=-1"], "k must be at least 1; got -1"),
    (["--set", "batch_size=0"], "batch_size must be at least 1; got 0"),
    (["--set", "lr=0"], "lr must be positive; got 0"),
])
def test_train_refuses_numbers_out_of_range(cli, refused, small_file, tmp_path, args, message):
    refused(cli("train", "rc-shapes", "--out", str(tmp_path / "run"), "--dataset", str(small_file("shapes-v1")), "--device", "cpu",
                *args), message)
    assert not (tmp_path / "run").exists()  # refused before any work: no run folder, no summary.json with Infinity


@pytest.mark.parametrize("seeds", ["0", "-1"])
def test_reproduce_refuses_no_seeds(cli, refused, small_file, tmp_path, seeds):
    refused(cli("reproduce", "rc-shapes", "--seeds", seeds, "--dataset", str(small_file("shapes-v1")), "--no-submit",
                "--out", str(tmp_path / "runs"), "--device", "cpu"), f"--seeds must be at least 1; got {seeds}")


def test_outputs_never_replace_the_dataset_or_a_file_of_the_run(cli, refused, trained, tmp_path):
    dataset, run = trained
    folder = _copy(run, tmp_path)
    data = tmp_path / "data.h5"
    shutil.copy(dataset, data)
    before, data_before = _digests(folder), _digests(tmp_path / "data.h5")
    predict = ["predict", str(folder), "--dataset", str(data), "--device", "cpu", "--overwrite", "--out"]
    refused(cli(*predict, str(data)), "is also an input of this command; inputs are never overwritten")
    for name in ("best.pt", "config.json", "metrics.csv", "checkpoint.pt"):
        refused(cli(*predict, str(folder / name)), "is also an input of this command")
    for name in ("config.json", "best.pt"):
        refused(cli("curves", str(folder), "--overwrite", "--out", str(folder / name)), "is also an input of this command")
    assert _digests(folder) == before and _digests(tmp_path / "data.h5") == data_before


def test_predict_and_curves_follow_the_overwrite_rule(cli, refused, trained, tmp_path):
    dataset, run = trained
    for args in (["predict", str(run), "--dataset", str(dataset), "--device", "cpu"], ["curves", str(run)]):
        out = tmp_path / f"{args[0]}.out"
        out.write_bytes(b"keep")
        refused(cli(*args, "--out", str(out)), f"{out} exists; pass --overwrite to replace it or choose another --out")
        assert out.read_bytes() == b"keep"
        assert cli(*args, "--out", str(out), "--overwrite").exit_code == 0 and out.read_bytes() != b"keep"


def test_predict_and_train_on_a_full_disk_are_one_line(groupbench_process, refused, trained, tmp_path):
    """Writes beyond a file-size limit fail as on a full disk: predict used to segfault in HDF5, train
    to end in torch.save's traceback; now one line, and nothing left under the output's name."""
    dataset, run = trained
    out = tmp_path / "p.h5"
    result = groupbench_process("predict", run, "--dataset", dataset, "--out", out, "--device", "cpu", "--soft-masks",
                                file_size_limit=4096)
    refused(result, f"cannot write {out}: File too large; free some space or write elsewhere")
    assert not out.exists() and not list(tmp_path.glob(".p.h5*"))
    result = groupbench_process("train", "rc-shapes", "--out", tmp_path / "new", "--dataset", dataset, "--device", "cpu",
                                "--max-steps", "2", "--set", "hidden=400", file_size_limit=64 * 1024)
    refused(result, "File too large; free some space or write elsewhere")
