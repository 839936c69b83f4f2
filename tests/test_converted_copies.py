"""Converted copies of DeepMind's data: EMORL's HDF5 files and the HuggingFace parquet copy of multi-dSprites.

The same scenes are written both ways, as DeepMind's TFRecord file and as the copy (tests/deepmind_layout.py:
EMORL's layout with plain h5py, parquet with pyarrow and PNGs written by hand), and the two imports
must give the same digests: the same arrays, split by split. Bad copies fail in one line and leave
no output.
"""

from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deepmind_layout import (
    emorl_clevr_factors,
    encode_scenes,
    expected_arrays,
    make_scenes,
    png,
    scene_counts,
    write_emorl,
    write_tfrecord,
)

from groupbench.format import validate
from groupbench.importers import DEEPMIND, Selection
from groupbench.importers.deepmind import import_deepmind
from groupbench.importers.emorl import import_emorl
from groupbench.importers.huggingface import import_huggingface

N = 13
SPLITS = {"train": slice(0, 6), "valid": slice(6, 9), "test": slice(9, 13)}
EMORL_GROUP = {"train": "train", "valid": "val", "test": "test"}


def _emorl_groups(scenes, rows: dict[str, list[int] | slice], entities: int | None = None, factors=None):
    """EMORL's groups of the given scene rows: imgs, masks (N, E, H, W, 1), optionally factors (N, E, 9)."""
    groups = {}
    for split, index in rows.items():
        masks = scenes["mask"][index][:, :entities]
        arrays = {"imgs": scenes["image"][index], "masks": masks[..., None]}
        if factors is not None:
            arrays["factors"] = factors[index][:, :entities]
        groups[EMORL_GROUP[split]] = arrays
    return groups


def _digests(path):
    return validate(path)["digests"]


def _error(cli, args, out) -> str:
    result = cli(*args)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert not out.exists() and not list(out.parent.glob(f".{out.name}.partial-*"))
    return lines[0]


# --- EMORL ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tetrominoes(tmp_path_factory):
    """The same 13 Tetrominoes scenes as DeepMind's file and as an EMORL copy (train/val/test, no factors)."""
    folder = tmp_path_factory.mktemp("emorl")
    d = DEEPMIND["tetrominoes"]
    scenes = make_scenes(d.file, N, 4)
    tfrecord = write_tfrecord(folder / d.file_name, encode_scenes(d.file, scenes))
    write_emorl(folder / "tetrominoes.h5", _emorl_groups(scenes, SPLITS))
    return tfrecord, folder / "tetrominoes.h5", scenes


def test_emorl_copy_without_factors_matches_a_deepmind_import_without_factors(cli, tetrominoes, tmp_path):
    tfrecord, copy, scenes = tetrominoes
    result = cli("import", "emorl", str(copy), "--dataset", "tetrominoes", "--out", str(tmp_path / "e.h5"))
    assert result.exit_code == 0, result.output
    assert "train 6, valid 3, test 4 records" in result.output
    assert "factors not imported (the file holds no factors)" in result.output
    import_deepmind(tfrecord, "tetrominoes", tmp_path / "d.h5", splits=(6, 3, 4), factors=False)
    assert _digests(tmp_path / "e.h5") == _digests(tmp_path / "d.h5")
    import_deepmind(tfrecord, "tetrominoes", tmp_path / "f.h5", splits=(6, 3, 4))
    assert _digests(tmp_path / "f.h5") != _digests(tmp_path / "d.h5")  # the factors are part of the content
    params = validate(tmp_path / "e.h5")["params"]
    assert params["copy"] == "emorl" and params["groups"] == {"train": "train", "valid": "val", "test": "test"}
    assert params["factors"] is False
    d = DEEPMIND["tetrominoes"]
    with h5py.File(tmp_path / "e.h5") as f:
        for array, values in expected_arrays(d, scenes, factors=False).items():
            np.testing.assert_array_equal(f["test"][array][:], values[9:], err_msg=array)


@pytest.fixture(scope="module")
def clevr(tmp_path_factory):
    """14 CLEVR scenes as DeepMind's file, with their object counts."""
    folder = tmp_path_factory.mktemp("clevr")
    d = DEEPMIND["clevr6"]
    objects = [3, 9, 6, 2, 7, 5, 10, 4, 6, 8, 1, 5, 6, 2]
    scenes = make_scenes(d.file, len(objects), 7, objects=objects, outside=3)
    return write_tfrecord(folder / d.file_name, encode_scenes(d.file, scenes)), scenes


def test_emorl_clevr6_with_factors_matches_the_deepmind_import(clevr, tmp_path):
    tfrecord, scenes = clevr
    kept = [i for i, n in enumerate(scene_counts(scenes)) if n <= 6]
    rows = {"train": [i for i in kept if i < 7], "test": [i for i in kept if i >= 7][:2], "valid": [i for i in kept if i >= 7][2:]}
    # EMORL keeps 7 masks (background + 6 objects) and the 9 factor columns of its CLEVR files
    copy = tmp_path / "clevr6_with_masks_train.h5"
    write_emorl(copy, _emorl_groups(scenes, rows, entities=7, factors=emorl_clevr_factors(scenes)))
    _, sizes, why_not = import_emorl(copy, "clevr6", tmp_path / "e.h5")
    assert why_not is None and sizes == {split: len(r) for split, r in rows.items()}
    import_deepmind(tfrecord, "clevr6", tmp_path / "d.h5", selection=Selection(7, 2, None))
    assert _digests(tmp_path / "e.h5") == _digests(tmp_path / "d.h5")
    with h5py.File(tmp_path / "e.h5") as f:
        assert sorted(f["train/factors"]) == sorted(DEEPMIND["clevr6"].factor_names)
        assert f["train/masks"].shape[1:] == (6, 128, 128) and f["train/images"].shape[1:] == (128, 128, 3)


def test_emorl_clevr_without_pixel_coords_imports_without_factors(clevr, tmp_path):
    tfrecord, scenes = clevr
    copy = tmp_path / "clevr10_with_masks_test.h5"
    write_emorl(copy, _emorl_groups(scenes, {"test": slice(0, 5)}, factors=emorl_clevr_factors(scenes)))
    _, sizes, why_not = import_emorl(copy, "clevr_with_masks", tmp_path / "e.h5")
    assert sizes == {"test": 5} and why_not == "EMORL's CLEVR factors hold no 'pixel_coords'"
    import_deepmind(tfrecord, "clevr_with_masks", tmp_path / "d.h5", splits=(0, 0, 5), factors=False)
    assert _digests(tmp_path / "e.h5") == _digests(tmp_path / "d.h5")


def test_emorl_refuses_bad_copies_in_one_line(cli, tetrominoes, clevr, tmp_path):
    copy = tetrominoes[1]
    out = tmp_path / "out.h5"

    def error(path, dataset="tetrominoes", *extra):
        return _error(cli, ("import", "emorl", str(path), "--dataset", dataset, "--out", str(out), *extra), out)

    text = tmp_path / "notes.h5"
    text.write_text("not hdf5 at all\n" * 10)
    assert "not an HDF5 file" in error(text)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(copy.read_bytes()[: copy.stat().st_size // 2])
    assert "truncated or damaged" in error(cut)
    assert "is a groupbench file already" in error(validate_and_path(tetrominoes[0], tmp_path))
    assert "it looks like --dataset tetrominoes" in error(copy, "multi_dsprites_colored_on_grayscale")
    assert "no such file" in error(tmp_path / "missing.h5")
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as f:
        f.create_group("train").create_dataset("images", data=np.zeros((2, 3)))
    assert "not an EMORL file" in error(empty)
    # a CLEVR copy holding a scene of 9 objects is not CLEVR6
    scenes = clevr[1]
    mixed = tmp_path / "mixed.h5"
    write_emorl(mixed, _emorl_groups(scenes, {"test": slice(0, 3)}))
    message = error(mixed, "clevr6")
    assert "row 1 has 9 objects, --dataset clevr6 holds 0-6" in message and "--dataset clevr_with_masks" in message


def validate_and_path(tfrecord, tmp_path):
    """A groupbench file (imported from ``tfrecord``), to offer where an EMORL copy is expected."""
    path = tmp_path / "groupbench.h5"
    if not path.exists():
        import_deepmind(tfrecord, "tetrominoes", path, splits=(4, 0, 0))
    return path


# --- HuggingFace parquet ------------------------------------------------------------------------


def _image_cells(arrays) -> pa.Array:
    cells = [{"bytes": png(a if a.shape[-1] == 3 else a[..., 0]), "path": None} for a in arrays]
    return pa.array(cells, type=pa.struct([("bytes", pa.binary()), ("path", pa.string())]))


def write_parquet_copy(folder, d, scenes, cuts=(7,)) -> list:
    """The scenes as HuggingFace's copy stores a config: parquet shards of image, mask_obj_K, color_obj_K and factor columns."""
    e = d.file.entities
    bounds = [0, *cuts, len(scenes["image"])]
    paths = []
    for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        columns = {"image": _image_cells(scenes["image"][a:b])}
        for entity in range(e):
            columns[f"mask_obj_{entity + 1}"] = _image_cells(scenes["mask"][a:b, entity][..., None])
        for entity in range(e):  # colours as images, as the copy stores them
            colour = np.broadcast_to((scenes["color"][a:b, entity] * 255).astype(np.uint8)[:, None, None, :], (b - a, 1, 1, 3))
            columns[f"color_obj_{entity + 1}"] = _image_cells(colour[..., :3] if d.file.image[2] == 3 else colour[..., :1])
        for name in ("x", "y", "orientation", "scale"):
            columns[name] = pa.array(list(scenes[name][a:b]), type=pa.list_(pa.float32()))
        for name in ("shape", "visibility"):
            columns[name] = pa.array(list(scenes[name][a:b].astype(np.uint8)), type=pa.list_(pa.uint8()))
        path = folder / f"train-{k:05d}-of-{len(bounds) - 1:05d}.parquet"
        pq.write_table(pa.table(columns), path, row_group_size=3)
        paths.append(path)
    return paths


@pytest.mark.parametrize("name", sorted(n for n in DEEPMIND if n.startswith("multi_dsprites_")))
def test_huggingface_copy_matches_a_deepmind_import_without_factors(cli, tmp_path, name):
    d = DEEPMIND[name]
    scenes = make_scenes(d.file, N, 11)
    tfrecord = write_tfrecord(tmp_path / d.file_name, encode_scenes(d.file, scenes))
    paths = write_parquet_copy(tmp_path, d, scenes)
    result = cli("import", "huggingface", *map(str, paths), "--dataset", name, "--out", str(tmp_path / "h.h5"), "--splits", "6,3,4")
    assert result.exit_code == 0, result.output
    import_deepmind(tfrecord, name, tmp_path / "d.h5", splits=(6, 3, 4), factors=False)
    assert _digests(tmp_path / "h.h5") == _digests(tmp_path / "d.h5")
    params = validate(tmp_path / "h.h5")["params"]
    assert params["source"] == [p.name for p in paths] and params["factors"] is False
    # --limit and the default splits: the rows fill the splits in order
    _, sizes = import_huggingface(paths, name, tmp_path / "l.h5", limit=10)
    assert sizes == {"train": 10}


def test_huggingface_refuses_bad_files_in_one_line(cli, tmp_path):
    d = DEEPMIND["multi_dsprites_colored_on_colored"]
    scenes = make_scenes(d.file, 6, 2)
    paths = write_parquet_copy(tmp_path, d, scenes, cuts=(3,))
    out = tmp_path / "out.h5"

    def error(files, dataset=d.name):
        return _error(cli, ("import", "huggingface", *map(str, files), "--dataset", dataset, "--out", str(out)), out)

    assert "it looks like --dataset multi_dsprites_colored_on_colored" in error(paths, "multi_dsprites_colored_on_grayscale")
    assert "give them in order" in error(paths[::-1])
    text = tmp_path / "notes.parquet"
    text.write_text("not parquet")
    assert "not a parquet file" in error([text])
    cut = tmp_path / "train-00000-of-00001.parquet"
    cut.write_bytes(paths[0].read_bytes()[: paths[0].stat().st_size // 2])
    assert "truncated or damaged" in error([cut])
    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"a": [1, 2]}), other)
    assert "not the multi-dSprites parquet copy" in error([other])
    table = pq.read_table(paths[0])
    plain = tmp_path / "plain.parquet"
    pq.write_table(table.set_column(0, "image", pa.array([b"raw"] * table.num_rows)), plain)
    assert "column 'image' is binary, not an image" in error([plain])
    # a damaged image inside an otherwise sound file
    cells = table.column("image").to_pylist()
    cells[1] = {"bytes": b"\x89PNG broken", "path": None}
    broken = tmp_path / "broken.parquet"
    pq.write_table(table.set_column(0, "image", pa.array(cells, type=table.schema.field("image").type)), broken)
    assert "row 1: column 'image' is not a readable image" in error([broken])


def test_groupbench_imports_without_pyarrow(tmp_path):
    """pyarrow is imported by the parquet import only; without it that command says what to install."""
    script = (
        "import sys; sys.modules['pyarrow'] = None; sys.modules['pyarrow.parquet'] = None\n"
        "from click.testing import CliRunner\n"
        "from groupbench.cli import main\n"
        "import groupbench.importers.huggingface\n"
        f"result = CliRunner().invoke(main, ['import', 'huggingface', {str(tmp_path / 'x.parquet')!r}, "
        "'--dataset', 'multi_dsprites_binarized', '--out', 'never.h5'])\n"
        "print(result.exit_code, result.output.strip())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert done.stdout.strip() == "1 Error: reading parquet files needs pyarrow: pip install pyarrow"
