"""What a DP run is and what it spent: `TrainState` (what a checkpoint writes, with
``state_dict`` / ``load_state_dict`` as Opacus' accountants have) and `PrivacyRecord`."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import asdict, dataclass, field, fields

from trustml.errors import ConfigError


@dataclass
class TrainState:
    """Where a DP run stands: enough to resume it exactly.

    Attributes
    ----------
    run_id : str
    segment : int
        How many times the run was resumed.
    dataset : str
        Fingerprint of the training inputs.
    steps, total_steps : int
        Logical steps taken, and planned.
    sample_rate, noise_multiplier : float
    noise_seed : int
        The secret (or stated seed) that batches and noise are drawn from.
    seeded_noise : bool
        Whether ``noise_seed`` was stated by the caller rather than drawn in secret.
    ledger_head : str
        Hash of the ledger line the last checkpoint was accounted against.
    charged : int
        Steps the ledger already charges this run (a resumed run's most).
    loss, clipped_fraction : list of float
        Per epoch.
    seconds : float
    settings : dict
        The settings a resume must repeat (clipping norm and method, learning rate,
        accountant, delta): a resume that changed them would not replay the same steps.
    """

    run_id: str
    dataset: str
    total_steps: int
    sample_rate: float
    noise_multiplier: float
    noise_seed: int
    seeded_noise: bool
    segment: int = 0
    steps: int = 0
    ledger_head: str = ""
    charged: int = 0
    loss: list[float] = field(default_factory=list)
    clipped_fraction: list[float] = field(default_factory=list)
    seconds: float = 0.0
    settings: dict = field(default_factory=dict)

    @classmethod
    def start(cls, dataset: str, total_steps: int, sample_rate: float, seed: int | None,
              settings: dict) -> TrainState:
        """A new run's state: a fresh id, no steps, the noise drawn from ``seed`` or, when
        None, from a secret drawn here (kept only in checkpoints)."""
        return cls(run_id=uuid.uuid4().hex[:12], dataset=dataset, total_steps=total_steps,
                   sample_rate=sample_rate, noise_multiplier=0.0, seeded_noise=seed is not None,
                   noise_seed=seed if seed is not None else secrets.randbits(62),
                   settings=settings)

    def state_dict(self) -> dict:
        """A JSON-serialisable copy (what ``state.json`` holds)."""
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        """Take every field from ``state``.

        Raises
        ------
        ConfigError
            ``state`` lacks a field (a damaged or foreign checkpoint).
        """
        missing = [f.name for f in fields(self) if f.name not in state]
        if missing:
            raise ConfigError(f"resume: the checkpoint's state lacks {missing}; it was damaged "
                              "or written by another program; start a new run")
        for f in fields(self):
            setattr(self, f.name, state[f.name])


@dataclass
class PrivacyRecord:
    """What a DP training run spent and how.

    Attributes
    ----------
    epsilon : float
        Epsilon spent on this data set, by ``accountant`` at ``delta``: this run composed with
        everything the ledger held for the same data up to this run's last line.
    run_epsilon : float
        Epsilon of this run's steps alone.
    delta, target_epsilon, accountant, noise_multiplier
    sample_rate : float
        Probability that an example is in a batch (Poisson sampling); with ``balance``, the
        highest per-example rate, which the accountant charges every example.
    sample_rate_by_group : dict
        With ``balance``: group -> its examples' sampling rate.
    steps : int
        Logical steps this run has taken, over all its segments.
    clipped_fraction : list of float
        Per epoch, the fraction of per-sample gradients whose norm exceeded ``max_grad_norm``
        (under automatic clipping every gradient is rescaled; these are the ones scaled down
        to below ``max_grad_norm``, the same count).
    clipped_fraction_by_group : dict
        Feature -> group -> fraction of that group's per-sample gradients clipped over the run
        (when ``groups`` was given): clipping that hits one group harder costs it accuracy.
    clipping : {"bookkeeping", "per_layer", "opacus", "automatic"}
    completed : bool
        False when the run stopped early (``max_steps``) and can be resumed.
    dataset : str
        The training data's fingerprint (:func:`trustml.privacy.data_fingerprint`).
    ledger : str or None
        The ledger file this run was accounted in (None: an in-memory ledger).
    ledger_head : str
        Hash of this run's last ledger line: the epsilon above composes the ledger up to it.
    prior_runs : int
        Other runs on the same data that ``epsilon`` composes (they spent all but this run's
        share: ``compose=True``).
    seeded_noise : bool
        True when noise and sampling came from a stated ``seed``: anyone who knows the seed
        can remove the noise, so the guarantee holds only while the seed stays secret.
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
    run_epsilon: float = 0.0
    clipping: str = "bookkeeping"
    secure_mode: bool = False
    seconds: float = 0.0
    loss: list[float] = field(default_factory=list)
    clipped_fraction: list[float] = field(default_factory=list)
    clipped_fraction_by_group: dict[str, dict[str, float]] = field(default_factory=dict)
    sample_rate_by_group: dict[str, float] = field(default_factory=dict)
    balance_power: float | None = None
    dataset: str = ""
    run_id: str = ""
    completed: bool = True
    checkpoint_dir: str | None = None
    ledger: str | None = None
    ledger_head: str = ""
    seeded_noise: bool = False
    prior_runs: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    def claim(self) -> dict:
        """What a released model states about its privacy (stored with its weights)."""
        keys = ("epsilon", "delta", "accountant", "steps", "run_id", "dataset", "ledger_head",
                "noise_multiplier", "sample_rate", "target_epsilon", "seeded_noise",
                "prior_runs")
        return {k: getattr(self, k) for k in keys}
