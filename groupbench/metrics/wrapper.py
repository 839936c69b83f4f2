"""Running per-image grouping scores over batches, torchmetrics style, summed across torch.distributed ranks."""

from __future__ import annotations

import math

import torch
import torch.distributed as dist

from groupbench.metrics.functional import PARTITION_METRICS, check_options, iter_scores


class GroupingMetric:
    """Mean and standard deviation of per-image (or per-sequence) scores over everything updated.

    State: float64 sums in one tensor on the device of the last update: images, degenerate images,
    and per metric the number of images where it is defined (not NaN), their sum and sum of squares.
    `compute()` adds up the states of all ranks with one all_reduce(SUM) when torch.distributed is
    initialised (on a copy: the local state is left as it was, so updating and computing can go on
    alternating).
    """

    def __init__(
        self,
        *,
        metrics=PARTITION_METRICS,
        average_method: str = "arithmetic",
        degenerate: str = "one",
        background: int | None = None,
        sequence_mode: str | None = None,
        frames: str = "all",
        chunk_size: int | None = None,
        process_group=None,
    ):
        check_options(metrics, average_method, sequence_mode, chunk_size, degenerate=degenerate, frames=frames)
        self.metrics = tuple(metrics)
        self.options = dict(metrics=self.metrics, average_method=average_method, degenerate=degenerate,
                            background=background, sequence_mode=sequence_mode, frames=frames, chunk_size=chunk_size)
        self.process_group = process_group
        self.state = torch.zeros(2 + 3 * len(self.metrics), dtype=torch.float64)

    def reset(self) -> None:
        """Forget every update."""
        self.state = torch.zeros_like(self.state)

    def update(self, true, pred, valid=None) -> None:
        """Add a batch: true, pred (B, P) label ids, or (B, T, P) with sequence_mode; valid bool or None."""
        for scores in iter_scores(true, pred, valid, backend="torch", **self.options):
            degenerate = scores.degenerate
            sums = [degenerate.new_tensor(degenerate.shape[0], dtype=torch.float64), degenerate.sum().to(torch.float64)]
            for name in self.metrics:
                values = scores.values[name]
                defined = ~values.isnan()
                values = values.where(defined, 0.0)
                sums += [defined.sum().to(torch.float64), values.sum(), values.square().sum()]
            sums = torch.stack(sums)
            self.state = self.state.to(sums.device) + sums

    def compute(self) -> dict[str, float]:
        """{"images", "degenerate", and per metric m: m (mean), m_std (population std), m_images
        (images where m is defined)}. Means and stds are NaN before any image was scored."""
        state = self.state.clone()
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(state, op=dist.ReduceOp.SUM, group=self.process_group)
        values = state.tolist()
        result = {"images": int(values[0]), "degenerate": int(values[1])}
        for index, metric in enumerate(self.metrics):
            n, total, total_sq = values[2 + 3 * index : 5 + 3 * index]
            mean = total / n if n else math.nan
            result[metric] = mean
            result[f"{metric}_std"] = math.sqrt(max(total_sq / n - mean * mean, 0.0)) if n else math.nan
            result[f"{metric}_images"] = int(n)
        return result
