"""Mitigation by group-specific thresholds: Fairlearn's ``ThresholdOptimizer`` on any adapter.

The adapter is wrapped as a fitted scikit-learn classifier (``prefit=True``), so torch and
transformer models get post-processing too; it sees the raw inputs, as always.
"""

from __future__ import annotations

import numpy as np
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
from fairlearn.postprocessing import ThresholdOptimizer
from sklearn.base import BaseEstimator, ClassifierMixin

from trustml.errors import ConfigError

CONSTRAINTS = ("demographic_parity", "equalized_odds", "true_positive_rate_parity")


class PrefitAdapter(ClassifierMixin, BaseEstimator):
    """A trustml adapter seen as an already fitted scikit-learn classifier."""

    def __init__(self, adapter=None):
        self.adapter = adapter

    def fit(self, X, y):
        return self  # prefit: ThresholdOptimizer never refits it

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def predict_proba(self, X):
        return self.adapter.predict_proba(X)

    def predict(self, X):
        return self.adapter.predict(X)


def threshold_optimizer(adapter, X, y, sensitive, *,
                        constraint: str = "demographic_parity") -> ThresholdOptimizer:
    """Fit group-specific thresholds on the adapter's scores (training rows)."""
    if constraint not in CONSTRAINTS:
        raise ConfigError(f"constraint: {constraint!r} is not one of {list(CONSTRAINTS)}")
    mitigator = ThresholdOptimizer(estimator=PrefitAdapter(adapter), constraints=constraint,
                                   prefit=True, predict_method="predict_proba")
    return mitigator.fit(X, y, sensitive_features=np.asarray(sensitive))


def before_after(adapter, mitigator: ThresholdOptimizer, X, y, sensitive, *,
                 seed: int = 0) -> dict:
    """Accuracy and disparities on ``X`` before and after the thresholds."""
    sensitive = np.asarray(sensitive)
    before = adapter.predict(X)
    after = mitigator.predict(X, sensitive_features=sensitive, random_state=seed)
    out = {}
    for name, pred in (("before", before), ("after", after)):
        out[name] = {
            "accuracy": float(np.mean(pred == y)),
            "demographic_parity_difference": float(demographic_parity_difference(
                y, pred, sensitive_features=sensitive)),
            "equalized_odds_difference": float(equalized_odds_difference(
                y, pred, sensitive_features=sensitive))}
    return out
