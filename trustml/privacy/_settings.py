"""Checks of DP training settings and data, made before the first private step.

Nothing is spent on input that cannot train a model: every check here runs before the ledger
is touched. Messages name each setting as the caller's interface spells it: ``names`` maps the
keyword names of :func:`trustml.privacy.train_private` to, e.g., a recipe's YAML keys.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import torch

from trustml.errors import ConfigError, DataError

ACCOUNTANTS = ("prv", "rdp", "gdp")
MIN_ROWS = 10


def _name(key: str, names: dict | None) -> str:
    return (names or {}).get(key, "X" if key == "n" else key)


def _is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def check_privacy_params(target_epsilon: float, delta: float | None, accountant: str, *,
                         names: dict | None = None) -> None:
    """Raise :class:`ConfigError` for an epsilon, delta or accountant out of range."""
    if not (_is_number(target_epsilon) and target_epsilon > 0):
        raise ConfigError(f"{_name('target_epsilon', names)}: {target_epsilon!r} must be a "
                          "finite number > 0, e.g. 1.0")
    if delta is not None and not (_is_number(delta) and 0 < delta < 1):
        raise ConfigError(f"{_name('delta', names)}: {delta!r} must lie in (0, 1), below "
                          "1 / number of training examples, e.g. 1e-5")
    if accountant not in ACCOUNTANTS:
        raise ConfigError(f"{_name('accountant', names)}: unknown accountant {accountant!r}; "
                          f"use one of {list(ACCOUNTANTS)}")


def check_training_settings(*, n: int, delta: float | None, epochs, batch_size, lr,
                            max_grad_norm, max_physical_batch_size=None, max_steps=None,
                            noise_multiplier=None, names: dict | None = None) -> None:
    """Refuse settings that would spend privacy on a model that cannot learn.

    Raises
    ------
    ConfigError
        One line naming the setting and the fix.
    """
    whole = {"epochs": epochs, "batch_size": batch_size,
             "max_physical_batch_size": max_physical_batch_size, "max_steps": max_steps}
    for key, value in whole.items():
        if value is None and key in ("max_physical_batch_size", "max_steps"):
            continue
        if not (isinstance(value, Integral) and not isinstance(value, bool) and value >= 1):
            raise ConfigError(f"{_name(key, names)}: {value!r} must be a whole number >= 1")
    positive = {"lr": lr, "max_grad_norm": max_grad_norm, "noise_multiplier": noise_multiplier}
    for key, value in positive.items():
        if value is None and key == "noise_multiplier":
            continue
        if not (_is_number(value) and value > 0):
            raise ConfigError(f"{_name(key, names)}: {value!r} must be a finite number > 0")
    if n < MIN_ROWS:
        raise ConfigError(f"{_name('n', names)}: {n} training example(s); private training "
                          f"needs at least {MIN_ROWS} (more for a useful model)")
    if delta is not None and delta >= 1.0 / n:
        raise ConfigError(f"{_name('delta', names)}: {delta:g} is not below 1/n = 1/{n}; with "
                          "delta >= 1/n one person's record may be published outright; leave "
                          "it unset (the default is the largest power of ten below 1/n)")


def check_finite(tensors, what: str = "X") -> None:
    """Refuse NaN or infinite values in the model's inputs or labels (nothing is spent).

    Raises
    ------
    DataError
    """
    for position, tensor in enumerate(tensors):
        if not torch.is_floating_point(tensor):
            continue
        bad = ~torch.isfinite(tensor.reshape(len(tensor), -1)).all(dim=1)
        if bool(bad.any()):
            rows = torch.nonzero(bad).flatten()
            label = "y" if position == len(tensors) - 1 else what
            raise DataError(f"{label}: {len(rows)} training row(s) hold NaN or infinite values "
                            f"(first: row {int(rows[0])}); drop or impute them before private "
                            "training (nothing was spent)")
