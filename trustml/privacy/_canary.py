"""An empirical lower bound on epsilon from one training run (Steinke, Nasr, Jagielski 2023).

``m`` canaries (held-out examples with a wrong label, which a model can only get right by
memorising them) are each added to the training data independently with probability 1/2, and
the model is trained once. The auditor then guesses "included" for the canaries the model is
most confident on and "excluded" for the least, abstaining on the rest. Under (epsilon,
delta)-DP the number of correct guesses cannot beat randomized response by much; the largest
epsilon the observed count rules out at confidence 1 - beta is a lower bound on the true
epsilon. A bound above the accountant's epsilon means the DP implementation or its accounting
is broken.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats
from sklearn.metrics import roc_auc_score

from trustml.data import concat_rows, select_rows
from trustml.errors import ConfigError
from trustml.privacy._gdp_audit import gdp_epsilon, mu_lower_bound
from trustml.privacy._membership import confidence_scores

GUESS_SHARES = (0.02, 0.05, 0.1, 0.25)  # guesses on each side, as shares of the canaries


def p_value(m: int, r: int, v: int, eps: float, delta: float) -> float:
    """Probability of at least ``v`` correct out of ``r`` guesses on ``m`` canaries under
    (eps, delta)-DP (the paper's Theorem 5.2, as in its reference code)."""
    q = 1.0 / (1.0 + math.exp(-eps))  # accuracy of eps-DP randomized response
    beta = stats.binom.sf(v - 1, r, q)
    # alpha = max over i of P[v > Binomial(r, q) >= v - i] / i
    i = np.arange(1, v + 1)
    alpha = float((np.cumsum(stats.binom.pmf(v - i, r, q)) / i).max()) if v else 0.0
    return min(1.0, beta + alpha * delta * 2 * m)


def epsilon_lower_bound(m: int, r: int, v: int, *, delta: float = 0.0,
                        beta: float = 0.05) -> float:
    """The largest epsilon whose p-value for ``v`` correct of ``r`` guesses is below ``beta``
    (0 when even epsilon 0 cannot be rejected)."""
    if not 0 <= v <= r <= m:
        raise ConfigError(f"guesses: need 0 <= correct ({v}) <= guesses ({r}) <= canaries ({m})")
    if p_value(m, r, v, 0.0, delta) >= beta:
        return 0.0
    low, high = 0.0, 1.0
    while p_value(m, r, v, high, delta) < beta:
        low, high = high, high * 2
    for _ in range(40):
        mid = (low + high) / 2
        low, high = (mid, high) if p_value(m, r, v, mid, delta) < beta else (low, mid)
    return low


def make_canaries(X, y, m: int, n_classes: int, seed: int = 0):
    """``m`` examples drawn from ``X`` (rows the model does not train on otherwise) with a label
    replaced by another class at random."""
    rng = np.random.default_rng(seed)
    if m > len(y):
        raise ConfigError(f"canaries: {m} asked but only {len(y)} held-out examples; ask for "
                          "fewer")
    idx = rng.choice(len(y), m, replace=False)
    wrong = (np.asarray(y)[idx] + rng.integers(1, n_classes, m)) % n_classes
    return select_rows(X, idx), wrong


def one_run_audit(train, X_train, y_train, canaries, *, delta: float, beta: float = 0.05,
                  seed: int = 0) -> dict:
    """Train once with randomly included canaries and bound epsilon from below.

    Parameters
    ----------
    train : callable
        ``train(X, y) -> adapter``: the training procedure under audit (e.g. DP training with
        the settings whose epsilon is claimed).
    X_train, y_train
        The ordinary training data.
    canaries : tuple (X, y)
        From :func:`make_canaries`.
    delta : float
        The delta of the claim being tested.
    beta : float
        1 - confidence. The guess counts are chosen from :data:`GUESS_SHARES` after scoring, so
        each is tested at ``beta / len(GUESS_SHARES)`` (a union bound keeps the bound valid).

    Returns
    -------
    dict
        ``epsilon_lower_bound``, ``confidence``, the guesses behind it (``guesses``,
        ``correct``), ``canaries``, ``included``, and the canaries' attack AUC.
    """
    x_can, y_can = canaries
    m = len(y_can)
    included = np.random.default_rng(seed).random(m) < 0.5
    X = concat_rows(X_train, select_rows(x_can, np.flatnonzero(included)))
    y = np.concatenate([np.asarray(y_train), np.asarray(y_can)[included]])
    model = train(X, y)
    return bound_from_scores(confidence_scores(model, x_can, y_can), included, delta=delta,
                             beta=beta)


def bound_from_scores(scores: np.ndarray, included: np.ndarray, *, delta: float,
                      beta: float = 0.05, shares: tuple = GUESS_SHARES) -> dict:
    """The epsilon lower bound from canary scores (higher: more likely included): guess
    "included" for the top and "excluded" for the bottom share of the canaries, for each of
    ``shares``, each tested at ``beta / len(shares)`` (a union bound), the best kept.

    Returns
    -------
    dict
        ``epsilon_lower_bound`` (the randomized-response analysis: valid for any DP
        mechanism) with its ``guesses`` and ``correct``; ``gdp_mu_lower_bound`` and
        ``gdp_epsilon_lower_bound`` (:mod:`._gdp_audit`: valid for Gaussian trade-offs) with
        ``gdp_guesses`` and ``gdp_correct``; ``confidence``, ``canaries``, ``included`` and
        the canaries' attack AUC (``canary_auc``).
    """
    m, included = len(scores), np.asarray(included, bool)
    order = np.argsort(-scores, kind="stable")
    best = {"epsilon_lower_bound": 0.0, "guesses": 0, "correct": 0}
    gdp = {"gdp_mu_lower_bound": 0.0, "gdp_guesses": 0, "gdp_correct": 0}
    for share in shares:
        k = max(1, int(share * m))
        guess_in, guess_out = order[:k], order[-k:]
        v = int(included[guess_in].sum() + (~included[guess_out]).sum())
        eps = epsilon_lower_bound(m, 2 * k, v, delta=delta, beta=beta / len(shares))
        if eps > best["epsilon_lower_bound"] or not best["guesses"]:
            best = {"epsilon_lower_bound": eps, "guesses": 2 * k, "correct": v}
        mu = mu_lower_bound(m, 2 * k, v, beta=beta / len(shares))
        if mu > gdp["gdp_mu_lower_bound"] or not gdp["gdp_guesses"]:
            gdp = {"gdp_mu_lower_bound": mu, "gdp_guesses": 2 * k, "gdp_correct": v}
    gdp["gdp_epsilon_lower_bound"] = gdp_epsilon(gdp["gdp_mu_lower_bound"], delta)
    return best | gdp | {"confidence": 1 - beta, "canaries": m,
                         "included": int(included.sum()),
                         "canary_auc": float(roc_auc_score(included, scores)), "delta": delta}
