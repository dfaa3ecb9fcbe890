"""The f-DP analysis of a one-run audit (Mahloujifar, Melis, Chaudhuri, ICML 2025), for the
Gaussian-DP family: from ``v`` correct of ``r`` guesses on ``m`` canaries, the largest ``mu``
such that no ``mu``-GDP mechanism makes that many correct guesses with probability above
``beta``, and the epsilon at ``delta`` of that ``mu``.

Where the randomized-response analysis (:func:`~trustml.privacy._canary.epsilon_lower_bound`)
bounds each guess by the worst likelihood ratio, this one uses the whole trade-off curve
``f(x) = Phi(Phi^-1(1 - x) - mu)`` of the mechanism, so the same guesses give a bound much
closer to the truth. It assumes the mechanism's trade-off is Gaussian: exact for DP-SGD with
full batches (the composition of Gaussian mechanisms is ``sqrt(T) / sigma``-GDP), an
approximation (the central limit theorem of Dong, Roth and Su 2022) when batches are sampled.
The recursion follows the paper's Algorithm for ``k = 2`` (a guess is "in" or "out"), as
Meta's PrivacyGuard implements it.
"""

from __future__ import annotations

import math

from scipy.special import ndtr, ndtri  # the standard normal's CDF and its inverse


def _consistent(mu: float, m: int, r: int, v: int, beta: float) -> bool:
    """Whether a ``mu``-GDP mechanism can give ``v`` correct of ``r`` guesses with probability
    above ``beta`` (the paper's recursion over the correct guesses, from the last one)."""
    def worse(x: float) -> float:  # the inverse "blow-up" of mu-GDP's trade-off curve
        return float(ndtr(ndtri(x) - mu)) if 0 < x < 1 else float(x >= 1)

    tau = beta * r / m
    right, wrong = tau * v / r, tau * (r - v) / r
    for i in range(v - 1, -1, -1):
        widened = max(wrong, worse(right))
        right += i / (r - i) * (widened - wrong)
        wrong = widened
    return right + wrong <= r / m


def gdp_delta(mu: float, epsilon: float) -> float:
    """The delta of a ``mu``-GDP mechanism at ``epsilon`` (Dong, Roth and Su 2022, Cor. 2.13)."""
    return float(ndtr(-epsilon / mu + mu / 2) - math.exp(epsilon) * ndtr(-epsilon / mu - mu / 2))


def gdp_epsilon(mu: float, delta: float) -> float:
    """The epsilon at ``delta`` of a ``mu``-GDP mechanism (0 when ``mu`` is 0)."""
    if mu <= 0 or gdp_delta(mu, 0.0) <= delta:
        return 0.0
    low, high = 0.0, 1.0
    while gdp_delta(mu, high) > delta:
        low, high = high, 2 * high
    for _ in range(50):
        mid = (low + high) / 2
        low, high = (mid, high) if gdp_delta(mu, mid) > delta else (low, mid)
    return high


def mu_lower_bound(m: int, r: int, v: int, *, beta: float = 0.05) -> float:
    """The largest ``mu`` that ``v`` correct of ``r`` guesses on ``m`` canaries rule out at
    confidence ``1 - beta``: every ``mu``-GDP mechanism with a smaller ``mu`` is rejected
    (0 when none is)."""
    if r == 0 or _consistent(0.0, m, r, v, beta):
        return 0.0
    low, high = 0.0, 1.0
    while not _consistent(high, m, r, v, beta):
        low, high = high, 2 * high
        if high > 64:  # every guess right on many canaries: no finite mu is consistent
            return low
    for _ in range(30):
        mid = (low + high) / 2
        low, high = (low, mid) if _consistent(mid, m, r, v, beta) else (mid, high)
    return low
