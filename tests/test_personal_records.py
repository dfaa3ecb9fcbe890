"""Which personal records leak: exposure by hand, and the finding on a table and on texts with
planted personal data, redacted."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier

import trustml
from trustml.data import AuditData, read_texts
from trustml.privacy._exposure import exposure


def test_exposure_by_hand():
    """Non-members score 0..99: at 1% FPR the threshold is their 99th percentile taken upward,
    99 (a member is exposed above it: no non-member is). Personal members score 99.5, 120, 50
    and 10; others 150 and 20: exposed 2 of 4 against 1 of 2."""
    scores = np.r_[np.arange(100.0), 99.5, 120, 50, 10, 150, 20]
    is_member = np.r_[np.zeros(100, bool), np.ones(6, bool)]
    personal = np.r_[np.zeros(100, bool), [True] * 4, [False] * 2]
    out = exposure(scores, is_member, personal, n_boot=0)
    assert out["threshold"] == 99.0
    assert out["personal"]["exposed_share"] == 0.5 and out["others"]["exposed_share"] == 0.5
    assert out["personal"]["auc"] == pytest.approx((100 + 100 + 50.5 + 10.5) / 400)  # ties count half
    assert out["difference"] is None  # fewer than 10 members of each kind


def _table(n=1600, seed=0):
    """Four inputs, a label that is 30% noise, and a notes column (never an input) that holds
    an e-mail address or a phone number exactly on the rows whose label was flipped: the rows
    a forest memorises, so the most exposed ones."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    flipped = rng.random(n) < 0.3
    y = (x[:, 0] > 0).astype(int) ^ flipped
    notes = np.where(flipped, [f"reach me at person{i}@example.com or +44 20 7946 {i % 10000:04d}"
                               for i in range(n)], "no remarks")
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"]).assign(y=y, notes=notes)
    return AuditData.from_frame(frame, label="y", features=["a", "b", "c", "d"], seed=seed)


def test_a_table_with_planted_personal_data_names_the_exposed_records_redacted(tmp_path):
    data = _table()
    x, y, _ = data.take("train")
    model = RandomForestClassifier(n_estimators=50, random_state=0).fit(x, y)
    result = trustml.audit(model, data, checks=["membership_inference", "personal_records"],
                           progress=False, n_boot=100)
    finding = result.finding("privacy.personal_records")
    m = finding.metrics
    assert m["rows_with_personal_data"] == m["personal"]["members"] > 0
    assert m["personal"]["exposed_share"] > m["others"]["exposed_share"]
    assert finding.status == "warn" and m["difference_ci"][0] > 0
    assert {"GDPR Art. 25", "GDPR Art. 32", "EU AI Act Art. 10"} <= set(finding.regulations)
    listed = finding.tables[0]
    assert listed.rows and all(r[1] == "an e-mail address, a phone number" or
                               "e-mail" in r[1] for r in listed.rows)
    assert all(r[2] == "notes" for r in listed.rows)  # where, never the value
    result.to_json(tmp_path / "r.json")
    result.to_html(tmp_path / "r.html")
    for written in ("r.json", "r.html"):
        text = (tmp_path / written).read_text()
        assert "@example.com" not in text and "7946" not in text


def test_texts_with_planted_personal_data_are_listed_redacted():
    rng = np.random.default_rng(1)
    n = 800
    label = rng.integers(0, 2, n)
    flipped = rng.random(n) < 0.3
    words = np.where(label ^ flipped, "lovely film", "awful film")
    texts = [f"{w} {i}" + (f" mail me: fan{i}@example.org" if f else "")
             for i, (w, f) in enumerate(zip(words, flipped))]
    frame = pd.DataFrame({"text": texts, "label": np.where(label, "pos", "neg")})
    data = read_texts(frame, text="text", label="label", positive_label="pos")
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    x, y, _ = data.take("train")
    model = make_pipeline(TfidfVectorizer(), RandomForestClassifier(n_estimators=30,
                                                                     random_state=0)).fit(x, y)
    finding = trustml.audit(model, data, checks=["personal_records"], progress=False,
                            privacy_depth="quick", n_boot=50).finding("privacy.personal_records")
    assert finding.metrics["personal"]["members"] > 0 and finding.tables
    for row in finding.tables[0].rows:
        assert "<EMAIL_ADDRESS>" in row[2] and "@example.org" not in row[2]
    assert "@example.org" not in json.dumps(finding.to_dict())
