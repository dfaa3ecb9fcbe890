"""Performance: accuracy and friends on the test split, for the model and its baseline."""

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

from trustml.checks._finding import Finding, Table
from trustml.checks._registry import AuditContext, register

REGS = ["EU AI Act Art. 15", "NIST AI RMF MEASURE 2.5"]


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
    return {"mae": float(mean_absolute_error(y_true, pred)),
            "rmse": float(np.sqrt(mean_squared_error(y_true, pred))),
            "r2": float(r2_score(y_true, pred))}


@register("performance", "performance")
def performance(ctx: AuditContext) -> list[Finding]:
    _, y, _ = ctx.data.take("test")
    models = {"model": ctx.model} | ({"baseline": ctx.baseline} if ctx.baseline else {})
    scores = {}
    for which in models:
        out, _ = ctx.test_predictions(which)
        scores[which] = (regression_metrics(y, out) if ctx.data.task == "regression"
                         else classification_metrics(y, out))
    names = list(scores["model"])
    table = Table("Test-set metrics", ["metric", *scores],
                  [[m, *(round(scores[w][m], 4) for w in scores)] for m in names])
    metrics = {f"{w}_{m}": v for w, s in scores.items() for m, v in s.items()}
    if ctx.data.task == "regression":
        return [Finding("performance.metrics", "performance", "info", "Prediction error",
                        f"On {len(y)} held-out rows the model's mean absolute error is "
                        f"{scores['model']['mae']:.3g} (R² {scores['model']['r2']:.3f}).",
                        metrics=metrics, tables=[table], regulations=REGS)]
    majority = float(np.bincount(y).max() / len(y))
    metrics["majority_class_rate"] = majority
    acc = scores["model"]["accuracy"]
    status = "pass" if acc > majority else "warn"
    summary = (f"On {len(y)} held-out examples the model is right {acc:.1%} of the time "
               f"(ROC AUC {scores['model']['roc_auc']:.3f}); always answering the most common "
               f"class would be right {majority:.1%} of the time.")
    rec = "" if status == "pass" else ("The model does no better than always predicting the most "
                                       "common class: check features, training, or the "
                                       "decision threshold before relying on it.")
    findings = [Finding("performance.metrics", "performance", status, "Accuracy on held-out data",
                        summary, metrics=metrics, tables=[table], regulations=REGS,
                        recommendation=rec)]
    if "baseline" in scores:
        drop = scores["baseline"]["accuracy"] - acc
        limit = ctx.thresholds["max_accuracy_drop"]
        findings.append(Finding(
            "performance.private_vs_baseline", "performance", "pass" if drop <= limit else "warn",
            "Accuracy cost of the privacy protection",
            f"The non-private baseline, trained the same way, is right "
            f"{scores['baseline']['accuracy']:.1%} of the time; the audited model {acc:.1%} "
            + (f"({drop * 100:.1f} points lost)." if drop >= 0 else
               f"({-drop * 100:.1f} points gained)."),
            metrics={"accuracy_drop": drop}, thresholds={"max_accuracy_drop": limit},
            regulations=REGS,
            recommendation="" if drop <= limit else "Train longer, tune the learning rate and "
            "clipping norm, or accept a larger epsilon if the use case allows it."))
    return findings
