"""Protocols: one per dataset configuration, looked up by id and parameters, scoring what they say."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from groupbench import protocols, registry
from groupbench.data import SplitReader
from groupbench.errors import GroupbenchError
from groupbench.generation import generate
from groupbench.scoring import parse_metric_key, write_predictions


WITHOUT_PROTOCOL = {
    "deepmind/objects-room-empty-room-v1": "no object: every image's foreground is empty, so no grouping score applies",
}


def test_every_configuration_on_the_board_has_a_protocol():
    for spec in registry.specs():
        if spec.id in WITHOUT_PROTOCOL:
            assert protocols.find(spec.id) is None
            continue
        for params in spec.configurations:
            protocol = protocols.get(spec.id, params)
            assert parse_metric_key(protocol.primary)[0] == spec.primary_metric, spec.id
            assert parse_metric_key(protocol.primary)[0] in protocol.metrics
            if not spec.imported:
                assert protocol.images <= spec.splits[protocol.split], spec.id
            assert protocol.defined_by


def test_the_papers_define_the_protocols():
    rc, nem, iodine = protocols.get("bars-v1"), protocols.get("flying-shapes-v1"), protocols.get("tetris-v1")
    assert (rc.images, rc.primary, rc.conventions.pixels, rc.conventions.average_method) == (1000, "ami", "fg-unique", "max")
    assert nem.primary == "ami/per-frame/skip-first" and "skip-first" in nem.conventions.frames
    assert (iodine.images, iodine.primary, iodine.conventions.pixels) == (320, "ari", "fg-visible")
    deepmind = protocols.get("deepmind/multi-dsprites-colored-on-grayscale-v1")
    assert (deepmind.first_record, deepmind.images, deepmind.conventions.pixels) == (60_000, 320, "fg-visible")
    clevr = protocols.get("deepmind/clevr6-v1")
    assert (clevr.images, clevr.primary, clevr.conventions.pixels, clevr.split) == (320, "ari", "fg-visible", "test")
    assert registry.get("deepmind/clevr6-v1").splits["test"] == 320  # the import's test split is Slot Attention's


def test_lookup_by_full_or_changed_parameters():
    full = registry.get("multi-dsprites-v1").resolve_params({"variant": "binarized"})
    assert protocols.get("multi-dsprites-v1", full) is protocols.get("multi-dsprites-v1", {"variant": "binarized"})
    assert protocols.get("multi-dsprites-v1", full).label == "multi-dsprites-v1[variant=binarized]"
    imported = {"source": "tetrominoes_train.tfrecords", "source_sha256": "ab" * 32, "splits": [60000, 0, 320], "limit": None}
    assert protocols.get("deepmind/tetrominoes-v1", imported).label == "deepmind/tetrominoes-v1"  # import options are no configuration
    with pytest.raises(GroupbenchError, match=r"no protocol for flying-shapes-v1\[num_objects=7\]"):
        protocols.get("flying-shapes-v1", {"num_objects": 7})
    with pytest.raises(GroupbenchError, match="did you mean 'tetris-v1'"):
        protocols.get("tetriss-v1")
    assert protocols.find("tetriss-v1") is None


@pytest.mark.parametrize(
    "sizes, expected",
    [
        ({"train": 60_000, "valid": 10_000, "test": 10_000}, ("valid", 0)),  # the default import
        ({"train": 60_000, "test": 320}, ("test", 0)),  # --splits 60000,0,320
        ({"train": 59_000, "valid": 2_000, "test": 1_000}, ("valid", 1_000)),
        ({"train": 50_000, "valid": 10_000, "test": 10_000}, ("test", 0)),  # trained on fewer records, same evaluation
    ],
)
def test_imported_files_score_records_60000_to_60319(sizes, expected):
    assert protocols.get("deepmind/tetrominoes-v1").locate_in(sizes) == expected


def test_an_import_without_those_records_is_refused():
    with pytest.raises(GroupbenchError, match=r"records 60,000..60,319 .* --splits 60000,0,320"):
        protocols.get("deepmind/tetrominoes-v1").locate_in({"train": 50_000, "valid": 10_100, "test": 10_000})


def test_scoring_under_the_iodine_protocol(tmp_path):
    path = generate("tetris-v1", tmp_path / "tetris.h5", sizes={"train": 0, "valid": 0, "test": 400}, progress=False)
    with SplitReader(path, "test") as reader:
        truth = reader[:]
    rng = np.random.default_rng(0)
    labels = truth["labels"].astype(np.int64)
    labels = np.where(rng.random(labels.shape) < 0.1, rng.integers(0, 4, labels.shape), labels)
    write_predictions(tmp_path / "pred.h5", labels)
    results, table = protocols.score(tmp_path / "pred.h5", path)
    assert results["protocol"]["name"] == "fg-ari-320" and results["images_scored"] == 320 and results["first_image"] == 0
    assert results["headline"]["metric"] == "ari" and results["conventions"]["pixels"] == "fg-visible"
    expected = [adjusted_rand_score(t[t != 0], p[t != 0]) for t, p in zip(truth["labels"][:320], labels[:320])]
    np.testing.assert_allclose(table["ari"], expected, atol=1e-9)  # every foreground pixel, under its visible object
    assert results["headline"]["mean"] == pytest.approx(np.mean(expected), abs=1e-12)
    assert set(results["metrics"]) == set(protocols.get("tetris-v1").metrics)


def test_a_split_smaller_than_the_protocol_is_refused(small_file, tmp_path):
    np.save(tmp_path / "p.npy", np.zeros((200, 35, 35), np.int64))
    with pytest.raises(GroupbenchError, match="scores the first 320 test images; its test split holds 200"):
        protocols.score(tmp_path / "p.npy", small_file("tetris-v1"))
    with pytest.raises(GroupbenchError, match="the fg-ari-320 protocol is for tetris-v1"):
        protocols.score(tmp_path / "p.npy", small_file("shapes-v1"), protocol=protocols.get("tetris-v1"))


def test_the_nem_protocol_scores_as_nem_did(small_file, tmp_path):
    """The headline of the flying protocols is N-EM's own sequence score: per-frame AMI over frames
    1..T-1 (the frames its steps predict), max normaliser, background and overlap left out, averaged
    over frames and then sequences; here against scikit-learn, frame by frame."""
    from sklearn.metrics import adjusted_mutual_info_score

    path = small_file("flying-shapes-v1")
    with SplitReader(path, "test") as reader:
        truth, overlap = reader.group["labels"][:].astype(np.int64), reader.group["overlap"][:]
    rng = np.random.default_rng(1)
    labels = np.where(rng.random(truth.shape) < 0.25, rng.integers(0, 3, truth.shape), truth)
    labels[:, 0] = labels[:, 1]  # as N-EM's predictions: frame 0 gets the assignment of step 1
    write_predictions(tmp_path / "pred.h5", labels)
    nem = [np.mean([adjusted_mutual_info_score(t[(t != 0) & ~o], p[(t != 0) & ~o], average_method="max")
                    for t, o, p in zip(ts[1:], os[1:], ps[1:]) if ((t != 0) & ~o).any()])
           for ts, os, ps in zip(truth[:40], overlap[:40], labels[:40])]
    protocol = dataclasses.replace(protocols.get("flying-shapes-v1"), images=40, metrics=("ami",))
    results, table = protocols.score(tmp_path / "pred.h5", path, protocol=protocol)
    assert results["headline"]["metric"] == "ami/per-frame/skip-first" and results["images_scored"] == 40
    np.testing.assert_allclose(table["ami/per-frame/skip-first"], nem, atol=1e-9)
    assert results["headline"]["mean"] == pytest.approx(np.mean(nem), abs=1e-12)
    assert results["metrics"]["ami/per-frame"]["mean"] != pytest.approx(results["headline"]["mean"], abs=1e-6)


def test_a_small_test_set_is_scored_whole_when_asked(small_file, tmp_path):
    """allow_fewer: a split smaller than the protocol's images is scored whole with its metrics and
    conventions (reproductions on small data); the board then shows the result apart."""
    with SplitReader(small_file("tetris-v1"), "test") as reader:
        np.save(tmp_path / "p.npy", reader.group["labels"][:])
    results, _ = protocols.score(tmp_path / "p.npy", small_file("tetris-v1"), allow_fewer=True)
    assert results["images_scored"] == 200 and results["conventions"]["pixels"] == "fg-visible"
    assert results["headline"]["mean"] == 1.0 and results["protocol"]["images"] == 320


def test_differences_name_what_departs_from_the_protocol():
    protocol = protocols.get("multi-dsprites-v1")
    metric = {"mean": 0.8, "std": None, "seeds": 1, "values": [0.8],
              "conventions": {"include_background": False, "include_overlap": True, "aggregation": "mean"}}
    entry = {"dataset": {"id": "multi-dsprites-v1", "split": "test", "digest": None, "images": 320, "official": True},
             "metrics": {"ari": metric}}
    assert protocol.differences(entry) == []
    left_out = {**metric, "conventions": {**metric["conventions"], "include_overlap": False}}
    other = {"dataset": {**entry["dataset"], "images": 10_000, "official": False}, "metrics": {"ari": left_out}}
    assert protocol.differences(other) == [
        "not the official data", "10,000 images (protocol: 320)",
        "overlap pixels left out (protocol: scored under their visible object)",
    ]
    assert protocol.differences({**entry, "metrics": {"ami": metric}}) == ["no ari score"]
