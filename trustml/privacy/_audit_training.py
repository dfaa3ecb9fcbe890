"""An audit of DP training itself in one run, white box (Steinke, Nasr, Jagielski 2023).

``m`` Dirac gradient canaries are planted in a training run of trustml's own DP engine: canary
``j`` is the gradient ``C e_k`` on one coordinate ``k`` of the trainable weights (norm C, the
clipping norm: a worst-case example), included in the run with probability 1/2 and, when
included, sampled at every step with the run's Poisson rate ``q``, as an example is. At each
step the engine adds the sampled canaries to the clipped sum before its noise, then shows the
auditor the noised sum (the white-box view DP-SGD's accounting covers: every released
gradient). The auditor subtracts the clipped data sum at the canaries' coordinates (others'
contributions are known to the adversary DP protects against), so what is left per step is
``b C + N(0, sigma^2 C^2)``, ``b`` whether canary ``j`` was sampled. Each canary is scored by
the log likelihood ratio of the subsampled Gaussian over the steps, and the guesses are turned
into an epsilon lower bound by :func:`bound_from_scores` (the epsilon-DP analysis of the same
paper). A bound above the claimed epsilon means the engine adds too little noise, samples more
often than it accounts, or takes more steps than it charges.

What it audits: the noise (its scale and that it is drawn fresh), the calibration of sigma for
the claimed epsilon, the sampling rate and the step count. What it does not: clipping (the
canaries have norm C already; the engine's clipping is tested against Opacus instead).
The score uses only canary bits and noise, never the data, so the bound it returns reveals
nothing about the training rows; the audit run's model is discarded.
"""

from __future__ import annotations

import numpy as np
import torch

from trustml.errors import ConfigError
from trustml.privacy._canary import bound_from_scores
from trustml.privacy._ledger import PrivacyLedger
from trustml.privacy._sampling import PoissonSampling
from trustml.privacy._settings import DPSettings
from trustml.privacy._steppers import CANARIES

# Guesses on each side, as shares of the canaries: gradient canaries separate well, so the
# best share is smaller than for input canaries (measured on the Adult MLP at epsilon 4 and 8).
SHARES = (0.01, 0.02, 0.05, 0.1, 0.15, 0.2)


class GradientCanaries:
    """Dirac gradient canaries on ``m`` distinct coordinates of ``params``, each included with
    probability 1/2; records, per step, what the noised sum shows at each coordinate beyond
    the clipped data sum, in units of ``clip``."""

    def __init__(self, params: list[torch.nn.Parameter], m: int, clip: float, q: float,
                 seed: int):
        sizes = [p.numel() for p in params]
        rng = np.random.default_rng(seed)
        coords = rng.choice(sum(sizes), m, replace=False)
        self.included = rng.random(m) < 0.5
        self.sampler = np.random.default_rng(seed + 1)  # the engine's randomness, not the auditor's
        offsets = np.cumsum([0, *sizes])
        self.where = {}  # id(param) -> (canary positions, flat positions in the param)
        for p, start, end in zip(params, offsets[:-1], offsets[1:]):
            inside = np.flatnonzero((coords >= start) & (coords < end))
            if len(inside):
                self.where[id(p)] = (inside, torch.as_tensor(coords[inside] - start))
        self.m, self.clip, self.q = m, clip, q
        self.shown: list[np.ndarray] = []  # per step: (noised - data sum) / clip
        self._data = np.zeros(m)

    def _gather(self, params, tensors) -> np.ndarray:
        out = np.zeros(self.m)
        for p, t in zip(params, tensors):
            if id(p) in self.where:
                inside, flat = self.where[id(p)]
                out[inside] = t.detach().reshape(-1)[flat.to(t.device)].double().cpu().numpy()
        return out

    def insert(self, params, sums) -> None:
        """Add the canaries sampled this step to the clipped sums ``sums`` (in place)."""
        self._data = self._gather(params, sums)
        sampled = self.included & (self.sampler.random(self.m) < self.q)
        for p, t in zip(params, sums):
            if id(p) in self.where:
                inside, flat = self.where[id(p)]
                add = torch.as_tensor(self.clip * sampled[inside], dtype=t.dtype)
                t.view(-1).index_add_(0, flat.to(t.device), add.to(t.device))

    def observe(self, params, noised) -> None:
        """Record what the noised sums show at the canaries beyond the data's sum."""
        self.shown.append((self._gather(params, noised) - self._data) / self.clip)

    def scores(self, sigma: float) -> np.ndarray:
        """Each canary's log likelihood ratio, over the steps, of being included (sampled at
        rate q into a Gaussian sum with noise ``sigma``) against not."""
        z = np.asarray(self.shown)
        with np.errstate(divide="ignore"):
            return np.logaddexp(np.log1p(-self.q), np.log(self.q) + (z - 0.5) / sigma ** 2
                                ).sum(axis=0)


def audit_training(adapter, X, y, settings: DPSettings | None = None, *, canaries: int = 3000,
                   seed: int = 0, beta: float = 0.05, **fields) -> dict:
    """Train once with DP (as :func:`train_private` would, the same settings) with planted
    gradient canaries, and bound the run's epsilon from below.

    Parameters
    ----------
    adapter : TorchAdapter
        A fresh model of the kind audited (it is trained by the audit and then of no use).
    X, y
        Training rows, as for :func:`train_private`; the bound does not depend on them.
    settings, **fields
        As for :func:`train_private`: the claim under audit is its ``target_epsilon`` at
        ``delta``.
    canaries : int
        Planted canaries (at most the model's trainable weights). More canaries allow more
        guesses, and so a higher bound, while ``2 * canaries * delta`` stays small.
    seed : int
        Draws which canaries are included and where they sit.
    beta : float
        1 - confidence of the bound.

    Returns
    -------
    dict
        :func:`bound_from_scores`' keys (both analyses), plus ``bound``, the one that holds
        for this run (``analysis``: "gaussian", the f-DP analysis, for full batches, whose
        composition is exactly Gaussian-DP; else "randomized_response"), ``claimed_epsilon``
        (the run's epsilon), ``ratio`` (bound / claim), ``within_claim``, ``steps``,
        ``noise_multiplier``, ``sample_rate`` and ``clipping`` (the engine's path that ran).
    """
    from trustml.privacy._train_private import train_private  # it imports the steppers

    settings = DPSettings.of(settings, **fields)
    weights = [p for p in adapter.module.parameters() if p.requires_grad]
    total = sum(p.numel() for p in weights)
    if not isinstance(beta, (int, float)) or not 0 < beta < 1:
        raise ConfigError(f"beta: {beta!r} must lie strictly between 0 and 1 (1 - confidence)")
    if isinstance(canaries, bool) or not isinstance(canaries, int) or not 2 <= canaries <= total:
        raise ConfigError(f"canaries: {canaries!r} asked; give a whole number from 2 to the "
                          f"model's {total} trainable weights")
    q = PoissonSampling.of(len(y), settings.batch_size, None, settings.balance_power).q
    planted = GradientCanaries(weights, canaries, settings.max_grad_norm, q, seed)
    token = CANARIES.set(planted)
    try:
        _, record = train_private(adapter, X, y, settings, ledger=PrivacyLedger(),
                                  progress=False)
    finally:
        CANARIES.reset(token)
    result = bound_from_scores(planted.scores(record.noise_multiplier), planted.included,
                               delta=record.delta, beta=beta, shares=SHARES)
    # Full batches make the run exactly Gaussian-DP, so the tighter f-DP analysis holds.
    analysis = "gaussian" if q == 1 else "randomized_response"
    bound = result["gdp_epsilon_lower_bound" if q == 1 else "epsilon_lower_bound"]
    return result | {"analysis": analysis, "bound": bound, "claimed_epsilon": record.epsilon,
                     "ratio": bound / record.epsilon, "within_claim": bound <= record.epsilon,
                     "steps": record.steps, "noise_multiplier": record.noise_multiplier,
                     "sample_rate": record.sample_rate, "clipping": record.clipping}


def audit_record(adapter, X, y, record, *, canaries: int = 3000, seed: int = 0) -> dict:
    """:func:`audit_training` of a run as its :class:`PrivacyRecord` states it: the same
    noise multiplier, batch size, epochs, clipping norm and path, delta and accountant, on
    ``adapter`` (a copy of the model, or a fresh one of its kind: the bound depends on
    neither), with at most ``canaries`` canaries and half the model's trainable weights."""
    weights = sum(p.numel() for p in adapter.module.parameters() if p.requires_grad)
    return audit_training(
        adapter, X, y, canaries=min(canaries, weights // 2), seed=seed,
        target_epsilon=record.epsilon * 1.01, noise_multiplier=record.noise_multiplier,
        epochs=record.epochs, batch_size=record.batch_size, max_grad_norm=record.max_grad_norm,
        delta=record.delta, accountant=record.accountant, clipping=record.clipping,
        lr=record.lr)
