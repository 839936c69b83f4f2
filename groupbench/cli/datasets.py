"""Dataset commands: list, generate, merge, info, validate, show."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import click

from groupbench import registry
from groupbench.cli import OVERWRITE_OPTION, main
from groupbench.errors import GroupbenchError
from groupbench.format import default_split, file_metadata, layout_of, open_file, read, split_names, split_position, validate


def _parse_params(pairs: tuple[str, ...]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise GroupbenchError(f"--param {pair!r}: expected KEY=VALUE, e.g. --param num_objects=4")
        params[key.strip()] = value.strip()
    return params


@main.command("list")
@click.option("-v", "--verbose", is_flag=True, help="Also show parameters, splits and sources.")
def list_datasets(verbose: bool) -> None:
    """The registered datasets, one line each; [imported] marks ids made by 'groupbench import', not generated."""
    specs = registry.specs()
    width = max(22, *(len(spec.id) for spec in specs))
    for spec in specs:
        h, w, c = spec.image_size
        frames = f"x{spec.sequence_length} frames" if spec.sequence_length else ""
        marker = "[imported] " if spec.imported else ""
        click.echo(f"{spec.id:<{width}} {h}x{w}x{c}{frames:<11} {spec.objects:>4} objects  {marker}{spec.description}")
        if verbose:
            sizes = ", ".join(f"{name} {n:,}" for name, n in spec.splits.items())
            if spec.imported and "evaluation_from" in spec.import_params:  # carved by object count (CLEVR6, CLEVR10)
                carving = spec.import_params
                valid = "the rest" if carving["valid"] is None else f"the next {carving['valid']:,}"
                click.echo(f"    splits: carved by object count: train from the records before {carving['evaluation_from']:,} "
                           f"that pass the filter; from that record on, test the first {carving['test']:,} that pass, valid {valid}")
            elif spec.imported:
                click.echo(f"    splits: {sizes} (consecutive records of the source file)")
                click.echo(f"    import: {spec.imported_by}")
            else:
                click.echo(f"    splits: {sizes}; default seed {spec.default_seed}")
                for f in dataclasses.fields(spec.generator_class().Params):
                    click.echo(f"    --param {f.name}={f.default!r}: {f.metadata.get('doc', '')}")
            click.echo(f"    source: {spec.paper}")
            if spec.notes:
                click.echo(f"    note: {spec.notes}")


@main.command()
@click.argument("dataset")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output HDF5 file.")
@click.option("--seed", type=int, default=None, help="Seed (default: the dataset's own default seed).")
@click.option("--n-train", type=int, default=None, help="Training samples (default: the dataset's).")
@click.option("--n-valid", type=int, default=None, help="Validation samples.")
@click.option("--n-test", type=int, default=None, help="Test samples.")
@click.option("--n-single", type=int, default=None, help="Single-object samples, for datasets that have them.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Generator parameter (repeatable).")
@click.option("--workers", type=int, default=1, show_default=True, help="Worker processes.")
@click.option("--shard", default=None, metavar="K/N", help="Write only part K of N of every split (join with merge).")
@click.option("--mnist", type=click.Path(exists=True), default=None,
              help="MNIST files (folder or mnist.npz) for the MNIST datasets; default $GROUPBENCH_MNIST.")
@OVERWRITE_OPTION
def generate(dataset, out, seed, n_train, n_valid, n_test, n_single, params, workers, shard, mnist, overwrite) -> None:
    """Generate DATASET into an HDF5 file (see 'groupbench list')."""
    from groupbench.generation import Shard, generate as run
    from groupbench.generators.mnist_source import ENV_VAR

    if mnist:  # worker processes inherit the variable
        os.environ[ENV_VAR] = os.path.abspath(mnist)
    source = os.environ.get(ENV_VAR)
    inputs = [] if not source else sorted(Path(source).iterdir()) if Path(source).is_dir() else [Path(source)]

    sizes = {"train": n_train, "valid": n_valid, "test": n_test, "single": n_single}
    path = run(
        dataset,
        out,
        seed=seed,
        sizes=sizes,
        params=_parse_params(params),
        workers=workers,
        shard=Shard.parse(shard) if shard else None,
        overwrite=overwrite,
        inputs=inputs,
    )
    click.echo(f"wrote {path}")


@main.command()
@click.argument("shards", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output HDF5 file.")
@OVERWRITE_OPTION
def merge(shards, out, overwrite) -> None:
    """Join the shard files of one generation (all of them, any order) into one file."""
    from groupbench.generation import merge as run

    click.echo(f"wrote {run(list(shards), out, overwrite=overwrite)}")


def _shown(value) -> str:
    """A parameter's value in a line of text: lists joined by commas, None as none, booleans as yes/no."""
    if isinstance(value, list):
        return ",".join(map(_shown, value))
    if isinstance(value, dict):
        return " ".join(f"{key}={_shown(v)}" for key, v in value.items())
    return {None: "none", True: "yes", False: "no"}.get(value, str(value)) if isinstance(value, (bool, type(None))) else str(value)


def _describe_import(params: dict, held: int) -> str:
    """One line: what an imported file was converted from (its params) and how many records it holds."""
    shas = params.get("source_sha256")
    shas = [shas] if isinstance(shas, str) else shas if isinstance(shas, list) else []
    digest = f" (sha256 {', '.join(f'{sha}'[:16] + '...' for sha in shas)})" if shas else ""
    rest = "".join(f"; {key} {_shown(value)}" for key, value in params.items() if key not in ("source", "source_sha256"))
    return f"imported from {_shown(params.get('source'))}{digest}: holds {held:,} records{rest}"


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
def info(file, as_json) -> None:
    """Splits, shapes, object counts and digests of FILE, and what it was made from."""
    with open_file(file) as handle:
        meta = file_metadata(handle)
        splits = {}
        for split in split_names(handle):
            group = handle[split]
            layout = layout_of(group)
            start, _ = split_position(group)
            counts = read(group["num_objects"])
            splits[split] = {
                "samples": int(counts.shape[0]),
                "images": list(group["images"].shape[1:]),
                "object_slots": layout.max_objects,
                "objects_min": int(counts.min()) if counts.size else 0,
                "objects_max": int(counts.max()) if counts.size else 0,
                "objects_mean": round(float(counts.mean()), 3) if counts.size else 0.0,
                "factors": sorted(group.get("factors", {})),
                "digest": meta["digests"].get(split),
            }
            if "shard" in meta:
                splits[split]["range"] = [start, start + int(counts.shape[0])]
    try:
        imported = registry.get(meta["dataset"]).imported
    except GroupbenchError:  # an id registered by a plugin that is not installed here
        imported = False
    description = {
        "file": str(file),
        "format": meta["format"],
        "dataset": meta["dataset"],
        "imported": imported,
        "seed": None if imported else meta["seed"],
        "params": meta["params"],
        "groupbench_version": meta["groupbench_version"],
        **({"shard": meta["shard"]} if "shard" in meta else {}),
        "splits": splits,
    }
    if as_json:
        click.echo(json.dumps(description, indent=2))
        return
    shard = f"  (shard {meta['shard']})" if "shard" in meta else ""
    if imported:
        click.echo(f"{file}: {meta['dataset']} (imported, not generated: no seed), {meta['format']}, groupbench {meta['groupbench_version']}")
        click.echo(_describe_import(meta["params"], sum(d["samples"] for d in splits.values())))
    else:
        click.echo(f"{file}: {meta['dataset']}, {meta['format']}, seed {meta['seed']}, groupbench {meta['groupbench_version']}{shard}")
        click.echo(f"params: {json.dumps(meta['params'], sort_keys=True)}")
    for split, d in splits.items():
        shape = "x".join(map(str, d["images"]))
        objects = f"{d['objects_min']}-{d['objects_max']} (mean {d['objects_mean']})"
        click.echo(f"  {split:<7} {d['samples']:>8,} x {shape:<12} objects {objects:<18} sha256 {d['digest']}")


@main.command("validate")
@click.argument("file", type=click.Path(dir_okay=False))
def validate_command(file) -> None:
    """Check FILE against the groupbench/1 format and its digests; exit 1 at the first problem."""
    meta = validate(file)
    splits = ", ".join(sorted(meta["digests"]))
    click.echo(f"ok: {file} is a valid {meta['format']} file ({meta['dataset']}; splits {splits}; digests verified)")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--split", default=None, help="Split to show (default: test, or the first of valid, train, single the file holds).")
@click.option("--n", "count", type=int, default=16, show_default=True, help="Number of samples.")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Output PNG, or GIF (NAME.gif): animated over the frames of sequences.")
@OVERWRITE_OPTION
def show(file, split, count, out, overwrite) -> None:
    """Write a grid of images beside their ground truth: each object in its own colour, overlap hatched.

    A PNG shows the first frame of sequences; --out NAME.gif animates them. The colours are
    explained in docs/datasets.md ("Previews").
    """
    from groupbench.preview import save_preview

    with open_file(file) as handle:
        split = split or default_split(handle)
    path = save_preview(file, split, out, n=count, overwrite=overwrite, progress=None)
    with open_file(file) as handle:
        sequences = handle[split]["images"].ndim == 5
    hint = " (first frames; --out NAME.gif animates the sequences)" if sequences and path.suffix.lower() != ".gif" else ""
    click.echo(f"wrote {path}: split {split}{hint}")
