"""Fairness: group metrics per sensitive feature (Fairlearn), model versus baseline."""

from __future__ import annotations

from trustml.checks._finding import Chart, Finding, Table, worst
from trustml.checks._registry import AuditContext, register
from trustml.fairness import group_metrics

REGS = ["EU AI Act Art. 10", "EU AI Act Art. 15", "NIST AI RMF MEASURE 2.11"]


def _status(value: float | None, warn: float, fail: float) -> str:
    if value is None:
        return "info"
    return "fail" if value > fail else "warn" if value > warn else "pass"


@register("fairness", "fairness")
def fairness(ctx: AuditContext) -> list[Finding]:
    data = ctx.data
    if not data.sensitive_names:
        return [Finding("fairness.group_metrics", "fairness", "info", "No sensitive features",
                        "The data set names no sensitive features, so outcomes could not be "
                        "compared between groups of people.", regulations=REGS,
                        recommendation="Pass sensitive= columns (e.g. sex, age) to audit "
                        "group fairness.")]
    if data.task != "binary":
        return [Finding("fairness.group_metrics", "fairness", "info",
                        "Group metrics need a binary task",
                        f"Group metrics here compare binary decisions; this is a {data.task} "
                        "task.", regulations=REGS)]
    _, y, sens = data.take("test")
    _, pred = ctx.test_predictions("model")
    base_pred = ctx.test_predictions("baseline")[1] if ctx.baseline is not None else None
    t = ctx.thresholds
    findings = []
    for feature in data.sensitive_names:
        gm = group_metrics(y, pred, sens[feature], min_group_size=t["min_group_size"])
        dpd, eod = gm["demographic_parity_difference"], gm["equalized_odds_difference"]
        status = worst([_status(dpd, t["parity_difference_warn"], t["parity_difference_fail"]),
                        _status(eod, t["parity_difference_warn"], t["parity_difference_fail"])])
        columns = ["group", "count", "accuracy", "selection_rate", "true_positive_rate",
                   "false_positive_rate"]
        rows = [[r[c] if not isinstance(r[c], float) else round(r[c], 4) for c in columns]
                for r in gm["by_group"]]
        if base_pred is not None:
            base = group_metrics(y, base_pred, sens[feature], min_group_size=t["min_group_size"])
            gm["baseline"] = base
            columns.append("baseline_accuracy")
            for row, b in zip(rows, base["by_group"]):
                row.append(None if b["accuracy"] is None else round(b["accuracy"], 4))
        summary = (f"Across groups of {feature!r}, the share of positive decisions differs by "
                   f"up to {dpd:.3f} (demographic parity difference) and error rates by up to "
                   f"{eod:.3f} (equalized odds difference); 0 would be equal treatment.")
        if gm["small_groups"]:
            status = worst([status, "warn"])
            summary += (f" Groups {', '.join(map(repr, gm['small_groups']))} have fewer than "
                        f"{t['min_group_size']} test examples: too few to judge reliably.")
        findings.append(Finding(
            f"fairness.group_metrics.{feature}", "fairness", status,
            f"Group fairness by {feature}", summary, metrics=gm,
            tables=[Table(f"Metrics by {feature} (test split)", columns, rows)],
            charts=[Chart(f"Selection rate by {feature}", [r["group"] for r in gm["by_group"]],
                          [r["selection_rate"] or 0.0 for r in gm["by_group"]])],
            thresholds={k: t[k] for k in ("parity_difference_warn", "parity_difference_fail",
                                          "min_group_size")},
            regulations=REGS,
            recommendation="" if status == "pass" else "Examine why groups are treated "
            "differently (proxies, representation), and consider mitigation such as "
            "group-specific thresholds."))
    return findings


@register("data_quality", "data quality")
def representation(ctx: AuditContext) -> list[Finding]:
    data = ctx.data
    rows = []
    if data.task != "regression":
        counts = {name: int((data.labels == i).sum()) for i, name in enumerate(data.class_names)}
        rows += [["label", k, v, round(v / data.n_rows, 4)] for k, v in counts.items()]
    for feature in data.sensitive_names:
        vc = data.sensitive[feature].value_counts()
        rows += [[feature, str(g), int(n), round(n / data.n_rows, 4)] for g, n in vc.items()]
    shares = [r[3] for r in rows]
    smallest = min(shares) if shares else 1.0
    status = "warn" if smallest < 0.05 else "info"
    summary = (f"{data.n_rows} rows ({len(data.train_idx)} for training, {len(data.test_idx)} "
               f"held out). The smallest class or group makes up {smallest:.1%} of the data.")
    if status == "warn":
        summary += " Groups this small are hard to learn and to judge."
    return [Finding("data_quality.representation", "data quality", status,
                    "Class balance and group representation", summary,
                    metrics={"rows": data.n_rows, "smallest_share": smallest},
                    tables=[Table("Shares of the data", ["column", "value", "rows", "share"],
                                  rows)],
                    thresholds={"warn_below_share": 0.05},
                    regulations=["EU AI Act Art. 10", "NIST AI RMF MEASURE 2.11"])]
