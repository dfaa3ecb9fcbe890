"""Verdicts a degenerate model cannot earn: a constant predictor, a model that ignores its
inputs, and a working model judged side by side on the same data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression

import trustml
from trustml.data import AuditData
from trustml.metrics import versus_trivial

# every check whose findings say something only about a working model
MODEL_DEPENDENT = ["fairness", "robustness", "cross_validation", "explainability", "calibration",
                   "mitigation"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 1200
    x = rng.normal(size=(n, 3))
    group = rng.choice(["a", "b"], n)
    y = (1.5 * x[:, 0] + x[:, 1] + 0.8 * (group == "a") + rng.normal(0, 0.7, n) > 0.9)
    frame = pd.DataFrame(x, columns=["x0", "x1", "x2"]).assign(group=group, label=y.astype(int))
    return AuditData.from_frame(frame, label="label", sensitive="group", seed=0)


def test_versus_trivial_matches_a_hand_count_and_scikit_learn():
    from sklearn.metrics import balanced_accuracy_score
    y_train = np.array([1, 1, 1, 0])  # trivial answer: 1
    y_test = np.array([1, 0, 1, 0, 1, 1])
    pred = np.array([1, 0, 1, 1, 1, 1])  # right 5 of 6; trivial right 4 of 6
    out = versus_trivial(y_test, pred, y_train, regression=False, n_boot=500)
    assert out["trivial"] == 1 and out["model_score"] == pytest.approx(5 / 6)
    assert out["trivial_score"] == pytest.approx(4 / 6)
    assert out["model_balanced"] == pytest.approx((1 + 1 / 2) / 2)  # recalls: 1 and 1/2
    assert out["model_balanced"] == pytest.approx(balanced_accuracy_score(y_test, pred))
    assert out["trivial_balanced"] == 0.5 and out["gain"] == pytest.approx(0.25)
    low, high = out["gain_ci"]
    assert low <= 0.25 <= high
    const = versus_trivial(y_test, np.ones(6, int), y_train, regression=False)
    assert const["gain_ci"] == [0.0, 0.0] and not const["working"]
    reg = versus_trivial(np.array([1.0, 2, 3]), np.array([1.0, 2, 3]), np.array([0.0, 4]),
                         regression=True)
    assert reg["trivial"] == 2.0 and reg["trivial_score"] == pytest.approx(2 / 3)
    assert reg["model_score"] == 0 and reg["gain"] == pytest.approx(2 / 3)


def test_a_constant_predictor_earns_no_pass_and_the_verdict_names_it(data):
    x, y, _ = data.take("train")
    constant = DummyClassifier(strategy="most_frequent").fit(x, y)
    result = trustml.audit(constant, data, checks=["performance", *MODEL_DEPENDENT],
                           n_boot=20, progress=False)
    perf = result.finding("performance.metrics")
    assert perf.status == "fail" and not perf.metrics["working"]
    for f in result.findings:
        if f.id != "performance.metrics":
            assert f.status != "pass", f.id
    judged = [f for f in result.findings if f.status == "not_meaningful"]
    assert {f.challenge for f in judged} >= {"fairness", "robustness"}
    assert all(f.summary.startswith("Not meaningful: the model is no better than always "
                                    "answering") and f.regulations == [] for f in judged)
    assert result.overall["status"] == "fail"
    assert result.statement.startswith("Not a working model: the model is no better than "
                                       "always answering '0' (balanced accuracy 0.500")
    html = result.to_html()
    assert html.index("Not a working model") < html.index('<div class="cards">')  # first
    assert "EU AI Act Art. 10" not in {c for f in judged for c in f.regulations}


def test_a_model_that_ignores_its_inputs_is_not_a_working_model(data):
    x, y, _ = data.take("train")
    shuffled = LogisticRegression().fit(x, np.random.default_rng(1).permutation(y))
    result = trustml.audit(shuffled, data, checks=["performance", "fairness"], n_boot=20,
                           progress=False)
    assert result.finding("performance.metrics").status == "fail"
    assert all(f.status != "pass" for f in result.findings)


def test_a_working_model_is_judged_as_usual(data):
    x, y, _ = data.take("train")
    model = LogisticRegression().fit(x, y)
    result = trustml.audit(model, data, checks=["performance", "fairness", "robustness"],
                           n_boot=20, progress=False)
    perf = result.finding("performance.metrics")
    assert perf.status == "pass" and perf.metrics["gain_over_trivial_ci"][0] > 0
    assert not any(f.status == "not_meaningful" for f in result.findings)
    assert not result.statement.startswith("Not a working model")


def test_a_regression_model_is_judged_against_the_mean(data):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 2))
    reg = AuditData.from_arrays(x, 2 * x[:, 0] + rng.normal(0, 0.3, 600), task="regression")
    xt, yt, _ = reg.take("train")
    works = trustml.audit(LinearRegression().fit(xt, yt), reg, checks=["performance"],
                          progress=False).finding("performance.metrics")
    mean = trustml.audit(DummyRegressor().fit(xt, yt), reg, checks=["performance", "robustness"],
                         progress=False)
    assert works.status == "pass" and mean.finding("performance.metrics").status == "fail"
    assert mean.finding("robustness.perturbations").status == "not_meaningful"


def test_the_cost_of_dp_has_a_paired_interval_and_fails_when_privacy_breaks_the_model(data):
    x, y, _ = data.take("train")
    baseline = LogisticRegression().fit(x, y)
    constant = DummyClassifier(strategy="most_frequent").fit(x, y)
    found = trustml.audit(constant, data, baseline=baseline, checks=["performance"],
                          progress=False).finding("performance.private_vs_baseline")
    xt, yt, _ = data.take("test")
    lost = (baseline.predict(xt) == yt).mean() - (constant.predict(xt) == yt).mean()
    assert found.metrics["accuracy_drop"] == pytest.approx(lost)
    low, high = found.metrics["accuracy_drop_ci"]
    assert low <= lost <= high and found.status == "fail"
    assert found.thresholds == {"max_accuracy_drop": 0.05, "max_accuracy_drop_fail": 0.10}
