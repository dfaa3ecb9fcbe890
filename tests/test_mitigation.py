import numpy as np
import pandas as pd
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


def test_exponentiated_gradient_equals_fairlearn_called_directly():
    from fairlearn.reductions import DemographicParity, ExponentiatedGradient
    from trustml.fairness import exponentiated_gradient
    data = load_arrests()
    x, y, s = data.take("train")
    xt, yt, st = data.take("test")
    pre = make_column_transformer((OneHotEncoder(), ["employed", "citizen"]),
                                  remainder="passthrough").fit(x)
    estimator = LogisticRegression(max_iter=1000)
    # a bare estimator on encoded inputs, and the same model as a pipeline on raw inputs
    mine = exponentiated_gradient(estimator, pre.transform(x), y, s["colour"], max_iter=20)
    piped = exponentiated_gradient(make_pipeline(pre, estimator), x, y, s["colour"], max_iter=20)
    direct = ExponentiatedGradient(LogisticRegression(max_iter=1000), DemographicParity(),
                                   eps=0.01, max_iter=20).fit(
        pre.transform(x), y, sensitive_features=s["colour"].to_numpy())
    expected = direct._pmf_predict(pre.transform(xt))
    np.testing.assert_allclose(mine._pmf_predict(pre.transform(xt)), expected)
    np.testing.assert_allclose(piped._pmf_predict(xt), expected, atol=1e-6)
    out = before_after(wrap(make_pipeline(pre, estimator).fit(x, y)), piped, xt, yt,
                       st["colour"])
    assert out["after"]["demographic_parity_difference"] < \
        out["before"]["demographic_parity_difference"]


def test_exponentiated_gradient_refuses_an_estimator_without_weights():
    from sklearn.neighbors import KNeighborsClassifier
    from trustml.fairness import exponentiated_gradient
    data = load_arrests()
    x, y, s = data.take("train")
    with pytest.raises(ConfigError, match="estimator: KNeighborsClassifier.fit takes no "
                                          "sample_weight"):
        exponentiated_gradient(KNeighborsClassifier(), x[["age"]], y, s["colour"])


def test_audit_of_a_sklearn_model_adds_the_reduction(fitted):
    data, model = fitted
    result = trustml.audit(wrap(model), data, checks=["mitigation"], progress=False,
                           n_boot=0)  # the reduction is what is tested, not its intervals
    metrics = result.finding("fairness.mitigation").metrics
    reduced = metrics["colour/demographic_parity/reduction"]
    assert reduced["method"] == "reduction"
    assert reduced["after"]["demographic_parity_difference"] <= \
        reduced["before"]["demographic_parity_difference"]


def test_a_text_model_is_mitigated_by_thresholds_and_by_retraining():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from trustml.data import read_texts
    rng = np.random.default_rng(0)
    n = 300
    sex = rng.choice(["f", "m"], n)
    label = rng.integers(0, 2, n)
    # the men's positive reviews say "great", the women's only "fine": a biased signal
    words = np.where(label == 1, np.where(sex == "m", "great film", "fine film"), "dull film")
    frame = pd.DataFrame({"text": [f"{w} {i}" for i, w in enumerate(words)],
                          "label": np.where(label == 1, "pos", "neg"), "sex": sex})
    data = read_texts(frame, text="text", label="label", sensitive=["sex"],
                      positive_label="pos")
    x, y, _ = data.take("train")
    model = make_pipeline(TfidfVectorizer(), LogisticRegression(C=0.05)).fit(x, y)
    result = trustml.audit(model, data, checks=["mitigation"], progress=False, n_boot=0)
    finding = result.finding("fairness.mitigation")
    assert finding.status == "info", finding.summary
    methods = {(r["method"], r["constraint"]) for r in finding.metrics.values()}
    assert {("thresholds", "demographic_parity"), ("reduction", "demographic_parity")} <= methods


def test_mitigation_with_no_group_large_enough_is_not_run_not_an_error():
    rng = np.random.default_rng(1)
    x = pd.DataFrame({"a": rng.normal(size=80)})
    y = (x["a"] > 0).astype(int).to_numpy()
    data = trustml.data.AuditData.from_frame(x.assign(y=y, sex=rng.choice(["f", "m"], 80)),
                                             label="y", sensitive="sex", seed=0)
    model = LogisticRegression().fit(data.take("train")[0], data.take("train")[1])
    finding = trustml.audit(model, data, checks=["mitigation"],
                            progress=False).finding("fairness.mitigation")
    assert finding.status == "not_run" and "fewer than two groups of 'sex'" in finding.summary


def test_a_pipeline_is_reduced_on_rows_encoded_once_as_if_refitted_whole(monkeypatch):
    """A text pipeline's reduction runs on the TF-IDF rows encoded once; forced to refit the
    whole pipeline on every call (a sparse encoding too large to densify), it gives the same
    randomized classifier."""
    from fairlearn.reductions import ExponentiatedGradient
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from trustml.fairness import _mitigation
    rng = np.random.default_rng(0)
    texts = [f"{rng.choice(['good', 'bad', 'fine'])} film {i % 7}" for i in range(200)]
    y = np.array([t.startswith("good") for t in texts], int)
    sex = rng.choice(["f", "m"], 200)
    pipe = make_pipeline(TfidfVectorizer(), LogisticRegression())
    encoded = _mitigation.exponentiated_gradient(pipe, texts, y, sex, max_iter=10)
    monkeypatch.setattr(_mitigation, "DENSE_CELLS", 0)
    whole = _mitigation.exponentiated_gradient(pipe, texts, y, sex, max_iter=10)
    assert isinstance(encoded, _mitigation.EncodedReduction)
    assert isinstance(whole, ExponentiatedGradient)
    table = _mitigation.as_table(texts)
    np.testing.assert_allclose(encoded._pmf_predict(table), whole._pmf_predict(table), atol=1e-6)
