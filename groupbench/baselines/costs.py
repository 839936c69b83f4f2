"""What a preset's training costs, as measured: seconds per step and peak memory on the machines the
benchmarks ran on, and from them the time of one epoch. `groupbench presets NAME` shows it, so a user
knows before starting whether a run needs a GPU.

The figures live in ``costs.json`` beside this file, written from a run of the training benchmark::

    python -m pytest benchmarks/bench_training.py --benchmark-enable --benchmark-json bench.json
    python -m groupbench.baselines.costs bench.json --machine "2-core AMD EPYC VM, 1 thread"

(``--device gpu`` for a benchmark run on a GPU.) A preset measured at a smaller batch than its own
(IODINE and Slot Attention on a CPU) is scaled linearly to its batch, and says so.
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path
from typing import Any

from groupbench.baselines.presets import Preset
from groupbench.errors import GroupbenchError

COSTS = Path(__file__).with_name("costs.json")
"""The recorded measurements: {"cpu" | "gpu": {"machine", "date", "command", "presets": {name: {batch,
seconds_per_step, peak_rss_mb}}}}."""


def load_costs(path: str | Path = COSTS) -> dict[str, Any]:
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else {}


def train_items(preset: Preset) -> int | None:
    """Training images (or sequences) of the preset's standard data: its registered train split (RC's
    single-object presets: the ``single`` split); None where the registry does not say."""
    from groupbench import registry

    split = getattr(preset.config(), "train_split", "train")
    try:
        return registry.get(preset.dataset).splits.get(split)
    except GroupbenchError:
        return None


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 7200:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"


def describe(preset: Preset, costs: dict[str, Any] | None = None) -> list[str]:
    """Lines on what one epoch of ``preset`` costs on each measured device kind (CPU, GPU)."""
    costs = load_costs() if costs is None else costs
    config = preset.config()
    items = train_items(preset)
    steps = items // config.batch_size if items else None
    lines = [f"an epoch: {steps:,} steps of {config.batch_size} ({items:,} training items)" if steps
             else f"an epoch: the training split's size / batch {config.batch_size} steps"]
    if getattr(config, "max_steps", 0):
        lines.append(f"the paper's budget: {config.max_steps:,} steps")
    for kind in ("cpu", "gpu"):
        record = (costs.get(kind) or {})
        measured = (record.get("presets") or {}).get(preset.name)
        if measured is None:
            lines.append(f"{kind.upper()}: not measured yet" + (" (groupbench gpu-suite measures every preset)" if kind == "gpu" else ""))
            continue
        per_step = measured["seconds_per_step"] * config.batch_size / measured["batch"]
        scaled = "" if measured["batch"] == config.batch_size else f", scaled linearly from batch {measured['batch']}"
        epoch = f"; an epoch {_duration(per_step * steps)}" if steps else ""
        budget = f"; the paper's budget {_duration(per_step * config.max_steps)}" if getattr(config, "max_steps", 0) else ""
        at = "" if measured["batch"] == config.batch_size else f" at batch {measured['batch']}"
        memory = f"; peak memory {measured['peak_rss_mb']:,.0f} MiB{at}" if measured.get("peak_rss_mb") else ""
        lines.append(f"{kind.upper()} ({record['machine']}, {record['date']}): {per_step:.3g} s per step{scaled}{epoch}{budget}{memory}")
    return lines


def record(benchmark_json: str | Path, machine: str, device: str = "cpu", out: str | Path = COSTS) -> dict[str, Any]:
    """Add the eager steps of a training-benchmark run (pytest-benchmark's JSON) to ``costs.json``."""
    data = json.loads(Path(benchmark_json).read_text())
    measured = {}
    for bench in data["benchmarks"]:
        info = bench.get("extra_info") or {}
        if info.get("compiled") or "batch" not in info:
            continue
        name = bench["params"]["name"]
        measured[name] = {"batch": info["batch"], "seconds_per_step": round(bench["stats"]["mean"], 5),
                          "peak_rss_mb": info.get("peak_rss_mb")}
    if not measured:
        raise GroupbenchError(f"{benchmark_json}: no eager training-step benchmark in it (run bench_training.py --benchmark-enable)")
    costs = load_costs(out)
    previous = (costs.get(device) or {}).get("presets") or {}
    costs[device] = {"machine": machine, "date": date.today().isoformat(),
                     "command": "python -m pytest benchmarks/bench_training.py --benchmark-enable (eager steps)",
                     "presets": dict(sorted({**previous, **measured}.items()))}
    Path(out).write_text(json.dumps(costs, indent=2, sort_keys=True) + "\n")
    return costs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Record training-benchmark figures in groupbench/baselines/costs.json.")
    parser.add_argument("benchmark_json")
    parser.add_argument("--machine", required=True, help="What the benchmark ran on, e.g. '2-core AMD EPYC VM, 1 thread'.")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    args = parser.parse_args(argv)
    costs = record(args.benchmark_json, args.machine, args.device)
    print(f"{COSTS}: {len(costs[args.device]['presets'])} presets on {args.device}")


if __name__ == "__main__":
    main()
