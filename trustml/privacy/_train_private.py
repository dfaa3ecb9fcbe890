"""Differentially private training on Opacus, epsilon first."""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from opacus import PrivacyEngine
from torch.utils.data import DataLoader

from trustml.errors import ConfigError
from trustml.models._adapters import TorchAdapter
from trustml.models._training import make_dataset, train_loop

ACCOUNTANTS = ("prv", "rdp", "gdp")


@dataclass
class PrivacyRecord:
    """What a DP training run spent and how.

    Attributes
    ----------
    epsilon : float
        Epsilon spent, by ``accountant``, at ``delta``.
    delta : float
    target_epsilon : float
    accountant : str
    noise_multiplier : float
    sample_rate : float
        Probability that a training example is in a batch (Poisson sampling).
    steps : int
    epochs : int
    max_grad_norm : float
        Per-sample clipping bound.
    n_train : int
    clipped_fraction : list of float
        Per epoch, the fraction of per-sample gradients whose norm exceeded ``max_grad_norm``.
    """

    epsilon: float
    delta: float
    target_epsilon: float
    accountant: str
    noise_multiplier: float
    sample_rate: float
    steps: int
    epochs: int
    max_grad_norm: float
    n_train: int
    batch_size: int
    lr: float
    poisson_sampling: bool = True
    secure_mode: bool = False
    seconds: float = 0.0
    loss: list[float] = field(default_factory=list)
    clipped_fraction: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def default_delta(n: int) -> float:
    """The largest power of ten strictly below ``1 / n``."""
    return 10.0 ** -(math.floor(math.log10(max(n, 1))) + 1)


def check_privacy_params(target_epsilon: float, delta: float | None, accountant: str) -> None:
    """Raise :class:`ConfigError` for an epsilon, delta or accountant out of range."""
    if not (isinstance(target_epsilon, (int, float)) and math.isfinite(target_epsilon)
            and target_epsilon > 0):
        raise ConfigError(f"epsilon: {target_epsilon!r} must be a finite number > 0; "
                          "pass e.g. epsilon=1.0")
    if delta is not None and not (isinstance(delta, (int, float)) and 0 < delta < 1):
        raise ConfigError(f"delta: {delta!r} must lie in (0, 1); pass e.g. delta=1e-5, "
                          "below 1 / number of training examples")
    if accountant not in ACCOUNTANTS:
        raise ConfigError(f"accountant: unknown accountant {accountant!r}; "
                          f"use one of {list(ACCOUNTANTS)}")


def train_private(adapter: TorchAdapter, X, y, *, target_epsilon: float,
                  delta: float | None = None, epochs: int = 5, batch_size: int = 256,
                  max_grad_norm: float = 1.0, lr: float = 1e-3, accountant: str = "prv",
                  poisson_sampling: bool = True, secure_mode: bool = False, seed: int = 0,
                  progress: bool = True) -> tuple[TorchAdapter, PrivacyRecord]:
    """Train the adapter's module with DP-SGD (Adam update) so it spends at most ``target_epsilon``.

    The noise multiplier is calibrated by Opacus for ``target_epsilon`` at ``delta`` over
    ``epochs`` passes with expected batch ``batch_size``.

    Parameters
    ----------
    adapter : TorchAdapter
        Holds the module to train (in place).
    X, y
        Training inputs (raw, as the adapter takes them) and labels.
    target_epsilon : float
    delta : float, optional
        Default: the largest power of ten below ``1 / len(X)``.
    epochs, batch_size, max_grad_norm, lr
        DP-SGD hyper-parameters; ``batch_size`` is the expected (Poisson) batch size.
    accountant : {"prv", "rdp", "gdp"}
    poisson_sampling : bool
        Sample each batch by independent inclusion, as the accountant assumes.
    secure_mode : bool
        Opacus' cryptographically safe noise (needs ``torchcsprng``).
    seed : int
    progress : bool

    Returns
    -------
    (adapter, PrivacyRecord)
    """
    check_privacy_params(target_epsilon, delta, accountant)
    n = len(y)
    if n == 0:
        raise ConfigError("data: no training examples; pass a non-empty training set")
    delta = default_delta(n) if delta is None else float(delta)
    if accountant == "gdp":
        warnings.warn("accountant='gdp' is an asymptotic approximation and can under-state "
                      "epsilon; prefer 'prv' or 'rdp'", stacklevel=2)
    torch.manual_seed(seed)
    dataset = make_dataset(adapter, X, y)
    loader = DataLoader(dataset, batch_size=min(batch_size, n), shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    adapter.module.train()  # Opacus validates the module in training mode
    params = [p for p in adapter.module.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    with warnings.catch_warnings():
        # secure_mode is recorded in the PrivacyRecord and shown in the report.
        warnings.filterwarnings("ignore", message=".*[Ss]ecure RNG.*")
        engine = PrivacyEngine(accountant=accountant, secure_mode=secure_mode)
        # Raised while calibrating noise by bisection, for candidates far from the target.
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        module, dp_optimizer, dp_loader = engine.make_private_with_epsilon(
            module=adapter.module, optimizer=optimizer, data_loader=loader,
            target_epsilon=target_epsilon, target_delta=delta, epochs=epochs,
            max_grad_norm=max_grad_norm, poisson_sampling=poisson_sampling)
        if poisson_sampling:
            # Opacus leaves the Poisson sampler unseeded; seed it for reproducible runs.
            dp_loader.batch_sampler.generator = torch.Generator().manual_seed(seed)

    clipped, counted = [0], [0]
    fractions: list[float] = []

    def count_clipped() -> None:
        norms = torch.stack([g.reshape(len(g), -1).norm(2, dim=1)
                             for g in dp_optimizer.grad_samples], dim=1).norm(2, dim=1)
        clipped[0] += int((norms > max_grad_norm).sum())
        counted[0] += len(norms)

    def end_epoch(_: int) -> None:
        fractions.append(clipped[0] / max(counted[0], 1))
        clipped[0] = counted[0] = 0

    start = time.perf_counter()
    with warnings.catch_warnings():
        # Opacus' hooks on a first layer whose input needs no gradient; harmless.
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        losses = train_loop(adapter, module, dp_optimizer, dp_loader, epochs=epochs,
                            desc=f"train (DP, epsilon={target_epsilon:g})", progress=progress,
                            before_step=count_clipped, on_epoch_end=end_epoch)
    seconds = time.perf_counter() - start
    adapter.module = module._module  # hand back the plain module, hooks removed
    module.remove_hooks()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        epsilon = float(engine.get_epsilon(delta))
    record = PrivacyRecord(
        epsilon=epsilon, delta=delta, target_epsilon=target_epsilon,
        accountant=accountant, noise_multiplier=float(dp_optimizer.noise_multiplier),
        sample_rate=float(dp_loader.sample_rate), steps=int(engine.accountant.history[-1][2]
                                                            if engine.accountant.history else 0),
        epochs=epochs, max_grad_norm=max_grad_norm, n_train=n, batch_size=batch_size, lr=lr,
        poisson_sampling=poisson_sampling, secure_mode=secure_mode, seconds=seconds,
        loss=losses, clipped_fraction=[float(np.round(f, 6)) for f in fractions])
    return adapter, record
