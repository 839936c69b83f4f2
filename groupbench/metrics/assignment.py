"""Maximum-weight one-to-one assignment of many small matrices at once (the Hungarian method, batched).

The shortest-augmenting-path form of the Hungarian method (Kuhn 1955, Munkres 1957; as in Jonker
and Volgenant's solver that scipy's `linear_sum_assignment` also uses), run on every matrix of a
batch in lockstep: rows are added one at a time; adding row i takes at most i Dijkstra-like steps,
each one vectorised over the batch and the columns. Items whose path is found early stay idle
(their updates are masked), so the batch takes sum_i i = n (n + 1) / 2 steps of (B, m) array work
in all, for n rows and m >= n columns. Exact: the result is an optimal assignment (up to ties,
which do not change the sum); float64 throughout.
"""

from __future__ import annotations


def max_weight_sums(weights, backend):
    """(B,) float64: for each (n, m) matrix of `weights` (B, n, m), n <= m, the largest sum of
    weights over one-to-one assignments of every row to a distinct column.

    Rows or columns of zeros stand for absent objects or segments: they add nothing.
    """
    xp = backend.xp
    n_items, n_rows, n_cols = weights.shape
    if n_items == 0 or n_rows == 0:
        return backend.zeros((n_items,))
    if n_cols < n_rows:
        raise ValueError(f"assignment needs at least as many columns as rows; got {n_rows} x {n_cols}")
    # 1-based rows and columns as in the textbook form: row 0 and column 0 are the start of every path
    cost = backend.zeros((n_items, n_rows + 1, n_cols + 1))
    cost[:, 1:, 1:] = -weights
    u = backend.zeros((n_items, n_rows + 1))  # row potentials
    v = backend.zeros((n_items, n_cols + 1))  # column potentials
    owner = backend.zeros((n_items, n_cols + 1), dtype=backend.index_dtype)  # row assigned to each column; 0: free
    way = backend.zeros((n_items, n_cols + 1), dtype=backend.index_dtype)  # previous column on the path
    batch = backend.arange(n_items)
    inf = float("inf")
    for row in range(1, n_rows + 1):
        owner[:, 0] = row
        column = backend.zeros((n_items,), dtype=backend.index_dtype)
        shortest = backend.full((n_items, n_cols + 1), inf)
        visited = backend.zeros((n_items, n_cols + 1), dtype=backend.bool_dtype)
        searching = backend.ones((n_items,))
        for _ in range(row):
            visited[batch, column] = visited[batch, column] | searching
            current_row = owner[batch, column]
            reduced = cost[batch, current_row] - u[batch, current_row][:, None] - v
            closer = ~visited & (reduced < shortest) & searching[:, None]
            shortest = xp.where(closer, reduced, shortest)
            way = xp.where(closer, column[:, None], way)
            candidates = xp.where(visited, inf, shortest)
            nearest = xp.argmin(candidates, axis=1)
            delta = xp.where(searching, candidates[batch, nearest], 0.0)
            shift = xp.where(visited, delta[:, None], 0.0)
            u[batch[:, None], owner] += shift  # owners of visited columns are distinct rows
            v = v - shift
            shortest = xp.where(visited, shortest, shortest - delta[:, None])
            column = xp.where(searching, nearest, column)
            searching = searching & (owner[batch, column] != 0)
            if not bool(xp.any(searching)):
                break
        walking = column != 0
        for _ in range(row):  # augment: shift the assignment back along the path
            previous = way[batch, column]
            owner[batch, column] = xp.where(walking, owner[batch, previous], owner[batch, column])
            column = xp.where(walking, previous, column)
            walking = walking & (column != 0)
            if not bool(xp.any(walking)):
                break
    gains = backend.zeros((n_items, n_rows + 1, n_cols + 1))
    gains[:, 1:, 1:] = weights
    return gains[batch[:, None], owner, backend.arange(n_cols + 1)[None, :]].sum(axis=1)
