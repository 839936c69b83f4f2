"""``groupbench fetch``: download source data that datasets are built from, verified by SHA-256."""

from __future__ import annotations

import click

from groupbench.cli import main


@main.group("fetch")
def fetch() -> None:
    """Download the source data some datasets need (verified against official checksums)."""


@fetch.command("mnist")
@click.option(
    "--out", default=None, type=click.Path(file_okay=False),
    help="Folder for the four .gz files (default: $XDG_CACHE_HOME/groupbench/mnist, where generation looks).",
)
@click.option(
    "--mirror", "mirrors", multiple=True, metavar="URL",
    help="Base URL to download from instead of the default mirrors (repeatable).",
)
def fetch_mnist_command(out, mirrors) -> None:
    """Download the four official MNIST files, each checked against its SHA-256.

    Files already present with the right checksum are kept; a download goes to a temporary name
    and becomes the file only once its checksum matches. If OUT is not the default folder,
    point GROUPBENCH_MNIST at it for generation.
    """
    from groupbench.generators import mnist_source

    kwargs = {"mirrors": tuple(mirrors)} if mirrors else {}
    folder = mnist_source.fetch_mnist(out, report=lambda line: click.echo(f"  {line}"), **kwargs)
    click.echo(f"MNIST ready in {folder}")
    if folder.resolve() != mnist_source.default_dir().resolve():
        click.echo(f"generation looks there when {mnist_source.ENV_VAR}={folder} is set")
