"""Robustness: do predictions hold under small changes to the input that should not matter?

The perturbations (typos, casing, commas and full stops for text; Gaussian noise on numeric
columns) and the changes they cause come from :mod:`trustml.robustness`; this check picks the
held-out inputs, judges the worst change and words it.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from trustml.checks._registry import AuditContext, register
from trustml.checks._words import say
from trustml.data import sample_rows
from trustml.report._finding import Finding, Table
from trustml.robustness import (
    changed_rows,
    noisy_columns,
    prediction_changes,
    tabular_variants,
    text_variants,
)

REGS = ["EU AI Act Art. 15", "NIST AI RMF MEASURE 2.5"]
MAX_ROWS = {"tabular": 1000, "text": 200}
FID = "robustness.perturbations"


def _not_run(why: str) -> list[Finding]:
    return [Finding(FID, "robustness", "info", say(FID, "title"),
                    say(FID, "not_run", why=say(FID, why)), regulations=REGS)]


def _perturbed(ctx: AuditContext) -> tuple[object, dict]:
    """Up to :data:`MAX_ROWS` held-out inputs and their perturbed variants by name; no variants
    for tabular data without a numeric input column to add noise to."""
    data, rng = ctx.data, np.random.default_rng(ctx.seed)
    x, y, _ = data.take("test")
    take = sample_rows(len(y), MAX_ROWS[data.kind], ctx.seed)
    keep = np.arange(len(y)) if take is None else take.positions
    if data.kind == "text":
        x = [x[i] for i in keep]
        return x, text_variants(x, rng)
    x = x.iloc[keep].reset_index(drop=True)
    train = data.take("train")[0]
    columns = noisy_columns(train)
    return x, (tabular_variants(x, rng, train[columns]) if columns else {})


@register("robustness", "robustness", clauses=REGS, model_dependent=True,
          thresholds={"max_flip_rate": 0.05})  # predictions changed by a small perturbation
def robustness(ctx: AuditContext) -> list[Finding]:
    x, variants = _perturbed(ctx)
    if not variants:
        return _not_run("no_numeric")
    changed = {name: changed_rows(x, v) for name, v in variants.items()}
    altered = {name: mask for name, mask in changed.items() if mask.any()}
    if not altered:
        return _not_run("unchanged")
    regression = ctx.data.task == "regression"
    changes = {which: prediction_changes(partial(ctx.outputs, adapter), x, variants, altered,
                                         regression=regression)
               for which, adapter in ctx.models.items()}
    return [_finding(ctx, len(x), changed, changes)]


def _finding(ctx: AuditContext, n: int, changed: dict, changes: dict) -> Finding:
    """The worst perturbation of the audited model judged against ``max_flip_rate`` (for
    regression, its mean change, for information), with every perturbation in a table."""
    data, regression = ctx.data, ctx.data.task == "regression"
    flips = changes["model"]
    limit = ctx.thresholds["max_flip_rate"]
    measure, key = (1, "mean_change") if regression else (0, "flip_rate")
    worst_name = max(flips, key=lambda name: flips[name][measure])
    worst_rate = flips[worst_name][0]
    if regression:
        status = "info"
        summary = say(FID, "regression", n=n, change=flips[worst_name][1], worst=worst_name)
    else:
        status = "pass" if worst_rate <= limit else "warn"
        summary = say(FID, "summary", n=n, unit="texts" if data.kind == "text" else "rows",
                      rate=worst_rate, worst=worst_name, altered=changed[worst_name].sum())
        if "baseline" in changes:
            summary += say(FID, "baseline", rate=changes["baseline"][worst_name][0])
    return Finding(
        FID, "robustness", status, say(FID, "title"), summary,
        metrics={f"{w}_{key}_worst": max(c[name][measure] for name in c)
                 for w, c in changes.items()} | {"rows": n},
        tables=[_table(changed, changes, regression)],
        thresholds={} if regression else {"max_flip_rate": limit}, regulations=REGS,
        recommendation="" if status != "warn" else say(
            FID, "advice", changes=say(FID, f"changes_{data.kind}")))


def _table(changed: dict, changes: dict, regression: bool) -> Table:
    """Per perturbation: inputs altered, and per model the share of answers changed
    (classification) and the mean change, over those inputs; blank where none was altered."""
    unit = "value" if regression else "probability"
    shown = [1] if regression else [0, 1]
    columns = ["change", "inputs altered",
               *(f"{w}: {['answers changed', f'mean {unit} change'][i]}"
                 for i in shown for w in changes)]
    rows = [[name, int(mask.sum()),
             *(round(changes[w][name][i], 4) if name in changes[w] else None
               for i in shown for w in changes)] for name, mask in changed.items()]
    return Table(say(FID, "table"), columns, rows)
