"""The standard data of each leaderboard configuration: digests of its splits at default sizes.

`python -m groupbench.leaderboard.references` regenerates reference_digests.json (every dataset
whose source data are available here; full-MNIST datasets need the MNIST files).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from groupbench import registry
from groupbench.errors import GroupbenchError
from groupbench.format import validate
from groupbench.generation import generate
from groupbench.leaderboard.submit import dataset_label

SPLITS = ("test",)
"""Splits the leaderboard scores."""


def reference_digests_of(dataset_id: str, params: dict, folder: Path) -> dict[str, str]:
    """Digests of the standard splits of one configuration, generated in ``folder``."""
    spec = registry.get(dataset_id)
    sizes = {split: (n if split in SPLITS else 0) for split, n in spec.splits.items()}
    path = generate(dataset_id, folder / "reference.h5", sizes=sizes, params=params, overwrite=True, progress=False)
    return validate(path)["digests"]


def main() -> None:
    target = Path(__file__).with_name("reference_digests.json")
    digests, missing = {}, []
    with tempfile.TemporaryDirectory() as folder:
        for spec in registry.specs():
            if spec.imported:  # no generator: its data are the user's copy of someone else's files
                continue
            for params in spec.configurations:
                label = dataset_label(spec.id, params)
                try:
                    digests[label] = reference_digests_of(spec.id, params, Path(folder))
                except GroupbenchError as error:
                    missing.append(label)
                    print(label, "not computed:", error, file=sys.stderr)
    document = {
        "about": "Digests of the standard splits (default seed and sizes) per dataset configuration; "
        "regenerate with: python -m groupbench.leaderboard.references",
        "digests": digests,
        "not_computed": sorted(missing),
        "not_computed_why": "their source data (the official MNIST files) were not available where this file was written",
    }
    target.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
