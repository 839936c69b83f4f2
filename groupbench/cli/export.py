"""``groupbench export``: a groupbench file in the HDF5 layout of the original RC or N-EM code."""

from __future__ import annotations

import click

from groupbench.cli import OVERWRITE_OPTION, main


@main.command("export")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--layout", required=True, type=click.Choice(["binding", "nem"]),
    help="binding: Qwlouse/Binding (Reconstruction Clustering); nem: sjoerdvansteenkiste/Neural-EM.",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output HDF5 file.")
@OVERWRITE_OPTION
def export_command(file, layout, out, overwrite) -> None:
    """Write FILE in the layout the original code reads (overlap pixels labelled 0).

    \b
    binding: groups train_single (single), train_multi (train + valid), test;
             datasets default, groups [, targets], shape (1, N, H, W, C) float32.
    nem:     groups training (train), validation (valid), test;
             datasets features, groups, overlaps, shape (T, N, H, W, C) float32.
    """
    from groupbench.export import export

    report = export(file, layout, out, overwrite=overwrite, progress=None)
    for group, (splits, n) in report.groups.items():
        click.echo(f"  {group:<13} <- {' + '.join(splits):<13} {n:>9,} samples")
    if report.skipped_splits:
        click.echo(f"  left out: split {', '.join(report.skipped_splits)} (no place in the {layout} layout)")
    if report.missing_groups:
        click.echo(f"  not written: {', '.join(report.missing_groups)} (FILE has no samples for it)")
    click.echo(f"wrote {out}")
