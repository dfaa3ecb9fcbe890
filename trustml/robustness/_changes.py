"""How far a model's answers move when its inputs are perturbed."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from trustml.data import select_rows


def output_change(before: np.ndarray, after: np.ndarray, regression: bool) -> tuple[float, float]:
    """Share of answers changed (NaN for regression) and mean absolute change (of the
    originally predicted class's probability, or of the predicted value)."""
    if regression:
        return float("nan"), float(np.mean(np.abs(after - before)))
    pred = before.argmax(axis=1)
    rows = np.arange(len(pred))
    return (float(np.mean(after.argmax(axis=1) != pred)),
            float(np.mean(np.abs(after[rows, pred] - before[rows, pred]))))


def prediction_changes(predict: Callable, x, variants: Mapping, altered: Mapping[str, np.ndarray],
                       *, regression: bool) -> dict[str, tuple[float, float]]:
    """:func:`output_change` of each perturbation named in ``altered``, over the inputs it
    altered (an untouched input cannot flip).

    Parameters
    ----------
    predict : callable
        Inputs -> probabilities (classification) or predicted values (regression).
    x : DataFrame or list of str
        The original inputs.
    variants : mapping of str to DataFrame or list of str
        Perturbed copies of ``x``, by name (as :func:`tabular_variants` or
        :func:`text_variants` make them).
    altered : mapping of str to numpy.ndarray
        Per name to measure, which inputs its variant changed (:func:`changed_rows`).
    regression : bool

    Returns
    -------
    dict
        Name -> (share of answers changed, mean absolute change), in the order of ``altered``.
    """
    before = predict(x)
    out = {}
    for name, mask in altered.items():
        after = predict(select_rows(variants[name], np.flatnonzero(mask)))
        out[name] = output_change(before[mask], after, regression)
    return out
