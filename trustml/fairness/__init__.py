"""Fairness: group metrics with confidence intervals on Fairlearn, and DP-versus-baseline."""

from trustml.fairness._group_metrics import (
    BINARY_METRICS,
    group_labels,
    group_metrics,
    paired_accuracy_change,
)

__all__ = ["BINARY_METRICS", "group_labels", "group_metrics", "paired_accuracy_change"]
