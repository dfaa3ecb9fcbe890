"""Offline LiRA against offline RMIA on the same models, with 1, 2, 4 and 8 reference models.

Setting: the tabular demo's (:func:`trustml.demos.tabular_models`): 6,000 rows of UCI Adult
(4,500 training, 1,500 held out), its MLP trained non-privately and with DP (epsilon 1), and,
as a model that memorises, a random forest (100 fully grown trees, one-hot inputs) fitted on
the same training rows. The rows are the privacy check's: 1,000 members and 1,000 non-members
(:func:`~trustml.privacy.membership_candidates`, seed = the run's seed); the other 4,000 rows
are the pool that 8 reference models train on (each on a random half, non-privately, like the
audited model's twin: :func:`~trustml.privacy.reference_models`); RMIA's population is the
pool's 500 held-out rows (:func:`~trustml.privacy.membership_population`). LiRA and RMIA with
``n`` references use the first ``n`` of the same 8 models. RMIA runs with ``gamma = 1`` and
``a = 0.3`` (its default; ``--a`` to change it).

Each seed (``--seeds``) redraws the split, the models, the attacked rows and the references;
the table gives the mean over seeds of the ROC AUC and the TPR at 1% and 0.1% FPR, and how
many seeds RMIA's AUC was at least LiRA's; the JSON keeps every seed's results with their
bootstrap intervals (200 draws). ``rmia_ranked`` is the same attack with the attacked rows
ranked by their likelihood ratio itself (the limit of an ever larger population, without the
ties a 500-row population leaves).

Cost on the shared 2-core CPU: about a minute per seed (the MLPs' training dominates).

Usage::

    OMP_WAIT_POLICY=PASSIVE TRUSTML_DATA=/work/shared/data python bench/membership_attacks.py \\
        --seeds 3 --out bench/results/membership_attacks-cpu.json
    python bench/membership_attacks.py --seeds 1 --references 1 2 --out /tmp/quick.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

ATTACKS = ("lira", "rmia", "rmia_ranked")
METRICS = ("auc", "tpr_at_0.01_fpr", "tpr_at_0.001_fpr")


def forest(x: pd.DataFrame):
    """A random forest of fully grown trees on one-hot categories: it memorises."""
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    cats = [c for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])]
    return make_pipeline(make_column_transformer((OneHotEncoder(handle_unknown="ignore"), cats),
                                                 remainder="passthrough"),
                         RandomForestClassifier(n_estimators=100, n_jobs=1, random_state=0))


def models(seed: int) -> tuple:
    """The demo's data, its models to attack and the ``retrain`` of each family."""
    from trustml.demos import SETTINGS, _retrainer, tabular_models
    from trustml.models import wrap

    data, dp, base, _, _, build = tabular_models(1.0, seed)
    x, y, _ = data.take("train")
    rf = forest(x).set_params(randomforestclassifier__random_state=seed).fit(x, y)

    def retrain_forest(X, Y, *, private=False, seed=0):
        return forest(X).set_params(randomforestclassifier__random_state=seed).fit(X, Y)

    mlp = _retrainer(build, SETTINGS["tabular"], 1.0)
    return data, {"MLP, DP (epsilon 1)": (dp, mlp), "MLP, non-private": (base, mlp),
                  "random forest (memorises)": (wrap(rf), retrain_forest)}


def ranked(target, references, X, y, is_member, a: float) -> dict:
    """RMIA's metrics with the attacked rows ranked by ``LR(x)`` itself (no population)."""
    from trustml.privacy import attack_metrics
    from trustml.privacy._rmia import offline_prior, true_label_proba

    prior = offline_prior(np.stack([true_label_proba(r, X, y) for r in references]), a)
    ratio = true_label_proba(target, X, y) / np.maximum(prior, 1e-12)
    return attack_metrics(ratio, is_member, n_boot=0)


def one_seed(seed: int, counts: list[int], a: float) -> dict:
    """Every model of one seed attacked with each number of references."""
    from trustml.data import concat_rows
    from trustml.privacy import (
        membership_candidates,
        membership_inference,
        membership_population,
        reference_models,
    )

    data, targets = models(seed)
    train, test = data.take("train"), data.take("test")
    mem, non, pool = membership_candidates(train, test, max_candidates=1000, seed=seed)
    population = membership_population(train, test, max_candidates=1000, seed=seed)
    X, y = concat_rows(mem[0], non[0]), np.r_[mem[1], non[1]]
    is_member = np.r_[np.ones(len(mem[1]), bool), np.zeros(len(non[1]), bool)]
    out, refs_of = {}, {}
    for name, (target, retrain) in targets.items():
        start = time.perf_counter()
        if retrain not in refs_of:  # the two MLPs share their references
            refs_of[retrain] = reference_models(retrain, pool, max(counts), seed=seed)
        refs = refs_of[retrain]
        runs = {}
        for n in counts:
            res = membership_inference(target, mem[:2], non[:2], references=refs[:n],
                                       population=population, n_boot=200, seed=seed,
                                       rmia_a=a)
            runs[n] = {"confidence": res["confidence"], "lira": res["lira"], "rmia": res["rmia"],
                       "rmia_ranked": ranked(target, refs[:n], X, y, is_member, a)}
        out[name] = {"runs": runs, "seconds": time.perf_counter() - start}
    return {"seed": seed, "population": len(population[1]), "pool": len(pool[1]),
            "members": len(mem[1]), "non_members": len(non[1]), "models": out}


def table(seeds: list[dict], counts: list[int]) -> list[str]:
    """Markdown rows: per model and reference count, mean metrics over seeds."""
    head = ["model", "refs"] + [f"{a} {m}" for m in METRICS for a in ATTACKS[:2]] + [
        "RMIA AUC >= LiRA", "rmia_ranked tpr_at_0.001_fpr"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in seeds[0]["models"]:
        runs = [s["models"][name]["runs"] for s in seeds]
        conf = np.mean([r[counts[0]]["confidence"]["auc"] for r in runs])
        lines.append(f"| {name} | 0 (confidence attack) | {conf:.3f} | | | | | | | |")
        for n in counts:
            cells = [f"{np.mean([r[n][a][m] for r in runs]):.3f}" for m in METRICS
                     for a in ATTACKS[:2]]
            wins = sum(r[n]["rmia"]["auc"] >= r[n]["lira"]["auc"] for r in runs)
            rk = np.mean([r[n]["rmia_ranked"]["tpr_at_0.001_fpr"] for r in runs])
            lines.append(f"| {name} | {n} | " + " | ".join(cells)
                         + f" | {wins}/{len(runs)} | {rk:.3f} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--references", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--a", type=float, default=0.3, help="RMIA's offline correction")
    ap.add_argument("--out", type=Path, default=Path("bench/results/membership_attacks-cpu.json"))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    seeds = []
    for seed in range(args.seeds):
        seeds.append(one_seed(seed, args.references, args.a))
        print(f"seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)
    lines = table(seeds, args.references)
    print("\n".join(lines))
    result = {"machine": platform.machine(), "cpu_count": os.cpu_count(),
              "python": platform.python_version(), "torch": torch.__version__,
              "seconds": time.perf_counter() - start, "references": args.references, "a": args.a,
              "table": lines, "seeds": seeds}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
