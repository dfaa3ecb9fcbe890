"""The settings of a private run, :class:`DPSettings`, and the checks made before its first step.

Nothing is spent on input that cannot train a model: every check here runs before the ledger
is touched. Messages name each setting as the caller's interface spells it: ``names`` maps the
field names of :class:`DPSettings` (``train_private``'s keywords) to, e.g., a recipe's YAML keys.
"""

from __future__ import annotations

import dataclasses
import math
from numbers import Integral, Real

import torch

from trustml.errors import ConfigError, DataError, did_you_mean
from trustml.privacy._steppers import CLIPPING

ACCOUNTANTS = ("prv", "rdp", "gdp")
OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}
MIN_ROWS = 10


@dataclasses.dataclass(frozen=True)
class DPSettings:
    """How a private run trains: its budget, clipping, noise and optimisation, each default
    declared here once. :func:`~trustml.privacy.train_private` takes one (its keywords of the
    same names override it); a recipe's ``privacy:`` and ``training:`` sections and
    :class:`~trustml.integrations.PrivateTrainer`'s privacy keywords fill one.

    Parameters
    ----------
    target_epsilon : float
        The budget: this run composed with what the ledger holds on the same rows.
    delta : float, optional
        Below ``1 / n``; default: the largest power of ten below it.
    epochs, batch_size, max_grad_norm, lr
        ``batch_size`` is the expected logical (Poisson) batch size; each epoch is
        ``ceil(n / batch_size)`` steps at sampling rate ``1 / steps_per_epoch``.
    accountant : {"prv", "rdp", "gdp"}
    noise_multiplier : float, optional
        Fix the noise instead of calibrating it to ``target_epsilon``.
    clipping : {"auto", "bookkeeping", "per_layer", "opacus", "automatic"}
        "auto" takes book-keeping when every trainable layer is Linear, Embedding or LayerNorm;
        "per_layer" bounds each trainable tensor by ``max_grad_norm / sqrt(L)`` (same noise);
        "automatic" scales every per-sample gradient to ``C g / (||g|| + 0.01)`` (Bu et al.
        2023: no clipping norm to tune; with Adam, C does not change the update).
    max_physical_batch_size : int, optional
        Split logical batches into chunks of at most this many examples (memory bound).
    ema : float, optional
        Return the exponential moving average of the DP iterates, with this decay in [0, 1)
        (warmed up as ``min(ema, (1 + t) / (10 + t))`` at step t): post-processing, free in
        privacy (De et al. 2022).
    optimizer : {"adam", "sgd"}
        The update applied to the noisy clipped mean gradient (plain gradient descent suits
        small convex problems, e.g. linear regression).
    compose : bool
        Go on when the ledger already holds spending by other runs on the same rows: this run
        then gets what is left of ``target_epsilon`` (the rows' total). Default: refuse.
    seed : int, optional
        Seeds the sampling and the noise. Default: a secret drawn per run (kept only in the
        checkpoints). Anyone who knows a stated seed can remove the noise: for tests and
        benchmarks on public data only.
    secure_mode : bool
        Opacus' cryptographically safe noise (needs ``torchcsprng``; Opacus clipping only).
    sanity_check : bool
        After the first step, check that every trainable weight moved and per-sample
        gradients have the right shape.
    balance_power : float
        Strength in [0, 1] of group balancing, when the run balances (``balance=``).
    """

    target_epsilon: float
    delta: float | None = None
    epochs: int = 5
    batch_size: int = 256
    max_grad_norm: float = 1.0
    lr: float = 1e-3
    accountant: str = "prv"
    noise_multiplier: float | None = None
    clipping: str = "auto"
    max_physical_batch_size: int | None = None
    ema: float | None = None
    optimizer: str = "adam"
    compose: bool = False
    seed: int | None = None
    secure_mode: bool = False
    sanity_check: bool = True
    balance_power: float = 1.0

    @classmethod
    def of(cls, settings: DPSettings | None = None, *, names: dict | None = None,
           **fields) -> DPSettings:
        """``settings`` (default: every default) with the ``fields`` that are not None
        replaced, checked (:meth:`check`) and with numbers as Python's own types.

        Raises
        ------
        ConfigError
            One line naming the setting as ``names`` spells it.
        """
        given = {k: v for k, v in fields.items() if v is not None}
        known = [f.name for f in dataclasses.fields(cls)]
        for key in sorted(set(given) - set(known)):
            raise ConfigError(f"{key}: not a setting of a private run{did_you_mean(key, known)} "
                            "(see DPSettings)")
        if settings is None:
            if "target_epsilon" not in given:
                raise ConfigError(f"{_name('target_epsilon', names)}: missing; give the "
                                  "privacy budget, e.g. 1.0")
            settings = cls(target_epsilon=given["target_epsilon"])
        settings = dataclasses.replace(settings, **given)
        settings.check(names)
        return dataclasses.replace(settings, **_plain_numbers(settings))

    def check(self, names: dict | None = None) -> None:
        """Refuse settings out of range, before anything is spent (the rows' own checks:
        :func:`check_rows`).

        Raises
        ------
        ConfigError
        """
        check_privacy_params(self.target_epsilon, self.delta, self.accountant, names=names)
        check_training_settings(
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
            max_grad_norm=self.max_grad_norm, noise_multiplier=self.noise_multiplier,
            max_physical_batch_size=self.max_physical_batch_size, names=names)
        self._check_choices(names)

    def _check_choices(self, names: dict | None) -> None:
        if self.clipping not in CLIPPING:
            raise ConfigError(f"{_name('clipping', names)}: unknown method {self.clipping!r}; "
                              f"use one of {list(CLIPPING)}")
        if self.ema is not None and not (_is_number(self.ema) and 0.0 <= self.ema < 1.0):
            raise ConfigError(f"{_name('ema', names)}: {self.ema!r} must be a decay in [0, 1), "
                              "e.g. 0.99")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"{_name('optimizer', names)}: {self.optimizer!r} is not one of "
                              f"{sorted(OPTIMIZERS)}")
        for key in ("compose", "secure_mode", "sanity_check"):
            if not isinstance(getattr(self, key), bool):
                raise ConfigError(f"{_name(key, names)}: {getattr(self, key)!r} must be true "
                                  "or false")
        if self.seed is not None and not (isinstance(self.seed, Integral)
                                          and not isinstance(self.seed, bool)):
            raise ConfigError(f"{_name('seed', names)}: {self.seed!r} must be a whole number "
                              "or None")


def _plain_numbers(settings: DPSettings) -> dict:
    """Numbers as the field's Python type (numpy's are not JSON; an int epsilon is a float)."""
    out = {}
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if isinstance(value, bool) or not isinstance(value, Real):
            continue
        out[field.name] = float(value) if field.type.startswith("float") else int(value)
    return out


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


def check_training_settings(*, epochs, batch_size, lr, max_grad_norm,
                            max_physical_batch_size=None, noise_multiplier=None,
                            names: dict | None = None) -> None:
    """Refuse numbers that would spend privacy on a model that cannot learn.

    Raises
    ------
    ConfigError
        One line naming the setting and the fix.
    """
    whole = {"epochs": epochs, "batch_size": batch_size,
             "max_physical_batch_size": max_physical_batch_size}
    for key, value in whole.items():
        if value is None and key == "max_physical_batch_size":
            continue
        if not (isinstance(value, Integral) and not isinstance(value, bool) and value >= 1):
            raise ConfigError(f"{_name(key, names)}: {value!r} must be a whole number >= 1")
    positive = {"lr": lr, "max_grad_norm": max_grad_norm, "noise_multiplier": noise_multiplier}
    for key, value in positive.items():
        if value is None and key == "noise_multiplier":
            continue
        if not (_is_number(value) and value > 0):
            raise ConfigError(f"{_name(key, names)}: {value!r} must be a finite number > 0")


def check_rows(n: int, delta: float | None, names: dict | None = None) -> None:
    """Refuse too few training rows, or a ``delta`` not below ``1 / n``.

    Raises
    ------
    ConfigError
    """
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
