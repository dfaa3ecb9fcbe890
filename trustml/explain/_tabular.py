"""Tabular attribution: SHAP for any model (exact explainers for linear and tree scikit-learn
models), Captum integrated gradients for torch models, both per raw input column."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import shap
import torch
from captum.attr import IntegratedGradients
from sklearn.linear_model._base import LinearClassifierMixin, LinearModel
from sklearn.pipeline import Pipeline

from trustml.data import OrdinalCodec
from trustml.explain._attribution import Attribution, explained_classes
from trustml.explain._registry import register_explainer
from trustml.models._adapters import ModelAdapter, TorchTabularAdapter

TREE_MODELS = tuple(f"{family}{kind}" for kind in ("Classifier", "Regressor") for family in (
    "DecisionTree", "RandomForest", "ExtraTrees", "GradientBoosting", "HistGradientBoosting"))


def shap_tabular(adapter: ModelAdapter, background: pd.DataFrame, explain: pd.DataFrame, *,
                 seed: int = 0, max_background: int = 50, max_evals: int = 200,
                 explainer: str = "auto") -> Attribution:
    """SHAP values per raw feature.

    Parameters
    ----------
    adapter : ModelAdapter
    background, explain : DataFrame
        Reference rows (training data) and the rows to explain.
    explainer : {"auto", "permutation", "linear", "tree"}
        "auto" takes SHAP's exact linear or tree explainer for a scikit-learn linear or tree
        classifier (alone or at the end of a pipeline whose outputs map back to input columns),
        and the model-agnostic permutation explainer otherwise.
    """
    start = time.perf_counter()
    kind = _sklearn_kind(adapter) if explainer == "auto" else explainer
    if kind in ("linear", "tree"):
        attr = _shap_sklearn(adapter, background, explain, kind, seed, max_background)
    else:
        attr = _shap_permutation(adapter, background, explain, seed, max_background, max_evals)
    attr.seconds = time.perf_counter() - start
    return attr


def _split(estimator):
    """(preprocessing pipeline or None, final estimator)."""
    if isinstance(estimator, Pipeline):
        return (Pipeline(estimator.steps[:-1]) if len(estimator.steps) > 1 else None,
                estimator.steps[-1][1])
    return None, estimator


def _space(adapter: ModelAdapter) -> str:
    return "target units" if adapter.task == "regression" else "probability"


def _sklearn_kind(adapter: ModelAdapter) -> str:
    estimator = getattr(adapter, "estimator", None)  # a scikit-learn model's
    if estimator is None or adapter.task not in ("binary", "regression"):
        return "permutation"
    pre, final = _split(estimator)
    if pre is not None and _column_map(pre) is None:
        return "permutation"
    linear = LinearClassifierMixin if adapter.task == "binary" else LinearModel
    if isinstance(final, linear):
        return "linear"
    if type(final).__name__ in TREE_MODELS:
        return "tree"
    return "permutation"


def _column_map(pre) -> list[str] | None:
    """The raw input column behind each output column of a fitted preprocessor, or None when
    its output names (``get_feature_names_out``) cannot be traced back to input columns."""
    try:
        outputs, inputs = pre.get_feature_names_out(), list(pre.feature_names_in_)
    except (AttributeError, ValueError):
        return None
    owners = []
    for name in outputs:
        rest = str(name).split("__", 1)[-1]  # ColumnTransformer prefixes the transformer name
        match = max((c for c in inputs if rest == c or rest.startswith(f"{c}_")), key=len,
                    default=None)
        if match is None:
            return None
        owners.append(match)
    return owners


MEAN_CHUNK = 50_000  # background rows encoded at once for linear SHAP's mean


def _shap_sklearn(adapter, background, explain, kind, seed, max_background) -> Attribution:
    pre, final = _split(adapter.estimator)
    columns = list(background.columns)
    owners = _column_map(pre) if pre is not None else columns

    def encode(frame):
        z = pre.transform(frame) if pre is not None else frame.to_numpy()
        return np.asarray(z.toarray() if hasattr(z, "toarray") else z, dtype=float)

    if kind == "linear":
        # Exact: against the mean of every background row. SHAP's default masker would average
        # a random 100 of them, so the reference would move with the seed.
        if len(background) <= MEAN_CHUNK:
            bg = encode(background)
        else:  # the same mean, encoded a chunk at a time: one row, not a dense copy of all
            bg = sum(encode(background.iloc[i:i + MEAN_CHUNK]).sum(0)
                     for i in range(0, len(background), MEAN_CHUNK))[None] / len(background)
        masker = shap.maskers.Independent(bg, max_samples=len(bg))
        sv = shap.LinearExplainer(final, masker)(encode(explain)).values
        baseline = f"the mean of all {len(background)} background rows (exact)"
    else:
        bg = encode(background.sample(n=min(max_background, len(background)),
                                      random_state=seed))
        output = "raw" if adapter.task == "regression" else "probability"
        sv = shap.TreeExplainer(final, bg, model_output=output)(encode(explain),
                                                               check_additivity=False).values
        baseline = f"{len(bg)} background rows sampled with seed {seed} (interventional)"
    sv = np.asarray(sv, dtype=float)
    if sv.ndim == 3:  # one slice per class: take the positive class
        sv = sv[:, :, 1]
    values = np.zeros((len(explain), len(columns)))
    for j, owner in enumerate(owners):  # one-hot columns add up to their input column
        values[:, columns.index(owner)] += sv[:, j]
    return Attribution(method=f"SHAP {kind}", features=columns, values=values,
                       target=np.ones(len(explain), dtype=int),
                       output_space="log-odds" if kind == "linear" and adapter.task == "binary"
                       else _space(adapter), baseline=baseline)


def _shap_permutation(adapter, background, explain, seed, max_background,
                      max_evals) -> Attribution:
    """SHAP's permutation explainer; categories are coded as integers (:class:`OrdinalCodec`) so
    the masker can swap in background values, while the model always sees the raw frame."""
    codec = OrdinalCodec().fit(background)
    bg = background.sample(n=min(max_background, len(background)), random_state=seed)
    masker = shap.maskers.Independent(codec.encode(bg), max_samples=max_background)
    target = explained_classes(adapter, explain)
    regression = adapter.task == "regression"
    binary = not regression and adapter.predict_proba(explain.iloc[:1]).shape[1] == 2

    def f(z):
        if regression:
            return adapter.predict(codec.decode(z))
        proba = adapter.predict_proba(codec.decode(z))
        return proba[:, 1] if binary else proba

    explainer = shap.PermutationExplainer(f, masker, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sv = explainer(codec.encode(explain), max_evals=max(max_evals, 2 * codec.n_columns + 1),
                       silent=True)
    values = np.asarray(sv.values, dtype=float)
    if values.ndim == 3:
        values = values[np.arange(len(values)), :, target]
    return Attribution(method="SHAP permutation", features=list(background.columns),
                       values=values, target=target, output_space=_space(adapter),
                       baseline=f"{len(bg)} background rows sampled with seed {seed}")


def probability_forward(adapter, module):
    """``f(inputs) -> class probabilities`` of a torch adapter's module, for Captum; for a
    regression model, its prediction in the target's units (one column)."""
    def forward(*inputs):
        logits = adapter.forward(module, *inputs).float()
        if adapter.task == "regression":
            return logits[:, :1] * adapter.target_scale + adapter.target_center
        if logits.shape[1] == 1:
            p = torch.sigmoid(logits)
            return torch.cat([1 - p, p], 1)
        return torch.softmax(logits, dim=1)
    return forward


def encoded_baseline(adapter: TorchTabularAdapter, background) -> torch.Tensor:
    """The mean encoded training row: zero for standardised numbers, category frequencies for
    one-hot columns."""
    return adapter.tensorize(background)[0].mean(0, keepdim=True).to(adapter.device)


def captum_tabular(adapter: TorchTabularAdapter, background: pd.DataFrame,
                   explain: pd.DataFrame, *, n_steps: int = 50,
                   internal_batch_size: int = 2048) -> Attribution:
    """Captum integrated gradients over encoded features, summed back per raw feature, from
    the mean encoded training row (:func:`encoded_baseline`)."""
    start = time.perf_counter()
    module = adapter.module.eval()
    x = adapter.tensorize(explain)[0].to(adapter.device)
    target = explained_classes(adapter, explain)
    ig = IntegratedGradients(probability_forward(adapter, module))
    attr, delta = ig.attribute(x, baselines=encoded_baseline(adapter, background),
                               target=torch.as_tensor(target, device=adapter.device),
                               n_steps=n_steps, internal_batch_size=internal_batch_size,
                               return_convergence_delta=True)
    encoded = attr.detach().cpu().numpy().reshape(len(x), -1)
    encoder = getattr(adapter, "encoder", None)
    values = encoder.sum_by_group(encoded) if encoder is not None else encoded
    if encoder is not None:
        names = encoder.columns_
    elif isinstance(explain, pd.DataFrame):
        names = list(explain.columns)
    else:
        names = [f"x{j}" for j in range(encoded.shape[1])]
    return Attribution(method="Captum integrated gradients", features=list(names),
                       values=values, target=target, completeness_gap=float(delta.abs().mean()),
                       output_space=_space(adapter),
                       baseline=f"the mean encoded row of {len(background)} background rows",
                       seconds=time.perf_counter() - start)


def _tabular(adapter) -> bool:
    caps = adapter.capabilities
    return caps.modality == "tabular" and (caps.probabilities or caps.task == "regression")


@register_explainer("integrated_gradients",
                    lambda adapter: _tabular(adapter) and adapter.capabilities.differentiable,
                    priority=10)
def _integrated_gradients(adapter, X, *, background=None, seed=0, **kwargs) -> Attribution:
    return captum_tabular(adapter, X if background is None else background, X, **kwargs)


@register_explainer("shap", _tabular, priority=40)
def _shap(adapter, X, *, background=None, seed=0, **kwargs) -> Attribution:
    return shap_tabular(adapter, X if background is None else background, X, seed=seed,
                        **kwargs)
