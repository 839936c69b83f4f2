"""Shared fixtures: small generated files, and runners for the CLI in-process and in a subprocess."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner

from groupbench.cli import main
from groupbench.generation import generate

SMALL = {"train": 300, "valid": 100, "test": 200, "single": 100}


def small_sizes(dataset_id: str) -> dict[str, int]:
    """SMALL restricted to the splits the dataset has, and to their sizes (superposition has 120 pairs)."""
    from groupbench import registry

    splits = registry.get(dataset_id).splits
    return {split: min(n, splits[split]) for split, n in SMALL.items() if split in splits}


@pytest.fixture(scope="session")
def small_file(tmp_path_factory):
    """small_file(dataset_id) -> path of a small generated file, made once per session."""
    made = {}

    def make(dataset_id: str):
        if dataset_id not in made:
            path = tmp_path_factory.mktemp("data") / f"{dataset_id}.h5"
            made[dataset_id] = generate(dataset_id, path, sizes=small_sizes(dataset_id), progress=False)
        return made[dataset_id]

    return make


@pytest.fixture
def cli():
    """cli(*args) -> click Result of running groupbench in-process."""
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return run


@pytest.fixture
def groupbench_process():
    """groupbench_process(*args, file_size_limit=None) -> CompletedProcess of ``python -m groupbench``.

    ``file_size_limit`` (bytes) makes every write beyond it fail with EFBIG ("File too large"), as a
    full disk fails with ENOSPC: the same failed write, for any user, on any file system.
    """

    def run(*args: str, file_size_limit: int | None = None) -> subprocess.CompletedProcess:
        def limit() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write instead of killing the process
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

        return subprocess.run([sys.executable, "-m", "groupbench", *map(str, args)], capture_output=True, text=True,
                              preexec_fn=limit if file_size_limit is not None else None)

    return run


@pytest.fixture
def refused():
    """refused(result, message): a clean refusal, from a subprocess or the in-process runner: exit
    status 1, exactly one line on stderr containing ``message``, no traceback."""

    def check(result, message: str) -> None:
        if isinstance(result, subprocess.CompletedProcess):
            code, err = result.returncode, result.stderr
        else:
            code, err = result.exit_code, result.stderr
        assert code == 1, (code, err)
        assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err, err

    return check


@pytest.fixture
def one_thread():
    """torch on one thread for the test (small models: less overhead, steadier on a shared machine)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
