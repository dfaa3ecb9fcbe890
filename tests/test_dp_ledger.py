"""Ledger, resume, budget stop, sanity check and logical batching of train_private."""

import copy
import dataclasses
import json
import re

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

import trustml
from trustml.data import AuditData
from trustml.errors import ConfigError
from trustml.models import MLPClassifier, load_weights, read_claim, wrap
from trustml.privacy import (
    DPSanityError,
    PrivacyBudgetError,
    PrivacyLedger,
    epsilon_of,
    train_private,
)

SETTINGS = {"epochs": 2, "batch_size": 50, "lr": 1e-2, "progress": False}


@pytest.fixture
def toy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4)).astype(np.float32)
    y = (X[:, 0] - X[:, 2] > 0).astype(int)
    return X, y


def fresh():
    torch.manual_seed(0)
    return wrap(MLPClassifier(4, hidden=(8,)))


def test_interrupted_and_resumed_run_equals_the_uninterrupted_one(toy, tmp_path):
    X, y = toy
    # two stores, so the second run is not charged for the first; a stated seed, so the
    # uninterrupted run draws the same batches and noise as the interrupted one
    whole, rec = train_private(fresh(), X, y, target_epsilon=3.0, checkpoint_dir=tmp_path / "a",
                               ledger=tmp_path / "la", seed=0, **SETTINGS)
    _, part = train_private(fresh(), X, y, target_epsilon=3.0, checkpoint_dir=tmp_path / "b",
                            ledger=tmp_path / "lb", seed=0, max_steps=5, **SETTINGS)
    assert not part.completed and part.steps == 5 and part.epsilon < rec.epsilon
    resumed, rec2 = train_private(fresh(), X, y, target_epsilon=3.0, ledger=tmp_path / "lb",
                                  checkpoint_dir=tmp_path / "b", resume=True, **SETTINGS)
    assert rec2.completed and rec2.steps == rec.steps == 16
    assert rec2.epsilon == pytest.approx(rec.epsilon, rel=1e-9)
    assert rec2.run_id == part.run_id and rec2.noise_multiplier == rec.noise_multiplier
    ledger = PrivacyLedger(tmp_path / "lb")
    assert ledger.epsilon(rec2.dataset, rec2.delta) == pytest.approx(rec.epsilon, rel=1e-9)
    for a, b in zip(whole.module.parameters(), resumed.module.parameters()):
        torch.testing.assert_close(a, b)  # same batches, same noise, same Adam state


def test_a_second_run_on_spent_rows_is_refused_with_the_ways_on(toy, tmp_path):
    X, y = toy
    _, first = train_private(fresh(), X, y, target_epsilon=1.0, checkpoint_dir=tmp_path,
                             **SETTINGS)
    model = fresh()
    weights = copy.deepcopy(model.module.state_dict())
    for target in (1.0, 2.0):  # the same total, or a raised one without saying so
        with pytest.raises(PrivacyBudgetError) as refused:
            train_private(model, X, y, target_epsilon=target, checkpoint_dir=tmp_path / "b",
                          **SETTINGS)
        message = str(refused.value)
        assert "\n" not in message and message.startswith("target_epsilon: the ledger (")
        assert f"already holds epsilon {first.epsilon:.3f} on these rows, spent by 1 run " \
               f"({first.run_id} (" in message
        assert "compose=True" in message and "ledger=" in message
        assert "nothing was trained" in message
    would = float(re.search(r"would get epsilon ([0-9]+\.[0-9]+)", message).group(1))
    assert 2.0 - first.epsilon < would < 2.0  # composition is sub-additive in epsilon
    assert all(torch.equal(v, model.module.state_dict()[k]) for k, v in weights.items())
    assert not (tmp_path / "b").exists()
    assert {e["run_id"] for e in PrivacyLedger.default().entries(first.dataset)} == \
        {first.run_id}
    with pytest.raises(ConfigError, match=r"^compose: 'yes' must be true or false"):
        train_private(model, X, y, target_epsilon=2.0, compose="yes", **SETTINGS)


def test_repeated_training_on_the_same_data_composes(toy, tmp_path):
    X, y = toy
    _, first = train_private(fresh(), X, y, target_epsilon=1.0, checkpoint_dir=tmp_path,
                             **SETTINGS)
    model, second = train_private(fresh(), X, y, target_epsilon=2.0, checkpoint_dir=tmp_path,
                                  compose=True, **SETTINGS)
    assert first.run_id != second.run_id
    both = [(first.noise_multiplier, first.sample_rate, first.steps),
            (second.noise_multiplier, second.sample_rate, second.steps)]
    assert second.epsilon == pytest.approx(epsilon_of(both, second.delta, "prv"), rel=1e-9)
    assert second.run_epsilon < second.epsilon <= 2.0 + 1e-9
    assert (first.prior_runs, second.prior_runs) == (0, 1)
    latest = tmp_path / (tmp_path / "LATEST").read_text() / "model.safetensors"
    assert read_claim(latest)["prior_runs"] == 1
    # a budget already spent cannot be met: refuse before training
    with pytest.raises(PrivacyBudgetError, match=r"already holds .* the whole of target_epsilon"):
        train_private(fresh(), X, y, target_epsilon=1.5, checkpoint_dir=tmp_path, compose=True,
                      **SETTINGS)
    lines = (tmp_path / f"ledger-{second.dataset}.jsonl").read_text().splitlines()  # the copy
    assert {json.loads(line)["run_id"] for line in lines} == {first.run_id, second.run_id}
    assert PrivacyLedger.default().entries(second.dataset) == [json.loads(x) for x in lines]
    # the report shows the ledger behind the composed epsilon
    found = trustml.audit(model, AuditData.from_arrays(X, y), privacy=second, checks=["privacy"],
                          progress=False).finding("privacy.dp_guarantee")
    ledger = found.tables[1].rows
    assert [row[0] for row in ledger] == [first.run_id, second.run_id]
    assert [row[4] for row in ledger] == [first.steps, second.steps]
    assert f"This run alone spent {second.run_epsilon:.2f}" in found.summary
    # the first run's report composes only what came before it, as its epsilon did
    earlier = trustml.audit(model, AuditData.from_arrays(X, y), privacy=first,
                            checks=["privacy"], progress=False).finding("privacy.dp_guarantee")
    assert [row[0] for row in earlier.tables[1].rows] == [first.run_id]
    assert "This run alone" not in earlier.summary
    # a record that does not say what its run spent claims nothing about it
    unsaid = dataclasses.replace(second, run_epsilon=0.0, ledger=None)
    found = trustml.audit(model, AuditData.from_arrays(X, y), privacy=unsaid, checks=["privacy"],
                          progress=False).finding("privacy.dp_guarantee")
    assert "This run alone" not in found.summary
    assert "epsilon (this run)" not in [row[0] for row in found.tables[0].rows]


def test_budget_stop_keeps_last_good_model(toy, tmp_path):
    X, y = toy
    adapter = fresh()
    with pytest.raises(PrivacyBudgetError, match="next step would spend more than the target 1"):
        train_private(adapter, X, y, target_epsilon=1.0, noise_multiplier=1.5,
                      checkpoint_dir=tmp_path, **(SETTINGS | {"epochs": 50}))
    folder = tmp_path / (tmp_path / "LATEST").read_text()
    state = json.loads((folder / "state.json").read_text())
    steps = state["steps"]
    assert 0 < steps < 50 * 8
    delta = 1e-3
    spent = epsilon_of([(1.5, state["sample_rate"], steps)], delta, "prv")
    over = epsilon_of([(1.5, state["sample_rate"], steps + 1)], delta, "prv")
    assert spent <= 1.0 < over
    assert PrivacyLedger.default().epsilon(state["dataset"], delta) == pytest.approx(spent)
    saved = load_weights(MLPClassifier(4, hidden=(8,)), folder / "model.safetensors")
    for a, b in zip(saved.parameters(), adapter.module.parameters()):
        torch.testing.assert_close(a, b)


def test_sanity_check_catches_weights_that_do_not_move(toy):
    X, y = toy
    with pytest.raises(DPSanityError, match="did not change after the first DP step"):
        train_private(fresh(), X, y, target_epsilon=3.0, **(SETTINGS | {"lr": 1e-30}))


def test_physical_chunks_give_the_same_model(toy):
    X, y = toy
    a, _ = train_private(fresh(), X, y, target_epsilon=3.0, seed=0, ledger=PrivacyLedger(),
                         **SETTINGS)
    b, _ = train_private(fresh(), X, y, target_epsilon=3.0, max_physical_batch_size=7, seed=0,
                         ledger=PrivacyLedger(), **SETTINGS)
    for p, q in zip(a.module.parameters(), b.module.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)


def test_opacus_fallback_trains(toy):
    X, y = toy
    adapter, rec = train_private(fresh(), X, y, target_epsilon=8.0, clipping="opacus",
                                 max_physical_batch_size=16, **(SETTINGS | {"epochs": 4}))
    assert rec.clipping == "opacus" and (adapter.predict(X) == y).mean() > 0.75


@pytest.mark.parametrize("trainable", ["all", "top", "head", "lora"])
def test_transformer_trains_under_dp_with_explicit_ids(trainable):
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=2,
                     num_attention_heads=2, intermediate_size=32, num_labels=2)
    model = BertForSequenceClassification(cfg)
    from trustml.models import set_trainable, transformer_sentiment, with_lora

    _, tok = transformer_sentiment(trainable="head")
    if trainable == "lora":
        model = with_lora(model, rank=4)
        lora = [n for n, p in model.named_parameters() if p.requires_grad and "lora_" in n]
        assert lora and all(p.requires_grad is False for n, p in model.named_parameters()
                            if "word_embeddings" in n)
    else:
        set_trainable(model, {"all": "all", "top": 1, "head": "head"}[trainable])
    if trainable == "all":  # frozen embeddings are a common choice: keep them frozen here
        model.bert.embeddings.requires_grad_(False)
    adapter = wrap(model, tokenizer=tok, max_length=12)
    texts = ["good movie", "bad movie", "great fun", "awful plot"] * 10
    labels = [1, 0, 1, 0] * 10
    adapter, rec = train_private(adapter, texts, labels, target_epsilon=8.0, epochs=2,
                                 batch_size=10, lr=1e-2, progress=False)
    assert rec.clipping == "bookkeeping" and rec.steps == 8  # sanity check passed on step 1
    if trainable == "lora":  # the adapters moved, the frozen base weights did not
        assert any(p.abs().sum() > 0 for n, p in adapter.module.named_parameters()
                   if "lora_B" in n)


def test_clipped_fraction_by_group_counts_each_example(toy):
    X, y = toy
    # with a huge clipping norm nothing is clipped; with a tiny one everything is
    groups = {"half": np.where(np.arange(len(y)) < 200, "a", "b")}
    _, none = train_private(fresh(), X, y, target_epsilon=3.0, max_grad_norm=1e6,
                            groups=groups, ledger=PrivacyLedger(), **SETTINGS)
    _, all_ = train_private(fresh(), X, y, target_epsilon=3.0, max_grad_norm=1e-6,
                            groups=groups, ledger=PrivacyLedger(), **SETTINGS)
    assert none.clipped_fraction_by_group == {"half": {"a": 0.0, "b": 0.0}}
    assert all_.clipped_fraction_by_group == {"half": {"a": 1.0, "b": 1.0}}
    _, some = train_private(fresh(), X, y, target_epsilon=3.0, max_grad_norm=1.0,
                            groups=groups, ledger=PrivacyLedger(), **SETTINGS)
    fractions = some.clipped_fraction_by_group["half"]
    assert 0 < min(fractions.values()) and max(fractions.values()) < 1
