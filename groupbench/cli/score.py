"""``groupbench score``: every grouping metric of a predictions file, with every convention named."""

from __future__ import annotations

import json

import click
from click.core import ParameterSource

from groupbench.cli import OVERWRITE_OPTION, main
from groupbench.errors import GroupbenchError

CONVENTION_OPTIONS = ("split", "metric_list", "average_method", "with_background", "with_overlap", "degenerate",
                      "background_in_segments", "frames")
"""Options that a protocol fixes: they cannot be combined with --protocol."""


def _format_row(name: str, summary: dict) -> str:
    low, high = summary["ci95"]
    undefined = f"{summary.get('undefined', 0):>6,}"
    return (f"{name:<30} {summary['mean']:>8.4f} {summary['std']:>8.4f} {summary['sem']:>8.4f}   [{low:.4f}, {high:.4f}]"
            f" {summary['n']:>8,} {undefined}")


DEGENERATE_POLICY_TEXT = {
    "one": "scored 1.0 when it is (0/0), as scikit-learn (--degenerate one), else 0",
    "nan": "scored NaN when it is (0/0: left out of the means, counted under 'undef.'), as DeepMind (--degenerate nan), else 0",
}
"""How each degenerate policy scores an image whose ground truth is trivial, in one clause."""


def degenerate_line(results: dict) -> str:
    """One readable line: how many scored images are degenerate, what that means, and how they were scored."""
    counts = results["degenerate_images"]
    unit = "sequences" if "sequences" in results["conventions"] else "images"
    scored = results["images_scored"]
    if set(counts) <= {"images"}:
        counted = f"{counts.get('images', 0):,} of {scored:,}"
    else:  # sequences: one count per sequence mode and frame selection
        counted = ", ".join(f"{n:,} ({mode})" for mode, n in counts.items()) + f" of {scored:,}"
    policy = results["conventions"].get("degenerate", "one")
    return (f"degenerate {unit}: {counted} (ground truth trivial on the scored pixels: at most one object, or every pixel "
            f"its own; ARI and AMI then only tell whether the prediction is that same partition): "
            f"{DEGENERATE_POLICY_TEXT.get(policy, policy)}")


def partial_warning(results: dict) -> str | None:
    """The warning, None when the whole split is scored (or a protocol chose its images): the means
    cover only part of the split, so they are not the split's scores."""
    if "protocol" in results or not results["images_skipped"]:
        return None
    data, scored = results["dataset"], results["images_scored"]
    share = scored / data["images"]
    return (f"only {scored:,} of the {data['images']:,} images of split '{data['split']}' are scored "
            f"({share:.1%}; PRED holds {results['predictions']['shape'][0]:,} predictions): the scores below are not the "
            f"split's and are not comparable with scores of the whole split")


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
@OVERWRITE_OPTION
@click.pass_context
def score(ctx, pred, dataset, use_protocol, split, metric_list, average_method, with_background, with_overlap, degenerate,
          background_in_segments, frames, out, per_image, device, overwrite) -> None:
    """Score the segmentations in PRED (HDF5, NPZ or NPY: hard 'labels' or soft 'masks') against a dataset split."""
    from groupbench.metrics import METRICS
    from groupbench.scoring import Conventions, score_file
    from groupbench.writer import atomic_output, check_output

    inputs = [pred, dataset]
    if out and per_image:
        check_output(per_image, overwrite=overwrite, inputs=[*inputs, out], option="--per-image")
    for path, option in ((out, "--out"), (per_image, "--per-image")):  # the output rule, before any work
        if path:
            check_output(path, overwrite=overwrite, inputs=inputs, option=option)

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
    partial = partial_warning(results)
    if partial:  # first, before any number, where it cannot be missed
        click.echo(f"warning: {partial}", err=True)
    for warning in results["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    last = results["first_image"] + results["images_scored"] - 1
    click.echo(f"{data['id']} {data['split']} (sha256 {data['digest'][:16]}...): images {results['first_image']:,}..{last:,} "
               f"scored ({results['images_scored']:,} of {data['images']:,})")
    click.echo(degenerate_line(results))
    if "protocol" in results:
        p = results["protocol"]
        click.echo(f"protocol {p['name']} of {data['id']}: ranked by {p['primary']}")
    click.echo(f"conventions: pixels {c['pixels']} ({c['pixels_description']}); AMI average_method={c['average_method']}; "
               f"degenerate={c['degenerate']}; mean over images" + (f"; frames {', '.join(c['frames'])}" if "sequences" in c else ""))
    click.echo(f"{'metric':<30} {'mean':>8} {'std':>8} {'sem':>8}   95% bootstrap CI   {'images':>8} {'undef.':>6}")
    for name, summary in results["metrics"].items():
        click.echo(_format_row(name.upper() if "/" not in name else name, summary))
    if out:
        with atomic_output(out, overwrite=overwrite, inputs=inputs) as tmp:
            tmp.write_text(json.dumps(results, indent=2) + "\n")
        click.echo(f"wrote {out}")
    if per_image:
        with atomic_output(per_image, overwrite=overwrite, inputs=inputs, option="--per-image") as tmp:
            table.to_csv(tmp, index=False)
        click.echo(f"wrote {per_image}")
