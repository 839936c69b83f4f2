"""Running per-image ARI / AMI over batches, torchmetrics style, summed across torch.distributed ranks."""

from __future__ import annotations

import math

import torch
import torch.distributed as dist

from groupbench.metrics.functional import check_options, iter_scores

_FIELDS = ("images", "degenerate", "ari_sum", "ari_sum_sq", "ami_sum", "ami_sum_sq")


class GroupingMetric:
    """Mean and standard deviation of per-image (or per-sequence) ARI and AMI over everything updated.

    State: six float64 sums (images, degenerate images, ARI sum and sum of squares, AMI sum and sum
    of squares) in one tensor on the device of the last update. `compute()` adds up the states of
    all ranks with one all_reduce(SUM) when torch.distributed is initialised (on a copy: the local
    state is left as it was, so updating and computing can go on alternating).
    """

    def __init__(
        self,
        *,
        average_method: str = "arithmetic",
        sequence_mode: str | None = None,
        chunk_size: int | None = None,
        process_group=None,
    ):
        check_options(("ari", "ami"), average_method, sequence_mode, chunk_size)
        self.average_method = average_method
        self.sequence_mode = sequence_mode
        self.chunk_size = chunk_size
        self.process_group = process_group
        self.state = torch.zeros(len(_FIELDS), dtype=torch.float64)

    def reset(self) -> None:
        """Forget every update."""
        self.state = torch.zeros_like(self.state)

    def update(self, true, pred, valid=None) -> None:
        """Add a batch: true, pred (B, P) label ids, or (B, T, P) with sequence_mode; valid bool or None."""
        for scores in iter_scores(
            true,
            pred,
            valid,
            average_method=self.average_method,
            sequence_mode=self.sequence_mode,
            backend="torch",
            chunk_size=self.chunk_size,
        ):
            ari, ami = scores.ari, scores.ami
            sums = torch.stack(
                [
                    ari.new_tensor(ari.shape[0]),
                    scores.degenerate.sum().to(ari.dtype),
                    ari.sum(),
                    ari.square().sum(),
                    ami.sum(),
                    ami.square().sum(),
                ]
            )
            self.state = self.state.to(sums.device) + sums

    def compute(self) -> dict[str, float]:
        """{"images", "degenerate", "ari", "ari_std", "ami", "ami_std"}: counts, means, population stds.

        Means and stds are NaN before any image was scored.
        """
        state = self.state.clone()
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(state, op=dist.ReduceOp.SUM, group=self.process_group)
        values = dict(zip(_FIELDS, state.tolist()))
        n = values["images"]
        result = {"images": int(n), "degenerate": int(values["degenerate"])}
        for metric in ("ari", "ami"):
            mean = values[f"{metric}_sum"] / n if n else math.nan
            variance = values[f"{metric}_sum_sq"] / n - mean * mean if n else math.nan
            result[metric] = mean
            result[f"{metric}_std"] = math.sqrt(max(variance, 0.0)) if n else math.nan
        return result
