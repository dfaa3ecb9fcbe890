"""Fairness: group metrics per sensitive feature (Fairlearn), model versus baseline."""

from __future__ import annotations

import numpy as np

from trustml.checks._registry import AuditContext, register
from trustml.checks._words import say
from trustml.data import sample_rows, select_rows
from trustml.fairness import (
    before_after,
    group_metrics,
    identity_probe,
    mitigations,
    paired_accuracy_change,
    proxy_strength,
    regression_group_metrics,
)
from trustml.report._finding import Chart, Finding, Table, figure, fmt_ci, worst

REGS = ["EU AI Act Art. 10", "EU AI Act Art. 15", "NIST AI RMF MEASURE 2.11"]
PROXY_REGS = ["EU AI Act Art. 10", "GDPR Art. 5(1)(c)", "NIST AI RMF MEASURE 2.11"]
MITIGATION_REGS = ["EU AI Act Art. 9", "EU AI Act Art. 10", "NIST AI RMF MANAGE 1.3"]
GROUPS, MITIGATION = "fairness.group_metrics", "fairness.mitigation"


def _status(value: float | None, warn: float, fail: float) -> str:
    if value is None:
        return "info"
    return "fail" if value > fail else "warn" if value > warn else "pass"


def _verdict(gm: dict, t: dict) -> str:
    if not gm["comparable"]:
        return "warn"
    status = worst([_status(gm["demographic_parity_difference"], t["parity_difference_warn"],
                            t["parity_difference_fail"]),
                    _status(gm["equalized_odds_difference"], t["parity_difference_warn"],
                            t["parity_difference_fail"])])
    if gm["four_fifths"] is False:
        status = worst([status, "warn"])
    if gm["small_groups"]:
        status = worst([status, "warn"])
    return status


def _summary(gm: dict, t: dict) -> str:
    feature, min_size, small = gm["feature"], t["min_group_size"], _names(gm["small_groups"])
    if not gm["comparable"]:
        judged = sum(r["judged"] for r in gm["by_group"])
        return say(GROUPS, "incomparable", judged=judged, feature=feature, min_size=min_size,
                   small=small)
    ci = gm.get("difference_ci", {}).get("selection_rate")
    text = say(GROUPS, "summary", feature=feature, dpd=gm["demographic_parity_difference"],
               eod=gm["equalized_odds_difference"],
               interval=say(GROUPS, "interval", low=ci[0], high=ci[1]) if ci else "")
    if gm["four_fifths"] is False:
        text += say(GROUPS, "four_fifths", ratio=gm["demographic_parity_ratio"])
    if gm["small_groups"]:
        text += say(GROUPS, "small_groups", small=small, min_size=min_size)
    return text


def _group_rows(gm: dict, columns: list[str]) -> list[list]:
    """Table rows of ``gm``'s groups over ``columns`` (after group and count), with intervals."""
    return [[r["group"] + ("" if r["judged"] else say(GROUPS, "too_small")), r["count"],
             *(fmt_ci(r[c], r.get(f"{c}_ci")) for c in columns[2:])] for r in gm["by_group"]]


def _views(ctx: AuditContext) -> list:
    """Each sensitive feature of the test split, then the intersection of all of them."""
    names = ctx.data.sensitive_names
    sens = ctx.data.take("test")[2]
    return [sens[f] for f in names] + ([sens[names]] if len(names) > 1 else [])


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
        status = _status(ratio, t["error_ratio_warn"], t["error_ratio_fail"])
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
        summary += say(GROUPS, "small_groups_regression", small=_names(gm["small_groups"]))
    return Finding(
        f"{GROUPS}.{feature}", "fairness", status,
        say(GROUPS, "title_regression", feature=feature), summary, metrics=gm,
        headline=figure(say(GROUPS, "label_regression", feature=feature), gm.get("error_ratio"),
                        say(GROUPS, "headline_regression"), gm.get("error_ratio_ci")),
        tables=[Table(say(GROUPS, "table_regression", feature=feature), columns,
                      _group_rows(gm, columns))],
        charts=[Chart(say(GROUPS, "chart_regression", feature=feature),
                      [r["group"] for r in gm["by_group"]],
                      [r["mean_absolute_error"] or 0.0 for r in gm["by_group"]])],
        thresholds={k: t[k] for k in ("error_ratio_warn", "error_ratio_fail",
                                      "min_group_size")},
        regulations=REGS,
        recommendation="" if status == "pass" else say(GROUPS, "advice_regression"))


@register("fairness", "fairness", clauses=REGS, model_dependent=True, thresholds={
    "parity_difference_warn": 0.10,  # demographic parity / equalized odds difference
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
    if data.task != "binary":
        return [Finding(GROUPS, "fairness", "info", say(GROUPS, "title_task"),
                        say(GROUPS, "task", task=data.task), regulations=REGS)]
    _, y, _ = data.take("test")
    score, pred = ctx.test_predictions("model")
    base_pred = ctx.test_predictions("baseline")[1] if ctx.baseline is not None else None
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
    tables = [Table(say(GROUPS, "table", feature=feature), columns, _group_rows(gm, columns))]
    if base_pred is not None:
        change = paired_accuracy_change(y, pred, base_pred, target, n_boot=ctx.n_boot,
                                        seed=ctx.seed)
        gm["dp_accuracy_change"] = change
        tables.append(Table(say(GROUPS, "cost_table", feature=feature),
                            ["group", "count", "accuracy change"],
                            [[c["group"], c["count"], fmt_ci(c["change"], c.get("change_ci"))]
                             for c in change]))
    clip = (ctx.privacy.clipped_fraction_by_group.get(feature)
            if ctx.privacy is not None else None)
    if clip:
        gm["clipped_fraction_by_group"] = clip
        tables.append(Table(say(GROUPS, "clip_table", feature=feature),
                            ["group", "clipped fraction"],
                            [[g, f"{v:.1%}"] for g, v in clip.items()]))
    status = _verdict(gm, t)
    return Finding(
        f"{GROUPS}.{feature}", "fairness", status, say(GROUPS, "title", feature=feature),
        _summary(gm, t), metrics=gm, tables=tables, headline=_gap_figure(gm),
        charts=[Chart(say(GROUPS, "chart", feature=feature), [r["group"] for r in gm["by_group"]],
                      [r["selection_rate"] or 0.0 for r in gm["by_group"]])],
        thresholds={k: t[k] for k in ("parity_difference_warn", "parity_difference_fail",
                                      "min_group_size")} | {"four_fifths": 0.8},
        regulations=REGS,
        recommendation="" if status == "pass" else say(GROUPS, "advice"))


@register("identity_probes", "fairness", clauses=REGS, model_dependent=True,
          needs=("text", "binary"),
          thresholds={"probe_gap_warn": 0.05, "probe_gap_fail": 0.10})  # score gap by group
def identity_probes(ctx: AuditContext) -> list[Finding]:
    t = ctx.thresholds
    results = identity_probe(ctx.model, templates=ctx.templates, lexicon=ctx.lexicon,
                             n_boot=ctx.n_boot, seed=ctx.seed)
    statuses = [_status(r["gap"], t["probe_gap_warn"], t["probe_gap_fail"]) for r in results]
    rows = [[r["category"], fmt_ci(r["gap"], r.get("gap_ci")), r["highest"], r["lowest"],
             ", ".join(list(r["terms"])[:2])] for r in results]
    worst_row = max(results, key=lambda r: r["gap"])
    fid = "fairness.identity_probes"
    summary = say(fid, "summary", n=len(results), worst=worst_row,
                  categories=", ".join(r["category"] for r in results))
    status = worst(statuses)
    return [Finding(fid, "fairness", status, say(fid, "title"), summary,
                    metrics={"categories": results},
                    tables=[Table(say(fid, "table"), ["category", "gap", "highest", "lowest",
                                                 "terms that move the score most"], rows)],
                    charts=[Chart(say(fid, "chart"),
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
        status = "fail" if is_input else _status(strength, t["proxy_auc_warn"],
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


def _names(features: list[str]) -> str:
    return ", ".join(repr(f) for f in features)


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
          needs=("sensitive", "binary"))
def mitigation(ctx: AuditContext) -> list[Finding]:
    train, test, sampled = _mitigation_rows(ctx)
    metrics, unjudged = _mitigate(ctx, train, test, sampled)
    if not metrics:
        return [Finding(MITIGATION, "fairness", "not_run", say(MITIGATION, "title"),
                        say(MITIGATION, "not_judged", features=_names(unjudged),
                            min_size=ctx.thresholds["min_group_size"]),
                        metrics={"unjudged": unjudged}, regulations=MITIGATION_REGS)]
    rows = [[r["feature"], say(MITIGATION, r["method"]), r["constraint"],
             *(f"{r['before'][m]:.3f} -> {r['after'][m]:.3f}"
               for m in ("accuracy", "demographic_parity_difference",
                         "equalized_odds_difference"))] for r in metrics.values()]
    return [Finding(MITIGATION, "fairness", "info", say(MITIGATION, "title"),
                    _mitigation_summary(ctx, metrics, unjudged, sampled), metrics=metrics,
                    tables=[Table(say(MITIGATION, "table"),
                                  ["feature", "method", "constraint", "accuracy",
                                   "demographic parity diff.", "equalized odds diff."], rows)],
                    regulations=MITIGATION_REGS)]


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
    metrics, unjudged = {}, []
    for feature in ctx.data.sensitive_names:
        idx = _judged_rows(s_test[feature], ctx.thresholds["min_group_size"])
        if s_test[feature].iloc[idx].nunique() < 2:
            unjudged.append(feature)
            continue
        for method, constraint, mitigator in mitigations(ctx.model, x_train, y_train,
                                                         s_train[feature]):
            result = before_after(ctx.model, mitigator, select_rows(x_test, idx), y_test[idx],
                                  s_test[feature].iloc[idx], seed=ctx.seed)
            key = f"{feature}/{constraint}" if method == "thresholds" else \
                f"{feature}/{constraint}/{method}"
            metrics[key] = result | {"method": method, "feature": feature,
                                     "constraint": constraint}
            if sampled:  # kept with each result: a reader of one entry sees it
                metrics[key]["sampled"] = sampled
    return metrics, unjudged


def _mitigation_summary(ctx: AuditContext, metrics: dict, unjudged: list, sampled: dict) -> str:
    best = min(metrics.values(), key=lambda r: r["after"]["demographic_parity_difference"])
    reduction = any(r["method"] == "reduction" for r in metrics.values())
    summary = say(MITIGATION, "summary", best=best, method=say(MITIGATION, best["method"]),
                  constraint=best["constraint"].replace("_", " "),
                  reduction=say(MITIGATION, "with_reduction") if reduction else "")
    if sampled:
        said = [say(MITIGATION, f"sampled_{split}", rows=sampled[split]["rows"],
                    of=sampled[split]["of"]) for split in ("train", "test") if split in sampled]
        summary += say(MITIGATION, "sampled", said=say(MITIGATION, "and").join(said))
    if unjudged:
        summary += say(MITIGATION, "unjudged", features=_names(unjudged),
                       min_size=ctx.thresholds["min_group_size"])
    return summary
