"""Group metrics over sensitive features, on Fairlearn's ``MetricFrame``."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score

BINARY_METRICS = {
    "accuracy": accuracy_score,
    "selection_rate": selection_rate,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
}


def _clean(value) -> float | None:
    value = float(value)
    return None if not np.isfinite(value) else value


def group_metrics(y_true: np.ndarray, y_pred: np.ndarray, sensitive: pd.Series, *,
                  min_group_size: int = 30) -> dict:
    """Per-group binary classification metrics for one sensitive feature.

    Parameters
    ----------
    y_true, y_pred : array of 0 / 1
    sensitive : pandas.Series
        Group of each row; its name names the feature.
    min_group_size : int
        Groups with fewer rows are listed in ``small_groups`` (too small to judge).

    Returns
    -------
    dict
        ``feature``, ``overall`` / ``difference`` / ``ratio`` (metric -> value), ``by_group``
        (list of rows with ``group``, ``count`` and each metric),
        ``demographic_parity_difference``, ``equalized_odds_difference``, ``small_groups``.
        Differences are max minus min over groups, ratios min over max, as in Fairlearn.
    """
    sensitive = pd.Series(np.asarray(sensitive), name=sensitive.name)
    mf = MetricFrame(metrics={**BINARY_METRICS, "count": count}, y_true=y_true, y_pred=y_pred,
                     sensitive_features=sensitive)
    by_group = mf.by_group
    rows = [{"group": str(g), "count": int(r["count"]),
             **{m: _clean(r[m]) for m in BINARY_METRICS}} for g, r in by_group.iterrows()]
    names = list(BINARY_METRICS)
    return {
        "feature": str(sensitive.name),
        "overall": {m: _clean(mf.overall[m]) for m in names},
        "by_group": rows,
        "difference": {m: _clean(mf.difference()[m]) for m in names},
        "ratio": {m: _clean(mf.ratio()[m]) for m in names},
        "demographic_parity_difference": _clean(demographic_parity_difference(
            y_true, y_pred, sensitive_features=sensitive)),
        "equalized_odds_difference": _clean(equalized_odds_difference(
            y_true, y_pred, sensitive_features=sensitive)),
        "small_groups": [r["group"] for r in rows if r["count"] < min_group_size],
    }
