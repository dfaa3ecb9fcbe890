"""Data quality: class balance, group representation, missing values, duplicates and train /
test leakage."""

from __future__ import annotations

from trustml.checks._registry import AuditContext, register
from trustml.checks._words import say
from trustml.data import split_overlap
from trustml.report._finding import Finding, Table

REGS = ["EU AI Act Art. 10", "NIST AI RMF MEASURE 2.11"]


@register("data_quality", "data quality", clauses=REGS,
          thresholds={"min_group_share": 0.05})  # smaller classes or groups are hard to judge
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
    limit = ctx.thresholds["min_group_share"]
    status = "warn" if smallest < limit else "info"
    fid = "data_quality.representation"
    summary = say(fid, "summary", rows=data.n_rows, train=len(data.train_idx),
                  test=len(data.test_idx), smallest=smallest)
    if status == "warn":
        summary += say(fid, "warn")
    return [Finding(fid, "data quality", status, say(fid, "title"), summary,
                    metrics={"rows": data.n_rows, "smallest_share": smallest},
                    tables=[Table(say(fid, "table"), ["column", "value", "rows", "share"], rows)],
                    thresholds={"min_group_share": limit},
                    regulations=REGS)]


@register("duplicates", "data quality", clauses=REGS,
          thresholds={"max_test_in_train": 0.01})  # held-out rows also in the training split
def duplicates(ctx: AuditContext) -> list[Finding]:
    x_train, y_train, _ = ctx.data.take("train")
    x_test, y_test, _ = ctx.data.take("test")
    out = split_overlap(x_train, y_train, x_test, y_test)
    leak = out["share_test_in_train"]
    limit = ctx.thresholds["max_test_in_train"]
    # When the inputs take few distinct values, different people share a row by chance.
    inherent = out["share_distinct_train"] < 0.9
    status = "pass" if leak <= limit else "warn"
    unit = "texts" if ctx.data.kind == "text" else "rows"
    fid = "data_quality.duplicates"
    summary = say(fid, "summary", out=out, unit=unit, leak=leak)
    if status == "warn" and inherent:
        summary += say(fid, "inherent", out=out, unit=unit)
    elif leak:
        summary += say(fid, "leak", unit=unit)
    return [Finding(fid, "data quality", status, say(fid, "title"), summary, metrics=out,
                    thresholds={"max_test_in_train": limit}, regulations=REGS,
                    recommendation="" if status != "warn" else
                    say(fid, "advice_inherent" if inherent else "advice"))]


@register("missing_values", "data quality", clauses=REGS,
          thresholds={"max_dropped_share": 0.05})  # rows left out for missing values
def missing_values(ctx: AuditContext) -> list[Finding]:
    data = ctx.data
    counts, dropped = data.missing["columns"], data.missing["dropped_rows"]
    source_rows = data.n_rows + dropped
    share = dropped / source_rows
    limit = ctx.thresholds["max_dropped_share"]
    # inputs and the label cannot be missing in kept rows; sensitive-only columns keep the row
    left_out = set(data.features.columns if data.kind == "tabular" else []) | {data.label_name}
    fid = "data_quality.missing"
    rows = [[col, n, round(n / source_rows, 4),
             say(fid, "left_out" if col in left_out else "kept")] for col, n in counts.items()]
    if not counts:
        status, summary = "pass", say(fid, "none", rows=source_rows)
    else:
        status = "warn" if share > limit else "info"
        summary = say(fid, "summary", missing=sum(counts.values()), columns=len(counts),
                      rows=source_rows, dropped=dropped, share=share)
        if status == "warn":
            summary += say(fid, "warn")
    return [Finding(fid, "data quality", status, say(fid, "title"), summary,
                    metrics={"missing_values": sum(counts.values()), "dropped_rows": dropped,
                             "dropped_share": share},
                    tables=[Table(say(fid, "table"), ["column", "missing", "share", "handling"],
                                  rows)] if rows else [],
                    thresholds={"max_dropped_share": limit}, regulations=REGS,
                    recommendation="" if status != "warn" else say(fid, "advice"))]
