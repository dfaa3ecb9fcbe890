"""RMIA (offline), beside offline LiRA: a case by hand, a memorising model, a blind model."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression

from trustml.errors import ConfigError
from trustml.models import wrap
from trustml.privacy import (
    membership_candidates,
    membership_inference,
    membership_population,
    reference_models,
    rmia_scores,
)
from trustml.privacy._rmia import dominance


class Table:
    """A classifier whose probability of label 1 for the row whose input is ``i`` is ``p[i]``."""

    task = "binary"

    def __init__(self, p):
        self.p = np.asarray(p, dtype=float)

    def predict_proba(self, X):
        p = self.p[X["row"].to_numpy()]
        return np.c_[1 - p, p]


class Blind:
    """A classifier that ignores its inputs: 70% for label 1, always."""

    task = "binary"

    def predict_proba(self, X):
        return np.tile([0.3, 0.7], (len(X), 1))


# Rows 0-3 are attacked (0 and 2 members), rows 4-8 the population; every label is 1.
TARGET = Table([0.9, 0.6, 0.5, 0.2, 0.8, 0.3, 0.56, 0.9, 0.4])
REFS = [Table([0.5, 0.2, 0.6, 0.2, 0.6, 0.5, 0.4, 0.8, 0.4]),
        Table([0.3, 0.2, 0.4, 0.2, 0.4, 0.1, 0.4, 0.6, 0.4])]
ROWS = pd.DataFrame({"row": np.arange(9)})
ONES = np.ones(9, dtype=int)
POPULATION = (ROWS.iloc[4:], ONES[4:])

# By hand, a = 0.5. Pr(x) = (1.5 * mean_ref + 0.5) / 2 = 0.75 * mean_ref + 0.25:
#   means 0.4, 0.2, 0.5, 0.2 -> Pr(x) 0.55, 0.4, 0.625, 0.4
#   LR(x) = 0.9/0.55 = 1.636, 0.6/0.4 = 1.5, 0.5/0.625 = 0.8, 0.2/0.4 = 0.5
# Population rows trained about half the references: Pr(z) = mean_ref = .5 .3 .4 .7 .4
#   LR(z) = 0.8/0.5 = 1.6, 0.3/0.3 = 1, 0.56/0.4 = 1.4, 0.9/0.7 = 1.286, 0.4/0.4 = 1
# gamma 1: 1.636 beats all 5; 1.5 beats 1, 1.4, 1.286, 1 (4 of 5); 0.8 and 0.5 beat none.
BY_HAND = [1.0, 0.8, 0.0, 0.0]


def test_scores_equal_the_hand_computation():
    x, y = ROWS.iloc[:4], ONES[:4]
    scores = rmia_scores(TARGET, REFS, x, y, POPULATION, a=0.5)
    assert scores == pytest.approx(BY_HAND, abs=1e-12)
    # gamma 1.2: LR(z) < LR(x) / 1.2, i.e. below 1.364 (three of five) and 1.25 (two).
    assert rmia_scores(TARGET, REFS, x, y, POPULATION, a=0.5, gamma=1.2) == pytest.approx(
        [0.6, 0.4, 0.0, 0.0], abs=1e-12)
    # A population no reference saw gets the offline correction too: Pr(z) = .625 .475 .55
    # .775 .55, LR(z) = 1.28 .632 1.018 1.161 .727; 1.5 now beats all five, 0.8 two of them.
    assert rmia_scores(TARGET, REFS, x, y, POPULATION, a=0.5,
                       population_in_references=False) == pytest.approx([1, 1, 0.4, 0],
                                                                         abs=1e-12)


def test_membership_inference_reports_rmia_auc_and_tpr_by_hand():
    members = (ROWS.iloc[[0, 2]], ONES[:2])      # scores 1.0 and 0.0
    non_members = (ROWS.iloc[[1, 3]], ONES[:2])  # scores 0.8 and 0.0
    out = membership_inference(TARGET, members, non_members, references=REFS,
                               population=POPULATION, rmia_a=0.5, n_boot=20)
    rmia = out["rmia"]
    # Member above non-member in 2 of 4 pairs, one tie (0 against 0, half): 2.5 / 4.
    assert rmia["auc"] == pytest.approx(0.625)
    # At the top threshold (1.0) one member of two and no non-member.
    assert rmia["tpr_at_0.01_fpr"] == rmia["tpr_at_0.001_fpr"] == 0.5
    assert rmia["reference_models"] == 2 and rmia["population"] == 5
    assert rmia["a"] == 0.5 and rmia["gamma"] == 1.0 and rmia["members"] == 2
    assert rmia["auc_ci"][0] <= rmia["auc_ci"][1]
    assert set(out) == {"confidence", "lira", "rmia"}
    # Without a population the result is what it was: no RMIA.
    assert set(membership_inference(TARGET, members, non_members, references=REFS,
                                    n_boot=0)) == {"confidence", "lira"}


def test_dominance_counts_as_the_full_comparison_does():
    rng = np.random.default_rng(0)
    x, z = rng.lognormal(size=300), rng.lognormal(size=200)
    z[:20] = x[:20]  # ties are not dominance
    for gamma in (1.0, 1.5):
        assert dominance(x, z, gamma) == pytest.approx(((x[:, None] / z) > gamma).mean(1))


def test_rmia_refuses_what_it_cannot_attack():
    x, y = ROWS.iloc[:4], ONES[:4]
    regression = wrap(LinearRegression().fit(np.zeros((3, 1)), [0.0, 1.0, 2.0]))
    with pytest.raises(ConfigError, match="regression"):
        rmia_scores(regression, REFS, x, y, POPULATION)
    with pytest.raises(ConfigError, match="references"):
        rmia_scores(TARGET, [], x, y, POPULATION)
    with pytest.raises(ConfigError, match="population"):
        rmia_scores(TARGET, REFS, x, y, (ROWS.iloc[:0], ONES[:0]))
    with pytest.raises(ConfigError, match="a:"):
        rmia_scores(TARGET, REFS, x, y, POPULATION, a=1.5)


@pytest.fixture(scope="module")
def attack():
    """Labels that are 30% noise, a forest that memorises its 1,200 training rows, the check's
    candidates (400 each), its pool, 4 reference forests and RMIA's population."""
    X, y = make_classification(n_samples=2400, n_features=8, n_informative=4, flip_y=0.3,
                               random_state=0)
    X = pd.DataFrame(X.astype(np.float32))
    groups = pd.DataFrame({"g": ["a"] * len(y)})
    train = (X.iloc[:1200].reset_index(drop=True), y[:1200], groups.iloc[:1200])
    test = (X.iloc[1200:].reset_index(drop=True), y[1200:], groups.iloc[1200:])

    def retrain(x, labels, *, private=False, seed=0):
        return RandomForestClassifier(n_estimators=30, random_state=seed).fit(x, labels)

    members, non_members, pool = membership_candidates(train, test, max_candidates=400)
    return {"target": wrap(retrain(*train[:2])), "members": members[:2],
            "non_members": non_members[:2], "refs": reference_models(retrain, pool, 4),
            "population": membership_population(train, test, max_candidates=400),
            "train": train, "test": test}


def test_population_is_the_held_out_rows_left_in_the_pool(attack):
    (x_pop, _), test = attack["population"], attack["test"]
    attacked = {tuple(r) for r in attack["non_members"][0].to_numpy()}
    held_out = {tuple(r) for r in test[0].to_numpy()}
    rows = [tuple(r) for r in x_pop.to_numpy()]
    assert len(rows) == 1200 - 400 and set(rows) <= held_out and not set(rows) & attacked
    capped = membership_population(attack["train"], test, max_candidates=400, max_rows=100)
    assert len(capped[1]) == 100 and capped[0].equals(x_pop.iloc[:100])


@pytest.mark.parametrize("n", [1, 2, 4])
def test_rmia_is_at_least_as_strong_as_lira_on_a_memorising_model(attack, n):
    out = membership_inference(attack["target"], attack["members"], attack["non_members"],
                               references=attack["refs"][:n], population=attack["population"],
                               n_boot=50)
    assert out["rmia"]["reference_models"] == out["lira"]["reference_models"] == n
    assert out["rmia"]["auc"] >= out["lira"]["auc"] > 0.75
    assert out["rmia"]["tpr_at_0.01_fpr"] >= out["lira"]["tpr_at_0.01_fpr"]


def test_a_model_that_ignores_its_inputs_leaks_nothing(attack):
    out = membership_inference(Blind(), attack["members"], attack["non_members"],
                               references=attack["refs"], population=attack["population"],
                               n_boot=200)
    low, high = out["rmia"]["auc_ci"]
    assert low <= 0.5 <= high and abs(out["rmia"]["auc"] - 0.5) < 0.05
