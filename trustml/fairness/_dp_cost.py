"""The cost of differential privacy per group: the audited model against its non-private
baseline on the same rows, with a paired bootstrap interval (any classifier)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trustml.fairness._group_metrics import group_labels
from trustml.metrics._bootstrap import mean_interval


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
