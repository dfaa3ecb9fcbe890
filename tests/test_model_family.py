"""A model family added in one module: this file. Its adapter declares capabilities and how it
retrains, and registers its own explainer; the audit then explains it, cross-validates it and
attacks it with reference models without any other file knowing the family exists."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trustml import AuditData, audit
from trustml.explain import (
    EXPLAINERS,
    Attribution,
    Explainer,
    explain,
    explained_classes,
    register_explainer,
)
from trustml.models import Capabilities, ModelAdapter, register_adapter, wrap
from trustml.models._adapters import ADAPTERS


class NumpyLogit:
    """Logistic regression by gradient descent in numpy: a framework trustml has never seen
    (no ``fit``/``predict``, no torch)."""

    def __init__(self, steps: int = 300, lr: float = 0.5):
        self.steps, self.lr = steps, lr

    def train(self, x: np.ndarray, y: np.ndarray) -> NumpyLogit:
        self.mean, self.scale = x.mean(0), x.std(0) + 1e-9
        z = (x - self.mean) / self.scale
        self.w, self.b = np.zeros(x.shape[1]), 0.0
        for _ in range(self.steps):
            err = 1 / (1 + np.exp(-(z @ self.w + self.b))) - y
            self.w -= self.lr * z.T @ err / len(y)
            self.b -= self.lr * err.mean()
        return self

    def log_odds(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.scale @ self.w + self.b


class NumpyLogitAdapter(ModelAdapter):
    kind = "numpy-logit"

    def __init__(self, model: NumpyLogit, *, task: str | None = None):
        self.model, self.task = model, "binary"

    def predict_proba(self, X) -> np.ndarray:
        p = 1 / (1 + np.exp(-self.model.log_odds(np.asarray(X, dtype=float))))
        return np.column_stack([1 - p, p])

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities("tabular", "binary", probabilities=True, refits_cheaply=True)

    def retrainer(self):
        def retrain(X, y, *, private: bool = False, seed: int = 0):
            return NumpyLogitAdapter(NumpyLogit().train(np.asarray(X, dtype=float), y))
        retrain.trains_privately = False
        return retrain

    @classmethod
    def accepts(cls, obj, *, tokenizer=None) -> bool:
        return isinstance(obj, NumpyLogit)


def closed_form(adapter, X, *, background=None, seed=0, **kwargs) -> Attribution:
    """Exact linear attributions in log-odds: w_j (x_j - mean_j) / scale_j, mean over the
    background."""
    m = adapter.model
    x = np.asarray(X, dtype=float)
    ref = np.asarray(X if background is None else background, dtype=float).mean(0)
    return Attribution("closed-form log-odds", features=list(X.columns),
                       values=(x - ref) / m.scale * m.w, target=explained_classes(adapter, X),
                       output_space="log-odds")


@pytest.fixture(scope="module", autouse=True)
def family_registered():
    """The family and its explainer registered for this module's tests, then removed: the
    registries are as before for every other test."""
    with ADAPTERS.temporarily("numpy-logit", NumpyLogitAdapter), EXPLAINERS.temporarily(
            "closed_form", Explainer("closed_form", lambda a: isinstance(a, NumpyLogitAdapter),
                                     closed_form, priority=-1)):
        yield
    assert "numpy-logit" not in ADAPTERS and "closed_form" not in EXPLAINERS


def test_the_decorators_register_and_the_registry_restores():
    with ADAPTERS.temporarily("numpy-logit", NumpyLogitAdapter):
        names = ADAPTERS.names()
        decorated = register_adapter(type("Newest", (NumpyLogitAdapter,), {}))
        assert ADAPTERS.names()[0].endswith("Newest") and ADAPTERS.names()[1:] == names
        register_explainer("late", lambda a: False, priority=99)(closed_form)
        assert EXPLAINERS.values()[-1].name == "late"  # ordered by priority
        with pytest.raises(ValueError, match="registered twice"):
            register_adapter(decorated)
        ADAPTERS.unregister(ADAPTERS.names()[0])
        EXPLAINERS.unregister(EXPLAINERS.names()[-1])
        assert ADAPTERS.names() == names


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(800, 3))
    y = (2.0 * x[:, 0] + 0.7 * x[:, 1] + rng.normal(0, 0.5, 800) > 0).astype(int)
    frame = pd.DataFrame(x, columns=["strong", "weak", "unused"]).assign(
        label=y, group=rng.choice(["a", "b"], 800))
    data = AuditData.from_frame(frame, label="label", sensitive="group", seed=0)
    x_tr, y_tr, _ = data.take("train")
    model = NumpyLogit().train(x_tr.to_numpy(float), y_tr)
    return model, data


def test_wrap_finds_the_family_and_its_explainer_is_the_default(toy):
    model, data = toy
    adapter = wrap(model)
    assert isinstance(adapter, NumpyLogitAdapter)
    x_test = data.take("test")[0].iloc[:5]
    attr = explain(adapter, x_test, background=data.take("train")[0])
    assert attr.method == "closed-form log-odds"
    # exact: the attributions add up to the log-odds minus the log-odds at the mean row
    x_tr = data.take("train")[0].to_numpy(float)
    gap = model.log_odds(x_test.to_numpy(float)) - model.log_odds(x_tr.mean(0, keepdims=True))
    np.testing.assert_allclose(attr.values.sum(1), gap, atol=1e-9)


def test_audit_explains_cross_validates_and_attacks_a_new_family(toy):
    model, data = toy
    result = audit(model, data, checks=["explainability", "cross_validation",
                                        "membership_inference"], n_boot=20, progress=False)
    by_id = {f.id: f for f in result.findings}

    methods = by_id["explainability.attributions"].metrics["methods"]
    assert list(methods) == ["closed_form", "shap"]  # its own, then SHAP (applies to tabular)
    for found in methods.values():
        ranked = [r["feature"] for r in found["top_attributions"]]
        assert ranked[0] == "strong" and ranked[-1] == "unused"

    cv = by_id["performance.cross_validation"]
    assert cv.metrics["folds"] == 5
    accuracy = (model.log_odds(data.take("test")[0].to_numpy(float)) > 0) == data.take("test")[1]
    assert abs(cv.metrics["cv_accuracy_mean"] - accuracy.mean()) < 0.05

    lira = by_id["privacy.membership_inference"].metrics["lira"]
    assert lira["reference_models"] == 4  # retrained through the family's own retrainer
    assert 0.3 < lira["auc"] < 0.7  # a 3-weight model on 600 rows leaks nothing measurable
