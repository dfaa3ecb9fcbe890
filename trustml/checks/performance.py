"""Performance: accuracy and friends, the confusion matrix, calibration and k-fold
cross-validation, for the model and its baseline."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import KFold, StratifiedKFold

from trustml.checks._registry import AuditContext, register
from trustml.data import select_rows
from trustml.models import wrap
from trustml.report._finding import Curve, Finding, Table

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
    scores = {}
    for which in ctx.models:
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
    pred = ctx.test_predictions("model")[1]
    matrix = confusion_matrix(y, pred, labels=range(len(ctx.data.class_names)))
    confusion = Table("Confusion matrix of the audited model (rows: true class, columns: "
                      "predicted class)", ["true \\ predicted", *ctx.data.class_names],
                      [[name, *map(int, row)] for name, row in zip(ctx.data.class_names, matrix)])
    findings = [Finding("performance.metrics", "performance", status, "Accuracy on held-out data",
                        summary, metrics=metrics, tables=[table, confusion], regulations=REGS,
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


@register("calibration", "performance")
def calibration_check(ctx: AuditContext) -> list[Finding]:
    if ctx.data.task == "regression":
        return []
    _, y, _ = ctx.data.take("test")
    cal = {w: calibration(y, ctx.test_predictions(w)[0], seed=ctx.seed) for w in ctx.models}
    ece, limit = cal["model"]["ece"], ctx.thresholds["max_calibration_error"]
    noise = cal["model"]["ece_null_95"]
    positive = ctx.data.class_names[-1]
    summary = (f"When the model gives '{positive}' a probability p, about p of those cases "
               f"should turn out to be '{positive}'" if len(ctx.data.class_names) == 2 else
               "When the model is p sure of its answer, it should be right about p of the time")
    summary += (f". On the held-out data it is off by {ece:.3f} on average (expected "
                f"calibration error; Brier score {cal['model']['brier']:.3f}); a perfectly "
                f"calibrated model would show up to {noise:.3f} on this many examples by "
                "chance.")
    if "baseline" in cal:
        summary += f" The non-private baseline is off by {cal['baseline']['ece']:.3f}."
    # A gap within sampling noise is no evidence of miscalibration, whatever the threshold.
    status = "warn" if ece > max(limit, noise) else "pass"
    bins = cal["model"]["bins"]
    return [Finding(
        "performance.calibration", "performance", status, "Calibration of the probabilities",
        summary,
        metrics={f"{w}_{k}": c[k] for w, c in cal.items()
                 for k in ("ece", "ece_null_95", "brier")},
        tables=[Table("Reliability bins of the audited model",
                      ["bin", "examples", "mean predicted", "observed"],
                      [[f"{lo:.1f}-{hi:.1f}", n, round(p, 4), round(o, 4)]
                       for lo, hi, n, p, o in bins])],
        visuals=[Curve("Reliability diagram (the diagonal is perfect calibration)",
                       "predicted probability", "observed frequency",
                       [b[3] for b in bins], [b[4] for b in bins])],
        thresholds={"max_calibration_error": limit}, regulations=REGS,
        recommendation="" if status == "pass" else "Do not read the scores as probabilities "
        "as they are; recalibrate them on held-out data (Platt scaling or isotonic "
        "regression, e.g. scikit-learn CalibratedClassifierCV) before thresholding.")]


CV_BUDGET_SECONDS = 60.0  # default k-fold runs only when k trainings are expected to fit


def _folds(ctx: AuditContext) -> tuple[int, str]:
    """Folds to run, and why none when none: ``ctx.cv_folds`` when set; else 5 where retraining
    is cheap (a scikit-learn model, or a training record saying 5 trainings fit in
    :data:`CV_BUDGET_SECONDS`)."""
    if ctx.retrain is None:
        return 0, "no retrain function was given (pass retrain= and cv_folds= to the audit)"
    if not ctx.retrains_as_audited:
        return 0, ("the model was trained with DP and the default retraining of a scikit-learn "
                   "model is not private (pass retrain= that trains it privately)")
    if ctx.cv_folds is not None:
        return ctx.cv_folds, "cv_folds=0 was asked for"
    if ctx.model.capabilities.refits_cheaply:
        return 5, ""
    seconds = (ctx.training.get("model") or {}).get("seconds")
    if seconds is None:
        return 0, ("retraining cost is unknown: no training record was given (pass training= "
                   "or cv_folds=)")
    if 5 * seconds > CV_BUDGET_SECONDS:
        return 0, (f"5 trainings would take about {5 * seconds:.0f} s, over the "
                   f"{CV_BUDGET_SECONDS:.0f} s budget (pass cv_folds= to run it anyway)")
    return 5, ""


@register("cross_validation", "performance")
def cross_validation(ctx: AuditContext) -> list[Finding]:
    k, why_not = _folds(ctx)
    data, regression = ctx.data, ctx.data.task == "regression"
    smallest = data.n_rows if regression else int(np.bincount(data.labels).min())
    asked = k
    if 2 <= smallest < k:
        k = smallest  # every fold needs a row (of every class): as many folds as there can be
    elif k >= 2 and smallest < 2:
        k, why_not = 0, (f"the smallest class has {smallest} example, too few to hold one "
                         "out in each of two folds")
    if k < 2:
        return [Finding("performance.cross_validation", "performance", "info",
                        "k-fold cross-validation", f"Not run: {why_not}.", regulations=REGS)]
    splitter = (KFold if regression else StratifiedKFold)(k, shuffle=True,
                                                          random_state=ctx.seed)
    scores = []
    for fold, (train, test) in enumerate(splitter.split(np.zeros(data.n_rows), data.labels)):
        model = wrap(ctx.retrain(select_rows(data.inputs, train), data.labels[train],
                                 private=ctx.privacy is not None, seed=ctx.seed + fold))
        x_test, y_test = select_rows(data.inputs, test), data.labels[test]
        scores.append(regression_metrics(y_test, model.predict(x_test)) if regression
                      else classification_metrics(y_test, model.predict_proba(x_test)))
    names = list(scores[0])
    mean = {m: float(np.mean([s[m] for s in scores])) for m in names}
    std = {m: float(np.std([s[m] for s in scores], ddof=1)) for m in names}
    key = "r2" if regression else "accuracy"
    limit = ctx.thresholds["max_cv_std"]
    status = "pass" if std[key] <= limit else "warn"
    summary = (f"Trained {k} times, each time holding out a different fifth of the "
               f"{data.n_rows} rows" if k == 5 else f"Trained {k} times, each time holding out "
               f"a different 1/{k} of the {data.n_rows} rows")
    summary += (f", the model's {key.replace('r2', 'R²')} is {mean[key]:.3f} on average and "
                f"varies by {std[key]:.3f} (standard deviation) between folds.")
    if k < asked:
        summary += (f" ({k} folds, not {asked}: the smallest class has only {smallest} "
                    "examples.)")
    if status == "warn":
        summary += " The score depends on which rows are held out: one split's number is fragile."
    return [Finding(
        "performance.cross_validation", "performance", status, f"{k}-fold cross-validation",
        summary, metrics={"folds": k, **{f"cv_{m}_mean": mean[m] for m in names},
                          **{f"cv_{m}_std": std[m] for m in names}},
        tables=[Table("Scores per fold", ["fold", *names],
                      [[i + 1, *(round(s[m], 4) for m in names)] for i, s in enumerate(scores)]
                      + [["mean", *(round(mean[m], 4) for m in names)],
                         ["std", *(round(std[m], 4) for m in names)]])],
        thresholds={"max_cv_std": limit}, regulations=REGS,
        recommendation="" if status == "pass" else "Collect more data or report the "
        "cross-validated score with its spread rather than one split's.")]
