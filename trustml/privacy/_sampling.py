"""Poisson sampling: each example joins a step's batch independently, at its own rate.

Uniform rates (1 / steps per epoch) or group-balanced ones; the accountant charges every
example the highest rate. Batches are drawn from a per-run secret and the step number, so a
resumed run draws the same batches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from trustml.errors import ConfigError


def balanced_sample_rates(labels, expected_batch: float,
                          power: float = 1.0) -> tuple[np.ndarray, dict[str, float]]:
    """Per-example Poisson rates that over-sample small groups (group-balanced sampling).

    Each example of group g is drawn with probability proportional to ``n_g ** -power``
    (0 = uniform, 1 = every group equally represented in expectation), scaled so a batch holds
    ``expected_batch`` examples on average, and capped at 1.

    Returns
    -------
    (rates, {group: rate})
    """
    if not 0.0 <= power <= 1.0:
        raise ConfigError(f"balance_power: {power!r} is outside [0, 1]; 0 samples uniformly, "
                          "1 balances the groups fully")
    uniques, codes, counts = np.unique(np.asarray(labels).astype(str), return_inverse=True,
                                       return_counts=True)
    weight = counts.astype(float) ** -power
    per_group = np.minimum(1.0, weight * expected_batch / float((counts * weight).sum()))
    return per_group[codes], {str(u): float(r) for u, r in zip(uniques, per_group)}



@dataclass
class PoissonSampling:
    """Poisson sampling of a run: per-example rates and what the accountant charges."""

    rates: torch.Tensor
    q: float
    expected_batch: float
    steps_per_epoch: int
    by_group: dict

    @classmethod
    def of(cls, n: int, batch_size: int, balance, balance_power: float) -> "PoissonSampling":
        steps_per_epoch = math.ceil(n / min(batch_size, n))
        rates, by_group = np.full(n, 1.0 / steps_per_epoch), {}
        if balance is not None:
            if len(balance) != n:
                raise ConfigError(f"balance: {len(balance)} labels for {n} training examples; "
                                  "pass one per example")
            rates, by_group = balanced_sample_rates(balance, n / steps_per_epoch, balance_power)
        return cls(torch.as_tensor(rates, dtype=torch.float32), float(rates.max()),
                   float(rates.sum()), steps_per_epoch, by_group)

    def draw(self, secret: int, step: int, rank: int = 0, world: int = 1) -> torch.Tensor:
        """Indices of step ``step``'s batch (this process's share of it)."""
        g = torch.Generator().manual_seed((secret * 1_000_003 + step) % 2 ** 63)
        idx = torch.nonzero(torch.rand(len(self.rates), generator=g) < self.rates).flatten()
        return idx[idx % world == rank]
