"""Shared fixtures: small generated files, and a runner for the CLI in-process."""

from __future__ import annotations

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
def one_thread():
    """torch on one thread for the test (small models: less overhead, steadier on a shared machine)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
