"""The command line: every command's help, the main flows, and one clear line for bad input."""

import re
import subprocess
import sys

import h5py
import numpy as np
import pytest
from PIL import Image

from groupbench.cli import main

COMMANDS = sorted(main.commands)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(cli, command):
    result = cli(command, "--help")
    assert result.exit_code == 0 and "Usage: " in result.output and command in result.output


def test_python_dash_m_works():
    result = subprocess.run([sys.executable, "-m", "groupbench", "list"], capture_output=True, text=True, check=True)
    lines = result.stdout.splitlines()
    assert any(line.startswith("shapes-v1 ") for line in lines) and any(line.startswith("tetris-v1 ") for line in lines)


def test_generate_info_validate_show(cli, tmp_path):
    out = tmp_path / "s.h5"
    result = cli("generate", "shapes-v1", "--out", str(out), "--seed", "3", "--n-train", "40", "--n-valid", "0",
                 "--n-test", "20", "--n-single", "10", "--param", "num_objects=4", "--workers", "2")
    assert result.exit_code == 0, result.output
    info = cli("info", str(out))
    assert "shapes-v1" in info.output and "seed 3" in info.output and '"num_objects": 4' in info.output
    splits = [line.split()[0] for line in info.output.splitlines()[2:]]
    assert splits == ["train", "test", "single"] and "objects 4-4" in info.output
    assert cli("validate", str(out)).output.startswith("ok: ")
    png = tmp_path / "grid.png"
    assert cli("show", str(out), "--split", "test", "--n", "6", "--out", str(png)).exit_code == 0
    assert Image.open(png).size[0] > 200


def test_shard_and_merge_from_the_command_line(cli, tmp_path):
    args = ["tetris-v1", "--n-train", "50", "--n-valid", "20", "--n-test", "20"]
    for k in (1, 2):
        assert cli("generate", *args, "--shard", f"{k}/2", "--out", str(tmp_path / f"p{k}.h5")).exit_code == 0
    assert cli("merge", str(tmp_path / "p2.h5"), str(tmp_path / "p1.h5"), "--out", str(tmp_path / "m.h5")).exit_code == 0
    assert cli("generate", *args, "--out", str(tmp_path / "w.h5")).exit_code == 0
    with h5py.File(tmp_path / "m.h5") as merged, h5py.File(tmp_path / "w.h5") as whole:
        assert merged.attrs["digests"] == whole.attrs["digests"]
        np.testing.assert_array_equal(merged["train/images"][:], whole["train/images"][:])


def test_demo_runs_end_to_end(cli, tmp_path):
    result = cli("demo", "--out", str(tmp_path / "demo"))
    assert result.exit_code == 0, result.output
    for name in ("shapes-v1.h5", "shapes-v1.png", "tetris-v1.h5", "tetris-v1.png", "shapes-v1-components.json",
                 "shapes-v1-rc.h5", "rc-shapes/best.pt", "rc-shapes/metrics.csv", "leaderboard/README.md", "leaderboard/index.html"):
        assert (tmp_path / "demo" / name).exists()
    board = (tmp_path / "demo" / "leaderboard" / "README.md").read_text()
    assert "Connected components †" in board and "## tetris-v1" in board and "RC †" in board
    rc_ami = float(re.search(r"RC \(autoencoder trained .*?AMI ([0-9.]+)", result.output).group(1))
    assert rc_ami > 0.8  # the quick RC beats connected components (about 0.54) by far


def _run(*args):
    return subprocess.run([sys.executable, "-m", "groupbench", *args], capture_output=True, text=True)


def _foreign(tmp_path):
    path = tmp_path / "foreign.h5"
    with h5py.File(path, "w") as f:
        f["x"] = [1, 2]
    return path


def _truncated(tmp_path):
    path = tmp_path / "t.h5"
    assert _run("generate", "shapes-v1", "--n-train", "300", "--out", str(path)).returncode == 0
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


BAD_INPUT = [
    (lambda t: ["generate", "shape-v1", "--out", str(t / "a.h5")], "did you mean 'shapes-v1'"),
    (lambda t: ["generate", "shapes-v1", "--param", "num_object=2", "--out", str(t / "a.h5")], "did you mean 'num_objects'"),
    (lambda t: ["generate", "shapes-v1", "--param", "num_objects", "--out", str(t / "a.h5")], "expected KEY=VALUE"),
    (lambda t: ["generate", "shapes-v1", "--param", "num_objects=-1", "--out", str(t / "a.h5")], "num_objects must lie"),
    (lambda t: ["generate", "tetris-v1", "--n-single", "5", "--out", str(t / "a.h5")], "has no 'single' split"),
    (lambda t: ["generate", "shapes-v1", "--shard", "3/2", "--out", str(t / "a.h5")], "--shard '3/2'"),
    (lambda t: ["generate", "shapes-v1", "--workers", "0", "--out", str(t / "a.h5")], "--workers must be >= 1"),
    (lambda t: ["generate", "shapes-v1", "--n-train", "5", "--out", "/proc/nope/a.h5"], "cannot write /proc/nope/a.h5"),
    (lambda t: ["validate", str(_truncated(t))], "a damaged or truncated HDF5 file; generate or import it again"),
    (lambda t: ["info", str(_foreign(t))], "not a groupbench file"),
    (lambda t: ["show", str(t / "missing.h5"), "--out", str(t / "g.png")], "no such file"),
    (lambda t: ["generate", "shapes-v1", "--n-train", "99999999999999999999", "--out", str(t / "a.h5")],
     "--n-train 99,999,999,999,999,999,999 is more than a file can hold: at most 1,954,104,245,096,350 samples of shapes-v1"),
    (lambda t: ["generate", "shapes-v1", "--workers", "99999999999999999999", "--out", str(t / "a.h5")],
     "--workers 99999999999999999999 is too many for the"),
    (lambda t: ["info", str(_predictions(t))], "a predictions file, not a dataset ('groupbench score PRED --dataset FILE' scores it)"),
    (lambda t: ["info", str(_npz(t))], "a NumPy file, not a groupbench HDF5 file"),
    (lambda t: ["validate", str(_text(t))], "not an HDF5 file (nor a damaged one)"),
]


def _predictions(tmp_path):
    from groupbench.scoring import write_predictions

    return write_predictions(tmp_path / "pred.h5", np.zeros((3, 28, 28), np.uint8), method="test")


def _npz(tmp_path):
    np.savez(tmp_path / "pred.npz", labels=np.zeros((3, 28, 28), np.uint8))
    return tmp_path / "pred.npz"


def _text(tmp_path):
    (tmp_path / "notes.h5").write_text("not data")
    return tmp_path / "notes.h5"


@pytest.mark.parametrize("make_args, message", BAD_INPUT)
def test_bad_input_gives_one_clear_line(tmp_path, make_args, message):
    result = _run(*make_args(tmp_path))
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_existing_output_is_never_clobbered(cli, tmp_path):
    out = tmp_path / "keep.h5"
    out.write_bytes(b"precious")
    result = _run("generate", "shapes-v1", "--n-train", "10", "--out", str(out))
    assert result.returncode == 1 and "--overwrite" in result.stderr
    assert out.read_bytes() == b"precious"


def test_show_of_a_missing_split(small_file, tmp_path):
    result = _run("show", str(small_file("tetris-v1")), "--split", "single", "--out", str(tmp_path / "g.png"))
    assert result.returncode == 1 and "no split 'single' (splits: train, valid, test)" in result.stderr


@pytest.mark.parametrize("dataset_id", ["tetris-v1", "bars-v1"])
def test_preview_headings_and_a_ground_truth_no_dataset_draws_like(small_file, tmp_path, cli, dataset_id):
    """Each pair is headed "image | ground truth"; the ground truth has a light background, its own
    palette (no colour of the dataset's images) and hatched overlap (binary foreground is white)."""
    from groupbench.data import SplitReader
    from groupbench.preview import GROUND_BACKGROUND, HATCH, HEADING_HEIGHT, PALETTE

    path = small_file(dataset_id)
    assert cli("show", str(path), "--n", "4", "--out", str(tmp_path / "g.png")).exit_code == 0
    picture = np.array(Image.open(tmp_path / "g.png").convert("RGB"))
    with SplitReader(path, "test") as reader:
        data = reader[:]
    h, w, c = data["images"].shape[1:]
    scale = 128 // w
    gap, panel = 2 * scale, w * scale
    top, truth_left = HEADING_HEIGHT + gap, gap + panel + 1
    image = picture[top : top + panel : scale, gap : gap + panel : scale]
    truth = picture[top : top + panel : scale, truth_left : truth_left + panel : scale]
    np.testing.assert_array_equal(image, np.repeat(data["images"][0], 3 // c, axis=-1))
    labels, overlap = data["labels"][0], data["overlap"][0]
    assert (truth[labels == 0] == GROUND_BACKGROUND).all()
    plain = (labels > 0) & ~overlap
    assert (truth[plain] == PALETTE[(labels[plain] - 1) % len(PALETTE)]).all()
    hatched = picture[top : top + panel, truth_left : truth_left + panel][overlap.repeat(scale, 0).repeat(scale, 1)]
    assert len(hatched) == 0 or {tuple(x) for x in np.unique(hatched, axis=0)} == {tuple(HATCH[0]), tuple(HATCH[1])}
    if dataset_id == "bars-v1":
        assert overlap.any()
    shown = {tuple(x) for x in np.unique(truth.reshape(-1, 3), axis=0)}
    dataset_colours = {tuple(x) for x in np.unique(np.repeat(data["images"], 3 // c, axis=-1).reshape(-1, 3), axis=0)}
    assert not shown & dataset_colours
    for left in (gap, truth_left):  # a heading (light text) above both panels
        assert (picture[:HEADING_HEIGHT, left : left + panel] > 150).any()


def test_show_picks_a_split_the_file_holds(tmp_path, cli):
    path = tmp_path / "no-test.h5"
    assert cli("generate", "shapes-v1", "--n-train", "20", "--n-valid", "0", "--n-test", "0", "--n-single", "5",
               "--out", str(path)).exit_code == 0
    result = cli("show", str(path), "--out", str(tmp_path / "g.png"))
    assert result.exit_code == 0 and result.output.strip() == f"wrote {tmp_path / 'g.png'}: split train"
