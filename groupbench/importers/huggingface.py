"""The HuggingFace parquet copy of multi-dSprites (``eurecom-ds/multi_dsprites``) -> groupbench files.

Layout, from the copy's dataset card: configs ``binarized``, ``colored_on_grayscale`` and
``colored_on_colored``, each one ``train`` split of 1,000,000 rows in parquet files
``train-0000K-of-0000N.parquet``; columns

- ``image``: an image (HuggingFace's ``{bytes, path}`` struct, the bytes an encoded PNG);
- ``mask_obj_1`` .. ``mask_obj_E``: one image per entity, ``mask_obj_1`` the background (entity 0);
- ``color_obj_1`` .. ``color_obj_E`` (images), ``x``, ``y``, ``orientation``, ``scale`` (float32 lists)
  and ``shape``, ``visibility`` (uint8 lists).

Rows are taken consecutively over the files in the order given, like DeepMind's records
(``--splits``). The files are read with pyarrow (imported here only, so that the rest of
groupbench imports without it) and the images decoded with Pillow. The factors are not imported:
the colours are stored as images, not as DeepMind's float32 values, so the factors an id stores
cannot all be restored exactly, and partial factors would match no other import. The result is
``groupbench import deepmind --no-factors`` of the same records: the same digests where the rows
hold the same content in the same order.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from groupbench.downloads import sha256_file
from groupbench.errors import GroupbenchError
from groupbench.importers import DEEPMIND, DeepMindDataset
from groupbench.importers.scenes import (
    SPLIT_NAMES,
    Scenes,
    get_dataset,
    import_attrs,
    parse_splits,
    scene_block,
    split_sizes,
    write_scenes,
    writer_for,
)

DATASETS = tuple(name for name in DEEPMIND if name.startswith("multi_dsprites_"))
"""The ``--dataset`` names this copy holds (its configs, prefixed ``multi_dsprites_``)."""
PARQUET_MAGIC = b"PAR1"
SHARD = re.compile(r"-(\d+)-of-(\d+)\.parquet$")


def _pyarrow():
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise GroupbenchError("reading parquet files needs pyarrow: pip install pyarrow") from None
    return pq


def _check_order(paths: list[Path]) -> None:
    """Shards named ``-K-of-N`` must come in order from the first, none twice."""
    shards = [SHARD.search(p.name) for p in paths]
    if not all(shards):
        return
    numbers = [int(m[1]) for m in shards]
    if numbers != list(range(len(numbers))):
        raise GroupbenchError(
            f"the parquet shards are given as {', '.join(p.name for p in paths)}; give them in order from "
            f"{SHARD.sub(f'-{0:05d}-of-{shards[0][2]}.parquet', paths[0].name)} (rows are taken consecutively)"
        )


def _open(pq, path: Path):
    if not path.exists():
        raise GroupbenchError(f"{path}: no such file")
    if path.is_dir():
        raise GroupbenchError(f"{path}: is a directory, expected a .parquet file")
    try:
        return pq.ParquetFile(path)
    except Exception:  # pyarrow raises ArrowInvalid, OSError and others for unreadable files
        with open(path, "rb") as handle:
            parquet = handle.read(4) == PARQUET_MAGIC
        if parquet:
            raise GroupbenchError(f"{path}: truncated or damaged parquet file (an interrupted download?); download it again") from None
        raise GroupbenchError(f"{path}: not a parquet file") from None


def _mask_columns(names: list[str]) -> int:
    """E: the number of ``mask_obj_K`` columns, checked to be 1..E."""
    numbers = sorted(int(n[len("mask_obj_") :]) for n in names if re.fullmatch(r"mask_obj_\d+", n))
    return len(numbers) if numbers == list(range(1, len(numbers) + 1)) else 0


def _check_columns(path: Path, d: DeepMindDataset, schema) -> None:
    names = schema.names
    if "image" not in names or not _mask_columns(names):
        raise GroupbenchError(
            f"{path}: not the multi-dSprites parquet copy: no 'image' and 'mask_obj_1'.. columns (it has {', '.join(names[:8])}...)"
        )
    entities = _mask_columns(names)
    if entities != d.file.entities:
        fits = [x for x in DATASETS if DEEPMIND[x].file.entities == entities]
        hint = f"; it looks like --dataset {fits[0]}" if fits else ""
        raise GroupbenchError(
            f"{path}: holds {entities} mask columns, --dataset {d.name} has {d.file.entities} entities{hint}"
        )
    for name in ("image", *(f"mask_obj_{k}" for k in range(1, entities + 1))):
        kind = schema.field(name).type
        if not (getattr(kind, "num_fields", 0) and kind.get_field_index("bytes") >= 0):
            raise GroupbenchError(f"{path}: column {name!r} is {kind}, not an image ({{bytes, path}}) as HuggingFace stores them")


def _decode(path: Path, row: int, column: str, data: bytes | None) -> np.ndarray:
    """An image cell -> (H, W, C) uint8 (mode "1": 0 and 255)."""
    if data is None:
        raise GroupbenchError(f"{path}: row {row:,}: column {column!r} holds no image bytes")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            mode = image.mode
            array = np.asarray(image)
    except Exception as exc:  # Pillow raises many kinds for damaged images
        raise GroupbenchError(f"{path}: row {row:,}: column {column!r} is not a readable image ({exc})") from None
    if mode == "1":
        array = array.astype(np.uint8) * 255
    elif mode not in ("L", "RGB"):
        raise GroupbenchError(f"{path}: row {row:,}: column {column!r} is a {mode} image, expected a grey or RGB one")
    return array if array.ndim == 3 else array[..., None]


def _rows(pq, paths: list[Path], d: DeepMindDataset, count: int, step: int) -> Iterator[Scenes]:
    """Scenes of the first ``count`` rows over the files, ``step`` at a time (blocks end at file ends)."""
    h, w, c = d.file.image
    e = d.file.entities
    columns = ["image", *(f"mask_obj_{k}" for k in range(1, e + 1))]
    left = count
    for path in paths:
        handle = _open(pq, path)
        first = 0
        try:
            for batch in handle.iter_batches(batch_size=step, columns=columns):
                n = min(batch.num_rows, left)
                images = np.empty((n, h, w, c), np.uint8)
                masks = np.empty((n, e, h, w), bool)
                for k, column in enumerate(columns):
                    cells = batch.column(k).field("bytes").to_pylist()[:n]  # checked to be an image struct
                    for i, data in enumerate(cells):
                        array = _decode(path, first + i, column, data)
                        expected = (h, w, c) if k == 0 else (h, w, 1)
                        if array.shape != expected:
                            got = "x".join(map(str, array.shape))
                            raise GroupbenchError(
                                f"{path}: row {first + i:,}: column {column!r} is {got}, --dataset {d.name} expects "
                                f"{'x'.join(map(str, expected))}"
                            )
                        if k == 0:
                            images[i] = array
                        else:
                            masks[i, k - 1] = array[..., 0] != 0
                yield Scenes(images, masks, None)
                first += n
                left -= n
                if left == 0:
                    return
        except GroupbenchError:
            raise
        except Exception as exc:  # pyarrow's errors for damaged pages
            raise GroupbenchError(f"{path}: cannot read rows from {first:,} on (truncated or damaged file: {exc})") from None
        finally:
            handle.close()


def import_huggingface(
    sources: list[str | Path] | tuple[str | Path, ...],
    dataset: str,
    out: str | Path,
    *,
    splits: str | tuple[int, int, int] | None = None,
    limit: int | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
) -> tuple[Path, dict[str, int]]:
    """Convert the parquet files of one config of ``eurecom-ds/multi_dsprites`` into a groupbench file.

    ``sources`` are the config's files in order; ``splits`` (default the id's) and ``limit`` as for
    `groupbench.importers.deepmind.import_deepmind`. Returns the path and the rows written per split.
    """
    d = get_dataset(dataset, among=DATASETS)
    splits = parse_splits(splits if splits is not None else d.splits)
    if limit is not None and limit < 1:
        raise GroupbenchError(f"--limit must be >= 1, got {limit}")
    paths = [Path(p) for p in sources]
    if not paths:
        raise GroupbenchError("no parquet file given")
    writer = writer_for(out, overwrite)
    _check_order(paths)
    pq = _pyarrow()
    available = 0
    for path in paths:
        handle = _open(pq, path)
        try:
            _check_columns(path, d, handle.schema_arrow)
            available += handle.metadata.num_rows
        finally:
            handle.close()
    wanted = sum(splits) if limit is None else min(sum(splits), limit)
    sizes = split_sizes(splits, min(available, wanted))
    if sum(sizes.values()) == 0:
        raise GroupbenchError(f"{', '.join(map(str, paths))}: hold no rows")
    params = {
        "source": [p.name for p in paths],
        "source_sha256": [sha256_file(p, progress) for p in paths],
        "copy": "huggingface eurecom-ds/multi_dsprites",
        "splits": list(splits),
        "limit": limit,
        "factors": False,
    }
    writer.attrs = import_attrs(d, params)
    with writer:
        written = write_scenes(writer, d, False, sizes, _split_blocks(pq, paths, d, sizes), progress=progress)
    return Path(out), written


def _split_blocks(pq, paths: list[Path], d: DeepMindDataset, sizes: dict[str, int]) -> Iterator[tuple[str, Scenes]]:
    """(split, scenes) blocks: whole blocks of `scene_block` rows per split but for its last, rows in order."""
    step = scene_block(d)
    pieces = _rows(pq, paths, d, sum(sizes.values()), step)
    buffer: list[Scenes] = []
    held = 0
    for split in SPLIT_NAMES:
        need = sizes[split]
        while need:
            want = min(need, step)
            while held < want:
                buffer.append(next(pieces))
                held += len(buffer[-1].images)
            images = np.concatenate([p.images for p in buffer])
            masks = np.concatenate([p.masks for p in buffer])
            yield split, Scenes(images[:want], masks[:want], None)
            buffer = [Scenes(images[want:], masks[want:], None)] if held > want else []
            held -= want
            need -= want
