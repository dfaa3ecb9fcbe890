"""Compute cost: training time and throughput, inference throughput, and the hardware used."""

from __future__ import annotations

import time

import numpy as np

from trustml.checks._registry import AuditContext, register
from trustml.checks._words import say
from trustml.data import select_rows
from trustml.models import cold_features
from trustml.provenance import hardware
from trustml.report._finding import Finding, Table

REGS = ["EU AI Act Art. 11", "NIST AI RMF MEASURE 2.12"]


TIMED_RUNS = 3  # after one warm-up call (first-call costs: allocation, lazy init, caches)
TIMED_ROWS = 256  # test rows per timed call: one batch of the torch adapters


def _inference_rate(ctx: AuditContext, adapter, x) -> float:
    """Rows answered per second on the first :data:`TIMED_ROWS` of ``x``: the median of
    :data:`TIMED_RUNS` timed calls after a warm-up, each computing any cached features (a
    frozen encoder's) afresh, as for a new input."""
    x = select_rows(x, np.arange(min(TIMED_ROWS, len(x))))
    times = []
    with cold_features():
        ctx.outputs(adapter, x)
        for _ in range(TIMED_RUNS):
            start = time.perf_counter()
            ctx.outputs(adapter, x)
            times.append(time.perf_counter() - start)
    seconds = float(np.median(times))
    return len(x) / seconds if seconds > 0 else float("inf")


@register("compute", "compute", clauses=REGS)
def compute(ctx: AuditContext) -> list[Finding]:
    x, _, _ = ctx.data.take("test")
    rows, metrics = [], {}
    for which, adapter in ctx.models.items():
        record = ctx.training.get(which) or {}
        seconds, examples = record.get("seconds"), record.get("examples")
        epochs = record.get("epochs") or 1
        train_rate = (examples * epochs / seconds) if seconds and examples else None
        infer_rate = _inference_rate(ctx, adapter, x)
        device = getattr(adapter, "device", "cpu")
        rows.append([which, str(device), seconds, train_rate, infer_rate])
        metrics |= {f"{which}_training_seconds": seconds,
                    f"{which}_training_examples_per_second": train_rate,
                    f"{which}_inference_rows_per_second": infer_rate}
    machine, fid = hardware(), "compute.cost"
    trained = [r for r in rows if r[2]]
    gpu = "no_gpu" if machine["gpu"] == "none" else "gpu"
    summary = say(fid, "summary", cores=machine["cpu_cores"], gpu=say(fid, gpu, gpu=machine["gpu"]),
                  rate=rows[0][4], unit="texts" if ctx.data.kind == "text" else "rows")
    if trained:
        times = ", ".join(f"{r[2]:.1f} s ({r[0]})" for r in trained)
        summary += say(fid, "trained", times=times)
    if rows[0][2] and len(rows) > 1 and rows[1][2]:
        metrics["training_time_ratio"] = rows[0][2] / rows[1][2]
        summary += say(fid, "ratio", ratio=metrics["training_time_ratio"])
    if not trained:
        summary += say(fid, "untrained")
    return [Finding(
        fid, "compute", "info", say(fid, "title"), summary, metrics=metrics,
        tables=[Table(say(fid, "table", runs=TIMED_RUNS, rows=TIMED_ROWS),
                      ["model", "device", "training seconds", "training examples / s",
                       "inference rows / s"],
                      [[r[0], r[1], *(None if v is None else round(v, 2) for v in r[2:])]
                       for r in rows]),
                Table(say(fid, "hardware"), ["property", "value"],
                      [[k, v] for k, v in machine.items()])],
        regulations=REGS)]
