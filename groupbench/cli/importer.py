"""``groupbench import``: convert data published elsewhere into groupbench files."""

from __future__ import annotations

import click

from groupbench.cli import OVERWRITE_OPTION, main
from groupbench.importers import DEEPMIND, Selection

_MULTI_DSPRITES = sorted(name for name in DEEPMIND if name.startswith("multi_dsprites_"))


@main.group("import")
def import_group() -> None:
    """Convert published datasets into groupbench files (scoring, baselines and the leaderboard then run on them)."""


def _report(dataset: str, path, sizes: dict[str, int]) -> None:
    counts = ", ".join(f"{split} {n:,}" for split, n in sizes.items())
    click.echo(f"wrote {path} ({DEEPMIND[dataset].dataset_id}: {counts} records)")


def _short_note(asked: tuple[int, int, int], sizes: dict[str, int], limit: int | None, source: str) -> None:
    if sum(sizes.values()) < sum(asked):
        why = f"--limit {limit:,}" if limit is not None and limit < sum(asked) else f"{source} holds only {sum(sizes.values()):,} records"
        click.echo(f"note: --splits asked for {sum(asked):,} records; {why}, so the splits were filled in order")


_splits_option = click.option(
    "--splits", default=None, metavar="TRAIN,VALID,TEST",
    help="Records per split, taken consecutively from the start (0 leaves a split out; default: the id's, "
    "e.g. 60000,10000,10000). Not for clevr6 and clevr10.",
)
_limit_option = click.option("--limit", type=int, default=None, help="Read at most N records.")
_out_option = click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output HDF5 file.")


@import_group.command("deepmind")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dataset", required=True, type=click.Choice(list(DEEPMIND)), help="Which id to import FILE into.")
@_out_option
@_splits_option
@click.option("--evaluation-from", type=int, default=None, help="clevr6, clevr10: records before it give train, evaluation records start there (default 70000).")
@click.option("--test", "n_test", type=int, default=None, help="clevr6, clevr10: kept records in the test split (default 320).")
@click.option("--valid", "n_valid", type=int, default=None, help="clevr6, clevr10: kept records in the valid split, after test (default: clevr6 all the rest, clevr10 none).")
@_limit_option
@click.option("--no-factors", is_flag=True, help="Leave the per-object factors out (to compare with a converted copy that has none).")
@OVERWRITE_OPTION
def import_deepmind_command(file, dataset, out, splits, evaluation_from, n_test, n_valid, limit, no_factors, overwrite) -> None:
    """Convert an official DeepMind multi_object_datasets TFRecord FILE (no TensorFlow needed).

    FILE is one of the bucket's .tfrecords files ('groupbench fetch deepmind DATASET' downloads
    it); clevr6, clevr10 and clevr_with_masks are all imported from clevr_with_masks_train.tfrecords.
    Masks are DeepMind's visible masks, background entities dropped; see docs/deepmind.md.
    """
    from groupbench.importers.deepmind import import_deepmind
    from groupbench.importers.scenes import parse_splits
    from groupbench.writer import check_output

    check_output(out, overwrite=overwrite, inputs=[file])
    d = DEEPMIND[dataset]
    selection = None
    if any(v is not None for v in (evaluation_from, n_test, n_valid)):
        base = d.selection
        selection = Selection(
            evaluation_from=base.evaluation_from if evaluation_from is None else evaluation_from,
            test=base.test if n_test is None else n_test,
            valid=base.valid if n_valid is None else n_valid,
            train=base.train,
        )
    asked = parse_splits(splits) if splits is not None else None
    path, sizes = import_deepmind(
        file, dataset, out, splits=asked, selection=selection, limit=limit, factors=not no_factors, overwrite=overwrite
    )
    _report(dataset, path, sizes)
    if not d.selected:
        _short_note(asked or d.splits, sizes, limit, file)


@import_group.command("emorl")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dataset", required=True, type=click.Choice(list(DEEPMIND)), help="Which id FILE is a copy of.")
@_out_option
@click.option("--no-factors", is_flag=True, help="Leave the per-object factors out even where FILE has them.")
@OVERWRITE_OPTION
def import_emorl_command(file, dataset, out, no_factors, overwrite) -> None:
    """Convert an EMORL .h5 copy of DeepMind's data (Zenodo record 4895643) into the same id.

    Its groups train, val and test become the splits train, valid and test. The digests equal
    those of 'groupbench import deepmind' where the copy holds the same records (compare with
    --no-factors there when the copy's factors were not imported). See docs/deepmind.md.
    """
    from groupbench.importers.emorl import import_emorl
    from groupbench.writer import check_output

    check_output(out, overwrite=overwrite, inputs=[file])
    path, sizes, why_not = import_emorl(file, dataset, out, factors=not no_factors, overwrite=overwrite)
    _report(dataset, path, sizes)
    if why_not is not None and why_not != "--no-factors":
        click.echo(f"note: factors not imported ({why_not}); compare with 'groupbench import deepmind --no-factors'")


@import_group.command("huggingface")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--dataset", required=True, type=click.Choice(_MULTI_DSPRITES), help="Which multi-dSprites config FILES hold.")
@_out_option
@_splits_option
@_limit_option
@OVERWRITE_OPTION
def import_huggingface_command(files, dataset, out, splits, limit, overwrite) -> None:
    """Convert the parquet FILES of one config of the HuggingFace copy eurecom-ds/multi_dsprites.

    Give the config's files in order (train-00000-of-0000N.parquet first); rows are taken
    consecutively, as records are by 'groupbench import deepmind'. No factors are imported (the
    copy stores colours as images); compare with 'groupbench import deepmind --no-factors'.
    """
    from groupbench.importers.huggingface import import_huggingface
    from groupbench.importers.scenes import parse_splits
    from groupbench.writer import check_output

    check_output(out, overwrite=overwrite, inputs=files)
    asked = parse_splits(splits) if splits is not None else None
    path, sizes = import_huggingface(list(files), dataset, out, splits=asked, limit=limit, overwrite=overwrite)
    _report(dataset, path, sizes)
    _short_note(asked or DEEPMIND[dataset].splits, sizes, limit, "the files")
