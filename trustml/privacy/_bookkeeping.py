"""Book-keeping per-sample clipping (Bu, Wang, Zha, Karypis, ICML 2023).

One backward pass gives, for every layer, its input activations ``x`` (forward hooks) and
output gradients ``g`` (tensor hooks on the layer outputs); autograd computes no weight
gradients at all. From them the clipper computes each sample's gradient norm over all layers without
materialising per-sample gradients where that is cheaper (the "ghost norm"), and then the sum of
clipped per-sample gradients as one contraction per layer, ``sum_i c_i g_i^T x_i``: the cost of
an ordinary weight gradient. Opacus' per-sample path gives the same result (tested with noise 0).

Supported trainable layers: ``nn.Linear`` (also when called several times per forward, as in
Opacus' ``DPLSTM``), ``nn.Embedding`` and ``nn.LayerNorm``. :func:`supports` says whether a
model has only those; others fall back to Opacus' hooks.
"""

from __future__ import annotations

import torch
from torch import nn

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


class BookKeepingClipper:
    """Hooks on a module that turn one backward pass into clipped per-sample gradient sums.

    Usage per physical batch: forward, ``loss.backward()``, then :meth:`accumulate` with the
    batch size and the loss reduction; after the logical batch, :meth:`finish` puts the sum of
    clipped per-sample gradients in ``p.grad``.

    Parameters
    ----------
    module : nn.Module
    max_grad_norm : float
        Clipping bound C on each sample's gradient norm, over all trainable parameters.
    """

    def __init__(self, module: nn.Module, max_grad_norm: float):
        if not supports(module):
            bad = sorted({type(m).__name__ for m, _ in _trainable_modules(module)
                          if not isinstance(m, SUPPORTED)})
            raise TypeError(f"book-keeping clipping does not support {bad}")
        self.module = module
        self.max_grad_norm = max_grad_norm
        self.layers = [m for m, _ in _trainable_modules(module)]
        self.params = [p for _, own in _trainable_modules(module) for p in own]
        self._trains = {id(p) for p in self.params}
        self._acts: dict[nn.Module, list] = {m: [] for m in self.layers}
        self._grads: dict[nn.Module, list] = {m: [] for m in self.layers}
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
        output.register_hook(save_grad)

    def remove(self) -> None:
        """Remove the hooks and give the parameters back to autograd."""
        for h in self._handles:
            h.remove()
        self._handles.clear()
        for p in self.params:
            p.requires_grad_(True)

    # -------------------------------------------------------------------- maths
    def _layer_terms(self, m: nn.Module, scale: float):
        """Per-sample squared norm (B,) of this layer's gradient, and a function giving the
        clipped sums for parameters given per-sample factors."""
        xs, gs = self._acts[m], self._grads[m]
        if len(xs) != len(gs) or any(g is None for g in gs):
            raise RuntimeError(f"{type(m).__name__}: {len(xs)} forward calls but {len(gs)} "
                               "gradients; run exactly one backward per forward")
        if isinstance(m, nn.Embedding):
            ids = torch.cat([x.reshape(x.shape[0], -1) for x in xs], 1)        # (B, T)
            g = torch.cat([_as_3d(gi) for gi in gs], 1) * scale                 # (B, T, p)
            same = (ids.unsqueeze(2) == ids.unsqueeze(1)).to(g.dtype)           # (B, T, T)
            sq = torch.einsum("bst,bsp,btp->b", same, g, g)

            def clipped(c):
                out = torch.zeros_like(m.weight)
                out.index_add_(0, ids.reshape(-1), (g * c[:, None, None]).reshape(-1,
                                                                                    g.shape[2]))
                return {m.weight: out}
            return sq, clipped
        if isinstance(m, nn.LayerNorm):
            x = torch.cat([_as_3d(xi) for xi in xs], 1)
            g = torch.cat([_as_3d(gi) for gi in gs], 1) * scale
            xhat = nn.functional.layer_norm(x, m.normalized_shape, eps=m.eps)
            per = {}
            if m.weight is not None and id(m.weight) in self._trains:
                per[m.weight] = (g * xhat).sum(1)                               # (B, d)
            if m.bias is not None and id(m.bias) in self._trains:
                per[m.bias] = g.sum(1)
            sq = sum(v.pow(2).sum(1) for v in per.values())

            def clipped(c):
                return {p: torch.einsum("b,bd->d", c, v) for p, v in per.items()}
            return sq, clipped
        # nn.Linear: x (B, T, d), g (B, T, p)
        x = torch.cat([_as_3d(xi) for xi in xs], 1)
        g = torch.cat([_as_3d(gi) for gi in gs], 1) * scale
        b, t, d = x.shape
        p_out = g.shape[2]
        sq = torch.zeros(b, dtype=g.dtype, device=g.device)
        if id(m.weight) in self._trains:
            if t * t * (d + p_out) < d * p_out * t:  # ghost norm is cheaper than instantiating
                sq = sq + torch.einsum("bst,bst->b", x @ x.transpose(1, 2),
                                       g @ g.transpose(1, 2))
            else:
                sq = sq + torch.einsum("btp,btd->bpd", g, x).pow(2).sum((1, 2))
        bias_grad = g.sum(1) if m.bias is not None and id(m.bias) in self._trains else None
        if bias_grad is not None:
            sq = sq + bias_grad.pow(2).sum(1)

        def clipped(c):
            out = {}
            if id(m.weight) in self._trains:
                out[m.weight] = torch.einsum("btp,btd->pd", g * c[:, None, None], x)
            if bias_grad is not None:
                out[m.bias] = c @ bias_grad
            return out
        return sq, clipped

    def accumulate(self, batch_size: int, loss_reduction: str = "mean") -> torch.Tensor:
        """Clip this physical batch's per-sample gradients and add them to the running sums.

        Returns the per-sample gradient norms (before clipping).
        """
        scale = float(batch_size) if loss_reduction == "mean" else 1.0
        terms = [self._layer_terms(m, scale) for m in self.layers]
        norms = torch.stack([sq for sq, _ in terms]).sum(0).sqrt()
        factors = (self.max_grad_norm / (norms + 1e-6)).clamp(max=1.0)
        for _, clipped in terms:
            for p, v in clipped(factors).items():
                self._summed[p] = self._summed[p] + v if p in self._summed else v
        for m in self.layers:
            self._acts[m].clear()
            self._grads[m].clear()
        return norms.detach()

    def finish(self) -> None:
        """Move the summed clipped gradients into ``p.grad`` (zeros for an empty batch)."""
        for p in self.params:
            p.grad = self._summed.pop(p, torch.zeros_like(p)).view_as(p)
