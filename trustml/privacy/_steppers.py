"""Clipping steppers: one DP step over physical chunks (clip, sum, noise, update).

Book-keeping clipping (:mod:`._bookkeeping`) when every trainable layer supports it, else
Opacus' per-sample hooks and DPOptimizer; both give the same clipped sum. ``"per_layer"``
clips each trainable parameter tensor to ``C / sqrt(L)`` inside the backward pass
(book-keeping layers only); the total sensitivity, noise and accounting stay those of C.
``"automatic"`` normalises each per-sample gradient to ``C g / (||g|| + gamma)`` (Bu et al.
2023), by book-keeping where it applies, else on Opacus' per-sample gradients. Under
``torch.distributed`` the clipped sums are all-reduced and every process adds the same noise.
"""

from __future__ import annotations

import warnings
from contextvars import ContextVar

import torch
from opacus.grad_sample import GradSampleModule
from opacus.optimizers import DPOptimizer
from opacus.optimizers.optimizer import _check_processed_flag, _mark_as_processed

from trustml.errors import ConfigError, TrustMLError
from trustml.privacy._bookkeeping import BookKeepingClipper, supports

# "auto" picks the fastest way to clip at C; "automatic" is Bu et al.'s normalisation.
CLIPPING = ("auto", "bookkeeping", "per_layer", "opacus", "automatic")
GAMMA = 0.01  # automatic clipping's stability constant (Bu et al. 2023's default)
# The gradient canaries of an audit of this engine (trustml.privacy.audit_training) while one
# runs: added to each step's clipped sum before the noise, and read back after it.
CANARIES: ContextVar = ContextVar("trustml_gradient_canaries", default=None)


class Stepper:
    """One DP step over physical chunks: ``backward(loss, n)`` per chunk, then ``step(seed)``
    (noise and update), or ``release(seed)`` (noise only: the noised, clipped mean gradient
    left in ``p.grad`` for an optimizer the caller steps, as a ``transformers.Trainer`` does)."""

    _shapes_ok = True

    @property
    def shapes_ok(self) -> bool:
        """Whether every chunk since the start gave one per-sample gradient per example."""
        return self._shapes_ok


class BookKeepingStepper(Stepper):
    """Clipped, noised gradient by book-keeping (flat or per layer); one backward per chunk."""

    def __init__(self, module, optimizer, sigma, clip, expected_batch, generator,
                 distributed=False, per_layer=False, gamma=None):
        self.clipper = BookKeepingClipper(module, clip, per_layer=per_layer, gamma=gamma)
        self.name = ("automatic" if gamma is not None else
                     "per_layer" if per_layer else "bookkeeping")
        self.distributed = distributed
        self.optimizer, self.sigma, self.clip = optimizer, sigma, clip
        self.expected_batch, self.generator = expected_batch, generator
        self.module = module

    def backward(self, loss, batch_size):
        loss.backward()
        norms = self.clipper.accumulate(batch_size)
        self._shapes_ok &= norms.shape == (batch_size,)
        return norms

    def release(self, noise_seed: int):
        """Put the noised, clipped mean gradient in ``p.grad``; update nothing."""
        self.clipper.finish()
        if self.distributed:  # sum the clipped gradients of every process's share
            for p in self.clipper.params:
                torch.distributed.all_reduce(p.grad)
        # Every process draws the same noise (same seed), so the models stay identical.
        canaries, params = CANARIES.get(), self.clipper.params
        if canaries is not None:
            canaries.insert(params, [p.grad for p in params])
        self.generator.manual_seed(noise_seed)
        for p in params:
            p.grad = p.grad + torch.normal(0.0, self.sigma * self.clip, size=p.shape,
                                           generator=self.generator).to(p.device)
        if canaries is not None:
            canaries.observe(params, [p.grad for p in params])
        for p in params:
            p.grad = p.grad / self.expected_batch

    def step(self, noise_seed: int):
        self.release(noise_seed)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def close(self):
        self.clipper.remove()


class AutomaticClippingDPOptimizer(DPOptimizer):
    """DPOptimizer whose per-sample factors are ``C / (||g_i|| + gamma)`` (Bu et al. 2023)."""

    def __init__(self, *args, gamma: float = GAMMA, **kwargs):
        super().__init__(*args, **kwargs)
        self.gamma = gamma

    def clip_and_accumulate(self):
        samples = self.grad_samples
        norms = (torch.stack([g.reshape(len(g), -1).norm(2, dim=-1) for g in samples], 1)
                 .norm(2, dim=1) if len(samples[0]) else torch.zeros(0))
        factors = self.max_grad_norm / (norms + self.gamma)
        for p in self.params:
            _check_processed_flag(p.grad_sample)
            g = self._get_flat_grad_sample(p).to(p.dtype)
            summed = torch.einsum("i,i...", factors.to(g.device, p.dtype), g)
            p.summed_grad = summed if p.summed_grad is None else p.summed_grad + summed
            _mark_as_processed(p.grad_sample)


class OpacusStepper(Stepper):
    """Opacus' per-sample gradient hooks and DPOptimizer (the fallback for other layers)."""

    def __init__(self, module, optimizer, sigma, clip, expected_batch, generator, secure_mode,
                 gamma=None):
        self.name = "opacus" if gamma is None else "automatic"
        optimizer_class, extra = ((DPOptimizer, {}) if gamma is None
                                  else (AutomaticClippingDPOptimizer, {"gamma": gamma}))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Ss]ecure RNG.*")
            self.gsm = GradSampleModule(module)
            self.optimizer = optimizer_class(optimizer, noise_multiplier=sigma,
                                             max_grad_norm=clip,
                                             expected_batch_size=expected_batch,
                                             generator=generator, secure_mode=secure_mode,
                                             **extra)
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

    def _close_sum(self, noise_seed: int):
        if self.optimizer.generator is not None:
            self.optimizer.generator.manual_seed(noise_seed)
        for p in self.optimizer.params:
            if p.summed_grad is None:  # an empty Poisson batch: noise only
                p.summed_grad = torch.zeros_like(p)
            p.grad_sample = torch.zeros((0, *p.shape), device=p.device, dtype=p.dtype)
        # grad_sample of size 0 adds nothing to the sum; this step clips nothing and adds noise.
        if CANARIES.get() is not None:
            CANARIES.get().insert(self.optimizer.params,
                                 [p.summed_grad for p in self.optimizer.params])

    def _noise(self) -> bool:
        """DPOptimizer's noise and scaling (whether it took them); the noised sums shown to
        running canaries."""
        taken = self.optimizer.pre_step()
        canaries, opt = CANARIES.get(), self.optimizer
        if canaries is not None and taken:
            scale = opt.expected_batch_size * opt.accumulated_iterations
            canaries.observe(opt.params, [p.grad * scale for p in opt.params])
        return taken

    def release(self, noise_seed: int):
        """Put the noised, clipped mean gradient in ``p.grad``; update nothing (the caller's
        optimizer, the one DPOptimizer wraps, steps on it)."""
        self._close_sum(noise_seed)
        self._noise()
        for p in self.optimizer.params:  # keep p.grad; drop the per-sample state
            p.grad_sample, p.summed_grad = None, None

    def step(self, noise_seed: int):
        self._close_sum(noise_seed)
        if self._noise():
            self.optimizer.original_optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def close(self):
        self.gsm._close()


def distributed() -> tuple[int, int]:
    """(rank, world size) of the torch.distributed group, (0, 1) outside one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def sum_over_processes(*values: float) -> list[float]:
    t = torch.tensor(values, dtype=torch.float64)
    torch.distributed.all_reduce(t)
    return t.tolist()


def make_stepper(module, optimizer, *, sigma: float, clip: float, expected_batch: float,
                 clipping: str, secure_mode: bool, device) -> Stepper:
    """The stepper ``clipping`` asks for ("auto" and "automatic": book-keeping where every
    layer allows)."""
    world = distributed()[1]
    if clipping == "per_layer" and (secure_mode or not supports(module)):
        raise ConfigError("clipping: per_layer needs book-keeping (Linear, Embedding and "
                          "LayerNorm trainable layers, no secure_mode)")
    use_bk = clipping in ("bookkeeping", "per_layer") or (
        clipping in ("auto", "automatic") and supports(module) and not secure_mode)
    gamma = GAMMA if clipping == "automatic" else None
    if world > 1 and not use_bk:
        raise ConfigError("clipping: multi-process training needs book-keeping clipping "
                          "(Linear, Embedding and LayerNorm trainable layers, no secure_mode)")
    if use_bk:
        return BookKeepingStepper(module, optimizer, sigma, clip, expected_batch,
                                  torch.Generator(), distributed=world > 1,
                                  per_layer=clipping == "per_layer", gamma=gamma)
    gen = None if secure_mode else torch.Generator(device=device)
    return OpacusStepper(module, optimizer, sigma, clip, expected_batch, gen, secure_mode,
                         gamma=gamma)


class DPSanityError(TrustMLError):
    """DP training is not doing what it should (weights frozen, per-sample grads misshapen)."""


def sanity_check(module, params, before, stepper) -> None:
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
