"""A preset's page (`groupbench presets PRESET`) and what a run costs: measured figures recorded from
the training benchmark, scaled to the preset's batch, turned into the time of an epoch."""

from __future__ import annotations

import json

import pytest

from groupbench.baselines import costs, presets


def test_a_preset_page_has_its_paper_scoring_cost_and_fields(cli, refused):
    result = cli("presets", "rc-shapes")
    assert result.exit_code == 0, result.output
    text = result.output
    for heading in ("method:", "data:", "scoring:", "cost:", "fields (* = set by this preset"):
        assert heading in text
    assert "https://arxiv.org/abs/1511.06418" in text and "ami 0.929" in text
    assert "an epoch: 100 steps of 100 (10,000 training items)" in text  # the single-object split the DAE trains on
    assert "   * hidden" in text and "     iterations" in text  # the preset's own fields marked, the defaults not
    refused(cli("presets", "rc-shapez"), "unknown preset 'rc-shapez'; did you mean 'rc-shapes'?")
    listing = cli("presets").output.splitlines()
    assert listing[0].split() == ["preset", "method", "data", "paper's", "number"] and "shows a preset's page" in listing[-1]


def test_cost_lines_scale_the_measured_step_to_the_preset_batch():
    preset = presets.get("slot-attention-tetris")  # batch 64, 60,000 training images: 937 steps per epoch
    recorded = {"cpu": {"machine": "a test machine", "date": "2026-12-04",
                        "presets": {"slot-attention-tetris": {"batch": 16, "seconds_per_step": 1.0, "peak_rss_mb": 490.0}}}}
    lines = costs.describe(preset, recorded)
    assert lines[0] == "an epoch: 937 steps of 64 (60,000 training items)"
    cpu = next(line for line in lines if line.startswith("CPU"))
    assert "4 s per step, scaled linearly from batch 16" in cpu and "an epoch 62.5 min" in cpu  # 937 x 4 s
    assert "the paper's budget 556 h" in cpu and "peak memory 490 MiB at batch 16" in cpu  # 500,000 x 4 s
    assert any(line.startswith("GPU: not measured yet") for line in lines)


def test_recording_a_benchmark_run(tmp_path):
    bench = {"benchmarks": [
        {"params": {"name": "rc-shapes", "compiled": False}, "stats": {"mean": 0.0123},
         "extra_info": {"batch": 100, "compiled": False, "peak_rss_mb": 400.5}},
        {"params": {"name": "rc-shapes", "compiled": True}, "stats": {"mean": 0.01},
         "extra_info": {"batch": 100, "compiled": True, "peak_rss_mb": 420.0}},
    ]}
    (tmp_path / "bench.json").write_text(json.dumps(bench))
    out = tmp_path / "costs.json"
    recorded = costs.record(tmp_path / "bench.json", "a test machine", out=out)
    assert recorded["cpu"]["presets"] == {"rc-shapes": {"batch": 100, "seconds_per_step": 0.0123, "peak_rss_mb": 400.5}}
    assert json.loads(out.read_text()) == recorded and recorded["cpu"]["machine"] == "a test machine"
    (tmp_path / "empty.json").write_text(json.dumps({"benchmarks": []}))
    from groupbench.errors import GroupbenchError

    with pytest.raises(GroupbenchError, match="no eager training-step benchmark"):
        costs.record(tmp_path / "empty.json", "x", out=out)


def test_the_recorded_costs_name_known_presets():
    recorded = costs.load_costs()
    known = {p.name for p in presets.presets()}
    for kind, record in recorded.items():
        assert kind in ("cpu", "gpu") and record["machine"] and record["date"]
        assert set(record["presets"]) <= known
        assert all(m["seconds_per_step"] > 0 and m["batch"] >= 1 for m in record["presets"].values())
