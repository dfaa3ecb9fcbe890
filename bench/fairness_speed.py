"""Fairness intervals: trustml's vectorised bootstrap against Fairlearn's MetricFrame, side by side.

On UCI Adult's test split (the package's embedded copy, seed 0 split: 11,306 rows), a logistic
regression's decisions, per sensitive feature (sex, race, sex x race): the same five metrics
and ROC AUC per group, with ``--boot`` bootstrap draws, timed for

- ``fairlearn``: ``MetricFrame(metrics, n_boot=, ci_quantiles=[0.025, 0.975], random_state=)``,
  then its by-group, difference and ratio intervals;
- ``trustml``: :func:`trustml.fairness.group_metrics` (point estimates by ``MetricFrame``,
  intervals over the same draws, vectorised).

Prints the ratio and the largest absolute difference between the two results (point estimates
and intervals; they use the same draws, so it should be ~1e-16), and writes JSON.

Usage::

    python bench/fairness_speed.py --out bench/results/fairness_speed-cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from fairlearn.metrics import MetricFrame
from sklearn.linear_model import LogisticRegression

from trustml.data import TabularEncoder, load_adult
from trustml.fairness import BINARY_METRICS, group_labels, group_metrics
from trustml.fairness._group_metrics import _auc


def _decisions():
    data = load_adult(seed=0)
    x, y, _ = data.take("train")
    x_test, y_test, sensitive = data.take("test")
    enc = TabularEncoder().fit(x)
    model = LogisticRegression(max_iter=2000).fit(enc.transform(x), y)
    score = model.predict_proba(enc.transform(x_test))[:, 1]
    return y_test, (score >= 0.5).astype(int), score, sensitive


def _fairlearn(y, pred, score, groups, n_boot, seed):
    frame = MetricFrame(metrics={**BINARY_METRICS, "roc_auc": _auc}, y_true=y, y_pred=pred,
                        sensitive_features=groups, sample_params={"roc_auc": {"score": score}},
                        n_boot=n_boot, ci_quantiles=[0.025, 0.975], random_state=seed)
    return frame, frame.difference_ci(), frame.ratio_ci()


def _largest_gap(out, frame, diff_ci, ratio_ci) -> float:
    gaps = []
    for row in out["by_group"]:
        for m in frame.by_group.columns:
            pairs = [(row[m], frame.by_group.loc[row["group"], m])]
            pairs += [(row[f"{m}_ci"][i], frame.by_group_ci[i].loc[row["group"], m])
                      for i in (0, 1)]
            gaps += [abs(a - b) for a, b in pairs if a is not None and np.isfinite(b)]
    for m in frame.by_group.columns:
        for i in (0, 1):
            for mine, theirs in ((out["difference_ci"][m][i], diff_ci[i][m]),
                                 (out["ratio_ci"][m][i], ratio_ci[i][m])):
                if mine is not None and np.isfinite(theirs):
                    gaps.append(abs(mine - theirs))
    return max(gaps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boot", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("bench/results/fairness_speed-cpu.json"))
    args = ap.parse_args()
    y, pred, score, sensitive = _decisions()
    rows = []
    for features in (["sex"], ["race"], ["sex", "race"]):
        groups = group_labels(sensitive[features[0]] if len(features) == 1
                              else sensitive[features])
        start = time.perf_counter()
        frame, diff_ci, ratio_ci = _fairlearn(y, pred, score, groups, args.boot, args.seed)
        t_fairlearn = time.perf_counter() - start
        start = time.perf_counter()
        # min_group_size=1: every group judged, so both compute the same comparisons.
        out = group_metrics(y, pred, groups, y_score=score, min_group_size=1, n_boot=args.boot,
                            seed=args.seed)
        t_trustml = time.perf_counter() - start
        row = {"feature": groups.name, "rows": len(y), "groups": len(frame.by_group),
               "n_boot": args.boot, "fairlearn_s": t_fairlearn, "trustml_s": t_trustml,
               "speedup": t_fairlearn / t_trustml,
               "largest_abs_difference": _largest_gap(out, frame, diff_ci, ratio_ci)}
        rows.append(row)
        print(f"{row['feature']:>12}: Fairlearn {t_fairlearn:6.2f} s, trustml {t_trustml:5.2f} s,"
              f" {row['speedup']:5.1f}x faster; largest difference "
              f"{row['largest_abs_difference']:.1e}", flush=True)
    result = {"machine": platform.machine(), "cpu_count": os.cpu_count(),
              "load_average": os.getloadavg(), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
