"""``groupbench demo``: the main job on the embedded default, end to end, in a few seconds."""

from __future__ import annotations

from pathlib import Path

import click

from groupbench.cli import main

DEMO_SETS = {
    "shapes-v1": {"train": 2000, "valid": 500, "test": 1000, "single": 500},
    "tetris-v1": {"train": 2000, "valid": 500, "test": 1000},
}
"""Small versions of the datasets the demo generates (full sizes: 'groupbench list -v')."""


@main.command()
@click.option("--out", default="groupbench-demo", show_default=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--seed", type=int, default=None, help="Seed for every dataset (default: each dataset's own).")
def demo(out, seed) -> None:
    """Generate small Shapes and Tetris sets, validate them and write previews."""
    from groupbench.format import validate
    from groupbench.generation import generate
    from groupbench.preview import save_preview

    folder = Path(out)
    for dataset_id, sizes in DEMO_SETS.items():
        path = folder / f"{dataset_id}.h5"
        generate(dataset_id, path, seed=seed, sizes=sizes, overwrite=True)
        meta = validate(path)
        preview = save_preview(path, "test", folder / f"{dataset_id}.png")
        click.echo(f"{dataset_id}: {sum(sizes.values()):,} samples -> {path} (valid, test sha256 {meta['digests']['test'][:16]}), preview {preview}")
    click.echo(f"done: see {folder}/ ('groupbench info {folder}/shapes-v1.h5' describes a file)")
