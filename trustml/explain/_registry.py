"""The registry of explainers: each says which models it applies to, and all share one
signature, so :func:`explain` and the audit pick them from an adapter's capabilities (as
Opacus registers a grad sampler per layer type)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from trustml._registry import Registry
from trustml.explain._attribution import Attribution


@dataclass(frozen=True)
class Explainer:
    """One registered explainer.

    Attributes
    ----------
    name : str
        The ``method=`` key (several families may each register one under the same name).
    applies : callable
        ``applies(adapter) -> bool``.
    func : callable
        ``func(adapter, X, *, background, seed, **kwargs) -> Attribution``.
    priority : int
        Lower first: the first that applies is the model's default explainer.
    audit_rows : int or None
        The audit explains at most this many rows with it (for slow explainers).
    audit_kwargs : dict
        Keywords the audit passes (e.g. a smaller evaluation budget).
    """

    name: str
    applies: Callable
    func: Callable[..., Attribution]
    priority: int
    audit_rows: int | None = None
    audit_kwargs: dict = field(default_factory=dict)


# Keyed "name/module.function" (several families may share a method name), by priority.
EXPLAINERS = Registry("explainers", order=lambda e: e.priority)


def register_explainer(name: str, applies: Callable, *, priority: int,
                       audit_rows: int | None = None, audit_kwargs: dict | None = None):
    """Decorator registering ``func(adapter, X, *, background, seed, **kwargs)`` as explainer
    ``name`` for the adapters ``applies`` accepts (another package: through the
    ``trustml.explainers`` entry point group)."""
    def decorate(func):
        EXPLAINERS.register(f"{name}/{func.__module__}.{func.__qualname__}",
                            Explainer(name, applies, func, priority, audit_rows,
                                      dict(audit_kwargs or {})))
        return func
    return decorate


def explainers_for(adapter) -> list[Explainer]:
    """The explainers that apply to ``adapter``, its default first."""
    return [e for e in EXPLAINERS.values() if e.applies(adapter)]
