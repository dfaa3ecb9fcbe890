import json

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier

import trustml
from trustml.data import AuditData, k_anonymity, redact, scan_pii, split_overlap
from trustml.models import MLPClassifier, wrap
from trustml.privacy import (
    PrivacyLedger,
    confidence_scores,
    epsilon_lower_bound,
    make_canaries,
    membership_candidates,
    membership_inference,
    one_run_audit,
    train_private,
)
from trustml.privacy._canary import p_value


@pytest.fixture(scope="module")
def noisy():
    """Labels that are 30% noise: only a model that memorises gets its training rows right."""
    X, y = make_classification(n_samples=2400, n_features=8, n_informative=4, flip_y=0.3,
                               random_state=0)
    return X.astype(np.float32)[:1200], y[:1200], X.astype(np.float32)[1200:], y[1200:]


def test_an_overfit_model_is_caught(noisy):
    x, y, xt, yt = noisy
    forest = wrap(RandomForestClassifier(n_estimators=50, random_state=0).fit(x, y))
    out = membership_inference(forest, (x[:600], y[:600]), (xt[:600], yt[:600]), n_boot=200)
    auc, (low, high) = out["confidence"]["auc"], out["confidence"]["auc_ci"]
    assert low > 0.6 and low <= auc <= high
    assert out["confidence"]["tpr_at_0.01_fpr"] > 0.01  # better than chance at low FPR


def test_a_dp_model_at_small_epsilon_is_not(noisy):
    x, y, xt, yt = noisy
    torch.manual_seed(0)
    model, record = train_private(wrap(MLPClassifier(8, hidden=(32,))), x, y,
                                  target_epsilon=0.5, epochs=10, batch_size=100, lr=1e-2,
                                  seed=0, progress=False)  # seeded: the same noise each run
    out = membership_inference(model, (x[:600], y[:600]), (xt[:600], yt[:600]), n_boot=200)
    low, high = out["confidence"]["auc_ci"]
    assert low <= 0.5 <= high


def test_audit_runs_lira_with_reference_models_for_sklearn(noisy):
    x, y, xt, yt = noisy
    data = AuditData.from_arrays(np.r_[x, xt], np.r_[y, yt], test_size=0.5, seed=0)
    xs, ys, _ = data.take("train")
    forest = RandomForestClassifier(n_estimators=30, random_state=0).fit(xs, ys)
    result = trustml.audit(forest, data, checks=["membership_inference"], n_boot=50,
                           progress=False)
    finding = result.finding("privacy.membership_inference")
    assert finding.metrics["lira"]["reference_models"] == 4
    assert finding.metrics["lira"]["auc_ci"][0] > 0.5
    assert finding.status in ("warn", "fail")
    # The attacked rows are recorded: scoring them again gives the reported AUC.
    from sklearn.metrics import roc_auc_score
    rows = json.loads(json.dumps(finding.metrics["rows"]))
    xt_, yt_, _ = data.take("test")
    x_attacked = pd.concat([xs.iloc[rows["members"]], xt_.iloc[rows["non_members"]]])
    y_attacked = np.r_[ys[rows["members"]], yt_[rows["non_members"]]]
    truth = np.r_[np.ones(len(rows["members"])), np.zeros(len(rows["non_members"]))]
    scores = confidence_scores(wrap(forest), x_attacked, y_attacked)
    assert roc_auc_score(truth, scores) == pytest.approx(finding.metrics["confidence"]["auc"],
                                                         abs=1e-12)


def test_membership_candidates_are_as_many_each_and_the_rest_is_the_pool():
    x = pd.DataFrame({"row": np.arange(10)})
    y = np.arange(10) % 2
    sensitive = pd.DataFrame({"g": list("ab") * 5})
    train = (x.iloc[:7], y[:7], sensitive.iloc[:7])
    test = (x.iloc[7:], y[7:], sensitive.iloc[7:])
    members, non_members, (pool_x, pool_y) = membership_candidates(train, test,
                                                                   max_candidates=2, seed=0)
    drawn = {*members[0]["row"], *non_members[0]["row"]}
    assert len(members[0]) == len(non_members[0]) == 2 and len(drawn) == 4
    assert set(members[0]["row"]) <= set(range(7))
    assert set(non_members[0]["row"]) <= {7, 8, 9}
    assert sorted(pool_x["row"]) == sorted(set(range(10)) - drawn)
    assert (pool_y == pool_x["row"].to_numpy() % 2).all()  # labels follow their rows
    assert (members[1] == members[0]["row"].to_numpy() % 2).all()


def test_p_value_and_lower_bound_by_hand():
    # delta 0: the p-value is the binomial tail of randomized response at epsilon
    q = 1 / (1 + np.exp(-1.0))
    assert p_value(1000, 80, 60, 1.0, 0.0) == pytest.approx(stats.binom.sf(59, 80, q))
    # 100 guesses, all right: P[Bin(100, q) = 100] = q^100 < 0.05 <=> q > 0.05 ** (1 / 100)
    q_min = 0.05 ** (1 / 100)
    assert epsilon_lower_bound(1000, 100, 100) == pytest.approx(np.log(q_min / (1 - q_min)),
                                                                rel=1e-6)
    assert epsilon_lower_bound(1000, 100, 50) == 0.0  # coin flipping proves nothing
    assert epsilon_lower_bound(1000, 100, 100, delta=1e-5) < epsilon_lower_bound(1000, 100, 100)


def test_one_run_audit_bounds_a_memorising_model_and_respects_a_dp_claim(noisy):
    x, y, xt, yt = noisy
    canaries = make_canaries(xt, yt, 300, 2, seed=0)

    def memorise(X, Y):
        return wrap(RandomForestClassifier(n_estimators=30, random_state=0).fit(X, Y))

    loose = one_run_audit(memorise, x, y, canaries, delta=1e-5)
    assert loose["epsilon_lower_bound"] > 1.0 and loose["canary_auc"] > 0.8

    def private(X, Y):
        torch.manual_seed(0)
        return train_private(wrap(MLPClassifier(8, hidden=(32,))), X, Y, target_epsilon=1.0,
                             delta=1e-5, epochs=5, batch_size=100, lr=1e-2, progress=False,
                             ledger=PrivacyLedger())[0]

    tight = one_run_audit(private, x, y, canaries, delta=1e-5)
    assert tight["epsilon_lower_bound"] <= 1.0


def test_planted_personal_data_is_found_and_only_shown_redacted():
    rng = np.random.default_rng(0)
    words = ["the film", "was", "great", "boring", "a plot", "and", "acting", "fine"]
    texts = [" ".join(rng.choice(words, 8)) for _ in range(200)]
    planted = {3: "mail me at jane.doe@example.com today",
               50: "my card 4111 1111 1111 1111 was charged",
               120: "call +1 (415) 555-0132 after six", 160: "server 192.168.10.25 is down"}
    for i, t in planted.items():
        texts[i] = t
    labels = rng.integers(0, 2, 200)
    data = AuditData.from_texts(texts, labels, seed=0)
    result = trustml.audit(wrap(RandomForestClassifier().fit(np.zeros((2, 1)), [0, 1])), data,
                           checks=["personal_data"], progress=False)
    finding = result.finding("privacy.personal_data")
    assert finding.status == "warn"
    counts = finding.metrics["counts"]
    assert counts == {"EMAIL_ADDRESS": 1, "CREDIT_CARD": 1, "PHONE_NUMBER": 1, "IP_ADDRESS": 1}
    report = result.to_json() + result.to_html()
    for secret in ("jane.doe@example.com", "4111 1111 1111 1111", "555-0132", "192.168.10.25"):
        assert secret not in report
    shown = json.loads(result.to_json())["findings"][0]["metrics"]["examples"]
    assert any("<EMAIL_ADDRESS>" in e["text"] for e in shown)


def test_redact_merges_overlapping_matches():
    text = "write to jane.doe@example.com now"
    matches = scan_pii([text])
    assert [m.entity for m in matches] == ["EMAIL_ADDRESS"]
    assert redact(text, matches) == "write to <EMAIL_ADDRESS> now"


def test_k_anonymity_by_hand():
    frame = pd.DataFrame({"age": [30, 30, 30, 40, 40, 50], "zip": ["a", "a", "a", "b", "b", "c"],
                          "x": range(6)})
    out = k_anonymity(frame, ["age", "zip"], k=3)
    assert out["k"] == 1 and out["unique_rows"] == 1
    assert out["share_below_k"] == pytest.approx(3 / 6)  # the 40/b pair and the 50/c row
    with pytest.raises(trustml.ConfigError, match="^quasi_identifiers: "):
        k_anonymity(frame, ["postcode"])


def test_duplicates_between_splits_by_hand():
    x = pd.DataFrame({"a": [1, 2, 3, 1], "b": ["u", "v", "w", "u"]})
    y = np.array([0, 1, 0, 0])
    xt = pd.DataFrame({"a": [1, 2, 9], "b": ["u", "v", "z"]})
    yt = np.array([0, 0, 1])  # (1, u, 0) is in training; (2, v) has another label there
    out = split_overlap(x, y, xt, yt)
    assert out["train_duplicates"] == 1 and out["test_rows_in_train"] == 1
    texts = split_overlap(["A  good film", "bad"], [1, 0], ["a good FILM", "fine"], [1, 1])
    assert texts["test_rows_in_train"] == 1
