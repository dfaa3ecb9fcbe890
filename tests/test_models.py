import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from trustml.data import TabularEncoder
from trustml.errors import ConfigError, ModelLoadError
from trustml.models import (
    CNNClassifier,
    HFTextAdapter,
    LinearRegression,
    LSTMTextClassifier,
    MLPClassifier,
    SklearnAdapter,
    TorchTabularAdapter,
    TorchTextAdapter,
    fit,
    load_weights,
    save_weights,
    transformer_sentiment,
    wrap,
)


@pytest.fixture(scope="module")
def sentiment():
    return transformer_sentiment(trainable="head")


def test_sklearn_adapter_matches_estimator():
    X = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) % 3})
    y = (X.a > 9).astype(int)
    est = LogisticRegression().fit(X, y)
    a = wrap(est)
    assert isinstance(a, SklearnAdapter) and a.task == "binary"
    np.testing.assert_allclose(a.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(a.predict(X), est.predict(X))


def test_torch_tabular_adapter_encodes_and_softmaxes():
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0], "c": ["x", "y", "x"]})
    enc = TabularEncoder().fit(X)
    torch.manual_seed(0)
    module = MLPClassifier(enc.n_outputs, hidden=(4,))
    a = wrap(module, encoder=enc)
    assert isinstance(a, TorchTabularAdapter)
    expected = torch.softmax(module(torch.from_numpy(enc.transform(X))), 1).detach().numpy()
    np.testing.assert_allclose(a.predict_proba(X), expected, rtol=1e-5)


def test_fit_reduces_training_loss():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    torch.manual_seed(0)
    a = wrap(MLPClassifier(3, hidden=(8,)))
    rec = fit(a, X, y, epochs=10, batch_size=32, lr=1e-2, progress=False)
    assert rec["loss"][-1] < rec["loss"][0] and (a.predict(X) == y).mean() > 0.9


def test_reference_architectures_shapes():
    assert CNNClassifier(n_classes=10)(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    lstm = LSTMTextClassifier(vocab_size=30, embed_dim=8, hidden=8)
    ids = torch.randint(1, 30, (3, 7))
    assert lstm(ids, torch.ones_like(ids)).shape == (3, 2)
    reg = wrap(LinearRegression(2), task="regression")
    assert reg.predict(np.zeros((4, 2), dtype=np.float32)).shape == (4,)
    with pytest.raises(ConfigError, match="task: a regression model"):
        reg.predict_proba(np.zeros((1, 2)))


def test_hf_adapter_offline_backbone(sentiment):
    model, tok = sentiment
    a = wrap(model, tokenizer=tok, max_length=16)
    assert isinstance(a, HFTextAdapter)
    p = a.predict_proba(["a great film", "a dull mess", "ok"])
    assert p.shape == (3, 2) and np.allclose(p.sum(1), 1)
    trainable = {n for n, q in model.named_parameters() if q.requires_grad}
    assert trainable and all(n.startswith("classifier") or ".pooler." in n for n in trainable)
    with pytest.raises(ConfigError, match="tokenizer"):
        wrap(model)


def test_lstm_text_adapter_uses_tokenizer(sentiment):
    _, tok = sentiment
    a = wrap(LSTMTextClassifier(tok.vocab_size, embed_dim=8, hidden=8), tokenizer=tok)
    assert isinstance(a, TorchTextAdapter)
    assert a.predict_proba(["hello there", "bye"]).shape == (2, 2)


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_weights_round_trip(tmp_path, suffix):
    torch.manual_seed(0)
    m = MLPClassifier(3)
    path = tmp_path / f"w{suffix}"
    if suffix == ".pt":
        torch.save(m.state_dict(), path)
    else:
        save_weights(m, path)
    m2 = load_weights(MLPClassifier(3), path)
    for a, b in zip(m.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_loading_refuses_missing_corrupt_pickled_and_mismatched(tmp_path):
    with pytest.raises(ModelLoadError, match="model file: .* does not exist"):
        load_weights(MLPClassifier(3), tmp_path / "nope.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not weights")
    with pytest.raises(ModelLoadError, match="cannot be loaded"):
        load_weights(MLPClassifier(3), tmp_path / "junk.safetensors")
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump(Evil(), f)
    with pytest.raises(ModelLoadError, match="cannot be loaded"):  # weights_only refuses it
        load_weights(MLPClassifier(3), tmp_path / "evil.pt")
    save_weights(MLPClassifier(5), tmp_path / "other.safetensors")
    with pytest.raises(ModelLoadError, match="does not fit MLPClassifier"):
        load_weights(MLPClassifier(3), tmp_path / "other.safetensors")


def test_backbone_that_cannot_load_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="backbone: cannot load"):
        transformer_sentiment(tmp_path / "empty-dir")


def test_wrap_rejects_unknown_objects():
    with pytest.raises(ConfigError, match="model: cannot wrap a str"):
        wrap("model.pkl")
