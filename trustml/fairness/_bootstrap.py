"""Bootstrap intervals of group metrics, vectorised: every metric of every group in every draw
from weighted counts (``numpy.bincount``), instead of recomputing each metric per draw through
pandas as Fairlearn's ``MetricFrame`` does.

The draws are Fairlearn's own: :func:`trustml.metrics._bootstrap.fairlearn_draws` reproduces
the rows ``MetricFrame`` resamples for a given ``random_state``, so with the same seed the
intervals equal Fairlearn's (tests/test_fairness.py and tests/test_fairness_multiclass.py compare
them), at a fraction of the cost (bench/fairness_speed.py).
A group absent from a draw has no value in it (NaN), as in Fairlearn.
"""

from __future__ import annotations

import warnings

import numpy as np

BINARY = ("accuracy", "selection_rate", "true_positive_rate", "false_positive_rate", "precision",
          "roc_auc")
REGRESSION = ("mean_absolute_error", "root_mean_squared_error", "mean_error", "mean_prediction",
              "mean_target")


def _ratio(num: np.ndarray, den: np.ndarray, empty: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), empty)


def _auc_layout(codes: np.ndarray, score: np.ndarray, n_groups: int):
    """Rows ordered by (group, score) with an id per distinct (group, score) value."""
    order = np.lexsort((score, codes))
    key = np.stack([codes[order], score[order]], 1)
    new = np.r_[True, np.any(key[1:] != key[:-1], axis=1)]
    value_id = np.cumsum(new) - 1
    value_group = codes[order][new]
    return order, value_id, value_group


def _auc(w, y, layout, n_groups: int) -> np.ndarray:
    """Weighted ROC AUC per group (ties count one half); NaN for a group with one class."""
    order, value_id, value_group = layout
    wo, yo = w[order], y[order]
    pos = np.bincount(value_id, wo * yo)
    neg = np.bincount(value_id, wo * (1 - yo))
    neg_total = np.bincount(value_group, neg, minlength=n_groups)
    start = np.cumsum(neg_total) - neg_total        # negatives of earlier groups
    below = np.cumsum(neg) - neg - start[value_group]  # negatives scored lower, same group
    pos_total = np.bincount(value_group, pos, minlength=n_groups)
    hits = np.bincount(value_group, pos * (below + 0.5 * neg), minlength=n_groups)
    defined = (pos_total > 0) & (neg_total > 0)
    return np.where(defined, _ratio(hits, pos_total * neg_total, np.nan), np.nan)


def binary_draws(y, pred, codes, n_groups: int, draws, score=None) -> dict[str, np.ndarray]:
    """Each binary metric of each group in each draw: ``{metric: (n_draws, n_groups)}``.

    Rates with an empty denominator are 0, as Fairlearn's and scikit-learn's are (precision
    with ``zero_division=0``); ROC AUC of a group holding one class is NaN.
    """
    y, pred = np.asarray(y, float), np.asarray(pred, float)
    layout = _auc_layout(codes, np.asarray(score, float), n_groups) if score is not None \
        else None
    out = {m: [] for m in BINARY if m != "roc_auc" or score is not None}
    for idx in draws:
        w = np.bincount(idx, minlength=len(y)).astype(float)
        count = np.bincount(codes, w, n_groups)
        pos, chosen = np.bincount(codes, w * y, n_groups), np.bincount(codes, w * pred, n_groups)
        tp = np.bincount(codes, w * y * pred, n_groups)
        right = np.bincount(codes, w * (y == pred), n_groups)
        present = np.where(count > 0, 1.0, np.nan)
        out["accuracy"].append(_ratio(right, count, np.nan))
        out["selection_rate"].append(_ratio(chosen, count, np.nan))
        out["true_positive_rate"].append(_ratio(tp, pos, 0.0) * present)
        out["false_positive_rate"].append(_ratio(chosen - tp, count - pos, 0.0) * present)
        out["precision"].append(_ratio(tp, chosen, 0.0) * present)
        if layout is not None:
            out["roc_auc"].append(_auc(w, y, layout, n_groups) * present)
    return {m: np.array(v) for m, v in out.items()}


ONE_VS_REST = ("selection_rate", "true_positive_rate", "false_positive_rate")


def one_vs_rest(metric: str, label) -> str:
    """The name of a one-vs-rest metric of one class, e.g. ``selection_rate[cat]``."""
    return f"{metric}[{label}]"


def multiclass_draws(y, pred, codes, n_groups: int, draws, labels) -> dict[str, np.ndarray]:
    """Each multiclass metric of each group in each draw: ``{metric: (n_draws, n_groups)}``.

    ``y`` and ``pred`` are class codes (positions in ``labels``). Metrics: ``accuracy``,
    ``balanced_accuracy`` (mean recall over the classes present in the group, as
    scikit-learn's) and, per class, the one-vs-rest rates of :data:`ONE_VS_REST` named by
    :func:`one_vs_rest`; a rate with an empty denominator is 0, as in :func:`binary_draws`.
    """
    y, pred, k = np.asarray(y, int), np.asarray(pred, int), len(labels)
    true_cell, pred_cell, right = codes * k + y, codes * k + pred, (y == pred).astype(float)
    rows: dict[str, list] = {m: [] for m in ("accuracy", "balanced_accuracy", *ONE_VS_REST)}
    for idx in draws:
        w = np.bincount(idx, minlength=len(y)).astype(float)
        count = np.bincount(codes, w, n_groups)[:, None]                    # (groups, 1)

        def cells(cell, weight):
            return np.bincount(cell, weight, n_groups * k).reshape(n_groups, k)
        pos, chosen, tp = cells(true_cell, w), cells(pred_cell, w), cells(true_cell, w * right)
        present = np.where(count > 0, 1.0, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a group absent from the draw
            rows["balanced_accuracy"].append(np.nanmean(_ratio(tp, pos, np.nan), 1))
        rows["accuracy"].append(_ratio(tp.sum(1), count[:, 0], np.nan))
        rows["selection_rate"].append(_ratio(chosen, count, np.nan))
        rows["true_positive_rate"].append(_ratio(tp, pos, 0.0) * present)
        rows["false_positive_rate"].append(_ratio(chosen - tp, count - pos, 0.0) * present)
    out = {m: np.array(rows[m]) for m in ("accuracy", "balanced_accuracy")}
    for m in ONE_VS_REST:
        values = np.array(rows[m]).reshape(-1, n_groups, k)
        out |= {one_vs_rest(m, label): values[:, :, c] for c, label in enumerate(labels)}
    return out


def regression_draws(y, pred, codes, n_groups: int, draws) -> dict[str, np.ndarray]:
    """Each regression metric of each group in each draw: ``{metric: (n_draws, n_groups)}``."""
    y, pred = np.asarray(y, float), np.asarray(pred, float)
    err = pred - y
    out = {m: [] for m in REGRESSION}
    for idx in draws:
        w = np.bincount(idx, minlength=len(y)).astype(float)
        count = np.bincount(codes, w, n_groups)

        def mean(v):
            return _ratio(np.bincount(codes, w * v, n_groups), count, np.nan)
        out["mean_absolute_error"].append(mean(np.abs(err)))
        out["root_mean_squared_error"].append(np.sqrt(mean(err ** 2)))
        out["mean_error"].append(mean(err))
        out["mean_prediction"].append(mean(pred))
        out["mean_target"].append(mean(y))
    return {m: np.array(v) for m, v in out.items()}


def spread(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per draw, max - min and min / max over the groups present (NaN-skipping, as pandas)."""
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a metric undefined in every group
        high, low = np.nanmax(values, 1), np.nanmin(values, 1)
        return high - low, low / high
