"""Exact, batched grouping metrics (numpy or torch): ARI and AMI, mean best overlap, Hungarian mIoU
and segmentation covering; the conventions that choose the pixels; a running metric for training
loops. Formulae, conventions and which papers use which: docs/metrics.md.
"""

from groupbench.metrics.adjusted import AVERAGE_METHODS
from groupbench.metrics.conventions import PIXEL_CONVENTIONS, pixel_convention, valid_mask
from groupbench.metrics.functional import (
    DEGENERATE_POLICIES,
    FRAME_SELECTIONS,
    METRICS,
    PARTITION_METRICS,
    SEQUENCE_MODES,
    Scores,
    adjusted_mutual_info,
    adjusted_rand_index,
    degenerate_images,
    hard_labels,
    hungarian_miou,
    iter_scores,
    mean_best_overlap,
    segmentation_covering,
)
from groupbench.metrics.overlap import OVERLAP_METRICS

__all__ = [
    "AVERAGE_METHODS",
    "DEGENERATE_POLICIES",
    "FRAME_SELECTIONS",
    "METRICS",
    "OVERLAP_METRICS",
    "PARTITION_METRICS",
    "PIXEL_CONVENTIONS",
    "SEQUENCE_MODES",
    "GroupingMetric",
    "Scores",
    "adjusted_mutual_info",
    "adjusted_rand_index",
    "degenerate_images",
    "hard_labels",
    "hungarian_miou",
    "iter_scores",
    "mean_best_overlap",
    "pixel_convention",
    "segmentation_covering",
    "valid_mask",
]


def __getattr__(name):
    # GroupingMetric needs torch; import it on first use so the numpy path never loads torch
    if name == "GroupingMetric":
        from groupbench.metrics.wrapper import GroupingMetric

        return GroupingMetric
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
