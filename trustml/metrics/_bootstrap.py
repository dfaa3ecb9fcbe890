"""The bootstrap: row positions drawn with replacement, and percentile intervals over the draws.

Every interval trustml states comes from here: the model against the trivial answer, the cost
of DP per group, membership attacks (members and non-members resampled apart), identity probes
(templates resampled), and group metrics (:func:`fairlearn_draws`, Fairlearn's own draws, so
that trustml's intervals equal ``MetricFrame``'s for the same seed).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

BOOT_BLOCK = 50  # draws per block: bounds memory at BOOT_BLOCK x rows indices
LEVEL = 0.95


def draws(n: int, n_boot: int, seed: int, *, strata=None) -> Iterator[np.ndarray]:
    """``n_boot`` bootstrap draws of ``n`` row positions, as blocks of shape
    (at most BOOT_BLOCK, n).

    Parameters
    ----------
    strata : array-like, optional
        One label per row: each draw resamples every stratum apart, keeping its size (e.g.
        members and non-members of a membership attack).
    """
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if strata is None else [
        np.flatnonzero(np.asarray(strata) == s) for s in np.unique(strata)]
    for start in range(0, n_boot, BOOT_BLOCK):
        size = min(BOOT_BLOCK, n_boot - start)
        yield np.concatenate([g[rng.integers(0, len(g), size=(size, len(g)))]
                              for g in groups], axis=1)


def interval(values, level: float = LEVEL) -> list[float]:
    """The percentile interval holding ``level`` of ``values`` (one statistic per draw)."""
    tail = (1 - level) / 2
    low, high = np.quantile(np.asarray(values, dtype=float), [tail, 1 - tail])
    return [float(low), float(high)]


def mean_interval(values: np.ndarray, *, n_boot: int = 200, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the mean of ``values`` over rows drawn with replacement."""
    values = np.asarray(values, dtype=float)
    means = np.concatenate([values[idx].mean(axis=1) for idx in draws(len(values), n_boot, seed)])
    low, high = interval(means)
    return low, high


def fairlearn_draws(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Row indices of each bootstrap draw, as ``MetricFrame(n_boot=, random_state=seed)``
    resamples them (one ``RandomState`` per draw, seeded from ``default_rng(seed)``)."""
    seeds = np.random.default_rng(seed).integers(0, np.iinfo(np.uint32).max, size=n_boot,
                                                 dtype=np.uint32)
    for s in seeds:
        yield np.random.RandomState(s).randint(0, n, size=n)
