"""Disparities before and after each mitigation, and the fairness cost of DP, on real data.

For UCI Adult (sex, race) and German credit (sex, age in quartile bands), on the held-out
split:

- a scikit-learn logistic regression, then the same model after group-specific thresholds
  (Fairlearn's ThresholdOptimizer) and after retraining under a constraint (Fairlearn's
  ExponentiatedGradient), each under demographic parity (DP) and equalized odds (EO);
- an MLP trained without DP, with DP at epsilon 1 and 8, and with DP at epsilon 8 using
  group-balanced Poisson sampling (``train_private(balance=...)``), all repeated over
  ``--seeds`` training seeds (mean and spread). Each DP variant's per-group accuracy change
  against the non-private MLP (each seed paired with the same seed, averaged over seeds) gets a
  paired bootstrap interval over the test rows.

Prints Markdown tables and writes JSON. Numbers depend on the seed and the split; the
intervals cover test-set sampling, the seed spread covers DP noise.

Usage::

    python bench/fairness_mitigation.py --out bench/results/fairness_mitigation-cpu.json
    python bench/fairness_mitigation.py --quick     # German credit, 1 seed: a smoke run
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from trustml.data import TabularEncoder, load_adult, load_german
from trustml.fairness import (
    disparities,
    exponentiated_gradient,
    group_labels,
    mitigated_predict,
    threshold_optimizer,
)
from trustml.models import MLPClassifier, fit, wrap
from trustml.privacy import PrivacyLedger, train_private

warnings.filterwarnings("ignore")
CONSTRAINTS = {"DP": "demographic_parity", "EO": "equalized_odds"}
# Per data set: MLP training settings (the mlp-adult recipe's for Adult; German credit has
# 750 training rows, so smaller batches and more epochs).
SETTINGS = {"adult": {"epochs": 8, "batch_size": 512, "lr": 3e-3},
            "german": {"epochs": 30, "batch_size": 64, "lr": 3e-3}}


def _worst_group_accuracy(y, pred, groups) -> tuple[str, float]:
    labels = group_labels(groups).to_numpy()
    accs = {g: float(np.mean(pred[labels == g] == y[labels == g])) for g in np.unique(labels)}
    worst = min(accs, key=accs.get)
    return worst, accs[worst]


def _row(name: str, y, pred, sensitive) -> dict:
    out = {"model": name}
    for feature in sensitive.columns:
        d = disparities(y, pred, sensitive[feature])
        worst, acc = _worst_group_accuracy(y, pred, sensitive[feature])
        out[feature] = d | {"worst_group": worst, "worst_group_accuracy": acc}
    out["accuracy"] = float(np.mean(pred == y))
    return out


def _logistic(x):
    pre = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_exclude="number")),
        remainder=StandardScaler())
    return make_pipeline(pre, LogisticRegression(max_iter=2000))


def sklearn_rows(data) -> list[dict]:
    """Logistic regression before and after thresholds and the reduction, per feature."""
    x, y, s = data.take("train")
    xt, yt, st = data.take("test")
    model = _logistic(x).fit(x, y)
    adapter = wrap(model)
    rows = [_row("logistic regression", yt, adapter.predict(xt), st)]
    for feature in s.columns:
        for short, constraint in CONSTRAINTS.items():
            start = time.perf_counter()
            mit = threshold_optimizer(adapter, x, y, s[feature], constraint=constraint)
            pred = mitigated_predict(mit, xt, st[feature])
            rows.append(_row(f"+ thresholds ({short}, {feature})", yt, pred, st)
                        | {"mitigated": feature, "seconds": time.perf_counter() - start})
            start = time.perf_counter()
            mit = exponentiated_gradient(model, x, y, s[feature], constraint=constraint)
            pred = mitigated_predict(mit, xt, st[feature])
            rows.append(_row(f"+ reduction ({short}, {feature})", yt, pred, st)
                        | {"mitigated": feature, "seconds": time.perf_counter() - start})
    return rows


def _mlp(encoder, seed: int):
    torch.manual_seed(seed)
    return wrap(MLPClassifier(encoder.n_outputs, hidden=(64, 32)), encoder=encoder)


def mlp_rows(data, name: str, seeds: list[int]) -> list[dict]:
    """Non-private and DP MLPs over seeds: mean (and spread) of each figure per variant."""
    x, y, s = data.take("train")
    xt, yt, st = data.take("test")
    encoder = TabularEncoder().fit(x)
    cfg = SETTINGS[name]
    variants = [("MLP, DP epsilon 1", {"target_epsilon": 1.0}),
                ("MLP, DP epsilon 8", {"target_epsilon": 8.0})]
    variants += [(f"MLP, DP epsilon 8, balanced by {f}", {"target_epsilon": 8.0,
                                                          "balance": s[f].to_numpy()})
                 for f in s.columns]
    runs: dict[str, list] = {"MLP, non-private": []} | {v: [] for v, _ in variants}
    # per variant: (DP correct - non-private correct) per test row, summed over seeds
    gains = {v: np.zeros(len(yt)) for v, _ in variants}
    for seed in seeds:
        base = _mlp(encoder, seed)
        fit(base, x, y, seed=seed, progress=False, **cfg)
        base_correct = base.predict(xt) == yt
        runs["MLP, non-private"].append(_row("MLP, non-private", yt, base.predict(xt), st))
        for variant, kwargs in variants:
            model, record = train_private(_mlp(encoder, seed), x, y, seed=seed, progress=False,
                                          ledger=PrivacyLedger(),
                                          **cfg, **kwargs)
            pred = model.predict(xt)
            runs[variant].append(_row(variant, yt, pred, st) | {
                "noise_multiplier": record.noise_multiplier, "epsilon": record.epsilon})
            gains[variant] += (pred == yt).astype(float) - base_correct
    out = []
    for variant, rows in runs.items():
        changes = ({f: _change_by_group(gains[variant] / len(seeds), st[f]) for f in st.columns}
                   if variant in gains else {})
        out.append(_mean(variant, rows, changes))
    return out


def _change_by_group(delta: np.ndarray, groups, n_boot: int = 1000, seed: int = 0) -> dict:
    """Mean of the paired per-row accuracy change in each group, with a bootstrap interval."""
    rng = np.random.default_rng(seed)
    labels = group_labels(groups).to_numpy()
    out = {}
    for g in np.unique(labels):
        d = delta[labels == g]
        draws = d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(1)
        out[str(g)] = {"change": float(d.mean()), "count": int(len(d)),
                       "change_ci": [float(q) for q in np.quantile(draws, [0.025, 0.975])]}
    return out


def _mean(variant: str, rows: list[dict], changes: dict) -> dict:
    """Average the per-seed rows; keep the spread of accuracy and of each disparity."""
    out = {"model": variant, "seeds": len(rows),
           "accuracy": float(np.mean([r["accuracy"] for r in rows])),
           "accuracy_sd": float(np.std([r["accuracy"] for r in rows]))}
    for key in ("noise_multiplier", "epsilon"):
        if key in rows[0]:
            out[key] = float(np.mean([r[key] for r in rows]))
    features = [k for k in rows[0] if isinstance(rows[0][k], dict)]
    for feature in features:
        per = [r[feature] for r in rows]
        out[feature] = {k: float(np.mean([p[k] for p in per])) for k in
                        ("accuracy", "demographic_parity_difference", "equalized_odds_difference",
                         "worst_group_accuracy")}
        out[feature]["demographic_parity_difference_sd"] = float(
            np.std([p["demographic_parity_difference"] for p in per]))
        out[feature]["worst_group"] = per[0]["worst_group"]
        if feature in changes:
            out[feature]["accuracy_change"] = changes[feature]
    return out


def markdown(name: str, rows: list[dict], features: list[str]) -> str:
    head = ["model", "accuracy", "noise"] + [f"{f}: {m}" for f in features
                                    for m in ("DP diff.", "EO diff.", "worst group acc.")]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        acc = f"{r['accuracy']:.3f}" + (f" ± {r['accuracy_sd']:.3f}" if r.get("seeds", 1) > 1
                                        else "")
        cells = [r["model"], acc, f"{r['noise_multiplier']:.2f}" if "noise_multiplier" in r
                 else ""]
        for f in features:
            d = r[f]
            cells += [f"{d['demographic_parity_difference']:.3f}",
                      f"{d['equalized_odds_difference']:.3f}",
                      f"{d['worst_group_accuracy']:.3f} ({d['worst_group']})"]
        lines.append("| " + " | ".join(cells) + " |")
    changes = [(r["model"], f, r[f]["accuracy_change"]) for r in rows for f in features
               if "accuracy_change" in r[f]]
    if changes:
        lines += ["", f"{name}: accuracy change per group, DP minus non-private (mean over "
                  "seeds, 95% paired bootstrap interval over test rows)", "",
                  "| model | feature | group (test rows): change [interval] |", "|---|---|---|"]
        for model, f, ch in changes:
            text = "; ".join(f"{g} ({c['count']}): {c['change']:+.3f} "
                             f"[{c['change_ci'][0]:+.3f}, {c['change_ci'][1]:+.3f}]"
                             for g, c in ch.items())
            lines.append(f"| {model} | {f} | {text} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds for the MLPs")
    parser.add_argument("--quick", action="store_true",
                        help="German credit only, one seed: a smoke run")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    datasets = {"adult": load_adult, "german": load_german}
    if args.quick:
        datasets = {"german": load_german}
        args.seeds = 1
    results = {"platform": platform.platform(), "torch": torch.__version__,
               "seeds": args.seeds, "datasets": {}}
    for name, loader in datasets.items():
        data = loader()
        start = time.perf_counter()
        rows = sklearn_rows(data) + mlp_rows(data, name, list(range(args.seeds)))
        features = list(data.sensitive_names)
        results["datasets"][name] = {"data": data.describe(), "rows": rows,
                                     "seconds": time.perf_counter() - start}
        print(f"\n## {data.name} (test rows: {len(data.test_idx)}; "
              f"{time.perf_counter() - start:.0f} s)\n")
        print(markdown(data.name, rows, features), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
