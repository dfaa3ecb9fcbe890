"""Checkpoints of a DP run: one folder per checkpoint, made visible by a single rename.

Layout of a checkpoint directory::

    LATEST                      name of the newest complete checkpoint (replaced atomically)
    <run>-<resumes>-<steps>/    model.safetensors (with its privacy claim), optimizer.pt,
                                average.pt (the weight average, when the run keeps one),
                                state.json (holds the run's secret noise seed: the folder is
                                readable by its owner only; never publish checkpoints)
    ledger-<fingerprint>.jsonl  a copy of the data set's ledger
    .lock                       held by the run writing here

A checkpoint folder is written under a temporary name, every file fsynced, then renamed, and
only then does ``LATEST`` point at it: a process killed at any moment leaves the previous
checkpoint whole. The privacy ledger line a checkpoint was accounted against is fsynced before
the folder is written (see :mod:`._train_private`).
"""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import torch

from trustml._files import exclusive, fsync_dir, fsync_file, write_durably
from trustml.errors import ConfigError
from trustml.models._io import load_weights, read_claim, save_weights
from trustml.privacy._ledger import LedgerError

LATEST = "LATEST"
STATE_FILE = "state.json"


@contextmanager
def hold(directory: Path):
    """Hold ``directory`` for one run; refuse at once if another process writes there."""
    directory.mkdir(parents=True, exist_ok=True)
    busy = LedgerError(f"checkpoint_dir: another training run is writing to {directory}; wait "
                       "for it, or give this run its own directory")
    with exclusive(directory / ".lock", busy):
        for stale in directory.glob(".*.part-*"):  # left by a process killed mid-checkpoint
            shutil.rmtree(stale, ignore_errors=True)
        yield


def save_checkpoint(directory: Path, module, optimizer, state: dict, claim: dict,
                    average: list | None = None) -> Path:
    """Write one checkpoint folder and point ``LATEST`` at it; drop the run's older ones.

    ``average``: the run's weight average (tensors), kept beside the weights it resumes from.
    """
    name = f"{state['run_id']}-{state['segment']}-{state['steps']:07d}"
    tmp = directory / f".{name}.part-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True, mode=0o700)  # it holds the run's secret: owner only
    save_weights(module, tmp / "model.safetensors", claim=claim)
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    os.chmod(tmp / "optimizer.pt", 0o600)
    fsync_file(tmp / "optimizer.pt")
    if average is not None:
        torch.save(average, tmp / "average.pt")
        fsync_file(tmp / "average.pt")
    write_durably(tmp / STATE_FILE, json.dumps(state, indent=2), mode=0o600)
    final = directory / name
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    fsync_dir(directory)
    write_durably(directory / LATEST, name)
    for old in directory.glob(f"{state['run_id']}-*"):
        if old.is_dir() and old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(directory: Path) -> Path:
    """The newest complete folder of the run ``LATEST`` names (a process killed after the
    folder's rename but before the pointer's leaves the pointer one checkpoint behind).

    Raises
    ------
    ConfigError
        There is no complete checkpoint to resume.
    """
    pointer = directory / LATEST
    folder = directory / pointer.read_text().strip() if pointer.is_file() else None
    if folder is None or not (folder / STATE_FILE).is_file():
        raise ConfigError(f"resume: no complete checkpoint in {str(directory)!r}; train "
                          "without resume first")
    run = folder.name.split("-")[0]
    done = [d for d in directory.glob(f"{run}-*-*") if (d / STATE_FILE).is_file()]
    return max(done, key=lambda d: int(d.name.rsplit("-", 1)[1]))


def load_checkpoint(folder: Path, module, optimizer, average: list | None = None
                    ) -> tuple[dict, dict]:
    """Load weights and optimizer state (and the weight average into ``average``, in place);
    return (state, the model's claim).

    Raises
    ------
    LedgerError
        state.json and the model's claim disagree (one of them was edited).
    ConfigError
        ``average`` was asked for but the run kept none.
    """
    try:
        state = json.loads((folder / STATE_FILE).read_text())
    except ValueError:
        raise LedgerError(f"resume: {folder / STATE_FILE} is not JSON; it was edited or "
                          "damaged; start a new run") from None
    claim = read_claim(folder / "model.safetensors") or {}
    for key in ("run_id", "steps", "ledger_head", "dataset"):
        if state.get(key) != claim.get(key):
            raise LedgerError(f"resume: {folder / STATE_FILE} says {key} = {state.get(key)!r} "
                              f"but its model says {claim.get(key)!r}; the checkpoint was "
                              "edited; resume from an intact copy or start a new run")
    load_weights(module, folder / "model.safetensors")
    optimizer.load_state_dict(torch.load(folder / "optimizer.pt", weights_only=True))
    if average is not None:
        if not (folder / "average.pt").is_file():
            raise ConfigError("resume: the run was started without a weight average (ema); "
                              "resume with the settings it was started with")
        for kept, saved in zip(average, torch.load(folder / "average.pt", weights_only=True)):
            kept.copy_(saved)
    return state, claim
