"""Exact, batched masked ARI and AMI (numpy or torch), the conventions that choose the pixels,
and a stateful running metric for training loops. Formulae and conventions: docs/metrics.md.
"""

from groupbench.metrics.adjusted import AVERAGE_METHODS
from groupbench.metrics.conventions import valid_mask
from groupbench.metrics.functional import (
    METRICS,
    SEQUENCE_MODES,
    Scores,
    adjusted_mutual_info,
    adjusted_rand_index,
    degenerate_images,
    iter_scores,
)

__all__ = [
    "AVERAGE_METHODS",
    "METRICS",
    "SEQUENCE_MODES",
    "GroupingMetric",
    "Scores",
    "adjusted_mutual_info",
    "adjusted_rand_index",
    "degenerate_images",
    "iter_scores",
    "valid_mask",
]


def __getattr__(name):
    # GroupingMetric needs torch; import it on first use so the numpy path never loads torch
    if name == "GroupingMetric":
        from groupbench.metrics.wrapper import GroupingMetric

        return GroupingMetric
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
