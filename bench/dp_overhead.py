"""Time per step and peak memory of DP training paths, side by side in one process.

For an MLP and the transformer sentiment model (all-MiniLM-L6-v2), at two batch sizes (and, for
the transformer, two sequence lengths), measures one optimizer step of:

- ``non-private``: forward, backward, Adam step;
- ``opacus-hooks``: Opacus per-sample gradients (GradSampleModule + DPOptimizer);
- ``opacus-ghost``: Opacus ghost clipping (``grad_sample_mode="ghost"``, two backward passes);
- ``trustml``: trustml's default path, book-keeping clipping (one backward pass).

Prints ratios to the non-private step and writes JSON. Peak memory is the CUDA allocator's peak
on a GPU; on a CPU it is the peak resident-set growth during the steps (sampled every 2 ms after
returning freed memory to the OS), an approximation.

Usage::

    python bench/dp_overhead.py --out bench/results/dp_overhead-cpu.json
    python bench/dp_overhead.py --quick          # smaller, for a smoke run
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import gc
import json
import platform
import threading
import time
import warnings
from pathlib import Path

import torch
from opacus import GradSampleModule, PrivacyEngine
from opacus.optimizers import DPOptimizer
from torch.utils.data import DataLoader, TensorDataset

from trustml.models import MLPClassifier, default_device, set_trainable, transformer_sentiment
from trustml.privacy._bookkeeping import BookKeepingClipper

warnings.filterwarnings("ignore")
SIGMA, CLIP = 1.0, 1.0


def _libc_trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


class PeakMemory:
    """Peak memory growth (bytes) during the block: CUDA allocator or sampled RSS."""

    def __init__(self, device):
        self.device = device

    def __enter__(self):
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            _libc_trim()
            self.base = self.peak = _rss()
            self.running = True
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, _rss())
            time.sleep(0.002)

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.bytes = torch.cuda.max_memory_allocated() - self.base
        else:
            self.running = False
            self.thread.join()
            self.bytes = max(self.peak, _rss()) - self.base


# ---------------------------------------------------------------------- one step per path
def make_steppers(model, forward, batch, device):
    """name -> (module, step function) for each path, each on its own copy of ``model``."""
    x, y = batch
    loss_of = torch.nn.functional.cross_entropy

    def plain():
        m = copy.deepcopy(model).to(device)
        opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=1e-4)

        def step():
            loss_of(forward(m, x), y).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        return step

    def hooks():
        m = GradSampleModule(copy.deepcopy(model).to(device))
        opt = DPOptimizer(torch.optim.Adam([p for p in m.parameters() if p.requires_grad],
                                           lr=1e-4),
                          noise_multiplier=SIGMA, max_grad_norm=CLIP, expected_batch_size=len(y))

        def step():
            loss_of(forward(m, x), y).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        return step

    def ghost():
        m = copy.deepcopy(model).to(device)
        opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=1e-4)
        loader = DataLoader(TensorDataset(torch.zeros(len(y), 1)), batch_size=len(y))
        gm, gopt, crit, _ = PrivacyEngine().make_private(
            module=m, optimizer=opt, data_loader=loader, noise_multiplier=SIGMA,
            max_grad_norm=CLIP, criterion=torch.nn.CrossEntropyLoss(),
            grad_sample_mode="ghost", poisson_sampling=False)

        def step():
            crit(forward(gm, x), y).backward()
            gopt.step()
            gopt.zero_grad(set_to_none=True)
        return step

    def bookkeeping():
        m = copy.deepcopy(model).to(device)
        params = [p for p in m.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=1e-4)
        clipper = BookKeepingClipper(m, CLIP)

        def step():
            loss_of(forward(m, x), y).backward()
            clipper.accumulate(len(y))
            clipper.finish()
            for p in clipper.params:
                p.grad = (p.grad + torch.normal(0.0, SIGMA * CLIP, p.shape, device=p.device)
                          ) / len(y)
            opt.step()
            opt.zero_grad(set_to_none=True)
        return step

    return {"non-private": plain, "opacus-hooks": hooks, "opacus-ghost": ghost,
            "trustml": bookkeeping}


def measure(make_step, device, reps: int) -> dict:
    step = make_step()
    step()  # warm-up: allocator, hooks, lazy init
    if device.type == "cuda":
        torch.cuda.synchronize()
    with PeakMemory(device) as mem:
        start = time.perf_counter()
        done = 0
        while done < reps or time.perf_counter() - start < 1.0:  # fast steps: time >= 1 s
            step()
            done += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = (time.perf_counter() - start) / done
    del step
    return {"seconds_per_step": seconds, "peak_mb": mem.bytes / 2**20}


# ---------------------------------------------------------------------- configurations
def mlp_configs(batch_sizes, device):
    torch.manual_seed(0)
    model = MLPClassifier(100, hidden=(64, 32))
    for b in batch_sizes:
        x, y = torch.randn(b, 100, device=device), torch.randint(0, 2, (b,), device=device)
        yield {"model": "mlp", "batch": b, "seq_len": None}, model, (lambda m, x: m(x)), (x, y)


def transformer_configs(batch_sizes, seq_lens, trainable, device):
    model, _ = transformer_sentiment(trainable="all")
    set_trainable(model, trainable)
    model.train()

    def forward(m, ids):
        b, t = ids.shape
        return m(input_ids=ids, attention_mask=torch.ones_like(ids),
                 token_type_ids=torch.zeros_like(ids),
                 position_ids=torch.arange(t, device=ids.device).expand(b, t).contiguous()
                 ).logits

    for b in batch_sizes:
        for t in seq_lens:
            g = torch.Generator().manual_seed(b * 1000 + t)
            ids = torch.randint(1000, 30000, (b, t), generator=g).to(device)
            y = torch.randint(0, 2, (b,), generator=g).to(device)
            yield ({"model": f"minilm ({trainable} trainable)", "batch": b, "seq_len": t},
                   model, forward, (ids, y))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=None, help="JSON output path")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="small sizes, one rep")
    ap.add_argument("--trainable", default="all", help="transformer layers that train: all, "
                    "head, or a number of top layers")
    args = ap.parse_args()
    device = default_device()
    trainable = int(args.trainable) if args.trainable.isdigit() else args.trainable
    if args.quick:
        configs = list(mlp_configs([64], device)) + list(
            transformer_configs([4], [16], trainable, device))
        reps = 1
    else:
        configs = list(mlp_configs([256, 1024], device)) + list(
            transformer_configs([16, 32], [32, 64], trainable, device))
        reps = args.reps
    rows = []
    for meta, model, forward, batch in configs:
        results = {name: measure(make, device, reps)
                   for name, make in make_steppers(model, forward, batch, device).items()}
        base = results["non-private"]
        for name, r in results.items():
            rows.append({**meta, "path": name, **r,
                         "time_ratio": r["seconds_per_step"] / base["seconds_per_step"],
                         "memory_ratio": (r["peak_mb"] / base["peak_mb"]
                                          if base["peak_mb"] > 0 else None)})
            print(f"{meta['model']:<28} B={meta['batch']:<5} T={str(meta['seq_len']):<5} "
                  f"{name:<13} {r['seconds_per_step'] * 1000:9.1f} ms  "
                  f"x{rows[-1]['time_ratio']:5.2f}"
                  f"   peak {r['peak_mb']:8.1f} MB  "
                  f"x{rows[-1]['memory_ratio'] or float('nan'):5.2f}", flush=True)
    report = {"device": str(device), "torch": torch.__version__,
              "cpu_threads": torch.get_num_threads(), "machine": platform.machine(),
              "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None,
              "reps": reps, "noise_multiplier": SIGMA, "max_grad_norm": CLIP, "rows": rows}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
