"""Performance: accuracy and friends, the confusion matrix, calibration and k-fold
cross-validation, for the model and its baseline, as :mod:`trustml.metrics` computes them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from sklearn.metrics import confusion_matrix

from trustml.checks._registry import AuditContext, register
from trustml.data import sample_rows, select_rows
from trustml.metrics import (
    calibration,
    classification_metrics,
    cross_validate,
    mean_interval,
    regression_metrics,
)
from trustml.report._finding import Curve, Finding, Table, figure

REGS = ["EU AI Act Art. 15", "NIST AI RMF MEASURE 2.5"]


@register("performance", "performance", clauses=REGS, thresholds={
    "max_accuracy_drop": 0.05,       # accuracy the DP model loses against its baseline: warn
    "max_accuracy_drop_fail": 0.10,  # and fail
})
def performance(ctx: AuditContext) -> list[Finding]:
    _, y, _ = ctx.data.take("test")
    regression = ctx.data.task == "regression"
    scores = {which: (regression_metrics if regression else classification_metrics)(
        y, ctx.test_predictions(which)[0]) for which in ctx.models}
    names = list(scores["model"])
    table = Table("Test-set metrics", ["metric", *scores],
                  [[m, *(round(scores[w][m], 4) for w in scores)] for m in names])
    metrics = {f"{w}_{m}": v for w, s in scores.items() for m, v in s.items()}
    vt = ctx.versus_trivial()
    metrics |= {"trivial_answer": ctx.trivial_answer(), "trivial_score": vt["trivial_score"],
                "gain_over_trivial": vt["gain"], "gain_over_trivial_ci": vt["gain_ci"],
                "working": vt["working"]}
    if regression:
        return [_held_out_unknown(ctx, _regression_finding(ctx, scores["model"], metrics,
                                                           table))]
    findings = [_held_out_unknown(ctx, _classification_finding(ctx, y, scores["model"],
                                                               metrics, table))]
    if "baseline" in scores:
        findings.append(_cost_finding(ctx, y, scores))
    return findings


def _held_out_unknown(ctx: AuditContext, finding: Finding) -> Finding:
    """Scores on a drawn split of a model trained elsewhere may be scores on its training
    rows: no pass on that, and the finding says so."""
    if ctx.members_known is not None:
        return finding
    note = (f" The held-out rows were drawn with seed {ctx.data.split.get('seed')}, not "
            "declared: a model trained elsewhere may have seen some of them, which would make "
            "these scores optimistic.")
    return replace(finding, status="warn" if finding.status == "pass" else finding.status,
                   summary=finding.summary + note,
                   recommendation=" ".join(filter(None, [
                       finding.recommendation, "Declare the rows the model was trained on "
                       "(data: {split: COLUMN} or data: {train: ..., test: ...})."])))


def _trivial_sentence(ctx: AuditContext) -> str:
    if ctx.not_working():
        return (" It is no better than that, so the findings that need a working model "
                "(fairness, robustness, stability, explanations, calibration) are marked not "
                "meaningful.")
    return ""


def _regression_finding(ctx: AuditContext, score: dict, metrics: dict, table: Table) -> Finding:
    vt = ctx.versus_trivial()
    low, high = vt["gain_ci"]
    summary = (f"On {vt['rows']} held-out rows the model's mean absolute error is "
               f"{score['mae']:.3g} (R² {score['r2']:.3f}); always answering "
               f"{ctx.trivial_answer()} would give a mean squared error of "
               f"{vt['trivial_score']:.4g} against the model's {vt['model_score']:.4g} (95% "
               f"interval of the error removed {low:.4g} to {high:.4g})."
               + _trivial_sentence(ctx))
    return Finding("performance.metrics", "performance", "pass" if vt["working"] else "fail",
                   "Prediction error on held-out data", summary, metrics=metrics,
                   tables=[table], regulations=REGS,
                   headline=figure("R²", score["r2"], f"R² {score['r2']:.3f}; mean squared "
                                   f"error {vt['model_score']:.4g} against "
                                   f"{vt['trivial_score']:.4g} for {ctx.trivial_answer()}"),
                   recommendation="" if vt["working"] else _NOT_WORKING)


_NOT_WORKING = ("The model does no better than the trivial answer: check features, training, "
                "or the decision threshold before relying on it or on the rest of this report.")


def _classification_finding(ctx: AuditContext, y, score: dict, metrics: dict,
                            table: Table) -> Finding:
    vt = ctx.versus_trivial()
    low, high = vt["gain_ci"]
    metrics["majority_class_rate"] = vt["trivial_score"]
    below = score["accuracy"] < vt["trivial_score"]
    status = "fail" if not vt["working"] else "warn" if below else "pass"
    summary = (f"On {len(y)} held-out examples the model is right {score['accuracy']:.1%} of "
               f"the time (ROC AUC {score['roc_auc']:.3f}); always answering "
               f"{ctx.trivial_answer()} would be right {vt['trivial_score']:.1%} of the time. "
               f"Its balanced accuracy (the mean recall over the classes) is "
               f"{vt['model_balanced']:.3f} against {vt['trivial_balanced']:.3f} for that "
               f"trivial answer: a gain of {vt['gain']:+.3f} (95% interval {low:+.3f} to "
               f"{high:+.3f})." + _trivial_sentence(ctx))
    if status == "warn":
        summary += (" It separates the classes better than chance, yet is right less often "
                    "than the trivial answer: check its decision threshold.")
    pred = ctx.test_predictions("model")[1]
    matrix = confusion_matrix(y, pred, labels=range(len(ctx.data.class_names)))
    confusion = Table("Confusion matrix of the audited model (rows: true class, columns: "
                      "predicted class)", ["true \\ predicted", *ctx.data.class_names],
                      [[name, *map(int, row)] for name, row in zip(ctx.data.class_names, matrix)])
    return Finding("performance.metrics", "performance", status,
                   "Accuracy on held-out data", summary, metrics=metrics,
                   tables=[table, confusion], regulations=REGS,
                   headline=figure("Accuracy", score["accuracy"],
                                   f"{score['accuracy']:.1%} against {vt['trivial_score']:.1%} "
                                   f"for always answering {ctx.trivial_answer()}; balanced "
                                   f"accuracy {vt['model_balanced']:.3f} against "
                                   f"{vt['trivial_balanced']:.3f}"),
                   recommendation={"pass": "", "fail": _NOT_WORKING}.get(
                       status, "Move the decision threshold (or reweight the classes) and "
                       "compare accuracy again."))


def _cost_finding(ctx: AuditContext, y, scores: dict) -> Finding:
    """The accuracy the private model loses against its non-private baseline, with a paired
    interval; judged only when the baseline itself works."""
    t = ctx.thresholds
    warn, fail = t["max_accuracy_drop"], t["max_accuracy_drop_fail"]
    lost = ((ctx.test_predictions("baseline")[1] == y).astype(float)
            - (ctx.test_predictions("model")[1] == y))
    drop, (low, high) = float(lost.mean()), mean_interval(lost, seed=ctx.seed)
    base, acc = scores["baseline"]["accuracy"], scores["model"]["accuracy"]
    summary = (f"The non-private baseline, trained the same way, is right {base:.1%} of the "
               f"time; the audited model {acc:.1%}: {drop * 100:.1f} points lost (95% paired "
               f"interval {low * 100:.1f} to {high * 100:.1f}).")
    status = "fail" if drop > fail else "warn" if drop > warn else "pass"
    if not ctx.versus_trivial("baseline")["working"]:
        status = "not_meaningful"
        summary = ("Not meaningful: the baseline itself is no better than always answering "
                   f"{ctx.trivial_answer()}. " + summary)
    elif ctx.not_working():
        status = "fail"
        summary += (f" The private model is no better than always answering "
                    f"{ctx.trivial_answer()}: the privacy protection left no working model.")
    return Finding("performance.private_vs_baseline", "performance", status,
                   "Accuracy cost of the privacy protection", summary,
                   metrics={"accuracy_drop": drop, "accuracy_drop_ci": [low, high]},
                   headline=figure("Accuracy cost of privacy", drop,
                                   f"{drop * 100:.1f} points below the non-private baseline "
                                   f"({base:.1%})", (low, high)),
                   thresholds={"max_accuracy_drop": warn, "max_accuracy_drop_fail": fail},
                   regulations=REGS if status != "not_meaningful" else [],
                   recommendation="" if status in ("pass", "not_meaningful") else "Train longer, "
                   "tune the learning rate and clipping norm, or accept a larger epsilon if the "
                   "use case allows it.")


@register("calibration", "performance", clauses=REGS, needs=("classifier",),
          model_dependent=True,
          thresholds={"max_calibration_error": 0.05})  # expected calibration error, 10 bins
def calibration_check(ctx: AuditContext) -> list[Finding]:
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
# k-fold retrains k times on (k-1)/k of the rows: above this many rows it runs on a random
# sample of this size (stated in the finding); folds of 40,000 rows pin a score's spread well.
CV_MAX_ROWS = 200_000


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


@register("cross_validation", "performance", clauses=REGS, model_dependent=True,
          thresholds={"max_cv_std": 0.05})  # spread of accuracy (R²) across k folds
def cross_validation(ctx: AuditContext) -> list[Finding]:
    k, why_not = _folds(ctx)
    data, regression = ctx.data, ctx.data.task == "regression"
    inputs, labels, sampled = data.inputs, data.labels, None
    if k >= 2 and data.n_rows > CV_MAX_ROWS:
        take = sample_rows(data.n_rows, CV_MAX_ROWS, ctx.seed)
        inputs, labels = select_rows(inputs, take.positions), labels[take.positions]
        sampled = take.record()
    smallest = len(labels) if regression else int(np.bincount(labels).min())
    asked = k
    if 2 <= smallest < k:
        k = smallest  # every fold needs a row (of every class): as many folds as there can be
    elif k >= 2 and smallest < 2:
        k, why_not = 0, (f"the smallest class has {smallest} example, too few to hold one "
                         "out in each of two folds")
    if k < 2:
        return [Finding("performance.cross_validation", "performance", "not_run",
                        "k-fold cross-validation", f"Not run: {why_not}.")]
    scores = cross_validate(ctx.retrain, inputs, labels, k=k, regression=regression,
                            private=ctx.privacy is not None, seed=ctx.seed)
    names = list(scores[0])
    mean = {m: float(np.mean([s[m] for s in scores])) for m in names}
    std = {m: float(np.std([s[m] for s in scores], ddof=1)) for m in names}
    key = "r2" if regression else "accuracy"
    limit = ctx.thresholds["max_cv_std"]
    status = "pass" if std[key] <= limit else "warn"
    rows = (len(labels) if sampled is None else
            f"{len(labels):,} (a random sample of the {data.n_rows:,})")
    summary = (f"Trained {k} times, each time holding out a different fifth of the "
               f"{rows} rows" if k == 5 else f"Trained {k} times, each time holding out "
               f"a different 1/{k} of the {rows} rows")
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
                          **{f"cv_{m}_std": std[m] for m in names},
                          **({"sampled": sampled} if sampled else {})},
        tables=[Table("Scores per fold", ["fold", *names],
                      [[i + 1, *(round(s[m], 4) for m in names)] for i, s in enumerate(scores)]
                      + [["mean", *(round(mean[m], 4) for m in names)],
                         ["std", *(round(std[m], 4) for m in names)]])],
        thresholds={"max_cv_std": limit}, regulations=REGS,
        recommendation="" if status == "pass" else "Collect more data or report the "
        "cross-validated score with its spread rather than one split's.")]
