"""Accounting of DP-SGD: the default delta, noise calibration to a target epsilon, and how many
steps a fixed noise allows, on top of what the ledger already holds (``prior``)."""

from __future__ import annotations

import math

from trustml.errors import ConfigError, TrustMLError
from trustml.privacy._ledger import AccountantError, epsilon_of


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
        try:
            eps = epsilon_of(prior + [(mid, sample_rate, steps)], delta, accountant)
        except AccountantError:  # too little noise for the accountant's numerics: more
            eps = math.inf
        if eps > target_epsilon:
            lo = mid
        elif target_epsilon - eps < tol * target_epsilon or hi - lo < 1e-4:
            return mid
        else:
            hi = mid
        if hi - lo < 1e-4 and eps > target_epsilon:
            return hi  # the least noise the accountant can account, within the target


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


def check_composition(ledger, dataset: str, *, compose: bool, sample_rate: float, steps: int,
                      target_epsilon: float, delta: float, accountant: str,
                      names: dict | None = None) -> None:
    """Refuse a new run on rows the ledger already holds spending on, unless ``compose``.

    ``target_epsilon`` is the rows' total: a run after others gets only what is left, so it
    goes on only when the caller said so; the refusal gives what was spent, by which runs,
    what this run would get, and the two ways on.

    Raises
    ------
    PrivacyBudgetError
        Other runs spent on ``dataset`` and ``compose`` is False, or they spent the target.
    """
    runs = ledger.runs(dataset)
    if not runs:
        return
    names = names or {}
    target = names.get("target_epsilon", "target_epsilon")
    history = [(e["noise_multiplier"], e["sample_rate"], e["steps"]) for e in runs]
    spent = epsilon_of(history, delta, accountant)
    if compose and spent < target_epsilon:
        return
    where = ledger.path(dataset) or "the in-memory ledger"
    who = ", ".join(f"{e['run_id']} ({e.get('time', '?')[:10]})" for e in runs[:3])
    held = (f"{target}: the ledger ({where}) already holds epsilon {spent:.3f} on these rows, "
            f"spent by {len(runs)} run{'s' * (len(runs) > 1)} ({who}"
            f"{f' and {len(runs) - 3} more' if len(runs) > 3 else ''})")
    if spent >= target_epsilon:
        share = f", the whole of {target} {target_epsilon:g}"
    else:
        sigma = calibrate_noise(history, sample_rate, steps, target_epsilon, delta, accountant)
        alone = epsilon_of([(sigma, sample_rate, steps)], delta, accountant)
        share = (f"; {target} {target_epsilon:g} is the rows' total, of which this run would "
                 f"get epsilon {alone:.3f}")
    setting = "" if compose else f" and set {names.get('compose', 'compose=True')}"
    raise PrivacyBudgetError(
        f"{held}{share}. To spend more on them, raise {target} to the total you accept"
        f"{setting} (this run gets the difference); for public data, use another ledger store "
        f"({names.get('ledger', 'ledger=')}); nothing was trained")
