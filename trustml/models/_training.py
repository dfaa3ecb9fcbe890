"""Plain (non-private) training of torch adapters, and the dataset / loss DP training shares."""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from tqdm.auto import tqdm

from trustml.errors import ConfigError
from trustml.models._adapters import TorchAdapter


def make_dataset(adapter: TorchAdapter, X, y) -> TensorDataset:
    """Model tensors of ``X`` plus the label tensor, as one dataset.

    Raises
    ------
    ConfigError
        ``X`` and ``y`` differ in length, or the labels are not numbers.
    """
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise ConfigError(f"y: labels of shape {labels.shape}; pass one label per row (1-D)")
    if len(labels) != len(X):
        raise ConfigError(f"X, y: {len(X)} rows in X but {len(labels)} labels in y; pass one "
                          "label per row")
    if labels.dtype.kind not in "biuf":
        raise ConfigError(f"y: labels of type {labels.dtype} (e.g. {labels[:1].tolist()}); "
                          "pass class indices 0..k-1 (sklearn.preprocessing.LabelEncoder) or, "
                          "for regression, numbers")
    target = torch.as_tensor(labels, dtype=torch.float32 if adapter.task == "regression"
                             else torch.long)
    return TensorDataset(*adapter.tensorize(X), target)


def loss_fn(adapter: TorchAdapter, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean loss for the adapter's task: cross-entropy, or squared error for regression."""
    if adapter.task == "regression":
        return nn.functional.mse_loss(logits[:, 0].float(), target)
    if logits.shape[1] == 1:
        return nn.functional.binary_cross_entropy_with_logits(logits[:, 0].float(),
                                                              target.float())
    return nn.functional.cross_entropy(logits.float(), target)


def _train_epochs(adapter: TorchAdapter, optimizer: torch.optim.Optimizer, loader: DataLoader,
                  *, epochs: int, desc: str, progress: bool) -> list[float]:
    """Run ``epochs`` passes of plain training; return the mean training loss of each."""
    module = adapter.module
    module.train()
    losses = []
    with tqdm(total=epochs * len(loader), desc=desc, disable=not progress, leave=False,
              unit="step", mininterval=1.0) as bar:
        for epoch in range(epochs):
            running, seen = 0.0, 0
            for *inputs, target in loader:
                inputs = [t.to(adapter.device) for t in inputs]
                target = target.to(adapter.device)
                loss = loss_fn(adapter, adapter.forward(module, *inputs), target)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                value = loss.item()
                running += value * len(target)
                seen += len(target)
                bar.set_postfix(epoch=epoch + 1, loss=f"{value:.3f}", refresh=False)
                bar.update()
            losses.append(running / max(seen, 1))
    module.eval()
    return losses


def fit(adapter: TorchAdapter, X, y, *, epochs: int = 5, batch_size: int = 64, lr: float = 1e-3,
        weight_decay: float = 0.0, seed: int = 0, progress: bool = True,
        desc: str = "train (non-private)") -> dict:
    """Train the adapter's module in place with AdamW; return a small training record.

    Returns
    -------
    dict
        ``epochs``, ``batch_size``, ``lr``, ``steps``, ``loss`` (per epoch), ``seconds``.
    """
    torch.manual_seed(seed)
    dataset = make_dataset(adapter, X, y)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    params = [p for p in adapter.module.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    start = time.perf_counter()
    losses = _train_epochs(adapter, optimizer, loader, epochs=epochs, desc=desc,
                           progress=progress)
    return {"private": False, "epochs": epochs, "batch_size": batch_size, "lr": lr,
            "steps": epochs * len(loader), "loss": losses,
            "seconds": time.perf_counter() - start, "examples": len(dataset)}
