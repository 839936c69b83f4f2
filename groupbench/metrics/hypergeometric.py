"""E[X log X] for hypergeometric X, batched: the costly part of the expected mutual information.

X ~ Hypergeometric(N, a, c) is the overlap of a true group of size a and a predicted cluster of
size c when the N pixels are permuted at random. Its probabilities are not taken from lgamma
differences (which lose about 1e-11 relative, as in sklearn) but built by two walks from the mode,
one up and one down, with the exact step ratios

    p(n + 1) / p(n) = (a - n)(c - n) / ((n + 1)(N - a - c + n + 1)),

as running products q(n) = p(n) / p(mode) <= 1 in float64, normalised at the end by their sum.
The ratios turn exactly 0 one step outside the support, so walks may run past it.

A walk first takes GUESS_SIGMAS * sigma + GUESS_STEPS steps (sigma: the standard deviation of X),
then bounds what it left out: the pmf is log-concave, so beyond the last term q the step ratios stay
below the last one, r < 1, and the rest adds up to at most q r / (1 - r). A walk whose bound exceeds
TAIL_TOLERANCE is redone twice as long; one that covers its side of the support is exact. The terms
left out move E[X log X] by at most 4 * TAIL_TOLERANCE * m log m (m = min(a, c)), i.e. the expected
MI by less than 4e-24 ln N per (true group, predicted cluster) pair: far below float64 resolution.
"""

from __future__ import annotations

import numpy as np

from groupbench.metrics.contingency import xlogx

GUESS_SIGMAS, GUESS_STEPS = 11.0, 8.0
TAIL_TOLERANCE = 1e-24


def expected_xlogx(total, successes, draws, backend):
    """E[X log X] for X ~ Hypergeometric(total, successes, draws); (M,) float64 arrays in, (M,) out.

    Requires 2 <= successes, draws <= total. Walks are grouped by length into blocks of about
    backend.block_elements grid cells, so memory stays bounded whatever M.
    """
    xp = backend.xp
    if successes.shape[0] == 0:
        return backend.zeros((0,))
    mode = xp.floor((successes + 1) * (draws + 1) / (total + 2))
    rest = total - successes - draws
    sigma = xp.sqrt(successes * draws * (total - successes) * (total - draws) / (total * total * (total - 1)))
    guess = xp.ceil(GUESS_SIGMAS * sigma + GUESS_STEPS)
    xlogx_table = xlogx(backend.arange(int(xp.amax(total)) + 1, dtype=xp.float64), xp)
    walk = dict(origin=backend.int64(mode), guess=guess, xlogx_table=xlogx_table, backend=backend)
    weighted_up, mass_up = _walks(
        (successes - mode + 1, draws - mode + 1, mode, rest + mode),
        room=xp.minimum(successes, draws) - mode,
        direction=1,
        **walk,
    )
    weighted_down, mass_down = _walks(
        (mode + 1, rest + mode + 1, successes - mode, draws - mode),
        room=mode - xp.clip(-rest, 0.0, None),
        direction=-1,
        **walk,
    )
    return (weighted_up + weighted_down + xlogx(mode, xp)) / (mass_up + mass_down + 1.0)


def _walks(ratio_terms, room, origin, direction: int, guess, xlogx_table, backend):
    """(weighted, mass): sums of q(n) n log n and q(n) along one walk per pair, each long enough.

    Step j multiplies q by (u1 - j)(u2 - j) / ((u3 + j)(u4 + j)) for ratio_terms (u1, u2, u3, u4)
    and reaches n = origin + direction * j; room is the number of steps left in the support.
    """
    xp = backend.xp
    steps = xp.clip(xp.minimum(guess, room), 1.0, None)
    weighted, mass = backend.zeros(guess.shape), backend.zeros(guess.shape)
    pending = backend.arange(guess.shape[0])
    while pending.shape[0]:
        order = pending[xp.argsort(steps[pending])]
        widths = backend.to_numpy(steps[order]).astype(np.int64)
        redo = []
        for start, stop in _blocks(widths, backend.block_elements):
            rows, width = order[start:stop], int(widths[stop - 1])
            terms = [term[rows] for term in ratio_terms]
            weighted[rows], mass[rows], tail = _walk(terms, origin[rows], direction, width, xlogx_table, backend)
            redo.append(rows[(tail > TAIL_TOLERANCE) & (room[rows] > width)])
            steps[redo[-1]] = xp.clip(room[redo[-1]], None, 2.0 * width)
        pending = backend.concatenate(redo)
    return weighted, mass


def _blocks(sorted_widths: np.ndarray, block_elements: int):
    """(start, stop) runs of the sorted widths with (stop - start) * width <= block_elements."""
    start, n = 0, len(sorted_widths)
    while start < n:
        stop = min(n, start + max(1, block_elements // int(sorted_widths[start])))
        while stop - start > 1 and (stop - start) * int(sorted_widths[stop - 1]) > block_elements:
            stop = start + max(1, block_elements // int(sorted_widths[stop - 1]))
        yield start, stop
        start = stop


def _walk(ratio_terms, origin, direction: int, width: int, xlogx_table, backend):
    """(weighted, mass, tail) of R walks of `width` steps, as (R,) arrays; tail bounds the mass beyond.

    xlogx_table[n] = n log n for n = 0..max(total).
    """
    xp = backend.xp
    u1, u2, u3, u4 = ratio_terms
    step = backend.arange(1, width + 1, dtype=xp.float64)[:, None]
    q = u1 - step
    buffer = u2 - step
    q *= buffer
    denominator = u3 + step
    denominator *= xp.add(u4, step, out=buffer)
    q /= denominator
    backend.cumprod_rows(q)  # (width, R): q[j - 1] = p(n) / p(mode)
    n = origin + direction * backend.arange(1, width + 1)[:, None]
    weighted = backend.column_dot(q, backend.take_clipped(xlogx_table, n))  # x log x is 0 for n <= 1
    last = q[-1]
    before = q[-2] if width > 1 else backend.ones(last.shape, dtype=xp.float64)
    ratio = last / xp.where(before > 0, before, 1.0)
    headroom = 1.0 - ratio
    tail = xp.where(headroom > 0, last * ratio / xp.where(headroom > 0, headroom, 1.0), float("inf"))
    return weighted, q.sum(axis=0), tail
