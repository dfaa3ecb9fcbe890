"""Fairness: group metrics per sensitive feature (Fairlearn) for binary, multiclass and
regression models, model versus baseline, identity probes, proxies and mitigation."""

from __future__ import annotations

import numpy as np

from trustml.checks._fairness_parts import (
    MITIGATION_REGS,
    REGS,
    group_finding,
    group_rows,
    incomparable,
    multiclass_finding,
    multiclass_mitigation,
    names,
    not_retrainable,
    privacy_tables,
    regression_mitigation,
    status_of,
)
from trustml.checks._registry import AuditContext, register
from trustml.checks._words import say
from trustml.data import sample_rows, select_rows
from trustml.fairness import (
    before_after,
    disparities,
    error_disparities,
    group_metrics,
    identity_probe,
    mitigations,
    proxy_strength,
    regression_group_metrics,
    retrainable,
)
from trustml.report._finding import Chart, Finding, Table, figure, fmt_ci, worst

PROXY_REGS = ["EU AI Act Art. 10", "GDPR Art. 5(1)(c)", "NIST AI RMF MEASURE 2.11"]
GROUPS, MITIGATION = "fairness.group_metrics", "fairness.mitigation"


def _verdict(gm: dict, t: dict) -> str:
    if not gm["comparable"]:
        return "warn"
    status = worst([status_of(gm["demographic_parity_difference"],
                              t["parity_difference_warn"], t["parity_difference_fail"]),
                    status_of(gm["equalized_odds_difference"], t["parity_difference_warn"],
                              t["parity_difference_fail"])])
    if gm["four_fifths"] is False:
        status = worst([status, "warn"])
    if gm["small_groups"]:
        status = worst([status, "warn"])
    return status


def _summary(gm: dict, t: dict) -> str:
    feature, min_size, small = gm["feature"], t["min_group_size"], names(gm["small_groups"])
    if not gm["comparable"]:
        return incomparable(gm, t)
    ci = gm.get("difference_ci", {}).get("selection_rate")
    text = say(GROUPS, "summary", feature=feature, dpd=gm["demographic_parity_difference"],
               eod=gm["equalized_odds_difference"],
               interval=say(GROUPS, "interval", low=ci[0], high=ci[1]) if ci else "")
    if gm["four_fifths"] is False:
        text += say(GROUPS, "four_fifths", ratio=gm["demographic_parity_ratio"])
    if gm["small_groups"]:
        text += say(GROUPS, "small_groups", small=small, min_size=min_size)
    return text


def _views(ctx: AuditContext) -> list:
    """Each sensitive feature of the test split, then the intersection of all of them."""
    features = ctx.data.sensitive_names
    sens = ctx.data.take("test")[2]
    return [sens[f] for f in features] + ([sens[features]] if len(features) > 1 else [])


def _regression_finding(ctx: AuditContext, target) -> Finding:
    """Per-group errors of a regression model; judged by the worst / best error ratio."""
    t = ctx.thresholds
    y = ctx.data.take("test")[1]
    pred = ctx.test_predictions("model")[1]
    gm = regression_group_metrics(y, pred, target, min_group_size=t["min_group_size"],
                                  n_boot=ctx.n_boot, seed=ctx.seed)
    feature = gm["feature"]
    columns = ["group", "count", "mean_absolute_error", "root_mean_squared_error",
               "mean_error", "mean_prediction", "mean_target"]
    if gm["comparable"]:
        ratio = gm["error_ratio"]
        status = status_of(ratio, t["error_ratio_warn"], t["error_ratio_fail"])
        ci = gm.get("error_ratio_ci")
        interval = (say(GROUPS, "interval_ratio", low=ci[0], high=ci[1])
                    if ci and None not in ci else "")
        summary = say(GROUPS, "summary_regression", feature=feature, ratio=ratio,
                      interval=interval)
    else:
        status = "warn"
        summary = say(GROUPS, "incomparable_regression", feature=feature,
                      min_size=t["min_group_size"])
    if gm["small_groups"]:
        status = worst([status, "warn"])
        summary += say(GROUPS, "small_groups_regression", small=names(gm["small_groups"]))
    return group_finding(
        gm, status, say(GROUPS, "title_regression", feature=feature), summary,
        headline=figure(say(GROUPS, "label_regression", feature=feature), gm.get("error_ratio"),
                        say(GROUPS, "headline_regression"), gm.get("error_ratio_ci")),
        tables=[Table(say(GROUPS, "table_regression", feature=feature), columns,
                      group_rows(gm, columns))],
        chart=say(GROUPS, "chart_regression", feature=feature), metric="mean_absolute_error",
        thresholds={k: t[k] for k in ("error_ratio_warn", "error_ratio_fail",
                                      "min_group_size")},
        advice=say(GROUPS, "advice_regression"))


@register("fairness", "fairness", clauses=REGS, model_dependent=True, thresholds={
    "parity_difference_warn": 0.10,  # demographic parity / equalized odds difference (and,
                                     # multiclass, accuracy difference), largest over classes
    "parity_difference_fail": 0.20,
    "error_ratio_warn": 1.25,        # regression: worst / best group mean absolute error
    "error_ratio_fail": 1.50,
    "min_group_size": 30,            # smaller test groups are too small to judge
})
def fairness(ctx: AuditContext) -> list[Finding]:
    data = ctx.data
    if not data.sensitive_names:
        return [Finding(GROUPS, "fairness", "not_run", say(GROUPS, "title_no_sensitive"),
                        say(GROUPS, "no_sensitive"),
                        recommendation=say(GROUPS, "advice_no_sensitive"))]
    if data.task == "regression":
        return [_regression_finding(ctx, target) for target in _views(ctx)]
    _, y, _ = data.take("test")
    score, pred = ctx.test_predictions("model")
    base_pred = ctx.test_predictions("baseline")[1] if ctx.baseline is not None else None
    if data.task == "multiclass":
        return [multiclass_finding(ctx, target, y, pred, base_pred) for target in _views(ctx)]
    return [_binary_finding(ctx, target, y, score, pred, base_pred) for target in _views(ctx)]


def _gap_figure(gm: dict) -> dict:
    label = say(GROUPS, "label", feature=gm["feature"])
    if not gm["comparable"]:
        return figure(label, None, say(GROUPS, "headline_incomparable"))
    eod = gm["equalized_odds_difference"]
    return figure(label, gm["demographic_parity_difference"],
                  say(GROUPS, "headline")
                  + (say(GROUPS, "headline_odds", eod=eod) if eod is not None else ""),
                  gm.get("difference_ci", {}).get("selection_rate"))


def _binary_finding(ctx: AuditContext, target, y, score, pred, base_pred) -> Finding:
    """Group metrics of binary decisions over ``target`` (a sensitive feature, or their
    intersection), with the cost of privacy per group and DP clipping per group where known."""
    t = ctx.thresholds
    gm = group_metrics(y, pred, target, y_score=score[:, 1], min_group_size=t["min_group_size"],
                       n_boot=ctx.n_boot, seed=ctx.seed)
    feature = gm["feature"]
    columns = ["group", "count", "accuracy", "selection_rate", "true_positive_rate",
               "false_positive_rate", "roc_auc"]
    tables = [Table(say(GROUPS, "table", feature=feature), columns, group_rows(gm, columns)),
              *privacy_tables(ctx, gm, y, pred, base_pred, target)]
    status = _verdict(gm, t)
    return group_finding(
        gm, status, say(GROUPS, "title", feature=feature), _summary(gm, t), tables=tables,
        headline=_gap_figure(gm), chart=say(GROUPS, "chart", feature=feature),
        metric="selection_rate",
        thresholds={k: t[k] for k in ("parity_difference_warn", "parity_difference_fail",
                                      "min_group_size")} | {"four_fifths": 0.8},
        advice=say(GROUPS, "advice"))


@register("identity_probes", "fairness", clauses=REGS, model_dependent=True,
          needs=("text", "classifier"),  # gap by group in the probability of a class
          thresholds={"probe_gap_warn": 0.05, "probe_gap_fail": 0.10})
def identity_probes(ctx: AuditContext) -> list[Finding]:
    """Counterfactual identity probes: the positive class's probability for a binary model;
    for a multiclass model every class's, the most affected class leading."""
    t, binary = ctx.thresholds, ctx.data.task == "binary"
    results = identity_probe(ctx.model, templates=ctx.templates, lexicon=ctx.lexicon,
                             n_boot=ctx.n_boot, seed=ctx.seed, positive=1 if binary else None,
                             classes=ctx.data.class_names)
    statuses = [status_of(r["gap"], t["probe_gap_warn"], t["probe_gap_fail"]) for r in results]
    which = [] if binary else ["class"]  # a multiclass model: the class each category moves most
    rows = [[r["category"], *(r[c] for c in which), fmt_ci(r["gap"], r.get("gap_ci")),
             r["highest"], r["lowest"], ", ".join(list(r["terms"])[:2])] for r in results]
    worst_row = max(results, key=lambda r: r["gap"])
    fid = "fairness.identity_probes"
    summary = say(fid, "summary" if binary else "summary_multiclass", n=len(results),
                  worst=worst_row, categories=", ".join(r["category"] for r in results))
    status = worst(statuses)
    return [Finding(fid, "fairness", status, say(fid, "title"), summary,
                    metrics={"categories": results},
                    tables=[Table(say(fid, "table" if binary else "table_multiclass"),
                                  ["category", *which, "gap", "highest", "lowest",
                                   "terms that move the score most"], rows)],
                    charts=[Chart(say(fid, "chart" if binary else "chart_multiclass"),
                                  [r["category"] for r in results],
                                  [r["gap"] for r in results])],
                    thresholds={k: t[k] for k in ("probe_gap_warn", "probe_gap_fail")},
                    regulations=REGS,
                    recommendation="" if status == "pass" else say(fid, "advice"))]


@register("proxies", "fairness", clauses=PROXY_REGS, needs=("tabular", "sensitive"),
          thresholds={"proxy_auc_warn": 0.70,   # inputs predicting a sensitive attribute
                      "proxy_auc_fail": 0.90})  # this well (ROC AUC)
def proxies(ctx: AuditContext) -> list[Finding]:
    data = ctx.data
    t = ctx.thresholds
    x, _, sens = data.take("train")
    inputs = set(map(str, x.columns))
    findings, fid = [], "fairness.proxies"
    for feature in data.sensitive_names:
        result = proxy_strength(x, sens[feature], seed=ctx.seed)
        is_input = feature in inputs
        top = result["by_feature"][0] if result["by_feature"] else None
        strength = max(result["joint_auc"], top["auc"] if top else 0.0)
        status = "fail" if is_input else status_of(strength, t["proxy_auc_warn"],
                                                   t["proxy_auc_fail"])
        text = say(fid, "input" if is_input else "not_input", feature=feature)
        text += say(fid, "summary", auc=result["joint_auc"])
        if top:
            text += say(fid, "strongest", top=top)
        result["is_input"] = is_input
        findings.append(Finding(
            f"{fid}.{feature}", "fairness", status, say(fid, "title", feature=feature), text,
            metrics=result,
            tables=[Table(say(fid, "table", feature=feature, rows=result["rows"]),
                          ["input", "AUC"],
                          [[r["input"], round(r["auc"], 3)] for r in result["by_feature"]])],
            thresholds={k: t[k] for k in ("proxy_auc_warn", "proxy_auc_fail")},
            regulations=PROXY_REGS,
            recommendation="" if status == "pass" else say(fid, "advice")))
    return findings


def _judged_rows(groups, min_size: int) -> np.ndarray:
    """Positions of the test rows in groups large enough to judge: the groups the fairness
    finding compares, so mitigation's "before" is the finding's gap."""
    sizes = groups.map(groups.value_counts())
    return np.flatnonzero(sizes.to_numpy() >= min_size)


# Mitigation refits the model (ExponentiatedGradient: up to 50 times per constraint and
# feature) and predicts through it many times: above these sizes it is fitted on a random
# sample of the training rows and judged on a random sample of the held-out rows (stated in the
# finding). Smaller data is used whole.
MITIGATION_FIT_ROWS = 10_000
MITIGATION_TEST_ROWS = 20_000


@register("mitigation", "fairness", clauses=MITIGATION_REGS, model_dependent=True,
          needs=("sensitive",))
def mitigation(ctx: AuditContext) -> list[Finding]:
    task = ctx.data.task
    if task == "multiclass":
        return [multiclass_mitigation(ctx)]
    if task == "regression" and retrainable(ctx.model) is None:
        return [not_retrainable(ctx)]
    train, test, sampled = _mitigation_rows(ctx)
    metrics, unjudged = _mitigate(ctx, train, test, sampled)
    if not metrics:
        return [Finding(MITIGATION, "fairness", "not_run", say(MITIGATION, "title"),
                        say(MITIGATION, "not_judged", features=names(unjudged),
                            min_size=ctx.thresholds["min_group_size"]),
                        metrics={"unjudged": unjudged}, regulations=MITIGATION_REGS)]
    if task == "regression":
        summary, table = regression_mitigation(metrics)
    else:
        summary, table = _mitigation_summary(metrics), _mitigation_table(metrics)
    return [Finding(MITIGATION, "fairness", "info", say(MITIGATION, "title"),
                    summary + _mitigation_caveats(ctx, unjudged, sampled), metrics=metrics,
                    tables=[table], regulations=MITIGATION_REGS)]


def _mitigation_table(metrics: dict) -> Table:
    rows = [[r["feature"], say(MITIGATION, r["method"]), r["constraint"],
             *(f"{r['before'][m]:.3f} -> {r['after'][m]:.3f}"
               for m in ("accuracy", "demographic_parity_difference",
                         "equalized_odds_difference"))] for r in metrics.values()]
    return Table(say(MITIGATION, "table"), ["feature", "method", "constraint", "accuracy",
                                            "demographic parity diff.", "equalized odds diff."],
                 rows)


def _mitigation_rows(ctx: AuditContext):
    """Training and held-out (x, y, sensitive), each a seeded sample when the split is larger
    than mitigation's budget, and what was sampled."""
    splits, sampled = {}, {}
    for split, size, seed in (("train", MITIGATION_FIT_ROWS, ctx.seed),
                              ("test", MITIGATION_TEST_ROWS, ctx.seed + 1)):
        x, y, s = ctx.data.take(split)
        take = sample_rows(len(y), size, seed)
        if take is not None:
            sampled[split] = take.record()
            x, y, s = (select_rows(x, take.positions), y[take.positions],
                       select_rows(s, take.positions))
        splits[split] = (x, y, s)
    return splits["train"], splits["test"], sampled


def _mitigate(ctx: AuditContext, train, test, sampled) -> tuple[dict, list]:
    """Every mitigation fitted on ``train`` and judged on the groups of ``test`` large enough
    to judge, per sensitive feature; the features with fewer than two such groups."""
    (x_train, y_train, s_train), (x_test, y_test, s_test) = train, test
    measure = error_disparities if ctx.data.task == "regression" else disparities
    metrics, unjudged = {}, []
    for feature in ctx.data.sensitive_names:
        idx = _judged_rows(s_test[feature], ctx.thresholds["min_group_size"])
        if s_test[feature].iloc[idx].nunique() < 2:
            unjudged.append(feature)
            continue
        for method, constraint, mitigator in mitigations(ctx.model, x_train, y_train,
                                                         s_train[feature], task=ctx.data.task):
            result = before_after(ctx.model, mitigator, select_rows(x_test, idx), y_test[idx],
                                  s_test[feature].iloc[idx], seed=ctx.seed, measure=measure)
            key = f"{feature}/{constraint}" if method == "thresholds" else \
                f"{feature}/{constraint}/{method}"
            metrics[key] = result | {"method": method, "feature": feature,
                                     "constraint": constraint}
            if sampled:  # kept with each result: a reader of one entry sees it
                metrics[key]["sampled"] = sampled
    return metrics, unjudged


def _mitigation_summary(metrics: dict) -> str:
    best = min(metrics.values(), key=lambda r: r["after"]["demographic_parity_difference"])
    reduction = any(r["method"] == "reduction" for r in metrics.values())
    return say(MITIGATION, "summary", best=best, method=say(MITIGATION, best["method"]),
               constraint=best["constraint"].replace("_", " "),
               reduction=say(MITIGATION, "with_reduction") if reduction else "")


def _mitigation_caveats(ctx: AuditContext, unjudged: list, sampled: dict) -> str:
    """What the mitigation finding's numbers rest on: samples of large data, features left
    out."""
    summary = ""
    if sampled:
        said = [say(MITIGATION, f"sampled_{split}", rows=sampled[split]["rows"],
                    of=sampled[split]["of"]) for split in ("train", "test") if split in sampled]
        summary += say(MITIGATION, "sampled", said=say(MITIGATION, "and").join(said))
    if unjudged:
        summary += say(MITIGATION, "unjudged", features=names(unjudged),
                       min_size=ctx.thresholds["min_group_size"])
    return summary
