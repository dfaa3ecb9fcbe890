"""What a model family can do, declared by its adapter.

Explainers (``trustml.explain.register_explainer``), retraining and k-fold read an adapter's
:class:`Capabilities` instead of testing its class, so a new model family is one adapter module.
"""

from __future__ import annotations

from dataclasses import dataclass

MODALITIES = ("tabular", "text", "image")
TASKS = ("binary", "multiclass", "regression")


@dataclass(frozen=True)
class Capabilities:
    """Facts about one wrapped model.

    Attributes
    ----------
    modality : {"tabular", "text", "image"}
        What one input is: a row of features, a string, or an image (stored as pixel columns).
    task : {"binary", "multiclass", "regression"}
    probabilities : bool
        ``predict_proba`` answers (classifiers).
    differentiable : bool
        A torch module with ``module``, ``tensorize``, ``forward`` and ``device``: gradients
        reach its inputs (for text, the output of ``embedding_layer()``).
    text_embeddings : bool
        ``embedding_layer()`` returns the layer that embeds tokens (layer attributions start
        there).
    refits_cheaply : bool
        ``retrainer()`` refits the model in seconds, so k-fold cross-validation runs by default.
    """

    modality: str
    task: str
    probabilities: bool
    differentiable: bool = False
    text_embeddings: bool = False
    refits_cheaply: bool = False

    def __post_init__(self):
        if self.modality not in MODALITIES:
            raise ValueError(f"modality {self.modality!r} is not one of {MODALITIES}")
        if self.task not in TASKS:
            raise ValueError(f"task {self.task!r} is not one of {TASKS}")
