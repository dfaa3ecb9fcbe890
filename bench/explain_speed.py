"""Time per example and faithfulness of each explainer, side by side in one run.

Sentiment: all-MiniLM-L6-v2 (head and top layer fine-tuned without DP on Rotten Tomatoes, or
the embedded tweets when the data directory is absent), explaining held-out snippets with

- trustml's default text explainer for transformers: integrated gradients along a path that
  fades tokens out of attention (8 steps, batched; ``attention_text``);
- layer integrated gradients on the token embeddings (8 steps; Captum, batched);
- token ablation with the mask token (Captum FeatureAblation, batched);
- ``SHAP default``: ``shap.Explainer(f, shap.maskers.Text(tokenizer))`` with SHAP's default
  500 evaluations per example (batch size 64).

SHAP's explainer is slow on a CPU, so it explains the first ``--shap-n`` of the ``--n``
snippets; every method's faithfulness (comprehensiveness and sufficiency, top 10/20/50% of
tokens, ERASER) is measured on those same snippets, with a paired bootstrap interval of its
difference from SHAP's, and speed is time per example.

Tabular: an MLP and a logistic regression on UCI Adult (or the embedded Toronto arrests),
explained with integrated gradients, SHAP permutation, and SHAP's exact linear explainer.

Usage::

    python bench/explain_speed.py --out bench/results/explain_speed-cpu.json
    python bench/explain_speed.py --quick      # tweets, 40 snippets, a smoke run
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

from trustml.data import TabularEncoder, load_adult, load_arrests, load_rotten_tomatoes, load_tweets
from trustml.errors import DataNotFoundError
from trustml.explain import (
    ablation_text,
    attention_text,
    captum_tabular,
    captum_text,
    faithfulness,
    shap_tabular,
    shap_text,
)
from trustml.models import MLPClassifier, fit, transformer_sentiment, wrap

warnings.filterwarnings("ignore")


def _sentiment_model(train_rows: int, seed: int):
    share = 1000 / (train_rows + 1000)  # 1,000 held-out snippets
    try:
        data = load_rotten_tomatoes(n=train_rows + 1000, seed=seed, test_size=share)
    except DataNotFoundError:
        data = load_tweets(n=train_rows + 1000, seed=seed, test_size=share)
    torch.manual_seed(seed)
    module, tok = transformer_sentiment(trainable=1)
    adapter = wrap(module, tokenizer=tok, max_length=64, batch_size=128)
    x, y, _ = data.take("train")
    fit(adapter, x, y, epochs=2, batch_size=32, lr=1e-3, seed=seed, progress=False)
    xt, yt, _ = data.take("test")
    accuracy = float((adapter.predict(xt) == yt).mean())
    return adapter, data.name, list(xt), accuracy


def _row(name: str, attr, adapter, texts, n_judged: int, background=None) -> dict:
    quality = faithfulness(adapter, attr.head(n_judged), texts[:n_judged],
                           background=background)
    return {"method": name, "examples": len(attr), "seconds": attr.seconds,
            "seconds_per_example": attr.seconds / len(attr), **{
                k: quality[k] for k in ("comprehensiveness", "sufficiency",
                                        "random_comprehensiveness", "random_sufficiency",
                                        "per_example")},
            "judged_on": n_judged, "completeness_gap": attr.completeness_gap}


def sentiment(n: int, shap_n: int, train_rows: int, seed: int) -> dict:
    adapter, name, texts, accuracy = _sentiment_model(train_rows, seed)
    texts = texts[:n]
    shap_n = min(shap_n, n)
    print(f"\n## Sentiment: {name}, MiniLM (accuracy {accuracy:.3f}); {n} snippets, SHAP on "
          f"the first {shap_n}\n", flush=True)
    attention_text(adapter, texts[:4])  # warm-up
    rows = [_row("trustml default (attention-mask integrated gradients, 8 steps)",
                 attention_text(adapter, texts), adapter, texts, shap_n),
            _row("layer integrated gradients on embeddings, 8 steps", captum_text(adapter, texts),
                 adapter, texts, shap_n),
            _row("token ablation", ablation_text(adapter, texts), adapter, texts, shap_n),
            _row("SHAP default (text masker, 500 evals)", shap_text(adapter, texts[:shap_n]),
                 adapter, texts, shap_n)]
    shap = rows[-1]
    for row in rows[:-1]:
        for metric in ("comprehensiveness", "sufficiency"):
            row[f"{metric}_minus_shap_ci"] = _paired_ci(row["per_example"][metric],
                                                        shap["per_example"][metric], seed)
    return {"data": name, "accuracy": accuracy, "n": n, "shap_n": shap_n, "rows": rows}


def _paired_ci(a, b, seed: int, n_boot: int = 2000) -> list[float]:
    """95% bootstrap interval of mean(a - b) over the same examples."""
    d = np.asarray(a) - np.asarray(b)
    draws = d[np.random.default_rng(seed).integers(0, len(d), (n_boot, len(d)))].mean(1)
    return [float(q) for q in np.quantile(draws, [0.025, 0.975])]


def tabular(n: int, seed: int) -> dict:
    try:
        data = load_adult(seed=seed)
    except DataNotFoundError:
        data = load_arrests(seed=seed)
    x, y, _ = data.take("train")
    xt = data.take("test")[0].iloc[:n]
    encoder = TabularEncoder().fit(x)
    torch.manual_seed(seed)
    mlp = wrap(MLPClassifier(encoder.n_outputs, hidden=(64, 32)), encoder=encoder)
    fit(mlp, x, y, epochs=5, batch_size=256, lr=3e-3, seed=seed, progress=False)
    pre = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_exclude="number")),
        remainder=StandardScaler())
    lr = wrap(make_pipeline(pre, LogisticRegression(max_iter=2000)).fit(x, y))
    print(f"\n## Tabular: {data.name}; {n} rows explained\n", flush=True)
    rows = []
    for model_name, adapter, methods in (
            ("MLP", mlp, [("Captum integrated gradients (50 steps)",
                           lambda: captum_tabular(mlp, x, xt)),
                          ("SHAP permutation", lambda: shap_tabular(mlp, x, xt, seed=seed,
                                                                     explainer="permutation"))]),
            ("logistic regression", lr, [
                ("SHAP linear (exact)", lambda: shap_tabular(lr, x, xt, seed=seed)),
                ("SHAP permutation", lambda: shap_tabular(lr, x, xt, seed=seed,
                                                          explainer="permutation"))])):
        for method, run in methods:
            attr = run()
            rows.append({"model": model_name} | _row(method, attr, adapter, xt, n, background=x))
    return {"data": data.name, "n": n, "rows": rows}


def markdown(rows: list[dict], baseline: str) -> str:
    """One line per explainer; speed-up against ``baseline`` on the same model."""
    base = {r.get("model"): r for r in rows if r["method"].startswith(baseline)}
    head = ["model", "method", "s / example", "speed-up vs " + baseline, "comprehensiveness",
            "(random)", "sufficiency", "(random)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join([
            r.get("model", "MiniLM"), r["method"], f"{r['seconds_per_example']:.4f}",
            f"{base[r.get('model')]['seconds_per_example'] / r['seconds_per_example']:.1f}x",
            f"{r['comprehensiveness']:.3f}", f"{r['random_comprehensiveness']:.3f}",
            f"{r['sufficiency']:.3f}", f"{r['random_sufficiency']:.3f}"]) + " |")
    diffs = [r for r in rows if "comprehensiveness_minus_shap_ci" in r]
    if diffs:
        lines += ["", "| method | comprehensiveness minus SHAP's [95% interval] | "
                  "sufficiency minus SHAP's [95% interval] |", "|---|---|---|"]
        shap = next(r for r in rows if r["method"].startswith("SHAP"))
        for r in diffs:
            cells = [r["method"]]
            for metric in ("comprehensiveness", "sufficiency"):
                low, high = r[f"{metric}_minus_shap_ci"]
                cells.append(f"{r[metric] - shap[metric]:+.3f} [{low:+.3f}, {high:+.3f}]")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--n", type=int, default=500, help="snippets to explain")
    parser.add_argument("--shap-n", type=int, default=100,
                        help="snippets SHAP explains (and all methods are judged on)")
    parser.add_argument("--train-rows", type=int, default=2000)
    parser.add_argument("--tabular-n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.n, args.shap_n, args.train_rows, args.tabular_n = 40, 10, 300, 40
    results = {"platform": platform.platform(), "torch": torch.__version__,
               "device": "cuda" if torch.cuda.is_available() else "cpu"}
    start = time.perf_counter()
    results["sentiment"] = sentiment(args.n, args.shap_n, args.train_rows, args.seed)
    print(markdown(results["sentiment"]["rows"], "SHAP default"), flush=True)
    results["tabular"] = tabular(args.tabular_n, args.seed)
    print(markdown(results["tabular"]["rows"], "SHAP permutation"), flush=True)
    results["seconds"] = time.perf_counter() - start
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
