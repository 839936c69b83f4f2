"""Scoring files: agreement with sklearn per image, file formats, conventions, sequences, bad input."""

import json
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

from groupbench.data import SplitReader
from groupbench.errors import GroupbenchError
from groupbench.format import Batch, SplitLayout
from groupbench.generators.base import compose
from groupbench.scoring import Conventions, score_file
from groupbench.writer import DatasetFileWriter, encode_block


@pytest.fixture(scope="module")
def noisy_predictions(small_file, tmp_path_factory):
    """Ground-truth labels with 30% of pixels relabelled at random, in three file formats."""
    path = small_file("shapes-v1")
    with SplitReader(path, "test") as reader:
        truth = reader[:]
    rng = np.random.default_rng(1)
    labels = truth["labels"].astype(np.int64) * 1000 + 7
    flip = rng.random(labels.shape) < 0.3
    labels[flip] = rng.integers(0, 4, flip.sum())
    folder = tmp_path_factory.mktemp("pred")
    np.save(folder / "p.npy", labels)
    np.savez(folder / "p.npz", labels=labels)
    with h5py.File(folder / "p.h5", "w") as f:
        f["test/labels"] = labels
    return path, truth, labels, folder


def _sklearn(truth, labels, include_background=False, include_overlap=False, method="max"):
    ami, ari = [], []
    for t, o, p in zip(truth["labels"], truth["overlap"], labels):
        keep = ((t != 0) | include_background) & (~o | include_overlap)
        ami.append(adjusted_mutual_info_score(t[keep], p[keep], average_method=method))
        ari.append(adjusted_rand_score(t[keep], p[keep]))
    return np.array(ami), np.array(ari)


@pytest.mark.parametrize("name", ["p.npy", "p.npz", "p.h5"])
def test_scores_match_sklearn_per_image(noisy_predictions, name):
    path, truth, labels, folder = noisy_predictions
    results, table = score_file(folder / name, path)
    ami, ari = _sklearn(truth, labels)
    np.testing.assert_allclose(table["ami"], ami, atol=1e-9)
    np.testing.assert_allclose(table["ari"], ari, atol=1e-9)
    assert results["metrics"]["ami"]["mean"] == pytest.approx(ami.mean(), abs=1e-12)
    assert results["metrics"]["ami"]["std"] == pytest.approx(ami.std(ddof=1), abs=1e-12)
    low, high = results["metrics"]["ari"]["ci95"]
    assert low < ari.mean() < high
    assert results["images_scored"] == 200 and results["images_skipped"] == 0
    assert results["dataset"]["id"] == "shapes-v1" and len(results["dataset"]["digest"]) == 64
    assert results["conventions"]["pixels"] == "fg-unique"
    assert "background and overlap left out" in results["conventions"]["pixels_description"]
    assert set(results["metrics"]) == {"ari", "ami", "mbo", "miou-objects", "miou-segments", "msc", "sc"}
    assert results["conventions"]["degenerate"] == "one" and results["degenerate_images"]["images"] >= 0


def test_prediction_digest_identifies_the_contents(noisy_predictions):
    path, _, _, folder = noisy_predictions
    digests = {score_file(folder / n, path)[0]["predictions"]["digest"] for n in ("p.npy", "p.npz", "p.h5")}
    assert len(digests) == 1


@pytest.mark.parametrize("background, overlap, method", [(True, False, "arithmetic"), (False, True, "max"), (True, True, "max")])
def test_conventions_choose_the_pixels(noisy_predictions, background, overlap, method):
    path, truth, labels, folder = noisy_predictions
    conventions = Conventions(include_background=background, include_overlap=overlap, average_method=method)
    results, table = score_file(folder / "p.npy", path, conventions=conventions)
    ami, ari = _sklearn(truth, labels, background, overlap, method)
    np.testing.assert_allclose(table["ami"], ami, atol=1e-9)
    np.testing.assert_allclose(table["ari"], ari, atol=1e-9)
    assert results["conventions"]["include_background"] is background
    assert results["conventions"]["average_method"] == method


def test_soft_masks_are_scored_by_argmax(small_file, tmp_path):
    path = small_file("shapes-v1")
    with SplitReader(path, "test") as reader:
        truth = reader[:]
    rng = np.random.default_rng(2)
    masks = rng.random((150, 5, 28, 28)).astype(np.float32)
    np.savez(tmp_path / "soft.npz", masks=masks)
    results, table = score_file(tmp_path / "soft.npz", path, metrics=("ari",))
    assert list(table.columns) == ["index", "valid_pixels", "ari", "degenerate"]
    assert table["index"].tolist() == list(range(150))
    _, ari = _sklearn({k: v[:150] for k, v in truth.items()}, masks.argmax(1))
    np.testing.assert_allclose(table["ari"], ari, atol=1e-9)
    assert results["images_skipped"] == 50 and "scored the first 150" in results["warnings"][0]


def _sequence_file(path):
    """A tiny sequence dataset (N=6, T=4, 6x6, 2 objects) written through the format's writer."""
    rng = np.random.default_rng(3)
    masks = rng.random((6, 4, 2, 6, 6)) < 0.4
    labels, overlap = compose(masks.reshape(24, 2, 6, 6))
    layout = SplitLayout(image_shape=(6, 6, 1), max_objects=2, sequence_length=4)
    batch = Batch(
        images=(labels.reshape(6, 4, 6, 6, 1) > 0).astype(np.uint8) * 255,
        labels=labels.reshape(6, 4, 6, 6),
        overlap=overlap.reshape(6, 4, 6, 6),
        masks=masks,
        num_objects=np.full(6, 2, np.uint8),
        factors={},
    )
    with DatasetFileWriter(path, {"dataset": "test/sequence-v1", "params": {}, "seed": 0}) as writer:
        writer.create_split("test", layout, 6, start=0, total=6).write(encode_block(batch, layout, 0, keep_raw=True))
    return batch


def test_sequences_are_scored_per_frame_and_spatiotemporally(tmp_path):
    truth = _sequence_file(tmp_path / "seq.h5")
    rng = np.random.default_rng(4)
    pred = np.where(rng.random(truth.labels.shape) < 0.8, truth.labels, rng.integers(0, 3, truth.labels.shape))
    pred[:, 2:] = np.where(pred[:, 2:] > 0, 3 - pred[:, 2:], 0)  # swap ids from frame 2: hurts only spatiotemporal
    np.save(tmp_path / "pred.npy", pred)
    results, table = score_file(tmp_path / "pred.npy", tmp_path / "seq.h5", metrics=("ari",))
    assert set(results["metrics"]) == {"ari/per-frame", "ari/spatiotemporal"}
    for i in range(6):
        keep = (truth.labels[i] != 0) & ~truth.overlap[i]
        frames = [adjusted_rand_score(truth.labels[i, t][keep[t]], pred[i, t][keep[t]]) for t in range(4) if keep[t].any()]
        assert table["ari/per-frame"][i] == pytest.approx(np.mean(frames), abs=1e-9)
        assert table["ari/spatiotemporal"][i] == pytest.approx(adjusted_rand_score(truth.labels[i][keep], pred[i][keep]), abs=1e-9)
    assert "sequences" in results["conventions"]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "groupbench", "score", *args], capture_output=True, text=True)


def test_score_command_writes_results_and_per_image_csv(noisy_predictions, tmp_path):
    path, truth, labels, folder = noisy_predictions
    result = _cli(str(folder / "p.h5"), "--dataset", str(path), "--out", str(tmp_path / "r.json"),
                  "--per-image", str(tmp_path / "s.csv"), "--average-method", "arithmetic")
    assert result.returncode == 0, result.stderr
    assert "AMI" in result.stdout and "95% bootstrap CI" in result.stdout
    results = json.loads((tmp_path / "r.json").read_text())
    per_image = pd.read_csv(tmp_path / "s.csv")
    ami, _ = _sklearn(truth, labels, method="arithmetic")
    np.testing.assert_allclose(per_image["ami"], ami, atol=1e-9)
    assert results["conventions"]["average_method"] == "arithmetic"


def _write(folder, name, array, key="labels"):
    target = folder / name
    if name.endswith(".npz"):
        np.savez(target, **{key: array})
    else:
        np.save(target, array)
    return target


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda f: _write(f, "a.npy", np.zeros((200, 27, 28), np.int64)), "expected (N, 28, 28)"),
        (lambda f: _write(f, "b.npy", np.zeros((201, 28, 28), np.int64)), "201 predictions for 200 images"),
        (lambda f: _write(f, "c.npz", np.full((5, 3, 28, 28), np.nan, np.float32), "masks"), "contain NaN"),
        (lambda f: _write(f, "d.npy", -np.ones((5, 28, 28), np.int64)), "negative label ids"),
        (lambda f: _write(f, "e.npz", np.zeros((5, 28, 28)), "logits"), "no 'labels' or 'masks'"),
        (lambda f: f / "missing.npy", "no such predictions file"),
    ],
)
def test_bad_predictions_give_one_clear_line(small_file, tmp_path, make, message):
    result = _cli(str(make(tmp_path)), "--dataset", str(small_file("shapes-v1")))
    assert result.returncode == 1 and message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_missing_dataset_or_split(small_file, tmp_path):
    pred = _write(tmp_path, "p.npy", np.zeros((5, 35, 35), np.int64))
    result = _cli(str(pred), "--dataset", str(tmp_path / "nope.h5"))
    assert result.returncode == 1 and "no such file" in result.stderr
    result = _cli(str(pred), "--dataset", str(small_file("tetris-v1")), "--split", "single")
    assert result.returncode == 1 and "no split 'single'" in result.stderr
    with pytest.raises(GroupbenchError, match="--device cuda"):
        import torch

        if torch.cuda.is_available():
            pytest.skip("a CUDA device is present")
        score_file(pred, small_file("tetris-v1"), device="cuda")


def _overlap_reference(truth, labels, background_in_segments=False, include_overlap=False):
    """Per-image mBO, size-weighted SC and both Hungarian mIoUs from the definitions (scipy's matching)."""
    from scipy.optimize import linear_sum_assignment

    rows = []
    for t, o, p in zip(truth["labels"], truth["overlap"], labels):
        keep = ~o | include_overlap
        scored = keep & (t != 0)
        segment_pixels = keep if background_in_segments else scored
        objects, segments = np.unique(t[scored]), np.unique(p[segment_pixels])
        iou = np.array([[np.sum(scored & (t == i) & (p == j)) / np.sum((scored & (t == i)) | (segment_pixels & (p == j)))
                         for j in segments] for i in objects])
        sizes = np.array([np.sum(scored & (t == i)) for i in objects])
        r, c = linear_sum_assignment(iou, maximize=True)
        rows.append([iou.max(1).mean(), (sizes * iou.max(1)).sum() / sizes.sum(), iou[r, c].sum() / len(objects),
                     iou[r, c].sum() / max(len(objects), len(segments))])
    return np.array(rows)


@pytest.mark.parametrize("background_in_segments, overlap", [(False, False), (True, False), (False, True)])
def test_overlap_metrics_follow_the_pixel_conventions(noisy_predictions, background_in_segments, overlap):
    path, truth, labels, folder = noisy_predictions
    conventions = Conventions(include_overlap=overlap, background_in_segments=background_in_segments)
    results, table = score_file(folder / "p.npy", path, metrics=("mbo", "sc", "miou-objects", "miou-segments"),
                                conventions=conventions)
    expected = _overlap_reference(truth, labels, background_in_segments, overlap)
    for column, name in enumerate(("mbo", "sc", "miou-objects", "miou-segments")):
        np.testing.assert_allclose(table[name], expected[:, column], atol=1e-9)
    recorded = results["conventions"]
    assert recorded["background_in_segments"] is background_in_segments and recorded["include_overlap"] is overlap
    assert recorded["pixels"] == ("fg-visible" if overlap else "fg-unique")
    assert set(recorded["metrics"]) == {"mbo", "sc", "miou-objects", "miou-segments"}


def test_deepmind_degenerate_policy_is_recorded_and_counted(tmp_path):
    """Images with one visible object are degenerate for FG-ARI: 1.0 by default, NaN (left out, counted) with 'nan'."""
    truth = _sequence_file(tmp_path / "seq.h5")  # tiny images: some frames hold one object only
    np.save(tmp_path / "pred.npy", np.zeros_like(truth.labels))  # everything in one segment
    one, table = score_file(tmp_path / "pred.npy", tmp_path / "seq.h5", metrics=("ari",),
                            conventions=Conventions(include_overlap=True))
    nan, nan_table = score_file(tmp_path / "pred.npy", tmp_path / "seq.h5", metrics=("ari",),
                                conventions=Conventions(include_overlap=True, degenerate="nan"))
    key = "ari/per-frame"
    assert nan["conventions"]["degenerate"] == "nan" and one["conventions"]["degenerate"] == "one"
    assert nan["metrics"][key]["undefined"] == int(nan_table[key].isna().sum())
    assert nan["metrics"][key]["n"] + nan["metrics"][key]["undefined"] == 6
    assert one["metrics"][key]["undefined"] == 0 and one["metrics"][key]["mean"] >= nan["metrics"][key]["mean"] - 1e-12


def test_frame_selections_are_named_in_the_results(tmp_path):
    truth = _sequence_file(tmp_path / "seq.h5")
    rng = np.random.default_rng(5)
    pred = np.where(rng.random(truth.labels.shape) < 0.7, truth.labels, rng.integers(0, 3, truth.labels.shape))
    np.save(tmp_path / "pred.npy", pred)
    results, table = score_file(tmp_path / "pred.npy", tmp_path / "seq.h5", metrics=("ami",),
                                conventions=Conventions(frames=("skip-first", "all")))
    assert set(results["metrics"]) == {"ami/per-frame", "ami/per-frame/skip-first", "ami/spatiotemporal",
                                       "ami/spatiotemporal/skip-first"}
    assert set(results["degenerate_images"]) == {"per-frame", "per-frame/skip-first", "spatiotemporal", "spatiotemporal/skip-first"}
    assert "frames 1..T-1" in results["conventions"]["frame_selections"]["skip-first"]
    for i in range(6):
        keep = (truth.labels[i] != 0) & ~truth.overlap[i]
        frames = [adjusted_mutual_info_score(truth.labels[i, t][keep[t]], pred[i, t][keep[t]], average_method="max")
                  for t in range(1, 4) if keep[t].any()]
        assert table["ami/per-frame/skip-first"][i] == pytest.approx(np.mean(frames), abs=1e-9)


def test_a_selection_of_images_scores_those(noisy_predictions, tmp_path):
    path, truth, labels, folder = noisy_predictions
    whole, whole_table = score_file(folder / "p.npy", path, metrics=("ari",))
    part, table = score_file(folder / "p.npy", path, metrics=("ari",), first=50, count=100)
    np.save(tmp_path / "exact.npy", labels[50:150])
    exact, exact_table = score_file(tmp_path / "exact.npy", path, metrics=("ari",), first=50, count=100)
    assert part["first_image"] == exact["first_image"] == 50 and part["images_scored"] == 100 and part["images_skipped"] == 100
    np.testing.assert_array_equal(table["ari"], whole_table["ari"][50:150])
    np.testing.assert_array_equal(exact_table["ari"], table["ari"])
    assert table["index"].tolist() == list(range(50, 150)) and part["warnings"] == []
    assert exact["predictions"]["digest"] != whole["predictions"]["digest"]
    with pytest.raises(GroupbenchError, match="give predictions for the whole split"):
        np.save(tmp_path / "short.npy", labels[:120])
        score_file(tmp_path / "short.npy", path, first=50, count=100)


@pytest.mark.parametrize(
    "options, message",
    [
        (["--metrics", "ari,bogus"], "--metrics takes"),
        (["--frames", "last"], "frames must be one of"),
        (["--with-background", "--background-in-segments"], "background_in_segments applies when background is left out"),
        (["--protocol", "--with-overlap"], "--protocol fixes the images, metrics and conventions; drop --with-overlap"),
    ],
)
def test_bad_options_give_one_clear_line(noisy_predictions, cli, options, message):
    path, _, _, folder = noisy_predictions
    result = cli("score", str(folder / "p.npy"), "--dataset", str(path), *options)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_old_results_files_still_read():
    """Results written before the degenerate policy, the segments option and frame selections existed."""
    old = {"include_background": False, "include_overlap": False, "average_method": "max", "pixels": "background and overlap pixels left out",
           "aggregation": "mean over images of per-image scores"}
    conventions = Conventions.from_dict(old)
    assert conventions == Conventions() and conventions.frames == ("all",)


def test_predictions_made_for_another_split_or_file_are_refused(small_file, tmp_path, cli, refused):
    """`groupbench predict` records the split and its digest: scoring them against another split (or
    another file) would compare unrelated images, so it is refused in one line with the way out."""
    from groupbench.scoring import write_predictions

    dataset = small_file("shapes-v1")
    with SplitReader(dataset, "test") as reader:
        labels, digest = reader.group["labels"][:], reader.digest
    path = write_predictions(tmp_path / "p.h5", labels, dataset="shapes-v1", split="test", digest=digest)
    assert score_file(path, dataset, split="test", metrics=("ari",))[0]["metrics"]["ari"]["mean"] == pytest.approx(1.0)
    with pytest.raises(GroupbenchError, match="predicted for split 'test' of shapes-v1 .*; score with --split test"):
        score_file(path, dataset, split="valid", metrics=("ari",))
    from groupbench.generation import generate

    other = generate("shapes-v1", tmp_path / "other.h5", sizes={"train": 10, "valid": 10, "test": len(labels)}, seed=5, progress=False)
    with pytest.raises(GroupbenchError, match="score them against the file they were made from"):
        score_file(path, other, split="test", metrics=("ari",))
    refused(cli("score", str(path), "--dataset", str(dataset), "--split", "valid"), "predicted for split 'test'")


def test_score_explains_degenerate_images_and_their_policy(noisy_predictions):
    """The degenerate count is a sentence (what such an image is, and how the policy scored it), not a raw dict."""
    path, _, _, folder = noisy_predictions
    expected = score_file(folder / "p.npy", path, metrics=("ari",))[0]["degenerate_images"]["images"]
    for policy, how in (("one", "scored 1.0 when it is (0/0), as scikit-learn (--degenerate one)"),
                        ("nan", "scored NaN when it is (0/0: left out of the means, counted under 'undef.'), as DeepMind")):
        result = _cli(str(folder / "p.npy"), "--dataset", str(path), "--metrics", "ari", "--degenerate", policy)
        assert result.returncode == 0, result.stderr
        line = next(line for line in result.stdout.splitlines() if line.startswith("degenerate"))
        assert line.startswith(f"degenerate images: {expected:,} of 200 (ground truth trivial on the scored pixels") and how in line
        assert "{" not in result.stdout


def test_scoring_part_of_a_split_warns_first_on_stderr(noisy_predictions, tmp_path):
    """150 predictions for 200 images: the warning comes before any number, on stderr, and says what it means."""
    path, _, labels, _ = noisy_predictions
    np.save(tmp_path / "part.npy", labels[:150])
    args = [sys.executable, "-m", "groupbench", "score", str(tmp_path / "part.npy"), "--dataset", str(path), "--metrics", "ari"]
    result = subprocess.run(args, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == ("warning: only 150 of the 200 images of split 'test' are scored (75.0%; PRED holds "
                                             "150 predictions): the scores below are not the split's and are not comparable "
                                             "with scores of the whole split")
    assert "warning" not in result.stdout
    merged = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout.splitlines()
    assert merged[0].startswith("warning: only 150 of the 200 images") and merged[1].startswith("warning: 150 predictions")
    assert merged.index(next(line for line in merged if line.startswith("metric"))) > 1
    np.save(tmp_path / "all.npy", labels)
    assert "warning" not in _cli(str(tmp_path / "all.npy"), "--dataset", str(path), "--metrics", "ari").stderr


def test_uint64_ids_beyond_int64_are_refused_naming_the_file(noisy_predictions, tmp_path):
    """uint64 ids near 2**64 used to wrap to negative int64 ids and be refused as 'negative values'
    without the file's name; they are refused as what they are, with the file and the way out."""
    from groupbench.metrics import adjusted_rand_index

    path, truth, labels, folder = noisy_predictions
    huge = labels.astype(np.uint64) + np.uint64(2**64 - 100)
    np.save(tmp_path / "huge.npy", huge)
    with pytest.raises(GroupbenchError, match=r"huge.npy: label ids of 2\*\*63 or more \(prediction 0\); ids must be below 2\*\*63"):
        score_file(tmp_path / "huge.npy", path)
    flat = huge.reshape(len(huge), -1)[:4]
    with pytest.raises(GroupbenchError, match=r"found ids of 2\*\*63 or more"):
        adjusted_rand_index(np.zeros(flat.shape, np.int64), flat)


def test_score_never_writes_over_its_inputs_and_follows_the_overwrite_rule(noisy_predictions, tmp_path, cli, refused):
    """`score PRED --dataset D --out D` used to replace the dataset with JSON, and `--per-image PRED`
    the predictions with CSV; an existing output was replaced without asking."""
    import shutil

    path, _, _, folder = noisy_predictions
    data, pred = tmp_path / "data.h5", tmp_path / "p.npy"
    shutil.copy(path, data)
    shutil.copy(folder / "p.npy", pred)
    before = {p: p.read_bytes() for p in (data, pred)}
    base = ["score", str(pred), "--dataset", str(data), "--metrics", "ari", "--overwrite"]
    refused(cli(*base, "--out", str(data)), "is also an input of this command; inputs are never overwritten")
    refused(cli(*base, "--per-image", str(pred)), "--per-image")
    refused(cli(*base, "--out", str(tmp_path / "r.json"), "--per-image", str(tmp_path / "r.json")), "is also an input")
    assert {p: p.read_bytes() for p in (data, pred)} == before
    out = tmp_path / "r.json"
    out.write_text("keep")
    refused(cli(*base[:-1], "--out", str(out)), f"{out} exists; pass --overwrite to replace it or choose another --out")
    assert out.read_text() == "keep"
    assert cli(*base, "--out", str(out)).exit_code == 0 and json.loads(out.read_text())["metrics"]["ari"]["n"] > 0
