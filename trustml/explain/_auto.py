"""The default explainer per model family: :func:`explain` picks it."""

from __future__ import annotations

from trustml.errors import ConfigError
from trustml.explain._attribution import Attribution
from trustml.explain._image import captum_image, is_image_model
from trustml.explain._tabular import captum_tabular, shap_tabular
from trustml.explain._text import (
    ablation_text,
    attention_text,
    captum_text,
    shap_text,
    supports_attention_bias,
)
from trustml.models._adapters import ModelAdapter, TorchTabularAdapter, TorchTextAdapter

METHODS = ("auto", "attention", "ablation", "integrated_gradients", "shap", "saliency",
           "occlusion")


def default_method(adapter: ModelAdapter) -> str:
    """``attention`` (attention-mask integrated gradients) for Hugging Face transformers that
    take a float attention mask, ``integrated_gradients`` for other torch models (on the token
    embeddings for text), ``shap`` otherwise (exact linear / tree explainers where they apply).
    """
    if supports_attention_bias(adapter):
        return "attention"
    if isinstance(adapter, (TorchTextAdapter, TorchTabularAdapter)):
        return "integrated_gradients"
    return "shap"


def explain(adapter: ModelAdapter, X, *, background=None, method: str = "auto",
            seed: int = 0, **kwargs) -> Attribution:
    """Attributions of ``X`` with ``method`` ("auto": :func:`default_method`).

    Parameters
    ----------
    adapter : ModelAdapter
    X : DataFrame (tabular, images as pixel columns) or list of str (text)
    background : DataFrame, optional
        Training rows: the reference for tabular SHAP and integrated gradients.
    method : {"auto", "attention", "ablation", "integrated_gradients", "shap", "saliency",
              "occlusion"}
    **kwargs
        Passed to the explainer (e.g. ``n_steps``).
    """
    if method not in METHODS:
        raise ConfigError(f"method: {method!r} is not one of {list(METHODS)}")
    method = default_method(adapter) if method == "auto" else method
    text = adapter.input_kind == "text"
    if method == "shap":
        if text:
            return shap_text(adapter, X, **kwargs)
        return shap_tabular(adapter, background if background is not None else X, X,
                            seed=seed, **kwargs)
    if method == "attention" and supports_attention_bias(adapter):
        return attention_text(adapter, X, **kwargs)
    if text and isinstance(adapter, TorchTextAdapter) and method in ("ablation",
                                                                     "integrated_gradients"):
        return (ablation_text if method == "ablation" else captum_text)(adapter, X, **kwargs)
    if is_image_model(adapter) and method in ("integrated_gradients", "saliency", "occlusion"):
        return captum_image(adapter, X, method=method, **kwargs)
    if isinstance(adapter, TorchTabularAdapter) and method == "integrated_gradients":
        return captum_tabular(adapter, background if background is not None else X, X, **kwargs)
    raise ConfigError(f"method: {method!r} does not apply to a {adapter.kind} "
                      f"{adapter.input_kind} model; use one of "
                      f"{[m for m in METHODS if m != method]}")
