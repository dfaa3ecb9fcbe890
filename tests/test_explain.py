import numpy as np
import pandas as pd
import pytest
import torch

import trustml
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


# ---------------------------------------------------------------------- issue 5
from trustml.explain import (  # noqa: E402
    Attribution,
    ablation_text,
    captum_image,
    captum_robustness,
    explain,
    faithfulness,
    identity_share,
    rank_agreement,
    shap_text,
    shuffled,
)


class KeywordModule(torch.nn.Module):
    """Logit = sum of per-token weights: a text model whose attributions are hand-computable."""

    def __init__(self, tokenizer, weights: dict[str, float]):
        super().__init__()
        self.embedding = torch.nn.Embedding(tokenizer.vocab_size, 1)
        with torch.no_grad():
            self.embedding.weight.zero_()
            for word, w in weights.items():
                self.embedding.weight[tokenizer.convert_tokens_to_ids(word)] = w

    def forward(self, input_ids, attention_mask):
        z = (self.embedding(input_ids).squeeze(-1) * attention_mask).sum(1, keepdim=True)
        return torch.cat([torch.zeros_like(z), z], 1)


@pytest.fixture(scope="module")
def keyword_model():
    _, tok = transformer_sentiment(trainable="head")
    return wrap(KeywordModule(tok, {"good": 3.0, "bad": -3.0, "muslim": 2.0}), tokenizer=tok,
                max_length=32)


def test_ablation_is_the_probability_drop_of_each_token_by_hand(keyword_model):
    attr = ablation_text(keyword_model, ["a good film", "bad, bad acting"])
    toks, vals = attr.tokens[0], attr.token_values[0]
    assert toks == ["[CLS]", "a", "good", "film", "[SEP]"]
    sig = 1 / (1 + np.exp(-3.0))
    np.testing.assert_allclose(vals, [0, 0, sig - 0.5, 0, 0], atol=1e-6)
    # removing one 'bad' of two moves the logit from -6 to -3
    p6, p3 = 1 / (1 + np.exp(6.0)), 1 / (1 + np.exp(3.0))
    bad = [v for t, v in zip(attr.tokens[1], attr.token_values[1]) if t == "bad"]
    np.testing.assert_allclose(bad, [p6 - p3] * 2, atol=1e-6)
    assert attr.fragments[0] == ["", "a ", "good ", "film", ""]


def test_batching_gives_the_same_attributions(keyword_model):
    texts = ["a good film", "bad, bad acting", "good", "a long and quite good, not bad film"]
    one = ablation_text(keyword_model, texts, batch_rows=1, chunk_size=1)
    many = ablation_text(keyword_model, texts, batch_rows=512, chunk_size=32)
    for a, b in zip(one.token_values, many.token_values):
        np.testing.assert_allclose(a, b, atol=1e-6)
    model, tok = transformer_sentiment(trainable="head")
    adapter = wrap(model, tokenizer=tok, max_length=16)
    one = captum_text(adapter, texts, n_steps=8, internal_batch_size=1, chunk_size=1)
    many = captum_text(adapter, texts, n_steps=8, internal_batch_size=64, chunk_size=32)
    for a, b in zip(one.token_values, many.token_values):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_integrated_gradients_on_the_keyword_model_is_complete(keyword_model):
    attr = captum_text(keyword_model, ["a good film", "bad, bad acting"], n_steps=64)
    assert attr.completeness_gap < 1e-3
    top = [t[int(np.argmax(np.abs(v)))] for t, v in zip(attr.tokens, attr.token_values)]
    assert top == ["good", "bad"]


def test_quality_metrics_rank_a_true_explanation_above_a_shuffled_one(keyword_model):
    texts = ["a good film with a dull plot and long scenes", "bad acting , but a fine score",
             "the good , the bad and the rest of it", "not a good day for the cast or crew"]
    attr = ablation_text(keyword_model, texts)
    good = faithfulness(keyword_model, attr, texts, seed=0)
    bad = faithfulness(keyword_model, shuffled(attr, seed=1), texts, seed=0)
    assert good["comprehensiveness"] > bad["comprehensiveness"]
    assert good["sufficiency"] < bad["sufficiency"]
    assert good["comprehensiveness_gain"] > 0.1
    # SHAP's text explainer on the same model is judged by the same deletions
    sv = shap_text(keyword_model, texts, max_evals=200)
    assert faithfulness(keyword_model, sv, texts)["comprehensiveness"] > \
        bad["comprehensiveness"]
    assert rank_agreement(attr, attr)["per_example"] == pytest.approx(1.0)


def test_tabular_faithfulness_and_captum_robustness_on_a_linear_model():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.uniform(-1, 1, size=(60, 4)).astype(np.float32), columns=list("abcd"))
    adapter = wrap(LinearProbaModule([0.3, -0.1, 0.02, 0.0]))
    attr = captum_tabular(adapter, X, X.iloc[:20], n_steps=32)
    good = faithfulness(adapter, attr, X.iloc[:20], background=X)
    bad = faithfulness(adapter, shuffled(attr, seed=2), X.iloc[:20], background=X)
    assert good["comprehensiveness"] > bad["comprehensiveness"]
    assert good["sufficiency"] < bad["sufficiency"]
    rob = captum_robustness(adapter, X, X.iloc[:20], n_perturb=20)
    assert rob["infidelity"] < rob["infidelity_shuffled"]
    assert 0 <= rob["sensitivity_max"] < 0.5
    agree = rank_agreement(attr, attr)
    assert agree["per_example"] == pytest.approx(1.0) and agree["global"] == pytest.approx(1.0)


def test_identity_share_sees_a_model_that_leans_on_who_is_mentioned(keyword_model):
    texts = ["a muslim director made this film", "a film made by a director"]
    attr = ablation_text(keyword_model, texts)
    share = identity_share(attr)
    assert share["texts_with_terms"] == 1 and share["top_rate"] == 0.5
    assert share["mean_share"] == pytest.approx(0.5)  # all of text 1's attribution, text 2 none
    assert share["terms"] == ["muslim"]
    model, tok = transformer_sentiment(trainable="head")
    blind = wrap(KeywordModule(tok, {"film": 1.0}), tokenizer=tok)
    assert identity_share(ablation_text(blind, texts))["mean_share"] == 0.0


def test_identity_share_among_mentions_averages_over_the_texts_with_terms_only():
    attr = Attribution(method="by hand", tokens=[["a", "muslim", "film"], ["a", "film"],
                                                ["my", "mother", "smiled"]],
                       token_values=[[0.0, 3.0, 1.0], [1.0, 1.0], [1.0, 1.0, 2.0]])
    share = identity_share(attr)
    assert share["texts_with_terms"] == 2 and share["mean_share"] == pytest.approx(1.0 / 3)
    assert share["share_among_mentions"] == pytest.approx((0.75 + 0.25) / 2)
    assert identity_share(Attribution(method="none", tokens=[["a"]],
                                      token_values=[[1.0]]))["share_among_mentions"] == 0.0


class OnePixel(torch.nn.Module):
    """An 'image model' that looks at pixel (2, 3) only."""

    def forward(self, x):
        z = 4 * x[:, 0, 2, 3:4] - 1
        return torch.cat([torch.zeros_like(z), z], 1)


@pytest.mark.parametrize("method", ["integrated_gradients", "saliency", "occlusion"])
def test_image_attribution_finds_the_pixel_the_model_uses(method):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.uniform(0.5, 1, size=(6, 64)), columns=[f"px{i}" for i in range(64)])
    adapter = wrap(OnePixel(), input_shape=(1, 8, 8))
    attr = explain(adapter, X, method=method)
    assert attr.image_shape == (8, 8) and attr.values.shape == (6, 64)
    top = np.abs(attr.values).argmax(1)
    if method == "occlusion":  # a 2x2 patch covers the pixel from four positions
        assert set(top) <= {2 * 8 + 3, 1 * 8 + 3, 2 * 8 + 2, 1 * 8 + 2}
        assert (np.abs(attr.values[:, 2 * 8 + 3]) > 0).all()
    else:
        assert (top == 2 * 8 + 3).all()
    if method == "integrated_gradients":
        assert attr.completeness_gap < 1e-3
        with pytest.raises(trustml.ConfigError, match="^method: 'nope'"):
            captum_image(adapter, X, method="nope")


def test_shap_picks_exact_explainers_for_sklearn_models():
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    from trustml.data import load_arrests
    data = load_arrests()
    x, y, _ = data.take("train")
    x = x[["age", "checks", "employed"]]
    xt = data.take("test")[0][["age", "checks", "employed"]].iloc[:10]
    pre = make_column_transformer((OneHotEncoder(), ["employed"]), remainder="passthrough")
    lr = make_pipeline(pre, LogisticRegression(max_iter=1000)).fit(x, y)
    attr = explain(wrap(lr), xt, background=x)
    assert attr.method == "SHAP linear" and attr.output_space == "log-odds"
    # Exact interventional linear SHAP against the mean of ALL background rows (thousands, more
    # than SHAP's default masker samples), summed over one-hot columns: w . (z - mean z).
    z, zb = pre.transform(xt), pre.transform(x)
    per_column = lr[-1].coef_[0] * (z - zb.mean(0))
    np.testing.assert_allclose(attr.values[:, 2], per_column[:, :2].sum(1), rtol=0, atol=1e-9)
    np.testing.assert_allclose(attr.values[:, :2], per_column[:, 2:], rtol=0, atol=1e-9)
    assert attr.baseline == f"the mean of all {len(x)} background rows (exact)" and len(x) > 1000
    rf = RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0).fit(
        x[["age", "checks"]], y)
    attr = explain(wrap(rf), xt[["age", "checks"]], background=x[["age", "checks"]])
    assert attr.method == "SHAP tree"
    # additivity: attributions add up to f(x) - E f(background)
    f = rf.predict_proba(xt[["age", "checks"]])[:, 1]
    expected = rf.predict_proba(x[["age", "checks"]].sample(n=50, random_state=0))[:, 1].mean()
    np.testing.assert_allclose(attr.values.sum(1), f - expected, atol=1e-6)


def test_image_model_audit_explains_the_predicted_digit_and_draws_overlays():
    from sklearn.datasets import load_digits
    from trustml.data import AuditData
    from trustml.models import CNNClassifier, fit
    digits = load_digits()
    data = AuditData.from_arrays(digits.data / 16.0, digits.target,
                                 feature_names=[f"px{i}" for i in range(64)], task="multiclass")
    torch.manual_seed(0)
    adapter = wrap(CNNClassifier(n_classes=10), input_shape=(1, 8, 8), task="multiclass")
    x, y, _ = data.take("train")
    fit(adapter, x, y, epochs=4, batch_size=64, lr=3e-3, progress=False)
    result = trustml.audit(adapter, data, checks=["explainability"], explain_rows=20,
                           progress=False)
    quality = result.finding("explainability.quality").metrics
    assert {"integrated_gradients", "saliency", "occlusion"} <= set(quality)
    ig = quality["integrated_gradients"]
    assert ig["comprehensiveness"] > ig["random_comprehensiveness"]
    assert ig["completeness_gap"] < 0.05
    assert quality["robustness"]["infidelity"] <= quality["robustness"]["infidelity_shuffled"]
    visuals = result.finding("explainability.attributions").visuals
    assert len(visuals) == 4 and all(v.kind == "image" for v in visuals)
    assert np.asarray(visuals[0].values).shape == (8, 8)
    html = result.to_html()
    assert html.count('fill-opacity="') == 4 * 64


def test_attention_mask_integrated_gradients_add_up_to_hiding_the_tokens():
    from trustml.explain import attention_text, supports_attention_bias
    torch.manual_seed(0)
    model, tok = transformer_sentiment(trainable="head")
    adapter = wrap(model, tokenizer=tok, max_length=32)
    assert supports_attention_bias(adapter)
    texts = ["a wonderful , moving film", "boring and far too long"]
    attr = attention_text(adapter, texts, n_steps=32, depth=12.0)
    assert attr.completeness_gap < 1e-3
    # the baseline is the text with every ordinary token hidden from attention: the model
    # called directly with those tokens masked out in its own attention mask
    ids, mask = adapter.tensorize(texts)
    specials = torch.tensor([tok.get_special_tokens_mask(r, already_has_special_tokens=True)
                             for r in ids.tolist()], dtype=torch.bool)
    with torch.no_grad():
        full = torch.softmax(adapter.forward(adapter.module, ids, mask), 1)[:, 1]
        hidden = torch.softmax(adapter.forward(adapter.module, ids, mask * specials), 1)[:, 1]
    sums = np.array([sum(v) for v in attr.token_values])
    np.testing.assert_allclose(sums, (full - hidden).numpy(), atol=2e-3)
    # batching does not change the attributions
    one = attention_text(adapter, texts, n_steps=8, internal_batch_size=1, chunk_size=1)
    many = attention_text(adapter, texts, n_steps=8)
    for a, b in zip(one.token_values, many.token_values):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert explain(adapter, texts).method == attr.method  # the default for transformers
    lstm = wrap(LSTMTextClassifier(tok.vocab_size, embed_dim=8, hidden=8), tokenizer=tok)
    assert not supports_attention_bias(lstm)
    assert explain(lstm, texts).method == "Captum layer integrated gradients"


@pytest.fixture(scope="module")
def diabetes():
    from sklearn.datasets import load_diabetes
    d = load_diabetes(as_frame=True)
    x, y = d.data, d.target.to_numpy()
    return x.iloc[:300], y[:300], x.iloc[300:320]


def test_sklearn_linear_regression_shap_is_the_closed_form(diabetes):
    from sklearn.linear_model import Ridge
    x, y, held_out = diabetes
    model = Ridge(alpha=0.1).fit(x, y)
    attr = explain(wrap(model), held_out, background=x)
    assert attr.method == "SHAP linear" and attr.output_space == "target units"
    expected = model.coef_ * (held_out.to_numpy() - x.to_numpy().mean(0))
    np.testing.assert_allclose(attr.values, expected, rtol=0, atol=1e-9)
    assert attr.features == list(x.columns)


def test_torch_linear_regression_integrated_gradients_is_the_closed_form(diabetes):
    from trustml.data import TabularEncoder
    from trustml.models import LinearRegression
    x, y, held_out = diabetes
    enc = TabularEncoder().fit(x)
    torch.manual_seed(0)
    module = LinearRegression(enc.n_outputs)
    adapter = wrap(module, encoder=enc, task="regression", target_center=150.0,
                   target_scale=80.0)
    attr = explain(adapter, held_out, background=x, method="integrated_gradients")
    assert attr.output_space == "target units"
    z, zbar = enc.transform(held_out), enc.transform(x).mean(0)
    w = module.linear.weight.detach().numpy()[0]
    np.testing.assert_allclose(attr.values, 80.0 * w * (z - zbar), rtol=0, atol=1e-4)
    # completeness: attributions add up to the change of the prediction from the baseline
    baseline = (zbar @ w + module.linear.bias.item()) * 80.0 + 150.0
    np.testing.assert_allclose(attr.values.sum(1), adapter.predict(held_out) - baseline,
                               atol=1e-3)


def test_any_regression_model_is_explained_additively_by_permutation_shap(diabetes):
    from sklearn.neighbors import KNeighborsRegressor
    x, y, held_out = diabetes
    model = KNeighborsRegressor(5).fit(x, y)
    bg = x.iloc[:40]
    attr = explain(wrap(model), held_out, background=bg, max_background=40)
    assert attr.method == "SHAP permutation" and attr.output_space == "target units"
    np.testing.assert_allclose(attr.values.sum(1),
                               model.predict(held_out) - model.predict(bg).mean(), atol=1e-6)


def test_tree_regressor_shap_equals_shap_called_directly(diabetes):
    import shap
    from sklearn.ensemble import RandomForestRegressor
    x, y, held_out = diabetes
    forest = RandomForestRegressor(n_estimators=10, max_depth=3, random_state=0).fit(x, y)
    attr = explain(wrap(forest), held_out, background=x, max_background=60)
    assert attr.method == "SHAP tree" and attr.output_space == "target units"
    bg = x.sample(n=60, random_state=0).to_numpy()
    direct = shap.TreeExplainer(forest, bg, model_output="raw")
    np.testing.assert_allclose(attr.values, direct(held_out.to_numpy()).values, atol=1e-9)


def test_a_regression_audit_explains_and_judges_faithfulness_in_target_units(diabetes):
    from sklearn.linear_model import Ridge
    from trustml.data import AuditData
    from trustml.explain import faithfulness, shuffled
    x, y, held_out = diabetes
    data = AuditData.from_frame(x.assign(target=y), label="target", task="regression", seed=0)
    xs, ys, _ = data.take("train")
    model = Ridge(alpha=0.1).fit(xs, ys)
    result = trustml.audit(model, data, checks=["explainability"], explain_rows=30,
                           progress=False)
    attributions = result.finding("explainability.attributions")
    assert attributions.metrics["methods"]["shap"]["output_space"] == "target units"
    quality = result.finding("explainability.quality")
    assert quality.status == "pass" and "standard deviations of the predictions" in \
        quality.summary
    # the exact attribution is more faithful than the same values shuffled within each row
    adapter, rows = wrap(model), data.take("test")[0].iloc[:30]
    attr = explain(adapter, rows, background=xs)
    good = faithfulness(adapter, attr, rows, background=xs)["comprehensiveness_gain"]
    bad = faithfulness(adapter, shuffled(attr), rows, background=xs)["comprehensiveness_gain"]
    assert good > 0.1 and good > bad


def test_a_scikit_learn_text_pipeline_is_explained_word_by_word():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from trustml.data import load_tweets
    data = load_tweets(n=300)
    x, y, _ = data.take("train")
    model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(x, y)
    result = trustml.audit(model, data, checks=["explainability"], explain_rows=8,
                           progress=False)
    attributions = result.finding("explainability.attributions")
    assert attributions.status == "info"
    assert attributions.metrics["methods"]["shap"]["method"] == \
        "SHAP partition (text masker, words)"
    quality = result.finding("explainability.quality")
    assert quality.metrics["shap"]["comprehensiveness_gain"] > 0


def test_a_baseline_of_another_family_is_explained_on_the_audited_models_scale():
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    from trustml.data import TabularEncoder, load_adult
    from trustml.models import MLPClassifier, fit
    data = load_adult(rows=1500, seed=1)
    x, y, _ = data.take("train")
    categorical = [c for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])]
    baseline = make_pipeline(make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), categorical), remainder="passthrough"),
        LogisticRegression(max_iter=2000)).fit(x, y)
    encoder = TabularEncoder().fit(x)
    torch.manual_seed(0)
    model = wrap(MLPClassifier(encoder.n_outputs), encoder=encoder)
    fit(model, x, y, epochs=5, progress=False)
    result = trustml.audit(model, data, baseline=baseline, checks=["explainability"],
                           explain_rows=20, progress=False)
    quality = result.finding("explainability.quality").metrics
    assert quality["baseline_method"] == {"method": "SHAP permutation",
                                          "output_space": "probability"}
    assert -1 <= quality["stability_vs_baseline"]["global"] <= 1
