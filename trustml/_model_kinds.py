"""The one model factory: every model ``kind`` a recipe trains or an audit config loads.

A kind is registered once with :func:`register_kind`: ``build`` makes a fresh model to train
(a recipe's ``model:`` section), ``load`` a trained one from files (an audit config's
``model:`` section). Recipes (:func:`build_adapter`), audit configs (:func:`load_model`) and the
demos look ``kind`` up in :data:`MODEL_KINDS`; another package adds a kind through the
``trustml.model_kinds`` entry point group (:mod:`trustml._registry`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from trustml._registry import Registry
from trustml.data import AuditData, TabularEncoder
from trustml.errors import ConfigError, ModelLoadError
from trustml.models import (
    CNNClassifier,
    FrozenTextEncoder,
    LinearRegression,
    LSTMTextClassifier,
    MLPClassifier,
    ProbeTextAdapter,
    ScatterNet,
    load_tokenizer,
    load_weights,
    pretrained_word_embeddings,
    transformer_sentiment,
    wrap,
)


@dataclass(frozen=True)
class ModelKind:
    """One kind of model.

    Attributes
    ----------
    name : str
        The ``model.kind`` value.
    build : callable or None
        ``build(model, data, n_classes, target) -> adapter``: a fresh model for ``data``.
    load : callable or None
        ``load(spec, source, data, *, seed, target, trust, recipe_model) -> adapter``: a
        trained model from the file or folder ``source``.
    architecture : bool
        A reference architecture: an audit config's torch ``model.architecture`` may name it.
    keys : tuple of str
        The keys of a recipe's ``model:`` section ``build`` reads (besides ``kind``): another
        is refused, not silently ignored.
    """

    name: str
    build: Callable | None = None
    load: Callable | None = None
    architecture: bool = False
    keys: tuple[str, ...] = ()


MODEL_KINDS = Registry("model_kinds")


def register_kind(name: str, *, build: Callable | None = None, load: Callable | None = None,
                  architecture: bool = False, keys: tuple[str, ...] = ()) -> None:
    """Add the model kind ``name`` (see :class:`ModelKind`)."""
    MODEL_KINDS.register(name, ModelKind(name, build, load, architecture, tuple(keys)))


def kinds(which: str) -> tuple[str, ...]:
    """Names of the kinds that ``build`` ("build"), ``load`` ("load"), or are reference
    architectures ("architecture"), in registration order."""
    return tuple(k.name for k in MODEL_KINDS.values() if getattr(k, which))


def build_adapter(model: dict, data: AuditData, seed: int, target: tuple = (0.0, 1.0)):
    """A fresh adapter of a recipe's ``model`` section for ``data`` (same init for the same
    seed); ``target``: the (center, scale) a regression model's targets are trained in."""
    kind = MODEL_KINDS.get(model["kind"])
    if kind is None or kind.build is None:
        raise ConfigError(f"model.kind: {model['kind']!r} is not one of {list(kinds('build'))}")
    torch.manual_seed(seed)
    return kind.build(model, data, len(data.class_names) or 1, target)


def load_model(spec: dict, data: AuditData, seed: int, target: tuple = (0.0, 1.0),
               recipe_model: dict | None = None):
    """An audit config's trained model, as an adapter; ``target`` and ``recipe_model`` (which
    builds a torch model instead of ``spec``'s architecture) as in
    :func:`trustml._config.load_training_record`.

    Nothing that unpickles (joblib, pickle, a Hugging Face ``pytorch_model.bin``) is loaded
    unless ``spec["trust"]`` is the boolean ``True``. A file that cannot be loaded raises a
    one-line :class:`ModelLoadError` naming the key (``model.path``, ``model.weights``).
    """
    kind = spec["kind"]
    source = spec.get("weights") if kind == "torch" else spec.get("path")
    if source is None or not Path(source).exists():
        key = "model.weights" if kind == "torch" else "model.path"
        raise ConfigError(f"{key}: no file or directory at {source!r}")
    return MODEL_KINDS[kind].load(spec, source, data, seed=seed, target=target,
                                  trust=spec.get("trust") is True, recipe_model=recipe_model)


# ---------------------------------------------------------------------- fresh models
def _encoder(kind: str, data: AuditData) -> TabularEncoder:
    if data.kind != "tabular":
        raise ConfigError(f"model.kind: {kind!r} needs tabular data; data.source is text")
    return TabularEncoder().fit(data.take("train")[0])


def _build_mlp(model: dict, data: AuditData, n_classes: int, target: tuple):
    encoder = _encoder("mlp", data)
    module = MLPClassifier(encoder.n_outputs, hidden=model.get("hidden", [64, 32]),
                           n_classes=n_classes, activation=model.get("activation", "relu"))
    return wrap(module, encoder=encoder, task=data.task)


def _build_linear_regression(model: dict, data: AuditData, n_classes: int, target: tuple):
    encoder = _encoder("linear_regression", data)
    return wrap(LinearRegression(encoder.n_outputs), encoder=encoder, task="regression",
                target_center=target[0], target_scale=target[1])


def _image_side(kind: str, data: AuditData) -> int:
    n = _encoder(kind, data).n_outputs
    side = int(round(np.sqrt(n)))
    if side * side != n:
        raise ConfigError(f"model.kind: {kind!r} needs square images; {n} features are not a "
                          "square")
    return side


def _build_cnn(model: dict, data: AuditData, n_classes: int, target: tuple):
    side = _image_side("cnn", data)
    module = CNNClassifier(n_classes=n_classes, channels=model.get("channels", 16),
                           activation=model.get("activation", "relu"))
    # Pixels are already in [0, 1]: no standardisation, so the image stays an image.
    return wrap(module, task=data.task, input_shape=(1, side, side))


def _build_scatter(model: dict, data: AuditData, n_classes: int, target: tuple):
    side = _image_side("scatter", data)
    try:
        scales = 1 if model.get("scales") is None else model["scales"]
        module = ScatterNet(side, scales=scales, n_classes=n_classes,
                            hidden=model.get("hidden", []))
    except ValueError as exc:
        raise ConfigError(f"model.{exc}") from None
    return wrap(module, task=data.task, input_shape=(1, side, side))


def _text(kind: str, data: AuditData) -> None:
    if data.kind != "text":
        raise ConfigError(f"model.kind: {kind!r} needs text data; data.source is tabular")


def _build_lstm(model: dict, data: AuditData, n_classes: int, target: tuple):
    _text("lstm", data)
    tokenizer = load_tokenizer()  # MiniLM's word pieces
    embeddings = model.get("embeddings", "learned")
    table = pretrained_word_embeddings() if embeddings != "learned" else None
    hidden = model.get("hidden") or [model.get("embed_dim", 64)]
    module = LSTMTextClassifier(tokenizer.vocab_size, embed_dim=model.get("embed_dim", 64),
                                hidden=hidden[0], n_classes=n_classes, embeddings=table,
                                freeze_embeddings=embeddings == "frozen")
    return wrap(module, tokenizer=tokenizer, max_length=model.get("max_length", 48),
                task=data.task)


def _build_transformer(model: dict, data: AuditData, n_classes: int, target: tuple):
    _text("transformer", data)
    max_length = model.get("max_length", 48)
    if model.get("trainable") == "probe":  # a head on the frozen encoder's cached features
        encoder = FrozenTextEncoder.shared(max_length=max_length, layers=model.get("layers") or 1)
        head = MLPClassifier(encoder.dim, hidden=model.get("hidden", []), n_classes=n_classes)
        return ProbeTextAdapter(head, encoder=encoder, task=data.task)
    backbone, tokenizer = transformer_sentiment(trainable=model.get("trainable", 1))
    return wrap(backbone, tokenizer=tokenizer, max_length=max_length, task=data.task)


def _build_module(model: dict, data: AuditData, n_classes: int, target: tuple):
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


def _build_huggingface(model: dict, data: AuditData, n_classes: int, target: tuple):
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


# ---------------------------------------------------------------------- trained models
def _load_torch(spec: dict, source: str, data: AuditData, *, seed: int, target: tuple,
                trust: bool, recipe_model: dict | None):
    """The architecture (the record's recipe model, else ``model.architecture``) with the
    state dict at ``source`` (no pickle: safetensors, or ``torch.load`` with
    ``weights_only=True``)."""
    model = recipe_model or {**spec, "kind": spec["architecture"]}
    adapter = build_adapter(model, data, seed, target)
    try:
        load_weights(adapter.module, source)
    except ModelLoadError as exc:
        raise ModelLoadError(f"model.weights: {str(exc).removeprefix('model file: ')}") from None
    adapter.module.eval()
    return adapter


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def _load_huggingface(spec: dict, source: str, data: AuditData, *, seed: int, target: tuple,
                      trust: bool, recipe_model: dict | None):
    """A Hugging Face directory, offline: safetensors weights only unless ``trust``; never
    remote code. Library messages are not echoed (some advise ``weights_only=False``)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    max_length = spec.get("max_length", (recipe_model or {}).get("max_length", 128))
    folder = Path(source)
    if not folder.is_dir():
        raise ModelLoadError(f"model.path: {folder.name} is not a directory; point it at the "
                             "directory model.save_pretrained(dir) wrote")
    names = sorted(p.name for p in folder.iterdir())
    pickled = [n for n in names if n.endswith(PICKLE_SUFFIXES)]
    if not trust and pickled and not any(n.endswith(".safetensors") for n in names):
        raise ModelLoadError(f"model.path: {folder.name} holds pickle weights ({pickled[0]}), "
                             "which can run code when loaded; re-save with "
                             "model.save_pretrained(dir), which writes safetensors, or set "
                             "model.trust: true for a directory you made")
    safe = {"local_files_only": True, "trust_remote_code": False}
    hf_logging.disable_progress_bar()  # loading takes a second; no bar for it
    try:
        module = AutoModelForSequenceClassification.from_pretrained(
            source, use_safetensors=None if trust else True, **safe)
        tokenizer = AutoTokenizer.from_pretrained(source, **safe)
    except Exception as exc:  # corrupt files fail in many ways; one line
        raise ModelLoadError(f"model.path: {folder.name} is not a loadable Hugging Face model "
                             f"directory ({type(exc).__name__}); check its config.json and "
                             "model.safetensors, or save it again with save_pretrained(dir) "
                             "for the model and its tokenizer") from None
    return wrap(module.eval(), tokenizer=tokenizer, max_length=max_length, task=data.task)


def _load_sklearn(spec: dict, path: str, data: AuditData, *, seed: int, target: tuple,
                  trust: bool, recipe_model: dict | None):
    """A scikit-learn model from skops (types checked) or joblib / pickle (``trust`` only)."""
    name = Path(path).name
    if path.endswith(".skops"):
        import skops.io as sio

        try:
            untrusted = sio.get_untrusted_types(file=path)
        except Exception as exc:  # a foreign or damaged file; one line
            raise ModelLoadError(f"model.path: {name} is not a readable skops file "
                                 f"({type(exc).__name__}); save the model again with "
                                 "skops.io.dump(model, path)") from None
        if untrusted and not trust:
            raise ModelLoadError(f"model.path: {name} holds types skops does not "
                                 f"trust ({', '.join(untrusted[:5])}); check them and set "
                                 "model.trust: true")
        return wrap(_load(name, "a skops", lambda: sio.load(path, trusted=untrusted)))
    if not trust:
        raise ModelLoadError(f"model.trust: loading {name} (a pickle) runs any code it "
                             "holds; save the model with skops, or set model.trust: true for a "
                             "file you made")
    import joblib

    return wrap(_load(name, "a joblib or pickle", lambda: joblib.load(path)))


def _load(name: str, what: str, load):
    """``load()``, any failure of it turned into one line naming ``model.path``."""
    try:
        return load()
    except Exception as exc:  # unpickling fails in many ways; one line
        raise ModelLoadError(f"model.path: {name} cannot be loaded as {what} file "
                             f"({type(exc).__name__}); save the model again with "
                             "skops.io.dump(model, path)") from None


# ---------------------------------------------------------------------- the kinds
register_kind("mlp", build=_build_mlp, architecture=True, keys=("hidden", "activation"))
register_kind("cnn", build=_build_cnn, architecture=True, keys=("channels", "activation"))
register_kind("scatter", build=_build_scatter, architecture=True, keys=("scales", "hidden"))
register_kind("lstm", build=_build_lstm, architecture=True,
              keys=("embeddings", "embed_dim", "hidden", "max_length"))
register_kind("transformer", build=_build_transformer, architecture=True,
              keys=("trainable", "layers", "hidden", "max_length"))
register_kind("linear_regression", build=_build_linear_regression, architecture=True)
register_kind("module", build=_build_module,  # the user's torch module, by import path
              keys=("import", "options"))
register_kind("huggingface", build=_build_huggingface, load=_load_huggingface,
              keys=("path", "trainable", "max_length"))
register_kind("sklearn", load=_load_sklearn)
register_kind("torch", load=_load_torch)  # a reference architecture's saved weights
