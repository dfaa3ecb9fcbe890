"""Audit cost against rows: a default tabular audit at 10,000, 100,000 and 1,000,000 rows.

The data is UCI Adult (the package's copy, or ``$TRUSTML_DATA``), its 45,222 complete rows
resampled with replacement to ``n`` rows, each numeric column jittered a little (age and
education-num by up to 1, hours-per-week by up to 2, capital gain and loss by up to 1% of the
value, fnlwgt by up to 5%) so that resampled rows are not exact copies. ``sex`` and ``race``
are sensitive features (not model inputs), as in :func:`trustml.data.load_adult`.

The model is what a user of scikit-learn would audit first: a pipeline of one-hot encoding
(categorical columns) and standardisation (numeric ones) before a ``LogisticRegression``,
fitted on the training split (75%). The audit is ``trustml.audit(model, data)`` with every
default: all registered checks, ``privacy_depth="standard"`` (the confidence attack and offline
LiRA with 4 reference models retrained by cloning the pipeline), 5-fold cross-validation
(scikit-learn models refit cheaply), ``n_boot=100``, ``explain_rows=100``.

Each size runs in its own process (``--child``), so its peak resident memory is its own. The
seconds per check are the audit's own (``provenance["seconds"]``); the table prints them with
the microseconds per row, and the ratio of time per row between consecutive sizes (1.0:
linear; below 1: sublinear, the checks that sample a stated number of rows).

Usage::

    OMP_WAIT_POLICY=PASSIVE python bench/audit_scale.py --out bench/results/audit_scale-cpu.json
    python bench/audit_scale.py --sizes 10000 --out /tmp/quick.json      # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

JITTER = {"age": ("abs", 1), "education-num": ("abs", 1), "hours-per-week": ("abs", 2),
          "capital-gain": ("rel", 0.01), "capital-loss": ("rel", 0.01), "fnlwgt": ("rel", 0.05)}


def adult_resampled(n: int, seed: int = 0):
    """UCI Adult's complete rows resampled to ``n`` rows with a little jitter, as AuditData."""
    from trustml.data import AuditData
    from trustml.data._loaders import _ADULT_COLUMNS, _adult_file

    parts = [pd.read_csv(_adult_file(name, None, False), header=None, names=_ADULT_COLUMNS,
                         skiprows=skip, sep=r",\s*", engine="python", na_values="?")
             for name, skip in (("adult/adult.data", 0), ("adult/adult.test", 1))]
    frame = pd.concat(parts, ignore_index=True).dropna()
    frame["income"] = frame["income"].str.rstrip(".")
    rng = np.random.default_rng(seed)
    frame = frame.iloc[rng.integers(0, len(frame), n)].reset_index(drop=True)
    for col, (how, size) in JITTER.items():
        v = frame[col].to_numpy(dtype=float)
        if how == "abs":
            v = v + rng.integers(-size, size + 1, n)
        else:
            v = v * (1 + rng.uniform(-size, size, n))
        frame[col] = np.clip(np.round(v), 0 if col != "age" else 17, None).astype(int)
    sensitive = ["sex", "race"]
    features = [c for c in _ADULT_COLUMNS if c not in ("fnlwgt", "income", *sensitive)]
    return AuditData.from_frame(frame, label="income", sensitive=sensitive, features=features,
                                positive_label=">50K", seed=seed, name=f"UCI Adult x{n:,}")


def pipeline(x: pd.DataFrame):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    cats = [c for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])]
    nums = [c for c in x.columns if c not in cats]
    return make_pipeline(make_column_transformer((OneHotEncoder(handle_unknown="ignore"), cats),
                                                 (StandardScaler(), nums)),
                         LogisticRegression(max_iter=1000))


def child(n: int, seed: int, checks: list[str] | None, depth: str) -> dict:
    """One size, in this process: build, fit, audit; seconds per check and peak memory."""
    import trustml

    start = time.perf_counter()
    data = adult_resampled(n, seed)
    x, y, _ = data.take("train")
    t_data = time.perf_counter() - start
    start = time.perf_counter()
    model = pipeline(x).fit(x, y)
    t_fit = time.perf_counter() - start
    start = time.perf_counter()
    result = trustml.audit(model, data, checks=checks, privacy_depth=depth, seed=seed,
                           progress=False)
    t_audit = time.perf_counter() - start
    sampled = {}
    for f in result.findings:  # what each sampled step says it used (the finding's own words)
        inner = [v.get("sampled") for v in f.metrics.values() if isinstance(v, dict)]
        s = f.metrics.get("sampled") or next((v for v in inner if v), None)
        if s:
            sampled[f.id] = s
    return {"rows": n, "train_rows": len(data.train_idx), "test_rows": len(data.test_idx),
            "data_s": t_data, "fit_s": t_fit, "audit_s": t_audit,
            "seconds": result.provenance["seconds"],
            "outside_checks_s": t_audit - sum(result.provenance["seconds"].values()),
            "statuses": {f.id: f.status for f in result.findings},
            "sampled": sampled,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--depth", default="standard")
    ap.add_argument("--checks", nargs="*", default=None)
    ap.add_argument("--out", type=Path, default=Path("bench/results/audit_scale-cpu.json"))
    ap.add_argument("--docs", type=Path, help="write the table between the audit_scale "
                    "markers of this Markdown file")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.seed, args.checks, args.depth)))
        return
    runs = []
    for n in args.sizes:
        cmd = [sys.executable, __file__, "--child", str(n), "--seed", str(args.seed),
               "--depth", args.depth] + (["--checks", *args.checks] if args.checks else [])
        load = os.getloadavg()
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        run = json.loads(out.strip().splitlines()[-1]) | {"load_before": load}
        runs.append(run)
        print(f"{n:>9,} rows: data {run['data_s']:.1f} s, fit {run['fit_s']:.1f} s, audit "
              f"{run['audit_s']:.1f} s, peak RSS {run['peak_rss_mib']:.0f} MiB", flush=True)
    names = list(runs[0]["seconds"])
    print(f"\n{'check':<22}" + "".join(f"{r['rows']:>12,}" for r in runs)
          + "".join(f"{'ratio':>9}" for _ in runs[1:]) + "   (seconds; ratio of time per row)")
    table = []
    for name in names + ["checks total", "audit() call"]:
        secs = [sum(r["seconds"].values()) if name == "checks total" else
                r["audit_s"] if name == "audit() call" else r["seconds"][name] for r in runs]
        ratios = [(b / m) / max(a / n, 1e-12) for (a, n), (b, m) in
                  zip(zip(secs, [r["rows"] for r in runs]),
                      zip(secs[1:], [r["rows"] for r in runs[1:]]))]
        table.append({"check": name, "seconds": secs, "per_row_ratio": ratios})
        print(f"{name:<22}" + "".join(f"{s:>12.2f}" for s in secs)
              + "".join(f"{q:>9.2f}" for q in ratios))
    result = {"machine": platform.machine(), "cpu_count": os.cpu_count(),
              "load_average_after": os.getloadavg(), "python": platform.python_version(),
              "model": "OneHotEncoder + StandardScaler + LogisticRegression(max_iter=1000)",
              "audit": {"privacy_depth": args.depth, "checks": args.checks or "all",
                        "seed": args.seed},
              "data": "UCI Adult resampled with replacement, jittered (bench/audit_scale.py)",
              "runs": runs, "table": table}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    if args.docs:
        _write_docs(args.docs, result, " ".join(sys.argv[1:]))


BEGIN, END = "<!-- audit_scale:begin -->", "<!-- audit_scale:end -->"


def _write_docs(path: Path, result: dict, argv: str) -> None:
    """The figures as a Markdown table, between the markers in ``path``."""
    runs = result["runs"]
    head = ("| check | " + " | ".join(f"{r['rows']:,} rows (s)" for r in runs) + " | "
            + " | ".join(f"per row, {a['rows']:,} -> {b['rows']:,}"
                         for a, b in zip(runs, runs[1:])) + " |")
    lines = [head, "|---" * (2 * len(runs)) + "|"]
    for row in result["table"]:
        lines.append(f"| {row['check']} | " + " | ".join(f"{s:.1f}" for s in row["seconds"])
                     + " | " + " | ".join(f"{q:.2f}" for q in row["per_row_ratio"]) + " |")
    extra = [
        "| peak resident memory (MiB) | " + " | ".join(f"{r['peak_rss_mib']:.0f}" for r in runs)
        + " |" + " |" * (len(runs) - 1),
        "| data built + model fitted (s) | " + " | ".join(
            f"{r['data_s']:.1f} + {r['fit_s']:.1f}" for r in runs) + " |" + " |" * (len(runs) - 1),
        "| load average before | " + " | ".join(f"{r['load_before'][0]:.2f}" for r in runs)
        + " |" + " |" * (len(runs) - 1)]
    block = "\n".join([BEGIN, "", f"`python bench/audit_scale.py {argv}` on {result['cpu_count']} "
                       f"CPU cores ({result['machine']}, Python {result['python']}); "
                       "bench/results/audit_scale-cpu.json holds every figure.", "",
                       *lines, *extra, "", END])
    text = path.read_text()
    start, stop = text.index(BEGIN), text.index(END) + len(END)
    path.write_text(text[:start] + block + text[stop:])


if __name__ == "__main__":
    main()
