"""The torch backend (CPU or CUDA, float64); see `backend.py` for the interface."""

from __future__ import annotations

import contextlib

import numpy as np
import torch


class TorchBackend:
    """float64 torch on one device; autocast is switched off while scores are computed."""

    name = "torch"
    xp = torch
    index_dtype = torch.int64
    int32 = torch.int32
    bool_dtype = torch.bool

    def __init__(self, device=None):
        self.device = torch.device(device if device is not None else "cpu")
        on_gpu = self.device.type != "cpu"
        self.chunk_pixels = 1 << 24 if on_gpu else 1 << 20
        self.block_elements = 1 << 24 if on_gpu else 1 << 17

    def asarray(self, x) -> torch.Tensor:
        if isinstance(x, torch.Tensor):
            return x.detach().to(self.device)
        return torch.as_tensor(np.asarray(x), device=self.device)

    @staticmethod
    def is_floating(x) -> bool:
        return x.is_floating_point()

    @staticmethod
    def is_integer(x) -> bool:
        return not x.is_floating_point() and not x.is_complex()

    @staticmethod
    def is_small_unsigned(x) -> bool:
        """bool or uint8: int64 holds every value, none negative."""
        return x.dtype in (torch.bool, torch.uint8)

    @staticmethod
    def int64(x):
        return x.to(torch.int64)

    @staticmethod
    def float64(x):
        return x.to(torch.float64)

    @staticmethod
    def cast(x, dtype):
        """A copy of x in dtype."""
        return x.to(dtype, copy=True)

    @staticmethod
    def scaled(x, factor: int, dtype):
        """x * factor as a new tensor of dtype."""
        return x.to(dtype, copy=True).mul_(factor)

    def arange(self, start, stop=None, *, dtype=torch.int64):
        if stop is None:
            start, stop = 0, start
        return torch.arange(start, stop, dtype=dtype, device=self.device)

    def zeros(self, shape, *, dtype=torch.float64):
        return torch.zeros(shape, dtype=dtype, device=self.device)

    def ones(self, shape, *, dtype=torch.bool):
        return torch.ones(shape, dtype=dtype, device=self.device)

    def full(self, shape, value: float):
        return torch.full(shape, value, dtype=torch.float64, device=self.device)

    @staticmethod
    def bincount(x, minlength: int, weights=None):
        """Counts (int64) or weight sums (float64) of the non-negative ints in 1-D x."""
        counts = torch.bincount(x, weights=weights, minlength=minlength)
        return counts if weights is None else counts.to(weights.dtype)  # empty x gives int64 zeros

    @staticmethod
    def nonzero(x):
        return torch.nonzero(x, as_tuple=True)

    @staticmethod
    def repeat(x, counts):
        return torch.repeat_interleave(x, counts)

    @staticmethod
    def sort(x):
        return torch.sort(x).values

    @staticmethod
    def argsort(x):
        """Stable argsort of a 1-D tensor."""
        return torch.sort(x, stable=True).indices

    def scatter_max(self, size: int, index, values):
        """(size,) float64: out[i] = max(0, largest of values[index == i])."""
        out = torch.zeros(size, dtype=torch.float64, device=self.device)
        return out.scatter_reduce_(0, index, values, reduce="amax")

    @staticmethod
    def sort_rows(x):
        """(sorted rows, argsort) of a 2-D tensor along dim 1."""
        return torch.sort(x, dim=1)

    @staticmethod
    def scatter_rows(order, values):
        """out[b, order[b, k]] = values[b, k]."""
        return torch.empty_like(values).scatter_(1, order, values)

    @staticmethod
    def take_clipped(table, index):
        """table[index] with index clipped to [0, len(table) - 1]."""
        return table.index_select(0, index.clamp(0, table.shape[0] - 1).reshape(-1)).reshape(index.shape)

    @staticmethod
    def column_dot(a, b):
        """(a * b).sum(dim=0) for 2-D tensors."""
        return (a * b).sum(dim=0)

    @staticmethod
    def cumprod_rows(x):
        """In-place running product down dim 0 of a 2-D tensor."""
        return x.cumprod_(0)

    @staticmethod
    def concatenate(tensors):
        return torch.cat(tensors)

    @staticmethod
    def to_numpy(x) -> np.ndarray:
        return x.cpu().numpy()

    def compute_context(self):
        stack = contextlib.ExitStack()
        stack.enter_context(torch.no_grad())
        stack.enter_context(torch.autocast(device_type=self.device.type, enabled=False))
        return stack
