"""Audits of large data: the steps that sample state their sizes, small data is unchanged, and
reference models trained in parallel equal those trained one after another."""

import os

import numpy as np
import pytest

import trustml
import trustml.checks.fairness as fairness_checks
import trustml.explain._tabular as tabular
from trustml.errors import ConfigError
from trustml.models import wrap
from trustml.privacy import membership_candidates, reference_models
from trustml.privacy._candidates import PARALLEL_MIN_ROWS, reference_jobs


def test_reference_models_in_parallel_equal_those_trained_in_turn(fitted):
    from joblib import parallel_config
    data, model = fitted
    _, _, pool = membership_candidates(data.take("train"), data.take("test"),
                                       max_candidates=200, seed=3)
    retrain = wrap(model).retrainer()
    alone = reference_models(retrain, pool, 3, seed=3, n_jobs=1)
    # The parallel path (halves and seeds drawn first, results in order) on threads: no
    # process start-up in a unit test; loky and cluster backends run the same calls.
    with parallel_config(backend="threading"):
        together = reference_models(retrain, pool, 3, seed=3, n_jobs=2)
    x = pool[0].iloc[:50]
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))
    assert not np.array_equal(alone[0].predict_proba(x), alone[1].predict_proba(x))


def test_reference_jobs_default_env_and_limits(monkeypatch):
    monkeypatch.delenv("TRUSTML_N_JOBS", raising=False)
    assert reference_jobs(None, 4, PARALLEL_MIN_ROWS - 1) == 1  # small pool: in this process
    assert reference_jobs(None, 4, PARALLEL_MIN_ROWS) == max(min(4, os.cpu_count() // 2), 1)
    assert reference_jobs(3, 2) == 2 and reference_jobs(-1, 64) >= 1
    monkeypatch.setenv("TRUSTML_N_JOBS", "3")
    assert reference_jobs(None, 4, 10) == 3


def test_n_jobs_zero_is_refused_by_name(fitted):
    data, model = fitted
    with pytest.raises(ConfigError, match="n_jobs"):
        trustml.audit(model, data, checks=["privacy"], n_jobs=0, progress=False)


def test_mitigation_states_its_samples_and_is_unchanged_below_them(fitted, monkeypatch):
    from trustml.data import AuditData, sample_rows
    data, model = fitted
    frame = data.features.assign(colour=data.sensitive["colour"],
                                 released=[data.class_names[i] for i in data.labels])
    small = AuditData.from_frame(frame.sample(n=800, random_state=0), label="released",
                                 sensitive=["colour"], positive_label="Yes")
    # below the sizes every row is used, as before (tests/test_mitigation.py's results)
    assert sample_rows(fairness_checks.MITIGATION_FIT_ROWS,
                       fairness_checks.MITIGATION_FIT_ROWS, 0) is None
    drawn = sample_rows(1000, 10, 3)  # sorted, distinct, and said as it was drawn
    assert drawn.record() == {"rows": 10, "of": 1000, "seed": 3}
    assert list(drawn.positions) == sorted(set(drawn.positions.tolist()))
    monkeypatch.setattr(fairness_checks, "MITIGATION_FIT_ROWS", 200)
    monkeypatch.setattr(fairness_checks, "MITIGATION_TEST_ROWS", 150)
    part = trustml.audit(model, small, checks=["mitigation"], progress=False)
    finding = part.finding("fairness.mitigation")
    assert finding.status in ("info", "not_meaningful"), finding.summary
    n_train, n_test = len(small.train_idx), len(small.test_idx)
    for r in finding.metrics.values():
        assert r["sampled"] == {"train": {"rows": 200, "of": n_train, "seed": 0},
                                "test": {"rows": 150, "of": n_test, "seed": 1}}
    assert f"random 200 of the {n_train:,} training rows" in finding.summary
    assert f"random 150 of the {n_test:,} held-out rows" in finding.summary


def test_linear_shap_mean_taken_in_chunks_is_the_same(fitted, monkeypatch):
    data, model = fitted
    x, _, _ = data.take("train")
    rows = data.take("test")[0].iloc[:20]
    whole = tabular.shap_tabular(wrap(model), x, rows)
    monkeypatch.setattr(tabular, "MEAN_CHUNK", 700)
    chunked = tabular.shap_tabular(wrap(model), x, rows)
    np.testing.assert_allclose(chunked.values, whole.values, rtol=0, atol=1e-12)
    assert chunked.baseline == whole.baseline == f"the mean of all {len(x)} background rows (exact)"


def test_cross_validation_states_its_sample(fitted, monkeypatch):
    import trustml.checks.performance as performance
    data, model = fitted
    monkeypatch.setattr(performance, "CV_MAX_ROWS", 1000)
    finding = trustml.audit(model, data, checks=["cross_validation"], cv_folds=2,
                            progress=False).finding("performance.cross_validation")
    assert finding.metrics["sampled"] == {"rows": 1000, "of": data.n_rows, "seed": 0}
    assert f"1,000 (a random sample of the {data.n_rows:,}) rows" in finding.summary


def test_group_metrics_counted_on_large_data_equal_metricframe(monkeypatch):
    import pandas as pd

    import trustml.fairness._group_metrics as gm
    from trustml.fairness import group_labels, group_metrics, regression_group_metrics
    rng = np.random.default_rng(0)
    n = 3000
    sens = pd.DataFrame({"sex": rng.choice(["f", "m"], n),
                         "race": rng.choice(["a", "b", "c", "d"], n, p=[.6, .3, .09, .01])})
    y = rng.integers(0, 2, n)
    score = np.clip(0.3 * y + rng.uniform(0, 0.7, n), 0, 1)
    pred = (score > 0.5).astype(int)
    estimate = score + rng.normal(0, .1, n)  # a regression model's answers
    expected = sens.astype(str).agg(" & ".join, axis=1).to_numpy()  # the row-by-row labels
    np.testing.assert_array_equal(group_labels(sens).to_numpy(), expected)
    frames = [group_metrics(y, pred, s, y_score=score, n_boot=20) for s in (sens["race"], sens)]
    frames.append(regression_group_metrics(score, estimate, sens["race"], n_boot=20))
    monkeypatch.setattr(gm, "COUNTED_ROWS", 10)
    counted = [group_metrics(y, pred, s, y_score=score, n_boot=20) for s in (sens["race"], sens)]
    counted.append(regression_group_metrics(score, estimate, sens["race"], n_boot=20))

    def same(a, b):
        if isinstance(a, dict):
            assert a.keys() == b.keys()
            return all(same(a[k], b[k]) for k in a)
        if isinstance(a, list):
            return len(a) == len(b) and all(same(x, z) for x, z in zip(a, b))
        if isinstance(a, float) and isinstance(b, float):
            return bool(np.isclose(a, b, rtol=1e-12, atol=1e-12))
        return a == b
    for a, b in zip(frames, counted):
        assert same(a, b)
