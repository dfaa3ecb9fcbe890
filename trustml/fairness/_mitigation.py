"""Mitigation: Fairlearn's ``ThresholdOptimizer`` on any adapter, ``ExponentiatedGradient`` for
scikit-learn estimators, and their before / after comparison.

The adapter is wrapped as a fitted scikit-learn classifier (``prefit=True``), so torch and
transformer models get post-processing too; it sees the raw inputs, as always. Group-balanced
sampling for DP training lives in :func:`trustml.privacy.train_private` (``balance=``).
"""

from __future__ import annotations

import numpy as np
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
from fairlearn.postprocessing import ThresholdOptimizer
from fairlearn.reductions import (
    DemographicParity,
    EqualizedOdds,
    ExponentiatedGradient,
    TruePositiveRateParity,
)
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import has_fit_parameter

from trustml.errors import ConfigError

CONSTRAINTS = ("demographic_parity", "equalized_odds", "true_positive_rate_parity")
_REDUCTIONS = {"demographic_parity": DemographicParity, "equalized_odds": EqualizedOdds,
               "true_positive_rate_parity": TruePositiveRateParity}


def _check_constraint(constraint: str) -> None:
    if constraint not in CONSTRAINTS:
        raise ConfigError(f"constraint: {constraint!r} is not one of {list(CONSTRAINTS)}")


def as_table(X):
    """Texts as a one-column table: Fairlearn validates inputs as 2-D arrays."""
    if isinstance(X, (list, tuple)) or (isinstance(X, np.ndarray) and X.ndim == 1):
        return np.asarray(X, dtype=object).reshape(-1, 1)
    return X


def _as_given(X):
    """A one-column table of texts back to the list of texts the model takes."""
    if isinstance(X, np.ndarray) and X.ndim == 2 and X.shape[1] == 1 and X.dtype == object:
        return [str(t) for t in X[:, 0]]
    return X


class PrefitAdapter(ClassifierMixin, BaseEstimator):
    """A trustml adapter seen as an already fitted scikit-learn classifier."""

    def __init__(self, adapter=None):
        self.adapter = adapter

    def fit(self, X, y):
        return self  # prefit: ThresholdOptimizer never refits it

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def predict_proba(self, X):
        return self.adapter.predict_proba(_as_given(X))

    def predict(self, X):
        return self.adapter.predict(_as_given(X))


class WeightedPipeline(ClassifierMixin, BaseEstimator):
    """A pipeline whose ``fit(X, y, sample_weight=)`` hands the weights to its last step,
    which is what Fairlearn's reductions call (a bare ``Pipeline`` refuses the keyword)."""

    def __init__(self, pipeline=None):
        self.pipeline = pipeline

    def fit(self, X, y, sample_weight=None):
        self.pipeline_ = clone(self.pipeline)
        last = self.pipeline_.steps[-1][0]
        self.pipeline_.fit(_as_given(X), y, **{f"{last}__sample_weight": sample_weight})
        self.classes_ = self.pipeline_.classes_
        return self

    def predict(self, X):
        return self.pipeline_.predict(_as_given(X))

    def predict_proba(self, X):
        return self.pipeline_.predict_proba(_as_given(X))


def supports_reduction(estimator) -> bool:
    """Whether ExponentiatedGradient can retrain ``estimator``: its last step takes weights."""
    final = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    return has_fit_parameter(final, "sample_weight")


def threshold_optimizer(adapter, X, y, sensitive, *,
                        constraint: str = "demographic_parity") -> ThresholdOptimizer:
    """Fit group-specific thresholds on the adapter's scores (training rows)."""
    _check_constraint(constraint)
    mitigator = ThresholdOptimizer(estimator=PrefitAdapter(adapter), constraints=constraint,
                                   prefit=True, predict_method="predict_proba")
    return mitigator.fit(as_table(X), y, sensitive_features=np.asarray(sensitive))


def exponentiated_gradient(estimator, X, y, sensitive, *,
                           constraint: str = "demographic_parity", eps: float = 0.01,
                           max_iter: int = 50) -> ExponentiatedGradient:
    """Retrain a scikit-learn estimator under a fairness constraint (Fairlearn's reduction).

    Parameters
    ----------
    estimator : scikit-learn classifier or Pipeline
        Cloned, never changed; its final step must accept ``sample_weight``.
    X, y, sensitive
        Training rows (raw inputs, as the estimator takes them).
    constraint : {"demographic_parity", "equalized_odds", "true_positive_rate_parity"}
    eps : float
        Allowed violation of the constraint.
    max_iter : int
        Rounds of the reduction; each refits the estimator once.

    Returns
    -------
    fairlearn.reductions.ExponentiatedGradient
        Fitted; ``predict(X, random_state=)`` draws from its randomized classifier.
    """
    _check_constraint(constraint)
    if not supports_reduction(estimator):
        raise ConfigError(f"estimator: {type(estimator).__name__}.fit takes no sample_weight, "
                          "which ExponentiatedGradient needs; use group-specific thresholds "
                          "(threshold_optimizer) instead")
    base = WeightedPipeline(estimator) if isinstance(estimator, Pipeline) else clone(estimator)
    mitigator = ExponentiatedGradient(base, _REDUCTIONS[constraint](), eps=eps,
                                      max_iter=max_iter)
    return mitigator.fit(as_table(X), np.asarray(y), sensitive_features=np.asarray(sensitive))


def mitigations(adapter, X, y, sensitive):
    """Every mitigation that fits ``adapter``, fitted on ``X``, ``y`` and ``sensitive``.

    Yields ``(method, constraint, mitigator)``: group-specific thresholds (``"thresholds"``,
    :func:`threshold_optimizer`) for any model, then, for a scikit-learn estimator that
    :func:`supports_reduction`, retraining under the constraint (``"reduction"``,
    :func:`exponentiated_gradient`); each under demographic parity and equalized odds.
    """
    for constraint in ("demographic_parity", "equalized_odds"):
        yield ("thresholds", constraint,
               threshold_optimizer(adapter, X, y, sensitive, constraint=constraint))
    estimator = getattr(adapter, "estimator", None)  # scikit-learn models can be retrained
    if estimator is not None and supports_reduction(estimator):
        for constraint in ("demographic_parity", "equalized_odds"):
            yield ("reduction", constraint,
                   exponentiated_gradient(estimator, X, y, sensitive, constraint=constraint))


def mitigated_predict(mitigator, X, sensitive, *, seed: int = 0) -> np.ndarray:
    """Decisions of a fitted ThresholdOptimizer or ExponentiatedGradient (both randomize)."""
    if isinstance(mitigator, ThresholdOptimizer):
        return mitigator.predict(as_table(X), sensitive_features=np.asarray(sensitive),
                                 random_state=seed)
    return mitigator.predict(as_table(X), random_state=seed)


def disparities(y, pred, sensitive) -> dict:
    """Accuracy, demographic parity and equalized odds differences of decisions ``pred``."""
    sensitive = np.asarray(sensitive)
    return {"accuracy": float(np.mean(np.asarray(pred) == np.asarray(y))),
            "demographic_parity_difference": float(demographic_parity_difference(
                y, pred, sensitive_features=sensitive)),
            "equalized_odds_difference": float(equalized_odds_difference(
                y, pred, sensitive_features=sensitive))}


def before_after(adapter, mitigator, X, y, sensitive, *, seed: int = 0) -> dict:
    """Accuracy and disparities on ``X`` of the adapter (before) and the mitigator (after)."""
    return {"before": disparities(y, adapter.predict(X), sensitive),
            "after": disparities(y, mitigated_predict(mitigator, X, sensitive, seed=seed),
                                 sensitive)}
