"""The leaderboard: entries, official data, duplicates, concurrent submits, load, ranking, rendering."""

import copy
import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from groupbench.data import SplitReader
from groupbench.errors import GroupbenchError
from groupbench.generation import generate
from groupbench.leaderboard import Board, load
from groupbench.leaderboard.board import validate_entry
from groupbench import protocols
from groupbench.leaderboard.render import render, sections
from groupbench.leaderboard.submit import entry_from_results, reference_digests, rescore_entry
from groupbench.scoring import score_file

REPOSITORY_BOARD = Path(__file__).resolve().parents[1] / "leaderboard"

@pytest.fixture(scope="module")
def official_shapes(tmp_path_factory):
    """The official shapes-v1 test split (default seed and size) and noisy predictions for it."""
    folder = tmp_path_factory.mktemp("official")
    path = generate("shapes-v1", folder / "shapes.h5", sizes={"train": 0, "valid": 0, "test": 10_000, "single": 0}, progress=False)
    with SplitReader(path, "test") as reader:
        labels = reader.group["labels"][:].astype(np.int64)
    predictions = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        noisy = labels.copy()
        flip = rng.random(noisy.shape) < 0.1 * (seed + 1)
        noisy[flip] = rng.integers(0, 4, int(flip.sum()))
        np.save(folder / f"seed{seed}.npy", noisy)
        predictions.append(folder / f"seed{seed}.npy")
    return path, predictions


@pytest.fixture(scope="module")
def seed_results(official_shapes):
    path, predictions = official_shapes
    return [score_file(p, path)[0] for p in predictions]


def test_the_registered_digest_is_what_generate_writes(official_shapes, seed_results):
    assert seed_results[0]["dataset"]["digest"] == reference_digests()["shapes-v1"]["test"]


def test_an_entry_from_three_seeds(seed_results):
    entry = entry_from_results(seed_results, method="Noise", variant="p=0.1..0.3", source="reproduced", kind="baseline")
    validate_entry(entry)
    ami = entry["metrics"]["ami"]
    values = [r["metrics"]["ami"]["mean"] for r in seed_results]
    assert ami["values"] == values and ami["seeds"] == 3
    assert ami["mean"] == pytest.approx(np.mean(values)) and ami["std"] == pytest.approx(np.std(values, ddof=1))
    assert ami["conventions"] == {
        "include_background": False, "include_overlap": False, "pixels": "fg-unique", "average_method": "max",
        "degenerate": "one", "aggregation": "mean over images of per-image scores",
    }
    assert entry["metrics"]["mbo"]["conventions"]["background_in_segments"] is False
    assert entry["dataset"]["official"] is True and entry["dataset"]["images"] == 10_000
    assert len(entry["predictions"]) == 3


def test_unofficial_data_is_refused_unless_marked(small_file, tmp_path):
    path = small_file("shapes-v1")
    with SplitReader(path, "test") as reader:
        np.save(tmp_path / "p.npy", reader.group["labels"][:])
    results = [score_file(tmp_path / "p.npy", path)[0]]
    with pytest.raises(GroupbenchError, match="not the official data .*--unofficial"):
        entry_from_results(results, method="Oracle")
    entry = entry_from_results(results, method="Oracle", unofficial=True)
    assert entry["dataset"]["official"] is False


def test_part_of_the_official_split_is_official_data_shown_apart(official_shapes, tmp_path):
    """The first 320 images of the standard split are official data; the protocol scores 10,000."""
    path, predictions = official_shapes
    np.save(tmp_path / "part.npy", np.load(predictions[0])[:320])
    entry = entry_from_results([score_file(tmp_path / "part.npy", path)[0]], method="Partial")
    assert entry["dataset"]["official"] is True and entry["dataset"]["images"] == 320
    assert protocols.get("shapes-v1").differences(entry) == ["320 images (protocol: 10,000)"]


def test_seeds_of_different_configurations_do_not_mix(seed_results):
    other = copy.deepcopy(seed_results[1])
    other["conventions"]["average_method"] = "arithmetic"
    with pytest.raises(GroupbenchError, match="disagree on the scoring conventions"):
        entry_from_results([seed_results[0], other], method="Mixed")


def test_duplicates_and_invalid_entries_are_refused(seed_results, tmp_path):
    board = Board(tmp_path / "board")
    entry = entry_from_results(seed_results[:1], method="Noise", variant="p=0.1")
    board.add(entry)
    with pytest.raises(GroupbenchError, match="already on the board"):
        board.add(copy.deepcopy(entry))
    broken = copy.deepcopy(entry)
    broken["kind"] = "mystery"
    with pytest.raises(GroupbenchError, match="invalid at kind"):
        board.add(broken)
    lying = copy.deepcopy(entry)
    lying["metrics"]["ami"]["mean"] += 0.1
    with pytest.raises(GroupbenchError, match="mean is not the mean of its values"):
        board.add(lying)
    reported = copy.deepcopy(entry)
    reported["source"] = {"type": "reported"}
    with pytest.raises(GroupbenchError, match="'reference' is a required property"):
        board.add(reported)
    assert len(board.entries()) == 1


def _submit_one(args):
    board, entry, barrier = args
    barrier.wait()
    return str(Board(board).add(entry))


def test_concurrent_submissions_lose_nothing(seed_results, tmp_path):
    entries = []
    for i in range(8):
        entry = entry_from_results(seed_results[:1], method=f"Method {i}")
        entries.append(entry)
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(8)
        with context.Pool(8) as pool:
            paths = pool.map(_submit_one, [(tmp_path / "board", e, barrier) for e in entries])
    assert len(set(paths)) == 8
    stored = Board(tmp_path / "board").entries()
    assert sorted(e["method"] for _, e in stored) == [f"Method {i}" for i in range(8)]
    assert not list((tmp_path / "board" / "entries").glob(".*partial*"))


def test_load_ranks_and_renders(seed_results, tmp_path):
    board = Board(tmp_path / "board", reported=False)  # this board's entries only, not the papers' shipped numbers
    for i, results in enumerate(seed_results):
        board.add(entry_from_results([results], method=f"Noise {i}", variant=f"p={0.1 * (i + 1):.1f}"))
    reported = json.loads(json.dumps(board.entries()[0][1]))
    reported.update(method="Paper", source={"type": "reported", "reference": "A paper, Table 1"}, predictions=[])
    reported["dataset"].update(digest=None, images=None)
    reported["metrics"] = {"ari": {**reported["metrics"]["ari"], "mean": 0.99, "values": None, "std": 0.004, "seeds": 5}}
    board.add(reported)
    frame = load(board)
    assert len(frame) == 3 * 7 + 1 and set(frame["metric"]) == {"ami", "ari", "mbo", "miou-objects", "miou-segments", "msc", "sc"}
    assert frame.loc[frame["method"] == "Paper", "reference"].item() == "A paper, Table 1"
    assert frame.loc[frame["method"] == "Paper", "differences"].item() == "image count unknown; no ami score"
    assert frame.loc[frame["method"] == "Noise 0", "under_protocol"].all()
    (section,) = sections(board)
    # shapes-v1 ranks by AMI under its protocol: the least noisy first; the entry without AMI is shown apart
    assert [row.entry["method"] for row in section.ranked] == ["Noise 0", "Noise 1", "Noise 2"]
    assert [(g.differences, [r.entry["method"] for r in g.rows]) for g in section.apart] == [(("image count unknown", "no ami score"), ["Paper"])]
    markdown, page = render(board)
    text = markdown.read_text()
    assert "## shapes-v1" in text and "| 1 | Noise 0 |" in text and "0.990 ± 0.004" in text
    assert "Apart, not ranked with the above (image count unknown; no ami score)" in text and "reported (A paper, Table 1)" in text
    html = page.read_text()
    assert "<svg" in html and "http://" not in html.replace("http://www.w3.org", "") and "src=" not in html


def test_submit_command_scores_predictions(official_shapes, tmp_path):
    path, predictions = official_shapes
    args = [sys.executable, "-m", "groupbench", "leaderboard", "submit", str(predictions[0]), str(predictions[1]),
            "--dataset", str(path), "--method", "Noise", "--board", str(tmp_path / "b"), "--create"]
    result = subprocess.run(args, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "added" in result.stdout and "unofficial" not in result.stdout
    again = subprocess.run(args, capture_output=True, text=True)
    assert again.returncode == 1 and "already on the board" in again.stderr and "Traceback" not in again.stderr
    rendered = subprocess.run([sys.executable, "-m", "groupbench", "leaderboard", "render", "--board", str(tmp_path / "b")],
                              capture_output=True, text=True)
    assert rendered.returncode == 0 and (tmp_path / "b" / "index.html").exists()
    entry = Board(tmp_path / "b").entries()[0][1]
    assert entry["metrics"]["ami"]["seeds"] == 2


def test_submit_refuses_predictions_without_a_dataset(tmp_path):
    np.save(tmp_path / "p.npy", np.zeros((3, 28, 28), np.int64))
    result = subprocess.run([sys.executable, "-m", "groupbench", "leaderboard", "submit", str(tmp_path / "p.npy"),
                             "--method", "X", "--board", str(tmp_path / "b"), "--create"], capture_output=True, text=True)
    assert result.returncode == 1 and "pass --dataset" in result.stderr


def test_the_committed_board_is_rendered_from_its_entries(tmp_path):
    """leaderboard/README.md and index.html must be re-rendered whenever an entry changes."""
    from groupbench.leaderboard.render import render_html, render_markdown

    board = Board(REPOSITORY_BOARD)
    assert (REPOSITORY_BOARD / "README.md").read_text() == render_markdown(board)
    assert (REPOSITORY_BOARD / "index.html").read_text() == render_html(board)


def test_the_committed_board_never_ranks_unlike_with_unlike():
    """Every ranked table holds entries that follow its protocol: same images, same conventions."""
    board = Board(REPOSITORY_BOARD)
    for section in sections(board):
        if not section.ranked:
            continue
        key = section.primary
        shapes = {(r.entry["dataset"]["images"], json.dumps({k: v for k, v in r.metric(key)["conventions"].items()
                   if k not in ("note", "aggregation")} | {"degenerate": r.metric(key)["conventions"].get("degenerate", "one")},
                   sort_keys=True)) for r in section.ranked}
        assert len(shapes) == 1, (section.label, shapes)
        assert all(r.entry["dataset"]["official"] for r in section.ranked), section.label
    by_label = {s.label: s for s in sections(board)}
    # the multi-dSprites table ranks only FG-ARI with overlap pixels under their visible object, on 320 images
    for row in by_label["multi-dsprites-v1"].ranked:
        assert row.metric("ari")["conventions"]["include_overlap"] is True and row.entry["dataset"]["images"] == 320
    ranked = {r.entry["method"] for r in by_label["deepmind/multi-dsprites-colored-on-grayscale-v1"].ranked}
    assert ranked == {"IODINE", "MONet", "Slot Attention", "EfficientMORL"}
    # CLEVR6 at 128x128 ranks IODINE, MONet and Slot Attention; EfficientMORL's 96x96 CLEVR6 is shown apart
    clevr6 = by_label["deepmind/clevr6-v1"]
    assert {r.entry["method"] for r in clevr6.ranked} == {"IODINE", "MONet", "Slot Attention"}
    assert [r.entry["method"] for g in clevr6.apart for r in g.rows] == ["EfficientMORL"]
    apart = {g.differences: [r.entry["method"] for r in g.rows] for g in by_label["shapes-v1"].apart}
    assert apart[("1,000 images (protocol: 10,000)",)] == ["RC"] * 4  # RC's protocol is not N-EM's
    assert apart[("320 images (protocol: 10,000)", "no ami score")] == ["IODINE", "R-NEM"]


def test_reproductions_show_their_difference_from_the_paper_and_their_budget():
    board = Board(REPOSITORY_BOARD)
    rows = [r for s in sections(board) for r in s.ranked + [x for g in s.apart for x in g.rows]]
    reproduced = [r for r in rows if r.entry["source"]["type"] == "reproduced" and r.entry["method"] != "Connected components"]
    assert reproduced and all(r.entry.get("paper_result") for r in reproduced)
    for row in reproduced:
        paper = row.entry["paper_result"]
        delta, target = row.paper_difference()
        assert float(delta) == pytest.approx(row.metric(paper["metric"])["mean"] - paper["mean"], abs=5e-4)
        assert paper["reference"] in target
        assert any(paper["reference"] in line for line in row.notes)  # shown with its names' capitals
    budgeted = [r for r in rows if (r.entry.get("compute") or {}).get("budget")]
    assert len(budgeted) == 4 and all(r.budget and "[budget" not in r.entry["variant"] for r in budgeted)
    text = (REPOSITORY_BOARD / "README.md").read_text()
    assert text.count(" (budget run) |") == len(budgeted)
    page = (REPOSITORY_BOARD / "index.html").read_text()
    assert page.count('class="badge"') == len(budgeted) and "budget-hatch" in page


def test_old_entries_still_read(seed_results):
    """An entry written before protocols: no pixels, degenerate policy, frames or paper result."""
    entry = entry_from_results(seed_results[:1], method="Old")
    for metric in entry["metrics"].values():
        for key in ("pixels", "degenerate", "background_in_segments"):
            metric["conventions"].pop(key, None)
    entry["metrics"] = {k: v for k, v in entry["metrics"].items() if k in ("ami", "ari")}
    validate_entry(entry)
    assert protocols.get("shapes-v1").differences(entry) == []


def test_rescoring_checks_the_predictions_and_keeps_the_provenance(official_shapes, tmp_path):
    path, predictions = official_shapes
    old = entry_from_results([score_file(predictions[0], path, metrics=("ami",))[0]], method="Noise", variant="p=0.1",
                             source="reproduced", kind="baseline", compute={"device": "cpu", "budget": "3 epochs"},
                             paper_result={"metric": "ami", "mean": 0.9, "std": None, "reference": "A paper, Table 2"})
    board = Board(tmp_path / "board")
    old_path = board.add(old)
    with pytest.raises(GroupbenchError, match="not the predictions the entry was scored from"):
        rescore_entry(old, [str(predictions[1])], str(path))
    args = [sys.executable, "-m", "groupbench", "leaderboard", "rescore", str(old_path), str(predictions[0]), "--dataset", str(path)]
    result = subprocess.run(args, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    ((new_path, new),) = board.entries()
    assert new_path != old_path and not old_path.exists() and new["protocol"] == "nem-10000"
    assert set(new["metrics"]) == set(protocols.get("shapes-v1").metrics)
    assert new["metrics"]["ami"]["mean"] == old["metrics"]["ami"]["mean"]  # same images, same conventions
    assert new["compute"] == old["compute"] and new["paper_result"] == old["paper_result"]
    assert "Rescored under the nem-10000 protocol from the same predictions" in new["notes"]


def test_submit_records_the_paper_result(official_shapes, tmp_path, cli):
    path, predictions = official_shapes
    results = tmp_path / "r.json"
    results.write_text(json.dumps(score_file(predictions[0], path, metrics=("ami",))[0]))
    board = tmp_path / "b"
    bad = cli("leaderboard", "submit", str(results), "--method", "X", "--paper-result", "ami=high", "--paper-reference", "P",
              "--board", str(board), "--create")
    assert bad.exit_code == 1 and "--paper-result takes METRIC=MEAN" in bad.output
    good = cli("leaderboard", "submit", str(results), "--method", "X", "--source", "reproduced", "--budget", "2 epochs",
               "--paper-result", "ami=0.9+-0.01", "--paper-reference", "A paper, Table 2", "--board", str(board), "--create")
    assert good.exit_code == 0, good.output
    entry = Board(board).entries()[0][1]
    assert entry["paper_result"] == {"metric": "ami", "mean": 0.9, "std": 0.01, "reference": "A paper, Table 2"}
    assert entry["compute"] == {"budget": "2 epochs"}


def test_protocols_command_lists_every_configuration(cli):
    result = cli("leaderboard", "protocols")
    assert result.exit_code == 0
    assert "multi-dsprites-v1: fg-ari-320: the first 320 test images; ranked by ari; pixels fg-visible" in result.output
    assert len(result.output.strip().splitlines()) == len(protocols.PROTOCOLS)


# --- results files: schema, self-consistency, repeats; the board folder; paper results; imported data ----------------


@pytest.fixture(scope="module")
def noisy_results(tmp_path_factory, small_file):
    """Results of noisy predictions for the small shapes-v1 test split, scored under its protocol's
    conventions (all 200 images: a protocol record and a headline), and the predictions file."""
    folder = tmp_path_factory.mktemp("noisy")
    path = small_file("shapes-v1")
    with SplitReader(path, "test") as reader:
        labels = reader.group["labels"][:].astype(np.int64)
    rng = np.random.default_rng(0)
    flip = rng.random(labels.shape) < 0.3
    labels[flip] = rng.integers(0, 4, int(flip.sum()))
    np.save(folder / "noisy.npy", labels)
    results = protocols.score(folder / "noisy.npy", path, allow_fewer=True)[0]
    return json.loads(json.dumps(results)), folder / "noisy.npy", path


def _write(folder: Path, results, name: str = "r.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(results))
    return path


MALFORMED = [
    ("del r['dataset']['id']", "'dataset.id' is missing"),
    ("del r['dataset']['digest']", "'dataset.digest' is missing"),
    ("del r['predictions']", "'predictions' is missing"),
    ("del r['metrics']['ami']['mean']", "'metrics.ami.mean' is missing"),
    ("del r['images_scored']", "'images_scored' is missing"),
    ("r['metrics']['ami']['mean'] = 'high'", "'metrics.ami.mean' must be a number, not \"high\""),
    ("r['dataset'] = [1, 2]", "'dataset' must be an object, not [1, 2]"),
    ("r['metrics'] = [1]", "'metrics' must be an object, not [1]"),
    ("r['conventions'] = 'x'", "'conventions' must be an object, not \"x\""),
    ("r['metrics'] = {}", "'metrics' must not be empty"),
    ("r['metrics']['fg-ari'] = {'mean': 0.5}", "'metrics' holds an unknown score name 'fg-ari'"),
    ("r['conventions']['degenerate'] = 'zero'", "'conventions.degenerate' must be one of 'one', 'nan', not \"zero\""),
    ("r['dataset']['digest'] = 'abc'", "'dataset.digest' must match ^[0-9a-f]{64}$, not \"abc\""),
    ("r['images_scored'] = 0", "'images_scored' must be at least 1, not 0"),
    ("r['protocol'] = 'nem-10000'", "'protocol' must be an object or null, not \"nem-10000\""),
    ("r = [r]", "its top level must be an object, not [{"),
]


@pytest.mark.parametrize("jsonschema_installed", [True, False])
@pytest.mark.parametrize("edit,problem", MALFORMED)
def test_malformed_results_are_refused_in_one_line(noisy_results, tmp_path, cli, refused, monkeypatch, edit, problem,
                                                    jsonschema_installed):
    """Checked against results.schema.json, by jsonschema or (without it) by groupbench's own reading."""
    if not jsonschema_installed:
        monkeypatch.setitem(sys.modules, "jsonschema", None)  # `import jsonschema` raises ImportError
    scope = {"r": copy.deepcopy(noisy_results[0])}
    exec(edit, scope)
    results = _write(tmp_path, scope["r"])
    board = tmp_path / "board"
    (board / "entries").mkdir(parents=True)
    result = cli("leaderboard", "submit", str(results), "--method", "X", "--unofficial", "--board", str(board))
    refused(result, f"{results}: not a groupbench results file: {problem}")
    assert list(board.rglob("*")) == [board / "entries"]  # the board is untouched


def test_old_results_files_still_submit(noisy_results, tmp_path, cli, monkeypatch):
    """A results file written before protocols: no protocol or headline, no degenerate, frames,
    background_in_segments or pixels conventions, no first image, parameters or undefined counts."""
    from groupbench.leaderboard.submit import validate_results

    old = copy.deepcopy(noisy_results[0])
    for key in ("protocol", "headline", "first_image"):
        del old[key]
    del old["dataset"]["params"]
    for key in ("degenerate", "frames", "background_in_segments", "pixels", "pixels_description", "undefined", "metrics"):
        old["conventions"].pop(key, None)
    old["metrics"] = {name: {k: v for k, v in m.items() if k != "undefined"} for name, m in old["metrics"].items() if name in ("ari", "ami")}
    results = _write(tmp_path, old)
    result = cli("leaderboard", "submit", str(results), "--method", "Old", "--unofficial", "--board", str(tmp_path / "b"), "--create")
    assert result.exit_code == 0, result.output
    ((_, entry),) = Board(tmp_path / "b").entries()
    assert entry["metrics"]["ami"]["conventions"]["degenerate"] == "one" and "protocol" not in entry
    monkeypatch.setitem(sys.modules, "jsonschema", None)
    validate_results(old)  # without jsonschema too


INCONSISTENT = [
    ("r['metrics']['ami']['mean'] = 0.99", "metrics.ami mean 0.9900 lies outside its recorded 95% interval"),
    ("r['metrics']['ami'].update(mean=0.999, ci95=[0.998, 1.0]); r['headline'].update(mean=0.999)",
     "metrics.ami std 0.0738 is impossible for a mean of 0.9990 over scores in [-1, 1]"),  # the per-image scores' spread is impossible for that mean
    ("r['metrics']['ami'].update(mean=0.42, ci95=[0.41, 0.43])", "the headline ami mean 0.4051 is not metrics.ami mean 0.4200"),
    ("r['metrics']['ari']['sem'] *= 2", "metrics.ari sem"),
    ("r['metrics']['ari']['n'] = 150", "metrics.ari has n 150 and 0 undefined, not the 200 images scored"),
    ("r['metrics']['ari']['ci95'] = r['metrics']['ari']['ci95'][::-1]", "metrics.ari has a reversed 95% interval"),
    ("r['images_scored'] = 300", "images 0..299 scored, but the split holds 200"),
]


@pytest.mark.parametrize("edit,problem", INCONSISTENT)
def test_results_that_disagree_with_themselves_are_refused(noisy_results, tmp_path, cli, refused, edit, problem):
    """An AMI edited to 0.99 (same predictions digest) is refused: the mean, its interval, std, sem, n
    and the headline of a results file agree, as 'groupbench score' writes them."""
    scope = {"r": copy.deepcopy(noisy_results[0])}
    assert scope["r"]["metrics"]["ami"]["mean"] == pytest.approx(0.4051, abs=1e-4)
    exec(edit, scope)
    results = _write(tmp_path, scope["r"])
    result = cli("leaderboard", "submit", str(results), "--method", "X", "--unofficial", "--board", str(tmp_path / "b"), "--create")
    refused(result, f"{results}: not self-consistent: {problem}")
    assert not (tmp_path / "b").exists()
    with pytest.raises(GroupbenchError, match="not self-consistent"):
        entry_from_results([scope["r"]], method="X", unofficial=True)


def test_given_predictions_the_scores_are_recomputed(official_shapes, seed_results, tmp_path, cli):
    """Numbers edited consistently cannot be told from the file alone; the predictions settle them:
    submitted with --dataset they are scored, and an entry is rescored from them (digests checked)."""
    path, predictions = official_shapes
    edited = copy.deepcopy(seed_results[0])
    truth = edited["metrics"]["ami"]["mean"]
    edited["metrics"]["ami"]["mean"] += 0.01
    edited["metrics"]["ami"]["ci95"] = [v + 0.01 for v in edited["metrics"]["ami"]["ci95"]]
    entry = entry_from_results([edited], method="Edited")
    rescored = rescore_entry(entry, [str(predictions[0])], str(path))
    assert rescored["metrics"]["ami"]["mean"] == pytest.approx(truth) and f"ami {truth + 0.01:.4f}" in rescored["notes"]
    result = cli("leaderboard", "submit", str(predictions[0]), "--dataset", str(path), "--method", "Scored",
                 "--board", str(tmp_path / "b"), "--create")
    assert result.exit_code == 0, result.output
    assert Board(tmp_path / "b").entries()[0][1]["metrics"]["ami"]["mean"] == pytest.approx(truth)


def test_the_same_results_twice_are_not_two_seeds(noisy_results, tmp_path, cli, refused, monkeypatch):
    results, predictions, dataset = noisy_results
    first = _write(tmp_path, results)
    args = ["--method", "X", "--unofficial", "--board", str(tmp_path / "b"), "--create"]
    refused(cli("leaderboard", "submit", str(first), str(first), *args), f"{first} is given twice; each file is one training seed")
    monkeypatch.chdir(tmp_path)
    refused(cli("leaderboard", "submit", str(first), "r.json", *args), f"r.json is {first} again")
    copied = _write(tmp_path, results, "copy.json")  # another file, the same predictions
    refused(cli("leaderboard", "submit", str(first), str(copied), *args),
            f"{copied}: the same predictions as {first} (digest {results['predictions']['digest'][:12]})")
    refused(cli("leaderboard", "submit", str(predictions), str(predictions), "--dataset", str(dataset), *args), "is given twice")
    with pytest.raises(GroupbenchError, match="results 1 and 2 are of the same predictions"):
        entry_from_results([results, copy.deepcopy(results)], method="X", unofficial=True)
    assert not (tmp_path / "b").exists()


def test_a_misspelt_board_is_refused_unless_created(noisy_results, tmp_path, cli, refused, monkeypatch):
    results = _write(tmp_path, noisy_results[0])
    monkeypatch.chdir(tmp_path)
    message = "board 'bord': no such leaderboard folder; pass --create to start a new one"
    submit = ["leaderboard", "submit", str(results), "--method", "X", "--unofficial", "--board", "bord"]
    refused(cli(*submit), message)
    refused(cli("leaderboard", "render", "--board", "bord"), message)
    refused(cli("reproduce", "rc-shapes", "--board", "bord"), message)  # before any data, training or scoring
    refused(cli("leaderboard", "render"), "board 'leaderboard': no such leaderboard folder")  # the default too
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]
    assert cli(*submit, "--create").exit_code == 0 and len(Board("bord").entries()) == 1
    assert cli("leaderboard", "render", "--board", "bord").exit_code == 0 and (tmp_path / "bord" / "index.html").exists()
    assert cli("leaderboard", "render", "--board", "new", "--create").exit_code == 0 and (tmp_path / "new" / "README.md").exists()


@pytest.mark.parametrize("text,problem", [
    ("=0.5", "the metric name is missing"),
    (" =0.5", "the metric name is missing"),
    ("fg-ari=0.5", "--paper-result: unknown metric 'fg-ari'"),
    ("ami=nan", "the mean must be a score between -1 and 1"),
    ("ami=1.5", "the mean must be a score between -1 and 1"),
    ("ami=0.9+--0.1", "the std must be a number of at least 0"),
])
def test_a_paper_result_needs_a_metric_and_a_score(noisy_results, tmp_path, cli, refused, text, problem):
    results = _write(tmp_path, noisy_results[0])
    refused(cli("leaderboard", "submit", str(results), "--method", "X", "--unofficial", "--paper-result", text,
                "--paper-reference", "t", "--board", str(tmp_path / "b"), "--create"), problem)
    assert not (tmp_path / "b").exists()


def test_imported_data_get_import_advice_and_no_import_options_in_labels(noisy_results, tmp_path, cli, refused):
    """A score on an imported DeepMind file: the advice names 'groupbench import', never 'generate',
    and the dataset label holds no source file, SHA-256 or splits."""
    imported = copy.deepcopy(noisy_results[0])
    del imported["protocol"], imported["headline"]
    imported["dataset"].update(id="deepmind/tetrominoes-v1", params={
        "source": "tetrominoes_train.tfrecords", "source_sha256": "ab" * 32, "splits": [3, 3, 7], "limit": None, "factors": True})
    results = _write(tmp_path, imported)
    board = tmp_path / "b"
    result = cli("leaderboard", "submit", str(results), "--method", "oracle", "--board", str(board), "--create")
    refused(result, "deepmind/tetrominoes-v1 split 'test' is not the official data (no standard digest is registered yet for "
                    "data imported with 'groupbench import'); pass --unofficial")
    assert "generate" not in result.stderr and "ab" * 32 not in result.stderr and "splits" not in result.stderr
    assert cli("leaderboard", "submit", str(results), "--method", "oracle", "--unofficial", "--board", str(board),
               "--create").exit_code == 0
    assert set(load(Board(board, reported=False))["dataset"]) == {"deepmind/tetrominoes-v1"}
