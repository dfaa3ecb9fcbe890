"""Metrics of a model's answers: classification and regression scores, calibration, k-fold
cross-validation, and the comparison with the trivial predictor. The performance checks judge
what these compute."""

from trustml.metrics._bootstrap import mean_interval
from trustml.metrics._calibration import calibration
from trustml.metrics._cross_validation import cross_validate
from trustml.metrics._scores import classification_metrics, regression_metrics
from trustml.metrics._trivial import versus_trivial

__all__ = ["calibration", "classification_metrics", "cross_validate", "mean_interval",
           "regression_metrics", "versus_trivial"]
