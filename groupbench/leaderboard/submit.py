"""Turning score results into leaderboard entries, and deciding whether the data are official.

A result is official when the scored split's digest is the registered standard one: the split
as `groupbench generate ID` writes it with the default seed and sizes (and, for a configuration
such as a multi-dSprites variant, those parameters). Reference digests: reference_digests.json.
"""

from __future__ import annotations

import datetime
import json
import math
from importlib import resources
from typing import Any

from groupbench import registry
from groupbench.errors import GroupbenchError
from groupbench.leaderboard.board import SCHEMA_VERSION


def changed_params(dataset_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters that differ from the dataset's defaults."""
    defaults = registry.get(dataset_id).resolve_params()
    return {k: v for k, v in sorted(params.items()) if defaults.get(k) != v}


def dataset_label(dataset_id: str, params: dict[str, Any] | None = None) -> str:
    """``shapes-v1``, or ``multi-dsprites-v1[variant=binarized]`` for non-default parameters."""
    if not params:
        return dataset_id
    return f"{dataset_id}[{','.join(f'{k}={v}' for k, v in sorted(params.items()))}]"


def reference_digests() -> dict[str, dict[str, str]]:
    """dataset label -> split -> digest of the standard data."""
    text = resources.files("groupbench.leaderboard").joinpath("reference_digests.json").read_text()
    return json.loads(text)["digests"]


def _same(results: list[dict[str, Any]], getter, what: str) -> Any:
    values = [getter(r) for r in results]
    if any(v != values[0] for v in values[1:]):
        raise GroupbenchError(f"the results disagree on {what}; one entry takes the seeds of one configuration")
    return values[0]


def entry_from_results(
    results: list[dict[str, Any]],
    *,
    method: str,
    variant: str = "",
    kind: str = "third-party",
    source: str = "submitted",
    paper: str | None = None,
    code: str | None = None,
    submitter: str | None = None,
    unofficial: bool = False,
    compute: dict[str, Any] | None = None,
    date: str | None = None,
    notes: str | None = None,
) -> dict[str, Any]:
    """One entry from the results of `groupbench score`, one results dict per training seed."""
    if not results:
        raise GroupbenchError("no results to submit")
    if source not in ("reproduced", "submitted"):
        raise GroupbenchError(f"--source takes reproduced or submitted (reported numbers are added by hand); got {source!r}")
    dataset = _same(results, lambda r: {k: r["dataset"][k] for k in ("id", "split", "digest")}, "the dataset")
    params = changed_params(dataset["id"], _same(results, lambda r: r["dataset"].get("params", {}), "the dataset parameters"))
    images = _same(results, lambda r: r["images_scored"], "the number of images scored")
    skipped = _same(results, lambda r: r["images_skipped"], "the number of images skipped")
    conventions = _same(results, lambda r: r["conventions"], "the scoring conventions")
    names = _same(results, lambda r: sorted(r["metrics"]), "the metrics")
    label = dataset_label(dataset["id"], params)
    reference = reference_digests().get(label, {}).get(dataset["split"])
    official = reference == dataset["digest"] and skipped == 0
    if not official and not unofficial:
        why = (
            f"{skipped} images of the split were not scored" if reference == dataset["digest"]
            else "its digest is not the registered standard one" if reference
            else "no standard digest is registered for it"
        )
        raise GroupbenchError(
            f"{label} split '{dataset['split']}' is not the official data ({why}); score predictions for the whole split of "
            f"'groupbench generate {dataset['id']}' (default seed and sizes), or pass --unofficial to mark the entry"
        )
    metrics = {}
    for name in names:
        values = [r["metrics"][name]["mean"] for r in results]
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else None
        metric_conventions = {
            "include_background": conventions["include_background"],
            "include_overlap": conventions["include_overlap"],
            "aggregation": conventions["aggregation"] + ("" if "/" not in name else f", sequences {name.split('/')[1]}"),
        }
        if name.startswith("ami"):
            metric_conventions["average_method"] = conventions["average_method"]
        metrics[name] = {"mean": mean, "std": std, "seeds": len(values), "values": values, "conventions": metric_conventions}
    entry = {
        "schema": SCHEMA_VERSION,
        "method": method,
        "variant": variant,
        "kind": kind,
        "paper": paper,
        "code": code,
        "source": {"type": source, **({"submitter": submitter} if submitter else {})},
        "dataset": {
            "id": dataset["id"],
            **({"params": params} if params else {}),
            "split": dataset["split"],
            "digest": dataset["digest"],
            "images": images,
            "official": official,
        },
        "metrics": metrics,
        "predictions": [r["predictions"]["digest"] for r in results],
        "compute": compute,
        "date": date or datetime.date.today().isoformat(),
    }
    if notes:
        entry["notes"] = notes
    return entry
