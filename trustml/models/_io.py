"""Saving and loading weights without unpickling untrusted files."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_model
from torch import nn

from trustml._files import fsync_dir, fsync_file, replace_durably, temporary_beside
from trustml.errors import ModelLoadError

CLAIM_KEY = "trustml.privacy"


def save_weights(module: nn.Module, path: str | os.PathLike, *,
                 claim: dict | None = None) -> Path:
    """Write ``module``'s state dict as safetensors, atomically and durably.

    ``claim``: the model's privacy claim (epsilon, delta, accountant, steps, ledger line),
    stored in the file's metadata so the claim travels with the weights (:func:`read_claim`).
    """
    path = Path(path)
    metadata = {CLAIM_KEY: json.dumps(claim, sort_keys=True)} if claim is not None else None
    with temporary_beside(path) as tmp:
        save_model(module, str(tmp), metadata=metadata)  # handles tied weights (DPLSTM's)
        return replace_durably(tmp, path)


def save_pretrained(model, directory: str | os.PathLike, *, tokenizer=None,
                    claim: dict | None = None) -> Path:
    """Save a Hugging Face model (safetensors) with its privacy claim in ``config.json``.

    The claim is the ``trustml_privacy`` entry of the config, so ``from_pretrained`` loads the
    model as usual and :func:`read_claim` reads the claim. The directory is written under a
    temporary name, fsynced and renamed: a reader sees the old directory or the new one.
    """
    directory = Path(directory)
    tmp = directory.with_name(f".{directory.name}.part-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    if claim is not None:
        model.config.trustml_privacy = claim
    model.save_pretrained(tmp)  # safetensors by default in transformers >= 4.35
    if tokenizer is not None:
        tokenizer.save_pretrained(tmp)
    for item in tmp.iterdir():
        fsync_file(item)
    old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
    if directory.exists():
        os.replace(directory, old)
    os.replace(tmp, directory)
    fsync_dir(directory.parent)
    shutil.rmtree(old, ignore_errors=True)
    return directory


def read_claim(path: str | os.PathLike) -> dict | None:
    """The privacy claim a saved model carries (None if none): the metadata of a safetensors
    file written by :func:`save_weights`, or ``config.json`` of a Hugging Face directory
    written by :func:`save_pretrained`.

    Raises
    ------
    ModelLoadError
        The file is not a readable safetensors file or directory, or its claim is not JSON.
    """
    path = Path(path)
    try:
        if path.is_dir():
            return json.loads((path / "config.json").read_text()).get("trustml_privacy")
        with safe_open(str(path), "pt") as f:
            metadata = f.metadata() or {}
        return json.loads(metadata[CLAIM_KEY]) if CLAIM_KEY in metadata else None
    except Exception as exc:  # a foreign or corrupt file fails in many ways
        raise ModelLoadError(f"model file: {path.name} holds no readable privacy claim "
                             f"({type(exc).__name__}); save it with trustml") from None


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
