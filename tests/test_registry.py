"""The registry: versioned ids, did-you-mean errors, parameters, third-party datasets."""

from dataclasses import dataclass

import numpy as np
import pytest

from groupbench import registry
from groupbench.errors import GroupbenchError
from groupbench.format import Batch, SplitLayout, validate
from groupbench.generation import generate
from groupbench.generators.base import Generator, compose, param


def test_unknown_ids_suggest_the_closest():
    with pytest.raises(GroupbenchError, match="did you mean 'shapes-v1'"):
        registry.get("shape-v1")
    with pytest.raises(GroupbenchError, match="ids carry a version, e.g. 'tetris-v1'"):
        registry.get("tetris")
    with pytest.raises(GroupbenchError, match="groupbench list"):
        registry.get("zzzzzz")


def test_parameters_are_parsed_and_checked():
    spec = registry.get("shapes-v1")
    assert spec.resolve_params({"num_objects": "5"}) == {"num_objects": 5, "size": 28}
    with pytest.raises(GroupbenchError, match="did you mean 'num_objects'"):
        spec.resolve_params({"num_object": "5"})
    with pytest.raises(GroupbenchError, match="not a valid int"):
        spec.resolve_params({"num_objects": "many"})
    with pytest.raises(GroupbenchError, match="num_objects must lie in 1..255"):
        spec.resolve_params({"num_objects": "0"})


def test_ids_must_be_versioned_and_unique():
    spec = registry.get("shapes-v1")
    for bad in ("shapes", "Shapes-v1", "shapes-v", "a b-v1"):
        with pytest.raises(ValueError, match="does not match"):
            registry.register(DatasetSpecLike(spec, bad))
    with pytest.raises(ValueError, match="already registered"):
        registry.register(spec)


def DatasetSpecLike(spec, new_id):
    from dataclasses import replace

    return replace(spec, id=new_id)


@dataclass(frozen=True)
class StripesParams:
    width: int = param(8, "canvas width")


class Stripes(Generator):
    """A third-party generator defined outside groupbench: one vertical stripe per image."""

    Params = StripesParams

    def layout(self, split):
        return SplitLayout(image_shape=(4, self.params.width, 1), max_objects=1)

    def generate(self, rng, split, index):
        column = rng.integers(index, 0, self.params.width)
        masks = np.zeros((len(index), 1, 4, self.params.width), bool)
        masks[np.arange(len(index)), 0, :, column] = True
        labels, overlap = compose(masks)
        return Batch(labels[..., None] * np.uint8(255), labels, overlap, masks, np.ones(len(index), np.uint8), {})


def test_a_third_party_dataset_plugs_in_without_touching_the_core(tmp_path):
    spec = registry.DatasetSpec(
        id="acme/stripes-v1",
        generator=Stripes,
        description="one stripe",
        paper="none",
        image_size=(4, 8, 1),
        objects="1",
        splits={"train": 30, "test": 10},
        default_seed=1,
    )
    registry.register(spec)
    try:
        meta = validate(generate("acme/stripes-v1", tmp_path / "s.h5", params={"width": "6"}, progress=False))
        assert meta["dataset"] == "acme/stripes-v1" and meta["params"] == {"width": 6}
        assert validate(generate("acme/stripes-v1", tmp_path / "t.h5", workers=2, params={"width": "6"}, progress=False)) == meta
    finally:
        registry._REGISTRY.pop("acme/stripes-v1")
