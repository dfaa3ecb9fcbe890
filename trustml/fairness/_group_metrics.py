"""Group metrics over sensitive features, on Fairlearn's ``MetricFrame``, with bootstrap CIs.

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
from sklearn.metrics import accuracy_score, precision_score, roc_auc_score

BINARY_METRICS = {
    "accuracy": accuracy_score,
    "selection_rate": selection_rate,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "precision": lambda y, p: precision_score(y, p, zero_division=0),
}
CI = (0.025, 0.975)


def _clean(value) -> float | None:
    value = float(value)
    return None if not np.isfinite(value) else value


def _auc(y, _pred, score) -> float:
    """ROC AUC of the scores; undefined (NaN) for a group holding one class only."""
    return roc_auc_score(y, score) if len(np.unique(y)) == 2 else float("nan")


def group_labels(sensitive: pd.Series | pd.DataFrame) -> pd.Series:
    """One label per row: the value of one feature, or ``a & b`` for an intersection."""
    if isinstance(sensitive, pd.Series):
        return pd.Series(np.asarray(sensitive, dtype=str), name=str(sensitive.name))
    name = " x ".join(map(str, sensitive.columns))
    joined = sensitive.astype(str).agg(" & ".join, axis=1).to_numpy()
    return pd.Series(joined, name=name)


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
    groups = group_labels(sensitive)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    metrics = dict(BINARY_METRICS)
    sample_params = {}
    if y_score is not None:
        metrics["roc_auc"] = _auc
        sample_params = {"roc_auc": {"score": np.asarray(y_score)}}
    boot = {"n_boot": n_boot, "ci_quantiles": list(CI), "random_state": seed} if n_boot else {}

    def frame(mask):
        params = {m: {k: v[mask] for k, v in p.items()} for m, p in sample_params.items()}
        return MetricFrame(metrics=metrics, y_true=y_true[mask], y_pred=y_pred[mask],
                           sensitive_features=groups[mask].reset_index(drop=True),
                           sample_params=params or None, **boot)

    everyone = np.ones(len(groups), dtype=bool)
    full = frame(everyone)
    sizes = groups.value_counts()
    small = sorted(str(g) for g in sizes.index[sizes < min_group_size])
    judged_mask = ~groups.isin(small).to_numpy()
    if not small:
        judged = full
    else:
        judged = frame(judged_mask) if judged_mask.any() else None
    names = list(metrics)

    rows = []
    for g in full.by_group.index:
        row = {"group": str(g), "count": int(sizes[g]), "judged": str(g) not in small}
        for m in names:
            row[m] = _clean(full.by_group.loc[g, m])
            if n_boot:
                row[f"{m}_ci"] = [_clean(full.by_group_ci[i].loc[g, m]) for i in range(2)]
        rows.append(row)

    out = {"feature": groups.name, "by_group": rows, "small_groups": small,
           "overall": {m: _clean(full.overall[m]) for m in names},
           "min_group_size": min_group_size, "n_boot": n_boot}
    if judged is None or len(judged.by_group) < 2:
        out.update({"difference": {}, "ratio": {}, "comparable": False})
        return out
    diff, ratio = judged.difference(), judged.ratio()
    out["comparable"] = True
    out["difference"] = {m: _clean(diff[m]) for m in names}
    out["ratio"] = {m: _clean(ratio[m]) for m in names}
    if n_boot:
        out["difference_ci"] = {m: [_clean(judged.difference_ci()[i][m]) for i in range(2)]
                                for m in names}
        out["ratio_ci"] = {m: [_clean(judged.ratio_ci()[i][m]) for i in range(2)]
                           for m in names}
    # The standard criteria, as Fairlearn defines them, over the judged groups.
    tpr_d, fpr_d = diff["true_positive_rate"], diff["false_positive_rate"]
    tpr_r, fpr_r = ratio["true_positive_rate"], ratio["false_positive_rate"]
    out["demographic_parity_difference"] = out["difference"]["selection_rate"]
    out["demographic_parity_ratio"] = out["ratio"]["selection_rate"]
    out["equalized_odds_difference"] = _clean(max(tpr_d, fpr_d))
    out["equalized_odds_ratio"] = _clean(min(tpr_r, fpr_r))
    out["equal_opportunity_difference"] = _clean(tpr_d)
    out["equal_opportunity_ratio"] = _clean(tpr_r)
    dpr = out["demographic_parity_ratio"]
    out["four_fifths"] = None if dpr is None else bool(dpr >= 0.8)
    return out


def paired_accuracy_change(y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray,
                           groups: pd.Series, *, n_boot: int = 100, seed: int = 0) -> list[dict]:
    """Per group, accuracy of ``pred_a`` minus accuracy of ``pred_b`` with a paired bootstrap
    95% interval (rows resampled within the group, both models on the same rows)."""
    rng = np.random.default_rng(seed)
    correct_a = np.asarray(pred_a) == np.asarray(y_true)
    correct_b = np.asarray(pred_b) == np.asarray(y_true)
    out = []
    labels = group_labels(groups)
    for g in sorted(labels.unique()):
        idx = np.flatnonzero(labels.to_numpy() == g)
        delta = correct_a[idx].astype(float) - correct_b[idx].astype(float)
        row = {"group": str(g), "count": len(idx), "change": float(delta.mean())}
        if n_boot:
            draws = delta[rng.integers(0, len(idx), size=(n_boot, len(idx)))].mean(1)
            row["change_ci"] = [float(q) for q in np.quantile(draws, CI)]
        out.append(row)
    return out
