"""Parts of the fairness findings (:mod:`trustml.checks.fairness`): the judging and tables
every task shares, the group fairness of a multiclass model, and mitigation for multiclass and
regression models."""

from __future__ import annotations

from trustml.checks._registry import AuditContext
from trustml.checks._words import say
from trustml.fairness import (
    MULTICLASS_REFUSALS,
    multiclass_group_metrics,
    paired_accuracy_change,
)
from trustml.fairness._bootstrap import ONE_VS_REST, one_vs_rest
from trustml.report._finding import Chart, Finding, Table, figure, fmt_ci, worst

REGS = ["EU AI Act Art. 10", "EU AI Act Art. 15", "NIST AI RMF MEASURE 2.11"]
MITIGATION_REGS = ["EU AI Act Art. 9", "EU AI Act Art. 10", "NIST AI RMF MANAGE 1.3"]
GROUPS, MITIGATION = "fairness.group_metrics", "fairness.mitigation"
# the headline gaps of a multiclass model, each judged against the parity thresholds
MULTICLASS_GAPS = ("accuracy_difference", "demographic_parity_difference",
                   "equalized_odds_difference")


def status_of(value: float | None, warn: float, fail: float) -> str:
    """"fail" above ``fail``, "warn" above ``warn``, else "pass"; "info" without a value."""
    if value is None:
        return "info"
    return "fail" if value > fail else "warn" if value > warn else "pass"


def names(features: list[str]) -> str:
    """Feature or group names for a sentence: ``'a', 'b'``."""
    return ", ".join(repr(f) for f in features)


def group_rows(gm: dict, columns: list[str]) -> list[list]:
    """Table rows of ``gm``'s groups over ``columns`` (after group and count), with intervals."""
    return [[r["group"] + ("" if r["judged"] else say(GROUPS, "too_small")), r["count"],
             *(fmt_ci(r[c], r.get(f"{c}_ci")) for c in columns[2:])] for r in gm["by_group"]]


def incomparable(gm: dict, t: dict) -> str:
    """Why the groups of ``gm`` cannot be compared: too few large enough to judge."""
    judged = sum(r["judged"] for r in gm["by_group"])
    return say(GROUPS, "incomparable", judged=judged, feature=gm["feature"],
               min_size=t["min_group_size"], small=names(gm["small_groups"]))


def group_finding(gm: dict, status: str, title: str, summary: str, *, tables: list,
                  headline: dict, chart: str, metric: str, thresholds: dict,
                  advice: str) -> Finding:
    """The group fairness finding of ``gm`` (one feature or their intersection), for any task:
    the words come worded; the chart plots ``metric`` per group; ``advice`` unless it passes."""
    return Finding(f"{GROUPS}.{gm['feature']}", "fairness", status, title, summary, metrics=gm,
                   tables=tables, headline=headline,
                   charts=[Chart(chart, [r["group"] for r in gm["by_group"]],
                                 [r[metric] or 0.0 for r in gm["by_group"]])],
                   thresholds=thresholds, regulations=REGS,
                   recommendation="" if status == "pass" else advice)


def privacy_tables(ctx: AuditContext, gm: dict, y, pred, base_pred, target) -> list[Table]:
    """The cost of privacy per group (accuracy of the audited model minus its non-private
    baseline's, paired) and DP clipping per group where recorded; both also added to ``gm``."""
    feature, tables = gm["feature"], []
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
    return tables


# ----------------------------------------------------------------- multiclass group fairness
def multiclass_finding(ctx: AuditContext, target, y, pred, base_pred) -> Finding:
    """Group metrics of a multiclass model over ``target`` (a sensitive feature, or their
    intersection): accuracy, balanced accuracy and each class against the rest, judged by the
    largest differences between groups (:data:`MULTICLASS_GAPS`)."""
    t = ctx.thresholds
    gm = multiclass_group_metrics(y, pred, target, classes=ctx.data.class_names,
                                  min_group_size=t["min_group_size"], n_boot=ctx.n_boot,
                                  seed=ctx.seed)
    feature = gm["feature"]
    columns = ["group", "count", "accuracy", "balanced_accuracy"]
    tables = [Table(say(GROUPS, "table_multiclass", feature=feature), columns,
                    group_rows(gm, columns)), *_class_tables(gm)]
    tables += privacy_tables(ctx, gm, y, pred, base_pred, target)
    status = _multiclass_verdict(gm, t)
    headline = (figure(say(GROUPS, "label", feature=feature), None,
                       say(GROUPS, "headline_incomparable")) if not gm["comparable"] else
                figure(say(GROUPS, "label", feature=feature), gm["demographic_parity_difference"],
                       say(GROUPS, "headline_multiclass", dp_class=gm["demographic_parity_class"])
                       + say(GROUPS, "headline_odds", eod=gm["equalized_odds_difference"]),
                       gm["demographic_parity_difference_ci"]))
    return group_finding(
        gm, status, say(GROUPS, "title", feature=feature), _multiclass_summary(gm, t),
        tables=tables, headline=headline, chart=say(GROUPS, "chart_multiclass", feature=feature),
        metric="accuracy", thresholds={k: t[k] for k in ("parity_difference_warn",
                                                         "parity_difference_fail",
                                                         "min_group_size")},
        advice=say(GROUPS, "advice_multiclass"))


def _multiclass_verdict(gm: dict, t: dict) -> str:
    if not gm["comparable"]:
        return "warn"
    status = worst([status_of(gm[gap], t["parity_difference_warn"],
                              t["parity_difference_fail"]) for gap in MULTICLASS_GAPS])
    return worst([status, "warn"]) if gm["small_groups"] else status


def _multiclass_summary(gm: dict, t: dict) -> str:
    if not gm["comparable"]:
        return incomparable(gm, t)
    ci = gm["accuracy_difference_ci"]
    text = say(GROUPS, "summary_multiclass", feature=gm["feature"],
               acc=gm["accuracy_difference"],
               interval=say(GROUPS, "interval", low=ci[0], high=ci[1])
               if ci and None not in ci else "",
               dpd=gm["demographic_parity_difference"], dp_class=gm["demographic_parity_class"],
               eod=gm["equalized_odds_difference"], eo_class=gm["equalized_odds_class"])
    if gm["small_groups"]:
        text += say(GROUPS, "small_groups", small=names(gm["small_groups"]),
                    min_size=t["min_group_size"])
    return text


def _class_tables(gm: dict) -> list[Table]:
    """Each class against the rest per group and, when the groups compare, the largest
    difference between them per class."""
    feature = gm["feature"]
    rows = [[label, r["group"] + ("" if r["judged"] else say(GROUPS, "too_small")), r["count"],
             *(fmt_ci(r[one_vs_rest(m, label)], r.get(f"{one_vs_rest(m, label)}_ci"))
               for m in ONE_VS_REST)]
            for label in gm["classes"] for r in gm["by_group"]]
    tables = [Table(say(GROUPS, "class_table", feature=feature),
                    ["class", "group", "count", *ONE_VS_REST], rows)]
    if gm["comparable"]:
        tables.append(Table(
            say(GROUPS, "gap_table", feature=feature),
            ["class", *(f"{m}_difference" for m in ONE_VS_REST), "equalized_odds_difference"],
            [[c["class"], *(fmt_ci(c[f"{m}_difference"], c[f"{m}_difference_ci"])
                            for m in (*ONE_VS_REST, "equalized_odds"))]
             for c in gm["by_class"]]))
    return tables


# ------------------------------------------------------------ mitigation beyond binary models
def multiclass_mitigation(ctx: AuditContext) -> Finding:
    """Not run, with the reason: which of Fairlearn's mitigations exist and why none applies
    to a multiclass model (:data:`trustml.fairness.MULTICLASS_REFUSALS`)."""
    refusals = say(MITIGATION, "refusal_separator").join(
        say(MITIGATION, f"refusal_{why}", method=method) for method, why in MULTICLASS_REFUSALS)
    return Finding(MITIGATION, "fairness", "not_run", say(MITIGATION, "title"),
                   say(MITIGATION, "multiclass", k=len(ctx.data.class_names), refusals=refusals),
                   metrics={"refusals": [{"method": m, "why": why}
                                         for m, why in MULTICLASS_REFUSALS]},
                   regulations=MITIGATION_REGS,
                   recommendation=say(MITIGATION, "advice_multiclass"))


def not_retrainable(ctx: AuditContext) -> Finding:
    """Not run: a regression model that Fairlearn's reductions cannot retrain."""
    facts = ctx.model.describe()
    kind = facts.get("estimator") or facts.get("architecture") or facts.get("kind")
    return Finding(MITIGATION, "fairness", "not_run", say(MITIGATION, "title"),
                   say(MITIGATION, "not_retrainable", kind=kind), regulations=MITIGATION_REGS)


def regression_mitigation(metrics: dict) -> tuple[str, Table]:
    """The summary and table of retraining a regression model under bounded group loss; the
    summary names the feature whose error ratio was largest before."""
    row = max(metrics.values(), key=lambda r: r["before"]["error_ratio"] or 0.0)
    rows = [[r["feature"], say(MITIGATION, r["method"]), r["constraint"],
             *(_change(r, m) for m in ("mean_squared_error", "worst_group_mean_squared_error",
                                       "error_ratio"))] for r in metrics.values()]
    return (say(MITIGATION, "summary_regression", row=row),
            Table(say(MITIGATION, "table_regression"),
                  ["feature", "method", "constraint", "mean squared error",
                   "worst group's mean squared error", "error ratio"], rows))


def _change(row: dict, metric: str) -> str:
    before, after = row["before"][metric], row["after"][metric]
    return "n/a" if before is None or after is None else f"{before:.4g} -> {after:.4g}"
