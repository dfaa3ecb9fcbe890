"""Book-keeping per-sample clipping (Bu, Wang, Zha, Karypis, ICML 2023), flat or per layer.

One backward pass gives, for every layer, its input activations ``x`` (forward hooks) and
output gradients ``g`` (tensor hooks on the layer outputs); autograd computes no weight
gradients at all. As soon as a layer's output gradient arrives, its hook takes each sample's
squared gradient norm for that layer, without materialising per-sample gradients where that is
cheaper (the "ghost norm"), so the norm's temporaries live one layer at a time. The sum of
clipped per-sample gradients is then one contraction per layer, ``sum_i c_i g_i^T x_i``: the
cost of an ordinary weight gradient.

- Flat clipping (the default) bounds each sample's gradient over all trainable parameters by
  C. Its factors ``c_i`` need every layer's norm, so each layer keeps ``x`` and ``g`` until the
  backward pass ends; :meth:`BookKeepingClipper.accumulate` then forms the clipped sums layer
  by layer, freeing each layer's tensors once its sum is added.
- Per-layer clipping (``per_layer=True``; McMahan et al. 2018, He et al. 2022) bounds each
  trainable parameter tensor's per-sample gradient by ``C_l = C / sqrt(L)`` (L tensors), so
  ``sum_l C_l^2 = C^2`` and the total per-sample sensitivity is still C. Each layer's clipped
  sum is formed inside its backward hook and nothing is kept: memory and time close to a
  non-private step, with the same noise and accounting as flat clipping.
- Automatic clipping (``gamma=``; Bu, Wang, Zha, Karypis, NeurIPS 2023) normalises every
  per-sample gradient instead of clipping it: ``C g_i / (||g_i|| + gamma)``, whose norm stays
  below C whatever ``||g_i||`` is, so the sensitivity, noise and accounting are those of C,
  and C only scales the update (an Adam step does not see it): no clipping norm to tune.

Opacus' per-sample path gives the same result (flat: ``DPOptimizer``; per layer:
``DPPerLayerOptimizer`` with the same bounds; tested with noise 0).

Supported trainable layers: ``nn.Linear`` (also when called several times per forward, as in
Opacus' ``DPLSTM``), ``nn.Embedding`` and ``nn.LayerNorm``. :func:`supports` says whether a
model has only those; others fall back to Opacus' hooks.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from trustml.errors import ConfigError

SUPPORTED = (nn.Linear, nn.Embedding, nn.LayerNorm)


def _trainable_modules(module: nn.Module):
    """Modules with trainable parameters of their own (aliases of a child's, as in
    ``DPLSTM``, belong to the child)."""
    for m in module.modules():
        in_children = {id(p) for c in m.children() for p in c.parameters()}
        own = [p for p in m.parameters(recurse=False)
               if p.requires_grad and id(p) not in in_children]
        if own:
            yield m, own


def supports(module: nn.Module) -> bool:
    """Whether every module with trainable parameters is one book-keeping handles."""
    return all(isinstance(m, SUPPORTED) for m, _ in _trainable_modules(module))


def _as_3d(t: torch.Tensor) -> torch.Tensor:
    """(B, d) -> (B, 1, d); (B, *, d) -> (B, T, d); in float32 (autocast may give bf16)."""
    t = t.float()
    return t.unsqueeze(1) if t.dim() == 2 else t.reshape(t.shape[0], -1, t.shape[-1])


def _joined(ts: list) -> torch.Tensor:
    """The calls' tensors as one (B, T, d) tensor; copied only for a layer called twice."""
    return _as_3d(ts[0]) if len(ts) == 1 else torch.cat([_as_3d(t) for t in ts], 1)


def _layer_terms(m: nn.Module, xs: list, gs: list, trains: set):
    """Per-sample squared gradient norms of a layer's trainable parameters, and the function
    that sums their per-sample gradients weighted by per-sample factors.

    Parameters
    ----------
    m : nn.Module
        A supported layer.
    xs, gs : list of torch.Tensor
        Its input and output gradient per forward call (gradients of the summed loss, unscaled).
    trains : set of int
        ``id`` of the trainable parameters.

    Returns
    -------
    sq : dict
        Parameter -> (B,) squared norms of its per-sample gradients.
    weighted : callable
        ``weighted(c)``, ``c`` a dict parameter -> (B,) factors, gives parameter ->
        ``sum_i c_i G_i``; it holds the layer's tensors until it is dropped.
    """
    w, b = m.weight, getattr(m, "bias", None)
    w_on = w is not None and id(w) in trains
    b_on = b is not None and id(b) in trains
    g = _joined(gs)
    if isinstance(m, nn.Embedding):
        return _embedding_terms(w, xs, g)
    if isinstance(m, nn.LayerNorm):
        xhat = nn.functional.layer_norm(_joined(xs), m.normalized_shape, eps=m.eps)
        per = {}
        if w_on:
            per[w] = (g * xhat).sum(1)                                          # (B, d)
        if b_on:
            per[b] = g.sum(1)
        return ({p: v.pow(2).sum(1) for p, v in per.items()},
                lambda c: {p: c[p] @ v for p, v in per.items()})
    return _linear_terms(w if w_on else None, b if b_on else None,
                         _joined(xs) if w_on else None, g)


def _embedding_terms(w, xs: list, g: torch.Tensor):
    """:func:`_layer_terms` of an ``nn.Embedding`` (ids ``xs``, output gradients ``g``)."""
    # ids of shape (1, T) (a position-id buffer broadcast over the batch) serve every sample
    ids = torch.cat([x.reshape(x.shape[0], -1).expand(g.shape[0], -1) for x in xs], 1)
    same = (ids.unsqueeze(2) == ids.unsqueeze(1)).to(g.dtype)                   # (B, T, T)
    sq = {w: ((g @ g.transpose(1, 2)) * same).sum((1, 2))}

    def weighted(c):
        out = torch.zeros_like(w)
        out.index_add_(0, ids.reshape(-1), (g * c[w][:, None, None]).reshape(-1, g.shape[2]))
        return {w: out}
    return sq, weighted


def _linear_terms(w, b, x: torch.Tensor | None, g: torch.Tensor):
    """:func:`_layer_terms` of an ``nn.Linear``: ``x`` (B, T, d), ``g`` (B, T, p); ``w`` and
    ``b`` are None where they do not train."""
    sq, bias_per = {}, g.sum(1) if b is not None else None
    d, p_out = g.shape[2] if x is None else x.shape[2], g.shape[2]
    if w is not None:
        t = x.shape[1]
        if t * (d + p_out) < d * p_out:  # ghost norm is cheaper than instantiating
            sq[w] = ((x @ x.transpose(1, 2)) * (g @ g.transpose(1, 2))).sum((1, 2))
        else:
            sq[w] = torch.bmm(g.transpose(1, 2), x).pow(2).sum((1, 2))
    else:
        g = None
    if b is not None:
        sq[b] = bias_per.pow(2).sum(1)

    def weighted(c):
        out = {}
        if w is not None:  # scale the smaller of x and g by the factors (one temporary copy)
            cw = c[w][:, None, None]
            gs_, xs_ = (g, x * cw) if d <= p_out else (g * cw, x)
            out[w] = gs_.reshape(-1, p_out).t() @ xs_.reshape(-1, d)
        if b is not None:
            out[b] = c[b] @ bias_per
        return out
    return sq, weighted


class BookKeepingClipper:
    """Hooks on a module that turn one backward pass into clipped per-sample gradient sums.

    Usage per physical batch: forward, ``loss.backward()``, then :meth:`accumulate` with the
    batch size; after the logical batch, :meth:`finish` puts the sum of clipped per-sample
    gradients in ``p.grad``.

    Parameters
    ----------
    module : nn.Module
    max_grad_norm : float
        Bound C on each sample's gradient norm over all trainable parameters.
    per_layer : bool
        Clip each trainable parameter tensor's per-sample gradient to ``C / sqrt(L)`` (L
        tensors) inside the backward pass instead of the whole gradient to C.
    loss_reduction : {"mean", "sum"}
        How the loss combines the samples of a physical batch.
    gamma : float, optional
        Automatic clipping: scale every per-sample gradient by ``C / (norm + gamma)`` instead
        of ``min(1, C / norm)`` (flat only).

    Attributes
    ----------
    params : list of nn.Parameter
        The trainable parameters, in module order.
    bounds : list of float
        Each parameter's clipping bound (all C for flat clipping).
    """

    def __init__(self, module: nn.Module, max_grad_norm: float, *, per_layer: bool = False,
                 loss_reduction: str = "mean", gamma: float | None = None):
        if not supports(module):
            bad = sorted({type(m).__name__ for m, _ in _trainable_modules(module)
                          if not isinstance(m, SUPPORTED)})
            raise TypeError(f"book-keeping clipping does not support {bad}")
        if loss_reduction not in ("mean", "sum"):
            raise ValueError(f"loss_reduction: {loss_reduction!r} is not 'mean' or 'sum'")
        if gamma is not None and (per_layer or not gamma > 0):
            raise ValueError(f"gamma: {gamma!r} must be > 0, with flat clipping")
        self.module = module
        self.max_grad_norm = max_grad_norm
        self.per_layer = per_layer
        self.loss_reduction = loss_reduction
        self.gamma = gamma
        self.layers = [m for m, _ in _trainable_modules(module)]
        self.params = [p for _, own in _trainable_modules(module) for p in own]
        share = max_grad_norm / math.sqrt(len(self.params)) if per_layer else max_grad_norm
        self.bounds = [share] * len(self.params)
        self._bound = {id(p): share for p in self.params}
        self._trains = set(self._bound)
        self._acts: dict[nn.Module, list] = {m: [] for m in self.layers}
        self._grads: dict[nn.Module, list] = {m: [] for m in self.layers}
        self._pending: list = []      # flat: (sq, weighted) per layer whose gradients arrived
        self._rows: dict[nn.Module, int] = {}  # per layer: rows of its per-sample gradients
        self._names = {m: name or "(the model)" for name, m in module.named_modules()}
        self._worst = None            # per layer: largest norm / bound per sample, this batch
        self._summed: dict[nn.Parameter, torch.Tensor] = {}
        self._handles = [m.register_forward_hook(self._on_forward) for m in self.layers]
        # Autograd need not compute the plain weight gradients: book-keeping forms the clipped
        # sum itself. Hidden from autograd, the parameters still go to the optimizer.
        for p in self.params:
            p.requires_grad_(False)

    # -------------------------------------------------------------------- hooks
    def _on_forward(self, m, inputs, output):
        if not (torch.is_grad_enabled() and m.training):
            return
        self._acts[m].append(inputs[0].detach())
        if not output.requires_grad:  # nothing below needs a gradient: start the graph here
            output.requires_grad_(True)
        slot = len(self._acts[m]) - 1
        grads = self._grads[m]

        def save_grad(g):
            # Backward visits calls in reverse order; file each under its forward call.
            grads.extend([None] * (slot + 1 - len(grads)))
            grads[slot] = g.detach()
            if len(grads) == len(self._acts[m]) and all(gi is not None for gi in grads):
                self._layer_done(m)
        output.register_hook(save_grad)

    def _layer_done(self, m: nn.Module) -> None:
        """Every call's output gradient of ``m`` is in: take its norms (and, per layer, its
        clipped sums) and release what it no longer needs."""
        with torch.no_grad():
            sq, weighted = _layer_terms(m, self._acts[m], self._grads[m], self._trains)
            self._rows[m] = next(iter(sq.values())).shape[0]
            self._acts[m].clear()
            self._grads[m].clear()
            if not self.per_layer:
                self._pending.append((sq, weighted))
                return
            factors = {}
            for p, s in sq.items():
                scale = s.shape[0] if self.loss_reduction == "mean" else 1.0
                norm, bound = scale * s.sqrt(), self._bound[id(p)]
                ratio = norm / bound
                self._worst = ratio if self._worst is None else torch.maximum(self._worst, ratio)
                factors[p] = scale * (bound / (norm + 1e-6)).clamp(max=1.0)
            self._add(weighted(factors))

    def _add(self, sums: dict) -> None:
        for p, v in sums.items():
            self._summed[p] = self._summed[p] + v if p in self._summed else v

    def remove(self) -> None:
        """Remove the hooks and give the parameters back to autograd."""
        for h in self._handles:
            h.remove()
        self._handles.clear()
        for p in self.params:
            p.requires_grad_(True)

    # -------------------------------------------------------------------- maths
    def accumulate(self, batch_size: int) -> torch.Tensor:
        """Clip this physical batch's per-sample gradients and add them to the running sums.

        Returns
        -------
        torch.Tensor
            (B,) per-sample gradient norms before clipping. Per layer: C times the largest
            ratio of a parameter's per-sample gradient norm to its bound, so that it exceeds
            C exactly when some part of the sample's gradient was clipped.
        """
        left = [type(m).__name__ for m in self.layers if self._acts[m]]
        if left:
            for m in self.layers:
                self._acts[m].clear()
                self._grads[m].clear()
            self._pending.clear()
            raise RuntimeError(f"{left[0]}: forward calls without gradients; run exactly one "
                               "backward per forward")
        self._check_rows(batch_size)
        if self.per_layer:
            worst, self._worst = self._worst, None
            return (self.max_grad_norm * worst).detach()
        scale = float(batch_size) if self.loss_reduction == "mean" else 1.0
        norms = torch.stack([s for sq, _ in self._pending for s in sq.values()]).sum(0).sqrt()
        norms = scale * norms
        factors = scale * self.factors(norms)
        while self._pending:  # each layer's tensors go as soon as its sum is added
            sq, weighted = self._pending.pop()
            self._add(weighted({p: factors for p in sq}))
            del sq, weighted
        return norms.detach()

    def _check_rows(self, batch_size: int) -> None:
        """Refuse a layer whose output was broadcast over the batch: its gradient is already
        summed over the examples, so no per-example gradient (and no clipping) exists."""
        rows, self._rows = self._rows, {}
        wrong = [(m, n) for m, n in rows.items() if n != batch_size]
        if not wrong:
            return
        self._pending.clear()
        self._summed.clear()
        m, n = wrong[0]
        raise ConfigError(
            f"model: layer {self._names[m]!r} ({type(m).__name__}) gives {n} row(s) for a batch "
            f"of {batch_size} (its output is broadcast over the batch), so its per-example "
            "gradients cannot be clipped; call it on one row per example (e.g. pass position "
            "ids of shape (batch, length)) or freeze it (requires_grad=False)")

    def factors(self, norms: torch.Tensor) -> torch.Tensor:
        """Per-sample factors that bound each gradient's norm by C: clipping, or automatic
        clipping's normalisation."""
        if self.gamma is not None:
            return self.max_grad_norm / (norms + self.gamma)
        return (self.max_grad_norm / (norms + 1e-6)).clamp(max=1.0)

    def finish(self) -> None:
        """Move the summed clipped gradients into ``p.grad`` (zeros for an empty batch)."""
        for p in self.params:
            p.grad = self._summed.pop(p, torch.zeros_like(p)).view_as(p)
