"""The reported numbers seeded on the board (leaderboard/entries): valid, traceable, complete.

1. Every entry file validates against the schema and is named by `entry_filename`.
2. Every reported mean (and std) occurs, as printed, in the source it cites (for the papers whose text
   is not among the sources, in the reference notes that quote them, as FG-ARI x 100). The source
   texts live outside the repository (a `shared` folder next to it); without them that check is skipped.
3. The reported entries are exactly the numbers listed in EXPECTED below, copied by hand from the
   papers: nothing missing, nothing extra, no value changed.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from groupbench.leaderboard.board import SCHEMA_VERSION, entry_filename, reported_entry_files
from groupbench.leaderboard.submit import dataset_label

REPO = Path(__file__).resolve().parents[1]
ENTRIES = REPO / "groupbench" / "leaderboard" / "reported"
"""The papers' numbers ship with the package; the repository's board (leaderboard/entries) holds the rest."""

SHARED_CANDIDATES = tuple(Path(p) for p in filter(None, [os.environ.get("GROUPBENCH_SOURCES")])) + (REPO.parent / "shared",)
"""Where the source texts (papers/, reference/) may be found: $GROUPBENCH_SOURCES, else beside the checkout."""

SOURCES = {
    # start of source.reference -> the text it cites, and texts that repeat the number rounded to 3 decimals
    "Greff, Srivastava & Schmidhuber 2015": {
        "printed": ["papers/reconstruction-clustering.md"],
        "rounded": ["reference/original-code.md"],  # section A.8: the original repository's notebooks
    },
    "Greff, van Steenkiste & Schmidhuber 2017": {
        "printed": ["papers/neural-em.md"],
        "rounded": [],
    },
    "Greff et al. 2019": {
        "printed": ["papers/iodine.md"],
        "rounded": [],
    },
    # papers whose text is not among the sources: the reference notes quote their tables as FG-ARI x 100
    "Locatello et al. 2020": {
        "printed": ["reference/slot-attention.md", "reference/metrics.md"],
        "rounded": [],
        "percent": True,
    },
    "Emami et al. 2021": {
        "printed": ["reference/metrics.md", "reference/deepmind.md"],
        "rounded": [],
        "percent": True,
    },
}

KIND = {"RC": "baseline", "N-EM": "baseline", "RNN-EM": "baseline", "IODINE": "baseline", "Slot Attention": "baseline",
        "R-NEM": "third-party", "MONet": "third-party", "EfficientMORL": "third-party"}

FS = "flying-shapes-v1"
FS5 = "flying-shapes-v1[num_objects=5]"
FM = "flying-mnist-v1"
FM3 = "flying-mnist-v1[num_objects=3]"
MD = "deepmind/multi-dsprites-colored-on-grayscale-v1"  # IODINE's numbers are on DeepMind's files
MDB = "deepmind/multi-dsprites-binarized-v1"
TETROMINOES = "deepmind/tetrominoes-v1"
CLEVR6 = "deepmind/clevr6-v1"
SKIP = "ami/per-frame/skip-first"  # N-EM scored the frames its steps predict (1..20)
STAGED = "staged curriculum (20 / 500 / 50,000 digits) on 2 digits"

EXPECTED: dict[tuple[str, str, str], tuple[str, float, float | None]] = {
    # (method, dataset label, variant): (metric, mean, std)
    # RC paper, Appendix B.2 Table 1 (single-object DAEs, soft RC) and B.3 Table 2 (multi-object DAEs, hard RC);
    # K per dataset from the original code (original-code.md A.7).
    ("RC", "bars-v1", "single-object DAE, soft RC, K=12, 10 iterations"): ("ami", 0.951809, None),
    ("RC", "corners-v1", "single-object DAE, soft RC, K=5, 10 iterations"): ("ami", 0.853866, None),
    ("RC", "multi-mnist-v1", "single-object DAE, soft RC, K=3, 10 iterations"): ("ami", 0.651657, None),
    ("RC", "mnist-shape-v1", "single-object DAE, soft RC, K=2, 10 iterations"): ("ami", 0.545559, None),
    ("RC", "shapes-v1", "single-object DAE, soft RC, K=3, 10 iterations"): ("ami", 0.928792, None),
    ("RC", "superposition-v1", "single-object DAE, soft RC, K=2, 10 iterations"): ("ami", 0.890472, None),
    ("RC", "bars-v1", "multi-object DAE, hard RC, K=12, 10 iterations"): ("ami", 0.851777, None),
    ("RC", "corners-v1", "multi-object DAE, hard RC, K=5, 10 iterations"): ("ami", 0.704285, None),
    ("RC", "mnist-shape-v1", "multi-object DAE, hard RC, K=2, 10 iterations"): ("ami", 0.259646, None),
    ("RC", "multi-mnist-v1", "multi-object DAE, hard RC, K=3, 10 iterations"): ("ami", 0.614277, None),
    ("RC", "shapes-v1", "multi-object DAE, hard RC, K=3, 10 iterations"): ("ami", 0.776656, None),
    # N-EM paper, Section 4.1 (static shapes)
    ("RNN-EM", "shapes-v1", "static, K=3, 15 EM steps"): ("ami", 0.826, 0.005),
    ("N-EM", "shapes-v1", "static, K=3, 15 EM steps"): ("ami", 0.475, 0.043),
    # N-EM paper, Table 1 (flying shapes): the 'Test' and 'Test Generalization' columns
    ("RNN-EM", FS, "trained on 3 shapes with K=3, tested on 3 shapes with K=3"): (SKIP, 0.970, 0.005),
    ("RNN-EM", FS, "trained on 3 shapes with K=3, tested on 3 shapes with K=5"): (SKIP, 0.972, 0.007),
    ("RNN-EM", FS, "trained on 3 shapes with K=5, tested on 3 shapes with K=5"): (SKIP, 0.997, 0.002),
    ("RNN-EM", FS, "trained on 3 shapes with K=5, tested on 3 shapes with K=3"): (SKIP, 0.914, 0.015),
    ("RNN-EM", FS5, "trained on 5 shapes with K=3, tested on 5 shapes with K=3"): (SKIP, 0.614, 0.003),
    ("RNN-EM", FS, "trained on 5 shapes with K=3, tested on 3 shapes with K=3"): (SKIP, 0.886, 0.010),
    ("RNN-EM", FS5, "trained on 5 shapes with K=5, tested on 5 shapes with K=5"): (SKIP, 0.878, 0.003),
    ("RNN-EM", FS, "trained on 5 shapes with K=5, tested on 3 shapes with K=5"): (SKIP, 0.981, 0.003),
    # N-EM paper, Section 4.3 (flying MNIST), including the 3-digit generalisation test
    ("RNN-EM", FM, "trained directly on 2 digits, K=2, 20 steps"): (SKIP, 0.819, 0.022),
    ("RNN-EM", FM, f"{STAGED}, K=2, 20 steps"): (SKIP, 0.917, 0.005),
    ("RNN-EM", FM3, "trained directly on 2 digits (K=2), tested on 3 digits with K=3, no further training"): (
        SKIP, 0.729, 0.019),
    ("RNN-EM", FM3, f"{STAGED} (K=2), tested on 3 digits with K=3, no further training"): (SKIP, 0.838, 0.008),
    # IODINE paper, Table 1 (foreground ARI)
    ("IODINE", CLEVR6, "K=7 slots, T=5 iterations"): ("ari", 0.988, 0.0),
    ("MONet", CLEVR6, "CLEVR model of Burgess et al. 2019 with 7 slots and decoder scales 0.06 / 0.1, trained by the IODINE authors"): (
        "ari", 0.962, 0.006),
    # Slot Attention paper, Table 1 (Tetrominoes over 4 of 5 seeds)
    ("Slot Attention", CLEVR6, "K=7, 3 iterations"): ("ari", 0.988, 0.003),
    ("Slot Attention", MD, "colored-on-grayscale, K=6, 3 iterations"): ("ari", 0.913, 0.003),
    ("Slot Attention", TETROMINOES, "K=4, 3 iterations"): ("ari", 0.995, 0.002),
    # EfficientMORL paper, Table 1 (its CLEVR6 at 96x96)
    ("EfficientMORL", CLEVR6, "CLEVR6 at 96x96"): ("ari", 0.962, 0.016),
    ("EfficientMORL", MD, "colored-on-grayscale"): ("ari", 0.912, 0.004),
    ("EfficientMORL", TETROMINOES, "configuration of its Table 1"): ("ari", 0.982, 0.018),
    ("IODINE", MD, "K=6 slots, T=5 iterations"): ("ari", 0.767, 0.056),
    ("IODINE", MDB, "configuration not stated"): ("ari", 0.648, 0.172),
    ("IODINE", "shapes-v1", "configuration not stated"): ("ari", 0.910, 0.119),
    ("IODINE", TETROMINOES, "K=4 slots, T=5 iterations, no LSTM in the refinement network"): ("ari", 0.992, 0.004),
    ("MONet", MD, "unmodified model of Burgess et al. 2019, trained by the IODINE authors"): ("ari", 0.904, 0.008),
    ("R-NEM", MDB, "trained by the IODINE authors"): ("ari", 0.685, 0.017),
    ("R-NEM", "shapes-v1", "trained by the IODINE authors"): ("ari", 0.776, 0.019),
}


def _load() -> list[tuple[Path, dict]]:
    return [(path, json.loads(path.read_text())) for path in sorted(ENTRIES.glob("*.json"))]


def _reported() -> list[tuple[Path, dict]]:
    return [(path, entry) for path, entry in _load() if entry["source"]["type"] == "reported"]


def _key(entry: dict) -> tuple[str, str, str]:
    return entry["method"], dataset_label(entry["dataset"]["id"], entry["dataset"].get("params")), entry["variant"]


def _printed(value: float) -> str:
    """The value as the papers print it: 3 decimals (0.970), or as many as it has (0.951809)."""
    for decimals in (3, 6):
        text = f"{value:.{decimals}f}"
        if float(text) == value:
            return text
    return repr(value)


def _number(text: str) -> str:
    """A regex matching exactly this printed number, not a longer one that contains it."""
    return rf"(?<![\d.]){re.escape(text)}(?!\d)"


def _shared() -> Path | None:
    return next((c for c in SHARED_CANDIDATES if c.is_dir()), None)


def _source(entry: dict) -> dict:
    reference = entry["source"]["reference"]
    matches = [prefix for prefix in SOURCES if reference.startswith(prefix)]
    assert len(matches) == 1, f"no source text mapped for reference {reference!r}"
    return SOURCES[matches[0]]


def test_entries_exist():
    assert ENTRIES.is_dir() and any(ENTRIES.glob("*.json")), f"no entries in {ENTRIES}"


def test_the_papers_numbers_ship_with_the_package_and_only_there():
    """Every board shows them (`Board.entries(reported=True)`), wherever it is: they are package data,
    and the repository's board holds only reproduced and submitted entries."""
    assert [p.name for p in reported_entry_files()] == sorted(p.name for p in ENTRIES.glob("*.json"))
    board = REPO / "leaderboard" / "entries"
    assert not [p.name for p in board.glob("*.json") if json.loads(p.read_text())["source"]["type"] == "reported"]
    assert all(json.loads(p.read_text())["source"]["type"] == "reported" for p in ENTRIES.glob("*.json"))


@pytest.mark.parametrize("path", sorted(ENTRIES.glob("*.json")), ids=lambda p: p.name)
def test_entry_valid_and_named(path):
    from groupbench.leaderboard.board import validate_entry

    text = path.read_text()
    entry = json.loads(text)
    validate_entry(entry, str(path))
    assert path.name == entry_filename(entry)
    assert text == json.dumps(entry, indent=2, sort_keys=True) + "\n", "not written with indent=2, sort_keys=True"


def test_reported_conventions():
    for path, entry in _reported():
        where = path.name
        assert entry["schema"] == SCHEMA_VERSION
        assert entry["kind"] == KIND[entry["method"]], where
        dataset = entry["dataset"]
        assert dataset["digest"] is None and dataset["split"] == "test", where
        # the paper's own data, unless preprocessed otherwise than the protocol (EfficientMORL's CLEVR6 at 96x96)
        assert dataset["official"] is True or "not the 128x128" in dataset["note"], where
        assert entry["source"]["reference"].strip(), where
        for name, metric in entry["metrics"].items():
            conventions = metric["conventions"]
            assert conventions["include_background"] is False, where
            if name.startswith("ami"):
                # RC and N-EM used scikit-learn <= 0.19, whose AMI divides by max(H(U), H(V))
                assert conventions["average_method"] == "max", where
                assert conventions["include_overlap"] is False, where
                assert conventions["degenerate"] == "one", where  # scikit-learn's 1.0
            if "/" in name:
                assert name == SKIP and conventions["frames"] == "skip-first", where
            # DeepMind's masks give every pixel to its visible entity: FG-ARI keeps overlap there
            assert conventions["include_overlap"] is dataset["id"].startswith("deepmind/"), where
            assert conventions["pixels"] == ("fg-visible" if conventions["include_overlap"] else "fg-unique"), where
            assert metric["values"] is None, where


def test_reported_set_is_complete():
    found: dict[tuple[str, str, str], list[str]] = {}
    for path, entry in _reported():
        found.setdefault(_key(entry), []).append(path.name)
    duplicates = {k: v for k, v in found.items() if len(v) > 1}
    assert not duplicates, f"several entries for one result: {duplicates}"
    missing = sorted(set(EXPECTED) - set(found))
    extra = sorted(set(found) - set(EXPECTED))
    assert not missing and not extra, f"missing: {missing}; not expected: {extra}"


def test_reported_values_match_expected():
    for path, entry in _reported():
        metric_name, mean, std = EXPECTED[_key(entry)]
        assert list(entry["metrics"]) == [metric_name], path.name
        metric = entry["metrics"][metric_name]
        assert (metric["mean"], metric["std"]) == (mean, std), path.name


def test_reported_numbers_occur_in_cited_source():
    shared = _shared()
    if shared is None:
        pytest.skip(
            "source texts not available: none of " + ", ".join(map(str, SHARED_CANDIDATES)) + " exists, "
            "so the reported numbers cannot be traced to the papers here"
        )
    texts: dict[str, str] = {}

    def read(relative: str) -> str:
        if relative not in texts:
            path = shared / relative
            if not path.is_file():
                pytest.skip(f"source text {path} is missing")
            texts[relative] = path.read_text()
        return texts[relative]

    problems = []
    for path, entry in _reported():
        source = _source(entry)
        for metric in entry["metrics"].values():
            if source.get("percent"):  # quoted as FG-ARI x 100 with one decimal: 98.8 +- 0.3
                mean, std = f"{100 * metric['mean']:.1f}", f"{100 * metric['std']:.1f}"
                pattern = _number(mean) + r"\s*(?:±|\+-|\+/-)\s*" + _number(std)
                if not any(re.search(pattern, read(f)) for f in source["printed"]):
                    problems.append(f"{path.name}: {mean} ± {std} not in {source['printed']}")
                continue
            mean = _printed(metric["mean"])
            if metric["std"] is None:
                pattern = _number(mean)
                shown = mean
            else:
                std = _printed(metric["std"])
                pattern = _number(mean) + r"\s*(?:\\pm|±|\+/-)\s*" + _number(std)
                shown = f"{mean} ± {std}"
            if not any(re.search(pattern, read(f)) for f in source["printed"]):
                problems.append(f"{path.name}: {shown} not in {source['printed']}")
            for corroborating in source["rounded"]:
                rounded = f"{metric['mean']:.3f}"
                if not re.search(_number(rounded), read(corroborating)):
                    problems.append(f"{path.name}: {rounded} not in {corroborating}")
    assert not problems, "\n".join(problems)
