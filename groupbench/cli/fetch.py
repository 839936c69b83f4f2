"""``groupbench fetch``: download source data that datasets are built from, verified by SHA-256."""

from __future__ import annotations

import click

from groupbench.cli import main
from groupbench.importers import BUCKET_URL, DEEPMIND


@main.group("fetch")
def fetch() -> None:
    """Download the source data some datasets need (verified by checksum)."""


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


@fetch.command("deepmind")
@click.argument("dataset", type=click.Choice(list(DEEPMIND)))
@click.option(
    "--out", default=None, type=click.Path(file_okay=False),
    help="Folder for the .tfrecords file (default: $XDG_CACHE_HOME/groupbench/deepmind).",
)
@click.option(
    "--sha256", default=None, metavar="HEX",
    help="Expected SHA-256 of the file: the download is kept only if it matches. DeepMind publishes none.",
)
@click.option("--base-url", default=BUCKET_URL, show_default=True, help="Where the bucket's files are served.")
def fetch_deepmind_command(dataset, out, sha256, base_url) -> None:
    """Download DeepMind's official TFRecord file of DATASET (for 'groupbench import deepmind').

    clevr6, clevr10 and clevr_with_masks share one file (clevr_with_masks_train.tfrecords, 10.5 GB);
    each Objects Room id has its own (the training file is 7 GB).

    DeepMind publishes no checksums. The download is checked against its announced length and
    the MD5 and CRC32C the bucket stores for the file (x-goog-hash), and against --sha256 when
    given; its SHA-256 is printed and recorded by every import. The file becomes visible only
    once every check passed.
    """
    from groupbench.importers.deepmind import fetch_deepmind

    path, _ = fetch_deepmind(dataset, out, sha256=sha256, base_url=base_url, report=lambda line: click.echo(f"  {line}"))
    click.echo(f"ready: {path}")
    click.echo(f"import it with: groupbench import deepmind {path} --dataset {dataset} --out {dataset}.h5")
