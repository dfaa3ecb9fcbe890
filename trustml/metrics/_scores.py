"""Scores of a model's answers on labelled rows: classification and regression metrics."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
)


def classification_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict:
    """Accuracy, precision, recall, F1 and ROC AUC (binary: of class 1; else macro / OvR)."""
    pred = proba.argmax(axis=1)
    binary = proba.shape[1] == 2
    avg = "binary" if binary else "macro"
    out = {"accuracy": accuracy_score(y_true, pred),
           "precision": precision_score(y_true, pred, average=avg, zero_division=0),
           "recall": recall_score(y_true, pred, average=avg, zero_division=0),
           "f1": f1_score(y_true, pred, average=avg, zero_division=0)}
    try:
        out["roc_auc"] = roc_auc_score(y_true, proba[:, 1] if binary else proba,
                                       multi_class="ovr")
    except ValueError:  # one class only in the test split
        out["roc_auc"] = float("nan")
    return {k: float(v) for k, v in out.items()}


def regression_metrics(y_true: np.ndarray, pred: np.ndarray) -> dict:
    """Mean absolute error, root mean squared error and R²."""
    return {"mae": float(mean_absolute_error(y_true, pred)),
            "rmse": float(np.sqrt(mean_squared_error(y_true, pred))),
            "r2": float(r2_score(y_true, pred))}
