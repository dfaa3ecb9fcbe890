"""Time per step and peak memory of DP training paths, side by side in one process.

For an MLP and the transformer sentiment model (all-MiniLM-L6-v2), at two batch sizes (and, for
the transformer, two sequence lengths), measures one optimizer step of:

- ``non-private``: forward, backward, Adam step (plain PyTorch);
- ``opacus-hooks``: Opacus per-sample gradients (GradSampleModule + DPOptimizer);
- ``opacus-ghost``: Opacus ghost clipping (``grad_sample_mode="ghost"``, two backward passes);
- ``trustml-flat``: trustml's default path, flat book-keeping clipping (one backward pass);
- ``trustml-per-layer``: book-keeping with per-layer clipping (``clipping="per_layer"``);
- ``noise-draw``: only the Gaussian noise every DP path draws (one value per trainable weight),
  the part of a DP step's cost that no clipping method changes.

Time: the paths take turns, one block of steps each per round (in reverse order every other
round); a path's time ratio is the median over rounds of its time over the non-private time of
the same round, so load from other processes that drifts between rounds cancels. Memory, per path, over one step after warm-up, above what the model and optimizer
already hold:

- ``alloc``: the peak of torch's own allocations (the CUDA allocator's peak on a GPU; on a CPU
  the running sum of the allocation events torch's profiler records), exact and free of
  allocator caching;
- ``rss`` (CPU only): the peak resident-set growth, sampled every 2 ms after returning freed
  memory to the OS; what the process costs the machine, but it also counts glibc's caching.

``--chunks K`` makes one step a logical batch of K physical batches (gradients accumulated,
one optimizer step, one noise draw), as DP training runs with the recipes' large expected
batches; the Opacus paths (measured per physical batch in the default run) are left out of
that mode.

``--bert-base`` adds BERT-base (110M parameters, random weights from ``BertConfig()``, built
offline) at batch 32, sequence 128: for a GPU.

Usage::

    python bench/dp_overhead.py --out bench/results/dp_overhead-cpu.json
    python bench/dp_overhead.py --quick          # smaller, for a smoke run
    python bench/dp_overhead.py --chunks 8 --out bench/results/dp_overhead-cpu-logical.json
    python bench/dp_overhead.py --device cuda --bert-base --out $OUT/dp_overhead-gpu.json
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import gc
import json
import os
import platform
import statistics
import threading
import time
import warnings
from pathlib import Path

import torch
from opacus import GradSampleModule, PrivacyEngine
from opacus.optimizers import DPOptimizer
from torch.profiler import ProfilerActivity, profile, record_function
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


class PeakRSS:
    """Peak resident-set growth (bytes) during the block, sampled every 2 ms."""

    def __enter__(self):
        gc.collect()
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
        self.running = False
        self.thread.join()
        self.bytes = max(self.peak, _rss()) - self.base


def peak_alloc(step, device) -> int:
    """Peak bytes torch allocates during one ``step()`` above what was allocated before."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()  # profiled too, so that frees of its blocks in the measured step are seen
        with record_function("measured step"):
            step()
    events = list(prof.profiler.kineto_results.events())
    start = next(e.start_ns() for e in events if e.name() == "measured step")
    memory = sorted((e for e in events if e.name() == "[memory]"), key=lambda e: e.start_ns())
    first = sum(e.start_ns() < start for e in memory)
    base = now = peak = sum(e.nbytes() for e in memory[:first])  # allocations +, frees -
    for e in memory[first:]:
        now += e.nbytes()
        peak = max(peak, now)
    return peak - base


# ---------------------------------------------------------------------- one step per path
def make_steppers(model, forward, batch, device, chunks: int = 1):
    """name -> function building a step function, each on its own copy of ``model``; a step
    is ``chunks`` physical batches and one optimizer step."""
    x, y = batch
    logical = len(y) * chunks
    loss_of = torch.nn.functional.cross_entropy

    def plain():
        m = copy.deepcopy(model).to(device)
        opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=1e-4)

        def step():
            for _ in range(chunks):
                loss_of(forward(m, x), y).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        return step

    def hooks():
        m = GradSampleModule(copy.deepcopy(model).to(device))
        opt = DPOptimizer(torch.optim.Adam([p for p in m.parameters() if p.requires_grad],
                                           lr=1e-4),
                          noise_multiplier=SIGMA, max_grad_norm=CLIP, expected_batch_size=logical)

        def step():
            for _ in range(chunks):
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

    def bookkeeping(per_layer):
        def build():
            m = copy.deepcopy(model).to(device)
            params = [p for p in m.parameters() if p.requires_grad]
            opt = torch.optim.Adam(params, lr=1e-4)
            clipper = BookKeepingClipper(m, CLIP, per_layer=per_layer)

            def step():
                for _ in range(chunks):
                    loss_of(forward(m, x), y).backward()
                    clipper.accumulate(len(y))
                clipper.finish()
                for p in clipper.params:
                    p.grad = (p.grad + torch.normal(0.0, SIGMA * CLIP, p.shape, device=p.device)
                              ) / logical
                opt.step()
                opt.zero_grad(set_to_none=True)
            return step
        return build

    def noise():
        params = [p for p in model.parameters() if p.requires_grad]

        def step():
            for p in params:
                torch.normal(0.0, SIGMA * CLIP, p.shape, device=device)
        return step

    paths = {"non-private": plain, "opacus-hooks": hooks, "opacus-ghost": ghost,
             "trustml-flat": bookkeeping(False), "trustml-per-layer": bookkeeping(True),
             "noise-draw": noise}
    if chunks > 1:  # their cost per physical batch is in the default run's rows
        del paths["opacus-ghost"], paths["opacus-hooks"]
    return paths


def _timed(step, device, n: int) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(n):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / n


def measure(builders: dict, device, rounds: int) -> dict:
    """Memory of each path alone, then time with the paths taking turns."""
    steps, out = {}, {}
    for name, build in builders.items():
        step = build()
        first = _timed(step, device, 1)  # warm-up: allocator, hooks, lazy init
        # fast steps run in blocks of at least 0.2 s, so a round is not all timer noise
        inner = max(1, min(200, int(0.2 / max(_timed(step, device, 1), 1e-6))))
        out[name] = {"alloc_mb": peak_alloc(step, device) / 2**20, "inner": inner,
                     "first_step_s": first, "times": []}
        if device.type != "cuda":
            with PeakRSS() as rss:
                step()
            out[name]["rss_mb"] = rss.bytes / 2**20
        steps[name] = step
    order = list(steps)
    for _ in range(rounds):
        for name in order:
            out[name]["times"].append(_timed(steps[name], device, out[name]["inner"]))
        order.reverse()  # no path always runs first or last in a round
    for r in out.values():
        r["seconds_per_step"] = statistics.median(r["times"])
        # each round's time over the non-private time of the same round: load that drifts
        # between rounds cancels
        r["time_ratio"] = statistics.median(
            t / base for t, base in zip(r["times"], out["non-private"]["times"]))
    return out


# ---------------------------------------------------------------------- configurations
def _bert_forward(m, ids):
    b, t = ids.shape
    return m(input_ids=ids, attention_mask=torch.ones_like(ids),
             token_type_ids=torch.zeros_like(ids),
             position_ids=torch.arange(t, device=ids.device).expand(b, t).contiguous()).logits


def _token_batches(name, model, sizes, device):
    for b, t in sizes:
        g = torch.Generator().manual_seed(b * 1000 + t)
        ids = torch.randint(1000, 30000, (b, t), generator=g).to(device)
        y = torch.randint(0, 2, (b,), generator=g).to(device)
        yield {"model": name, "batch": b, "seq_len": t}, model, _bert_forward, (ids, y)


def mlp_configs(batch_sizes, device):
    torch.manual_seed(0)
    model = MLPClassifier(100, hidden=(64, 32))
    for b in batch_sizes:
        x, y = torch.randn(b, 100, device=device), torch.randint(0, 2, (b,), device=device)
        yield {"model": "mlp", "batch": b, "seq_len": None}, model, (lambda m, x: m(x)), (x, y)


def transformer_configs(sizes, trainable, device):
    model, _ = transformer_sentiment(trainable="all")
    set_trainable(model, trainable)
    model.train()
    yield from _token_batches(f"minilm ({trainable} trainable)", model, sizes, device)


def bert_base_configs(sizes, device):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(num_labels=2))  # random, 110M parameters
    model.train()
    yield from _token_batches("bert-base (random, all trainable)", model, sizes, device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=None, help="JSON output path")
    ap.add_argument("--rounds", type=int, default=7, help="timing rounds (paths take turns)")
    ap.add_argument("--quick", action="store_true", help="small sizes, two rounds")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    ap.add_argument("--bert-base", action="store_true", help="add BERT-base, batch 32 x 128")
    ap.add_argument("--chunks", type=int, default=1, help="physical batches per logical "
                    "step (one optimizer step and one noise draw)")
    ap.add_argument("--trainable", default="all", help="transformer layers that train: all, "
                    "head, or a number of top layers")
    args = ap.parse_args()
    device = torch.device(args.device) if args.device else default_device()
    trainable = int(args.trainable) if args.trainable.isdigit() else args.trainable
    if args.quick:
        configs = [*mlp_configs([64], device), *transformer_configs([(4, 16)], trainable, device)]
        bert_sizes, rounds = [(2, 16)], 2
    else:
        configs = [*mlp_configs([256, 1024], device),
                   *transformer_configs([(16, 32), (16, 64), (32, 32), (32, 64)], trainable,
                                        device)]
        bert_sizes, rounds = [(32, 128)], args.rounds
    if args.bert_base:
        configs += list(bert_base_configs(bert_sizes, device))
    rows, load_before = [], os.getloadavg()
    for meta, model, forward, batch in configs:
        results = measure(make_steppers(model, forward, batch, device, args.chunks), device,
                          rounds)
        base = results["non-private"]
        for name, r in results.items():
            row = {**meta, "chunks": args.chunks, "path": name, **r, "alloc_ratio": r["alloc_mb"] / base["alloc_mb"]}
            if "rss_mb" in r:
                row["rss_ratio"] = r["rss_mb"] / base["rss_mb"] if base["rss_mb"] > 0 else None
            rows.append(row)
            print(f"{meta['model']:<34} B={meta['batch']:<5} T={str(meta['seq_len']):<5} "
                  f"{name:<18} {r['seconds_per_step'] * 1000:9.1f} ms x{row['time_ratio']:5.2f}"
                  f"  alloc {r['alloc_mb']:8.1f} MB x{row['alloc_ratio']:5.2f}"
                  + (f"  rss {r['rss_mb']:8.1f} MB x{row['rss_ratio'] or float('nan'):5.2f}"
                     if "rss_mb" in r else ""), flush=True)
    report = {"device": str(device), "torch": torch.__version__,
              "cpu_threads": torch.get_num_threads(), "machine": platform.machine(),
              "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None,
              "load_average_1_5_15min": {"before": load_before, "after": os.getloadavg()},
              "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "rounds": rounds, "noise_multiplier": SIGMA, "max_grad_norm": CLIP, "rows": rows}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
