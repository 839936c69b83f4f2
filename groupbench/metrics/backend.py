"""Array backends: the few operations whose numpy and torch spellings differ.

The metric code is written once against `backend.xp` (the `numpy` or `torch` module, whose
elementwise functions and reductions share names) plus the methods below. `torch` is imported
only when the torch backend is asked for, so the numpy path never loads it.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext

import numpy as np

from groupbench.errors import GroupbenchError

BACKENDS = ("numpy", "torch")


def is_torch_tensor(x) -> bool:
    """True for a torch.Tensor (without importing torch)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def resolve_backend(name: str | None, *arrays):
    """The backend called `name`; None picks torch if any of `arrays` is a torch.Tensor, else numpy.

    The torch backend computes on the device of the first tensor among `arrays` (CPU if none).
    """
    if name is None:
        name = "torch" if any(is_torch_tensor(a) for a in arrays) else "numpy"
    if name == "numpy":
        return NUMPY
    if name == "torch":
        from groupbench.metrics.torch_backend import TorchBackend

        device = next((a.device for a in arrays if is_torch_tensor(a)), None)
        return TorchBackend(device)
    raise GroupbenchError(f"unknown metrics backend {name!r}; choose one of {', '.join(BACKENDS)}")


class NumpyBackend:
    """float64 numpy on the CPU."""

    name = "numpy"
    xp = np
    index_dtype = np.int64
    int32 = np.int32
    bool_dtype = np.bool_
    chunk_pixels = 1 << 20  # default pixels scored per chunk
    block_elements = 1 << 17  # grid cells per block of the expected-MI sum (fits in L2)

    def asarray(self, x) -> np.ndarray:
        if is_torch_tensor(x):
            x = x.detach().cpu()
            if x.dtype == sys.modules["torch"].bfloat16:  # numpy has no bfloat16
                x = x.float()
            return x.numpy()
        return np.asarray(x)

    @staticmethod
    def is_floating(x) -> bool:
        return np.issubdtype(x.dtype, np.floating)

    @staticmethod
    def is_integer(x) -> bool:
        return x.dtype == np.bool_ or np.issubdtype(x.dtype, np.integer)

    @staticmethod
    def is_small_unsigned(x) -> bool:
        """bool or unsigned with fewer than 64 bits: int64 holds every value, none negative."""
        return x.dtype == np.bool_ or (np.issubdtype(x.dtype, np.unsignedinteger) and x.dtype.itemsize < 8)

    @staticmethod
    def int64(x):
        return x.astype(np.int64, copy=False)

    @staticmethod
    def float64(x):
        return x.astype(np.float64, copy=False)

    @staticmethod
    def cast(x, dtype):
        """A copy of x in dtype."""
        return x.astype(dtype)

    @staticmethod
    def scaled(x, factor: int, dtype):
        """x * factor as a new array of dtype, in one pass."""
        return np.multiply(x, factor, out=np.empty(x.shape, dtype), casting="unsafe")

    @staticmethod
    def arange(start, stop=None, *, dtype=np.int64):
        return np.arange(start, stop, dtype=dtype) if stop is not None else np.arange(start, dtype=dtype)

    @staticmethod
    def zeros(shape, *, dtype=np.float64):
        return np.zeros(shape, dtype=dtype)

    @staticmethod
    def ones(shape, *, dtype=np.bool_):
        return np.ones(shape, dtype=dtype)

    @staticmethod
    def full(shape, value: float):
        return np.full(shape, value, dtype=np.float64)

    @staticmethod
    def bincount(x, minlength: int, weights=None):
        """Counts (int64) or weight sums (float64) of the non-negative ints in 1-D x."""
        return np.bincount(x, weights=weights, minlength=minlength)

    @staticmethod
    def nonzero(x):
        return np.nonzero(x)

    @staticmethod
    def repeat(x, counts):
        return np.repeat(x, counts)

    @staticmethod
    def sort(x):
        return np.sort(x)

    @staticmethod
    def argsort(x):
        """Stable argsort of a 1-D array."""
        return np.argsort(x, kind="stable")

    @staticmethod
    def scatter_max(size: int, index, values):
        """(size,) float64: out[i] = max(0, largest of values[index == i])."""
        out = np.zeros(size, dtype=np.float64)
        np.maximum.at(out, index, values)
        return out

    @staticmethod
    def sort_rows(x):
        """(sorted rows, argsort) of a 2-D array along axis 1."""
        order = np.argsort(x, axis=1)
        return np.take_along_axis(x, order, axis=1), order

    @staticmethod
    def scatter_rows(order, values):
        """out[b, order[b, k]] = values[b, k]."""
        out = np.empty_like(values)
        np.put_along_axis(out, order, values, axis=1)
        return out

    @staticmethod
    def take_clipped(table, index):
        """table[index] with index clipped to [0, len(table) - 1]."""
        return np.take(table, index, mode="clip")

    @staticmethod
    def column_dot(a, b):
        """(a * b).sum(axis=0) for 2-D arrays, without the temporary."""
        return np.einsum("ij,ij->j", a, b)

    @staticmethod
    def cumprod_rows(x):
        """In-place running product down axis 0 of a 2-D array (row by row: vectorised and cache-friendly)."""
        for k in range(1, x.shape[0]):
            np.multiply(x[k - 1], x[k], out=x[k])
        return x

    @staticmethod
    def concatenate(arrays):
        return np.concatenate(arrays)

    @staticmethod
    def to_numpy(x) -> np.ndarray:
        return x

    @staticmethod
    def compute_context():
        return nullcontext()


NUMPY = NumpyBackend()
