"""``groupbench import``: convert data published elsewhere into groupbench files."""

from __future__ import annotations

import click

from groupbench.cli import OVERWRITE_OPTION, main
from groupbench.importers import DEEPMIND, DEFAULT_SPLITS


@main.group("import")
def import_group() -> None:
    """Convert published datasets into groupbench files (scoring, baselines and the leaderboard then run on them)."""


@import_group.command("deepmind")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dataset", required=True, type=click.Choice(sorted(DEEPMIND)), help="Which official file FILE is.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output HDF5 file.")
@click.option(
    "--splits", default=",".join(map(str, DEFAULT_SPLITS)), show_default=True, metavar="TRAIN,VALID,TEST",
    help="Records per split, taken consecutively from the start of FILE (0 leaves a split out).",
)
@click.option("--limit", type=int, default=None, help="Read at most N records of FILE.")
@OVERWRITE_OPTION
def import_deepmind_command(file, dataset, out, splits, limit, overwrite) -> None:
    """Convert an official DeepMind multi_object_datasets TFRecord FILE (no TensorFlow needed).

    FILE is tetrominoes_train.tfrecords or one of the multi_dsprites_*.tfrecords files
    ('groupbench fetch deepmind DATASET' downloads them). Masks are DeepMind's visible masks
    (entity 0, the background, dropped); see docs/deepmind.md for the mapping.
    """
    from groupbench.importers.deepmind import import_deepmind, parse_splits
    from groupbench.writer import check_output

    check_output(out, overwrite=overwrite, inputs=[file])
    asked = parse_splits(splits)
    path, sizes = import_deepmind(file, dataset, out, splits=asked, limit=limit, overwrite=overwrite)
    counts = ", ".join(f"{split} {n:,}" for split, n in sizes.items())
    click.echo(f"wrote {path} ({DEEPMIND[dataset].dataset_id}: {counts} records)")
    if sum(sizes.values()) < sum(asked):
        why = f"--limit {limit:,}" if limit is not None and limit < sum(asked) else f"{file} holds only {sum(sizes.values()):,} records"
        click.echo(f"note: --splits asked for {sum(asked):,} records; {why}, so the splits were filled in order")
