"""A probe: a small head trained on a frozen, public text encoder's mean-pooled features.

With little private data, a DP linear model on good fixed features beats end-to-end DP training
(Tramer and Boneh, ICLR 2021). The encoder never trains, so each text's features are computed
once and cached; every DP epoch then costs a pass over a feature matrix, not the encoder. The
adapter still takes raw strings, so the trained model is audited like any text classifier.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from trustml.errors import ModelLoadError
from trustml.models._adapters import TorchAdapter
from trustml.models._capabilities import Capabilities
from trustml.models._feature_cache import FeatureCache

_ENCODERS: dict[tuple[str, int, int], FrozenTextEncoder] = {}


class FrozenTextEncoder:
    """Mean-pooled hidden states of a frozen transformer encoder's top layers, cached per text.

    Parameters
    ----------
    backbone : path or hub id, optional
        Default: all-MiniLM-L6-v2, offline (:func:`trustml.models.default_backbone`).
    max_length : int
        Tokens kept per text.
    layers : int
        How many top layers' mean-pooled states to concatenate (1: the last hidden state).
    batch_size : int
        Texts per forward pass.
    """

    def __init__(self, backbone: str | os.PathLike | None = None, *, max_length: int = 48,
                 layers: int = 1, batch_size: int = 128):
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        from trustml.models._architectures import default_backbone, load_tokenizer

        self.source = str(backbone) if backbone is not None else default_backbone()
        self.tokenizer = load_tokenizer(self.source)
        hf_logging.disable_progress_bar()  # loading takes a second; no bar for it
        try:
            self.model = AutoModel.from_pretrained(self.source)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"backbone: cannot load {self.source!r} "
                                 f"({type(exc).__name__}); pass a local model directory") from exc
        self.model.eval().requires_grad_(False)
        depth = self.model.config.num_hidden_layers
        if not 1 <= layers <= depth:
            raise ModelLoadError(f"layers: {layers!r} is not between 1 and the backbone's "
                                 f"{depth} layers")
        self.max_length, self.layers, self.batch_size = max_length, layers, batch_size
        self.dim = self.model.config.hidden_size * layers
        self._cache = FeatureCache()

    @classmethod
    def shared(cls, backbone: str | os.PathLike | None = None, *, max_length: int = 48,
               layers: int = 1) -> FrozenTextEncoder:
        """One encoder (and feature cache) per backbone, length and layers in this process."""
        from trustml.models._architectures import default_backbone

        key = (str(backbone) if backbone is not None else default_backbone(), max_length, layers)
        if key not in _ENCODERS:
            _ENCODERS[key] = cls(key[0], max_length=max_length, layers=layers)
        return _ENCODERS[key]

    def __deepcopy__(self, memo) -> FrozenTextEncoder:
        return self  # frozen and public: copies of a probe share it

    @torch.no_grad()
    def __call__(self, texts) -> torch.Tensor:
        """Features of ``texts``, shape (n, ``dim``), float32 on the CPU."""
        texts = [str(t) for t in texts]
        if not texts:
            return torch.zeros(0, self.dim)
        return self._cache.rows(texts, self._encode)

    def _encode(self, texts: list[str]) -> torch.Tensor:
        """Mean-pooled states of ``texts``, batched by length (little padding), in order."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = torch.empty(len(texts), self.dim)
        for start in range(0, len(order), self.batch_size):
            positions = order[start:start + self.batch_size]
            enc = self.tokenizer([texts[i] for i in positions], padding=True, truncation=True,
                                 max_length=self.max_length, return_tensors="pt")
            states = self.model(**enc, output_hidden_states=True).hidden_states
            mask = enc["attention_mask"].unsqueeze(-1).to(states[-1].dtype)
            out[positions] = torch.cat([(h * mask).sum(1) / mask.sum(1).clamp(min=1.0)
                                        for h in states[-self.layers:]], dim=1).float()
        return out


class ProbeTextAdapter(TorchAdapter):
    """A text classifier: a frozen encoder's features (:class:`FrozenTextEncoder`) into
    ``module``, the trainable head (e.g. :class:`~trustml.models.MLPClassifier`).

    ``module`` holds every trained weight, so its state dict is the model to save and its
    privacy claim covers all of it; the encoder is the public backbone, rebuilt from its name.

    Examples
    --------
    >>> from trustml.models import MLPClassifier
    >>> enc = FrozenTextEncoder.shared(max_length=16)
    >>> probe = ProbeTextAdapter(MLPClassifier(enc.dim, hidden=()), encoder=enc)
    >>> probe.predict_proba(["a fine film", "dull"]).shape
    (2, 2)
    """

    input_kind = "text"

    def __init__(self, module: nn.Module, *, encoder: FrozenTextEncoder, **kwargs):
        super().__init__(module, **kwargs)
        self.encoder = encoder
        self.tokenizer = encoder.tokenizer
        self.max_length = encoder.max_length

    def tensorize(self, X) -> tuple[torch.Tensor, ...]:
        return (self.encoder(X),)

    def describe(self) -> dict:
        return {**super().describe(), "backbone": os.path.basename(self.encoder.source),
                "features": "mean-pooled, frozen encoder"}

    @property
    def capabilities(self) -> Capabilities:
        """Gradients stop at the cached features: text explainers that perturb words apply,
        those that differentiate through token embeddings do not."""
        return Capabilities("text", self.task, self.task != "regression")
