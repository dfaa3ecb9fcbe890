"""`Attribution`: what every explainer returns, and its global summary.

Explainers explain one class per example (``target``): the positive class (1) of a binary
model, the predicted class of a multi-class one. Unless ``output_space`` says otherwise they
explain that class's probability, so SHAP's and Captum's numbers share a scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from trustml.models._adapters import ModelAdapter

POSITIVE = 1


@dataclass
class Attribution:
    """Local attributions of one method.

    Attributes
    ----------
    method : str
    features : list of str
        Tabular: one name per column of ``values``.
    values : numpy.ndarray
        Tabular: (n_examples, n_features).
    tokens, token_values : list of list
        Text: per example, its tokens and their attributions.
    fragments : list of list of str
        Text: per example, the piece of the original text each token covers ("" for special
        tokens), so that joining the pieces a model should see rebuilds the text without the
        others; the quality metrics delete tokens this way for every explainer alike.
    target : numpy.ndarray
        The class explained for each example.
    completeness_gap : float or None
        Integrated gradients: mean |sum of attributions - (f(x) - f(baseline))|.
    image_shape : tuple, optional
        Images: (height, width) of the pixel grid ``values`` flattens.
    output_space : {"probability", "log-odds", "target units"}
        What the attributions add up to (SHAP's linear explainer on a classifier: log-odds; a
        regression model: its prediction, in the target's units).
    baseline : str
        What the attributions are measured against, in words (e.g. "the mean of 4,500
        background rows"): SHAP values add up to f(x) minus the model's output there.
    seconds : float
        Wall-clock time the explainer took.
    """

    method: str
    features: list[str] = field(default_factory=list)
    values: np.ndarray | None = None
    tokens: list[list[str]] = field(default_factory=list)
    token_values: list[list[float]] = field(default_factory=list)
    fragments: list[list[str]] = field(default_factory=list)
    target: np.ndarray | None = None
    completeness_gap: float | None = None
    image_shape: tuple[int, int] | None = None
    output_space: str = "probability"
    baseline: str = ""
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.values) if self.values is not None else len(self.token_values)

    def head(self, n: int) -> Attribution:
        """The attribution of the first ``n`` examples."""
        target = None if self.target is None else self.target[:n]
        if self.values is not None:
            return replace(self, values=self.values[:n], target=target)
        return replace(self, tokens=self.tokens[:n], token_values=self.token_values[:n],
                       fragments=self.fragments[:n], target=target)

    def global_importance(self, top: int = 10, min_count: int = 2) -> list[dict]:
        """Features (or tokens) ranked by mean absolute attribution, with its spread (std).

        Text tokens seen fewer than ``min_count`` times are left out when enough others remain.
        """
        if self.values is not None:
            mags = np.abs(self.values)
            rows = [{"feature": f, "mean_abs": float(mags[:, j].mean()),
                     "std_abs": float(mags[:, j].std()),
                     "mean_signed": float(self.values[:, j].mean())}
                    for j, f in enumerate(self.features)]
        else:
            frame = pd.DataFrame(
                [(t.strip().lower(), v) for toks, vals in zip(self.tokens, self.token_values)
                 for t, v in zip(toks, vals) if t.strip() and not _is_special(t)],
                columns=["feature", "value"])
            frame["abs"] = frame["value"].abs()
            g = frame.groupby("feature").agg(mean_abs=("abs", "mean"), std_abs=("abs", "std"),
                                             mean_signed=("value", "mean"),
                                             count=("value", "size")).reset_index()
            if (g["count"] >= min_count).sum() >= top:
                g = g[g["count"] >= min_count]
            g["std_abs"] = g["std_abs"].fillna(0.0)
            rows = g.to_dict("records")
            for r in rows:
                r["count"] = int(r["count"])
        rows.sort(key=lambda r: -r["mean_abs"])
        return rows[:top]


def _is_special(token: str) -> bool:
    return token.startswith("[") and token.endswith("]") or token in ("<s>", "</s>", "<pad>")


def explained_classes(adapter: ModelAdapter, X) -> np.ndarray:
    """The class to explain per example: 1 for a binary model, else the predicted class; 0
    (the one output) for a regression model."""
    if adapter.task == "regression":
        return np.zeros(len(X), dtype=int)
    proba = adapter.predict_proba(X)
    if proba.shape[1] == 2:
        return np.full(len(proba), POSITIVE)
    return proba.argmax(1)

