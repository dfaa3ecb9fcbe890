"""Image attribution with Captum for torch image models (an adapter with an ``input_shape`` of
(channels, height, width)): integrated gradients, saliency and occlusion, per pixel."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch
from captum.attr import IntegratedGradients, Occlusion, Saliency

from trustml.errors import ConfigError
from trustml.explain._attribution import Attribution, explained_classes
from trustml.explain._registry import register_explainer
from trustml.explain._tabular import probability_forward
from trustml.models._adapters import TorchTabularAdapter

IMAGE_METHODS = ("integrated_gradients", "saliency", "occlusion")


def is_image_model(adapter) -> bool:
    """Whether the adapter is a differentiable classifier of images."""
    caps = adapter.capabilities
    return caps.modality == "image" and caps.differentiable and caps.probabilities


def captum_image(adapter: TorchTabularAdapter, X, *, method: str = "integrated_gradients",
                 n_steps: int = 50, internal_batch_size: int = 1024,
                 window: int = 2) -> Attribution:
    """Per-pixel attributions (summed over channels) for the explained class.

    Parameters
    ----------
    adapter : TorchTabularAdapter
        With ``input_shape=(C, H, W)``.
    X : DataFrame or array
        One flattened image per row, as the adapter takes it.
    method : {"integrated_gradients", "saliency", "occlusion"}
        Integrated gradients from a black (all-zero) image; saliency, the absolute gradient;
        occlusion, the probability drop when a ``window`` x ``window`` patch is blacked out
        (stride 1, averaged over the patches covering a pixel).
    """
    if method not in IMAGE_METHODS:
        raise ConfigError(f"method: {method!r} is not one of {list(IMAGE_METHODS)}")
    if not is_image_model(adapter):
        raise ConfigError("model: image attribution needs a torch adapter with "
                          "input_shape=(channels, height, width)")
    start = time.perf_counter()
    module = adapter.module.eval()
    x = adapter.tensorize(X)[0].to(adapter.device)
    target = torch.as_tensor(explained_classes(adapter, X), device=adapter.device)
    forward = probability_forward(adapter, module)
    gap = None
    if method == "integrated_gradients":
        attr, delta = IntegratedGradients(forward).attribute(
            x, baselines=torch.zeros_like(x), target=target, n_steps=n_steps,
            internal_batch_size=internal_batch_size, return_convergence_delta=True)
        gap = float(delta.abs().mean())
    elif method == "saliency":
        attr = Saliency(forward).attribute(x, target=target, abs=True)
    else:
        with torch.no_grad():
            attr = Occlusion(forward).attribute(
                x, sliding_window_shapes=(x.shape[1], window, window), strides=1,
                baselines=0.0, target=target,
                perturbations_per_eval=max(1, internal_batch_size // len(x)))
    _, height, width = adapter.input_shape
    values = attr.detach().float().cpu().sum(1).reshape(len(x), -1).numpy().astype(float)
    names = (list(X.columns) if isinstance(X, pd.DataFrame) and X.shape[1] == values.shape[1]
             else [f"px{j}" for j in range(values.shape[1])])
    label = {"integrated_gradients": "integrated gradients", "saliency": "saliency",
             "occlusion": f"occlusion ({window}x{window})"}[method]
    return Attribution(method=f"Captum {label}", features=names, values=values,
                       target=target.cpu().numpy(), completeness_gap=gap,
                       image_shape=(height, width), seconds=time.perf_counter() - start)


def image_pixels(adapter: TorchTabularAdapter, X) -> np.ndarray:
    """The images as the model sees them, channels averaged: (n, height, width)."""
    return adapter.tensorize(X)[0].float().mean(1).numpy()


def _registered(method: str):
    def explain_image(adapter, X, *, background=None, seed=0, **kwargs) -> Attribution:
        return captum_image(adapter, X, method=method, **kwargs)
    return explain_image


for _priority, _method in enumerate(IMAGE_METHODS, start=1):
    register_explainer(_method, is_image_model, priority=10 * _priority)(_registered(_method))
