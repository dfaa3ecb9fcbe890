"""The plug-in's adapter family, registered on import (entry point group trustml.adapters)."""

import numpy as np

from trustml.models import Capabilities, ModelAdapter, register_adapter
from trustml_demo_plugin.model import Threshold


@register_adapter
class ThresholdAdapter(ModelAdapter):
    kind = "threshold"

    def __init__(self, model: Threshold, *, task=None):
        self.model, self.task = model, "binary"

    def predict_proba(self, X) -> np.ndarray:
        p = self.model.probability(np.asarray(X, dtype=float))
        return np.column_stack([1 - p, p])

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities("tabular", "binary", probabilities=True)

    def retrainer(self):
        def retrain(X, y, *, private=False, seed=0):
            x = np.asarray(X, dtype=float)[:, 0]
            y = np.asarray(y)
            return ThresholdAdapter(Threshold((x[y == 1].mean() + x[y == 0].mean()) / 2))
        return retrain

    @classmethod
    def accepts(cls, obj, *, tokenizer=None) -> bool:
        return isinstance(obj, Threshold)
