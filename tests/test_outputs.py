"""Writing outputs: the overwrite rule, inputs never overwritten, a failed write (full disk) as one line
with nothing left behind, SIGTERM cleaning up; for every dataset command that writes a file."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from groupbench.errors import GroupbenchError
from groupbench.generation import Shard, generate
from groupbench import writer
from groupbench.writer import atomic_output, check_output, hdf5_output

# --- the mechanism --------------------------------------------------------------------------------


def test_check_output_rule(tmp_path):
    data = tmp_path / "data.h5"
    data.write_bytes(b"input")
    with pytest.raises(GroupbenchError, match="is a directory"):
        check_output(tmp_path, overwrite=True)
    with pytest.raises(GroupbenchError, match="is also an input of this command; inputs are never overwritten"):
        check_output(data, overwrite=True, inputs=[data])
    os.link(data, tmp_path / "hard.h5")
    (tmp_path / "soft.h5").symlink_to(data)
    for alias in ("hard.h5", "soft.h5"):
        with pytest.raises(GroupbenchError, match=f"is the same file as the input {data}"):
            check_output(tmp_path / alias, overwrite=True, inputs=[data])
    with pytest.raises(GroupbenchError, match="exists; pass --overwrite"):
        check_output(data, overwrite=False, inputs=[tmp_path / "other.h5"])
    assert check_output(data, overwrite=True, inputs=[tmp_path / "other.h5", None]) == data
    assert check_output(tmp_path / "new.h5", overwrite=False) == tmp_path / "new.h5"
    assert data.read_bytes() == b"input"


def test_a_failed_write_is_one_line_and_leaves_nothing(tmp_path):
    out = tmp_path / "out.json"
    with pytest.raises(GroupbenchError) as caught:
        with atomic_output(out) as tmp:
            tmp.write_text("partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert str(caught.value) == f"cannot write {out}: No space left on device; free some space or write elsewhere"
    assert os.listdir(tmp_path) == []
    # an OSError about another file (an input that cannot be read) is not a failed write of OUT
    with pytest.raises(FileNotFoundError):
        with atomic_output(out):
            open(tmp_path / "missing.txt")
    assert os.listdir(tmp_path) == []


def test_an_output_appearing_meanwhile_is_kept(tmp_path):
    out = tmp_path / "out.txt"
    with pytest.raises(GroupbenchError, match="created by another program meanwhile"):
        with atomic_output(out, overwrite=False) as tmp:
            tmp.write_text("mine")
            out.write_text("theirs")
    assert out.read_text() == "theirs" and os.listdir(tmp_path) == ["out.txt"]


@pytest.mark.parametrize("fail_at", [1, 3, 6])
def test_hdf5_output_survives_a_disk_that_fills_up(tmp_path, monkeypatch, capfd, fail_at):
    """Writes fail from the fail_at-th on (early, in the middle, at the final flush): HDF5 never sees
    it, the file closes cleanly, the work stops at the next check, one line, nothing left."""
    out = tmp_path / "out.h5"

    class FillingUp(io.FileIO):
        calls = 0

        def write(self, data):
            FillingUp.calls += 1
            if FillingUp.calls >= fail_at:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return super().write(data)

    monkeypatch.setattr(writer, "open", lambda path, mode, buffering: FillingUp(path, "w+"), raising=False)
    blocks = 0
    with pytest.raises(GroupbenchError, match=f"cannot write {out}: No space left on device; free some space"):
        with hdf5_output(out) as handle:
            data = handle.create_dataset("x", shape=(8, 1000), dtype=np.float64, chunks=(1, 1000), compression="gzip")
            for i in range(8):
                data[i] = np.random.default_rng(i).random(1000)
                handle.flush()
                handle.check_written()
                blocks += 1
    assert not data.id.valid and os.listdir(tmp_path) == []
    assert blocks < 8 and capfd.readouterr().err == ""  # stopped early; no HDF5 messages


# --- every dataset command: a full disk, the overwrite rule, inputs --------------------------------


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A small tetris file and its two shards."""
    folder = tmp_path_factory.mktemp("inputs")
    sizes = {"train": 300, "valid": 100, "test": 200}
    return {
        "data": generate("tetris-v1", folder / "data.h5", sizes=sizes, progress=False),
        "seq": generate("flying-shapes-v1", folder / "seq.h5", sizes={"train": 0, "valid": 0, "test": 4}, progress=False),
        "shards": [generate("tetris-v1", folder / f"p{k}.h5", sizes=sizes, shard=Shard(k, 2), progress=False) for k in (1, 2)],
    }


def _commands(inputs, out):
    """name -> (arguments writing ``out``, the files the command reads)."""
    data, seq, shards = inputs["data"], inputs["seq"], inputs["shards"]
    return {
        "generate": (["generate", "tetris-v1", "--n-train", "300", "--n-valid", "100", "--n-test", "200", "--out", out], []),
        "merge": (["merge", *shards, "--out", out], shards),
        "export": (["export", data, "--layout", "nem", "--out", out], [data]),
        "show": (["show", data, "--out", out.with_suffix(".png")], [data]),
        "show-gif": (["show", seq, "--out", out.with_suffix(".gif")], [seq]),
    }


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("command", ["generate", "merge", "export", "show", "show-gif"])
def test_a_full_disk_is_one_line_and_leaves_nothing(groupbench_process, refused, inputs, tmp_path, command):
    """Writes fail at a third of the output and in its last 256 bytes (the final flush, where
    `export` used to segfault; HDF5 files of equal contents may differ by a few bytes in size);
    exit 1, one line, nothing left, the inputs intact."""
    complete = tmp_path / "complete" / "out.h5"
    complete.parent.mkdir()
    args, reads = _commands(inputs, complete)[command]
    assert groupbench_process(*args).returncode == 0
    size = next(complete.parent.iterdir()).stat().st_size
    before = {path: _digest(path) for path in reads}
    for limit in (size // 3, size - 256):
        folder = tmp_path / f"limit{limit}"
        folder.mkdir()
        args, _ = _commands(inputs, folder / "out.h5")[command]
        result = groupbench_process(*args, file_size_limit=limit)
        written = args[args.index("--out") + 1]
        refused(result, f"cannot write {written}: File too large; free some space or write elsewhere")
        assert os.listdir(folder) == []
    assert before == {path: _digest(path) for path in reads}


def _small_disk(tmp_path, kilobytes: int) -> list[str] | None:
    """A command prefix that runs in a private tmpfs of ``kilobytes`` mounted on tmp_path, or None
    where this machine lets no user namespace mount one."""
    prefix = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c"]
    probe = subprocess.run([*prefix, f"mount -t tmpfs -o size={kilobytes}k tmpfs {tmp_path}"], capture_output=True)
    return None if shutil.which("unshare") is None or probe.returncode else prefix


@pytest.mark.parametrize("command", ["generate", "export"])
def test_no_space_left_on_a_real_small_disk(refused, inputs, tmp_path, command):
    """The reported failure itself: ENOSPC from a 64 KB tmpfs (skipped where none can be mounted)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    prefix = _small_disk(disk, 64)
    if prefix is None:
        pytest.skip("no user namespace to mount a small tmpfs in")
    args, _ = _commands(inputs, disk / "out.h5")[command]
    line = " ".join(f"'{a}'" for a in [sys.executable, "-m", "groupbench", *map(str, args)])
    script = f"mount -t tmpfs -o size=64k tmpfs {disk} && {line}; status=$?; ls -A {disk} >&2; exit $status"
    result = subprocess.run([*prefix, script], capture_output=True, text=True)
    refused(result, f"cannot write {disk / 'out.h5'}: No space left on device")  # and ls found nothing: one line


@pytest.mark.parametrize("command", ["generate", "merge", "export", "show"])
def test_an_existing_output_needs_overwrite(cli, refused, inputs, tmp_path, command):
    out = tmp_path / "out.h5"
    args, _ = _commands(inputs, out)[command]
    written = args[args.index("--out") + 1]
    written.write_bytes(b"keep")
    refused(cli(*map(str, args)), f"{written} exists; pass --overwrite to replace it or choose another --out")
    assert written.read_bytes() == b"keep"
    assert cli(*map(str, args), "--overwrite").exit_code == 0 and written.read_bytes() != b"keep"


@pytest.mark.parametrize("command", ["merge", "export", "show"])
def test_an_input_is_never_the_output(cli, refused, inputs, tmp_path, command):
    copies = {name: tmp_path / inputs[name].name for name in ("data", "seq")}
    copies["shards"] = [tmp_path / path.name for path in inputs["shards"]]
    for name in ("data", "seq"):
        shutil.copy(inputs[name], copies[name])
    for source, copy in zip(inputs["shards"], copies["shards"]):
        shutil.copy(source, copy)
    args, reads = _commands(copies, tmp_path / "x.h5")[command]
    target = reads[-1]
    args[args.index("--out") + 1] = target
    before = _digest(target)
    refused(cli(*map(str, args), "--overwrite"), "is also an input of this command; inputs are never overwritten")
    assert _digest(target) == before


def test_generate_never_writes_over_its_mnist_source(cli, refused, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "environ", dict(os.environ))  # the command sets GROUPBENCH_MNIST for its workers
    source = tmp_path / "mnist.npz"
    source.write_bytes(b"digits")
    refused(cli("generate", "multi-mnist-v1", "--mnist", str(source), "--out", str(source), "--overwrite"),
            "is also an input of this command")
    assert source.read_bytes() == b"digits"


def test_sigterm_removes_the_unfinished_output(tmp_path):
    """kill, timeout and job schedulers send SIGTERM: the temporary file goes, exit status 143."""
    out = tmp_path / "big.h5"
    process = subprocess.Popen([sys.executable, "-m", "groupbench", "generate", "shapes-v1", "--n-train", "5000000",
                                "--out", str(out)], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".big.h5.partial") for p in tmp_path.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143 and "terminated (signal 15); unfinished outputs were removed" in err
    assert "Traceback" not in err and os.listdir(tmp_path) == []


@pytest.mark.parametrize("importer", ["deepmind", "emorl", "huggingface"])
def test_imports_never_write_over_their_sources(cli, refused, tmp_path, importer):
    sources = [tmp_path / "a.data", tmp_path / "b.data"][: 2 if importer == "huggingface" else 1]
    for source in sources:
        source.write_bytes(b"published data")
    result = cli("import", importer, *map(str, sources), "--dataset", "multi_dsprites_binarized", "--out", str(sources[-1]), "--overwrite")
    refused(result, "is also an input of this command; inputs are never overwritten")
    assert all(source.read_bytes() == b"published data" for source in sources)
