"""Differentially private training, epsilon first, with a ledger, checkpoints and fast clipping.

One logical step: draw a Poisson batch (each example independently with probability q), split
it into physical chunks that fit in memory, clip each sample's gradient to norm C, sum, add
Gaussian noise N(0, sigma^2 C^2), divide by the expected batch size q n, and update. Clipping
is book-keeping (:mod:`._bookkeeping`) when every trainable layer supports it, else Opacus'
per-sample hooks; both give the same clipped sum. An Opacus accountant composes the steps.

Order of writes at a checkpoint (each one fsynced before the next starts): the ledger line,
the run directory's copy of the ledger, the checkpoint folder (model with its privacy claim,
optimizer, state), the ``LATEST`` pointer. A process killed anywhere leaves every visible model
with a claim at least as large as the spending behind it.
"""

from __future__ import annotations

# Over 400 lines on purpose: the run object and its one entry point; a third is docstrings.

import contextlib
import dataclasses
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from trustml._files import check_writable_dir
from trustml.errors import ConfigError
from trustml.models._adapters import TorchAdapter
from trustml.models._training import loss_fn, make_dataset
from trustml.privacy._accounting import (
    PrivacyBudgetError,
    default_delta,
)
from trustml.privacy._account import RunAccount
from trustml.privacy._checkpoint import hold, latest_checkpoint, load_checkpoint, save_checkpoint
from trustml.privacy._ledger import LedgerError, PrivacyLedger, data_fingerprint
from trustml.privacy._sampling import PoissonSampling
from trustml.privacy._settings import (
    OPTIMIZERS,
    DPSettings,
    check_finite,
    check_rows,
)
from trustml.privacy._state import PrivacyRecord, TrainState
from trustml.privacy._steppers import (
    DPSanityError,
    Stepper,
    distributed,
    make_stepper,
    sanity_check,
    sum_over_processes,
)


# What a resume must repeat for its steps to replay the interrupted run's.
RESUME_SETTINGS = ("max_grad_norm", "clipping", "lr", "accountant", "delta", "ema",
                   "optimizer")


class _EpochStats:
    """Loss and clipping counts of the current epoch, and clipping per group over the run."""

    def __init__(self, groups: dict | None, n: int):
        self.groups = {}
        for name, labels in (groups or {}).items():
            labels = np.asarray(labels).astype(str)
            if len(labels) != n:
                raise ConfigError(f"groups: {name!r} has {len(labels)} labels for {n} training "
                                  "examples; pass one per example")
            uniques, codes = np.unique(labels, return_inverse=True)
            self.groups[name] = (uniques, torch.as_tensor(codes), torch.zeros(len(uniques)),
                                 torch.zeros(len(uniques)))
        self.reset()

    def reset(self) -> None:
        self.clipped = self.counted = self.seen = 0
        self.loss = 0.0

    def add(self, part: torch.Tensor, over: torch.Tensor, loss: float) -> None:
        """One chunk: its example indices, which were clipped, its mean loss."""
        for _, codes, hits, seen in self.groups.values():
            hits.index_add_(0, codes[part], over)
            seen.index_add_(0, codes[part], torch.ones_like(over))
        self.clipped += int(over.sum())
        self.counted += len(part)
        self.loss += loss * len(part)
        self.seen += len(part)

    def close(self, world: int) -> tuple[float, float]:
        """(mean loss, clipped fraction) of the epoch, over every process; then reset."""
        if world > 1:
            self.clipped, self.counted, self.loss, self.seen = sum_over_processes(
                self.clipped, self.counted, self.loss, self.seen)
        out = (self.loss / max(self.seen, 1), round(self.clipped / max(self.counted, 1), 6))
        self.reset()
        return out

    def by_group(self, world: int) -> dict:
        """Feature -> group -> fraction of its per-sample gradients clipped over the run."""
        out = {}
        for name, (uniques, _, hits, seen) in self.groups.items():
            if world > 1:
                torch.distributed.all_reduce(hits)
                torch.distributed.all_reduce(seen)
            out[name] = {str(u): round(float(h / n), 6)
                         for u, h, n in zip(uniques, hits, seen) if n > 0}
        return out


def _resolve_ledger(ledger) -> PrivacyLedger:
    if isinstance(ledger, PrivacyLedger):
        return ledger
    return PrivacyLedger.default() if ledger is None else PrivacyLedger(ledger)


def _broadcast(state: TrainState) -> None:
    """Rank 0's noise, step and secret on every process (they must agree)."""
    t = torch.tensor([state.noise_multiplier, float(state.steps)], dtype=torch.float64)
    secret = torch.tensor([int(state.noise_seed)], dtype=torch.int64)
    torch.distributed.broadcast(t, 0)
    torch.distributed.broadcast(secret, 0)
    state.noise_multiplier, state.steps = float(t[0]), int(t[1])
    state.noise_seed = int(secret.item())


class _PrivateRun:
    """One DP training run: its :class:`TrainState`, how it steps, checkpoints and records."""

    def __init__(self, adapter: TorchAdapter, dataset, *, ledger: PrivacyLedger,
                 ckpt: Path | None, sampling: PoissonSampling, settings: DPSettings,
                 stats: _EpochStats, state: TrainState, names: dict | None):
        self.adapter, self.dataset, self.ledger, self.ckpt = adapter, dataset, ledger, ckpt
        self.sampling, self.s, self.stats, self.state = sampling, settings, stats, state
        self.names, self.clipping_used = names or {}, settings.clipping
        self.params = [p for p in adapter.module.parameters() if p.requires_grad]
        self.optimizer = OPTIMIZERS[settings.optimizer](self.params, lr=settings.lr)
        # The exponential moving average of the DP iterates (post-processing: no privacy cost).
        self.average = ([p.detach().clone() for p in self.params]
                        if settings.ema is not None else None)
        self.rank, self.world = distributed()
        self.account = RunAccount(ledger, state, settings)

    # ------------------------------------------------------------------ where it starts
    def begin(self, resume: bool) -> None:
        """Start afresh (calibrating the noise) or continue the checkpoint in ``ckpt``."""
        if resume:
            self._resume()
        else:
            self.account.calibrate()
        if self.world > 1:
            _broadcast(self.state)
        self.budget = self.account.open()
        if self.budget <= self.state.steps < self.state.total_steps:
            raise PrivacyBudgetError(self._budget_message("the first step"))

    def _resume(self) -> None:
        expected = (self.state.dataset, self.state.sample_rate, self.state.total_steps)
        folder = latest_checkpoint(self.ckpt)
        saved, _ = load_checkpoint(folder, self.adapter.module, self.optimizer, self.average)
        self.state.load_state_dict(saved)
        st = self.state
        if st.dataset != expected[0]:
            raise ConfigError("resume: the checkpoint was trained on other data; pass the same "
                              "X, or start a new run")
        if abs(st.sample_rate - expected[1]) > 1e-12 or st.total_steps != expected[2]:
            raise ConfigError("resume: batch_size, epochs or balance differ from the "
                              "checkpoint's; pass the settings it was started with")
        self._same_settings(st.settings)
        line = self._ledger_line()
        # Steps past this checkpoint, if a dead process took any, were never released; the
        # replay draws the same batches and noise, and the ledger charges the run's most steps.
        # Only one line may lie beyond it (a kill between the ledger line and the model): more
        # means a copy of this checkpoint went on, and a second replay would be a second run.
        own = [e["steps"] for e in self.ledger.entries(st.dataset) if e["run_id"] == st.run_id]
        if sum(steps > st.steps for steps in own) > 1:
            raise LedgerError(f"resume: the ledger has this run at step {max(own)}, past this "
                              f"checkpoint's step {st.steps}: a copy of it was resumed "
                              "already; resume that copy, or start a new run")
        st.noise_multiplier, st.segment = line["noise_multiplier"], line["segment"] + 1
        st.charged = max(own)

    def _same_settings(self, saved: dict) -> None:
        """Refuse a resume whose clipping, learning rate, accountant or delta changed."""
        for key, value in saved.items():
            if getattr(self.s, key) != value:
                raise ConfigError(f"resume: {self.names.get(key, key)} is "
                                  f"{getattr(self.s, key)!r} but the "
                                  f"run started with {value!r}; resume with the settings it "
                                  "was started with, or start a new run")

    def _ledger_line(self) -> dict:
        """The ledger line the loaded checkpoint was accounted against, checked against it."""
        st = self.state
        path = self.ledger.path(st.dataset) or "the in-memory ledger"
        line = {e["hash"]: e for e in self.ledger.entries(st.dataset)}.get(st.ledger_head)
        if line is None:
            raise LedgerError(f"resume: {path} does not hold the ledger line this checkpoint "
                              "was accounted against (the ledger was deleted, truncated or "
                              f"replaced); restore it from {self.ckpt}/ledger-*.jsonl")
        if line["steps"] != st.steps or line["run_id"] != st.run_id:
            raise LedgerError(f"resume: {self.ckpt} says {st.steps} steps but its ledger line "
                              f"in {path} says {line['steps']}; the checkpoint was edited")
        return line

    def _budget_message(self, what: str) -> str:
        st = self.state
        spent = self.account.spent(st.steps)
        kept = (f"; the last good model is in {self.ckpt}" if self.ckpt and st.steps
                else "; nothing was trained or written")
        return (f"epsilon: {what} would spend more than the target {self.s.target_epsilon:g}"
                f" (spent {spent:.3f} after {st.steps} steps){kept}; raise the target or the "
                "noise")

    # ------------------------------------------------------------------ stepping
    def train(self, stop_at: int, progress: bool) -> None:
        """Take logical steps until ``stop_at``, checkpointing every epoch and at the end."""
        st, module = self.state, self.adapter.module
        stepper = make_stepper(module, self.optimizer, sigma=st.noise_multiplier,
                               clip=self.s.max_grad_norm,
                               expected_batch=self.sampling.expected_batch,
                               clipping=self.s.clipping, secure_mode=self.s.secure_mode,
                               device=self.adapter.device)
        self.clipping_used = stepper.name
        snapshot = ([p.detach().clone() for p in self.params]
                    if self.s.sanity_check and st.steps == 0 else None)
        t0, start_seconds = time.perf_counter(), st.seconds
        module.train()
        bar = tqdm(total=st.total_steps, initial=st.steps, leave=False, unit="step",
                   desc=f"train (DP, epsilon={self.s.target_epsilon:g})",
                   disable=not progress, mininterval=1.0)
        with warnings.catch_warnings():
            # Full backward hooks on a first layer whose input needs no gradient warn: harmless.
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            try:
                while st.steps < stop_at:
                    st.seconds = start_seconds + time.perf_counter() - t0
                    if st.steps >= self.budget:
                        if self.stats.seen:  # keep the last good model, within the target
                            self._end_epoch()
                        raise PrivacyBudgetError(self._budget_message("the next step"))
                    self._step(stepper)
                    bar.update()
                    if snapshot is not None:
                        sanity_check(module, self.params, snapshot, stepper)
                        snapshot = None
                    if st.steps % self.sampling.steps_per_epoch == 0 or st.steps == stop_at:
                        st.seconds = start_seconds + time.perf_counter() - t0
                        self._end_epoch()
                self._take_average()
            except BaseException:
                self._charge_steps_taken()
                raise
            finally:
                bar.close()
                stepper.close()
                module.eval()
                st.seconds = start_seconds + time.perf_counter() - t0

    def _step(self, stepper: Stepper) -> None:
        st, adapter, device = self.state, self.adapter, self.adapter.device
        chunk = self.s.max_physical_batch_size or len(self.dataset)
        autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
                    else contextlib.nullcontext())
        idx = self.sampling.draw(st.noise_seed, st.steps, self.rank, self.world)
        for first in range(0, len(idx), chunk):
            part = idx[first:first + chunk]
            *inputs, target = (t[part].to(device) for t in self.dataset.tensors)
            with autocast:
                logits = adapter.forward(stepper.module, *inputs)
            loss = loss_fn(adapter, logits, target)
            over = (stepper.backward(loss, len(part)) > self.s.max_grad_norm).float().cpu()
            self.stats.add(part, over, loss.item())
        stepper.step(noise_seed=(st.noise_seed * 7919 + st.steps + 1) % 2 ** 63)
        st.steps += 1
        if self.average is not None:  # decay warmed up as in De et al. (2022)
            decay = min(self.s.ema, (1 + st.steps) / (10 + st.steps))
            torch._foreach_lerp_(self.average, [p.detach() for p in self.params], 1 - decay)

    def _take_average(self) -> None:
        """Put the weight average, if the run keeps one, into the module (the result)."""
        with torch.no_grad():
            for param, kept in zip(self.params, self.average or ()):
                param.copy_(kept)

    def _end_epoch(self) -> None:
        loss, fraction = self.stats.close(self.world)
        self.state.loss.append(loss)
        self.state.clipped_fraction.append(fraction)
        self.checkpoint()

    # ------------------------------------------------------------------ recording
    def _charge_steps_taken(self) -> None:
        """On an exception (Ctrl-C in a notebook...), charge the steps the module in memory
        has taken past the last ledger line: the caller still holds it. A module whose weights
        are no longer finite reveals nothing and is not charged."""
        st = self.state
        charged = max([st.charged] + [e["steps"] for e in self.ledger.entries(st.dataset)
                                      if e["run_id"] == st.run_id])
        finite = all(bool(torch.isfinite(p).all()) for p in self.params)
        if self.rank == 0 and st.steps > charged and finite:
            self.account.charge()

    def checkpoint(self) -> None:
        """Ledger line first (fsynced), then the run directory's copy, then the model."""
        st = self.state
        if not all(bool(torch.isfinite(p).all()) for p in self.params):
            raise DPSanityError(f"training: the weights became NaN or infinite by step "
                                f"{st.steps} (lower the learning rate); nothing was saved and "
                                "the ledger charges no step past the last checkpoint")
        if self.rank != 0:
            return
        self.account.charge()
        if self.ckpt is None:
            return
        self.ledger.write_copy(st.dataset, self.ckpt)
        save_checkpoint(self.ckpt, self.adapter.module, self.optimizer, st.state_dict(),
                        claim=self.record(run_epsilon=False).claim(), average=self.average)

    def record(self, run_epsilon: bool = True) -> PrivacyRecord:
        """What the run has spent so far (``run_epsilon=False`` skips this run's own)."""
        s = self.s
        return self.account.record(
            run_epsilon=run_epsilon, epochs=s.epochs, max_grad_norm=s.max_grad_norm,
            n_train=len(self.dataset), batch_size=s.batch_size, lr=s.lr,
            clipping=self.clipping_used, secure_mode=s.secure_mode,
            clipped_fraction_by_group=self.stats.by_group(1),
            sample_rate_by_group=self.sampling.by_group,
            balance_power=s.balance_power if self.sampling.by_group else None,
            checkpoint_dir=str(self.ckpt) if self.ckpt is not None else None)


def check_run_options(*, resume, checkpoint_dir, max_steps=None,
                      names: dict | None) -> None:
    """Where the run writes and when this call stops (its settings: :meth:`DPSettings.check`)."""
    names = names or {}
    if max_steps is not None and not (isinstance(max_steps, int) and not isinstance(
            max_steps, bool) and max_steps >= 1):
        raise ConfigError(f"max_steps: {max_steps!r} must be a whole number >= 1")
    if resume and checkpoint_dir is None:
        raise ConfigError("resume: needs checkpoint_dir= pointing at the interrupted run")
    if checkpoint_dir is not None:
        check_writable_dir(checkpoint_dir, flag=names.get("checkpoint_dir", "checkpoint_dir"))


# Over 60 lines with its docstring (a public entry point documents each keyword); its
# code is under 45.
def train_private(adapter: TorchAdapter, X, y, settings: DPSettings | None = None, *,
                  checkpoint_dir: str | os.PathLike | None = None, resume: bool = False,
                  max_steps: int | None = None, groups: dict | None = None, balance=None,
                  ledger: PrivacyLedger | str | os.PathLike | None = None,
                  progress: bool = True, names: dict | None = None,
                  **fields) -> tuple[TorchAdapter, PrivacyRecord]:
    """Train the adapter's module with DP-SGD (Adam or plain SGD update) within a privacy budget.

    The noise multiplier is calibrated so that this run, composed with what the ledger already
    holds for the same training data, spends at most ``target_epsilon`` at ``delta``. Given an
    explicit ``noise_multiplier`` instead, training stops with :class:`PrivacyBudgetError` before
    the step that would exceed the target, keeping the last good model (in ``checkpoint_dir``).
    Settings and data are checked before anything is spent or written.

    Parameters
    ----------
    adapter : TorchAdapter
        Holds the module to train (in place).
    X, y
        Training inputs (raw, as the adapter takes them) and labels.
    settings : DPSettings, optional
        The budget, clipping, noise and optimisation; see :class:`DPSettings` for each field
        and its default.
    **fields
        Any field of :class:`DPSettings` as a keyword (``target_epsilon=1.0, epochs=3``):
        it overrides ``settings``. ``target_epsilon`` is needed when ``settings`` is not given.
    checkpoint_dir : path, optional
        Checkpoints (every epoch), the ``LATEST`` pointer and a copy of the ledger; see
        :mod:`trustml.privacy._checkpoint`. One run writes here at a time.
    resume : bool
        Continue the run checkpointed in ``checkpoint_dir`` (same data and settings): the
        same batches and noise, so the result equals an uninterrupted run.
    max_steps : int, optional
        Stop this call after that many logical steps (checkpointed; resume later).
    groups : dict, optional
        Feature name -> one group label per training example: the record then gives the
        fraction of clipped gradients per group (an audit statistic, not for release).
    balance : array-like, optional
        One group label per example: sample small groups more often
        (:func:`balanced_sample_rates`, strength ``balance_power``); the accountant charges
        every example the highest rate, so balancing needs more noise for the same epsilon.
    ledger : PrivacyLedger or path, optional
        Where spending on this data is composed. Default: the user's ledger store
        (:func:`trustml.privacy.default_ledger_dir`), so every run on the same rows adds up.
        ``PrivacyLedger()`` keeps it in memory, for models that are never released.
    progress : bool
    names : dict, optional
        How the caller's interface spells these settings in error messages (keyword -> name).

    Notes
    -----
    Inside a ``torch.distributed`` process group (e.g. under ``torchrun``), every process draws
    the same Poisson batch and trains on its share; clipped gradient sums are all-reduced and
    the same noise is added everywhere, so the result and the epsilon equal a single-process
    run's. Only rank 0 writes checkpoints and the ledger.

    Returns
    -------
    (adapter, PrivacyRecord)
    """
    settings = DPSettings.of(settings, names=names, **fields)
    n = len(y)
    check_rows(n, settings.delta, names)
    check_run_options(resume=resume, checkpoint_dir=checkpoint_dir, max_steps=max_steps,
                      names=names)
    if settings.accountant == "gdp":
        warnings.warn("accountant='gdp' is an asymptotic approximation and can under-state "
                      "epsilon; prefer 'prv' or 'rdp'", stacklevel=2)
    dataset = make_dataset(adapter, X, y)
    check_finite(dataset.tensors)
    if settings.delta is None:
        settings = dataclasses.replace(settings, delta=default_delta(n))
    sampling = PoissonSampling.of(n, settings.batch_size, balance, settings.balance_power)
    state = TrainState.start(data_fingerprint(X), settings.epochs * sampling.steps_per_epoch,
                             sampling.q, settings.seed,
                             {k: getattr(settings, k) for k in RESUME_SETTINGS})
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    run = _PrivateRun(adapter, dataset, ledger=_resolve_ledger(ledger), ckpt=ckpt,
                      sampling=sampling, settings=settings, stats=_EpochStats(groups, n),
                      state=state, names=names)
    with contextlib.ExitStack() as held:
        if run.rank == 0:
            held.enter_context(run.ledger.lock(state.dataset))
            if ckpt is not None:
                run.ledger.check_against_copy(state.dataset, ckpt)
        if not resume:  # before the run directory is made
            run.account.check_composition(names)
        if run.rank == 0 and ckpt is not None:
            held.enter_context(hold(ckpt))
        run.begin(resume)
        run.train(state.total_steps if max_steps is None
                  else min(state.total_steps, state.steps + max_steps), progress)
    run.stats.by_group(run.world)  # all-reduce the per-group counts once, on every process
    return adapter, run.record()
