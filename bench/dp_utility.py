"""Utility of every recipe: its DP model against its non-private twin, over several seeds.

Each shipped recipe (``trustml/recipes/``) is run as ``trustml train`` runs it
(:func:`run_recipe`), once per seed: the seed sets the train/test split, the initial weights and the baseline's batches;
the DP noise is drawn from a fresh secret each time. Every run spends into its own in-memory
ledger, so seeds do not compose budgets. Reports the test metric (accuracy, R² for regression)
of both models per seed, their mean with a 95% t-interval over seeds, and the paired gap
(non-private minus DP, seed by seed), beside the recipe's utility target and published anchors.

Writes JSON (merged into an existing file, recipe by recipe, so a later run of some recipes
keeps the others) and, with ``--docs``, the generated table into the docs between the markers
``<!-- dp_utility:begin -->`` and ``<!-- dp_utility:end -->``.

Usage::

    python bench/dp_utility.py --recipes mlp-adult,mlp-digits --seeds 3 \\
        --out bench/results/dp_utility-cpu.json --docs docs/dp-training.md
    python bench/dp_utility.py --quick        # every recipe shrunk to seconds, one seed
    python bench/dp_utility.py --set privacy.clipping=automatic \
        --out bench/results/dp_utility-automatic-cpu.json   # a setting changed in every recipe
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import tempfile
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from trustml._model_kinds import build_adapter
from trustml._recipe_run import (
    load_recipe_data,
    run_recipe,
    train_like_recipe,
    trained_rows,
)
from trustml._recipes import CATALOGUE, load_recipe
from trustml.privacy import PrivacyLedger

RECIPES = CATALOGUE
BEGIN, END = "<!-- dp_utility:begin -->", "<!-- dp_utility:end -->"
# Largest acceptable gap (non-private minus DP) per recipe: issue 17 and the recipes' READMEs.
TARGETS = {"mlp-adult": 0.01, "mlp-digits": 0.02, "cnn-digits": 0.02, "cnn-mnist5k": 0.04,
           "linear-regression": 0.03, "transformer-sentiment": 0.03, "lstm-text": 0.05}
# Other non-private models of the same data, trained per seed beside the recipe's own twin (same
# split, same rows); the gap is to the best of them, seed by seed. The image recipes' DP route
# (ScatterNet + linear) is judged against the end-to-end CNN, as the previous recipe trained it,
# and against scikit-learn's L2-regularised logistic regression on the same scattering features.
CNN = ["model.kind=cnn", "model.scales=null", "model.channels=8", "model.activation=tanh",
       "training.baseline_epochs=60", "training.baseline_batch_size=64",
       "training.baseline_lr=0.01"]
CNN_28 = [*CNN[:4], "training.baseline_epochs=30", *CNN[5:]]  # cnn-mnist5k's earlier baseline
# Where the best non-private model of the same backbone is not the recipe's own twin, the gap
# is measured to it (single seed-0 runs, too long to repeat here; how each was trained:
# bench/results/dp_text_recipes-cpu.json).
BEST_NON_PRIVATE = {
    "transformer-sentiment": (0.8212, "MiniLM fully fine-tuned (AdamW 5e-5, 3 epochs), 78 min"),
    "lstm-text": (0.7860, "best of five non-private LSTM variants"),
}
QUICK = {"mlp-adult": ["data.rows=2000", "training.epochs=1"],
         "cnn-mnist5k": ["data.rows=300", "training.epochs=1", "training.baseline_epochs=1"],
         "lstm-text": ["data.rows=300", "training.epochs=1", "training.batch_size=64"],
         "transformer-sentiment": ["data.rows=120", "training.epochs=1",
                                   "training.batch_size=30", "model.max_length=16"]}
ANCHORS = [  # published figures, as quoted in /work/shared/REFERENCES.md
    {"source": "Opacus MNIST example (CNN)", "data": "MNIST, 60k", "epsilon": "3.01",
     "non_private": 0.9894, "dp": 0.9678},
    {"source": "Papernot et al. 2021, tempered sigmoids (tanh CNN)", "data": "MNIST, 60k",
     "epsilon": "< 3", "non_private": None, "dp": 0.981},
    {"source": "Li et al. 2022, RoBERTa-base full fine-tuning", "data": "SST-2, 67k",
     "epsilon": "8", "non_private": None, "dp": None,
     "note": "within about 3 points of non-private"},
    {"source": "De et al. 2022, WRN-40-4 from scratch", "data": "CIFAR-10, 50k",
     "epsilon": "8", "non_private": None, "dp": 0.814},
]


def interval(values) -> dict:
    """Mean, 95% t-interval over seeds (none for one seed), min and max."""
    v = np.asarray(values, dtype=float)
    half = (float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
            if len(v) > 1 else None)
    return {"mean": float(v.mean()), "half_width": half, "min": float(v.min()),
            "max": float(v.max()), "values": v.tolist()}


def _recipe_split(name: str, overrides: list[str], seed: int):
    recipe = load_recipe(RECIPES / name, overrides)
    recipe["seed"] = seed
    data = trained_rows(recipe, load_recipe_data(recipe["data"], seed))
    return recipe, data, data.take("train"), data.take("test")


def twin_accuracy(name: str, seed: int, overrides: list[str]) -> float:
    """Test accuracy of a non-private variant of a recipe (``overrides``), trained as the
    recipe trains its baseline on the same split."""
    recipe, data, (x, y, _), (x_test, y_test, _) = _recipe_split(name, overrides, seed)
    adapter, _ = train_like_recipe(recipe, build_adapter(recipe["model"], data, seed), x, y,
                                   private=False, seed=seed)
    return float(np.mean(adapter.predict(x_test) == np.asarray(y_test)))


def scatter_logistic_accuracy(name: str, seed: int) -> float:
    """Test accuracy of scikit-learn's logistic regression (L2, C=1) on the recipe's
    scattering features, the same split."""
    from sklearn.linear_model import LogisticRegression

    recipe, data, (x, y, _), (x_test, y_test, _) = _recipe_split(name, [], seed)
    adapter = build_adapter(recipe["model"], data, seed)
    features = adapter.module.features
    with torch.no_grad():
        f, f_test = (features(adapter.tensorize(v)[0]).numpy() for v in (x, x_test))
    model = LogisticRegression(max_iter=3000).fit(f, np.asarray(y))
    return float(model.score(f_test, np.asarray(y_test)))


OTHER_TWINS = {
    "cnn-digits": {"CNN (tanh, 8/16 channels)": partial(twin_accuracy, overrides=CNN),
                   "scikit-learn logistic regression on the features":
                   scatter_logistic_accuracy},
    "cnn-mnist5k": {"CNN (tanh, 8/16 channels)":
                    partial(twin_accuracy, overrides=CNN_28),
                    "scikit-learn logistic regression on the features":
                    scatter_logistic_accuracy},
}


def run_one(name: str, overrides: list[str], seeds: int) -> dict:
    """Every seed of one recipe: both models' test metric (and the other twins'), epsilon
    spent, seconds."""
    runs = []
    others = {} if overrides else OTHER_TWINS.get(name, {})  # --quick skips them
    for seed in range(seeds):
        recipe = load_recipe(RECIPES / name, overrides)
        recipe["seed"] = seed
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as out:
            result = run_recipe(recipe, out, progress=False, ledger=PrivacyLedger())
        metric = "r2" if result["data"]["task"] == "regression" else "accuracy"
        runs.append({"seed": seed, "non_private": result["baseline"][metric],
                     "dp": result["private"][metric], "epsilon": result["privacy"]["epsilon"],
                     "train_rows": result["train_rows"],
                     "seconds": time.perf_counter() - start,
                     "other_twins": {label: train(name, seed)
                                     for label, train in others.items()}})
        print(f"{name} seed {seed}: non-private {runs[-1]['non_private']:.4f}, "
              f"DP {runs[-1]['dp']:.4f} (epsilon {runs[-1]['epsilon']:.3f}, "
              f"{runs[-1]['seconds']:.0f} s), other twins {runs[-1]['other_twins']}",
              flush=True)
    base, dp = [r["non_private"] for r in runs], [r["dp"] for r in runs]
    best = BEST_NON_PRIVATE.get(name)
    top = [max([r["non_private"], *r["other_twins"].values()]) for r in runs]
    gap = interval(np.subtract(best[0] if best else top, dp))
    gap_to = (best[1] if best else "the best of the recipe's own twin and "
              + ", ".join(others) + ", seed by seed" if others
              else "the recipe's own twin, seed by seed")
    target = TARGETS.get(name)
    return {"metric": metric, "epsilon": max(r["epsilon"] for r in runs),
            "target_epsilon": recipe["privacy"]["epsilon"], "train_rows": runs[0]["train_rows"],
            "overrides": overrides, "non_private": interval(base), "dp": interval(dp),
            "gap": gap, "gap_to": gap_to,
            "other_twins": {label: interval([r["other_twins"][label] for r in runs])
                            for label in others},
            "target_gap": target,
            "target_met": None if target is None else bool(gap["mean"] <= target),
            "runs": runs}


def _cell(summary: dict) -> str:
    half = summary["half_width"]
    return f"{summary['mean']:.3f}" + ("" if half is None else f" ± {half:.3f}")


def markdown(results: dict) -> str:
    """The recipes' table, then the anchors' table."""
    lines = ["| recipe | metric | epsilon | training rows | seeds | non-private twin | DP | "
             "gap | gap to | target gap | met |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in sorted(results["recipes"].items()):
        met = {None: "", True: "yes", False: "no"}[r["target_met"]]
        target = "" if r["target_gap"] is None else f"{r['target_gap']:g}"
        to = r.get("gap_to", "the recipe's own twin, seed by seed")
        best = BEST_NON_PRIVATE.get(name)
        to = f"{best[0]:.3f}: {to}" if best else to
        lines.append(f"| {name} | {r['metric']} | {r['epsilon']:.2f} | {r['train_rows']} | "
                     f"{len(r['runs'])} | {_cell(r['non_private'])} | {_cell(r['dp'])} | "
                     f"{_cell(r['gap'])} | {to} | {target} | {met} |")
    lines += ["", "| published anchor | data | epsilon | non-private | DP |",
              "|---|---|---|---|---|"]
    for a in ANCHORS:
        base = "" if a["non_private"] is None else f"{a['non_private']:.3f}"
        dp = a.get("note", "") if a["dp"] is None else f"{a['dp']:.3f}"
        lines.append(f"| {a['source']} | {a['data']} | {a['epsilon']} | {base} | {dp} |")
    return "\n".join(lines)


def write_docs(path: Path, results: dict) -> None:
    """Replace the generated block of ``path`` with the table and the commands behind it."""
    text = path.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        sys.exit(f"--docs: {path} has no {BEGIN} ... {END} block")
    made = {}  # command -> the recipes whose rows it made
    for name, r in sorted(results["recipes"].items()):
        made.setdefault(r["command"], []).append(name)
    block = "\n".join([BEGIN, "Generated by (from the repository root; each command made the "
                       "rows of the recipes after it):", "",
                       *[f"    {c}    # {', '.join(names)}" for c, names in made.items()], "",
                       "Mean over seeds ± half-width of the 95% t-interval; gap = the "
                       "non-private model named under 'gap to' (the best of several where "
                       "it names several) minus DP, seed by seed.", "", markdown(results),
                       END])
    head, rest = text.split(BEGIN, 1)
    path.write_text(head + block + rest.split(END, 1)[1], encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipes", help="comma-separated recipe names (default: all)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per recipe (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="every recipe shrunk to seconds, one seed: a smoke run")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE",
                        help="override a setting of every recipe run (repeatable), e.g. "
                             "--set privacy.clipping=automatic; other twins are skipped")
    parser.add_argument("--out", type=Path, help="merge the results into this JSON file")
    parser.add_argument("--docs", type=Path, help="rewrite the generated table in this file")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    available = sorted(p.name for p in RECIPES.iterdir() if (p / "recipe.yaml").is_file())
    names = args.recipes.split(",") if args.recipes else available
    unknown = sorted(set(names) - set(available))
    if unknown:
        parser.error(f"--recipes: unknown {unknown}; one of {available}")
    if args.seeds < 1:
        parser.error("--seeds: must be >= 1")
    seeds = 1 if args.quick else args.seeds
    results = {"recipes": {}}
    if args.out and args.out.is_file():
        results = json.loads(args.out.read_text())
    results.update(platform=platform.platform(), torch=torch.__version__, anchors=ANCHORS)
    command = "python bench/dp_utility.py " + shlex.join(sys.argv[1:])
    for name in names:
        quick = QUICK.get(name, ["training.epochs=1"]) if args.quick else []
        overrides = quick + args.overrides
        results["recipes"][name] = run_one(name, overrides, seeds) | {"command": command}
    print("\n" + markdown(results))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    if args.docs:
        write_docs(args.docs, results)


if __name__ == "__main__":
    main()
