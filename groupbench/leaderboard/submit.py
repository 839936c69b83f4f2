"""Turning score results into leaderboard entries, and deciding whether the data are official.

A result is official when the scored split's digest is the registered standard one: the split
as `groupbench generate ID` writes it with the default seed and sizes (and, for a configuration
such as a multi-dSprites variant, those parameters). Reference digests: reference_digests.json.
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import re
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


@functools.lru_cache(maxsize=1)
def results_schema() -> dict[str, Any]:
    """The JSON Schema of a results file (groupbench/leaderboard/results.schema.json)."""
    return json.loads(resources.files("groupbench.leaderboard").joinpath("results.schema.json").read_text())


def validate_results(results: Any, where: str = "results") -> None:
    """Raise GroupbenchError, in one line naming ``where``, unless ``results`` is a results file of
    `groupbench score` (`results_schema`) that agrees with itself (`consistency_problem`).

    Checked with jsonschema where it is installed, else by groupbench's own reading of the same
    schema (the keywords it uses), so a malformed file is never let through.
    """
    problems = _schema_problems(results)
    if problems:
        raise GroupbenchError(f"{where}: not a groupbench results file: {_problem_text(*problems[0])}")
    problem = consistency_problem(results)
    if problem:
        raise GroupbenchError(f"{where}: not self-consistent: {problem}; submit results as 'groupbench score' wrote them, "
                              "or the predictions with --dataset to score them again")


_TOLERANCE = 1e-9


def consistency_problem(results: dict[str, Any]) -> str | None:
    """What in a (schema-valid) results file disagrees with the rest of it, or None.

    Per score: its mean lies within its recorded 95% interval; n and undefined add up to the images
    scored; sem is std / sqrt(n); std is possible for per-image scores in [-1, 1] with that mean
    (at most sqrt((1 - mean)(1 + mean) n / (n - 1))); one image has std 0. The headline is the
    score it names, and the images scored lie in the split.
    """
    scored, data, first = results["images_scored"], results["dataset"], results.get("first_image", 0)
    images = data.get("images")
    if images is not None:
        if first + scored > images:
            return f"images {first:,}..{first + scored - 1:,} scored, but the split holds {images:,}"
        skipped = results.get("images_skipped")
        if isinstance(skipped, int) and skipped != images - scored:
            return f"'images_skipped' is {skipped:,}, but {scored:,} of {images:,} images were scored"
    for name, summary in results["metrics"].items():
        problem = _summary_problem(f"metrics.{name}", summary, scored)
        if problem:
            return problem
    headline = results.get("headline")
    if headline is not None:
        metric = results["metrics"].get(headline["metric"])
        if metric is None:
            return f"the headline score {headline['metric']!r} is not among its metrics"
        if not _same_number(headline["mean"], metric["mean"]):
            return f"the headline {headline['metric']} mean {headline['mean']:.4f} is not metrics.{headline['metric']} mean {metric['mean']:.4f}"
    return None


def _same_number(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-12, abs_tol=_TOLERANCE)


def _summary_problem(label: str, summary: dict[str, Any], scored: int) -> str | None:
    mean, n, undefined = summary["mean"], summary.get("n"), summary.get("undefined")
    std, sem, ci95 = summary.get("std"), summary.get("sem"), summary.get("ci95")
    if n is not None:
        if n > scored:
            return f"{label} has n {n:,}, but {scored:,} images were scored"
        if undefined is not None and n + undefined != scored:
            return f"{label} has n {n:,} and {undefined:,} undefined, not the {scored:,} images scored"
        if n == 0:
            return None if math.isnan(mean) else f"{label} has mean {mean:.4f} but no defined values (n 0)"
    if math.isnan(mean):
        return f"{label} mean is not a number"
    if ci95 is not None:
        low, high = ci95
        if not (math.isfinite(low) and math.isfinite(high)):
            return f"{label} has a 95% interval that is not finite"
        if low > high + _TOLERANCE:
            return f"{label} has a reversed 95% interval [{low:.4f}, {high:.4f}]"
        if not low - _TOLERANCE <= mean <= high + _TOLERANCE:
            return f"{label} mean {mean:.4f} lies outside its recorded 95% interval [{low:.4f}, {high:.4f}]"
    if n is not None and std is not None and math.isfinite(std):
        if n == 1 and std > _TOLERANCE:
            return f"{label} has std {std:.4f} over a single image"
        if n > 1:
            bound = math.sqrt(max(0.0, (1 - mean) * (1 + mean)) * n / (n - 1))
            if std > bound + 1e-6:
                return f"{label} std {std:.4f} is impossible for a mean of {mean:.4f} over scores in [-1, 1] (at most {bound:.4f})"
        if sem is not None and not math.isclose(sem, std / math.sqrt(n), rel_tol=1e-6, abs_tol=1e-12):
            return f"{label} sem {sem:.6f} is not std / sqrt(n) = {std / math.sqrt(n):.6f}"
    return None


def _schema_problems(results: Any) -> list[tuple[tuple, str, Any, Any]]:
    """Schema violations as (path, keyword, the keyword's value or missing name, the value found),
    the shallowest first."""
    schema = results_schema()
    try:
        import jsonschema
    except ImportError:
        problems = list(_check(results, schema, schema, ()))
    else:
        problems = []
        for error in jsonschema.Draft202012Validator(schema).iter_errors(results):
            path = tuple(error.absolute_path)
            if error.validator == "required":
                problems += [(path, "required", key, error.instance) for key in error.validator_value if key not in error.instance]
            elif "propertyNames" in error.schema_path:
                problems.append((path, "name", error.validator_value, error.instance))
            else:
                problems.append((path, error.validator, error.validator_value, error.instance))
    return sorted(problems, key=lambda p: (len(p[0]), [str(part) for part in p[0]]))


_TYPES = {"object": dict, "array": list, "string": str, "null": type(None)}


def _is(value: Any, kind: str) -> bool:
    if kind in _TYPES:
        return isinstance(value, _TYPES[kind])
    if kind == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return kind == "number" or isinstance(value, int) or value.is_integer()


def _check(value: Any, schema: dict[str, Any], root: dict[str, Any], path: tuple):
    """The schema violations of ``value``, for the keywords results.schema.json uses (no jsonschema)."""
    if "$ref" in schema:
        target = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        yield from _check(value, target, root, path)
    if "type" in schema:
        kinds = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
        if not any(_is(value, kind) for kind in kinds):
            yield path, "type", schema["type"], value
            return
    if "enum" in schema and not any(type(value) is type(choice) and value == choice for choice in schema["enum"]):
        yield path, "enum", schema["enum"], value
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            yield path, "pattern", schema["pattern"], value
        if len(value) < schema.get("minLength", 0):
            yield path, "minLength", schema["minLength"], value
    if _is(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            yield path, "minimum", schema["minimum"], value
        if "maximum" in schema and value > schema["maximum"]:
            yield path, "maximum", schema["maximum"], value
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            yield path, "minItems", schema["minItems"], value
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            yield path, "maxItems", schema["maxItems"], value
        for index, item in enumerate(value):
            if "items" in schema:
                yield from _check(item, schema["items"], root, path + (index,))
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                yield path, "required", key, value
        if len(value) < schema.get("minProperties", 0):
            yield path, "minProperties", schema["minProperties"], value
        properties, others = schema.get("properties", {}), schema.get("additionalProperties")
        for key, item in value.items():
            if "propertyNames" in schema and not re.search(schema["propertyNames"]["pattern"], key):
                yield path, "name", schema["propertyNames"]["pattern"], key
            if key in properties:
                yield from _check(item, properties[key], root, path + (key,))
            elif isinstance(others, dict):
                yield from _check(item, others, root, path + (key,))


_TYPE_NAMES = {"object": "an object", "array": "a list", "string": "a string", "number": "a number",
               "integer": "an integer", "boolean": "true or false", "null": "null"}


def _problem_text(path: tuple, keyword: str, expected: Any, found: Any) -> str:
    """One schema violation in words, e.g. ``'dataset.digest' is missing``."""
    def dotted(parts: tuple) -> str:
        return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")

    if keyword == "required":
        return f"'{dotted(path + (expected,))}' is missing"
    if keyword == "name":
        return f"'{dotted(path)}' holds an unknown score name {found!r}"
    subject = f"'{dotted(path)}'" if path else "its top level"
    shown = json.dumps(found, default=str)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    if keyword == "type":
        kinds = [expected] if isinstance(expected, str) else expected
        return f"{subject} must be {' or '.join(_TYPE_NAMES.get(k, k) for k in kinds)}, not {shown}"
    if keyword == "enum":
        return f"{subject} must be one of {', '.join(map(repr, expected))}, not {shown}"
    if keyword == "pattern":
        return f"{subject} must match {expected}, not {shown}"
    if keyword in ("minimum", "maximum"):
        return f"{subject} must be at {'least' if keyword == 'minimum' else 'most'} {expected}, not {shown}"
    if keyword in ("minItems", "maxItems"):
        return f"{subject} must hold at {'least' if keyword == 'minItems' else 'most'} {expected} values, not {len(found)}"
    if keyword in ("minProperties", "minLength"):
        return f"{subject} must not be empty"
    return f"{subject} is invalid ({keyword} {expected!r}): {shown}"


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
    names: list[str] | None = None,
) -> dict[str, Any]:
    """One entry from the results of `groupbench score` (or `groupbench.protocols.score`), one results
    dict per training seed, each validated (`validate_results`) and of its own predictions.
    ``paper_result`` ({metric, mean, std, reference[, dataset]}): the paper's number a reproduction
    targets; ``compute["budget"]``: the budget that stopped a run; ``names``: what the messages call
    each results dict (its file), default ``results N``.

    The data are official when the scored split is the registered standard one and the scored
    images start at its first image; how many images were scored is for the protocol to judge.
    """
    if not results:
        raise GroupbenchError("no results to submit")
    if source not in ("reproduced", "submitted"):
        raise GroupbenchError(f"--source takes reproduced or submitted (reported numbers are added by hand); got {source!r}")
    for index, result in enumerate(results):
        validate_results(result, names[index] if names else f"results {index + 1}" if len(results) > 1 else "the results")
    digests = [r["predictions"]["digest"] for r in results]
    for index, digest in enumerate(digests):
        if digest in digests[:index]:
            first = digests.index(digest)
            same = (f"{names[index]}: the same predictions as {names[first]}" if names
                    else f"results {first + 1} and {index + 1} are of the same predictions")
            raise GroupbenchError(f"{same} (digest {digest[:12]}); each seed is its own training run, with its own predictions")
    dataset = _same(results, lambda r: {k: r["dataset"][k] for k in ("id", "split", "digest")}, "the dataset")
    params = changed_params(dataset["id"], _same(results, lambda r: r["dataset"].get("params", {}), "the dataset parameters"))
    images = _same(results, lambda r: r["images_scored"], "the number of images scored")
    first_image = _same(results, lambda r: r.get("first_image", 0), "the first image scored")
    conventions = _same(results, lambda r: r["conventions"], "the scoring conventions")
    protocol = _same(results, lambda r: (r.get("protocol") or {}).get("name"), "the protocol")
    names = _same(results, lambda r: sorted(r["metrics"]), "the metrics")
    label = configuration_label(dataset["id"], params)
    reference = reference_digests().get(label, {}).get(dataset["split"])
    official = reference == dataset["digest"] and first_image == 0
    if not official and not unofficial:
        raise GroupbenchError(_not_official(label, dataset, reference, first_image))
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


def configuration_label(dataset_id: str, params: dict[str, Any] | None = None) -> str:
    """The label the board shows for a dataset configuration: an import's options (source file,
    its SHA-256, splits) are no part of it (`groupbench.protocols.configuration_label`)."""
    from groupbench import protocols

    return protocols.configuration_label(dataset_id, params)


def _not_official(label: str, dataset: dict[str, Any], reference: str | None, first_image: int) -> str:
    """Why a result is not on the official data, and what to do about it."""
    spec = registry.get(dataset["id"])
    split = dataset["split"]
    if reference == dataset["digest"]:
        return (f"{label} split '{split}' is not the official data (its scored images start at image {first_image}); score "
                f"predictions from the split's first image, or pass --unofficial to mark the entry")
    if spec.imported:
        if reference is None:
            return (f"{label} split '{split}' is not the official data (no standard digest is registered yet for data "
                    f"imported with 'groupbench import'); pass --unofficial to mark the entry")
        return (f"{label} split '{split}' is not the official data (its digest is not the registered standard one); score "
                f"predictions for the split of '{spec.imported_by}' from the published file (default splits), or pass "
                f"--unofficial to mark the entry")
    why = "its digest is not the registered standard one" if reference else "no standard digest is registered for it"
    return (f"{label} split '{split}' is not the official data ({why}); score predictions for the split of "
            f"'groupbench generate {dataset['id']}' (default seed and sizes), or pass --unofficial to mark the entry")


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
