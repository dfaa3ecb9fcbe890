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

import contextlib
import math
import os
import secrets
import time
import uuid
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from opacus.grad_sample import GradSampleModule
from opacus.optimizers import DPOptimizer
from tqdm.auto import tqdm

from trustml.errors import ConfigError, TrustMLError
from trustml.models._adapters import TorchAdapter
from trustml.models._training import loss_fn, make_dataset
from trustml.privacy._bookkeeping import BookKeepingClipper, supports
from trustml.privacy._checkpoint import hold, latest_checkpoint, load_checkpoint, save_checkpoint
from trustml.privacy._ledger import LedgerError, PrivacyLedger, data_fingerprint, epsilon_of
from trustml.privacy._settings import (
    check_finite,
    check_privacy_params,
    check_training_settings,
)

CLIPPING = ("auto", "bookkeeping", "opacus")


class PrivacyBudgetError(TrustMLError):
    """The next training step would spend more than the privacy budget."""


class DPSanityError(TrustMLError):
    """DP training is not doing what it should (weights frozen, per-sample grads misshapen)."""


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
        Per epoch, the fraction of per-sample gradients whose norm exceeded ``max_grad_norm``.
    clipped_fraction_by_group : dict
        Feature -> group -> fraction of that group's per-sample gradients clipped over the run
        (when ``groups`` was given): clipping that hits one group harder costs it accuracy.
    clipping : {"bookkeeping", "opacus"}
    completed : bool
        False when the run stopped early (``max_steps``) and can be resumed.
    dataset : str
        The training data's fingerprint (:func:`trustml.privacy.data_fingerprint`).
    ledger : str or None
        The ledger file this run was accounted in (None: an in-memory ledger).
    ledger_head : str
        Hash of this run's last ledger line: the epsilon above composes the ledger up to it.
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

    def to_dict(self) -> dict:
        return asdict(self)

    def claim(self) -> dict:
        """What a released model states about its privacy (stored with its weights)."""
        keys = ("epsilon", "delta", "accountant", "steps", "run_id", "dataset", "ledger_head",
                "noise_multiplier", "sample_rate", "target_epsilon", "seeded_noise")
        return {k: getattr(self, k) for k in keys}


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


# ---------------------------------------------------------------------- steppers
class _Stepper:
    """One DP step over physical chunks: ``backward(loss, n)`` per chunk, then ``step(seed)``."""

    _shapes_ok = True

    @property
    def shapes_ok(self) -> bool:
        """Whether every chunk since the start gave one per-sample gradient per example."""
        return self._shapes_ok


class _BookKeepingStepper(_Stepper):
    """Clipped, noised gradient by book-keeping; one backward per physical chunk."""

    name = "bookkeeping"

    def __init__(self, module, optimizer, sigma, clip, expected_batch, generator,
                 distributed=False):
        self.clipper = BookKeepingClipper(module, clip)
        self.distributed = distributed
        self.optimizer, self.sigma, self.clip = optimizer, sigma, clip
        self.expected_batch, self.generator = expected_batch, generator
        self.module = module

    def backward(self, loss, batch_size):
        loss.backward()
        norms = self.clipper.accumulate(batch_size)
        self._shapes_ok &= norms.shape == (batch_size,)
        return norms

    def step(self, noise_seed: int):
        self.clipper.finish()
        if self.distributed:  # sum the clipped gradients of every process's share
            for p in self.clipper.params:
                torch.distributed.all_reduce(p.grad)
        # Every process draws the same noise (same seed), so the models stay identical.
        self.generator.manual_seed(noise_seed)
        for p in self.clipper.params:
            noise = torch.normal(0.0, self.sigma * self.clip, size=p.shape,
                                 generator=self.generator).to(p.device)
            p.grad = (p.grad + noise) / self.expected_batch
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def close(self):
        self.clipper.remove()


class _OpacusStepper(_Stepper):
    """Opacus' per-sample gradient hooks and DPOptimizer (the fallback for other layers)."""

    name = "opacus"

    def __init__(self, module, optimizer, sigma, clip, expected_batch, generator, secure_mode):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Ss]ecure RNG.*")
            self.gsm = GradSampleModule(module)
            self.optimizer = DPOptimizer(optimizer, noise_multiplier=sigma, max_grad_norm=clip,
                                         expected_batch_size=expected_batch,
                                         generator=generator, secure_mode=secure_mode)
        self.module = self.gsm
        self.clip = clip

    def backward(self, loss, batch_size):
        loss.backward()
        params = [p for p in self.optimizer.params if p.grad_sample is not None]
        self._shapes_ok &= all(p.grad_sample.shape == (batch_size, *p.shape) for p in params)
        norms = torch.stack([p.grad_sample.reshape(batch_size, -1).norm(2, dim=1)
                             for p in params], 1).norm(2, dim=1)
        # Clip and add this chunk to the running sum; the real step comes in step().
        self.optimizer.signal_skip_step(do_skip=True)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return norms.detach()

    def step(self, noise_seed: int):
        if self.optimizer.generator is not None:
            self.optimizer.generator.manual_seed(noise_seed)
        for p in self.optimizer.params:
            if p.summed_grad is None:  # an empty Poisson batch: noise only
                p.summed_grad = torch.zeros_like(p)
            p.grad_sample = torch.zeros((0, *p.shape), device=p.device, dtype=p.dtype)
        # grad_sample of size 0 adds nothing to the sum; this step clips nothing and adds noise.
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def close(self):
        self.gsm._close()


def _distributed() -> tuple[int, int]:
    """(rank, world size) of the torch.distributed group, (0, 1) outside one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _sum_over_processes(*values: float) -> list[float]:
    t = torch.tensor(values, dtype=torch.float64)
    torch.distributed.all_reduce(t)
    return t.tolist()


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


# ---------------------------------------------------------------------- training
@dataclass
class _Sampling:
    """Poisson sampling of a run: per-example rates and what the accountant charges."""

    rates: torch.Tensor
    q: float
    expected_batch: float
    steps_per_epoch: int
    by_group: dict

    @classmethod
    def of(cls, n: int, batch_size: int, balance, balance_power: float) -> "_Sampling":
        steps_per_epoch = math.ceil(n / min(batch_size, n))
        rates, by_group = np.full(n, 1.0 / steps_per_epoch), {}
        if balance is not None:
            if len(balance) != n:
                raise ConfigError(f"balance: {len(balance)} labels for {n} training examples; "
                                  "pass one per example")
            rates, by_group = balanced_sample_rates(balance, n / steps_per_epoch, balance_power)
        return cls(torch.as_tensor(rates, dtype=torch.float32), float(rates.max()),
                   float(rates.sum()), steps_per_epoch, by_group)


def _group_counters(groups: dict | None, n: int) -> dict:
    """Feature -> (group names, code per example, clipped count, seen count)."""
    out = {}
    for name, labels in (groups or {}).items():
        labels = np.asarray(labels).astype(str)
        if len(labels) != n:
            raise ConfigError(f"groups: {name!r} has {len(labels)} labels for {n} training "
                              "examples; pass one per example")
        uniques, codes = np.unique(labels, return_inverse=True)
        out[name] = (uniques, torch.as_tensor(codes), torch.zeros(len(uniques)),
                     torch.zeros(len(uniques)))
    return out


def _resolve_ledger(ledger) -> PrivacyLedger:
    if isinstance(ledger, PrivacyLedger):
        return ledger
    return PrivacyLedger.default() if ledger is None else PrivacyLedger(ledger)


def _broadcast(values: list[int | float]) -> list:
    """Rank 0's values on every process (noise seed and calibration must agree)."""
    t = torch.tensor([float(v) for v in values[:-1]] + [0.0], dtype=torch.float64)
    secret = torch.tensor([int(values[-1])], dtype=torch.int64)
    torch.distributed.broadcast(t, 0)
    torch.distributed.broadcast(secret, 0)
    return t.tolist()[:-1] + [int(secret.item())]


class _PrivateRun:
    """The state of one DP training run: where it stands, how it steps, what it records."""

    def __init__(self, adapter: TorchAdapter, dataset, *, fingerprint: str,
                 ledger: PrivacyLedger, ckpt: Path | None, sampling: _Sampling, settings: dict,
                 groups: dict, seed: int | None):
        self.adapter, self.dataset, self.fingerprint = adapter, dataset, fingerprint
        self.ledger, self.ckpt, self.sampling, self.s = ledger, ckpt, sampling, settings
        self.groups, self.seeded = groups, seed is not None
        self.secret = seed if seed is not None else secrets.randbits(62)
        self.params = [p for p in adapter.module.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(self.params, lr=settings["lr"])
        self.total = settings["epochs"] * sampling.steps_per_epoch
        self.run_id, self.segment, self.done = uuid.uuid4().hex[:12], 0, 0
        self.charged = 0  # steps the ledger already charges this run (a resumed run's most)
        self.losses, self.fractions, self.seconds, self.head = [], [], 0.0, ""
        self.rank, self.world = _distributed()
        self.clipped = self.counted = 0
        self.epoch_loss, self.epoch_seen = 0.0, 0

    # ------------------------------------------------------------------ where it starts
    def begin(self, resume: bool) -> None:
        """Start afresh (calibrating the noise) or continue the checkpoint in ``ckpt``."""
        if resume:
            self._resume()
        else:
            fixed = self.s["noise_multiplier"]
            try:
                self.sigma = fixed if fixed is not None else calibrate_noise(
                    self.ledger.history(self.fingerprint), self.sampling.q, self.total,
                    self.s["target_epsilon"], self.s["delta"], self.s["accountant"])
            except PrivacyBudgetError as exc:
                where = self.ledger.path(self.fingerprint) or "the in-memory ledger"
                raise PrivacyBudgetError(f"{exc} (ledger: {where})") from None
        if self.world > 1:
            self.sigma, self.done, self.secret = _broadcast([self.sigma, self.done, self.secret])
            self.done = int(self.done)
        self.prior = self._prior()
        self.budget = allowed_steps(self.prior, self.sigma, self.sampling.q,
                                    self.total, self.s["target_epsilon"],
                                    self.s["delta"], self.s["accountant"])
        if self.done >= self.budget and self.done < self.total:
            raise PrivacyBudgetError(self._budget_message("the first step"))

    def _prior(self) -> list:
        """Everything else spent on this data: every other run."""
        return self.ledger.history(self.fingerprint, exclude_run=self.run_id)

    def _resume(self) -> None:
        folder = latest_checkpoint(self.ckpt)
        state, _ = load_checkpoint(folder, self.adapter.module, self.optimizer)
        if state["dataset"] != self.fingerprint:
            raise ConfigError("resume: the checkpoint was trained on other data; pass the same "
                              "X, or start a new run")
        if abs(state["sample_rate"] - self.sampling.q) > 1e-12 or state["total_steps"] != (
                self.total):
            raise ConfigError("resume: batch_size, epochs or balance differ from the "
                              "checkpoint's; pass the settings it was started with")
        line = self._ledger_line(state)
        self.run_id, self.done, self.sigma = state["run_id"], state["steps"], line[
            "noise_multiplier"]
        # Steps past this checkpoint, if a dead process took any, were never released; the
        # replay draws the same batches and noise, and the ledger charges the run's most steps.
        self.segment = line["segment"] + 1
        self.charged = max(e["steps"] for e in self.ledger.entries(self.fingerprint)
                           if e["run_id"] == self.run_id)
        self.secret, self.seeded = state["noise_seed"], state["seeded_noise"]
        self.losses, self.fractions = state["loss"], state["clipped_fraction"]
        self.seconds = state["seconds"]

    def _ledger_line(self, state: dict) -> dict:
        """The ledger line a checkpoint was accounted against, checked against it."""
        path = self.ledger.path(self.fingerprint) or "the in-memory ledger"
        line = {e["hash"]: e for e in self.ledger.entries(self.fingerprint)}.get(
            state["ledger_head"])
        if line is None:
            raise LedgerError(f"resume: {path} does not hold the ledger line this checkpoint "
                              "was accounted against (the ledger was deleted, truncated or "
                              f"replaced); restore it from {self.ckpt}/ledger-*.jsonl")
        if line["steps"] != state["steps"] or line["run_id"] != state["run_id"]:
            raise LedgerError(f"resume: {self.ckpt} says {state['steps']} steps but its ledger "
                              f"line in {path} says {line['steps']}; the checkpoint was edited")
        return line

    def _budget_message(self, what: str) -> str:
        spent = epsilon_of(self.prior + [(self.sigma, self.sampling.q, self.done)],
                               self.s["delta"], self.s["accountant"])
        kept = (f"; the last good model is in {self.ckpt}" if self.ckpt and self.done
                else "; nothing was trained or written")
        return (f"epsilon: {what} would spend more than the target {self.s['target_epsilon']:g}"
                f" (spent {spent:.3f} after {self.done} steps){kept}; raise the target or the "
                "noise")

    # ------------------------------------------------------------------ stepping
    def train(self, stop_at: int, progress: bool) -> None:
        """Take logical steps until ``stop_at``, checkpointing every epoch and at the end."""
        module, chunk = self.adapter.module, self.s["chunk"] or len(self.dataset)
        stepper = self._stepper()
        self.s["clipping_used"] = stepper.name
        snapshot = ([p.detach().clone() for p in self.params]
                    if self.s["sanity_check"] and self.done == 0 else None)
        t0 = time.perf_counter()
        module.train()
        bar = tqdm(total=self.total, initial=self.done, leave=False, unit="step",
                   desc=f"train (DP, epsilon={self.s['target_epsilon']:g})",
                   disable=not progress, mininterval=1.0)
        with warnings.catch_warnings():
            # Full backward hooks on a first layer whose input needs no gradient warn: harmless.
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            try:
                while self.done < stop_at:
                    if self.done >= self.budget:
                        if self.epoch_seen:  # keep the last good model, within the target
                            self._end_epoch()
                            self.checkpoint(self.seconds + time.perf_counter() - t0)
                        raise PrivacyBudgetError(self._budget_message("the next step"))
                    self._step(stepper, chunk)
                    bar.update()
                    if snapshot is not None:
                        _sanity_check(module, self.params, snapshot, stepper)
                        snapshot = None
                    if (self.done % self.sampling.steps_per_epoch == 0
                            or self.done == stop_at):
                        self._end_epoch()
                        self.checkpoint(self.seconds + time.perf_counter() - t0)
            finally:
                bar.close()
                stepper.close()
                module.eval()
                self.seconds += time.perf_counter() - t0

    def _stepper(self) -> _Stepper:
        module, s = self.adapter.module, self.s
        use_bk = s["clipping"] == "bookkeeping" or (s["clipping"] == "auto" and supports(module)
                                                    and not s["secure_mode"])
        if self.world > 1 and not use_bk:
            raise ConfigError("clipping: multi-process training needs book-keeping clipping "
                              "(Linear, Embedding and LayerNorm trainable layers, no "
                              "secure_mode)")
        if use_bk:
            return _BookKeepingStepper(module, self.optimizer, self.sigma, s["max_grad_norm"],
                                       self.sampling.expected_batch, torch.Generator(),
                                       distributed=self.world > 1)
        gen = None if s["secure_mode"] else torch.Generator(device=self.adapter.device)
        return _OpacusStepper(module, self.optimizer, self.sigma, s["max_grad_norm"],
                              self.sampling.expected_batch, gen, s["secure_mode"])

    def _step(self, stepper: _Stepper, chunk: int) -> None:
        adapter, device = self.adapter, self.adapter.device
        autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
                    else contextlib.nullcontext())
        # Poisson sampling from the run's secret, per step, so a resume draws the same batches.
        g = torch.Generator().manual_seed((self.secret * 1_000_003 + self.done) % 2 ** 63)
        idx = torch.nonzero(torch.rand(len(self.dataset), generator=g)
                            < self.sampling.rates).flatten()
        idx = idx[idx % self.world == self.rank]  # this process's share of the global batch
        for first in range(0, len(idx), chunk):
            part = idx[first:first + chunk]
            *inputs, target = (t[part].to(device) for t in self.dataset.tensors)
            with autocast:
                logits = adapter.forward(stepper.module, *inputs)
            loss = loss_fn(adapter, logits, target)
            over = (stepper.backward(loss, len(part)) > self.s["max_grad_norm"]).float().cpu()
            for _, codes, hits, seen in self.groups.values():
                hits.index_add_(0, codes[part], over)
                seen.index_add_(0, codes[part], torch.ones_like(over))
            self.clipped += int(over.sum())
            self.counted += len(part)
            self.epoch_loss += loss.item() * len(part)
            self.epoch_seen += len(part)
        stepper.step(noise_seed=(self.secret * 7919 + self.done + 1) % 2 ** 63)
        self.done += 1

    def _end_epoch(self) -> None:
        if self.world > 1:
            self.clipped, self.counted, self.epoch_loss, self.epoch_seen = _sum_over_processes(
                self.clipped, self.counted, self.epoch_loss, self.epoch_seen)
        self.losses.append(self.epoch_loss / max(self.epoch_seen, 1))
        self.fractions.append(round(self.clipped / max(self.counted, 1), 6))
        self.clipped = self.counted = 0
        self.epoch_loss, self.epoch_seen = 0.0, 0

    # ------------------------------------------------------------------ recording
    def checkpoint(self, seconds: float) -> None:
        """Ledger line first (fsynced), then the run directory's copy, then the model."""
        if self.rank != 0:
            return
        line = self.ledger.record(
            run_id=self.run_id, segment=self.segment,
            dataset=self.fingerprint, noise_multiplier=self.sigma, sample_rate=self.sampling.q,
            steps=self.done, delta=self.s["delta"], accountant=self.s["accountant"])
        self.head = line["hash"]
        if self.ckpt is None:
            return
        self.ledger.write_copy(self.fingerprint, self.ckpt)
        state = {"run_id": self.run_id, "segment": self.segment, "dataset": self.fingerprint,
                 "steps": self.done, "total_steps": self.total, "sample_rate": self.sampling.q,
                 "ledger_head": self.head, "noise_seed": self.secret,
                 "seeded_noise": self.seeded, "loss": self.losses,
                 "clipped_fraction": self.fractions, "seconds": seconds}
        save_checkpoint(self.ckpt, self.adapter.module, self.optimizer, state,
                        claim=self.record(run_epsilon=False).claim())

    def record(self, run_epsilon: bool = True) -> PrivacyRecord:
        """What the run has spent so far (``run_epsilon=False`` skips this run's own)."""
        s, mine = self.s, [(self.sigma, self.sampling.q, max(self.done, self.charged))]
        by_group = {}
        for name, (uniques, _, hits, seen) in self.groups.items():
            by_group[name] = {str(u): round(float(h / n), 6)
                              for u, h, n in zip(uniques, hits, seen) if n > 0}
        return PrivacyRecord(
            epsilon=epsilon_of(self.prior + mine, s["delta"], s["accountant"]),
            run_epsilon=epsilon_of(mine, s["delta"], s["accountant"]) if run_epsilon else 0.0,
            delta=s["delta"], target_epsilon=s["target_epsilon"], accountant=s["accountant"],
            noise_multiplier=float(self.sigma), sample_rate=self.sampling.q, steps=self.done,
            epochs=s["epochs"], max_grad_norm=s["max_grad_norm"], n_train=len(self.dataset),
            batch_size=s["batch_size"], lr=s["lr"], clipping=s["clipping_used"],
            secure_mode=s["secure_mode"], seconds=self.seconds, loss=list(self.losses),
            clipped_fraction=list(self.fractions), clipped_fraction_by_group=by_group,
            sample_rate_by_group=self.sampling.by_group,
            balance_power=s["balance_power"], dataset=self.fingerprint, run_id=self.run_id,
            completed=self.done >= self.total,
            checkpoint_dir=str(self.ckpt) if self.ckpt is not None else None,
            ledger=str(self.ledger.path(self.fingerprint)) if self.ledger.persistent else None,
            ledger_head=self.head, seeded_noise=self.seeded)
def train_private(adapter: TorchAdapter, X, y, *, target_epsilon: float,
                  delta: float | None = None, epochs: int = 5, batch_size: int = 256,
                  max_grad_norm: float = 1.0, lr: float = 1e-3, accountant: str = "prv",
                  noise_multiplier: float | None = None, clipping: str = "auto",
                  max_physical_batch_size: int | None = None, secure_mode: bool = False,
                  checkpoint_dir: str | os.PathLike | None = None, resume: bool = False,
                  max_steps: int | None = None, sanity_check: bool = True,
                  groups: dict | None = None, balance=None, balance_power: float = 1.0,
                  ledger: PrivacyLedger | str | os.PathLike | None = None,
                  seed: int | None = None, progress: bool = True,
                  names: dict | None = None) -> tuple[TorchAdapter, PrivacyRecord]:
    """Train the adapter's module with DP-SGD (Adam update) within a privacy budget.

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
    target_epsilon : float
    delta : float, optional
        Below ``1 / len(y)``; default: the largest power of ten below it.
    epochs, batch_size, max_grad_norm, lr
        ``batch_size`` is the expected logical (Poisson) batch size; each epoch is
        ``ceil(n / batch_size)`` steps at sampling rate ``1 / steps_per_epoch``.
    accountant : {"prv", "rdp", "gdp"}
    noise_multiplier : float, optional
        Fix the noise instead of calibrating it.
    clipping : {"auto", "bookkeeping", "opacus"}
        "auto" takes book-keeping when every trainable layer is Linear, Embedding or LayerNorm.
    max_physical_batch_size : int, optional
        Split logical batches into chunks of at most this many examples (memory bound).
    secure_mode : bool
        Opacus' cryptographically safe noise (needs ``torchcsprng``; Opacus clipping only).
    checkpoint_dir : path, optional
        Checkpoints (every epoch), the ``LATEST`` pointer and a copy of the ledger; see
        :mod:`trustml.privacy._checkpoint`. One run writes here at a time.
    resume : bool
        Continue the run checkpointed in ``checkpoint_dir`` (same data and settings): the
        same batches and noise, so the result equals an uninterrupted run.
    max_steps : int, optional
        Stop this call after that many logical steps (checkpointed; resume later).
    sanity_check : bool
        After the first step, check that every trainable weight moved and per-sample
        gradients have the right shape; raise :class:`DPSanityError` otherwise.
    groups : dict, optional
        Feature name -> one group label per training example: the record then gives the
        fraction of clipped gradients per group (an audit statistic, not for release).
    balance : array-like, optional
        One group label per example: sample small groups more often
        (:func:`balanced_sample_rates`); the accountant charges every example the highest
        rate, so balancing needs more noise for the same epsilon.
    balance_power : float
        Strength of the balancing in [0, 1].
    ledger : PrivacyLedger or path, optional
        Where spending on this data is composed. Default: the user's ledger store
        (:func:`trustml.privacy.default_ledger_dir`), so every run on the same rows adds up.
        ``PrivacyLedger()`` keeps it in memory, for models that are never released.
    seed : int, optional
        Seeds the sampling and the noise. Default: a secret drawn per run (kept only in the
        checkpoints). A stated seed makes the run reproducible, but anyone who knows it can
        remove the noise: for tests and benchmarks on public data only.
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
    check_privacy_params(target_epsilon, delta, accountant, names=names)
    if clipping not in CLIPPING:
        raise ConfigError(f"clipping: unknown method {clipping!r}; use one of {list(CLIPPING)}")
    n = len(y)
    check_training_settings(n=n, delta=delta, epochs=epochs, batch_size=batch_size, lr=lr,
                            max_grad_norm=max_grad_norm, max_steps=max_steps,
                            max_physical_batch_size=max_physical_batch_size,
                            noise_multiplier=noise_multiplier, names=names)
    if resume and checkpoint_dir is None:
        raise ConfigError("resume: needs checkpoint_dir= pointing at the interrupted run")
    if accountant == "gdp":
        warnings.warn("accountant='gdp' is an asymptotic approximation and can under-state "
                      "epsilon; prefer 'prv' or 'rdp'", stacklevel=2)
    dataset = make_dataset(adapter, X, y)
    check_finite(dataset.tensors)
    settings = {"target_epsilon": target_epsilon, "accountant": accountant,
                "delta": default_delta(n) if delta is None else float(delta), "epochs": epochs,
                "batch_size": batch_size, "lr": lr, "max_grad_norm": max_grad_norm,
                "noise_multiplier": noise_multiplier, "clipping": clipping,
                "clipping_used": clipping, "chunk": max_physical_batch_size,
                "secure_mode": secure_mode, "sanity_check": sanity_check,
                "balance_power": balance_power if balance is not None else None}
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    run = _PrivateRun(adapter, dataset, fingerprint=data_fingerprint(X),
                      ledger=_resolve_ledger(ledger), ckpt=ckpt,
                      sampling=_Sampling.of(n, batch_size, balance, balance_power),
                      settings=settings, groups=_group_counters(groups, n), seed=seed)
    with contextlib.ExitStack() as held:
        if run.rank == 0:
            held.enter_context(run.ledger.lock(run.fingerprint))
            if ckpt is not None:
                held.enter_context(hold(ckpt))
                run.ledger.check_against_copy(run.fingerprint, ckpt)
        run.begin(resume)
        stop_at = run.total if max_steps is None else min(run.total, run.done + max_steps)
        run.train(stop_at, progress)
    if run.world > 1:
        for _, _, hits, seen in run.groups.values():
            torch.distributed.all_reduce(hits)
            torch.distributed.all_reduce(seen)
    return adapter, run.record()


def _sanity_check(module, params, before, stepper) -> None:
    names = {id(p): name for name, p in module.named_parameters()}
    frozen = [names.get(id(p), "?") for p, b in zip(params, before) if torch.equal(p.detach(), b)]
    if frozen:
        raise DPSanityError(f"training: {len(frozen)} trainable weights did not change after the "
                            f"first DP step (first: {frozen[0]}); check that the optimizer "
                            "holds the model's parameters and the learning rate is not 0")
    if not stepper.shapes_ok:
        raise DPSanityError("training: per-sample gradients do not have one row per example; "
                            "pass explicit position_ids / token_type_ids to transformer models "
                            "or use clipping='bookkeeping'")
