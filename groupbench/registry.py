"""The dataset registry: versioned ids (``shapes-v1``), one `DatasetSpec` per id, "did you mean" errors.

Built-in datasets are registered in `groupbench.generators`; ids whose files are converted from data
published elsewhere (no generator) in `groupbench.importers`. A third-party package adds its own
without touching this code: it calls `register` in a module that it names as an entry point in
the ``groupbench.datasets`` group of its package metadata (see docs/datasets.md).
Any change to what a registered id generates must be a new version, never an edit of the old one.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import re
import typing
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from groupbench.errors import GroupbenchError

ID_PATTERN = re.compile(r"^(?:(?P<namespace>[a-z0-9_.]+)/)?(?P<name>[a-z0-9][a-z0-9-]*)-v(?P<version>[0-9]+)$")
"""``[namespace/]name-vN``: lower case, a version always; third parties use a namespace."""

PLUGIN_GROUP = "groupbench.datasets"


@dataclass(frozen=True)
class DatasetSpec:
    """Everything known about a dataset id without generating it."""

    id: str
    """Versioned id, e.g. ``shapes-v1``."""
    generator: str | type | None
    """The generator class, or ``"module:Class"`` imported on first use; None for an import-only id."""
    description: str
    """One line: what the images show."""
    paper: str
    """Where the dataset comes from (citation)."""
    image_size: tuple[int, int, int]
    """(H, W, C) of an image or frame."""
    objects: str
    """Objects per image in the multi-object splits, e.g. ``"3"`` or ``"2-5"``."""
    splits: dict[str, int]
    """Default number of samples per split; the keys are the splits this dataset has."""
    default_seed: int
    """Seed used when none is given."""
    sequence_length: int | None = None
    """T for sequence datasets."""
    binary: bool = False
    """Images use only 0 and 255."""
    primary_metric: str = "ami"
    """Metric the leaderboard ranks by: "ami" for the RC and N-EM datasets, "ari" for IODINE's."""
    configurations: tuple[dict[str, Any], ...] = ({},)
    """Parameter sets the leaderboard ranks separately (default parameters first), e.g. variants."""
    notes: str = ""
    """Where this dataset departs from the original, if anywhere."""
    imported_by: str = ""
    """Import-only ids (generator None): the command that writes their files from the published data."""
    import_params: dict[str, Any] = field(default_factory=dict)
    """Import-only ids: the ``params`` a standard import records (what `resolve_params` returns)."""

    @property
    def imported(self) -> bool:
        """True for an id whose files are imported from published data rather than generated."""
        return self.generator is None

    def _not_generated(self) -> GroupbenchError:
        return GroupbenchError(f"{self.id} is not generated: its files are imported from the published data with '{self.imported_by}'")

    def generator_class(self) -> type:
        """The generator class (imports it when the spec names it lazily)."""
        if self.generator is None:
            raise self._not_generated()
        if not isinstance(self.generator, str):
            return self.generator
        module, _, name = self.generator.partition(":")
        return getattr(importlib.import_module(module), name)

    def resolve_params(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """Full parameter dict: defaults with ``overrides`` applied (strings parsed by field type).

        Import-only ids take no overrides and return `import_params`.
        """
        if self.generator is None:
            if overrides:
                raise self._not_generated()
            return dict(self.import_params)
        params_type = self.generator_class().Params
        fields = {f.name: f for f in dataclasses.fields(params_type)}
        hints = typing.get_type_hints(params_type)
        values = {}
        for key, raw in (overrides or {}).items():
            if key not in fields:
                known = ", ".join(fields) or "none"
                raise GroupbenchError(f"{self.id} has no parameter {key!r}{_did_you_mean(key, fields)} (parameters: {known})")
            values[key] = _parse_value(self.id, key, raw, hints[key])
        try:
            params = params_type(**values)
        except (TypeError, ValueError) as exc:
            raise GroupbenchError(f"{self.id}: {exc}") from None
        return dataclasses.asdict(params)

    def make(self, params: dict[str, Any] | None = None):
        """A generator instance for the full parameter dict ``params`` (defaults when None)."""
        cls = self.generator_class()
        return cls(cls.Params(**(params if params is not None else self.resolve_params())))


def _parse_value(dataset_id: str, key: str, raw: Any, kind: type) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        if kind is bool:
            lowered = raw.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return lowered in ("true", "1", "yes")
        return kind(raw)
    except ValueError:
        raise GroupbenchError(f"{dataset_id}: parameter {key}={raw!r} is not a valid {kind.__name__}") from None


def _did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


_REGISTRY: dict[str, DatasetSpec] = {}
_loaded = False


def register(spec: DatasetSpec) -> DatasetSpec:
    """Add a dataset id. Ids are versioned and unique; registering one twice is an error."""
    if not ID_PATTERN.match(spec.id):
        raise ValueError(f"dataset id {spec.id!r} does not match [namespace/]name-vN (lower case)")
    if spec.id in _REGISTRY:
        raise ValueError(f"dataset id {spec.id!r} is already registered")
    _REGISTRY[spec.id] = spec
    return spec


def _ensure_loaded() -> None:
    """Import the built-in registrations and every installed plugin, once."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    importlib.import_module("groupbench.generators")
    importlib.import_module("groupbench.importers")
    for entry in entry_points(group=PLUGIN_GROUP):
        entry.load()


def get(dataset_id: str) -> DatasetSpec:
    """The spec of ``dataset_id``; an unknown id raises with the closest registered ids."""
    _ensure_loaded()
    if dataset_id in _REGISTRY:
        return _REGISTRY[dataset_id]
    versions = sorted(i for i in _REGISTRY if i.rsplit("-v", 1)[0] == dataset_id)
    if versions:
        hint = f"; ids carry a version, e.g. {versions[-1]!r}"
    else:
        hint = _did_you_mean(dataset_id, _REGISTRY)
    raise GroupbenchError(f"unknown dataset {dataset_id!r}{hint} ('groupbench list' shows them all)")


def specs() -> list[DatasetSpec]:
    """All registered specs, sorted by id."""
    _ensure_loaded()
    return [_REGISTRY[i] for i in sorted(_REGISTRY)]
