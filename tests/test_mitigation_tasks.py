"""Mitigation beyond binary models: none of Fairlearn's applies to a multiclass model (checked
against Fairlearn itself), and a regression model is retrained under a bounded group loss,
before and after on the same rows."""

import numpy as np
import pandas as pd
import pytest
from fairlearn.postprocessing import ThresholdOptimizer
from fairlearn.reductions import (
    BoundedGroupLoss,
    DemographicParity,
    EqualizedOdds,
    ErrorRateParity,
    ExponentiatedGradient,
    FalsePositiveRateParity,
    SquareLoss,
    TruePositiveRateParity,
    ZeroOneLoss,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import trustml
from trustml.data import AuditData
from trustml.fairness import MULTICLASS_REFUSALS, bounded_group_loss, error_disparities


def test_fairlearn_refuses_multiclass_labels_as_the_finding_says():
    rng = np.random.default_rng(0)
    x, y, s = rng.normal(size=(120, 2)), rng.integers(0, 3, 120), rng.choice(["a", "b"], 120)
    model = LogisticRegression().fit(x, y)
    with pytest.raises(ValueError, match="not 0 or 1"):
        ThresholdOptimizer(estimator=model, prefit=True, predict_method="predict_proba").fit(
            x, y, sensitive_features=s)
    for moment in (DemographicParity, EqualizedOdds, TruePositiveRateParity,
                   FalsePositiveRateParity, ErrorRateParity):
        with pytest.raises(ValueError, match="not 0 or 1"):
            ExponentiatedGradient(LogisticRegression(), moment()).fit(x, y, sensitive_features=s)
        assert moment.__name__ in MULTICLASS_REFUSALS[1][0]
    # the zero-one loss runs on three classes, but cannot tell class 2 from class 1
    assert ZeroOneLoss().eval(np.array([2]), np.array([1]))[0] == 0
    assert [why for _, why in MULTICLASS_REFUSALS] == ["binary_labels", "binary_labels",
                                                      "clipped"]


def test_a_multiclass_audit_says_why_mitigation_is_not_run():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=300), "g": rng.choice(["a", "b"], 300)})
    frame["y"] = np.digitize(frame["x"], [-0.4, 0.4])
    data = AuditData.from_frame(frame, label="y", sensitive="g", task="multiclass")
    x, y, _ = data.take("train")
    finding = trustml.audit(LogisticRegression().fit(x, y), data, checks=["mitigation"],
                            progress=False).finding("fairness.mitigation")
    assert finding.status == "not_run"
    assert finding.summary.startswith("Not run: none of Fairlearn's mitigations applies to a "
                                      "model with 3 classes: ThresholdOptimizer accepts labels "
                                      "0 and 1 only")
    assert [r["method"] for r in finding.metrics["refusals"]] == [
        m for m, _ in MULTICLASS_REFUSALS]


def _regression(n=500, seed=0):
    """'v' rows follow a steeper slope; the group is not an input, so one line serves them
    worse."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x": rng.normal(size=n), "group": rng.choice(["u", "v"], n,
                                                                        p=[0.7, 0.3])})
    frame["y"] = 2 * frame["x"] + 1.5 * frame["x"] * (frame["group"] == "v") + \
        rng.normal(size=n)
    return AuditData.from_frame(frame, label="y", sensitive="group", task="regression")


def test_bounded_group_loss_equals_fairlearn_called_directly():
    x, y, s = _regression(300).take("train")
    fitted = LinearRegression().fit(x, y)
    ours = bounded_group_loss(fitted, x, y, s["group"], max_iter=20)
    low, high = y.min(), y.max()
    bound = np.mean((y - np.clip(fitted.predict(x), low, high)) ** 2)  # its own, as SquareLoss
    assert ours.constraints.upper_bound == pytest.approx(bound)
    direct = ExponentiatedGradient(LinearRegression(),
                                   BoundedGroupLoss(SquareLoss(low, high), upper_bound=bound),
                                   max_iter=20).fit(x, y, sensitive_features=s["group"].to_numpy())
    assert np.array_equal(ours.predict(x, random_state=0), direct.predict(x, random_state=0))


def test_a_pipeline_is_retrained_through_its_last_step():
    x, y, s = _regression(300).take("train")
    pipeline = make_pipeline(StandardScaler(), Ridge()).fit(x, y)
    mitigator = bounded_group_loss(pipeline, x, y, s["group"], max_iter=10)
    assert mitigator.predict(x, random_state=0).shape == (len(y),)


def test_a_regression_audit_shows_errors_before_and_after_on_the_same_rows():
    data = _regression()
    x, y, _ = data.take("train")
    model = LinearRegression().fit(x, y)
    finding = trustml.audit(model, data, checks=["mitigation"], progress=False).finding(
        "fairness.mitigation")
    assert finding.status == "info"
    [result] = finding.metrics.values()
    assert result["constraint"] == "bounded_group_loss" and result["feature"] == "group"
    xt, yt, st = data.take("test")  # every test group is large enough to judge here
    err = model.predict(xt) - yt
    worst = max(np.mean(err[(st["group"] == g).to_numpy()] ** 2) for g in ("u", "v"))
    assert result["before"]["mean_squared_error"] == pytest.approx(np.mean(err ** 2))
    assert result["before"]["worst_group_mean_squared_error"] == pytest.approx(worst)
    assert result["before"] == error_disparities(yt, model.predict(xt), st["group"])
    assert result["after"]["worst_group_mean_squared_error"] < worst
    assert "worst group's mean squared error" in finding.summary


def test_a_regressor_that_takes_no_weights_is_not_run_with_the_reason():
    data = _regression(200)
    x, y, _ = data.take("train")
    finding = trustml.audit(KNeighborsRegressor().fit(x, y), data, checks=["mitigation"],
                            progress=False).finding("fairness.mitigation")
    assert finding.status == "not_run"
    assert "'KNeighborsRegressor' is not one" in finding.summary
