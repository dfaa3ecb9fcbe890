"""Data quality: class balance, group representation, missing values, duplicates and train /
test leakage."""

from __future__ import annotations

from trustml.checks._registry import AuditContext, register
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
    summary = (f"{data.n_rows} rows ({len(data.train_idx)} for training, {len(data.test_idx)} "
               f"held out). The smallest class or group makes up {smallest:.1%} of the data.")
    if status == "warn":
        summary += " Groups this small are hard to learn and to judge."
    return [Finding("data_quality.representation", "data quality", status,
                    "Class balance and group representation", summary,
                    metrics={"rows": data.n_rows, "smallest_share": smallest},
                    tables=[Table("Shares of the data", ["column", "value", "rows", "share"],
                                  rows)],
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
    summary = (f"{out['test_rows_in_train']} of {out['test_rows']} held-out {unit} ({leak:.1%}) "
               f"also appear, with the same label, in the training split, and the training split "
               f"holds {out['train_duplicates']} exact duplicates.")
    if status == "warn" and inherent:
        summary += (f" Only {out['share_distinct_train']:.0%} of the training {unit} are "
                    "distinct: the inputs take few values, so identical rows are expected for "
                    "different people rather than copies of one record; still, held-out scores "
                    "then measure recall of seen rows as much as generalisation.")
    elif leak:
        summary += (f" Held-out {unit} seen in training make test scores look better than they "
                    "are, and a membership attack mistakes them for members.")
    return [Finding("data_quality.duplicates", "data quality", status,
                    "Duplicates and train / test leakage", summary, metrics=out,
                    thresholds={"max_test_in_train": limit}, regulations=REGS,
                    recommendation="" if status != "warn" else (
                        "Judge the model on rows unlike the training ones as well (a later "
                        "period, another site), since identical rows are inherent here."
                        if inherent else "Deduplicate before splitting, so that no held-out "
                        "example is also a training example."))]


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
    rows = [[col, n, round(n / source_rows, 4),
             "row left out" if col in left_out else "kept as the group 'missing'"]
            for col, n in counts.items()]
    if not counts:
        status, summary = "pass", (f"No value is missing (or infinite) in the {source_rows} "
                                   "rows: inputs, label and sensitive features.")
    else:
        status = "warn" if share > limit else "info"
        summary = (f"{sum(counts.values())} values are missing in {len(counts)} column(s) of the "
                   f"{source_rows} source rows; {dropped} rows ({share:.1%}) were left out "
                   "because an input or the label was missing.")
        if status == "warn":
            summary += (" Leaving out this many rows can shift who the data represents: the "
                        "audited data may no longer match the population the model serves.")
    return [Finding("data_quality.missing", "data quality", status, "Missing values", summary,
                    metrics={"missing_values": sum(counts.values()), "dropped_rows": dropped,
                             "dropped_share": share},
                    tables=[Table("Missing values by column",
                                  ["column", "missing", "share", "handling"], rows)] if rows
                    else [],
                    thresholds={"max_dropped_share": limit}, regulations=REGS,
                    recommendation="" if status != "warn" else "Impute the missing values, or "
                    "check that the rows left out are spread evenly over the groups.")]
