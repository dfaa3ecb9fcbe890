"""Group fairness and identity probes of multiclass models: equal to Fairlearn's MetricFrame
per group, by hand on small cases, and judged in audits of tabular and text models (a constant
model and the three-class tweets reference included)."""

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, false_positive_rate, true_positive_rate
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score

import trustml
from trustml.data import AuditData
from trustml.fairness import (
    LEXICON,
    identity_probe,
    multiclass_group_metrics,
    multiclass_metrics,
    paired_accuracy_change,
)
from trustml.models import ModelAdapter

LABELS = ["neg", "neu", "pos"]


@pytest.fixture(scope="module")
def outcomes():
    """Three classes, groups of 55% / 40% / 5%; group 'b' is given 'pos' more often."""
    rng = np.random.default_rng(1)
    n = 400
    g = pd.Series(rng.choice(["a", "b", "c"], n, p=[0.55, 0.4, 0.05]), name="grp")
    y = rng.integers(0, 3, n)
    pred = np.where(rng.random(n) < 0.7, y, rng.integers(0, 3, n))
    pred[(g == "b").to_numpy() & (rng.random(n) < 0.3)] = 2
    return y, pred, g


def _close(ours, theirs):
    """Equal to 1e-9, None standing for Fairlearn's NaN."""
    return (ours is None and np.isnan(theirs)) or abs(ours - theirs) <= 1e-9


def test_every_group_metric_and_interval_equals_metricframe(outcomes):
    y, pred, g = outcomes
    out = multiclass_group_metrics(y, pred, g, classes=LABELS, min_group_size=1, n_boot=20,
                                   seed=7)
    mf = MetricFrame(metrics=multiclass_metrics(LABELS), y_true=y, y_pred=pred,
                     sensitive_features=g, n_boot=20, ci_quantiles=[0.025, 0.975],
                     random_state=7)
    assert len(mf.by_group.columns) == 2 + 3 * len(LABELS)
    for row in out["by_group"]:
        for m in mf.by_group.columns:
            assert _close(row[m], mf.by_group.loc[row["group"], m]), m
            for i in (0, 1):
                assert _close(row[f"{m}_ci"][i], mf.by_group_ci[i].loc[row["group"], m]), m
    for m in mf.by_group.columns:
        assert _close(out["overall"][m], mf.overall[m])
        assert _close(out["difference"][m], mf.difference()[m])
        assert _close(out["ratio"][m], mf.ratio()[m])
        for i in (0, 1):
            assert _close(out["difference_ci"][m][i], mf.difference_ci()[i][m]), m
    # the metric functions are Fairlearn's and scikit-learn's, one class against the rest
    b = (g == "b").to_numpy()
    assert mf.by_group.loc["b", "balanced_accuracy"] == balanced_accuracy_score(y[b], pred[b])
    assert mf.by_group.loc["b", "true_positive_rate[pos]"] == true_positive_rate(
        (y[b] == 2).astype(int), (pred[b] == 2).astype(int))
    # the headline gaps: the largest over classes, equalized odds over TPR and FPR
    diff = mf.difference()
    odds = {c: max(diff[f"true_positive_rate[{c}]"], diff[f"false_positive_rate[{c}]"])
            for c in LABELS}
    assert _close(out["equalized_odds_difference"], max(odds.values()))
    assert out["equalized_odds_class"] == max(odds, key=odds.get)
    assert _close(out["demographic_parity_difference"],
                  max(diff[f"selection_rate[{c}]"] for c in LABELS))
    assert _close(out["accuracy_difference"], diff["accuracy"])
    low, high = out["equalized_odds_difference_ci"]
    assert low >= max(out["difference_ci"][f"true_positive_rate[{c}]"][0] for c in LABELS)


def test_small_groups_and_intersections_are_judged_apart(outcomes):
    y, pred, g = outcomes
    out = multiclass_group_metrics(y, pred, g, classes=LABELS, min_group_size=30, n_boot=0)
    assert out["small_groups"] == ["c"] and not out["by_group"][2]["judged"]
    keep = (g != "c").to_numpy()
    judged = MetricFrame(metrics=multiclass_metrics(LABELS), y_true=y[keep], y_pred=pred[keep],
                         sensitive_features=g[keep])
    for m, value in judged.difference().items():
        assert _close(out["difference"][m], value), m
    sex = pd.Series(np.where(np.arange(len(y)) % 2, "f", "m"), name="sex")
    both = multiclass_group_metrics(y, pred, pd.DataFrame({"grp": g, "sex": sex}),
                                    classes=LABELS, min_group_size=30, n_boot=0)
    assert both["feature"] == "grp x sex"
    assert {r["group"] for r in both["by_group"]} >= {"a & f", "b & m"}


def _flat(value, key=""):
    """Every leaf of nested dicts and lists, by its path."""
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else None
    if items is None:
        return {key: value}
    return {k: v for name, item in items for k, v in _flat(item, f"{key}/{name}").items()}


def test_large_data_is_counted_to_the_same_numbers(outcomes, monkeypatch):
    import trustml.fairness._group_metrics as gm
    y, pred, g = outcomes
    framed = _flat(multiclass_group_metrics(y, pred, g, classes=LABELS, n_boot=10))
    monkeypatch.setattr(gm, "COUNTED_ROWS", 10)  # above it, counted instead of MetricFrame
    counted = _flat(multiclass_group_metrics(y, pred, g, classes=LABELS, n_boot=10))
    assert framed.keys() == counted.keys()
    for key, value in framed.items():
        assert counted[key] == (pytest.approx(value, abs=1e-12)
                                if isinstance(value, float) else value), key


def test_rates_by_hand():
    # group x: 4 rows, all right; group y: truth 0 0 1 2, predicted 1 0 1 1
    y = np.array([0, 1, 2, 2, 0, 0, 1, 2])
    pred = np.array([0, 1, 2, 2, 1, 0, 1, 1])
    g = pd.Series(["x"] * 4 + ["y"] * 4, name="g")
    out = multiclass_group_metrics(y, pred, g, min_group_size=1, n_boot=0)
    row = {r["group"]: r for r in out["by_group"]}["y"]
    assert out["classes"] == ["0", "1", "2"]
    assert row["accuracy"] == 0.5
    assert row["balanced_accuracy"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert row["selection_rate[1]"] == 0.75           # 3 of 4 given class 1
    assert row["true_positive_rate[2]"] == 0.0        # its one '2' was missed
    assert row["false_positive_rate[1]"] == pytest.approx(2 / 3)  # 2 of the 3 others
    assert out["equalized_odds_difference"] == 1.0    # TPR of class 2: 1 in x, 0 in y
    assert out["equalized_odds_class"] == "2"
    assert out["demographic_parity_difference"] == 0.5 and out["accuracy_difference"] == 0.5
    assert false_positive_rate([0, 0, 0, 1], [1, 0, 1, 1]) == pytest.approx(2 / 3)


def _three_class_data(n=900, bias=0.0, noise=0.05, seed=0):
    """Three ordered classes from x0; group 'a' pushed up by ``bias`` in the label only (the
    group is not an input)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    group = rng.choice(["a", "b"], n)
    latent = x[:, 0] + bias * (group == "a") + rng.normal(0, noise, n)
    y = np.array(["low", "mid", "high"])[np.digitize(latent, [-0.5, 0.5])]
    frame = pd.DataFrame(x, columns=["x0", "x1"]).assign(group=group, label=y)
    return AuditData.from_frame(frame, label="label", sensitive="group", task="multiclass",
                                seed=seed)


def test_an_audit_of_a_three_class_model_judges_fairness_with_intervals():
    data = _three_class_data(n=2000)  # 500 test rows: class shares alike in both groups
    x, y, _ = data.take("train")
    model = LogisticRegression().fit(x, y)
    baseline = LogisticRegression(C=0.01).fit(x, y)
    result = trustml.audit(model, data, baseline=baseline, checks=["fairness"], n_boot=20,
                           progress=False)
    finding = result.finding("fairness.group_metrics.group")
    assert finding.status == "pass"  # nearly noiseless labels, independent of the group
    gm = finding.metrics
    xt, yt, st = data.take("test")
    pred = model.predict(xt)
    same = multiclass_group_metrics(yt, pred, st["group"], classes=data.class_names,
                                    n_boot=20)
    assert gm["by_group"] == same["by_group"] and gm["classes"] == ["high", "low", "mid"]
    assert gm["dp_accuracy_change"] == paired_accuracy_change(
        yt, pred, baseline.predict(xt), st["group"], n_boot=20)
    assert finding.thresholds == {"parity_difference_warn": 0.10,
                                  "parity_difference_fail": 0.20, "min_group_size": 30}
    assert finding.headline["ci"] == gm["demographic_parity_difference_ci"]
    assert "class by class" in finding.summary and len(finding.tables) == 4


def test_a_model_that_favours_a_group_fails():
    data = _three_class_data(bias=1.0)
    x, y, _ = data.take("train")
    # blind to the group, the model cannot follow its shift: its errors differ between groups
    biased = trustml.audit(LogisticRegression().fit(x, y), data, checks=["fairness"],
                           n_boot=20, progress=False)
    finding = biased.finding("fairness.group_metrics.group")
    assert finding.status == "fail"
    assert finding.metrics["equalized_odds_difference"] > 0.20


def test_a_constant_multiclass_model_is_not_meaningful():
    data = _three_class_data()
    x, y, _ = data.take("train")
    constant = DummyClassifier(strategy="most_frequent").fit(x, y)
    result = trustml.audit(constant, data, checks=["fairness", "mitigation"], n_boot=20,
                           progress=False)
    finding = result.finding("fairness.group_metrics.group")
    gm = finding.metrics
    # everyone gets one class: no selection-rate or error-rate gap, so it would pass...
    assert gm["demographic_parity_difference"] == 0 and gm["equalized_odds_difference"] == 0
    assert finding.status == "not_meaningful" and finding.regulations == []
    assert finding.summary.startswith("Not meaningful: the model is no better than always "
                                      "answering")
    assert result.finding("fairness.mitigation").status == "not_run"


class ThreeClassKeywords(ModelAdapter):
    """neg / neu / pos from 'bad' / 'good'; a text naming a woman-group term gets 0.3 more
    probability of 'neg', taken from 'neu'."""

    input_kind, task = "text", "multiclass"
    WOMEN = LEXICON["gender"]["women"]

    def predict_proba(self, texts):
        out = []
        for t in texts:
            p = np.array([0.8, 0.1, 0.1]) if "bad" in t else np.array([0.1, 0.1, 0.8]) \
                if "good" in t else np.array([0.2, 0.6, 0.2])
            if any(w.lower() in t.lower() for w in self.WOMEN):
                p = p + np.array([0.3, -0.3, 0.0])
            out.append(p)
        return np.array(out)


def test_multiclass_probes_lead_with_the_most_affected_class():
    results = {r["category"]: r for r in identity_probe(ThreeClassKeywords(), n_boot=20,
                                                        positive=None, classes=LABELS)}
    gender = results["gender"]
    assert gender["class"] in ("neg", "neu")  # both move by 0.3; 'pos' does not move
    assert gender["by_class"]["neg"]["groups"] == pytest.approx(
        {"women": 0.5, "men": 0.2, "non-binary": 0.2})
    assert gender["by_class"]["neg"]["gap"] == pytest.approx(0.3)
    assert gender["by_class"]["pos"]["gap"] == pytest.approx(0.0)
    assert gender["gap_ci"] == pytest.approx([0.3, 0.3])
    assert results["religion"]["gap"] == pytest.approx(0.0)
    binary = identity_probe(ThreeClassKeywords(), n_boot=0, positive=0)
    assert binary[0]["gap"] == pytest.approx(0.3) and "by_class" not in binary[0]


def test_a_three_class_text_audit_runs_the_probes():
    rng = np.random.default_rng(0)
    words = rng.choice(["good", "bad", "plain"], 120)
    texts = [f"a {w} film number {i}" for i, w in enumerate(words)]
    labels = np.where(words == "good", "pos", np.where(words == "bad", "neg", "neu"))
    data = AuditData.from_texts(texts, labels, task="multiclass", seed=0)
    result = trustml.audit(ThreeClassKeywords(), data, checks=["identity_probes"], n_boot=20,
                           progress=False)
    finding = result.finding("fairness.identity_probes")
    assert finding.status == "fail"  # a 0.3 gap is above the 0.10 fail threshold
    assert "gender, on class 'neg'" in finding.summary or "on class 'neu'" in finding.summary
    assert finding.tables[0].columns[:3] == ["category", "class", "gap"]


def _tfidf(x, y):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    return make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=500)).fit(x, y)


def test_a_three_class_text_model_with_sensitive_columns_is_judged_by_group():
    from trustml.data import read_texts
    rng = np.random.default_rng(0)
    n = 600
    sex = rng.choice(["f", "m"], n)
    label = rng.integers(0, 3, n)
    # the women's neutral texts read like the negative ones: the model confuses them
    words = np.array(["awful", "plain", "great"])[label]
    words = np.where((sex == "f") & (label == 1) & (rng.random(n) < 0.6), "awful", words)
    frame = pd.DataFrame({"text": [f"a {w} film {i}" for i, w in enumerate(words)],
                          "label": np.array(LABELS)[label], "sex": sex})
    data = read_texts(frame, text="text", label="label", sensitive=["sex"], task="multiclass")
    x, y, _ = data.take("train")
    result = trustml.audit(_tfidf(x, y), data, checks=["fairness", "mitigation"], n_boot=20,
                           progress=False)
    finding = result.finding("fairness.group_metrics.sex")
    assert finding.status == "fail"
    assert finding.metrics["equalized_odds_class"] in ("neg", "neu")
    assert result.finding("fairness.mitigation").status == "not_run"


def test_the_three_class_tweets_reference_audits_end_to_end(tmp_path):
    from trustml.data import load_tweets
    data = load_tweets(n=600, neutral=True)
    assert data.task == "multiclass" and data.class_names == ["negative", "neutral", "positive"]
    x, y, _ = data.take("train")
    result = trustml.audit(_tfidf(x, y), data, checks=["performance", "identity_probes"],
                           n_boot=20, progress=False)
    probes = result.finding("fairness.identity_probes")
    assert probes.status in ("pass", "warn", "fail")
    assert {r["class"] for r in probes.metrics["categories"]} <= set(data.class_names)
    assert all(set(r["by_class"]) == set(data.class_names)
               for r in probes.metrics["categories"])
    html = result.to_html(tmp_path / "report.html")
    assert "Counterfactual identity probes" in html and "neutral" in html
    assert '"by_class"' in result.to_json()
