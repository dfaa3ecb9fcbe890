import numpy as np
import pandas as pd
import pytest
import torch

from trustml.explain import captum_tabular, captum_text, shap_tabular
from trustml.models import LSTMTextClassifier, transformer_sentiment, wrap
from trustml.models._adapters import ModelAdapter


class Linear2(torch.nn.Module):
    """Logits (0, w.x + b): the positive-class probability is sigmoid(w.x + b)."""

    def __init__(self, w):
        super().__init__()
        self.lin = torch.nn.Linear(len(w), 1)
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor([w]))
            self.lin.bias.zero_()

    def forward(self, x):
        z = self.lin(x)
        return torch.cat([torch.zeros_like(z), z], 1)


class LinearProba(ModelAdapter):
    """A model whose positive-class 'probability' is exactly w.x (for SHAP's exact answer)."""

    def __init__(self, w):
        self.w = np.asarray(w)

    def predict_proba(self, X):
        p = np.asarray(X, dtype=float) @ self.w
        return np.stack([1 - p, p], 1)


def test_shap_on_linear_model_is_weight_times_deviation_from_mean():
    rng = np.random.default_rng(0)
    bg = pd.DataFrame(rng.normal(size=(50, 3)), columns=["a", "b", "c"])
    explain = pd.DataFrame(rng.normal(size=(5, 3)), columns=["a", "b", "c"])
    w = [0.3, -0.2, 0.05]
    attr = shap_tabular(LinearProba(w), bg, explain, max_background=50)
    expected = (explain.to_numpy() - bg.to_numpy().mean(0)) * np.array(w)
    np.testing.assert_allclose(attr.values, expected, atol=1e-8)


def test_integrated_gradients_complete_and_sum_per_raw_feature():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(40, 3)).astype(np.float32), columns=["a", "b", "c"])
    adapter = wrap(Linear2([1.0, -2.0, 0.5]))
    attr = captum_tabular(adapter, X, X.iloc[:8], n_steps=200)
    f = adapter.predict_proba(X.iloc[:8])[:, 1]
    base = adapter.predict_proba(X.mean().to_frame().T)[:, 1]
    np.testing.assert_allclose(attr.values.sum(1), f - base, atol=1e-3)
    assert attr.completeness_gap < 1e-3
    assert attr.global_importance()[0]["feature"] == "b"


class LinearProbaModule(torch.nn.Module):
    """Logits (log(1 - p), log p) with p = 0.5 + w.x: the positive-class probability is linear."""

    def __init__(self, w):
        super().__init__()
        self.w = torch.tensor(w)

    def forward(self, x):
        p = 0.5 + x @ self.w
        return torch.stack([torch.log(1 - p), torch.log(p)], 1)


def test_integrated_gradients_on_linear_model_is_weight_times_input_minus_baseline():
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.uniform(-1, 1, size=(30, 3)).astype(np.float32), columns=list("abc"))
    w = [0.1, -0.2, 0.05]
    attr = captum_tabular(wrap(LinearProbaModule(w)), X, X.iloc[:6], n_steps=50)
    expected = (X.iloc[:6].to_numpy() - X.to_numpy().mean(0)) * np.array(w)
    np.testing.assert_allclose(attr.values, expected, atol=1e-5)


@pytest.mark.parametrize("kind", ["hf", "lstm"])
def test_text_attributions_cover_every_token(kind):
    model, tok = transformer_sentiment(trainable="head")
    if kind == "lstm":
        torch.manual_seed(0)
        model = LSTMTextClassifier(tok.vocab_size, embed_dim=8, hidden=8)
    adapter = wrap(model, tokenizer=tok, max_length=16)
    texts = ["a wonderful film", "boring and far too long"]
    attr = captum_text(adapter, texts, n_steps=64)
    for t, toks, vals in zip(texts, attr.tokens, attr.token_values):
        assert toks[0] == "[CLS]" and toks[-1] == "[SEP]" and len(toks) == len(vals)
    assert attr.completeness_gap < 0.05
    top = attr.global_importance(top=5, min_count=1)
    assert all("[" not in r["feature"] for r in top)
