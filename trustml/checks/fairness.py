"""Fairness: group metrics per sensitive feature (Fairlearn), model versus baseline."""

from __future__ import annotations

import numpy as np

from trustml.checks._registry import AuditContext, register
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
    feature = gm["feature"]
    if not gm["comparable"]:
        judged = sum(r["judged"] for r in gm["by_group"])
        return (f"Only {judged} group(s) of {feature!r} have at least {t['min_group_size']} test "
                f"examples; groups {', '.join(map(repr, gm['small_groups']))} are too few to "
                "judge, so the groups cannot be compared.")
    dpd, eod = gm["demographic_parity_difference"], gm["equalized_odds_difference"]
    ci = gm.get("difference_ci", {}).get("selection_rate")
    text = (f"Across groups of {feature!r}, the share of positive decisions differs by up to "
            f"{dpd:.3f}" + (f" (95% interval {ci[0]:.3f} to {ci[1]:.3f})" if ci else "") +
            f" (demographic parity difference) and error rates by up to {eod:.3f} (equalized "
            "odds difference); 0 would be equal treatment.")
    if gm["four_fifths"] is False:
        text += (f" The least-selected group is chosen at {gm['demographic_parity_ratio']:.2f} "
                 "times the rate of the most-selected: below the four-fifths rule of thumb.")
    if gm["small_groups"]:
        text += (f" Groups {', '.join(map(repr, gm['small_groups']))} have fewer than "
                 f"{t['min_group_size']} test examples: too few to judge, so they are shown "
                 "but left out of the comparison.")
    return text


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
    rows = [[r["group"] + ("" if r["judged"] else " (too small)"), r["count"],
             *(fmt_ci(r[c], r.get(f"{c}_ci")) for c in columns[2:])] for r in gm["by_group"]]
    if gm["comparable"]:
        ratio = gm["error_ratio"]
        status = _status(ratio, t["error_ratio_warn"], t["error_ratio_fail"])
        ci = gm.get("error_ratio_ci")
        summary = (f"Across groups of {feature!r}, the mean absolute error of the worst-served "
                   f"group is {ratio:.2f} times that of the best-served"
                   + (f" (95% interval {ci[0]:.2f} to {ci[1]:.2f})" if ci and None not in ci
                      else "") + "; 1 would be equally accurate for everyone. Mean error "
                   "shows whether a group is systematically over- (positive) or "
                   "under-estimated (negative).")
    else:
        status = "warn"
        summary = (f"Fewer than two groups of {feature!r} have at least {t['min_group_size']} "
                   "test examples, so the groups cannot be compared.")
    if gm["small_groups"]:
        status = worst([status, "warn"])
        summary += (f" Groups {', '.join(map(repr, gm['small_groups']))} are too small to "
                    "judge and are left out of the comparison.")
    return Finding(
        f"fairness.group_metrics.{feature}", "fairness", status,
        f"Error by {feature} (regression)", summary, metrics=gm,
        headline=figure(f"Error ratio by {feature}", gm.get("error_ratio"), "mean absolute "
                        "error of the worst-served group over the best-served (1 is equal)",
                        gm.get("error_ratio_ci")),
        tables=[Table(f"Errors by {feature} (test split, 95% bootstrap intervals)", columns,
                      rows)],
        charts=[Chart(f"Mean absolute error by {feature}", [r["group"] for r in gm["by_group"]],
                      [r["mean_absolute_error"] or 0.0 for r in gm["by_group"]])],
        thresholds={k: t[k] for k in ("error_ratio_warn", "error_ratio_fail",
                                      "min_group_size")},
        regulations=REGS,
        recommendation="" if status == "pass" else "Examine why the model is less accurate "
        "for some groups: representation in the training data, and proxies.")


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
        return [Finding("fairness.group_metrics", "fairness", "not_run", "No sensitive features",
                        "Not run: the data set names no sensitive features, so outcomes could not "
                        "be compared between groups of people.",
                        recommendation="Pass sensitive= columns (e.g. sex, age) to audit "
                        "group fairness.")]
    if data.task == "regression":
        return [_regression_finding(ctx, target) for target in _views(ctx)]
    if data.task != "binary":
        return [Finding("fairness.group_metrics", "fairness", "info",
                        "Group metrics need a binary or regression task",
                        "Group metrics here compare binary decisions or regression errors; "
                        f"this is a {data.task} task.", regulations=REGS)]
    _, y, _ = data.take("test")
    score, pred = ctx.test_predictions("model")
    base_pred = ctx.test_predictions("baseline")[1] if ctx.baseline is not None else None
    return [_binary_finding(ctx, target, y, score, pred, base_pred) for target in _views(ctx)]


def _gap_figure(gm: dict) -> dict:
    label = f"Fairness gap by {gm['feature']}"
    if not gm["comparable"]:
        return figure(label, None, "groups too small to compare")
    eod = gm["equalized_odds_difference"]
    return figure(label, gm["demographic_parity_difference"],
                  "demographic parity difference (share of positive decisions)"
                  + (f"; equalized odds difference {eod:.3f}" if eod is not None else ""),
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
    rows = [[r["group"] + ("" if r["judged"] else " (too small)"), r["count"],
             *(fmt_ci(r[c], r.get(f"{c}_ci")) for c in columns[2:])] for r in gm["by_group"]]
    tables = [Table(f"Metrics by {feature} (test split, 95% bootstrap intervals)", columns, rows)]
    if base_pred is not None:
        change = paired_accuracy_change(y, pred, base_pred, target, n_boot=ctx.n_boot,
                                        seed=ctx.seed)
        gm["dp_accuracy_change"] = change
        tables.append(Table(f"Cost of privacy by {feature}: accuracy of the audited model "
                            "minus the non-private baseline",
                            ["group", "count", "accuracy change"],
                            [[c["group"], c["count"], fmt_ci(c["change"], c.get("change_ci"))]
                             for c in change]))
    clip = (ctx.privacy.clipped_fraction_by_group.get(feature)
            if ctx.privacy is not None else None)
    if clip:
        gm["clipped_fraction_by_group"] = clip
        tables.append(Table(f"Clipped per-sample gradients by {feature} (DP training): "
                            "groups clipped more lose more accuracy to privacy",
                            ["group", "clipped fraction"],
                            [[g, f"{v:.1%}"] for g, v in clip.items()]))
    status = _verdict(gm, t)
    return Finding(
        f"fairness.group_metrics.{feature}", "fairness", status,
        f"Group fairness by {feature}", _summary(gm, t), metrics=gm, tables=tables,
        headline=_gap_figure(gm),
        charts=[Chart(f"Selection rate by {feature}", [r["group"] for r in gm["by_group"]],
                      [r["selection_rate"] or 0.0 for r in gm["by_group"]])],
        thresholds={k: t[k] for k in ("parity_difference_warn", "parity_difference_fail",
                                      "min_group_size")} | {"four_fifths": 0.8},
        regulations=REGS,
        recommendation="" if status == "pass" else "Examine why groups are treated "
        "differently (proxies, representation), collect more data for small groups, and "
        "consider mitigation such as group-specific thresholds.")


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
    summary = (f"Sentences that differ only in who they mention ({len(results)} categories: "
               f"{', '.join(r['category'] for r in results)}) should get the same score. The "
               f"largest gap is in {worst_row['category']}: {worst_row['highest']!r} scores "
               f"{worst_row['gap']:.3f} higher than {worst_row['lowest']!r} on average.")
    status = worst(statuses)
    return [Finding("fairness.identity_probes", "fairness", status,
                    "Counterfactual identity probes", summary,
                    metrics={"categories": results},
                    tables=[Table("Score gap between identity groups (95% interval over "
                                  "templates)", ["category", "gap", "highest", "lowest",
                                                 "terms that move the score most"], rows)],
                    charts=[Chart("Largest score gap per category",
                                  [r["category"] for r in results],
                                  [r["gap"] for r in results])],
                    thresholds={k: t[k] for k in ("probe_gap_warn", "probe_gap_fail")},
                    regulations=REGS,
                    recommendation="" if status == "pass" else "The model's output depends on "
                    "who a text mentions: review training data for these groups, and consider "
                    "counterfactual data augmentation.")]


@register("proxies", "fairness", clauses=PROXY_REGS, needs=("tabular", "sensitive"),
          thresholds={"proxy_auc_warn": 0.70,   # inputs predicting a sensitive attribute
                      "proxy_auc_fail": 0.90})  # this well (ROC AUC)
def proxies(ctx: AuditContext) -> list[Finding]:
    data = ctx.data
    t = ctx.thresholds
    x, _, sens = data.take("train")
    inputs = set(map(str, x.columns))
    findings = []
    for feature in data.sensitive_names:
        result = proxy_strength(x, sens[feature], seed=ctx.seed)
        is_input = feature in inputs
        top = result["by_feature"][0] if result["by_feature"] else None
        strength = max(result["joint_auc"], top["auc"] if top else 0.0)
        status = "fail" if is_input else _status(strength, t["proxy_auc_warn"],
                                                  t["proxy_auc_fail"])
        text = (f"{feature!r} is itself a model input. " if is_input else
                f"{feature!r} is not a model input. ")
        text += (f"From the inputs together it can be predicted with ROC AUC "
                 f"{result['joint_auc']:.2f} (0.5 = not at all, 1 = perfectly)")
        if top:
            text += f"; the strongest single proxy is {top['input']!r} (AUC {top['auc']:.2f})."
        result["is_input"] = is_input
        findings.append(Finding(
            f"fairness.proxies.{feature}", "fairness", status, f"Proxies for {feature}", text,
            metrics=result,
            tables=[Table(f"How well each input predicts {feature} (cross-validated ROC AUC, "
                          f"{result['rows']} training rows)", ["input", "AUC"],
                          [[r["input"], round(r["auc"], 3)] for r in result["by_feature"]])],
            thresholds={k: t[k] for k in ("proxy_auc_warn", "proxy_auc_fail")},
            regulations=PROXY_REGS,
            recommendation="" if status == "pass" else "Leaving the sensitive column out does "
            "not keep the model from using it: check the strongest proxies and whether they "
            "are needed."))
    return findings


def _names(features: list[str]) -> str:
    return ", ".join(repr(f) for f in features)


def _judged_rows(groups, min_size: int) -> np.ndarray:
    """Positions of the test rows in groups large enough to judge: the groups the fairness
    finding compares, so mitigation's "before" is the finding's gap."""
    sizes = groups.map(groups.value_counts())
    return np.flatnonzero(sizes.to_numpy() >= min_size)


METHODS = {"thresholds": "group-specific thresholds (ThresholdOptimizer)",
           "reduction": "retrained under a constraint (ExponentiatedGradient)"}


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
        return [Finding("fairness.mitigation", "fairness", "not_run", "What mitigation would cost",
                        f"Not judged: fewer than two groups of {_names(unjudged)} have "
                        f"{ctx.thresholds['min_group_size']} held-out rows or more "
                        "(min_group_size), so no gap between groups can be measured or "
                        "mitigated.", metrics={"unjudged": unjudged},
                        regulations=MITIGATION_REGS)]
    rows = [[r["feature"], METHODS[r["method"]], r["constraint"],
             *(f"{r['before'][m]:.3f} -> {r['after'][m]:.3f}"
               for m in ("accuracy", "demographic_parity_difference",
                         "equalized_odds_difference"))] for r in metrics.values()]
    return [Finding("fairness.mitigation", "fairness", "info",
                    "What mitigation would cost",
                    _mitigation_summary(ctx, metrics, unjudged, sampled), metrics=metrics,
                    tables=[Table("Before -> after mitigation (test split, groups large "
                                  "enough to judge)",
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
    summary = ("Mitigation can trade accuracy for equal treatment: group-specific decision "
               "thresholds work on any model"
               + (", and scikit-learn models can be retrained under a fairness constraint"
                  if any(r["method"] == "reduction" for r in metrics.values()) else "")
               + ". Both are fitted on the training rows and judged on held-out data, over "
               "the groups large enough to judge (as the group fairness findings are). The "
               f"fairest option by {best['feature']!r} is {METHODS[best['method']]} under "
               f"{best['constraint'].replace('_', ' ')}: accuracy "
               f"{best['before']['accuracy']:.3f} -> {best['after']['accuracy']:.3f}, "
               "demographic parity difference "
               f"{best['before']['demographic_parity_difference']:.3f} -> "
               f"{best['after']['demographic_parity_difference']:.3f}.")
    if sampled:
        said = [f"fitted on a random {sampled['train']['rows']:,} of the "
                f"{sampled['train']['of']:,} training rows"] if "train" in sampled else []
        said += [f"judged on a random {sampled['test']['rows']:,} of the "
                 f"{sampled['test']['of']:,} held-out rows (so the 'before' gaps are that "
                 "sample's, not the group findings' exactly)"] if "test" in sampled else []
        summary += " To bound its cost on large data, mitigation was " + " and ".join(said) + "."
    if unjudged:
        summary += (f" Not judged: {_names(unjudged)}, with fewer than two groups of "
                    f"{ctx.thresholds['min_group_size']} held-out rows or more.")
    return summary
