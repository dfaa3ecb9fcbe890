"""Robustness: do predictions hold under small changes to the input that should not matter?

Text gets a typo (two adjacent letters swapped in one word), lower case, or its commas and full
stops removed (other punctuation can carry meaning, as in emoticons); tabular data gets
Gaussian noise of 5% and 10% of each numeric column's spread.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from trustml.checks._registry import AuditContext, register
from trustml.data import select_rows
from trustml.report._finding import Finding, Table

REGS = ["EU AI Act Art. 15", "NIST AI RMF MEASURE 2.5"]
NOISE_SCALES = (0.05, 0.10)  # of each numeric column's standard deviation
MAX_ROWS = {"tabular": 1000, "text": 200}
_COMMAS_STOPS = re.compile(r"[.,]")
_WORD = re.compile(r"[A-Za-z]{4,}")


def typo(text: str, rng: np.random.Generator) -> str:
    """``text`` with two different adjacent inner letters (neither the first nor the last) of
    one word of 4+ letters swapped; unchanged when no word has such a pair."""
    pairs = [i for word in _WORD.finditer(text)
             for i in range(word.start() + 1, word.end() - 2) if text[i] != text[i + 1]]
    if not pairs:
        return text
    i = pairs[rng.integers(len(pairs))]
    return text[:i] + text[i + 1] + text[i] + text[i + 2:]


def text_variants(texts, rng: np.random.Generator) -> dict[str, list[str]]:
    """Small edits that keep the meaning: a typo, lower case, commas and full stops dropped."""
    return {"one typo": [typo(t, rng) for t in texts],
            "lower case": [t.lower() for t in texts],
            "no commas or full stops": [_COMMAS_STOPS.sub("", t).strip() or t for t in texts]}


def noisy_columns(x: pd.DataFrame) -> list[str]:
    """Numeric, non-boolean columns with more than two values: the ones noise can move."""
    return [c for c in x.columns if pd.api.types.is_numeric_dtype(x[c])
            and not pd.api.types.is_bool_dtype(x[c]) and x[c].nunique() > 2]


def tabular_variants(x: pd.DataFrame, rng: np.random.Generator,
                     reference: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``x`` with Gaussian noise of each scale in :data:`NOISE_SCALES` times the standard
    deviation in ``reference`` (training rows) added to the columns of ``reference``; integer
    columns are rounded and kept within the reference's range, so they stay valid values."""
    spread, low, high = reference.std(), reference.min(), reference.max()
    out = {}
    for scale in NOISE_SCALES:
        noisy = x.copy()
        for col in reference.columns:
            values = x[col].to_numpy(dtype=float) + rng.normal(0, scale * spread[col], len(x))
            if pd.api.types.is_integer_dtype(x[col]):
                values = np.clip(np.round(values), low[col], high[col]).astype(x[col].dtype)
            noisy[col] = values
        out[f"noise {scale:.0%} of spread"] = noisy
    return out


def changed_rows(x, variant) -> np.ndarray:
    """Which rows (texts) of ``variant`` differ from ``x``."""
    if isinstance(x, pd.DataFrame):
        return (x.to_numpy() != variant.to_numpy()).any(axis=1)
    return np.array([a != b for a, b in zip(x, variant)])


def _changes(before: np.ndarray, after: np.ndarray, regression: bool) -> tuple[float, float]:
    """Share of answers changed (NaN for regression) and mean absolute change (of the
    originally predicted class's probability, or of the predicted value)."""
    if regression:
        return float("nan"), float(np.mean(np.abs(after - before)))
    pred = before.argmax(axis=1)
    rows = np.arange(len(pred))
    return (float(np.mean(after.argmax(axis=1) != pred)),
            float(np.mean(np.abs(after[rows, pred] - before[rows, pred]))))


@register("robustness", "robustness")
def robustness(ctx: AuditContext) -> list[Finding]:
    data, rng = ctx.data, np.random.default_rng(ctx.seed)
    x, y, _ = data.take("test")
    keep = np.sort(rng.permutation(len(y))[:MAX_ROWS[data.kind]])
    if data.kind == "text":
        x = [x[i] for i in keep]
        variants = text_variants(x, rng)
    else:
        x = x.iloc[keep].reset_index(drop=True)
        train = data.take("train")[0]
        columns = noisy_columns(train)
        if not columns:
            return [Finding("robustness.perturbations", "robustness", "info",
                            "Consistency under small input changes", "Not run: no numeric input "
                            "column to add noise to.", regulations=REGS)]
        variants = tabular_variants(x, rng, train[columns])
    regression = data.task == "regression"
    changed = {name: changed_rows(x, v) for name, v in variants.items()}
    measured = [name for name in variants if changed[name].any()]
    if not measured:
        return [Finding("robustness.perturbations", "robustness", "info",
                        "Consistency under small input changes", "Not run: no perturbation "
                        "changed any input.", regulations=REGS)]
    changes = {}
    for which, adapter in ctx.models.items():
        before = ctx.outputs(adapter, x)
        # over the inputs each perturbation altered: an untouched input cannot flip
        changes[which] = {name: _changes(before[changed[name]], ctx.outputs(
            adapter, select_rows(variants[name], np.flatnonzero(changed[name]))), regression)
            for name in measured}
    flips = changes["model"]
    limit = ctx.thresholds["max_flip_rate"]
    measure, key = (1, "mean_change") if regression else (0, "flip_rate")
    worst_name = max(measured, key=lambda name: flips[name][measure])
    worst_rate = flips[worst_name][0]
    unit = "value" if regression else "probability"
    if regression:
        status = "info"
        summary = (f"On {len(x)} held-out rows, the prediction moves by "
                   f"{flips[worst_name][1]:.3g} on average under '{worst_name}'.")
    else:
        status = "pass" if worst_rate <= limit else "warn"
        summary = (f"On {len(x)} held-out {'texts' if data.kind == 'text' else 'rows'}, small "
                   f"changes that should not matter change {worst_rate:.1%} of the model's "
                   f"answers at worst ('{worst_name}', over the {changed[worst_name].sum()} "
                   "it altered).")
        if "baseline" in changes:
            baseline_rate = changes["baseline"][worst_name][0]
            summary += (f" The non-private baseline changes {baseline_rate:.1%} under the same "
                        "change.")
    shown = [1] if regression else [0, 1]
    columns = ["change", "inputs altered",
               *(f"{w}: {['answers changed', f'mean {unit} change'][i]}"
                 for i in shown for w in changes)]
    rows = [[name, int(changed[name].sum()),
             *(round(changes[w][name][i], 4) if name in measured else None
               for i in shown for w in changes)] for name in variants]
    return [Finding(
        "robustness.perturbations", "robustness", status,
        "Consistency under small input changes", summary,
        metrics={f"{w}_{key}_worst": max(c[name][measure] for name in measured)
                 for w, c in changes.items()} | {"rows": len(x)},
        tables=[Table("Predictions changed by each perturbation (shares of the inputs it "
                      "altered)", columns, rows)],
        thresholds={} if regression else {"max_flip_rate": limit}, regulations=REGS,
        recommendation="" if status != "warn" else "Augment the training data with such "
        "changes (" + ("typos, casing, punctuation" if data.kind == "text" else
                      "measurement noise") + "), or normalise the input before the model.")]
