"""Fairness: group metrics on Fairlearn."""

from trustml.fairness._group_metrics import BINARY_METRICS, group_metrics

__all__ = ["BINARY_METRICS", "group_metrics"]
