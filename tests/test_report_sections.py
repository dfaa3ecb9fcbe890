"""Calibration, confusion matrix, cross-validation, robustness, compute cost and missing values:
checked against hand-computed values, scikit-learn called directly, and known ground truth."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import make_column_transformer
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import trustml
from trustml.data import AuditData
from trustml.errors import ConfigError, DataError
from trustml.metrics import calibration
from trustml.robustness import (
    NOISE_SCALES,
    changed_rows,
    prediction_changes,
    tabular_variants,
    text_variants,
    typo,
)


def logistic_data(n=4000, seed=0):
    """Labels drawn from a logistic model of x: a logistic regression is calibrated on it."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    y = (rng.random(n) < 1 / (1 + np.exp(-(2 * x[:, 0] - x[:, 1])))).astype(int)
    group = rng.choice(["a", "b"], n)
    return AuditData.from_arrays(x, y, sensitive={"group": group}, seed=seed)


class Sharpened(BaseEstimator, ClassifierMixin):
    """A fitted classifier whose probabilities are pushed toward 0 and 1: overconfident."""

    def __init__(self, inner=None, power=4.0):
        self.inner, self.power = inner, power

    def fit(self, X, y):
        self.inner_ = clone(self.inner).fit(X, y)
        self.classes_ = self.inner_.classes_
        return self

    def predict_proba(self, X):
        p = self.inner_.predict_proba(X)[:, 1] ** self.power
        q = self.inner_.predict_proba(X)[:, 0] ** self.power
        return np.column_stack([q, p]) / (p + q)[:, None]

    def predict(self, X):
        return self.predict_proba(X).argmax(axis=1)


class SignOfFirst(BaseEstimator, ClassifierMixin):
    """Answers 1 exactly when the first column is positive."""

    def fit(self, X, y):
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        p = (np.asarray(X, dtype=float)[:, 0] > 0).astype(float)
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return self.predict_proba(X).argmax(axis=1)


# ---------------------------------------------------------------------------- calibration
def test_calibration_error_and_brier_by_hand():
    y = np.array([0, 1, 1, 1, 0])
    p1 = np.array([0.15, 0.15, 0.85, 0.85, 0.85])
    out = calibration(y, np.column_stack([1 - p1, p1]))
    # bin 0.1-0.2: predicted 0.15, observed 1/2; bin 0.8-0.9: predicted 0.85, observed 2/3
    assert out["ece"] == pytest.approx(2 / 5 * 0.35 + 3 / 5 * (0.85 - 2 / 3))
    assert out["brier"] == pytest.approx(brier_score_loss(y, p1))
    assert [b[2] for b in out["bins"]] == [2, 3]
    assert out["bins"][1][4] == pytest.approx(2 / 3)


def test_multiclass_calibration_is_top_label():
    y = np.array([0, 1, 2, 2])
    proba = np.array([[0.7, 0.2, 0.1], [0.75, 0.15, 0.1], [0.1, 0.2, 0.7], [0.2, 0.1, 0.7]])
    out = calibration(y, proba)
    # confidences 0.7, 0.75, 0.7, 0.7 all in bin 0.6-0.7 or 0.7-0.8; right answers: 1st, 3rd, 4th
    conf, right = proba.max(axis=1), np.array([1, 0, 1, 1])
    bins = {0.7: [0, 2, 3], 0.75: [1]}
    expected = sum(len(i) / 4 * abs(right[i].mean() - conf[i].mean()) for i in bins.values())
    assert out["ece"] == pytest.approx(expected)
    assert out["brier"] == pytest.approx(np.mean(np.sum((np.eye(3)[y] - proba) ** 2, axis=1)))


def test_calibrated_scores_sit_inside_the_noise_and_sharpened_ones_do_not():
    rng = np.random.default_rng(1)
    score = rng.random(3000)
    y = (rng.random(3000) < score).astype(int)
    honest = calibration(y, np.column_stack([1 - score, score]))
    assert honest["ece"] < 0.03 and honest["ece"] <= honest["ece_null_95"]
    sharp = score ** 3 / (score ** 3 + (1 - score) ** 3)
    skewed = calibration(y, np.column_stack([1 - sharp, sharp]))
    assert skewed["ece"] > 2 * skewed["ece_null_95"]


def test_calibration_check_warns_on_an_overconfident_model_only():
    data = logistic_data()
    x, y, _ = data.take("train")
    honest = trustml.audit(LogisticRegression().fit(x, y), data, checks=["calibration"],
                           progress=False)
    sharp = trustml.audit(Sharpened(LogisticRegression()).fit(x, y), data,
                          checks=["calibration"], progress=False)
    assert honest.finding("performance.calibration").status == "pass"
    found = sharp.finding("performance.calibration")
    assert found.status == "warn" and "recalibrate" in found.recommendation
    assert found.visuals[0].kind == "curve" and len(found.visuals[0].x) == len(found.tables[0].rows)
    assert "<polyline" in sharp.to_html()


def test_multiclass_audit_calibrates_the_top_label_of_the_model():
    from sklearn.datasets import load_digits
    digits = load_digits()
    data = AuditData.from_arrays(digits.data, digits.target, task="multiclass", seed=0)
    model = LogisticRegression(max_iter=2000).fit(*data.take("train")[:2])
    found = trustml.audit(model, data, checks=["calibration"], progress=False) \
        .finding("performance.calibration")
    x, y, _ = data.take("test")
    direct = calibration(y, model.predict_proba(x))
    assert found.metrics["model_ece"] == pytest.approx(direct["ece"])
    assert found.metrics["model_brier"] == pytest.approx(direct["brier"])
    assert "sure of its answer" in found.summary


# ---------------------------------------------------------------- confusion matrix and CV
def test_confusion_matrix_adds_up_to_the_accuracy():
    data = logistic_data(1000)
    model = LogisticRegression().fit(*data.take("train")[:2])
    found = trustml.audit(model, data, checks=["performance"], progress=False) \
        .finding("performance.metrics")
    matrix = np.array([row[1:] for row in found.tables[1].rows])
    assert matrix.sum() == len(data.test_idx)
    assert np.trace(matrix) / matrix.sum() == pytest.approx(found.metrics["model_accuracy"])


def test_cross_validation_matches_scikit_learn():
    data = logistic_data(1000)
    x, y, _ = data.take("train")
    found = trustml.audit(LogisticRegression().fit(x, y), data, checks=["cross_validation"],
                          seed=4, progress=False).finding("performance.cross_validation")
    expected = cross_val_score(LogisticRegression(), data.features, data.labels,
                               cv=StratifiedKFold(5, shuffle=True, random_state=4))
    assert [row[1] for row in found.tables[0].rows[:5]] == pytest.approx(expected, abs=1e-4)
    assert found.metrics["cv_accuracy_mean"] == pytest.approx(expected.mean())
    assert found.metrics["cv_accuracy_std"] == pytest.approx(expected.std(ddof=1))


def test_cross_validation_is_skipped_without_a_cheap_retrain_and_checks_its_folds():
    data = logistic_data(400)
    model = LogisticRegression().fit(*data.take("train")[:2])
    off = trustml.audit(model, data, checks=["cross_validation"], cv_folds=0, progress=False)
    assert off.finding("performance.cross_validation").status == "not_run"
    assert "Not run" in off.finding("performance.cross_validation").summary
    with pytest.raises(ConfigError, match="^cv_folds: 1 is not 0 or an integer of 2 or more"):
        trustml.audit(model, data, cv_folds=1, progress=False)


def test_cross_validation_folds_no_more_than_the_smallest_class_allows():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    y = np.zeros(200, dtype=int)
    y[:9] = 1  # 9 positives: 7 in training with the default split, 2 held out
    data = AuditData.from_arrays(x, y, seed=0)
    model = LogisticRegression().fit(*data.take("train")[:2])
    found = trustml.audit(model, data, checks=["cross_validation"], progress=False) \
        .finding("performance.cross_validation")
    assert found.metrics["folds"] == 5  # 9 positives over all rows allow 5 folds
    few = AuditData.from_arrays(x, np.r_[[1, 1, 1], np.zeros(197, dtype=int)], seed=0,
                                test_size=0.02)
    found = trustml.audit(model, few, checks=["cross_validation"], progress=False) \
        .finding("performance.cross_validation")
    assert found.metrics["folds"] == 3 and "3 folds, not 5: the smallest class has only 3" \
        in found.summary


def test_a_dp_trained_scikit_learn_model_is_not_refitted_without_dp():
    """Its default retraining is non-private: k-fold and the canary audit would measure another
    model, so they say why they did not run (and the audit does not crash)."""
    from trustml.privacy import PrivacyRecord
    data = logistic_data(400)
    model = LogisticRegression().fit(*data.take("train")[:2])
    record = PrivacyRecord(epsilon=1.0, delta=1e-5, target_epsilon=1.0, accountant="prv",
                           noise_multiplier=1.0, sample_rate=0.1, steps=10, epochs=1,
                           max_grad_norm=1.0, n_train=300, batch_size=30, lr=0.1)
    result = trustml.audit(model, data, privacy=record, privacy_depth="thorough",
                           checks=["cross_validation", "empirical_epsilon"], progress=False)
    found = result.finding("performance.cross_validation")
    assert found.status == "not_run" and "default retraining of a scikit-learn model is not " \
        "private" in found.summary
    assert [f.id for f in result.findings] == ["performance.cross_validation",
                                               "empirical_epsilon.not_run"]
    assert result.finding("empirical_epsilon.not_run").metrics["needs"] == ["retrain_as_audited"]


def test_default_folds_follow_the_cost_of_retraining():
    from trustml import Settings
    from trustml.checks import AuditContext
    from trustml.checks.performance import _folds
    from trustml.models import MLPClassifier, wrap
    data = logistic_data(200)
    mlp = wrap(MLPClassifier(2))

    def context(cv_folds=None, **kwargs):
        return AuditContext.of(Settings(cv_folds=cv_folds), data=data, model=mlp, thresholds={},
                               lexicon={}, templates=[], n_boot=0, **kwargs)

    def retrain(X, y, *, private=False, seed=0):
        return mlp

    assert _folds(context(retrain=retrain, training={"model": {"seconds": 2.0}})) == (5, "")
    k, why = _folds(context(retrain=retrain, training={"model": {"seconds": 20.0}}))
    assert k == 0 and "about 100 s, over the 60 s budget" in why
    assert _folds(context(retrain=retrain))[0] == 0  # cost unknown
    assert _folds(context(retrain=retrain, cv_folds=3))[0] == 3
    assert "no retrain function" in _folds(context(cv_folds=3))[1]


# ----------------------------------------------------------------------------- robustness
def test_typo_swaps_two_adjacent_letters_of_one_word():
    rng = np.random.default_rng(0)
    for text in ["The movie was wonderful!", "brilliant acting, dull plot"]:
        out = typo(text, rng)
        diff = [i for i, (a, b) in enumerate(zip(text, out)) if a != b]
        assert sorted(out) == sorted(text) and len(diff) == 2 and diff[1] == diff[0] + 1
    assert typo("ok, no", rng) == "ok, no"  # no word of four letters
    assert typo("Pool", rng) == "Pool"  # its only inner pair is "oo"
    assert {typo("salt", np.random.default_rng(i)) for i in range(20)} == {"slat"}  # ends kept
    variants = text_variants(["Great film, really. :)"], rng)
    assert variants["lower case"] == ["great film, really. :)"]
    assert variants["no commas or full stops"] == ["Great film really :)"]


def test_noise_flip_rate_matches_the_gaussian_expectation():
    # x ~ U(-1, 1), answer = sign(x): noise of sd s flips P(|noise| crosses |x|), whose mean
    # over x is s * E|Z| / 2 / 1 = s / sqrt(2 pi) for s << 1.
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(5000, 1))
    data = AuditData.from_arrays(x, (x[:, 0] > 0).astype(int), test_size=0.4, seed=0)
    found = trustml.audit(SignOfFirst().fit(x, None), data, checks=["robustness"],
                          progress=False).finding("robustness.perturbations")
    spread = data.take("train")[0]["x0"].std()
    for row, scale in zip(found.tables[0].rows, NOISE_SCALES):
        expected = 2 * scale * spread * norm.pdf(0) / 2  # interval length 2, density 1/2
        assert row[1] == 1000  # every sampled row altered
        assert row[2] == pytest.approx(expected, abs=3 * np.sqrt(expected / 1000))  # 3 s.e.
    assert found.status == "pass"
    strict = trustml.audit(SignOfFirst().fit(x, None), data, checks=["robustness"],
                           thresholds={"max_flip_rate": 0.005}, progress=False)
    assert strict.finding("robustness.perturbations").status == "warn"


def test_noise_keeps_integer_columns_integers_within_their_range():
    reference = pd.DataFrame({"count": np.array([0, 100, 200] * 50, dtype=np.uint8),
                              "x": np.linspace(-1, 1, 150)})
    x = pd.DataFrame({"count": np.zeros(500, dtype=np.uint8), "x": np.zeros(500)})
    for noisy in tabular_variants(x, np.random.default_rng(0), reference).values():
        # noise of sd 4 to 8 around 0: negatives clip to 0 instead of wrapping to 255
        assert noisy["count"].dtype == np.uint8 and noisy["count"].max() <= 200
        assert (noisy["count"] > 0).mean() > 0.3
        assert noisy["x"].std() > 0


def test_prediction_changes_count_only_the_inputs_a_perturbation_altered():
    x = pd.DataFrame({"v": [-2.0, -1.0, 1.0, 2.0]})
    variants = {"sign of two": pd.DataFrame({"v": [2.0, -1.0, 1.0, -2.0]}),  # rows 0, 3 flip
                "nothing": x.copy()}
    altered = {n: changed_rows(x, v) for n, v in variants.items() if changed_rows(x, v).any()}

    def predict(frame):
        p = (frame["v"].to_numpy() > 0).astype(float)
        return np.column_stack([1 - p, p])

    assert list(altered) == ["sign of two"] and altered["sign of two"].tolist() == [
        True, False, False, True]
    out = prediction_changes(predict, x, variants, altered, regression=False)
    assert out == {"sign of two": (1.0, 1.0)}  # both altered rows flip, from 1 to 0
    values = prediction_changes(lambda f: f["v"].to_numpy(), x, variants, altered,
                                regression=True)
    assert np.isnan(values["sign of two"][0]) and values["sign of two"][1] == 4.0


def test_regression_robustness_reports_how_far_predictions_move():
    # y = 3 x: noise of sd s moves the prediction by 3 |noise|, on average 3 s sqrt(2 / pi)
    from sklearn.linear_model import LinearRegression
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(3000, 1))
    data = AuditData.from_arrays(x, 3 * x[:, 0], task="regression", test_size=0.4, seed=0)
    model = LinearRegression().fit(*data.take("train")[:2])
    found = trustml.audit(model, data, checks=["robustness"], progress=False) \
        .finding("robustness.perturbations")
    spread = data.take("train")[0]["x0"].std()
    assert found.status == "info" and found.thresholds == {}  # nothing to gate a value on
    for row, scale in zip(found.tables[0].rows, NOISE_SCALES):
        expected = 3 * scale * spread * np.sqrt(2 / np.pi)
        assert row[2] == pytest.approx(expected, rel=0.1)  # 1000 rows: s.e. about 2%


def test_text_perturbations_flip_only_what_the_model_reads():
    texts = ["Good film.", "Bad film!", "GOOD acting.", "bad acting?"] * 60
    labels = [1, 0, 1, 0] * 60
    data = AuditData.from_texts(texts, labels, seed=0)
    tr, ytr, _ = data.take("train")
    folded = make_pipeline(CountVectorizer(), LogisticRegression()).fit(tr, ytr)
    cased = make_pipeline(CountVectorizer(lowercase=False), LogisticRegression()).fit(
        ["Good", "Bad", "GOOD", "good", "bad"], [1, 0, 1, 0, 1])  # case decides the answer
    rates = {}
    for name, model in {"folded": folded, "cased": cased}.items():
        found = trustml.audit(model, data, checks=["robustness"], progress=False) \
            .finding("robustness.perturbations")
        rates[name] = {row[0]: row[1:3] for row in found.tables[0].rows}
    capitalised = sum(t != t.lower() for t in data.take("test")[0])
    assert rates["cased"]["lower case"] == [capitalised, 1.0]  # every altered text flips
    # a model that folds case and ignores punctuation cannot be moved by either
    assert rates["folded"]["lower case"] == [capitalised, 0.0]
    assert rates["folded"]["no commas or full stops"][1] == 0.0


# ------------------------------------------------------------------------------- compute
def test_compute_cost_from_training_records():
    data = logistic_data(400)
    model = LogisticRegression().fit(*data.take("train")[:2])
    training = {"model": {"seconds": 2.0, "examples": 100, "epochs": 3},
                "baseline": {"seconds": 0.5, "examples": 100, "epochs": 3}}
    result = trustml.audit(model, data, baseline=model, training=training, checks=["compute"],
                           progress=False)
    found = result.finding("compute.cost")
    assert found.metrics["model_training_examples_per_second"] == pytest.approx(150)
    assert found.metrics["baseline_training_examples_per_second"] == pytest.approx(600)
    assert found.metrics["training_time_ratio"] == pytest.approx(4)
    assert found.metrics["model_inference_rows_per_second"] > 0
    hardware = result.provenance["hardware"]
    assert hardware["cpu_cores"] >= 1 and found.tables[1].rows[2] == ["cpu_cores",
                                                                       hardware["cpu_cores"]]
    assert set(result.provenance["seconds"]) == {"compute"}


# ------------------------------------------------------------------------ missing values
def frame_with_gaps():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=200), "c": rng.choice(["u", "v"], 200),
                          "g": rng.choice(["a", "b"], 200), "y": rng.integers(0, 2, 200)})
    frame.loc[[3, 7, 11], "x"] = np.nan
    frame.loc[5, "x"] = np.inf
    frame.loc[[7, 20], "c"] = None
    frame.loc[[30, 31], "g"] = None
    frame["y"] = frame["y"].astype(float)
    frame.loc[40, "y"] = np.nan
    return frame


def test_missing_values_are_refused_or_dropped_and_counted():
    frame = frame_with_gaps()
    with pytest.raises(DataError, match="^features: column 'x' has 4 missing or infinite values; "
                       "impute them, or pass missing='drop'"):
        AuditData.from_frame(frame, label="y", sensitive="g")
    with pytest.raises(DataError, match="^missing: 'skip' is not 'error' or 'drop'"):
        AuditData.from_frame(frame, label="y", sensitive="g", missing="skip")
    data = AuditData.from_frame(frame, label="y", sensitive="g", missing="drop")
    # rows 3, 5, 7, 11 (x), 20 (c), 40 (label); row 7 counts once
    assert data.missing == {"columns": {"x": 4, "c": 2, "y": 1, "g": 2}, "dropped_rows": 6}
    assert data.n_rows == 194 and (data.sensitive["g"] == "missing").sum() == 2


def test_missing_values_finding_warns_when_many_rows_are_dropped():
    frame = frame_with_gaps()
    data = AuditData.from_frame(frame, label="y", sensitive="g", missing="drop")
    x, y, _ = data.take("train")
    encode = make_column_transformer((OneHotEncoder(), ["c"]), remainder="passthrough")
    model = make_pipeline(encode, LogisticRegression()).fit(x, y)
    found = trustml.audit(model, data, checks=["missing_values"], progress=False) \
        .finding("data_quality.missing")
    assert found.status == "info" and found.metrics["dropped_rows"] == 6  # 6 / 200 = 3% < 5%
    handling = {row[0]: row[3] for row in found.tables[0].rows}
    assert handling == {"g": "kept as the group 'missing'", "x": "row left out",
                        "c": "row left out", "y": "row left out"}
    strict = trustml.audit(model, data, checks=["missing_values"], progress=False,
                           thresholds={"max_dropped_share": 0.01})
    assert strict.finding("data_quality.missing").status == "warn"
    clean = logistic_data(200)
    assert trustml.audit(LogisticRegression().fit(*clean.take("train")[:2]), clean,
                         checks=["missing_values"], progress=False) \
        .finding("data_quality.missing").status == "pass"


def test_missing_value_counts_name_columns_as_the_user_knows_them():
    frame = frame_with_gaps()
    # a sensitive column that is also an input: its gaps drop rows like any input's
    both = AuditData.from_frame(frame, label="y", sensitive=["c"], features=["x", "c"],
                                missing="drop")
    encode = make_column_transformer((OneHotEncoder(), ["c"]), remainder="passthrough")
    model = make_pipeline(encode, LogisticRegression()).fit(*both.take("train")[:2])
    found = trustml.audit(model, both, checks=["missing_values"], progress=False) \
        .finding("data_quality.missing")
    assert {row[0]: row[3] for row in found.tables[0].rows}["c"] == "row left out"
    # from_arrays: the label column is "label", not an internal name
    y = np.array([0, 1] * 50, dtype=float)
    y[3] = np.nan
    data = AuditData.from_arrays(np.arange(200.0).reshape(100, 2), y, missing="drop")
    assert data.missing == {"columns": {"label": 1}, "dropped_rows": 1}
