""":func:`explain`: the registered explainer asked for, or the model's default."""

from __future__ import annotations

# the explainer modules register themselves on import
import trustml.explain._image  # noqa: F401
import trustml.explain._tabular  # noqa: F401
import trustml.explain._text  # noqa: F401
from trustml.errors import ConfigError
from trustml.explain._attribution import Attribution
from trustml.explain._registry import EXPLAINERS, explainers_for
from trustml.models._adapters import ModelAdapter


def _described(adapter: ModelAdapter) -> str:
    caps = adapter.capabilities
    return f"{adapter.kind} {caps.modality} {caps.task} model"


def default_method(adapter: ModelAdapter) -> str:
    """The first registered explainer that applies: ``attention`` (attention-mask integrated
    gradients) for Hugging Face transformers that take a float attention mask,
    ``integrated_gradients`` for other torch models (on the token embeddings for text),
    ``shap`` otherwise (exact linear / tree explainers where they apply)."""
    found = explainers_for(adapter)
    if not found:
        raise ConfigError(f"model: no explainer applies to a {_described(adapter)}")
    return found[0].name


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
        Or any explainer registered with ``register_explainer``.
    **kwargs
        Passed to the explainer (e.g. ``n_steps``).
    """
    names = ["auto", *dict.fromkeys(e.name for e in EXPLAINERS.values())]
    if method not in names:
        raise ConfigError(f"method: {method!r} is not one of {names}")
    fitting = explainers_for(adapter)
    chosen = [e for e in fitting if method in ("auto", e.name)]
    if not chosen:
        hint = (f"use one of {[e.name for e in fitting]}" if fitting
                else "no explainer applies to it")
        raise ConfigError(f"method: {method!r} does not apply to a {_described(adapter)}; "
                          f"{hint}")
    return chosen[0].func(adapter, X, background=background, seed=seed, **kwargs)
