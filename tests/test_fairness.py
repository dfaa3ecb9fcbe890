import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score

import trustml
from trustml.data import AuditData
from trustml.fairness import group_metrics, paired_accuracy_change


@pytest.fixture
def outcomes():
    rng = np.random.default_rng(1)
    n = 500
    g = pd.Series(rng.choice(["a", "b", "c"], n, p=[0.6, 0.35, 0.05]), name="group")
    y = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < 0.8, y, 1 - y)
    pred[(g == "b").to_numpy() & (rng.random(n) < 0.3)] = 1
    return y, pred, g


def _frame(y, pred, g, **kwargs):
    return MetricFrame(metrics={"accuracy": accuracy_score, "selection_rate": selection_rate,
                                "true_positive_rate": true_positive_rate,
                                "false_positive_rate": false_positive_rate},
                       y_true=y, y_pred=pred, sensitive_features=g, **kwargs)


def test_group_metrics_match_fairlearn(outcomes):
    y, pred, g = outcomes
    out = group_metrics(y, pred, g, min_group_size=30, n_boot=50, seed=3)
    mf = _frame(y, pred, g)
    for row in out["by_group"]:
        for metric in mf.by_group.columns:
            assert row[metric] == pytest.approx(mf.by_group.loc[row["group"], metric])
        assert row["count"] == int((g == row["group"]).sum())
    # comparisons leave out the small group 'c' and equal Fairlearn on the judged rows
    keep = (g != "c").to_numpy()
    judged = _frame(y[keep], pred[keep], g[keep].reset_index(drop=True))
    for metric in judged.by_group.columns:
        assert out["difference"][metric] == pytest.approx(judged.difference()[metric])
        assert out["ratio"][metric] == pytest.approx(judged.ratio()[metric])
        assert out["overall"][metric] == pytest.approx(mf.overall[metric])
    assert out["demographic_parity_difference"] == pytest.approx(
        demographic_parity_difference(y[keep], pred[keep], sensitive_features=g[keep]))
    assert out["equalized_odds_difference"] == pytest.approx(
        equalized_odds_difference(y[keep], pred[keep], sensitive_features=g[keep]))


def _same(a, b):
    return (a is None and np.isnan(b)) or a == pytest.approx(b, abs=1e-12, rel=0)


@pytest.mark.parametrize("with_scores", [False, True])
def test_bootstrap_intervals_are_fairlearns(outcomes, with_scores):
    y, pred, g = outcomes
    y, pred = y.copy(), pred.copy()
    y[(g == "c").to_numpy()] = 0  # a group without positives: its TPR is 0, its AUC undefined
    score = np.round(np.random.default_rng(5).random(len(y)) * 0.5 + 0.5 * pred, 2)  # ties
    from trustml.fairness import BINARY_METRICS
    from trustml.fairness._group_metrics import _auc
    metrics, params = dict(BINARY_METRICS), None
    if with_scores:
        metrics["roc_auc"], params = _auc, {"roc_auc": {"score": score}}
    out = group_metrics(y, pred, g, y_score=score if with_scores else None, min_group_size=1,
                        n_boot=40, seed=7)
    mf = MetricFrame(metrics=metrics, y_true=y, y_pred=pred, sensitive_features=g,
                     sample_params=params, n_boot=40, ci_quantiles=[0.025, 0.975],
                     random_state=7)
    for row in out["by_group"]:
        for m in metrics:
            assert _same(row[m], mf.by_group.loc[row["group"], m])
            for i in (0, 1):
                assert _same(row[f"{m}_ci"][i], mf.by_group_ci[i].loc[row["group"], m]), m
        assert row["accuracy_ci"][0] <= row["accuracy"] <= row["accuracy_ci"][1]
    for m in metrics:
        for i in (0, 1):
            assert _same(out["difference_ci"][m][i], mf.difference_ci()[i][m]), m
            assert _same(out["ratio_ci"][m][i], mf.ratio_ci()[i][m]), m


def test_regression_intervals_are_fairlearns():
    from trustml.fairness import regression_group_metrics
    from trustml.fairness._group_metrics import REGRESSION_METRICS
    rng = np.random.default_rng(2)
    g = pd.Series(rng.choice(["a", "b", "c"], 300, p=[0.5, 0.4, 0.1]), name="g")
    y = rng.normal(size=300)
    pred = y + rng.normal(size=300) * np.where(g == "b", 2.0, 1.0)
    out = regression_group_metrics(y, pred, g, min_group_size=1, n_boot=30, seed=4)
    mf = MetricFrame(metrics=REGRESSION_METRICS, y_true=y, y_pred=pred, sensitive_features=g,
                     n_boot=30, ci_quantiles=[0.025, 0.975], random_state=4)
    for row in out["by_group"]:
        for m in REGRESSION_METRICS:
            for i in (0, 1):
                assert _same(row[f"{m}_ci"][i], mf.by_group_ci[i].loc[row["group"], m]), m
    for m in REGRESSION_METRICS:
        for i in (0, 1):
            assert _same(out["difference_ci"][m][i], mf.difference_ci()[i][m]), m


def test_intersections_and_four_fifths():
    y = np.array([1, 0] * 40)
    sex = np.array(["f", "m"] * 20 + ["m", "f"] * 20)
    age = np.array(["young"] * 40 + ["old"] * 40)
    pred = np.where((sex == "f") & (age == "old"), 0, 1)
    out = group_metrics(y, pred, pd.DataFrame({"sex": sex, "age": age}), min_group_size=5,
                        n_boot=0)
    assert out["feature"] == "sex x age"
    rates = {r["group"]: r["selection_rate"] for r in out["by_group"]}
    assert rates == {"f & old": 0.0, "f & young": 1.0, "m & old": 1.0, "m & young": 1.0}
    assert out["demographic_parity_ratio"] == 0.0 and out["four_fifths"] is False


def test_paired_accuracy_change_by_hand():
    y = np.array([1, 1, 0, 0, 1, 1])
    dp = np.array([1, 0, 0, 1, 1, 1])
    base = np.array([1, 1, 0, 0, 0, 1])
    g = pd.Series(["a", "a", "a", "a", "b", "b"], name="g")
    change = {c["group"]: c for c in paired_accuracy_change(y, dp, base, g, n_boot=100)}
    assert change["a"]["change"] == pytest.approx(0.5 - 1.0)
    assert change["b"]["change"] == pytest.approx(1.0 - 0.5)
    low, high = change["a"]["change_ci"]
    assert low <= -0.5 <= high


def test_hand_computed_selection_rates():
    y = np.array([1, 0, 1, 0, 1, 0])
    pred = np.array([1, 1, 1, 0, 0, 0])
    g = pd.Series(["m", "m", "m", "f", "f", "f"], name="sex")
    out = group_metrics(y, pred, g, min_group_size=1, n_boot=0)
    rates = {r["group"]: r["selection_rate"] for r in out["by_group"]}
    assert rates == {"f": 0.0, "m": 1.0}
    assert out["demographic_parity_difference"] == 1.0


def test_small_groups_are_flagged(outcomes):
    y, pred, g = outcomes
    out = group_metrics(y, pred, g, min_group_size=30, n_boot=0)
    assert out["small_groups"] == ["c"]
    assert [r["judged"] for r in out["by_group"]] == [True, True, False]


def test_audit_warns_on_a_small_group_instead_of_crashing():
    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame({"x": rng.normal(size=n),
                       "g": np.where(np.arange(n) < 12, "tiny", "big")})
    df["y"] = (df.x + rng.normal(scale=0.5, size=n) > 0).astype(int)
    data = AuditData.from_frame(df, label="y", sensitive="g")
    x, y, _ = data.take("train")
    model = LogisticRegression().fit(x, y)
    result = trustml.audit(model, data, checks=["fairness"], progress=False)
    finding = result.finding("fairness.group_metrics.g")
    assert finding.status in ("warn", "fail")
    assert finding.metrics["small_groups"] == ["tiny"]
    assert "too few to judge" in finding.summary


def test_regression_group_errors_by_hand_and_against_fairlearn():
    from sklearn.metrics import mean_absolute_error
    from trustml.fairness import regression_group_metrics
    g = pd.Series(["a"] * 40 + ["b"] * 40 + ["c"] * 5, name="g")
    y = np.zeros(85)
    pred = np.r_[np.full(40, 1.0), np.full(20, 3.0), np.full(20, -1.0), np.full(5, 9.0)]
    out = regression_group_metrics(y, pred, g, min_group_size=30, n_boot=30, seed=0)
    rows = {r["group"]: r for r in out["by_group"]}
    assert rows["a"]["mean_absolute_error"] == pytest.approx(1.0)
    assert rows["b"]["mean_absolute_error"] == pytest.approx(2.0)
    assert rows["b"]["root_mean_squared_error"] == pytest.approx(np.sqrt(5.0))
    assert rows["b"]["mean_error"] == pytest.approx(1.0)  # over-estimated on average
    assert out["small_groups"] == ["c"] and not rows["c"]["judged"]
    assert out["error_ratio"] == pytest.approx(2.0)  # 'c' (error 9) is too small to count
    mf = MetricFrame(metrics=mean_absolute_error, y_true=y[:80], y_pred=pred[:80],
                     sensitive_features=g[:80], n_boot=30, ci_quantiles=[0.025, 0.975],
                     random_state=0)
    assert out["difference"]["mean_absolute_error"] == pytest.approx(mf.difference())
    low, high = out["error_ratio_ci"]
    assert low <= out["error_ratio"] <= high


def test_audit_of_a_regression_model_reports_errors_by_group():
    from sklearn.linear_model import LinearRegression
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame({"x": rng.normal(size=n), "group": rng.choice(["u", "v"], n)})
    # 'v' rows are noisier, so any fitted model errs about three times as much on them
    noise = np.where(frame["group"] == "v", 3.0, 1.0) * rng.normal(size=n)
    frame["y"] = 2 * frame["x"] + noise
    data = AuditData.from_frame(frame, label="y", sensitive=["group"], task="regression")
    x, y, _ = data.take("train")
    result = trustml.audit(trustml.models.wrap(LinearRegression().fit(x, y)), data,
                           checks=["fairness"], n_boot=20, progress=False)
    finding = result.finding("fairness.group_metrics.group")
    assert finding.status == "fail"
    assert finding.metrics["error_ratio"] > 2.0
