"""``groupbench score``: masked AMI and ARI of a predictions file, with every convention named."""

from __future__ import annotations

import json

import click

from groupbench.cli import main


def _format_row(name: str, summary: dict) -> str:
    low, high = summary["ci95"]
    return f"{name:<22} {summary['mean']:>8.4f} {summary['std']:>8.4f} {summary['sem']:>8.4f}   [{low:.4f}, {high:.4f}]"


@main.command()
@click.argument("pred", type=click.Path(dir_okay=False))
@click.option("--dataset", required=True, type=click.Path(dir_okay=False), help="The groupbench file PRED was made for.")
@click.option("--split", default="test", show_default=True, help="Split that PRED predicts, image i for image i.")
@click.option("--metric", "metric_list", default="ami,ari", show_default=True, help="Comma-separated: ami, ari.")
@click.option("--average-method", type=click.Choice(["max", "arithmetic"]), default="max", show_default=True,
              help="AMI normaliser: max (RC and N-EM papers) or arithmetic (sklearn >= 0.22).")
@click.option("--with-background", is_flag=True, help="Score background pixels too (left out by default, as in the papers).")
@click.option("--with-overlap", is_flag=True, help="Score overlap pixels too (left out by default, as in the papers).")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write the results as JSON.")
@click.option("--per-image", type=click.Path(dir_okay=False), default=None, help="Write per-image scores as CSV.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True, help="Where to compute.")
def score(pred, dataset, split, metric_list, average_method, with_background, with_overlap, out, per_image, device) -> None:
    """Score the segmentations in PRED (HDF5, NPZ or NPY: hard 'labels' or soft 'masks') against a dataset split."""
    from groupbench.scoring import Conventions, score_file
    from groupbench.writer import atomic_output

    metrics = tuple(m.strip().lower() for m in metric_list.split(",") if m.strip())
    conventions = Conventions(include_background=with_background, include_overlap=with_overlap, average_method=average_method)
    results, table = score_file(pred, dataset, split=split, metrics=metrics, conventions=conventions, device=device)
    data = results["dataset"]
    click.echo(f"{data['id']} {data['split']} (sha256 {data['digest'][:16]}...): {results['images_scored']:,} images scored, "
               f"{results['images_skipped']:,} skipped, degenerate {results['degenerate_images']}")
    click.echo(f"conventions: {results['conventions']['pixels']}; AMI average_method={average_method}; mean over images")
    click.echo(f"{'metric':<22} {'mean':>8} {'std':>8} {'sem':>8}   95% bootstrap CI")
    for name, summary in results["metrics"].items():
        click.echo(_format_row(name.upper() if "/" not in name else name, summary))
    for warning in results["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    if out:
        with atomic_output(out) as tmp:
            tmp.write_text(json.dumps(results, indent=2) + "\n")
        click.echo(f"wrote {out}")
    if per_image:
        with atomic_output(per_image) as tmp:
            table.to_csv(tmp, index=False)
        click.echo(f"wrote {per_image}")

