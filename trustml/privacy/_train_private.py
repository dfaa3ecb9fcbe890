"""Differentially private training, epsilon first, with a ledger, checkpoints and fast clipping.

One logical step: draw a Poisson batch (each example independently with probability q), split
it into physical chunks that fit in memory, clip each sample's gradient to norm C, sum, add
Gaussian noise N(0, sigma^2 C^2), divide by the expected batch size q n, and update. Clipping
is book-keeping (:mod:`._bookkeeping`) when every trainable layer supports it, else Opacus'
per-sample hooks; both give the same clipped sum. An Opacus accountant composes the steps.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
import uuid
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from opacus.optimizers import DPOptimizer
from opacus.grad_sample import GradSampleModule
from tqdm.auto import tqdm

from trustml.errors import ConfigError, TrustMLError
from trustml.models._adapters import TorchAdapter
from trustml.models._io import load_weights, save_weights
from trustml.models._training import loss_fn, make_dataset
from trustml.privacy._bookkeeping import BookKeepingClipper, supports
from trustml.privacy._ledger import PrivacyLedger, epsilon_of

ACCOUNTANTS = ("prv", "rdp", "gdp")
CLIPPING = ("auto", "bookkeeping", "opacus")
STATE_FILE = "state.json"


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
        everything the ledger holds for the same data (earlier runs, the run before a resume).
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

    def to_dict(self) -> dict:
        return asdict(self)


def default_delta(n: int) -> float:
    """The largest power of ten strictly below ``1 / n``."""
    return 10.0 ** -(math.floor(math.log10(max(n, 1))) + 1)


def check_privacy_params(target_epsilon: float, delta: float | None, accountant: str) -> None:
    """Raise :class:`ConfigError` for an epsilon, delta or accountant out of range."""
    if not (isinstance(target_epsilon, (int, float)) and math.isfinite(target_epsilon)
            and target_epsilon > 0):
        raise ConfigError(f"epsilon: {target_epsilon!r} must be a finite number > 0; "
                          "pass e.g. epsilon=1.0")
    if delta is not None and not (isinstance(delta, (int, float)) and 0 < delta < 1):
        raise ConfigError(f"delta: {delta!r} must lie in (0, 1); pass e.g. delta=1e-5, "
                          "below 1 / number of training examples")
    if accountant not in ACCOUNTANTS:
        raise ConfigError(f"accountant: unknown accountant {accountant!r}; "
                          f"use one of {list(ACCOUNTANTS)}")


def _quiet_epsilon(history, delta, accountant) -> float:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        return epsilon_of(history, delta, accountant)


def calibrate_noise(prior: list, sample_rate: float, steps: int, target_epsilon: float,
                    delta: float, accountant: str, tol: float = 0.01) -> float:
    """Smallest noise multiplier (within ``tol`` in epsilon) so that ``prior`` plus ``steps``
    steps at ``sample_rate`` spend at most ``target_epsilon``."""
    if _quiet_epsilon(prior, delta, accountant) >= target_epsilon:
        raise PrivacyBudgetError(f"epsilon: the ledger already holds epsilon >= the target "
                                 f"{target_epsilon:g} for this data set; raise the target or "
                                 "train on other data")
    lo, hi = 0.0, 10.0
    while _quiet_epsilon(prior + [(hi, sample_rate, steps)], delta, accountant) > target_epsilon:
        lo, hi = hi, 2 * hi
        if hi > 1e4:
            raise ConfigError(f"epsilon: target {target_epsilon:g} is unreachable with these "
                              "settings; raise it or take fewer steps")
    while True:
        mid = (lo + hi) / 2
        eps = _quiet_epsilon(prior + [(mid, sample_rate, steps)], delta, accountant)
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
        return _quiet_epsilon(prior + [(sigma, sample_rate, k)], delta,
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


def _fingerprint(tensors) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(np.ascontiguousarray(t.cpu().numpy()).tobytes())
    return h.hexdigest()[:16]


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


# ---------------------------------------------------------------------- checkpoints
def _save_checkpoint(directory: Path, module, optimizer, state: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    save_weights(module, directory / "model.safetensors")
    tmp = directory / "optimizer.pt.part"
    torch.save(optimizer.state_dict(), tmp)
    os.replace(tmp, directory / "optimizer.pt")
    tmp = directory / (STATE_FILE + ".part")
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, directory / STATE_FILE)


def _load_state(directory: Path) -> dict:
    path = directory / STATE_FILE
    if not path.is_file():
        raise ConfigError(f"resume: no checkpoint in {str(directory)!r} ({STATE_FILE} missing); "
                          "train without resume=True first")
    return json.loads(path.read_text())


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
def train_private(adapter: TorchAdapter, X, y, *, target_epsilon: float,
                  delta: float | None = None, epochs: int = 5, batch_size: int = 256,
                  max_grad_norm: float = 1.0, lr: float = 1e-3, accountant: str = "prv",
                  noise_multiplier: float | None = None, clipping: str = "auto",
                  max_physical_batch_size: int | None = None, secure_mode: bool = False,
                  checkpoint_dir: str | os.PathLike | None = None, resume: bool = False,
                  max_steps: int | None = None, sanity_check: bool = True,
                  groups: dict | None = None, balance=None, balance_power: float = 1.0,
                  seed: int = 0, progress: bool = True) -> tuple[TorchAdapter, PrivacyRecord]:
    """Train the adapter's module with DP-SGD (Adam update) within a privacy budget.

    The noise multiplier is calibrated so that this run, composed with what the ledger already
    holds for the same training data, spends at most ``target_epsilon`` at ``delta``. Given an
    explicit ``noise_multiplier`` instead, training stops with :class:`PrivacyBudgetError` before
    the step that would exceed the target, keeping the last good model (saved to
    ``checkpoint_dir`` when given).

    Parameters
    ----------
    adapter : TorchAdapter
        Holds the module to train (in place).
    X, y
        Training inputs (raw, as the adapter takes them) and labels.
    target_epsilon : float
    delta : float, optional
        Default: the largest power of ten below ``1 / len(y)``.
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

    Notes
    -----
    Inside a ``torch.distributed`` process group (e.g. under ``torchrun``), every process draws
    the same Poisson batch and trains on its share; clipped gradient sums are all-reduced and
    the same noise is added everywhere, so the result and the epsilon equal a single-process
    run's. Only rank 0 writes checkpoints and the ledger.
    checkpoint_dir : path, optional
        Where checkpoints and the ledger (``ledger.jsonl``) live; saved after every epoch.
    resume : bool
        Continue the run checkpointed in ``checkpoint_dir``.
    max_steps : int, optional
        Stop this call after that many logical steps (checkpointed; resume later).
    sanity_check : bool
        After the first step, check that every trainable weight moved and per-sample
        gradients have the right shape; raise :class:`DPSanityError` otherwise.
    groups : dict, optional
        Feature name -> one group label per training example (e.g. the sensitive features):
        the record then gives the fraction of clipped gradients per group. This statistic
        describes the private training data; it belongs in an audit, not in a release.
    balance : array-like, optional
        One group label per training example: sample small groups more often (see
        :func:`balanced_sample_rates`), a mitigation for DP's larger accuracy cost on small
        groups. The accountant charges every example the highest rate, so for the same epsilon
        balancing needs more noise. Group sizes are treated as public, like ``len(y)``.
    balance_power : float
        Strength of the balancing in [0, 1].
    seed : int
    progress : bool

    Returns
    -------
    (adapter, PrivacyRecord)
    """
    check_privacy_params(target_epsilon, delta, accountant)
    if clipping not in CLIPPING:
        raise ConfigError(f"clipping: unknown method {clipping!r}; use one of {list(CLIPPING)}")
    n = len(y)
    if n == 0:
        raise ConfigError("data: no training examples; pass a non-empty training set")
    if resume and checkpoint_dir is None:
        raise ConfigError("resume: needs checkpoint_dir= pointing at the interrupted run")
    delta = default_delta(n) if delta is None else float(delta)
    if accountant == "gdp":
        warnings.warn("accountant='gdp' is an asymptotic approximation and can under-state "
                      "epsilon; prefer 'prv' or 'rdp'", stacklevel=2)
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    ledger = PrivacyLedger(ckpt)
    dataset = make_dataset(adapter, X, y)
    fingerprint = _fingerprint(dataset.tensors)
    group_codes = {}
    for name, labels in (groups or {}).items():
        labels = np.asarray(labels).astype(str)
        if len(labels) != n:
            raise ConfigError(f"groups: {name!r} has {len(labels)} labels for {n} training "
                              "examples; pass one per example")
        uniques, codes = np.unique(labels, return_inverse=True)
        group_codes[name] = (uniques, torch.as_tensor(codes),
                             torch.zeros(len(uniques)), torch.zeros(len(uniques)))
    steps_per_epoch = math.ceil(n / min(batch_size, n))
    rates, rate_by_group = np.full(n, 1.0 / steps_per_epoch), {}
    if balance is not None:
        if len(balance) != n:
            raise ConfigError(f"balance: {len(balance)} labels for {n} training examples; "
                              "pass one per example")
        rates, rate_by_group = balanced_sample_rates(balance, n / steps_per_epoch,
                                                     balance_power)
    q = float(rates.max())  # what the accountant charges every example
    expected_batch = float(rates.sum())
    rates = torch.as_tensor(rates, dtype=torch.float32)
    total = epochs * steps_per_epoch
    module = adapter.module
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)

    if resume:
        state = _load_state(ckpt)
        if state["dataset"] != fingerprint:
            raise ConfigError("resume: the checkpoint was trained on other data; pass the same "
                              "X and y, or start a new run")
        load_weights(module, ckpt / "model.safetensors")
        optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=True))
        run_id, segment = state["run_id"], state["segment"] + 1
        sigma, done, total = state["noise_multiplier"], state["steps"], state["total_steps"]
        losses, fractions = state["loss"], state["clipped_fraction"]
        seconds = state["seconds"]
    else:
        run_id, segment, done, losses, fractions, seconds = uuid.uuid4().hex[:12], 0, 0, [], [], 0.0
        sigma = noise_multiplier if noise_multiplier is not None else calibrate_noise(
            ledger.history(fingerprint), q, total, target_epsilon, delta, accountant)
    # Everything else spent on this data; this run's own steps so far are counted as `done`.
    prior = ledger.history(fingerprint, exclude_run=run_id)
    budget = allowed_steps(prior, sigma, q, total, target_epsilon, delta, accountant) - done

    use_bk = clipping == "bookkeeping" or (clipping == "auto" and supports(module)
                                           and not secure_mode)
    rank, world = _distributed()
    if world > 1 and not use_bk:
        raise ConfigError("clipping: multi-process training needs book-keeping clipping "
                          "(Linear, Embedding and LayerNorm trainable layers, no secure_mode)")
    device = adapter.device
    if use_bk:
        stepper = _BookKeepingStepper(module, optimizer, sigma, max_grad_norm, expected_batch,
                                      torch.Generator(), distributed=world > 1)
    else:
        gen = None if secure_mode else torch.Generator(device=device)
        stepper = _OpacusStepper(module, optimizer, sigma, max_grad_norm, expected_batch, gen,
                                 secure_mode)
    chunk = max_physical_batch_size or n
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
                else contextlib.nullcontext())
    stop_at = total if max_steps is None else min(total, done + max_steps)
    clipped = counted = 0
    epoch_loss, epoch_seen = 0.0, 0
    snapshot = [p.detach().clone() for p in params] if sanity_check and done == 0 else None

    def checkpoint() -> None:
        if rank != 0:
            return
        ledger.record(run_id=run_id, segment=segment, dataset=fingerprint, noise_multiplier=sigma,
                      sample_rate=q, steps=done - start_done, delta=delta, accountant=accountant)
        if ckpt is not None:
            _save_checkpoint(ckpt, module, optimizer, {
                "run_id": run_id, "segment": segment, "dataset": fingerprint,
                "noise_multiplier": sigma, "sample_rate": q, "steps": done,
                "total_steps": total, "delta": delta, "accountant": accountant,
                "target_epsilon": target_epsilon, "loss": losses,
                "clipped_fraction": fractions, "seconds": seconds + time.perf_counter() - t0})

    start_done = done
    t0 = time.perf_counter()
    module.train()
    bar = tqdm(total=total, initial=done, desc=f"train (DP, epsilon={target_epsilon:g})",
               disable=not progress, leave=False, unit="step", mininterval=1.0)
    with warnings.catch_warnings():
        # Full backward hooks on a first layer whose input needs no gradient warn; it is harmless.
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        try:
            while done < stop_at:
                if done - start_done >= budget:
                    checkpoint()
                    spent = _quiet_epsilon(prior + [(sigma, q, done)], delta, accountant)
                    raise PrivacyBudgetError(
                        f"epsilon: the next step would spend more than the target "
                        f"{target_epsilon:g} (spent {spent:.3f} after {done} steps); stopped with "
                        f"the last good model{f' saved in {ckpt}' if ckpt else ''}; raise the "
                        "target or the noise")
                # Poisson sampling, reproducible per step so a resumed run draws the same batches.
                g = torch.Generator().manual_seed(seed * 1_000_003 + done)
                idx = torch.nonzero(torch.rand(n, generator=g) < rates).flatten()
                idx = idx[idx % world == rank]  # this process's share of the global batch
                for start in range(0, len(idx), chunk):
                    part = idx[start:start + chunk]
                    *inputs, target = (t[part].to(device) for t in dataset.tensors)
                    with autocast:
                        logits = adapter.forward(stepper.module, *inputs)
                    loss = loss_fn(adapter, logits, target)
                    norms = stepper.backward(loss, len(part))
                    over = (norms > max_grad_norm).float().cpu()
                    for _, codes, hits, seen in group_codes.values():
                        hits.index_add_(0, codes[part], over)
                        seen.index_add_(0, codes[part], torch.ones_like(over))
                    clipped += int(over.sum())
                    counted += len(part)
                    epoch_loss += loss.item() * len(part)
                    epoch_seen += len(part)
                stepper.step(noise_seed=seed * 7919 + done + 1)  # per step, for exact resumes
                done += 1
                bar.update()
                if snapshot is not None:
                    _sanity_check(module, params, snapshot, stepper)
                    snapshot = None
                if done % steps_per_epoch == 0 or done == stop_at:
                    if world > 1:
                        clipped, counted, epoch_loss, epoch_seen = _sum_over_processes(
                            clipped, counted, epoch_loss, epoch_seen)
                    losses.append(epoch_loss / max(epoch_seen, 1))
                    fractions.append(round(clipped / max(counted, 1), 6))
                    clipped = counted = 0
                    epoch_loss, epoch_seen = 0.0, 0
                    checkpoint()
        finally:
            bar.close()
            stepper.close()
            module.eval()
    seconds += time.perf_counter() - t0
    by_group = {}
    for name, (uniques, _, hits, seen) in group_codes.items():
        if world > 1:
            torch.distributed.all_reduce(hits)
            torch.distributed.all_reduce(seen)
        by_group[name] = {str(u): round(float(h / s_), 6) for u, h, s_ in zip(uniques, hits, seen)
                          if s_ > 0}
    run_history = [(sigma, q, done)]
    record = PrivacyRecord(
        epsilon=_quiet_epsilon(prior + run_history, delta, accountant),
        run_epsilon=_quiet_epsilon(run_history, delta, accountant), delta=delta,
        target_epsilon=target_epsilon, accountant=accountant, noise_multiplier=float(sigma),
        sample_rate=q, steps=done, epochs=epochs, max_grad_norm=max_grad_norm, n_train=n,
        batch_size=batch_size, lr=lr, clipping=stepper.name, secure_mode=secure_mode,
        seconds=seconds, loss=losses, clipped_fraction=fractions,
        clipped_fraction_by_group=by_group, sample_rate_by_group=rate_by_group,
        balance_power=balance_power if balance is not None else None, dataset=fingerprint,
        run_id=run_id, completed=done >= total,
        checkpoint_dir=str(ckpt) if ckpt is not None else None)
    return adapter, record


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
