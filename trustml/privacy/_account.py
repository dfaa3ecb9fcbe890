"""What a DP training run owes the ledger, kept in one place for both training loops
(:func:`trustml.privacy.train_private` and :class:`trustml.integrations.PrivateTrainer`):
whether it may start on rows others spent on, its noise calibrated to what is left, its steps
charged as ledger lines, and its spending composed with the runs before it."""

from __future__ import annotations

from dataclasses import dataclass, field

from trustml.privacy._accounting import allowed_steps, calibrate_from_ledger, check_composition
from trustml.privacy._ledger import PrivacyLedger, epsilon_of
from trustml.privacy._settings import DPSettings
from trustml.privacy._state import PrivacyRecord, TrainState


@dataclass
class RunAccount:
    """One run's account in ``ledger``.

    Attributes
    ----------
    prior : list
        (noise, sample rate, steps) of the other runs on the same data, as the ledger held
        them when the run started (:meth:`open`): the run's epsilon composes them.
    """

    ledger: PrivacyLedger
    state: TrainState
    settings: DPSettings  # its delta resolved
    prior: list = field(default_factory=list)

    @property
    def target_epsilon(self) -> float:
        return self.settings.target_epsilon

    @property
    def delta(self) -> float:
        return self.settings.delta

    @property
    def accountant(self) -> str:
        return self.settings.accountant

    def check_composition(self, names: dict | None = None) -> None:
        """Refuse a new run on rows other runs spent on, unless its settings compose."""
        st = self.state
        check_composition(self.ledger, st.dataset, compose=self.settings.compose,
                          sample_rate=st.sample_rate, steps=st.total_steps,
                          target_epsilon=self.target_epsilon, delta=self.delta,
                          accountant=self.accountant, names=names)

    def calibrate(self, note: str = "") -> None:
        """Set the state's noise so that the planned steps spend at most the target with
        what the ledger holds (a fixed ``noise_multiplier`` in the settings is kept)."""
        st = self.state
        st.noise_multiplier = self.settings.noise_multiplier or calibrate_from_ledger(
            self.ledger, st.dataset, st.sample_rate, st.total_steps, self.target_epsilon,
            self.delta, self.accountant, note=note)

    def open(self) -> int:
        """Take the other runs' spending on the data (the run's own lines left out); returns
        how many steps in all the run may take within the target."""
        st = self.state
        self.prior = self.ledger.history(st.dataset, exclude_run=st.run_id)
        return allowed_steps(self.prior, st.noise_multiplier, st.sample_rate, st.total_steps,
                             self.target_epsilon, self.delta, self.accountant)

    def charge(self) -> dict:
        """Append a ledger line for the steps taken (fsynced; the caller holds the lock)."""
        st = self.state
        line = self.ledger.record(
            run_id=st.run_id, segment=st.segment, dataset=st.dataset,
            noise_multiplier=st.noise_multiplier, sample_rate=st.sample_rate, steps=st.steps,
            delta=self.delta, accountant=self.accountant)
        st.ledger_head, st.charged = line["hash"], max(st.charged, st.steps)
        return line

    def spent(self, steps: int | None = None) -> float:
        """Epsilon of the prior runs composed with this one at ``steps`` (default: the most
        steps taken or charged)."""
        st = self.state
        steps = max(st.steps, st.charged) if steps is None else steps
        return epsilon_of(self.prior + [(st.noise_multiplier, st.sample_rate, steps)],
                          self.delta, self.accountant)

    def record(self, *, run_epsilon: bool = True, **facts) -> PrivacyRecord:
        """The run's :class:`PrivacyRecord`; ``facts``: what only the training loop knows
        (epochs, batch size, learning rate, clipping, seconds, checkpoint folder...)."""
        st = self.state
        mine = [(st.noise_multiplier, st.sample_rate, max(st.steps, st.charged))]
        return PrivacyRecord(
            epsilon=self.spent(), delta=self.delta, target_epsilon=self.target_epsilon,
            run_epsilon=epsilon_of(mine, self.delta, self.accountant) if run_epsilon else 0.0,
            accountant=self.accountant, noise_multiplier=float(st.noise_multiplier),
            sample_rate=st.sample_rate, steps=st.steps, seconds=st.seconds,
            loss=list(st.loss), clipped_fraction=list(st.clipped_fraction),
            dataset=st.dataset, run_id=st.run_id, completed=st.steps >= st.total_steps,
            ledger=str(self.ledger.path(st.dataset)) if self.ledger.persistent else None,
            ledger_head=st.ledger_head, seeded_noise=st.seeded_noise,
            prior_runs=len(self.prior), **facts)
