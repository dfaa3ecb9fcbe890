import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import trustml
from trustml.data import AuditData
from trustml.fairness import proxy_strength


def data(include_sensitive=False):
    rng = np.random.default_rng(0)
    n = 1200
    sex = rng.choice(["f", "m"], n)
    df = pd.DataFrame({
        "zone": np.where(sex == "f", rng.choice(["n1", "n2"], n), rng.choice(["s1", "s2"], n)),
        "noise": rng.normal(size=n),
        "hours": rng.normal(size=n) + (sex == "m") * 0.3,
        "sex": sex})
    df["y"] = (df.noise + rng.normal(size=n) > 0).astype(int)
    features = ["zone", "noise", "hours"] + (["sex"] if include_sensitive else [])
    return AuditData.from_frame(df, label="y", sensitive="sex", features=features)


def test_a_perfect_proxy_is_found_and_noise_is_not():
    d = data()
    x, _, sens = d.take("train")
    out = proxy_strength(x, sens["sex"])
    auc = {r["input"]: r["auc"] for r in out["by_feature"]}
    assert auc["zone"] == pytest.approx(1.0)
    assert 0.4 < auc["noise"] < 0.6
    assert 0.52 < auc["hours"] < 0.7  # a weak association shows as weak
    assert out["by_feature"][0]["input"] == "zone" and out["joint_auc"] > 0.99


def test_audit_flags_proxies_and_sensitive_inputs():
    for include, expected in ((False, "fail"), (True, "fail")):
        d = data(include)
        x, y, _ = d.take("train")
        model = LogisticRegression().fit(pd.get_dummies(x), y)
        result = trustml.audit(model, d, checks=["proxies"], progress=False)
        f = result.finding("fairness.proxies.sex")
        assert f.status == expected and f.metrics["is_input"] is include
        assert ("is itself a model input" in f.summary) is include
        assert "'zone'" in f.summary
