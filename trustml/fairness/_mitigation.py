"""Mitigation: Fairlearn's ``ThresholdOptimizer`` on any adapter, ``ExponentiatedGradient`` for
scikit-learn estimators (under a bounded group loss for regression), and their before / after
comparison. No Fairlearn mitigation applies to a multiclass model (:data:`MULTICLASS_REFUSALS`).

The adapter is wrapped as a fitted scikit-learn classifier (``prefit=True``), so torch and
transformer models get post-processing too; it sees the raw inputs, as always. Group-balanced
sampling for DP training lives in :func:`trustml.privacy.train_private` (``balance=``).
"""

from __future__ import annotations

import numpy as np
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
)
from fairlearn.postprocessing import ThresholdOptimizer
from fairlearn.reductions import (
    BoundedGroupLoss,
    DemographicParity,
    EqualizedOdds,
    ExponentiatedGradient,
    SquareLoss,
    TruePositiveRateParity,
)
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.metrics import mean_absolute_error, mean_squared_error
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import has_fit_parameter

from trustml.errors import ConfigError

CONSTRAINTS = ("demographic_parity", "equalized_odds", "true_positive_rate_parity")
_REDUCTIONS = {"demographic_parity": DemographicParity, "equalized_odds": EqualizedOdds,
               "true_positive_rate_parity": TruePositiveRateParity}
# Fairlearn's mitigations and why none applies to a multiclass model (fairlearn 0.15: the
# first two validate labels as 0 / 1; the zero-one loss clips labels into [0, 1], so classes
# 1, 2, ... are one). tests/test_mitigation_tasks.py calls each to check it still holds.
MULTICLASS_REFUSALS = (
    ("ThresholdOptimizer", "binary_labels"),
    ("ExponentiatedGradient / GridSearch under DemographicParity, EqualizedOdds, "
     "TruePositiveRateParity, FalsePositiveRateParity or ErrorRateParity", "binary_labels"),
    ("ExponentiatedGradient / GridSearch under BoundedGroupLoss(ZeroOneLoss())", "clipped"),
)


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
        if hasattr(self.pipeline_, "classes_"):  # a classifier (a regressor has none)
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
    return _reduce(estimator, X, np.asarray(y), sensitive, lambda final: ExponentiatedGradient(
        final, _REDUCTIONS[constraint](), eps=eps, max_iter=max_iter))


DENSE_CELLS = 5_000_000  # a sparse encoding is densified for Fairlearn up to this many cells


class EncodedReduction:
    """A Fairlearn reduction run on rows encoded once: a pipeline's preprocessing, fitted on the
    training rows (unweighted, as every refit of the whole pipeline fits it: the same
    encoding), then the reduction refits the final estimator alone on every oracle call.
    Predicts as the :class:`~fairlearn.reductions.ExponentiatedGradient` it holds."""

    def __init__(self, encoder, reduction):
        self.encoder, self.reduction = encoder, reduction

    def encode(self, X):
        return _dense(self.encoder.transform(_as_given(X)))

    def predict(self, X, random_state=None):
        return self.reduction.predict(self.encode(X), random_state=random_state)

    def _pmf_predict(self, X):  # ExponentiatedGradient's (private) probabilities, encoded
        return self.reduction._pmf_predict(self.encode(X))


def _reduce(estimator, X, y, sensitive, reduction):
    """``reduction(final)`` (an unfitted Fairlearn reduction of the estimator ``final``) fitted
    on the training rows: on rows encoded once for a pipeline (:class:`EncodedReduction`),
    unless its encoding is sparse and too large to densify (then the whole pipeline refits on
    every call, through :class:`WeightedPipeline`)."""
    if not supports_reduction(estimator):
        raise ConfigError(f"estimator: {type(estimator).__name__}.fit takes no sample_weight, "
                          "which ExponentiatedGradient needs; use group-specific thresholds "
                          "(threshold_optimizer) instead")
    groups = np.asarray(sensitive)
    if isinstance(estimator, Pipeline) and len(estimator.steps) == 1:
        estimator = estimator[-1]
    if not isinstance(estimator, Pipeline):
        return reduction(clone(estimator)).fit(as_table(X), y, sensitive_features=groups)
    encoder = clone(estimator[:-1])
    encoded = encoder.fit_transform(_as_given(as_table(X)), y)
    if hasattr(encoded, "toarray") and np.prod(encoded.shape) > DENSE_CELLS:
        return reduction(WeightedPipeline(estimator)).fit(as_table(X), y,
                                                          sensitive_features=groups)
    mitigated = EncodedReduction(encoder, reduction(clone(estimator[-1])))
    mitigated.reduction.fit(_dense(encoded), y, sensitive_features=groups)
    return mitigated


def _dense(encoded):
    """A sparse encoding as an array (Fairlearn refuses sparse input)."""
    return encoded.toarray() if hasattr(encoded, "toarray") else encoded


def bounded_group_loss(estimator, X, y, sensitive, *, upper_bound: float | None = None,
                       max_iter: int = 50) -> ExponentiatedGradient:
    """Retrain a scikit-learn regressor so that no group's loss exceeds a bound (Fairlearn's
    ``ExponentiatedGradient`` under ``BoundedGroupLoss``, Agarwal et al. 2019).

    Parameters
    ----------
    estimator : fitted scikit-learn regressor or Pipeline
        Cloned for the refits, never changed; its final step must accept ``sample_weight``.
    X, y, sensitive
        Training rows.
    upper_bound : float, optional
        The bound on every group's mean squared error (clipped to the range of ``y``, as
        Fairlearn's ``SquareLoss``); default: ``estimator``'s own on these rows, so no group
        may be served worse than the average row is today.
    max_iter : int
        Rounds of the reduction; each refits the estimator once.

    Returns
    -------
    fairlearn.reductions.ExponentiatedGradient
        Fitted; ``predict(X, random_state=)`` draws one of its regressors per row.
    """
    y = np.asarray(y, dtype=float)
    loss = SquareLoss(float(y.min()), float(y.max()))
    if upper_bound is None:
        upper_bound = float(np.mean(loss.eval(y, estimator.predict(X))))
    return _reduce(estimator, X, y, sensitive, lambda final: ExponentiatedGradient(
        final, BoundedGroupLoss(loss, upper_bound=upper_bound), max_iter=max_iter))


def retrainable(adapter):
    """The scikit-learn estimator of ``adapter`` if Fairlearn's reductions can retrain it,
    else None."""
    estimator = getattr(adapter, "estimator", None)  # scikit-learn models can be retrained
    return estimator if estimator is not None and supports_reduction(estimator) else None


def mitigations(adapter, X, y, sensitive, *, task: str = "binary"):
    """Every mitigation that fits ``adapter``, fitted on ``X``, ``y`` and ``sensitive``.

    Yields ``(method, constraint, mitigator)``. For a binary task: group-specific thresholds
    (``"thresholds"``, :func:`threshold_optimizer`) for any model, then, for a scikit-learn
    estimator that :func:`supports_reduction`, retraining under the constraint
    (``"reduction"``, :func:`exponentiated_gradient`); each under demographic parity and
    equalized odds. For regression: retraining under ``"bounded_group_loss"``
    (:func:`bounded_group_loss`), for such an estimator only. For multiclass: none.
    """
    estimator = retrainable(adapter)
    if task == "regression" and estimator is not None:
        yield "reduction", "bounded_group_loss", bounded_group_loss(estimator, X, y, sensitive)
    if task != "binary":
        return
    for constraint in ("demographic_parity", "equalized_odds"):
        yield ("thresholds", constraint,
               threshold_optimizer(adapter, X, y, sensitive, constraint=constraint))
    if estimator is not None:
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


def error_disparities(y, pred, sensitive) -> dict:
    """Errors of regression predictions ``pred`` overall and between groups (Fairlearn's
    ``MetricFrame``): ``mean_squared_error``, ``worst_group_mean_squared_error`` and
    ``error_ratio``, the largest group mean absolute error over the smallest (None when the
    smallest is 0)."""
    frame = MetricFrame(metrics={"mse": mean_squared_error, "mae": mean_absolute_error},
                        y_true=np.asarray(y, dtype=float), y_pred=np.asarray(pred, dtype=float),
                        sensitive_features=np.asarray(sensitive))
    high, low = frame.group_max(), frame.group_min()
    return {"mean_squared_error": float(frame.overall["mse"]),
            "worst_group_mean_squared_error": float(high["mse"]),
            "error_ratio": float(high["mae"] / low["mae"]) if low["mae"] > 0 else None}


def before_after(adapter, mitigator, X, y, sensitive, *, seed: int = 0,
                 measure=disparities) -> dict:
    """``measure`` (:func:`disparities`, or :func:`error_disparities` for regression) on ``X``
    of the adapter's answers (before) and the mitigator's (after)."""
    return {"before": measure(y, adapter.predict(X), sensitive),
            "after": measure(y, mitigated_predict(mitigator, X, sensitive, seed=seed),
                             sensitive)}
