"""Group metrics over sensitive features (classification and regression), on Fairlearn's
``MetricFrame``, with bootstrap CIs over Fairlearn's draws, vectorised (:mod:`._bootstrap`).

Groups smaller than ``min_group_size`` are reported on their own as too small to judge; the
differences, ratios and fairness criteria are computed over the other groups only, so a handful
of rows cannot decide (or hide) a disparity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import (
    accuracy_score,
    mean_absolute_error,
    precision_score,
    roc_auc_score,
    root_mean_squared_error,
)

from trustml.fairness._bootstrap import binary_draws, regression_draws, spread
from trustml.metrics._bootstrap import fairlearn_draws, interval, mean_interval

BINARY_METRICS = {
    "accuracy": accuracy_score,
    "selection_rate": selection_rate,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "precision": lambda y, p: precision_score(y, p, zero_division=0),
}
REGRESSION_METRICS = {
    "mean_absolute_error": mean_absolute_error,
    "root_mean_squared_error": root_mean_squared_error,
    "mean_error": lambda y, p: float(np.mean(p - y)),
    "mean_prediction": lambda y, p: float(np.mean(p)),
    "mean_target": lambda y, p: float(np.mean(y)),
}


def _clean(value) -> float | None:
    value = float(value)
    return None if not np.isfinite(value) else value


def _defined(pick, *values) -> float | None:
    """``pick`` (max or min) of the values that are defined: a constant model's rate ratios are
    0 / 0, undefined, while its other rate can still be compared."""
    values = [v for v in values if v is not None]
    return _clean(pick(values)) if values else None


def _auc(y, _pred, score) -> float:
    """ROC AUC of the scores; undefined (NaN) for a group holding one class only."""
    return roc_auc_score(y, score) if len(np.unique(y)) == 2 else float("nan")


def group_labels(sensitive: pd.Series | pd.DataFrame) -> pd.Series:
    """One label per row: the value of one feature, or ``a & b`` for an intersection."""
    if isinstance(sensitive, pd.Series):
        return pd.Series(np.asarray(sensitive, dtype=str), name=str(sensitive.name))
    name = " x ".join(map(str, sensitive.columns))
    # column by column, not row by row: the same labels, at numpy speed on large data
    parts = [np.asarray(sensitive[c].astype(str), dtype=object) for c in sensitive.columns]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + " & " + part
    return pd.Series(np.asarray(joined, dtype=str), name=name)


COUNTED_ROWS = 100_000  # above this many rows, point estimates from counts (see _Counted)


class _Counted:
    """What :func:`_compare` reads of a ``MetricFrame`` (``by_group``, ``overall``,
    ``difference()``, ``ratio()``, between groups, NaN-skipping as Fairlearn's), computed from
    weighted counts by :mod:`._bootstrap` with every row weighted once: the same definitions as
    the bootstrap draws, which equal Fairlearn's (tests/test_fairness.py). Fairlearn's
    ``MetricFrame`` stacks every row of every group in Python (about 14 s per sensitive feature
    at 250,000 rows here), so large data is counted instead."""

    def __init__(self, kind: str, metrics: list[str], y_true, y_pred, groups: pd.Series, score):
        names, codes = np.unique(groups.to_numpy(), return_inverse=True)
        one = [np.arange(len(groups))]

        def values(codes, n_groups):
            if kind == "regression":
                return regression_draws(y_true, y_pred, codes, n_groups, one)
            return binary_draws(y_true, y_pred, codes, n_groups, one, score)
        per_group, whole = values(codes, len(names)), values(np.zeros_like(codes), 1)
        self.by_group = pd.DataFrame({m: per_group[m][0] for m in metrics},
                                     index=pd.Index(names, name=groups.name))
        self.overall = pd.Series({m: whole[m][0, 0] for m in metrics})

    def difference(self) -> pd.Series:
        return (self.by_group - self.by_group.min()).abs().max()

    def ratio(self) -> pd.Series:
        return self.by_group.min() / self.by_group.max()


def _draws(kind: str, y_true, y_pred, groups: pd.Series, score, n_boot: int, seed: int):
    """Bootstrap values ``{metric: (n_boot, n_groups)}`` over Fairlearn's draws of these rows,
    with the groups in sorted order (as ``MetricFrame.by_group``)."""
    names, codes = np.unique(groups.to_numpy(), return_inverse=True)
    draws = fairlearn_draws(len(groups), n_boot, seed)
    if kind == "regression":
        values = regression_draws(y_true, y_pred, codes, len(names), draws)
    else:
        values = binary_draws(y_true, y_pred, codes, len(names), draws, score)
    return list(names), values


def _compare(kind: str, y_true, y_pred, groups: pd.Series, score, min_group_size: int,
             n_boot: int, seed: int) -> tuple[dict, object]:
    """Per-group values (all groups) and max - min / min / max over the judged groups.

    Point estimates are Fairlearn's ``MetricFrame`` (counted by :class:`_Counted` above
    :data:`COUNTED_ROWS` rows); intervals are the 2.5% and 97.5%
    quantiles over ``n_boot`` of Fairlearn's bootstrap draws, computed vectorised
    (:mod:`._bootstrap`). Returns the result dict and the judged groups' ``MetricFrame``
    (None when fewer than two groups can be judged)."""
    metrics = dict(REGRESSION_METRICS if kind == "regression" else BINARY_METRICS)
    if score is not None:
        metrics["roc_auc"] = _auc

    def frame(mask):
        if mask.sum() > COUNTED_ROWS:
            return _Counted(kind, list(metrics), y_true[mask], y_pred[mask],
                            groups[mask].reset_index(drop=True),
                            None if score is None else score[mask])
        params = {"roc_auc": {"score": score[mask]}} if score is not None else None
        return MetricFrame(metrics=metrics, y_true=y_true[mask], y_pred=y_pred[mask],
                           sensitive_features=groups[mask].reset_index(drop=True),
                           sample_params=params)

    def draws(mask):
        return _draws(kind, y_true[mask], y_pred[mask], groups[mask].reset_index(drop=True),
                      None if score is None else score[mask], n_boot, seed)

    full = frame(np.ones(len(groups), dtype=bool))
    sizes = groups.value_counts()
    small = sorted(str(g) for g in sizes.index[sizes < min_group_size])
    judged_mask = ~groups.isin(small).to_numpy()
    judged = full if not small else (frame(judged_mask) if judged_mask.any() else None)
    names = list(metrics)
    order, boot = draws(np.ones(len(groups), dtype=bool)) if n_boot else (None, None)

    rows = _group_rows(full, sizes, small, names, (order, boot) if n_boot else None)
    out = {"feature": groups.name, "by_group": rows, "small_groups": small,
           "overall": {m: _clean(full.overall[m]) for m in names},
           "min_group_size": min_group_size, "n_boot": n_boot}
    if judged is None or len(judged.by_group) < 2:
        out.update({"difference": {}, "ratio": {}, "comparable": False})
        return out, None
    diff, ratio = judged.difference(), judged.ratio()
    out["comparable"] = True
    out["difference"] = {m: _clean(diff[m]) for m in names}
    out["ratio"] = {m: _clean(ratio[m]) for m in names}
    if n_boot:
        judged_boot = boot if judged is full else draws(judged_mask)[1]
        spreads = {m: spread(judged_boot[m]) for m in names}
        out["difference_ci"] = {m: [_clean(q) for q in interval(spreads[m][0])]
                                for m in names}
        out["ratio_ci"] = {m: [_clean(q) for q in interval(spreads[m][1])]
                           for m in names}
    return out, judged


def _group_rows(full, sizes: pd.Series, small: list, names: list, boot) -> list[dict]:
    """One row per group of ``full`` (a ``MetricFrame``): its size, whether it is judged, each
    metric and, given ``boot`` = (group order, draws), the metric's interval."""
    rows = []
    for g in full.by_group.index:
        row = {"group": str(g), "count": int(sizes[g]), "judged": str(g) not in small}
        for m in names:
            row[m] = _clean(full.by_group.loc[g, m])
            if boot is not None:
                order, draws = boot
                row[f"{m}_ci"] = [_clean(q) for q in interval(draws[m][:, order.index(g)])]
        rows.append(row)
    return rows


def group_metrics(y_true: np.ndarray, y_pred: np.ndarray,
                  sensitive: pd.Series | pd.DataFrame, *, y_score: np.ndarray | None = None,
                  min_group_size: int = 30, n_boot: int = 100, seed: int = 0) -> dict:
    """Per-group binary classification metrics for one sensitive feature or an intersection.

    Parameters
    ----------
    y_true, y_pred : array of 0 / 1
    sensitive : pandas.Series or DataFrame
        Group of each row; a DataFrame of several features gives their intersections.
    y_score : array, optional
        Positive-class scores, for per-group ROC AUC.
    min_group_size : int
        Groups with fewer rows are listed in ``small_groups`` and left out of the comparisons.
    n_boot : int
        Bootstrap resamples for the confidence intervals (Fairlearn's), 0 for none.
    seed : int

    Returns
    -------
    dict
        ``feature``; ``by_group`` (rows with ``group``, ``count``, each metric and its
        ``_ci`` [low, high], ``judged``); ``overall``; ``difference`` / ``ratio`` (max - min and
        min / max over judged groups, each with ``_ci``); ``demographic_parity_*``,
        ``equalized_odds_*``, ``equal_opportunity_*`` (differences and ratios);
        ``four_fifths`` (selection-rate ratio >= 0.8); ``small_groups``.
    """
    out, judged = _compare("binary", np.asarray(y_true), np.asarray(y_pred),
                           group_labels(sensitive),
                           None if y_score is None else np.asarray(y_score), min_group_size,
                           n_boot, seed)
    if judged is None:
        return out
    # The standard criteria, as Fairlearn defines them, over the judged groups.
    diff, ratio = out["difference"], out["ratio"]
    out["demographic_parity_difference"] = diff["selection_rate"]
    out["demographic_parity_ratio"] = ratio["selection_rate"]
    out["equalized_odds_difference"] = _defined(max, diff["true_positive_rate"],
                                                diff["false_positive_rate"])
    out["equalized_odds_ratio"] = _defined(min, ratio["true_positive_rate"],
                                           ratio["false_positive_rate"])
    out["equal_opportunity_difference"] = diff["true_positive_rate"]
    out["equal_opportunity_ratio"] = ratio["true_positive_rate"]
    dpr = out["demographic_parity_ratio"]
    out["four_fifths"] = None if dpr is None else bool(dpr >= 0.8)
    return out


def regression_group_metrics(y_true: np.ndarray, y_pred: np.ndarray,
                             sensitive: pd.Series | pd.DataFrame, *,
                             min_group_size: int = 30, n_boot: int = 100,
                             seed: int = 0) -> dict:
    """Per-group error metrics of a regression model, like :func:`group_metrics`.

    Metrics: ``mean_absolute_error``, ``root_mean_squared_error``, ``mean_error`` (prediction
    minus truth: a group the model systematically over- or under-estimates), and the group's
    ``mean_prediction`` and ``mean_target``. ``error_ratio`` is the judged groups' largest mean
    absolute error over the smallest (1 = equally accurate), with its bootstrap interval.
    """
    out, judged = _compare("regression", np.asarray(y_true, dtype=float),
                           np.asarray(y_pred, dtype=float), group_labels(sensitive), None,
                           min_group_size, n_boot, seed)
    if judged is None:
        return out
    ratio = out["ratio"]["mean_absolute_error"]
    out["error_ratio"] = None if not ratio else _clean(1.0 / ratio)
    if n_boot:
        low, high = out["ratio_ci"]["mean_absolute_error"]
        out["error_ratio_ci"] = [None if not high else _clean(1.0 / high),
                                 None if not low else _clean(1.0 / low)]
    return out


def paired_accuracy_change(y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray,
                           groups: pd.Series, *, n_boot: int = 100, seed: int = 0) -> list[dict]:
    """Per group, accuracy of ``pred_a`` minus accuracy of ``pred_b`` with a paired bootstrap
    95% interval (rows resampled within the group, both models on the same rows)."""
    correct_a = np.asarray(pred_a) == np.asarray(y_true)
    correct_b = np.asarray(pred_b) == np.asarray(y_true)
    out = []
    labels = group_labels(groups)
    for g in sorted(labels.unique()):
        idx = np.flatnonzero(labels.to_numpy() == g)
        delta = correct_a[idx].astype(float) - correct_b[idx].astype(float)
        row = {"group": str(g), "count": len(idx), "change": float(delta.mean())}
        if n_boot:
            row["change_ci"] = list(mean_interval(delta, n_boot=n_boot, seed=seed))
        out.append(row)
    return out
