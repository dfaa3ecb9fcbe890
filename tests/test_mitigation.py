import numpy as np
import pytest
from fairlearn.postprocessing import ThresholdOptimizer
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import trustml
from trustml.data import load_arrests
from trustml.errors import ConfigError
from trustml.fairness import before_after, threshold_optimizer
from trustml.models import wrap


@pytest.fixture(scope="module")
def fitted():
    data = load_arrests()
    x, y, _ = data.take("train")
    model = make_pipeline(make_column_transformer((OneHotEncoder(), ["employed", "citizen"]),
                                                  remainder="passthrough"),
                          LogisticRegression(max_iter=1000)).fit(x, y)
    return data, model


def test_thresholds_equal_fairlearn_called_directly(fitted):
    data, model = fitted
    x, y, s = data.take("train")
    xt, yt, st = data.take("test")
    mine = threshold_optimizer(wrap(model), x, y, s["colour"])
    direct = ThresholdOptimizer(estimator=model, constraints="demographic_parity", prefit=True,
                                predict_method="predict_proba").fit(
        x, y, sensitive_features=s["colour"].to_numpy())
    np.testing.assert_array_equal(
        mine.predict(xt, sensitive_features=st["colour"].to_numpy(), random_state=0),
        direct.predict(xt, sensitive_features=st["colour"].to_numpy(), random_state=0))
    out = before_after(wrap(model), mine, xt, yt, st["colour"])
    assert out["after"]["demographic_parity_difference"] < \
        out["before"]["demographic_parity_difference"]
    with pytest.raises(ConfigError, match="constraint: 'parity'"):
        threshold_optimizer(wrap(model), x, y, s["colour"], constraint="parity")


def test_torch_model_is_mitigated_through_its_adapter():
    from trustml.data import TabularEncoder
    from trustml.models import MLPClassifier, fit
    data = load_arrests()
    x, y, s = data.take("train")
    enc = TabularEncoder().fit(x)
    adapter = wrap(MLPClassifier(enc.n_outputs, hidden=(8,)), encoder=enc)
    fit(adapter, x, y, epochs=2, progress=False)
    result = trustml.audit(adapter, data, checks=["mitigation"], progress=False)
    finding = result.finding("fairness.mitigation")
    assert set(finding.metrics) == {"colour/demographic_parity", "colour/equalized_odds",
                                    "sex/demographic_parity", "sex/equalized_odds"}
    for res in finding.metrics.values():
        assert 0 <= res["after"]["accuracy"] <= 1
