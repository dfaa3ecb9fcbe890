"""Metrics of a model's answers: classification and regression scores, calibration, and k-fold
cross-validation. The performance checks judge what these compute."""

from trustml.metrics._calibration import calibration
from trustml.metrics._cross_validation import cross_validate
from trustml.metrics._scores import classification_metrics, regression_metrics

__all__ = ["calibration", "classification_metrics", "cross_validate", "regression_metrics"]
