"""The ten-minute GPU suite, ``groupbench gpu-suite --budget 10m --out DIR``: one command that spends
a short GPU slot on what counts, and leaves results however early the slot ends.

1. **checks**: every metric computed on the device equals the numpy backend (within
   `METRIC_TOLERANCE`); one training step of every preset gives on the device the loss and
   gradient norm it gives on the CPU (float32, TF32 off; `LOSS_TOLERANCE`, `GRADIENT_TOLERANCE`),
   and the bfloat16 loss is reported next to them;
2. **throughput**: steps per second and peak memory of every preset at its paper batch size, eager
   and compiled (`throughput.measure`), most valuable first, as far as the part's share goes;
3. **reproductions**: `REPRODUCTIONS` in order of value, each trained until early stopping or its
   share of the time (``max_time_s``, a clean stop: last validation, checkpoint), then its whole
   test split predicted and scored with its paper's conventions, and a leaderboard entry written,
   with the device, steps, wall time and budget; compiled where part 2 found compiling faster;
4. **report**: DIR/report.md and DIR/report.json (rewritten after every part), DIR/runs/ (the
   runs, their curves and figures), DIR/entries/ (for ``groupbench leaderboard submit``),
   DIR/time_to_quality.png, DIR/logs/.

Each part runs in a worker process (``python -m groupbench.baselines.suite PART SPEC.json``) that
stops itself at its deadline and is killed shortly after it, so the whole command, data generation
(background processes started first) and compilation included, ends within the budget plus
`OVERRUN_S`. Nothing here needs a GPU: on the CPU the suite runs the same way (the test suite runs
it with a tiny budget on tiny data).
"""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from groupbench.errors import GroupbenchError
from groupbench.writer import atomic_output

REPRODUCTIONS = ("nem-shapes", "rnn-em-shapes", "rnn-em-flying-shapes", "iodine-tetris", "slot-attention-tetris")
"""What part 3 reproduces, in order of value."""
REPRODUCTION_SHARES = {"nem-shapes": 0.25, "rnn-em-shapes": 0.25, "rnn-em-flying-shapes": 0.18, "iodine-tetris": 0.2,
                       "slot-attention-tetris": 0.12}
"""Each reproduction's share of part 3; a run that ends early leaves its time to those after it."""
EVALUATION_S = {"nem-shapes": 15.0, "rnn-em-shapes": 15.0, "rnn-em-flying-shapes": 45.0, "iodine-tetris": 30.0,
                "slot-attention-tetris": 20.0}
"""Seconds kept from a reproduction's share for what follows training (the last validation, predicting
and scoring the whole test split, figures, entry): estimates for one GPU and a many-core host, taken
at most `EVALUATION_FRACTION` of the share."""
EVALUATION_FRACTION = 0.4
MIN_SHARE_S = 20.0
"""A reproduction gets at least this long (or whatever is left): the earlier in the order, the more
value, so a short budget trains fewer runs rather than all of them too little."""
VALIDATE_EVERY = {"iodine-tetris": 200, "slot-attention-tetris": 500}
"""Interim validations (steps) for a time-to-quality curve."""
PART_SHARES = {"checks": 0.1, "throughput": 0.3}
"""Fractions of the budget for parts 1 and 2 (each ends earlier when done); part 3 takes the rest."""
END_RESERVE_S = 10.0
"""Kept at the end of the budget for the report."""
OVERRUN_S = 60.0
"""The command ends within the budget plus this."""
GRACE_S = {"checks": 10.0, "throughput": 10.0, "reproduce": 45.0}
"""How long past its deadline a worker may take to stop cleanly before it is killed."""
METRIC_TOLERANCE = 1e-9
"""Largest |device - numpy| of a metric (float64 both)."""
LOSS_TOLERANCE = 1e-3
"""Largest relative difference of a step's float32 loss on the device from the CPU's."""
GRADIENT_TOLERANCE = 1e-2
"""Largest relative difference of the gradient's global norm on the device from the CPU's."""
CHECK_BATCH = 2
"""Images (sequences) per preset in the loss check."""
COMPILE_SPEEDUP = 1.2
"""With ``--compile auto``, a reproduction compiles when part 2 measured at least this speed-up."""
TINY_SIZES = {"train": 256, "valid": 64, "test": 64, "single": 64}
"""Split sizes with ``tiny_data`` (a smoke test: entries are then unofficial)."""


def parse_duration(text: str) -> float:
    """Seconds of ``600``, ``90s``, ``10m``, ``1h`` or ``1m30s``."""
    value = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", value)
    if not parts or "".join(number + unit for number, unit in parts) != value:
        raise GroupbenchError(f"--budget {text!r}: give a duration such as 600, 90s, 10m or 1m30s")
    return sum(float(number) * {"h": 3600, "m": 60, "s": 1}[unit] for number, unit in parts)


def parse_sets(sets: tuple[str, ...]) -> dict[str, str]:
    """``KEY=VALUE`` strings -> {key: value}; each key must be a field of some preset's configuration
    (it then applies to every preset that has it, typed by that preset's field)."""
    import dataclasses

    from groupbench.baselines.presets import ALGORITHMS, _did_you_mean, algorithm
    from groupbench.baselines.runs import split_pair

    known = {f.name for name in ALGORITHMS for f in dataclasses.fields(algorithm(name).Config)}
    changes = dict(map(split_pair, sets))
    unknown = next((key for key in changes if key not in known), None)
    if unknown is not None:
        raise GroupbenchError(f"--set {unknown}: no preset has that configuration field{_did_you_mean(unknown, known)}")
    return changes


# ---------------------------------------------------------------------------------------------
# Part 1: checks (run in a worker)


def metric_checks() -> list[tuple[str, Callable[..., Any], str]]:
    """(name, score(true, pred, valid) -> per-item scores, input kind): every metric the scorer
    computes, with its variants, on images and on sequences. A new metric plugs in as one more row."""
    from groupbench.metrics import (
        adjusted_mutual_info, adjusted_rand_index, degenerate_images, hungarian_miou, mean_best_overlap, segmentation_covering,
    )

    return [
        ("ari", lambda t, p, v: adjusted_rand_index(t, p, v), "images"),
        ("ari (degenerate: nan)", lambda t, p, v: adjusted_rand_index(t, p, v, degenerate="nan"), "images"),
        ("ami (max)", lambda t, p, v: adjusted_mutual_info(t, p, v, average_method="max"), "images"),
        ("ami (arithmetic)", lambda t, p, v: adjusted_mutual_info(t, p, v, average_method="arithmetic"), "images"),
        ("degenerate images", lambda t, p, v: degenerate_images(t, v), "images"),
        ("mbo", lambda t, p, v: mean_best_overlap(t, p, v), "images"),
        ("miou (objects)", lambda t, p, v: hungarian_miou(t, p, v, divide_by="objects"), "images"),
        ("miou (segments)", lambda t, p, v: hungarian_miou(t, p, v, divide_by="segments"), "images"),
        ("covering (mean)", lambda t, p, v: segmentation_covering(t, p, v), "images"),
        ("covering (weighted)", lambda t, p, v: segmentation_covering(t, p, v, weighted=True), "images"),
        ("ari per-frame", lambda t, p, v: adjusted_rand_index(t, p, v, sequence_mode="per-frame"), "sequences"),
        ("ami per-frame (max)", lambda t, p, v: adjusted_mutual_info(t, p, v, average_method="max", sequence_mode="per-frame"),
         "sequences"),
        ("ari spatiotemporal", lambda t, p, v: adjusted_rand_index(t, p, v, sequence_mode="spatiotemporal"), "sequences"),
        ("ami spatiotemporal (max)",
         lambda t, p, v: adjusted_mutual_info(t, p, v, average_method="max", sequence_mode="spatiotemporal"), "sequences"),
        ("mbo per-frame", lambda t, p, v: mean_best_overlap(t, p, v, sequence_mode="per-frame"), "sequences"),
        ("miou spatiotemporal", lambda t, p, v: hungarian_miou(t, p, v, sequence_mode="spatiotemporal"), "sequences"),
    ]


def _metric_inputs(kind: str, seed: int = 0):
    """Labels, predictions (partly right, partly noise) and validity masks: (32, 48*48) images or (8, 5, 24*24) sequences."""
    import numpy as np

    rng = np.random.default_rng(seed)
    shape = (32, 48 * 48) if kind == "images" else (8, 5, 24 * 24)
    true = rng.integers(0, 7, shape)
    pred = np.where(rng.random(shape) < 0.7, (true * 3) % 5, rng.integers(0, 5, shape))
    pred[0] = true[0]  # a perfect item, and an item with nothing to score
    valid = rng.random(shape) < 0.9
    valid[1] = False
    return true, pred, valid


def run_checks(spec: dict[str, Any], emit: Callable[[dict[str, Any]], None]) -> None:
    import numpy as np
    import torch

    from groupbench.baselines.training import resolve_device

    device = resolve_device(spec["device"])
    torch.set_num_threads(min(8, os.cpu_count() or 1))
    if device.type == "cuda":  # float32 means float32 here
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    for name, score, kind in metric_checks():
        true, pred, valid = _metric_inputs(kind)
        expected = np.asarray(score(true, pred, valid), dtype=np.float64)
        as_tensor = lambda a: torch.from_numpy(a).to(device)  # noqa: E731
        got = score(as_tensor(true), as_tensor(pred), as_tensor(valid)).double().cpu().numpy()
        missing = np.isnan(expected)  # items a metric leaves undefined (no object): undefined on both
        difference = float(np.max(np.abs(got - expected)[~missing], initial=0.0))
        emit({"check": "metric", "name": name, "items": len(true), "max_abs_difference": difference,
              "ok": bool(difference <= METRIC_TOLERANCE and np.array_equal(np.isnan(got), missing))})
    for name in ordered_presets():
        if time.time() > spec["deadline"]:
            return
        try:
            emit(_loss_check(name, device, spec["changes"]))
        except Exception as error:  # noqa: BLE001 (a preset that fails is a finding; the others still run)
            emit({"check": "loss", "preset": name, "ok": False, "reason": f"{type(error).__name__}: {error}"[:500]})


def _loss_check(name: str, device, changes: dict[str, str]) -> dict[str, Any]:
    """One training step of preset ``name`` (batch `CHECK_BATCH`) on the CPU and on ``device``: the
    same weights, images and draws; float32 both, and the device's bfloat16 loss for information."""
    import copy

    import torch

    from groupbench.baselines import presets
    from groupbench.baselines.throughput import synthetic_images
    from groupbench.baselines.training import generator, seed_everything

    cpu = torch.device("cpu")
    preset = presets.get(name)
    config = preset.config(**{**changes_for(preset, changes), "device": "cpu", "amp": False})
    seed_everything(0, deterministic=True)
    model = presets.algorithm(preset.algorithm).build_model(config, preset.image_shape)
    images = synthetic_images(preset, CHECK_BATCH, cpu)
    draws = model.draw(images, generator(cpu, 1))
    reference = _loss_and_gradient_norm(model, images, draws)
    on_device = copy.deepcopy(model).to(device)
    if getattr(config, "channels_last", False) and device.type == "cuda":
        on_device.to(memory_format=torch.channels_last)
    moved = {key: value.to(device) for key, value in draws.items()}
    loss, norm = _loss_and_gradient_norm(on_device, images.to(device), moved)
    record = {"check": "loss", "preset": name, "cpu_loss": reference[0], "device_loss": loss,
              "loss_relative_difference": _relative(loss, reference[0]),
              "gradient_norm_relative_difference": _relative(norm, reference[1])}
    if device.type == "cuda":
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            record["bf16_loss_relative_difference"] = _relative(float(on_device(images.to(device), moved)), reference[0])
    record["ok"] = bool(record["loss_relative_difference"] <= LOSS_TOLERANCE
                        and record["gradient_norm_relative_difference"] <= GRADIENT_TOLERANCE)
    return record


def _loss_and_gradient_norm(model, images, draws) -> tuple[float, float]:
    import torch

    model.zero_grad(set_to_none=True)
    loss = model(images, draws)
    loss.backward()
    norm = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in model.parameters() if p.grad is not None))
    return float(loss.detach()), float(norm)


def _relative(value: float, reference: float) -> float:
    return abs(value - reference) / max(abs(reference), 1e-12)


# ---------------------------------------------------------------------------------------------
# Part 2: throughput (run in a worker)


def ordered_presets() -> list[str]:
    """Every preset, the reproduced ones first (in their order), then by name."""
    from groupbench.baselines import presets

    names = [p.name for p in presets.presets()]
    return [n for n in REPRODUCTIONS if n in names] + [n for n in names if n not in REPRODUCTIONS]


def throughput_plan(compile_enabled: bool) -> list[tuple[str, bool]]:
    """(preset, compiled) in order of value: eager then compiled for the reproduced presets (this also
    warms the compilation caches part 3 reuses), then every other preset eager, then compiled."""
    first = [(n, c) for n in REPRODUCTIONS for c in (False, True)]
    rest = [n for n in ordered_presets() if n not in REPRODUCTIONS]
    plan = first + [(n, False) for n in rest] + [(n, True) for n in rest]
    return plan if compile_enabled else [(n, c) for n, c in plan if not c]


def run_throughput(spec: dict[str, Any], emit: Callable[[dict[str, Any]], None]) -> None:
    import gc

    import torch

    from groupbench.baselines import presets
    from groupbench.baselines.throughput import measure

    for name, compiled in throughput_plan(spec["measure_compiled"]):
        left = spec["deadline"] - time.time()
        if left < (20.0 if compiled else 3.0):
            emit({"preset": name, "compiled": compiled, "status": "not reached", "reason": f"{max(left, 0):.0f} s left in the part"})
            continue
        emit({"preset": name, "compiled": compiled, "status": "started"})
        try:
            record = measure(name, device=spec["device"], compile=compiled, changes=changes_for(presets.get(name), spec["changes"]))
            emit({**record, "status": "measured"})
        except Exception as error:  # noqa: BLE001 (one preset's failure, e.g. out of memory, is a finding, not the end)
            emit({"preset": name, "compiled": compiled, "status": "failed", "reason": f"{type(error).__name__}: {error}"[:500]})
        finally:
            torch._dynamo.reset()
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()


# ---------------------------------------------------------------------------------------------
# Part 3: one reproduction (run in a worker), and data generation (background workers)


def run_generate(spec: dict[str, Any], emit: Callable[[dict[str, Any]], None]) -> None:
    from groupbench.generation import generate

    started = time.time()
    generate(spec["dataset"], spec["path"], params=spec["params"], sizes=spec["sizes"], workers=spec["workers"], progress=False)
    emit({"dataset": spec["dataset"], "path": spec["path"], "seconds": round(time.time() - started, 1)})


def run_reproduce(spec: dict[str, Any], emit: Callable[[dict[str, Any]], None]) -> None:
    from groupbench.baselines import presets, runs
    from groupbench.leaderboard.board import entry_filename, validate_entry

    name, path = spec["preset"], Path(spec["data"])
    while not path.exists():  # written under a temporary name and renamed: present means complete
        if time.time() > spec["deadline"]:
            emit({"preset": name, "status": "not run", "reason": f"its data ({path.name}) were not ready in time"})
            return
        time.sleep(0.5)
    training_s = spec["deadline"] - time.time() - spec["evaluation_s"]
    if training_s < 1.0:
        emit({"preset": name, "status": "not run", "reason": "no time left to train"})
        return
    preset = presets.get(name)
    changed = changes_for(preset, spec["changes"])
    changes = {**changed, "device": spec["device"], "deterministic": False,
               "max_time_s": round(training_s, 1), "compile": spec["compile"]}
    if name in VALIDATE_EVERY:
        changes["validate_every"] = VALIDATE_EVERY[name]
    emit({"preset": name, "status": "training", "max_time_s": changes["max_time_s"], "compile": spec["compile"]})
    budget = parse_duration(spec["budget"])
    outcome = runs.reproduce(
        name, seeds=1, out=spec["runs"], datasets=[path], changes=changes, board=None, progress=False, echo=print,
        notes=f"Trained by 'groupbench gpu-suite' (a {budget:g} s suite budget; this run's share: {training_s:.0f} s of training)"
        + (f"; configuration changed from the preset: {', '.join(f'{k}={v}' for k, v in sorted(changed.items()))}." if changed else "."),
    )
    entry = outcome["entry"]
    out = Path(spec["entries"]) / entry_filename(entry)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out) as tmp:
        tmp.write_text(json.dumps(entry, indent=2) + "\n")
    try:
        import jsonschema  # noqa: F401 (the GPU machine may not have it: the entry is validated when submitted)
    except ImportError:
        validated = None
    else:
        try:
            validate_entry(entry, str(out))
            validated = True
        except GroupbenchError as error:
            validated = str(error)
    summary = outcome["summaries"][0]
    emit({"preset": name, "status": "done", "entry": str(out), "validated": validated, "metrics": entry["metrics"],
          "variant": entry["variant"], "compute": entry["compute"], "stopped": summary["stopped"], "steps": summary["steps"],
          "epochs": summary["epochs"], "wall_time_s": summary["wall_time_s"], "images_per_s": summary["images_per_s"],
          "compiled": summary["compiled"], "max_time_s": changes["max_time_s"], "reported": preset.reported,
          "run": str(Path(spec["runs"]) / name / f"seed{summary['seed']}")})


def changes_for(preset, changes: dict[str, str]) -> dict[str, Any]:
    """The ``--set`` changes that apply to ``preset`` (its configuration has the field), typed."""
    import dataclasses

    from groupbench.baselines.presets import algorithm
    from groupbench.baselines.runs import parse_changes

    known = {f.name for f in dataclasses.fields(algorithm(preset.algorithm).Config)}
    return parse_changes(preset, tuple(f"{k}={v}" for k, v in changes.items() if k in known))


WORKERS = {"checks": run_checks, "throughput": run_throughput, "reproduce": run_reproduce, "generate": run_generate}


def _worker(part: str, spec_path: str) -> None:
    """Entry point of a worker process: runs PART with SPEC, one JSON line per result to SPEC's output file."""
    spec = json.loads(Path(spec_path).read_text())
    output = Path(spec["output"])

    def emit(record: dict[str, Any]) -> None:
        with open(output, "a") as handle:
            handle.write(json.dumps(record, default=str) + "\n")
        print(json.dumps(record, default=str), flush=True)

    try:
        if part != "generate":  # the device in words, for the report (the main process never initialises CUDA)
            from groupbench.baselines.training import describe_device, resolve_device

            emit({"device": describe_device(resolve_device(spec["device"]))})
        WORKERS[part](spec, emit)
    except Exception as error:
        import traceback

        traceback.print_exc()
        emit({"status": "failed", "reason": f"{type(error).__name__}: {error}"[:500], **{k: spec[k] for k in ("preset",) if k in spec}})
        raise SystemExit(1) from None


# ---------------------------------------------------------------------------------------------
# The orchestration (the main process never touches the GPU)


@dataclass
class Worker:
    """A worker process of the suite: its part, output file, log and kill time."""

    part: str
    process: subprocess.Popen
    output: Path
    kill_at: float
    log: Any = None

    def records(self) -> list[dict[str, Any]]:
        """What the worker emitted (a line cut short by a kill is left out)."""
        records = []
        for line in self.output.read_text().splitlines() if self.output.exists() else []:
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
        return records

    def wait(self) -> str:
        """Wait for the worker until its kill time: ``done``, ``failed`` or ``killed``."""
        try:
            code = self.process.wait(timeout=max(0.0, self.kill_at - time.time()))
        except subprocess.TimeoutExpired:
            self.kill()
            return "killed"
        except BaseException:  # interrupted (Ctrl-C): the worker runs in its own session, so end it too
            self.kill()
            raise
        finally:
            if self.log is not None:
                self.log.close()
        return "done" if code == 0 else "failed"

    def kill(self) -> None:
        """End the worker and what it started (its process group: data workers, compile workers)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


@dataclass
class Suite:
    """One run of the suite into ``out`` within ``budget_s`` seconds (see the module doc); `run` returns the report."""

    out: Path
    budget_s: float
    device: str = "auto"
    compile: str = "auto"
    changes: dict[str, str] = field(default_factory=dict)
    data_dir: Path | None = None
    tiny_data: bool = False
    echo: Callable[[str], None] = print
    command: str = ""
    started: float = field(default_factory=time.time)
    report: dict[str, Any] = field(default_factory=dict)

    # --- workers ------------------------------------------------------------------------------

    def start(self, part: str, spec: dict[str, Any], name: str, kill_at: float) -> Worker:
        folder = self.out / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        output = folder / f"{name}.jsonl"
        spec = {**spec, "output": str(output)}
        (folder / f"{name}.spec.json").write_text(json.dumps(spec, indent=2))
        root = str(Path(__file__).resolve().parents[2])  # the checkout holding groupbench/: workers import the same code
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])}
        log = open(folder / f"{name}.log", "w")
        process = subprocess.Popen([sys.executable, "-m", "groupbench.baselines.suite", part, str(folder / f"{name}.spec.json")],
                                   stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        return Worker(part, process, output, min(kill_at, self.hard_end), log)

    @property
    def hard_end(self) -> float:
        return self.started + self.budget_s + OVERRUN_S - END_RESERVE_S

    def elapsed(self) -> str:
        seconds = int(time.time() - self.started)
        return f"{seconds // 60}:{seconds % 60:02d}"

    # --- the run ------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        from groupbench.baselines.training import resolve_device

        self.started = time.time()
        if self.out.exists() and any(self.out.iterdir()):
            raise GroupbenchError(f"{self.out} is not empty; the suite writes a fresh folder (choose another --out)")
        device = resolve_device(self.device)  # a device that is not there: one line now, not a failure in every part
        self.measure_compiled = self.compile == "on" or (self.compile == "auto" and device.type == "cuda")
        self.out.mkdir(parents=True, exist_ok=True)
        self.report = {
            "command": self.command, "budget_s": self.budget_s, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(self.started)),
            "device_requested": self.device, "compile": self.compile, "compiled_measured": self.measure_compiled, "changes": self.changes, "tiny_data": self.tiny_data,
            "machine": machine(), "parts": {}, "tolerances": {"metric_abs": METRIC_TOLERANCE, "loss_rel": LOSS_TOLERANCE,
                                                             "gradient_norm_rel": GRADIENT_TOLERANCE},
        }
        generators = self.start_data()
        try:
            base = {"device": self.device, "changes": self.changes, "budget": f"{self.budget_s:g}s",
                    "measure_compiled": self.measure_compiled}
            for part in ("checks", "throughput"):
                deadline = min(time.time() + PART_SHARES[part] * self.budget_s, self.started + self.budget_s - END_RESERVE_S)
                self.echo(f"[{self.elapsed()}] {part}: until {deadline - self.started:.0f} s")
                worker = self.start(part, {**base, "deadline": deadline}, part, deadline + GRACE_S[part])
                status = worker.wait()
                self.report["parts"][part] = {"status": status, "records": self.records(worker),
                                              "deadline_s": round(deadline - self.started, 1), "ended_s": round(time.time() - self.started, 1)}
                self.echo(f"[{self.elapsed()}] {part}: {status}; {summarise(part, self.report['parts'][part])}")
                self.write_report()
            self.reproduce(base, generators)
        finally:
            for worker in generators.values():
                if worker.process.poll() is None:
                    worker.kill()
            self.report["data"] = {Path(path).name: {"status": "done" if w.process.returncode == 0 else "not finished",
                                                     **(w.records() or [{}])[0]} for path, w in generators.items()}
            self.report["wall_time_s"] = round(time.time() - self.started, 1)
            self.write_report()
        return self.report

    def start_data(self) -> dict[str, Worker]:
        """Background processes generating the reproductions' data (files already there are kept), by file."""
        from groupbench import registry
        from groupbench.baselines import presets
        from groupbench.baselines.runs import DEFAULT_DATA_DIR, standard_data_path

        folder = self.out / "data-tiny" if self.tiny_data else (self.data_dir or DEFAULT_DATA_DIR)
        started: dict[str, Worker] = {}
        self.data_files: dict[str, Path] = {}
        for name in REPRODUCTIONS:
            preset = presets.get(name)
            path = standard_data_path(preset.dataset, preset.params, folder)
            self.data_files[name] = path
            if path.exists() or str(path) in started:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            workers = max(1, min(4, (os.cpu_count() or 2) // 4)) if preset.dataset.startswith("flying") else 1
            splits = registry.get(preset.dataset).splits
            sizes = {split: count for split, count in TINY_SIZES.items() if split in splits} if self.tiny_data else None
            spec = {"dataset": preset.dataset, "params": preset.params, "path": str(path), "workers": workers, "sizes": sizes}
            started[str(path)] = self.start("generate", spec, f"generate-{preset.dataset}", self.hard_end)
        return started

    def reproduce(self, base: dict[str, Any], generators: dict[str, Worker]) -> None:
        part = self.report["parts"]["reproductions"] = {"runs": {}}
        end = self.started + self.budget_s - END_RESERVE_S
        throughput = self.report["parts"].get("throughput", {}).get("records", [])
        for index, name in enumerate(REPRODUCTIONS):
            now = time.time()
            shares = [REPRODUCTION_SHARES[n] for n in REPRODUCTIONS[index:]]
            share = max((end - now) * shares[0] / sum(shares), min(MIN_SHARE_S, end - now))
            if share < 5.0:
                part["runs"][name] = {"status": "not run", "reason": f"{max(end - now, 0):.0f} s left of the budget"}
                self.echo(f"[{self.elapsed()}] reproduce {name}: {describe_run(part['runs'][name])}")
                continue
            generation = generators.get(str(self.data_files[name]))
            if generation is not None and generation.process.poll() not in (None, 0):
                part["runs"][name] = {"status": "not run", "reason": f"generating its data failed (logs/{generation.output.with_suffix('.log').name})"}
                self.echo(f"[{self.elapsed()}] reproduce {name}: {describe_run(part['runs'][name])}")
                continue
            compiled = self.compile_decision(name, throughput)
            evaluation = min(EVALUATION_S[name], EVALUATION_FRACTION * share)
            deadline = now + share
            self.echo(f"[{self.elapsed()}] reproduce {name}: {share:.0f} s ({evaluation:.0f} s of it after training), "
                      f"{'compiled' if compiled else 'eager'}")
            spec = {**base, "preset": name, "data": str(self.data_files[name]), "deadline": deadline, "evaluation_s": evaluation,
                    "compile": compiled, "runs": str(self.out / "runs"), "entries": str(self.out / "entries")}
            worker = self.start("reproduce", spec, f"reproduce-{name}", deadline + GRACE_S["reproduce"])
            status = worker.wait()
            records = self.records(worker)
            final = next((r for r in reversed(records) if r.get("status") in ("done", "not run", "failed")), None)
            part["runs"][name] = final or {"status": "killed" if status == "killed" else "failed",
                                           "reason": "stopped by the suite's hard deadline" if status == "killed" else "see the log"}
            part["runs"][name].update(share_s=round(share, 1), ended_s=round(time.time() - self.started, 1), log=f"logs/reproduce-{name}.log")
            self.echo(f"[{self.elapsed()}] reproduce {name}: {describe_run(part['runs'][name])}")
            self.write_report()
        figure = self.time_to_quality()
        if figure is not None:
            part["figure"] = figure

    def records(self, worker: Worker) -> list[dict[str, Any]]:
        """A worker's results; the device it names goes into the report's machine."""
        records = worker.records()
        for record in records:
            if "device" in record and len(record) == 1:
                self.report["machine"]["device"] = record["device"]
        return [r for r in records if not ("device" in r and len(r) == 1)]

    def compile_decision(self, name: str, throughput: list[dict[str, Any]]) -> bool:
        if self.compile in ("on", "off"):
            return self.compile == "on"
        rates = {r["compiled"]: r["steps_per_s"] for r in throughput if r.get("preset") == name and r.get("status") == "measured"}
        return True in rates and False in rates and rates[True] >= COMPILE_SPEEDUP * rates[False]

    def time_to_quality(self) -> str | None:
        """DIR/time_to_quality.png: each reproduction's validation score over its training wall time."""
        from groupbench.baselines.figures import plot_time_to_quality
        from groupbench.baselines.runs import learning_curve

        curves = {}
        for name, run in self.report["parts"]["reproductions"]["runs"].items():
            if run.get("status") == "done":
                curve = learning_curve(run["run"])
                if curve is not None:
                    curves[name] = curve
        if not curves:
            return None
        return str(plot_time_to_quality(curves, self.out / "time_to_quality.png",
                                        f"GPU suite on {self.report['machine']['device']}: validation score over training time"))

    def write_report(self) -> None:
        with atomic_output(self.out / "report.json") as tmp:
            tmp.write_text(json.dumps(self.report, indent=2, default=str) + "\n")
        with atomic_output(self.out / "report.md") as tmp:
            tmp.write_text(render_report(self.report))


def machine() -> dict[str, Any]:
    """The software and host the suite runs on; the device, in words, comes from the first worker."""
    import torch

    info: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
                            "host": platform.node(), "cpus": os.cpu_count(), "device": "not known yet (the workers report it)"}
    missing = []
    for module in ("isal", "jsonschema", "mlxtend", "google_crc32c", "tensorboard"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    info["optional_packages_missing"] = missing
    return info


# ---------------------------------------------------------------------------------------------
# The report


def summarise(part: str, result: dict[str, Any]) -> str:
    records = result["records"]
    if part == "checks":
        metrics = [r for r in records if r.get("check") == "metric"]
        losses = [r for r in records if r.get("check") == "loss"]
        return (f"{sum(r['ok'] for r in metrics)}/{len(metrics)} metrics within {METRIC_TOLERANCE:g}, "
                f"{sum(r['ok'] for r in losses)}/{len(losses)} presets' losses within tolerance")
    measured = [r for r in records if r.get("status") == "measured"]
    return f"{len(measured)} measurements"


def describe_run(run: dict[str, Any]) -> str:
    if run.get("status") != "done":
        return f"{run.get('status')}: {run.get('reason', '')}"
    scores = ", ".join(f"{m} {v['mean']:.4f}" for m, v in run["metrics"].items())
    return f"{scores}; {run['steps']:,} steps, {run['wall_time_s']:.0f} s, stopped by {run['stopped'].replace('_', ' ')}"


def _planned(records: list[dict[str, Any]], compile_enabled: bool) -> list[dict[str, Any]]:
    """The throughput plan with each item's outcome (the item a killed worker was on: cut off)."""
    latest: dict[tuple[str, bool], dict[str, Any]] = {}
    for record in records:
        if "preset" in record:
            latest[(record["preset"], record["compiled"])] = record
    rows = []
    for name, compiled in throughput_plan(compile_enabled):
        record = latest.get((name, compiled), {"status": "not reached"})
        if record["status"] == "started":
            record = {**record, "status": "cut off", "reason": "in progress when the part's time ran out"}
        rows.append({"preset": name, "compiled": compiled, **record})
    return rows


def render_report(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# GPU suite report",
        "",
        f"Command: `{report['command']}`  ",
        f"Started {report['started']}; budget {report['budget_s']:g} s"
        + (f"; finished after {report['wall_time_s']:g} s" if "wall_time_s" in report else " (in progress)") + ".  ",
        f"Device: **{m['device']}**; host {m['host']} ({m['cpus']} CPUs); Python {m['python']}, torch {m['torch']}, CUDA {m['cuda']}.  ",
        f"Optional packages missing: {', '.join(m['optional_packages_missing']) or 'none'}.  ",
        f"Compile: {report['compile']} (compiled steps {'measured' if report['compiled_measured'] else 'not measured'}); changes: {report['changes'] or 'none'}"
        + ("; **tiny data (a smoke test: not the standard datasets, entries unofficial)**" if report["tiny_data"] else "") + ".",
        "",
    ]
    parts = report["parts"]
    if "checks" in parts:
        checks = parts["checks"]
        lines += [f"## 1. Checks ({checks['status']}, ended at {checks['ended_s']:g} s)", "",
                  f"Metrics on the device against the numpy backend (float64; tolerance {METRIC_TOLERANCE:g}):", "",
                  "| metric | items | max abs difference | within |", "| --- | --- | --- | --- |"]
        for r in (r for r in checks["records"] if r.get("check") == "metric"):
            lines.append(f"| {r['name']} | {r['items']} | {r['max_abs_difference']:.3g} | {'yes' if r['ok'] else '**no**'} |")
        lines += ["", f"One training step of each preset (batch {CHECK_BATCH}, float32, TF32 off) on the device against the CPU"
                  + (" (the device is the CPU here: this only exercises the path)" if m["device"].startswith("cpu") else "") + ": "
                  f"loss within {LOSS_TOLERANCE:g} and gradient norm within {GRADIENT_TOLERANCE:g} (relative); the bfloat16 "
                  "autocast loss for information.", "",
                  "| preset | CPU loss | device loss | loss rel. diff. | gradient norm rel. diff. | bf16 loss rel. diff. | within |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for r in (r for r in checks["records"] if r.get("check") == "loss"):
            if "reason" in r:
                lines.append(f"| {r['preset']} | | | | | | **failed**: {r['reason']} |")
                continue
            bf16 = r.get("bf16_loss_relative_difference")
            lines.append(f"| {r['preset']} | {r['cpu_loss']:.6g} | {r['device_loss']:.6g} | {r['loss_relative_difference']:.2g} | "
                         f"{r['gradient_norm_relative_difference']:.2g} | {'' if bf16 is None else f'{bf16:.2g}'} | "
                         f"{'yes' if r['ok'] else '**no**'} |")
        done = {r["preset"] for r in checks["records"] if r.get("check") == "loss"}
        missed = [name for name in ordered_presets() if name not in done]
        if missed:
            lines.append(f"\nNot reached in the part's time: {', '.join(missed)}.")
        failed = [r for r in checks["records"] if r.get("status") == "failed"]
        lines += [f"\nThe check failed: {r['reason']}" for r in failed] + [""]
    if "throughput" in parts:
        throughput = parts["throughput"]
        rows = _planned(throughput["records"], report["compiled_measured"])
        lines += [f"## 2. Throughput ({throughput['status']}, ended at {throughput['ended_s']:g} s)", "",
                  "Training steps at each preset's batch size (its paper's unless changed above); warm-up: the first 3 steps (compilation and CUDA-graph "
                  "recording included); first loss: the first step's, eager against compiled (same weights and draws).", "",
                  "| preset | mode | batch | steps/s | images/s | warm-up s | peak memory MB | first loss | status |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in rows:
            mode = "compiled" if r["compiled"] else "eager"
            if r["status"] == "measured":
                memory = "" if r["peak_memory_mb"] is None else f"{r['peak_memory_mb']:,.0f}"
                lines.append(f"| {r['preset']} | {mode} | {r['batch']} | {r['steps_per_s']:.3g} | {r['images_per_s']:,.0f} | "
                             f"{r['warmup_s']:.1f} | {memory} | {r['losses'][0]:.6g} | measured |")
            else:
                lines.append(f"| {r['preset']} | {mode} | | | | | | | {r['status']}{': ' + r['reason'] if r.get('reason') else ''} |")
        lines += ["", "Speed-up of compiling (steps/s compiled over eager): " + (", ".join(
            f"{name} {rate:.2f}x" for name, rate in speedups(rows).items()) or "none measured") + ".", ""]
    if "reproductions" in parts:
        runs = parts["reproductions"]["runs"]
        lines += ["## 3. Reproductions", "",
                  "Each trained until early stopping or its share of the time (a clean stop: the last validation and a "
                  "checkpoint), then its whole test split predicted and scored with its paper's conventions.", "",
                  "| preset | status | share s | steps | epochs | training s | compiled | scores (paper) | entry |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for name, r in runs.items():
            if r.get("status") == "done":
                scores = ", ".join(f"{metric} {v['mean']:.3f}" + (f" ({r['reported'][metric]:.3f})" if metric in r["reported"] else "")
                                   for metric, v in r["metrics"].items())
                entry = Path(r["entry"]).name + {True: "", None: " (not validated here: no jsonschema)"}.get(
                    r["validated"], f" **invalid**: {r['validated']}")
                lines.append(f"| {name} | stopped by {r['stopped'].replace('_', ' ')} | {r['share_s']:g} | {r['steps']:,} | "
                             f"{r['epochs']} | {r['wall_time_s']:.0f} | {'yes' if r['compiled'] else 'no'} | {scores} | {entry} |")
            else:
                lines.append(f"| {name} | {r.get('status')}: {r.get('reason', '')} | {r.get('share_s', '')} | | | | | | |")
        if parts["reproductions"].get("figure"):
            lines += ["", "![validation score over training time](time_to_quality.png)"]
        lines += ["", "## 4. Entries", "",
                  "`entries/` holds one leaderboard entry per finished reproduction (device, steps, wall time and budget in "
                  "each); add them, validated, with `groupbench leaderboard submit DIR/entries/*.json` and render the board "
                  "with `groupbench leaderboard render`. The runs (curves, figures, checkpoints) are in `runs/`, the workers' "
                  "logs in `logs/`.", ""]
    return "\n".join(lines)


def speedups(rows: list[dict[str, Any]]) -> dict[str, float]:
    rates: dict[str, dict[bool, float]] = {}
    for r in rows:
        if r["status"] == "measured":
            rates.setdefault(r["preset"], {})[r["compiled"]] = r["steps_per_s"]
    return {name: rate[True] / rate[False] for name, rate in rates.items() if len(rate) == 2}


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2])
