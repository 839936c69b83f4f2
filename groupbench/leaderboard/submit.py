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
    paper_result: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One entry from the results of `groupbench score` (or `groupbench.protocols.score`), one results
    dict per training seed. ``paper_result`` ({metric, mean, std, reference[, dataset]}): the
    paper's number a reproduction targets; ``compute["budget"]``: the budget that stopped a run.

    The data are official when the scored split is the registered standard one and the scored
    images start at its first image; how many images were scored is for the protocol to judge.
    """
    if not results:
        raise GroupbenchError("no results to submit")
    if source not in ("reproduced", "submitted"):
        raise GroupbenchError(f"--source takes reproduced or submitted (reported numbers are added by hand); got {source!r}")
    dataset = _same(results, lambda r: {k: r["dataset"][k] for k in ("id", "split", "digest")}, "the dataset")
    params = changed_params(dataset["id"], _same(results, lambda r: r["dataset"].get("params", {}), "the dataset parameters"))
    images = _same(results, lambda r: r["images_scored"], "the number of images scored")
    first_image = _same(results, lambda r: r.get("first_image", 0), "the first image scored")
    conventions = _same(results, lambda r: r["conventions"], "the scoring conventions")
    protocol = _same(results, lambda r: (r.get("protocol") or {}).get("name"), "the protocol")
    names = _same(results, lambda r: sorted(r["metrics"]), "the metrics")
    label = dataset_label(dataset["id"], params)
    reference = reference_digests().get(label, {}).get(dataset["split"])
    official = reference == dataset["digest"] and first_image == 0
    if not official and not unofficial:
        why = (
            f"its scored images start at image {first_image}" if reference == dataset["digest"]
            else "its digest is not the registered standard one" if reference
            else "no standard digest is registered for it"
        )
        raise GroupbenchError(
            f"{label} split '{dataset['split']}' is not the official data ({why}); score predictions for the split of "
            f"'groupbench generate {dataset['id']}' (default seed and sizes), or pass --unofficial to mark the entry"
        )
    metrics = {}
    for name in names:
        values = [r["metrics"][name]["mean"] for r in results]
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else None
        metrics[name] = {"mean": mean, "std": std, "seeds": len(values), "values": values,
                         "conventions": metric_conventions(name, conventions)}
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
            **({"first_image": first_image} if first_image else {}),
        },
        "metrics": metrics,
        **({"protocol": protocol} if protocol else {}),
        "predictions": [r["predictions"]["digest"] for r in results],
        "compute": compute,
        "date": date or datetime.date.today().isoformat(),
    }
    if paper_result:
        entry["paper_result"] = paper_result
    if notes:
        entry["notes"] = notes
    return entry


def metric_conventions(name: str, conventions: dict[str, Any]) -> dict[str, Any]:
    """The conventions an entry records for one score, from a results file's conventions (old files
    lack the later fields: they get the defaults they were scored with)."""
    from groupbench.metrics import PARTITION_METRICS
    from groupbench.metrics.conventions import pixel_convention
    from groupbench.scoring import parse_metric_key

    metric, mode, frames = parse_metric_key(name)
    recorded = {
        "include_background": conventions["include_background"],
        "include_overlap": conventions["include_overlap"],
        "pixels": pixel_convention(conventions["include_background"], conventions["include_overlap"]),
        "aggregation": conventions["aggregation"] + ("" if mode is None else f", sequences {mode}"),
    }
    if metric == "ami":
        recorded["average_method"] = conventions["average_method"]
    if metric in PARTITION_METRICS:
        recorded["degenerate"] = conventions.get("degenerate", "one")
    else:
        recorded["background_in_segments"] = conventions.get("background_in_segments", False)
    if mode is not None:
        recorded["frames"] = frames
    return recorded


def rescore_entry(entry: dict[str, Any], predictions: list[str], dataset: str, *, device: str = "cpu") -> dict[str, Any]:
    """The entry rescored under its configuration's protocol from the predictions it was scored from.

    ``predictions``: one file per seed, in the order of the entry's ``predictions`` digests; each must
    have the digest the entry recorded (the same predictions), and ``dataset`` the entry's data.
    Everything else (method, provenance, compute, curve, paper result) is kept; the notes say what
    was rescored and the scores it had before.
    """
    from groupbench import protocols
    from groupbench.data import SplitReader
    from groupbench.scoring import parse_metric_key, prediction_digest, score_file

    data = entry["dataset"]
    recorded = entry.get("predictions") or []
    if entry["source"]["type"] == "reported" or not recorded:
        raise GroupbenchError("only entries scored by groupbench from predictions (with their digests) can be rescored")
    if len(predictions) != len(recorded):
        raise GroupbenchError(f"the entry was scored from {len(recorded)} predictions files (one per seed); got {len(predictions)}")
    with SplitReader(dataset, data["split"]) as reader:
        if reader.digest != data["digest"] or reader.dataset_id != data["id"]:
            raise GroupbenchError(f"{dataset}: split '{data['split']}' is not the data the entry was scored on (other digest)")
    for path, digest in zip(predictions, recorded):
        found = prediction_digest(path, dataset, split=data["split"], first=data.get("first_image", 0), count=data["images"])
        if found != digest:
            raise GroupbenchError(f"{path}: not the predictions the entry was scored from (their digest differs)")
    results = [protocols.score(path, dataset, device=device)[0] for path in predictions]
    protocol = protocols.get(data["id"], data.get("params"))
    before = ", ".join(f"{name} {m['mean']:.4f}" for name, m in entry["metrics"].items())
    note = (f"Rescored under the {protocol.name} protocol from the same predictions (digests checked); scored before on "
            f"{data['images']:,} images with {_conventions_text(entry)}: {before}.")
    if results[0]["images_scored"] < results[0]["dataset"]["images"] and data["images"] == results[0]["dataset"]["images"]:
        metric = parse_metric_key(protocol.primary)[0]
        whole = [score_file(path, dataset, split=results[0]["dataset"]["split"], metrics=(metric,),
                            conventions=protocol.conventions, device=device)[0]["metrics"][protocol.primary]["mean"]
                 for path in predictions]
        note += (f" The whole split ({data['images']:,} images) under the protocol's conventions: {protocol.primary} "
                 f"{sum(whole) / len(whole):.4f}.")
    rescored = entry_from_results(
        results, method=entry["method"], variant=entry["variant"], kind=entry["kind"], source=entry["source"]["type"],
        paper=entry.get("paper"), code=entry.get("code"), submitter=entry["source"].get("submitter"), unofficial=True,
        compute=entry.get("compute"), date=entry["date"], notes=" ".join(filter(None, [entry.get("notes"), note])),
        paper_result=entry.get("paper_result"),
    )
    if entry.get("curve"):
        rescored["curve"] = entry["curve"]
    return rescored


def _conventions_text(entry: dict[str, Any]) -> str:
    from groupbench.metrics.conventions import pixel_convention

    conventions = next(iter(entry["metrics"].values()))["conventions"]
    return f"pixels {pixel_convention(conventions['include_background'], conventions['include_overlap'])}"
