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
from trustml.fairness import group_metrics


@pytest.fixture
def outcomes():
    rng = np.random.default_rng(1)
    n = 500
    g = pd.Series(rng.choice(["a", "b", "c"], n, p=[0.6, 0.35, 0.05]), name="group")
    y = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < 0.8, y, 1 - y)
    pred[(g == "b").to_numpy() & (rng.random(n) < 0.3)] = 1
    return y, pred, g


def test_group_metrics_match_fairlearn(outcomes):
    y, pred, g = outcomes
    out = group_metrics(y, pred, g, min_group_size=30)
    mf = MetricFrame(metrics={"accuracy": accuracy_score, "selection_rate": selection_rate,
                              "true_positive_rate": true_positive_rate,
                              "false_positive_rate": false_positive_rate},
                     y_true=y, y_pred=pred, sensitive_features=g)
    for row in out["by_group"]:
        for metric in mf.by_group.columns:
            assert row[metric] == pytest.approx(mf.by_group.loc[row["group"], metric])
        assert row["count"] == int((g == row["group"]).sum())
    for metric in mf.by_group.columns:
        assert out["difference"][metric] == pytest.approx(mf.difference()[metric])
        assert out["ratio"][metric] == pytest.approx(mf.ratio()[metric])
        assert out["overall"][metric] == pytest.approx(mf.overall[metric])
    assert out["demographic_parity_difference"] == pytest.approx(
        demographic_parity_difference(y, pred, sensitive_features=g))
    assert out["equalized_odds_difference"] == pytest.approx(
        equalized_odds_difference(y, pred, sensitive_features=g))


def test_hand_computed_selection_rates():
    y = np.array([1, 0, 1, 0, 1, 0])
    pred = np.array([1, 1, 1, 0, 0, 0])
    g = pd.Series(["m", "m", "m", "f", "f", "f"], name="sex")
    out = group_metrics(y, pred, g, min_group_size=1)
    rates = {r["group"]: r["selection_rate"] for r in out["by_group"]}
    assert rates == {"f": 0.0, "m": 1.0}
    assert out["demographic_parity_difference"] == 1.0


def test_small_groups_are_flagged(outcomes):
    y, pred, g = outcomes
    assert group_metrics(y, pred, g, min_group_size=30)["small_groups"] == ["c"]


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
