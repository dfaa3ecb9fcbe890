"""Fairness: group metrics with confidence intervals on Fairlearn (binary, multiclass and
regression), DP-versus-baseline, counterfactual identity probes for text models, and
mitigation."""

from trustml.data import LEXICON, TEMPLATES
from trustml.fairness._dp_cost import paired_accuracy_change
from trustml.fairness._group_metrics import (
    BINARY_METRICS,
    group_labels,
    group_metrics,
    multiclass_group_metrics,
    multiclass_metrics,
    regression_group_metrics,
)
from trustml.fairness._mitigation import (
    MULTICLASS_REFUSALS,
    PrefitAdapter,
    WeightedPipeline,
    before_after,
    bounded_group_loss,
    disparities,
    error_disparities,
    exponentiated_gradient,
    mitigated_predict,
    mitigations,
    retrainable,
    supports_reduction,
    threshold_optimizer,
)
from trustml.fairness._probes import identity_probe
from trustml.fairness._proxies import proxy_strength

__all__ = ["BINARY_METRICS", "LEXICON", "MULTICLASS_REFUSALS", "TEMPLATES", "PrefitAdapter",
           "WeightedPipeline", "before_after", "bounded_group_loss", "disparities",
           "error_disparities", "exponentiated_gradient", "group_labels", "group_metrics",
           "identity_probe", "mitigated_predict", "mitigations", "multiclass_group_metrics",
           "multiclass_metrics", "paired_accuracy_change", "proxy_strength",
           "regression_group_metrics", "retrainable", "supports_reduction",
           "threshold_optimizer"]
