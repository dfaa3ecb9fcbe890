"""Fairness: group metrics with confidence intervals on Fairlearn, DP-versus-baseline, and
counterfactual identity probes for text models."""

from trustml.data import LEXICON, TEMPLATES
from trustml.fairness._probes import identity_probe
from trustml.fairness._mitigation import (
    PrefitAdapter,
    WeightedPipeline,
    before_after,
    disparities,
    exponentiated_gradient,
    mitigated_predict,
    mitigations,
    supports_reduction,
    threshold_optimizer,
)
from trustml.fairness._proxies import proxy_strength
from trustml.fairness._group_metrics import (
    BINARY_METRICS,
    group_labels,
    group_metrics,
    paired_accuracy_change,
    regression_group_metrics,
)

__all__ = ["BINARY_METRICS", "LEXICON", "TEMPLATES", "group_labels", "group_metrics",
           "PrefitAdapter", "WeightedPipeline", "before_after", "disparities",
           "exponentiated_gradient", "mitigated_predict", "mitigations", "identity_probe",
           "paired_accuracy_change", "proxy_strength", "regression_group_metrics",
           "supports_reduction", "threshold_optimizer"]
