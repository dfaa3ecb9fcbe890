"""Calibration of predicted probabilities: expected calibration error against its own noise,
the Brier score and the reliability bins."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import brier_score_loss


def _ece(score: np.ndarray, outcome: np.ndarray, which: np.ndarray, n_bins: int) -> float:
    """Bin-weighted mean of |observed - predicted| over the bins ``which`` assigns."""
    count = np.bincount(which, minlength=n_bins)
    gap = np.abs(np.bincount(which, outcome, n_bins) - np.bincount(which, score, n_bins))
    return float(gap.sum() / count.sum())


def calibration(y_true: np.ndarray, proba: np.ndarray, n_bins: int = 10, n_null: int = 200,
                seed: int = 0) -> dict:
    """Expected calibration error, Brier score and the reliability bins.

    Binary: the positive-class probability against the positive rate. Multiclass: the
    confidence of the predicted class against its accuracy (top-label calibration), and the
    multi-class Brier score (squared error summed over classes).

    Returns
    -------
    dict
        ``ece`` (bin-weighted mean of |observed - predicted|, equal-width bins); ``ece_null_95``,
        the 95th percentile of the ECE a perfectly calibrated model gives on these scores
        (outcomes drawn as Bernoulli(score), ``n_null`` times: consistency resampling, Bröcker
        and Smith 2007), below which the gap is sampling noise; ``brier``; and ``bins``: per
        non-empty bin ``[low, high, count, mean predicted, observed]``.
    """
    if proba.shape[1] == 2:
        score, outcome = proba[:, 1], (y_true == 1).astype(float)
        brier = brier_score_loss(outcome, score)
    else:
        score, outcome = proba.max(axis=1), (proba.argmax(axis=1) == y_true).astype(float)
        onehot = np.eye(proba.shape[1])[y_true]
        brier = np.mean(np.sum((onehot - proba) ** 2, axis=1))
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(score, edges[1:-1], right=True), 0, n_bins - 1)
    rng = np.random.default_rng(seed)
    null = [_ece(score, (rng.random(len(score)) < score).astype(float), which, n_bins)
            for _ in range(n_null)]
    bins = [[edges[b], edges[b + 1], int((which == b).sum()), score[which == b].mean(),
             outcome[which == b].mean()] for b in range(n_bins) if (which == b).any()]
    return {"ece": _ece(score, outcome, which, n_bins),
            "ece_null_95": float(np.quantile(null, 0.95)), "brier": float(brier), "bins": bins}
