"""Accounting of DP-SGD: the default delta, noise calibration to a target epsilon, and how many
steps a fixed noise allows, on top of what the ledger already holds (``prior``)."""

from __future__ import annotations

import math

from trustml.errors import ConfigError, TrustMLError
from trustml.privacy._ledger import epsilon_of


class PrivacyBudgetError(TrustMLError):
    """The next training step would spend more than the privacy budget."""


def default_delta(n: int) -> float:
    """The largest power of ten strictly below ``1 / n``."""
    return 10.0 ** -(math.floor(math.log10(max(n, 1))) + 1)


def calibrate_noise(prior: list, sample_rate: float, steps: int, target_epsilon: float,
                    delta: float, accountant: str, tol: float = 0.01) -> float:
    """Smallest noise multiplier (within ``tol`` in epsilon) so that ``prior`` plus ``steps``
    steps at ``sample_rate`` spend at most ``target_epsilon``."""
    if epsilon_of(prior, delta, accountant) >= target_epsilon:
        raise PrivacyBudgetError(f"epsilon: the ledger already holds epsilon >= the target "
                                 f"{target_epsilon:g} for this data set; raise the target or "
                                 "train on other data")
    lo, hi = 0.0, 10.0
    while epsilon_of(prior + [(hi, sample_rate, steps)], delta, accountant) > target_epsilon:
        lo, hi = hi, 2 * hi
        if hi > 1e4:
            raise ConfigError(f"epsilon: target {target_epsilon:g} is unreachable with these "
                              "settings; raise it or take fewer steps")
    while True:
        mid = (lo + hi) / 2
        eps = epsilon_of(prior + [(mid, sample_rate, steps)], delta, accountant)
        if eps > target_epsilon:
            lo = mid
        elif target_epsilon - eps < tol * target_epsilon or hi - lo < 1e-4:
            return mid
        else:
            hi = mid


def calibrate_from_ledger(ledger, dataset: str, sample_rate: float, steps: int,
                          target_epsilon: float, delta: float, accountant: str,
                          note: str = "") -> float:
    """:func:`calibrate_noise` on top of what ``ledger`` holds for ``dataset``; a refusal names
    the ledger (then ``note``)."""
    try:
        return calibrate_noise(ledger.history(dataset), sample_rate, steps, target_epsilon,
                               delta, accountant)
    except PrivacyBudgetError as exc:
        where = ledger.path(dataset) or "the in-memory ledger"
        raise PrivacyBudgetError(f"{exc} (ledger: {where}){note}") from None


def allowed_steps(prior: list, sigma: float, sample_rate: float, most: int,
                  target_epsilon: float, delta: float, accountant: str) -> int:
    """Most steps (at most ``most``) that keep ``prior`` plus them within the target."""
    def fits(k: int) -> bool:
        return epsilon_of(prior + [(sigma, sample_rate, k)], delta,
                              accountant) <= target_epsilon + 1e-9
    if fits(most):
        return most
    lo, hi = 0, most  # fits(lo) and not fits(hi)
    if not fits(0):
        return 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo
