"""``groupbench score``: every grouping metric of a predictions file, with every convention named."""

from __future__ import annotations

import json

import click
from click.core import ParameterSource

from groupbench.cli import main
from groupbench.errors import GroupbenchError

CONVENTION_OPTIONS = ("split", "metric_list", "average_method", "with_background", "with_overlap", "degenerate",
                      "background_in_segments", "frames")
"""Options that a protocol fixes: they cannot be combined with --protocol."""


def _format_row(name: str, summary: dict) -> str:
    low, high = summary["ci95"]
    undefined = f"{summary.get('undefined', 0):>6,}"
    return (f"{name:<30} {summary['mean']:>8.4f} {summary['std']:>8.4f} {summary['sem']:>8.4f}   [{low:.4f}, {high:.4f}]"
            f" {summary['n']:>8,} {undefined}")


def _list(text: str) -> tuple[str, ...]:
    return tuple(part.strip().lower() for part in text.split(",") if part.strip())


@main.command()
@click.argument("pred", type=click.Path(dir_okay=False))
@click.option("--dataset", required=True, type=click.Path(dir_okay=False), help="The groupbench file PRED was made for.")
@click.option("--protocol", "use_protocol", is_flag=True,
              help="Score as the leaderboard does: the images, metrics and conventions of the dataset's protocol.")
@click.option("--split", default="test", show_default=True, help="Split that PRED predicts, image i for image i.")
@click.option("--metrics", "--metric", "metric_list", default="all", show_default=True,
              help="Comma-separated: ari, ami, mbo, miou-objects, miou-segments, msc, sc; or all.")
@click.option("--average-method", type=click.Choice(["max", "arithmetic"]), default="max", show_default=True,
              help="AMI normaliser: max (RC and N-EM papers) or arithmetic (sklearn >= 0.22).")
@click.option("--with-background", is_flag=True, help="Score background pixels too, as a group (left out by default, as in the papers).")
@click.option("--with-overlap", is_flag=True,
              help="Score overlap pixels under their visible object (DeepMind's FG-ARI); left out by default, as in RC and N-EM.")
@click.option("--degenerate", type=click.Choice(["one", "nan"]), default="one", show_default=True,
              help="ARI/AMI where the index is 0/0: 1.0 (scikit-learn) or NaN, left out and counted (DeepMind).")
@click.option("--background-in-segments", is_flag=True,
              help="Overlap metrics: background pixels stay in the predicted segments (OCLF, videosaur, Genesis).")
@click.option("--frames", default="all", show_default=True,
              help="Sequences: frame selections to report, comma-separated: all, skip-first (frames 1..T-1, N-EM).")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write the results as JSON.")
@click.option("--per-image", type=click.Path(dir_okay=False), default=None, help="Write per-image scores as CSV.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True, help="Where to compute.")
@click.pass_context
def score(ctx, pred, dataset, use_protocol, split, metric_list, average_method, with_background, with_overlap, degenerate,
          background_in_segments, frames, out, per_image, device) -> None:
    """Score the segmentations in PRED (HDF5, NPZ or NPY: hard 'labels' or soft 'masks') against a dataset split."""
    from groupbench.metrics import METRICS
    from groupbench.scoring import Conventions, score_file
    from groupbench.writer import atomic_output

    if use_protocol:
        given = [f"--{name.replace('_list', 's').replace('_', '-')}" for name in CONVENTION_OPTIONS
                 if ctx.get_parameter_source(name) != ParameterSource.DEFAULT]
        if given:
            raise GroupbenchError(f"--protocol fixes the images, metrics and conventions; drop {', '.join(given)}")
        from groupbench import protocols

        results, table = protocols.score(pred, dataset, device=device)
    else:
        metrics = METRICS if _list(metric_list) == ("all",) else _list(metric_list)
        conventions = Conventions(include_background=with_background, include_overlap=with_overlap,
                                  average_method=average_method, degenerate=degenerate,
                                  background_in_segments=background_in_segments, frames=_list(frames))
        results, table = score_file(pred, dataset, split=split, metrics=metrics, conventions=conventions, device=device)
    data, c = results["dataset"], results["conventions"]
    last = results["first_image"] + results["images_scored"] - 1
    click.echo(f"{data['id']} {data['split']} (sha256 {data['digest'][:16]}...): images {results['first_image']:,}..{last:,} "
               f"scored ({results['images_scored']:,} of {data['images']:,}), degenerate {results['degenerate_images']}")
    if "protocol" in results:
        p = results["protocol"]
        click.echo(f"protocol {p['name']} of {data['id']}: ranked by {p['primary']}")
    click.echo(f"conventions: pixels {c['pixels']} ({c['pixels_description']}); AMI average_method={c['average_method']}; "
               f"degenerate={c['degenerate']}; mean over images" + (f"; frames {', '.join(c['frames'])}" if "sequences" in c else ""))
    click.echo(f"{'metric':<30} {'mean':>8} {'std':>8} {'sem':>8}   95% bootstrap CI   {'images':>8} {'undef.':>6}")
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
