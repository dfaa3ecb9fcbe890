"""Saving and loading weights without unpickling untrusted files."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_model
from torch import nn

from trustml.errors import ModelLoadError


def save_weights(module: nn.Module, path: str | os.PathLike) -> Path:
    """Write ``module``'s state dict as safetensors (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    save_model(module, str(tmp))  # handles tied / aliased weights (e.g. DPLSTM's)
    os.replace(tmp, path)
    return path


def load_weights(module: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a state dict from safetensors, or ``.pt`` / ``.pth`` with ``weights_only=True``.

    Raises
    ------
    ModelLoadError
        The file is missing, is not a weights file, or does not fit ``module``.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"model file: {str(path)!r} does not exist; check the path")
    try:
        if path.suffix == ".safetensors":
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # many formats fail in many ways; the user needs one message
        raise ModelLoadError(f"model file: {path.name} cannot be loaded as weights "
                             f"({type(exc).__name__}); save a state dict with safetensors or "
                             "torch.save(model.state_dict())") from exc
    if not isinstance(state, dict):
        raise ModelLoadError(f"model file: {path.name} holds a {type(state).__name__}, not a "
                             "state dict; save model.state_dict()")
    if path.suffix == ".safetensors":
        # save_model stores one name per shared tensor; restore the aliases from the module.
        for name, value in module.state_dict().items():
            if name not in state:
                for other, tensor in module.state_dict().items():
                    if other in state and tensor.data_ptr() == value.data_ptr():
                        state[name] = state[other]
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ModelLoadError(f"model file: {path.name} does not fit {type(module).__name__} "
                             f"({first}); pass the architecture it was saved from") from exc
    return module
