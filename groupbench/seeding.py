"""Counter-based randomness: every random number is a pure function of (key, sample index, stream).

A generator never carries RNG state from one sample to the next, so sample ``i`` of a split is the
same whether it is drawn alone, in a block, by one worker or by eight, in one run or in shards.

The key of a split is derived from (dataset id, parameters, seed, split name) with SHA-256.
A draw is ``mix(mix(key + G1 * (index + 1)) + G2 * (stream + 1))`` where ``mix`` is the SplitMix64
finaliser: integer arithmetic modulo 2**64 only, hence bit-identical on every machine.
Integers in ``[0, high)`` use the top 32 bits by multiply-shift (bias below ``high / 2**32``);
floats in ``[0, 1)`` use the top 53 bits.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

_G1 = np.uint64(0x9E3779B97F4A7C15)
_G2 = np.uint64(0xD1B54A32D192ED03)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser, element-wise on uint64 arrays (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def split_key(dataset_id: str, params: dict[str, Any], seed: int, split: str) -> int:
    """The 64-bit key of one split: SHA-256 of the canonical JSON of its identity."""
    identity = json.dumps([dataset_id, params, int(seed), split], sort_keys=True, separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(identity.encode()).digest()[:8], "little")


class CounterRandom:
    """Random draws addressed by (sample index, stream) under one split key.

    ``index`` and ``stream`` broadcast against each other: ``index[:, None]`` with
    ``stream=np.arange(O)`` gives a (B, O) array of independent draws. A generator gives each
    quantity it samples its own stream number, documented next to the draw.
    """

    def __init__(self, key: int):
        self.key = np.uint64(key)

    def bits(self, index, stream) -> np.ndarray:
        """Uniform uint64 draws, shape = broadcast(index, stream)."""
        index = np.asarray(index, dtype=np.uint64)
        stream = np.asarray(stream, dtype=np.uint64)
        with np.errstate(over="ignore"):
            state = _mix(self.key + _G1 * (index + np.uint64(1)))
            return _mix(state + _G2 * (stream + np.uint64(1)))

    def integers(self, index, stream, high) -> np.ndarray:
        """Integers uniform in [0, high) as int64; ``high`` (< 2**32) broadcasts too."""
        high = np.asarray(high, dtype=np.uint64)
        if np.any(high < 1) or np.any(high >= np.uint64(2**32)):
            raise ValueError("high must lie in [1, 2**32)")
        top = self.bits(index, stream) >> np.uint64(32)
        return ((top * high) >> np.uint64(32)).astype(np.int64)

    def uniform(self, index, stream) -> np.ndarray:
        """Floats uniform in [0, 1) as float64 (multiples of 2**-53)."""
        return (self.bits(index, stream) >> np.uint64(11)).astype(np.float64) * (2.0**-53)
