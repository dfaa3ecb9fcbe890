"""Group metrics over sensitive features (binary, multiclass and regression), on Fairlearn's
``MetricFrame``, with bootstrap CIs over Fairlearn's draws, vectorised (:mod:`._bootstrap`).

Groups smaller than ``min_group_size`` are reported on their own as too small to judge; the
differences, ratios and fairness criteria are computed over the other groups only, so a handful
of rows cannot decide (or hide) a disparity.
"""

from __future__ import annotations

import warnings
from functools import partial

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
    balanced_accuracy_score,
    mean_absolute_error,
    precision_score,
    roc_auc_score,
    root_mean_squared_error,
)

from trustml.fairness._bootstrap import (
    ONE_VS_REST,
    binary_draws,
    multiclass_draws,
    one_vs_rest,
    regression_draws,
    spread,
)
from trustml.metrics._bootstrap import fairlearn_draws, interval

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


_OVR_FUNCTIONS = {"selection_rate": selection_rate, "true_positive_rate": true_positive_rate,
                  "false_positive_rate": false_positive_rate}


def _balanced_accuracy(y, pred) -> float:
    """scikit-learn's balanced accuracy: mean recall over the classes the group holds (a class
    only predicted there has no recall, and scikit-learn's warning about it is silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return balanced_accuracy_score(y, pred)


def _of_class(metric, code: int, y, pred) -> float:
    """Fairlearn's binary ``metric`` of class ``code`` against the rest."""
    return metric((np.asarray(y) == code).astype(int), (np.asarray(pred) == code).astype(int))


def multiclass_metrics(labels) -> dict:
    """The multiclass group metrics as functions for ``MetricFrame``, by name: ``accuracy``,
    ``balanced_accuracy`` (scikit-learn's) and, for the class of each code (its position in
    ``labels``), Fairlearn's one-vs-rest ``selection_rate``, ``true_positive_rate`` and
    ``false_positive_rate``, named ``selection_rate[label]`` and so on."""
    metrics = {"accuracy": accuracy_score, "balanced_accuracy": _balanced_accuracy}
    for m in ONE_VS_REST:
        metrics |= {one_vs_rest(m, label): partial(_of_class, _OVR_FUNCTIONS[m], code)
                    for code, label in enumerate(labels)}
    return metrics


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

    def __init__(self, kind: str, metrics: list[str], y_true, y_pred, groups: pd.Series, score,
                 labels=None):
        names, codes = np.unique(groups.to_numpy(), return_inverse=True)
        one = [np.arange(len(groups))]
        per_group = _values(kind, y_true, y_pred, codes, len(names), one, score, labels)
        whole = _values(kind, y_true, y_pred, np.zeros_like(codes), 1, one, score, labels)
        self.by_group = pd.DataFrame({m: per_group[m][0] for m in metrics},
                                     index=pd.Index(names, name=groups.name))
        self.overall = pd.Series({m: whole[m][0, 0] for m in metrics})

    def difference(self) -> pd.Series:
        return (self.by_group - self.by_group.min()).abs().max()

    def ratio(self) -> pd.Series:
        return self.by_group.min() / self.by_group.max()


def _values(kind: str, y_true, y_pred, codes, n_groups: int, draws, score, labels) -> dict:
    """Every metric of ``kind`` for every group in every draw (:mod:`._bootstrap`)."""
    if kind == "regression":
        return regression_draws(y_true, y_pred, codes, n_groups, draws)
    if kind == "multiclass":
        return multiclass_draws(y_true, y_pred, codes, n_groups, draws, labels)
    return binary_draws(y_true, y_pred, codes, n_groups, draws, score)


def _draws(kind: str, y_true, y_pred, groups: pd.Series, score, n_boot: int, seed: int,
           labels=None):
    """Bootstrap values ``{metric: (n_boot, n_groups)}`` over Fairlearn's draws of these rows,
    with the groups in sorted order (as ``MetricFrame.by_group``)."""
    names, codes = np.unique(groups.to_numpy(), return_inverse=True)
    draws = fairlearn_draws(len(groups), n_boot, seed)
    return list(names), _values(kind, y_true, y_pred, codes, len(names), draws, score, labels)


def _metric_functions(kind: str, score, labels) -> dict:
    """The metric functions of ``kind``, by name, as ``MetricFrame`` takes them."""
    if kind == "multiclass":
        return multiclass_metrics(labels)
    metrics = dict(REGRESSION_METRICS if kind == "regression" else BINARY_METRICS)
    if score is not None:
        metrics["roc_auc"] = _auc
    return metrics


def _compare(kind: str, y_true, y_pred, groups: pd.Series, score, min_group_size: int,
             n_boot: int, seed: int, labels=None) -> tuple[dict, object, dict]:
    """Per-group values (all groups) and max - min / min / max over the judged groups.

    Point estimates are Fairlearn's ``MetricFrame`` (counted by :class:`_Counted` above
    :data:`COUNTED_ROWS` rows); intervals are the 2.5% and 97.5%
    quantiles over ``n_boot`` of Fairlearn's bootstrap draws, computed vectorised
    (:mod:`._bootstrap`). Returns the result dict, the judged groups' ``MetricFrame``
    (None when fewer than two groups can be judged) and, per metric, the judged groups'
    max - min in each draw (empty without draws)."""
    metrics = _metric_functions(kind, score, labels)

    def frame(mask):
        if mask.sum() > COUNTED_ROWS:
            return _Counted(kind, list(metrics), y_true[mask], y_pred[mask],
                            groups[mask].reset_index(drop=True),
                            None if score is None else score[mask], labels)
        params = {"roc_auc": {"score": score[mask]}} if score is not None else None
        return MetricFrame(metrics=metrics, y_true=y_true[mask], y_pred=y_pred[mask],
                           sensitive_features=groups[mask].reset_index(drop=True),
                           sample_params=params)

    def draws(mask):
        return _draws(kind, y_true[mask], y_pred[mask], groups[mask].reset_index(drop=True),
                      None if score is None else score[mask], n_boot, seed, labels)

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
        return out, None, {}
    diff, ratio = judged.difference(), judged.ratio()
    out["comparable"] = True
    out["difference"] = {m: _clean(diff[m]) for m in names}
    out["ratio"] = {m: _clean(ratio[m]) for m in names}
    spreads = {}
    if n_boot:
        judged_boot = boot if judged is full else draws(judged_mask)[1]
        spreads = {m: spread(judged_boot[m]) for m in names}
        out["difference_ci"] = {m: [_clean(q) for q in interval(spreads[m][0])]
                                for m in names}
        out["ratio_ci"] = {m: [_clean(q) for q in interval(spreads[m][1])]
                           for m in names}
    return out, judged, {m: differences for m, (differences, _) in spreads.items()}


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
    out, judged, _ = _compare("binary", np.asarray(y_true), np.asarray(y_pred),
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
    out, judged, _ = _compare("regression", np.asarray(y_true, dtype=float),
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


def _largest(diff: dict, boot: dict, names: dict) -> dict:
    """The largest between-group difference among ``names`` (class -> metric names): its
    ``value``, its ``class`` and, given draws, the ``ci`` of the largest in each draw."""
    values = {label: _defined(max, *(diff[n] for n in ns)) for label, ns in names.items()}
    known = {label: v for label, v in values.items() if v is not None}
    if not known:
        return {"value": None, "class": None}
    label = max(known, key=known.get)
    out = {"value": known[label], "class": label}
    if boot:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a draw with no value at all
            largest = np.nanmax(np.stack([boot[n] for ns in names.values() for n in ns]), 0)
        out["ci"] = [_clean(q) for q in interval(largest)]
    return out


def multiclass_group_metrics(y_true: np.ndarray, y_pred: np.ndarray,
                             sensitive: pd.Series | pd.DataFrame, *, classes=None,
                             min_group_size: int = 30, n_boot: int = 100,
                             seed: int = 0) -> dict:
    """Per-group metrics of a multiclass classifier, like :func:`group_metrics`.

    Parameters
    ----------
    y_true, y_pred : array of class codes 0 .. k - 1
    sensitive : pandas.Series or DataFrame
    classes : list of str, optional
        The name of each code (default: the codes, as text).
    min_group_size, n_boot, seed
        As :func:`group_metrics`.

    Returns
    -------
    dict
        As :func:`group_metrics`' for the metrics of :func:`multiclass_metrics`, plus
        ``classes``; ``by_class`` (per class, the judged groups' max - min of its one-vs-rest
        rates as ``<rate>_difference`` with ``_ci``, and ``equalized_odds_difference``, the
        larger of its TPR and FPR differences); ``accuracy_difference`` and
        ``balanced_accuracy_difference``; ``demographic_parity_difference`` (largest
        selection-rate difference over classes) and ``equalized_odds_difference`` (largest
        one-vs-rest TPR or FPR difference over classes), each with ``_class`` and ``_ci``.
    """
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    labels = [str(c) for c in (classes if classes is not None
                               else range(max(y_true.max(), y_pred.max()) + 1))]
    out, judged, boot = _compare("multiclass", y_true, y_pred, group_labels(sensitive), None,
                                 min_group_size, n_boot, seed, labels)
    out["classes"] = labels
    if judged is None:
        return out
    diff, cis = out["difference"], out.get("difference_ci", {})
    odds = {label: [one_vs_rest(m, label) for m in ONE_VS_REST[1:]] for label in labels}
    out["by_class"] = []
    for label in labels:
        row = {"class": label}
        for m in ONE_VS_REST:
            row[f"{m}_difference"] = diff[one_vs_rest(m, label)]
            row[f"{m}_difference_ci"] = cis.get(one_vs_rest(m, label))
        eo = _largest(diff, boot, {label: odds[label]})
        row["equalized_odds_difference"] = eo["value"]
        row["equalized_odds_difference_ci"] = eo.get("ci")
        out["by_class"].append(row)
    for m in ("accuracy", "balanced_accuracy"):
        out[f"{m}_difference"], out[f"{m}_difference_ci"] = diff[m], cis.get(m)
    parity = {label: [one_vs_rest("selection_rate", label)] for label in labels}
    for name, names in (("demographic_parity", parity), ("equalized_odds", odds)):
        gap = _largest(diff, boot, names)
        out |= {f"{name}_difference": gap["value"], f"{name}_class": gap["class"],
                f"{name}_difference_ci": gap.get("ci")}
    return out
