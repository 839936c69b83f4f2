"""Exports of a groupbench file to the HDF5 layouts the original code reads.

``binding``: what Qwlouse/Binding (Reconstruction Clustering, ``dae.py``) reads: top-level groups
``train_single`` (from the ``single`` split), ``train_multi`` (``train``, then ``valid`` appended,
so the RC code's last-10% validation cut falls in groupbench's valid split) and ``test``, each
with ``default`` (1, N, H, W, C) float32 pixels in [0, 1] and ``groups`` (1, N, H, W, 1) float32
labels, and for digit datasets ``targets`` (1, N, D) int64, the digit classes. Static data only.

``nem``: what sjoerdvansteenkiste/Neural-EM (``datasets.py``) reads: groups ``training``,
``validation`` and ``test`` (from ``train``, ``valid``, ``test``), each with ``features``
(T, N, H, W, C) float32 in [0, 1], ``groups`` (T, N, H, W, 1) float32 and ``overlaps``
(T, N, H, W, 1) float32 (1.0 where 2 or more objects cover the pixel; the loader ignores it, the
official files carry it). Time comes first: T = 1 for still images (the loader tiles the frame
over its steps), the sequence length for sequences, every frame with its own ``groups``. The
loader cuts sequences to their first ``nr_steps + 1`` frames, so its default 20 steps need
T >= 21 (the default length of the flying datasets); `ExportReport.frames` says what was
written.

In both, ``groups`` holds 0 for background **and for overlap pixels** (the originals score only
pixels with a non-zero group), and object k as k (groupbench's labels). Pixels are the stored
8-bit values divided by 255 (so binary sets hold exactly 0.0 and 1.0). Arrays are gzip-compressed
in chunks of (1, 100, H, W, C), as in the RC files; there are no HDF5 attributes, as in the
originals. Splits a layout has no place for are left out, and groups without a source split are
not written; `export` reports both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from groupbench.errors import GroupbenchError
from groupbench.format import file_metadata, layout_of, open_file, read, split_names
from groupbench.progress import progress_bar
from groupbench.writer import check_output, hdf5_output

LAYOUTS = {
    # layout: (output group -> source splits, in order), (image, label, overlap dataset names)
    "binding": ({"train_single": ("single",), "train_multi": ("train", "valid"), "test": ("test",)}, ("default", "groups", None)),
    "nem": ({"training": ("train",), "validation": ("valid",), "test": ("test",)}, ("features", "groups", "overlaps")),
}

ROWS_PER_READ = 1000
"""Frames read at a time, about (see `rows_per_read`)."""
CHUNK_SAMPLES = 100
GZIP_LEVEL = 4
"""h5py's default gzip level, as in the RC files."""


@dataclass
class ExportReport:
    """What `export` wrote: output group -> (source splits, samples), and what it left out."""

    groups: dict[str, tuple[tuple[str, ...], int]] = field(default_factory=dict)
    skipped_splits: list[str] = field(default_factory=list)
    missing_groups: list[str] = field(default_factory=list)
    frames: int = 1
    """T of the arrays written: 1 for still images, the sequence length for sequences."""


def _targets(handle: h5py.File, splits: tuple[str, ...]) -> np.ndarray | None:
    """Digit classes (N, D) for the slots that hold a digit in every sample, or None."""
    parts = []
    for split in splits:
        factors = handle[split].get("factors")
        if factors is None or "digit" not in factors:
            return None
        parts.append(np.asarray(read(factors["digit"]), dtype=np.int64))
    digits = np.concatenate(parts)
    if digits.ndim != 2:
        return None
    keep = (digits >= 0).all(axis=0)
    if not keep.any() or (digits[:, ~keep] >= 0).any():
        return None  # no slot is a digit throughout, or slots mix digits and other objects
    return digits[:, keep]


def export(
    path: str | Path,
    layout: str,
    out: str | Path,
    overwrite: bool = False,
    progress: bool | None = False,
) -> ExportReport:
    """Write the splits of groupbench file ``path`` to ``out`` in ``layout`` (binding or nem).

    ``out`` may not be ``path``, nor an existing file unless ``overwrite`` (`check_output`);
    ``progress`` as in `groupbench.progress.progress_bar`.
    """
    if layout not in LAYOUTS:
        raise GroupbenchError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    out = check_output(out, overwrite=overwrite, inputs=[path])
    mapping, (image_name, label_name, overlap_name) = LAYOUTS[layout]
    report = ExportReport()
    with open_file(path) as source:
        file_metadata(source)  # refuses incomplete files
        present = []  # splits with samples: an empty one (a shard's) is as good as absent
        for split in split_names(source):
            layout_of(source[split])  # a damaged split: one error naming the array
            if source[split]["images"].shape[0]:
                present.append(split)
        used = {s for splits in mapping.values() for s in splits}
        report.skipped_splits = [s for s in present if s not in used]
        plan = {}
        for group, wanted in mapping.items():
            splits = tuple(s for s in wanted if s in present)
            if not splits:
                report.missing_groups.append(group)
                continue
            plan[group] = splits
        if not plan:
            raise GroupbenchError(
                f"{path}: has none of the splits the {layout} layout uses ({', '.join(sorted(used))})"
            )
        shapes = set()
        for splits in plan.values():
            for split in splits:
                images = source[split]["images"]
                if layout == "binding" and images.ndim != 4:
                    raise GroupbenchError(
                        f"{path}: holds sequences; the binding layout (RC) takes still images only, use --layout nem"
                    )
                shapes.add(images.shape[1:])
                report.frames = images.shape[1] if images.ndim == 5 else 1
        if len(shapes) > 1:
            raise GroupbenchError(f"{path}: splits have different image shapes {sorted(shapes)}; cannot share one file")
        total = sum(source[s]["images"].shape[0] for splits in plan.values() for s in splits)
        with hdf5_output(out, overwrite=overwrite, inputs=[path]) as sink, progress_bar(
            total, f"export {layout}", unit="img", show=progress
        ) as bar:
            for group, splits in plan.items():
                n = _write_group(source, splits, sink.create_group(group), image_name, label_name, overlap_name, bar, sink.check_written)
                if layout == "binding":
                    targets = _targets(source, splits)
                    if targets is not None:
                        sink[group].create_dataset("targets", data=targets[None], compression="gzip", compression_opts=GZIP_LEVEL)
                report.groups[group] = (splits, n)
    return report


def rows_per_read(frames: int) -> int:
    """Samples read and written at a time: about `ROWS_PER_READ` frames, in whole chunks of samples."""
    return max(CHUNK_SAMPLES, ROWS_PER_READ // frames // CHUNK_SAMPLES * CHUNK_SAMPLES)


def _write_group(source, splits, group, image_name, label_name, overlap_name, bar, check_written) -> int:
    first = source[splits[0]]["images"]
    sequence = first.ndim == 5
    frames = first.shape[1] if sequence else 1
    h, w, c = first.shape[-3:]
    n = sum(source[s]["images"].shape[0] for s in splits)
    chunk = min(CHUNK_SAMPLES, n)
    specs = {image_name: c, label_name: 1}
    if overlap_name:
        specs[overlap_name] = 1
    sinks = {
        name: group.create_dataset(
            name, shape=(frames, n, h, w, channels), dtype=np.float32,
            chunks=(1, chunk, h, w, channels), compression="gzip", compression_opts=GZIP_LEVEL,
        )
        for name, channels in specs.items()
    }
    step = rows_per_read(frames)
    offset = 0
    for split in splits:
        src = source[split]
        count = src["images"].shape[0]
        for start in range(0, count, step):
            stop = min(start + step, count)
            images, labels, overlap = (read(src[name], slice(start, stop)) for name in ("images", "labels", "overlap"))
            if not sequence:  # (B,H,W,...) -> (B,1,H,W,...)
                images, labels, overlap = images[:, None], labels[:, None], overlap[:, None]
            groups = np.where(overlap, 0, labels).astype(np.float32)
            rows = slice(offset + start, offset + stop)
            # (B,T,...) -> (T,B,...)
            sinks[image_name][:, rows] = np.swapaxes(images.astype(np.float32) / np.float32(255), 0, 1)
            sinks[label_name][:, rows] = np.swapaxes(groups, 0, 1)[..., None]
            if overlap_name:
                sinks[overlap_name][:, rows] = np.swapaxes(overlap.astype(np.float32), 0, 1)[..., None]
            check_written()
            bar.update(stop - start)
        offset += count
    return n
