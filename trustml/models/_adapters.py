"""One adapter protocol over scikit-learn, PyTorch and Hugging Face models.

Every adapter answers ``predict_proba(X)`` and ``predict(X)`` on raw inputs (a feature frame or
a sequence of strings). Torch adapters also expose what gradients need: ``module``,
``tensorize(X)`` (raw inputs to model tensors) and ``forward(module, *tensors)`` (tensors to
logits), which training and attribution call with the module they hold, wrapped by Opacus or not.
"""

from __future__ import annotations

# Over 400 lines on purpose: the adapter protocol, its registry and the built-in families
# (scikit-learn, torch tabular and text, Hugging Face) that share it.

import functools
import inspect
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.base import clone
from torch import nn

from trustml._registry import Registry
from trustml.data import TabularEncoder
from trustml.errors import ConfigError
from trustml.models._capabilities import Capabilities


def default_device() -> torch.device:
    """CUDA when there is a GPU, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# Adapter families by class name, newest first: wrap() offers an object to each in turn.
ADAPTERS = Registry("adapters", newest_first=True)


def register_adapter(cls: type[ModelAdapter]) -> type[ModelAdapter]:
    """Class decorator: :func:`wrap` offers objects to ``cls.accepts``, newest family first
    (so a family registered later, which is more specific, is asked before the built-ins).
    Another package registers one through the ``trustml.adapters`` entry point group."""
    ADAPTERS.register(f"{cls.__module__}.{cls.__qualname__}", cls)
    return cls


class ModelAdapter:
    """Common protocol. Subclasses set ``kind`` and ``input_kind``, implement prediction and
    declare what they can do (:attr:`capabilities`, :meth:`retrainer`); registered with
    :func:`register_adapter`, they also say which objects they wrap (:meth:`accepts`,
    :meth:`adapt`)."""

    kind: str = "model"
    input_kind: str = "tabular"
    task: str = "binary"
    module: nn.Module | None = None
    tokenizer: Any = None

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n, n_classes)."""
        raise NotImplementedError

    def predict(self, X) -> np.ndarray:
        """Class codes (classification) or values (regression)."""
        return self.predict_proba(X).argmax(axis=1)

    def describe(self) -> dict:
        """Plain facts for reports."""
        return {"kind": self.kind, "input": self.input_kind, "task": self.task}

    @property
    def capabilities(self) -> Capabilities:
        """What this model can do; explainers, retraining and k-fold read it."""
        return Capabilities(self.input_kind, self.task, self.task != "regression")

    def retrainer(self) -> Callable | None:
        """``fn(X, y, *, private, seed) -> adapter`` that trains this model anew, or None
        when only the caller knows how (``audit(retrain=...)``)."""
        return None

    def on_inputs(self, kind: str) -> ModelAdapter:
        """This adapter told what the data's inputs are ("tabular" or "text"): a family that
        takes either (a scikit-learn pipeline) takes the data's word for it."""
        return self

    @classmethod
    def accepts(cls, obj, *, tokenizer=None) -> bool:
        """Whether :func:`wrap` should wrap ``obj`` in this family."""
        return False

    @classmethod
    def adapt(cls, obj, *, tokenizer=None, encoder: TabularEncoder | None = None,
              task: str | None = None, **kwargs) -> ModelAdapter:
        """``obj`` wrapped, with :func:`wrap`'s keywords."""
        return cls(obj, task=task, **kwargs)


@register_adapter
class SklearnAdapter(ModelAdapter):
    """A fitted scikit-learn estimator or pipeline taking the raw feature frame."""

    kind = "sklearn"

    def __init__(self, estimator, *, task: str | None = None, input_kind: str = "tabular"):
        self.estimator, self.input_kind = estimator, input_kind
        self.task = task or ("classification" if hasattr(estimator, "predict_proba")
                             else "regression")
        if self.task == "classification":
            self.task = "binary" if len(getattr(estimator, "classes_", [0, 1])) == 2 \
                else "multiclass"

    def predict_proba(self, X) -> np.ndarray:
        if self.task == "regression":
            raise ConfigError("task: a regression model has no class probabilities; "
                              "use predict()")
        return np.asarray(self.estimator.predict_proba(X), dtype=float)

    def predict(self, X) -> np.ndarray:
        if self.task == "regression":
            return np.asarray(self.estimator.predict(X), dtype=float)
        return self.predict_proba(X).argmax(axis=1)

    def describe(self) -> dict:
        return {**super().describe(), "estimator": type(self.estimator).__name__}

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(self.input_kind, self.task, self.task != "regression",
                            refits_cheaply=True)

    def retrainer(self) -> Callable:
        """A clone of the estimator refitted (non-private: scikit-learn has no DP training)."""
        def retrain(X, y, *, private: bool = False, seed: int = 0):
            if private:
                raise ConfigError("retrain: a scikit-learn model has no DP training here; "
                                  "pass retrain= that trains it privately")
            return SklearnAdapter(clone(self.estimator).fit(X, y), task=self.task,
                                  input_kind=self.input_kind)
        retrain.trains_privately = False  # read by AuditContext.retrains_as_audited
        return retrain

    def on_inputs(self, kind: str) -> SklearnAdapter:
        self.input_kind = kind
        return self

    @classmethod
    def accepts(cls, obj, *, tokenizer=None) -> bool:
        return hasattr(obj, "fit") and hasattr(obj, "predict")

    @classmethod
    def adapt(cls, obj, *, tokenizer=None, encoder=None, task=None, **kwargs):
        return cls(obj, task=task)  # batch size and device are torch settings


class TorchAdapter(ModelAdapter):
    """Base of adapters over a torch module; batches inference on the module's device."""

    kind = "torch"

    def __init__(self, module: nn.Module, *, task: str = "binary", batch_size: int = 256,
                 device: torch.device | str | None = None, target_center: float = 0.0,
                 target_scale: float = 1.0):
        self.module = module
        self.task = task
        # A regression module trained on (y - center) / scale answers in those units.
        self.target_center, self.target_scale = target_center, target_scale
        self.batch_size = batch_size
        self.device = torch.device(device) if device is not None else default_device()
        self.module.to(self.device)

    def tensorize(self, X) -> tuple[torch.Tensor, ...]:
        """Raw inputs to the tensors ``forward`` takes (on CPU)."""
        raise NotImplementedError

    def forward(self, module: nn.Module, *tensors: torch.Tensor) -> torch.Tensor:
        """Logits of ``module`` (this adapter's, or a wrapped copy) on ``tensors``."""
        return module(*tensors)

    def batches(self, X):
        """``(rows, tensors)`` for each inference batch: every row of ``X`` once, in order."""
        tensors = self.tensorize(X)
        for start in range(0, len(tensors[0]), self.batch_size):
            yield (np.arange(start, min(start + self.batch_size, len(tensors[0]))),
                   [t[start:start + self.batch_size] for t in tensors])

    @torch.no_grad()
    def logits(self, X) -> np.ndarray:
        """Raw model outputs on ``X``, batched (:meth:`batches`), in eval mode, in the order of
        ``X``."""
        was_training = self.module.training
        self.module.eval()
        try:
            rows, outs = [], []
            for where, batch in self.batches(X):
                rows.append(where)
                outs.append(self.forward(self.module, *(t.to(self.device) for t in batch))
                            .float().cpu())
        finally:
            self.module.train(was_training)
        out = torch.cat(outs).numpy()
        placed = np.empty_like(out)
        placed[np.concatenate(rows)] = out
        return placed

    def predict_proba(self, X) -> np.ndarray:
        if self.task == "regression":
            raise ConfigError("task: a regression model has no class probabilities; "
                              "use predict()")
        z = torch.from_numpy(self.logits(X))
        if z.shape[1] == 1:  # one logit: binary with sigmoid
            p = torch.sigmoid(z)
            return torch.cat([1 - p, p], dim=1).numpy().astype(float)
        return torch.softmax(z, dim=1).numpy().astype(float)

    def predict(self, X) -> np.ndarray:
        if self.task == "regression":
            return self.logits(X)[:, 0].astype(float) * self.target_scale + self.target_center
        return self.predict_proba(X).argmax(axis=1)

    def describe(self) -> dict:
        params = sum(p.numel() for p in self.module.parameters())
        trainable = sum(p.numel() for p in self.module.parameters() if p.requires_grad)
        return {**super().describe(), "architecture": type(self.module).__name__,
                "parameters": params, "trainable_parameters": trainable,
                "device": str(self.device)}

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(self.input_kind, self.task, self.task != "regression",
                            differentiable=True)


@register_adapter
class TorchTabularAdapter(TorchAdapter):
    """A torch module over encoded tabular features (or images stored as pixel columns).

    ``encoder`` maps the raw feature frame to the float matrix the module takes; without one the
    frame (or array) must already be numeric. ``input_shape`` reshapes each row, e.g.
    ``(1, 8, 8)`` for a CNN on 8 x 8 images.
    """

    def __init__(self, module: nn.Module, *, encoder: TabularEncoder | None = None,
                 input_shape: tuple[int, ...] | None = None, **kwargs):
        super().__init__(module, **kwargs)
        self.encoder = encoder
        self.input_shape = input_shape

    def encode(self, X) -> np.ndarray:
        """Raw inputs to the float matrix the module takes."""
        if self.encoder is not None:
            return self.encoder.transform(X)
        return np.array(X.to_numpy() if isinstance(X, pd.DataFrame) else X, dtype=np.float32)

    def tensorize(self, X) -> tuple[torch.Tensor, ...]:
        x = torch.as_tensor(self.encode(X), dtype=torch.float32)
        return (x.reshape(len(x), *self.input_shape) if self.input_shape else x,)

    @property
    def capabilities(self) -> Capabilities:
        """An ``input_shape`` of (channels, height, width) makes the rows images."""
        image = self.input_shape is not None and len(self.input_shape) == 3
        return Capabilities("image" if image else "tabular", self.task,
                            self.task != "regression", differentiable=True)

    @classmethod
    def accepts(cls, obj, *, tokenizer=None) -> bool:
        return isinstance(obj, nn.Module)

    @classmethod
    def adapt(cls, obj, *, tokenizer=None, encoder=None, task=None, **kwargs):
        return cls(obj, encoder=encoder, task=task or "binary", **kwargs)


@register_adapter
class TorchTextAdapter(TorchAdapter):
    """A torch text classifier taking ``(input_ids, attention_mask)`` from a tokenizer."""

    input_kind = "text"

    def __init__(self, module: nn.Module, *, tokenizer, max_length: int = 64, **kwargs):
        super().__init__(module, **kwargs)
        self.tokenizer = tokenizer
        self.max_length = max_length

    def tensorize(self, X: Sequence[str]) -> tuple[torch.Tensor, ...]:
        enc = self.tokenizer([str(t) for t in X], padding=True, truncation=True,
                             max_length=self.max_length, return_tensors="pt")
        return enc["input_ids"], enc["attention_mask"]

    def embedding_layer(self) -> nn.Module | None:
        """The layer embedding token ids (``get_input_embeddings()``, else an ``embedding``
        attribute), or None."""
        if hasattr(self.module, "get_input_embeddings"):
            return self.module.get_input_embeddings()
        layer = getattr(self.module, "embedding", None)
        return layer if isinstance(layer, nn.Embedding) else None

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities("text", self.task, self.task != "regression", differentiable=True,
                            text_embeddings=self.embedding_layer() is not None)

    @classmethod
    def accepts(cls, obj, *, tokenizer=None) -> bool:
        return isinstance(obj, nn.Module) and tokenizer is not None

    @classmethod
    def adapt(cls, obj, *, tokenizer=None, encoder=None, task=None, **kwargs):
        return cls(obj, tokenizer=tokenizer, task=task or "binary", **kwargs)


@functools.lru_cache(maxsize=None)
def _forward_keywords(cls: type) -> frozenset:
    return frozenset(inspect.signature(cls.forward).parameters)


def explicit_ids(module: nn.Module, input_ids: torch.Tensor) -> dict:
    """The position (and token-type) ids a Hugging Face classifier would make itself, as
    (B, T) tensors, for the keywords its ``forward`` takes.

    RoBERTa-style embeddings (which have a ``padding_idx``) number positions from
    ``padding_idx + 1`` and skip padding, as ``create_position_ids_from_input_ids`` does; others
    number them from 0.
    """
    base = module.get_base_model() if hasattr(module, "get_base_model") else module  # peft
    takes = _forward_keywords(type(base))
    b, t = input_ids.shape
    ids = {}
    if "position_ids" in takes:
        pad = getattr(getattr(base.base_model, "embeddings", None), "padding_idx", None)
        if pad is not None:
            mask = input_ids.ne(pad).long()
            ids["position_ids"] = torch.cumsum(mask, 1) * mask + pad
        else:
            ids["position_ids"] = torch.arange(t, device=input_ids.device).expand(b, t).contiguous()
    if "token_type_ids" in takes:
        ids["token_type_ids"] = torch.zeros_like(input_ids)
    return ids


@register_adapter
class HFTextAdapter(TorchTextAdapter):
    """A Hugging Face sequence classifier.

    Position and token-type ids are passed explicitly: Opacus' per-sample gradient hooks need
    them as (B, T) tensors rather than the broadcast buffers the model would make itself.
    """

    kind = "huggingface"

    def batches(self, X):
        """Batches of texts of similar length (sorted by token count, each batch padded only
        to its longest): padding that attention masks out costs compute, not answers."""
        enc = self.tokenizer([str(t) for t in X], truncation=True, max_length=self.max_length)
        ids, mask = enc["input_ids"], enc["attention_mask"]
        order = np.argsort([len(i) for i in ids], kind="stable")
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            padded = self.tokenizer.pad({"input_ids": [ids[i] for i in rows],
                                         "attention_mask": [mask[i] for i in rows]},
                                        return_tensors="pt")
            yield rows, [padded["input_ids"], padded["attention_mask"]]

    def forward(self, module: nn.Module, input_ids: torch.Tensor,
                attention_mask: torch.Tensor) -> torch.Tensor:
        return module(input_ids=input_ids, attention_mask=attention_mask,
                      **explicit_ids(module, input_ids)).logits

    def describe(self) -> dict:
        cfg = getattr(self.module, "config", None)
        name = getattr(cfg, "_name_or_path", "") if cfg is not None else ""
        return {**super().describe(), "backbone": str(name).rsplit("/", 2)[-2:][-1] or "custom"}

    @classmethod
    def accepts(cls, obj, *, tokenizer=None) -> bool:
        return (isinstance(obj, nn.Module) and hasattr(obj, "config")
                and hasattr(obj, "base_model_prefix"))

    @classmethod
    def adapt(cls, obj, *, tokenizer=None, encoder=None, task=None, **kwargs):
        if tokenizer is None:
            raise ConfigError("tokenizer: a Hugging Face model needs its tokenizer; "
                              "pass tokenizer=")
        return super().adapt(obj, tokenizer=tokenizer, task=task, **kwargs)


def wrap(obj, *, tokenizer=None, encoder: TabularEncoder | None = None,
         task: str | None = None, **kwargs) -> ModelAdapter:
    """Wrap a model in the adapter protocol.

    Parameters
    ----------
    obj : scikit-learn estimator, torch ``nn.Module``, Hugging Face model, or an adapter
    tokenizer : optional
        Required for text models (torch or Hugging Face).
    encoder : TabularEncoder, optional
        For torch tabular models that take encoded features.
    task : {"binary", "multiclass", "regression"}, optional
    **kwargs
        ``batch_size``, ``device``, ``max_length`` for torch adapters; ``target_center`` and
        ``target_scale`` for a torch regression module trained on ``(y - center) / scale``.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> m = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    >>> wrap(m).predict_proba([[1.0]]).shape
    (1, 2)
    """
    if isinstance(obj, ModelAdapter):
        return obj
    for family in ADAPTERS.values():
        if family.accepts(obj, tokenizer=tokenizer):
            return family.adapt(obj, tokenizer=tokenizer, encoder=encoder, task=task, **kwargs)
    raise ConfigError(f"model: cannot wrap a {type(obj).__name__}; pass a scikit-learn "
                      "estimator, a torch nn.Module or a Hugging Face model")
