"""Performance: accuracy and friends, the confusion matrix, calibration and k-fold
cross-validation, for the model and its baseline, as :mod:`trustml.metrics` computes them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from sklearn.metrics import confusion_matrix

from trustml.checks._registry import AuditContext, register
from trustml.checks._words import say
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
METRICS = "performance.metrics"


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
    table = Table(say(METRICS, "table"), ["metric", *scores],
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
    note = say(METRICS, "drawn_split", seed=ctx.data.split.get("seed"))
    return replace(finding, status="warn" if finding.status == "pass" else finding.status,
                   summary=finding.summary + note,
                   recommendation=" ".join(filter(None, [
                       finding.recommendation, say(METRICS, "advice_drawn_split")])))


def _trivial_sentence(ctx: AuditContext) -> str:
    return say(METRICS, "not_working") if ctx.not_working() else ""


def _regression_finding(ctx: AuditContext, score: dict, metrics: dict, table: Table) -> Finding:
    vt = ctx.versus_trivial()
    low, high = vt["gain_ci"]
    words = dict(vt=vt, score=score, trivial=ctx.trivial_answer(), low=low, high=high)
    summary = say(METRICS, "summary_regression", **words) + _trivial_sentence(ctx)
    return Finding(METRICS, "performance", "pass" if vt["working"] else "fail",
                   say(METRICS, "title_regression"), summary, metrics=metrics,
                   tables=[table], regulations=REGS,
                   headline=figure(say(METRICS, "label_regression"), score["r2"],
                                   say(METRICS, "headline_regression", **words)),
                   recommendation="" if vt["working"] else say(METRICS, "advice_not_working"))


def _classification_finding(ctx: AuditContext, y, score: dict, metrics: dict,
                            table: Table) -> Finding:
    vt = ctx.versus_trivial()
    low, high = vt["gain_ci"]
    metrics["majority_class_rate"] = vt["trivial_score"]
    below = score["accuracy"] < vt["trivial_score"]
    status = "fail" if not vt["working"] else "warn" if below else "pass"
    words = dict(vt=vt, score=score, trivial=ctx.trivial_answer(), low=low, high=high)
    summary = say(METRICS, "summary", n=len(y), **words) + _trivial_sentence(ctx)
    if status == "warn":
        summary += say(METRICS, "below_trivial")
    pred = ctx.test_predictions("model")[1]
    matrix = confusion_matrix(y, pred, labels=range(len(ctx.data.class_names)))
    confusion = Table(say(METRICS, "confusion"), ["true \\ predicted", *ctx.data.class_names],
                      [[name, *map(int, row)] for name, row in zip(ctx.data.class_names, matrix)])
    return Finding(METRICS, "performance", status, say(METRICS, "title"), summary,
                   metrics=metrics, tables=[table, confusion], regulations=REGS,
                   headline=figure(say(METRICS, "label"), score["accuracy"],
                                   say(METRICS, "headline", **words)),
                   recommendation="" if status == "pass" else say(
                       METRICS, "advice_not_working" if status == "fail" else
                       "advice_below_trivial"))


def _cost_finding(ctx: AuditContext, y, scores: dict) -> Finding:
    """The accuracy the private model loses against its non-private baseline, with a paired
    interval; judged only when the baseline itself works."""
    t = ctx.thresholds
    warn, fail = t["max_accuracy_drop"], t["max_accuracy_drop_fail"]
    lost = ((ctx.test_predictions("baseline")[1] == y).astype(float)
            - (ctx.test_predictions("model")[1] == y))
    drop, (low, high) = float(lost.mean()), mean_interval(lost, seed=ctx.seed)
    base, acc = scores["baseline"]["accuracy"], scores["model"]["accuracy"]
    fid, trivial = "performance.private_vs_baseline", ctx.trivial_answer()
    summary = say(fid, "summary", base=base, acc=acc, points=drop * 100, low=low * 100,
                  high=high * 100)
    status = "fail" if drop > fail else "warn" if drop > warn else "pass"
    if not ctx.versus_trivial("baseline")["working"]:
        status = "not_meaningful"
        summary = say(fid, "baseline_not_working", trivial=trivial) + summary
    elif ctx.not_working():
        status = "fail"
        summary += say(fid, "not_working", trivial=trivial)
    return Finding(fid, "performance", status, say(fid, "title"), summary,
                   metrics={"accuracy_drop": drop, "accuracy_drop_ci": [low, high]},
                   headline=figure(say(fid, "label"), drop,
                                   say(fid, "headline", points=drop * 100, base=base),
                                   (low, high)),
                   thresholds={"max_accuracy_drop": warn, "max_accuracy_drop_fail": fail},
                   regulations=REGS if status != "not_meaningful" else [],
                   recommendation="" if status in ("pass", "not_meaningful") else
                   say(fid, "advice"))


@register("calibration", "performance", clauses=REGS, needs=("classifier",),
          model_dependent=True,
          thresholds={"max_calibration_error": 0.05})  # expected calibration error, 10 bins
def calibration_check(ctx: AuditContext) -> list[Finding]:
    _, y, _ = ctx.data.take("test")
    cal = {w: calibration(y, ctx.test_predictions(w)[0], seed=ctx.seed) for w in ctx.models}
    ece, limit = cal["model"]["ece"], ctx.thresholds["max_calibration_error"]
    noise = cal["model"]["ece_null_95"]
    fid = "performance.calibration"
    summary = say(fid, "binary" if len(ctx.data.class_names) == 2 else "multiclass",
                  positive=ctx.data.class_names[-1])
    summary += say(fid, "summary", ece=ece, brier=cal["model"]["brier"], noise=noise)
    if "baseline" in cal:
        summary += say(fid, "baseline", ece=cal["baseline"]["ece"])
    # A gap within sampling noise is no evidence of miscalibration, whatever the threshold.
    status = "warn" if ece > max(limit, noise) else "pass"
    bins = cal["model"]["bins"]
    return [Finding(
        fid, "performance", status, say(fid, "title"), summary,
        metrics={f"{w}_{k}": c[k] for w, c in cal.items()
                 for k in ("ece", "ece_null_95", "brier")},
        tables=[Table(say(fid, "table"),
                      ["bin", "examples", "mean predicted", "observed"],
                      [[f"{lo:.1f}-{hi:.1f}", n, round(p, 4), round(o, 4)]
                       for lo, hi, n, p, o in bins])],
        visuals=[Curve(say(fid, "curve"),
                       "predicted probability", "observed frequency",
                       [b[3] for b in bins], [b[4] for b in bins])],
        thresholds={"max_calibration_error": limit}, regulations=REGS,
        recommendation="" if status == "pass" else say(fid, "advice"))]


CV_BUDGET_SECONDS = 60.0  # default k-fold runs only when k trainings are expected to fit
# k-fold retrains k times on (k-1)/k of the rows: above this many rows it runs on a random
# sample of this size (stated in the finding); folds of 40,000 rows pin a score's spread well.
CV_MAX_ROWS = 200_000
CV = "performance.cross_validation"


def _folds(ctx: AuditContext) -> tuple[int, str]:
    """Folds to run, and why none when none: ``ctx.cv_folds`` when set; else 5 where retraining
    is cheap (a scikit-learn model, or a training record saying 5 trainings fit in
    :data:`CV_BUDGET_SECONDS`)."""
    if ctx.retrain is None:
        return 0, say(CV, "no_retrain")
    if not ctx.retrains_as_audited:
        return 0, say(CV, "not_private")
    if ctx.cv_folds is not None:
        return ctx.cv_folds, say(CV, "asked_none")
    if ctx.model.capabilities.refits_cheaply:
        return 5, ""
    seconds = (ctx.training.get("model") or {}).get("seconds")
    if seconds is None:
        return 0, say(CV, "cost_unknown")
    if 5 * seconds > CV_BUDGET_SECONDS:
        return 0, say(CV, "over_budget", seconds=5 * seconds, budget=CV_BUDGET_SECONDS)
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
        k, why_not = 0, say(CV, "class_too_small", smallest=smallest)
    if k < 2:
        return [Finding(CV, "performance", "not_run", say(CV, "title", k="k"),
                        say(CV, "not_run", why=why_not))]
    scores = cross_validate(ctx.retrain, inputs, labels, k=k, regression=regression,
                            private=ctx.privacy is not None, seed=ctx.seed)
    names = list(scores[0])
    mean = {m: float(np.mean([s[m] for s in scores])) for m in names}
    std = {m: float(np.std([s[m] for s in scores], ddof=1)) for m in names}
    key = "r2" if regression else "accuracy"
    limit = ctx.thresholds["max_cv_std"]
    status = "pass" if std[key] <= limit else "warn"
    rows = (len(labels) if sampled is None else
            say(CV, "sampled_rows", rows=len(labels), total=data.n_rows))
    summary = say(CV, "fifths" if k == 5 else "folds", k=k, rows=rows)
    summary += say(CV, "summary", metric=key.replace("r2", "R²"), mean=mean[key], std=std[key])
    if k < asked:
        summary += say(CV, "fewer_folds", k=k, asked=asked, smallest=smallest)
    if status == "warn":
        summary += say(CV, "warn")
    return [Finding(
        CV, "performance", status, say(CV, "title", k=k), summary,
        metrics={"folds": k, **{f"cv_{m}_mean": mean[m] for m in names},
                          **{f"cv_{m}_std": std[m] for m in names},
                          **({"sampled": sampled} if sampled else {})},
        tables=[Table(say(CV, "table"), ["fold", *names],
                      [[i + 1, *(round(s[m], 4) for m in names)] for i, s in enumerate(scores)]
                      + [["mean", *(round(mean[m], 4) for m in names)],
                         ["std", *(round(std[m], 4) for m in names)]])],
        thresholds={"max_cv_std": limit}, regulations=REGS,
        recommendation="" if status == "pass" else say(CV, "advice"))]
