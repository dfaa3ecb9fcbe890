"""Every recipe runs from the CLI (shrunk to seconds with --set), and recipe errors are clear."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from trustml._recipes import CATALOGUE, catalogue
from trustml.cli import main
from trustml.errors import ConfigError
from trustml.models import CNNClassifier, MLPClassifier, read_claim, wrap
from trustml.privacy import PrivacyLedger, train_private

RECIPES = CATALOGUE
QUICK = {  # enough to exercise every path, small enough for CI
    "mlp-adult": ["data.rows=2000", "training.epochs=1"],
    "mlp-digits": ["training.epochs=2"],
    "cnn-digits": ["training.epochs=1"],
    "cnn-mnist5k": ["data.rows=300", "training.epochs=1", "training.baseline_epochs=1"],
    "lstm-text": ["data.rows=300", "training.epochs=1", "training.batch_size=64"],
    "transformer-sentiment": ["data.rows=120", "training.epochs=1", "training.batch_size=30",
                              "model.max_length=16"],
    "linear-regression": ["training.epochs=5"],
}


def test_every_recipe_is_covered():
    assert {p.name for p in RECIPES.iterdir() if (p / "recipe.yaml").is_file()} == set(QUICK)
    for name in QUICK:
        assert (RECIPES / name / "README.md").is_file()


@pytest.mark.parametrize("name", sorted(QUICK))
def test_recipe_runs_from_the_cli(name, tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("TRUSTML_DATA", str(data_dir))
    args = ["train", str(RECIPES / name), "--out", str(tmp_path), "--quiet"]
    for item in QUICK[name]:
        args += ["--set", item]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    result = json.loads((tmp_path / "result.json").read_text())
    rec = result["privacy"]
    assert 0 < rec["epsilon"] <= result["recipe"]["privacy"]["epsilon"] + 1e-9
    assert (tmp_path / "model.safetensors").is_file()
    assert (tmp_path / "checkpoints" / f"ledger-{rec['dataset']}.jsonl").is_file()
    claim = read_claim(tmp_path / "model.safetensors")  # the model states its own claim
    assert claim == {k: rec[k] for k in claim} and claim["ledger_head"]
    metric = "r2" if name == "linear-regression" else "accuracy"
    assert metric in result["baseline"] and metric in result["private"]
    assert f"epsilon {rec['epsilon']:.3f}" in res.output
    # the shipped settings were tuned on these (public) rows: the claim says it does not cover it
    assert result["tuning"]["data"] == "training" and result["tuning"]["how"]
    assert result["tuning"]["covered_by_claim"] is False
    assert "the stated epsilon does not cover that choice" in res.output


@pytest.mark.parametrize("override, message", [
    ("training.epoch=3", "training.epoch: unknown key; did you mean 'epochs'?"),
    ("model.kind=rnn", "model.kind: 'rnn' is not one of"),
    ("privacy.epsilon=-1", "privacy.epsilon: -1.0 must be a finite number > 0"),
    ("data.source=mnist", "data.source: 'mnist' is not one of"),
    ("training.lr=fast", "training.lr: 'fast' is not a number"),
    ("nonsense", "--set: 'nonsense' is not section.key=value"),
    ("model.activation=sigmoid", "model.activation: 'sigmoid' is not one of ['relu', 'tanh']"),
    ("model.channels=8", "model.channels: does not apply to kind: mlp (it takes hidden, "
                         "activation); remove it, or --set model.channels=null"),
    ("training.ema=1.0", "training.ema: 1.0 must be a decay in [0, 1)"),
    ("training.baseline_epochs=0", "training.baseline_epochs: 0 must be >= 1"),
    ("training.optimizer=rmsprop", "training.optimizer: 'rmsprop' is not one of ['adam', 'sgd']"),
    ("tuning.data=mine", "tuning.data: 'mine' is not one of ['public', 'other', 'training']"),
    ("tuning.source=public", "tuning.source: unknown key; use one of ['data', 'how']"),
    ("privacy.clipping=automatc", "privacy.clipping: unknown method 'automatc'"),
])
def test_bad_recipe_settings_exit_2_with_one_line(tmp_path, override, message):
    res = CliRunner().invoke(main, ["train", str(RECIPES / "mlp-digits"), "--out",
                                    str(tmp_path / "o"), "--quiet", "--set", override])
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [f"trustml: error: {res.output.strip()[16:]}"]
    assert message in res.output and not (tmp_path / "o").exists()


def test_a_cnn_setting_is_checked_on_the_cnn_route(tmp_path):
    res = CliRunner().invoke(main, ["train", str(RECIPES / "cnn-digits"), "--out",
                                    str(tmp_path / "o"), "--set", "model.kind=cnn", "--set",
                                    "model.scales=null", "--set", "model.channels=6"])
    assert res.exit_code == 2 and "model.channels: 6 must be a multiple of 4" in res.output


def test_missing_recipe_is_a_clear_error(tmp_path):
    res = CliRunner().invoke(main, ["train", str(tmp_path / "nope"), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "is neither a recipe file nor a shipped recipe" in res.output
    res = CliRunner().invoke(main, ["train", "mlp-digit", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "did you mean 'mlp-digits'?" in res.output
    assert "`trustml recipes` lists them" in res.output and not (tmp_path / "o").exists()


def test_the_shipped_recipes_train_by_name_outside_a_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no recipes/ folder here
    listing = CliRunner().invoke(main, ["recipes"])
    assert listing.exit_code == 0
    lines = listing.output.splitlines()
    assert lines[0].split() == ["recipe", "model", "data", "epsilon", "minutes"]
    assert {line.split()[0] for line in lines[1:]} == set(catalogue()) >= {
        "mlp-adult", "mlp-digits", "cnn-digits", "lstm-text", "transformer-sentiment",
        "linear-regression"}
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows["mlp-digits"][:3] == ["mlp", "digits_binary", "3"]
    assert all(float(row[3]) > 0 for row in rows.values())  # an expected time for each
    res = CliRunner().invoke(main, ["train", "mlp-digits", "--out", "run", "--quiet",
                                    "--set", "training.epochs=1"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "run" / "result.json").read_text())["recipe"]["name"] == \
        "mlp-digits"


def test_a_second_run_on_spent_rows_is_refused_then_composes_when_asked(tmp_path):
    args = ["train", str(RECIPES / "mlp-digits"), "--out", str(tmp_path), "--quiet",
            "--set", "training.epochs=1"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0 and "note:" not in first.output
    written = json.loads((tmp_path / "result.json").read_text())
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 2 and len(second.output.strip().splitlines()) == 1
    assert second.output.startswith("trustml: error: privacy.epsilon: the ledger (")
    assert f"spent by 1 run ({written['privacy']['run_id']} (" in second.output
    assert "set privacy.compose: true" in second.output and "--ledger DIR" in second.output
    assert json.loads((tmp_path / "result.json").read_text()) == written  # nothing written
    third = CliRunner().invoke(main, args + ["--set", "privacy.epsilon=6",
                                             "--set", "privacy.compose=true"])
    assert third.exit_code == 0, third.output
    assert "note: composed with 1 earlier run(s) on these rows" in third.output
    rec = json.loads((tmp_path / "result.json").read_text())["privacy"]
    assert rec["run_epsilon"] < rec["epsilon"] <= 6.0 + 1e-9 and rec["prior_runs"] == 1
    assert rec["run_epsilon"] > 2.0  # about the difference, not a leftover
    bad = CliRunner().invoke(main, args + ["--set", "privacy.compose=sometimes"])
    assert bad.exit_code == 2 and "privacy.compose: 'sometimes' is not true or false" in bad.output


def _toy_run(steps=None, **kwargs):
    """The weights after ``steps`` seeded DP steps (0: the initial weights)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    torch.manual_seed(0)
    adapter = wrap(MLPClassifier(4, hidden=(8,), activation="tanh"))
    if steps == 0:
        return [p.detach().clone() for p in adapter.module.parameters()]
    params = {"target_epsilon": 3.0, "epochs": 2, "batch_size": 100, "lr": 0.05, "seed": 7,
              "progress": False, "ledger": PrivacyLedger(), "max_steps": steps} | kwargs
    adapter, _ = train_private(adapter, x, y, **params)
    return [p.detach().clone() for p in adapter.module.parameters()]


def test_ema_equals_the_average_of_the_iterates_and_survives_a_resume(tmp_path):
    iterates = [_toy_run(steps=k) for k in range(5)]  # seeded: the same steps each time
    average = iterates[0]
    for k in range(1, 5):
        decay = min(0.9, (1 + k) / (10 + k))
        average = [a + (1 - decay) * (w - a) for a, w in zip(average, iterates[k])]
    whole = _toy_run(ema=0.9)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(whole, average))
    assert not all(torch.allclose(a, b) for a, b in zip(whole, iterates[4]))
    ledger = PrivacyLedger()
    _toy_run(steps=3, ema=0.9, checkpoint_dir=tmp_path, ledger=ledger)
    resumed = _toy_run(ema=0.9, checkpoint_dir=tmp_path, ledger=ledger, resume=True)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(resumed, whole))


def test_tanh_cnn_of_any_width_trains_privately():
    x = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    adapter = wrap(CNNClassifier(n_classes=3, channels=8, activation="tanh"),
                   input_shape=(1, 8, 8))
    before = [p.detach().clone() for p in adapter.module.parameters()]
    _, record = train_private(adapter, x, np.arange(64) % 3, target_epsilon=3.0, epochs=1,
                              batch_size=32, progress=False, ledger=PrivacyLedger())
    assert record.clipping == "opacus" and record.steps == 2
    assert all(not torch.equal(a, b) for a, b in zip(before, adapter.module.parameters()))


def test_probe_route_trains_a_head_on_cached_features(tmp_path, data_dir, monkeypatch):
    from safetensors import safe_open

    from trustml.privacy._ledger import epsilon_of

    monkeypatch.setenv("TRUSTML_DATA", str(data_dir))
    res = CliRunner().invoke(main, [
        "train", str(RECIPES / "transformer-sentiment"), "--out", str(tmp_path), "--quiet",
        "--set", "model.trainable=probe", "--set", "model.layers=2", "--set", "data.rows=200",
        "--set", "model.max_length=16",
        "--set", "training.epochs=3", "--set", "training.batch_size=50"])
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "result.json").read_text())["privacy"]
    spent = epsilon_of([(rec["noise_multiplier"], rec["sample_rate"], rec["steps"])],
                       rec["delta"], rec["accountant"])
    assert rec["epsilon"] == pytest.approx(spent) and spent <= 8.0 + 1e-9
    assert rec["clipping"] == "bookkeeping" and rec["steps"] == 3 * 3
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as f:  # the head: all it trained
        assert sorted(f.keys()) == ["net.0.bias", "net.0.weight"]
        assert f.get_tensor("net.0.weight").shape == (2, 2 * 384)  # two layers' states


def test_lstm_on_frozen_pretrained_embeddings(tmp_path, data_dir, monkeypatch):
    from trustml._model_kinds import build_adapter
    from trustml._recipes import load_recipe
    from trustml.data import load_tweets

    recipe = load_recipe(RECIPES / "lstm-text", ["model.embeddings=frozen", "model.hidden=[16]"])
    adapter = build_adapter(recipe["model"], load_tweets(n=50), 0)
    trainable = [n for n, p in adapter.module.named_parameters() if p.requires_grad]
    assert adapter.module.embedding.weight.shape == (30522, 384)
    assert trainable and not any(n.startswith("embedding") for n in trainable)
    res = CliRunner().invoke(main, ["train", str(RECIPES / "lstm-text"), "--out",
                                    str(tmp_path / "o"), "--quiet", "--set",
                                    "model.embeddings=scratch"])
    assert res.exit_code == 2 and "model.embeddings: 'scratch' is not one of" in res.output


@pytest.mark.parametrize("tuning, covered, words", [
    (None, None, "not stated (tuning.data)"),
    ("other", True, "chosen on other data, not these training rows"),
    ("training", False, "the stated epsilon does not cover that choice"),
])
def test_result_says_whether_the_claim_covers_the_tuning(tmp_path, tuning, covered, words):
    recipe = yaml.safe_load((RECIPES / "mlp-digits" / "recipe.yaml").read_text())
    recipe.pop("tuning")
    if tuning:
        recipe["tuning"] = {"data": tuning}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    res = CliRunner().invoke(main, ["train", str(path), "--out", str(tmp_path / "o"),
                                    "--quiet", "--set", "training.epochs=1"])
    assert res.exit_code == 0, res.output
    result = json.loads((tmp_path / "o" / "result.json").read_text())
    assert result["tuning"]["covered_by_claim"] is covered
    assert result["tuning"]["data"] == (tuning or "unstated") and words in res.output


def test_automatic_clipping_trains_a_recipe_and_is_recorded(tmp_path):
    res = CliRunner().invoke(main, ["train", str(RECIPES / "mlp-digits"), "--out",
                                    str(tmp_path), "--quiet", "--set", "training.epochs=2",
                                    "--set", "privacy.clipping=automatic"])
    assert res.exit_code == 0, res.output
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["privacy"]["clipping"] == "automatic" and "automatic clipping" in res.output
    assert result["private"]["accuracy"] > 0.6


def test_the_top_level_recipes_folder_is_the_shipped_catalogue():
    top = Path(__file__).resolve().parents[1] / "recipes"
    assert top.resolve() == CATALOGUE.resolve()  # one source: no copy to drift
    assert {p.parent.name for p in top.glob("*/recipe.yaml")} == set(catalogue())


def test_a_registered_model_kind_trains_from_a_recipe(tmp_path):
    """One model factory: a kind added with register_kind is built by recipes (and refused
    by name once gone)."""
    from trustml._model_kinds import MODEL_KINDS, ModelKind, build_adapter, kinds

    def tiny(model, data, n_classes, target):
        from trustml.data import TabularEncoder

        encoder = TabularEncoder().fit(data.take("train")[0])
        return wrap(MLPClassifier(encoder.n_outputs, hidden=(model.get("hidden") or [3])[:1],
                                  n_classes=n_classes), encoder=encoder, task=data.task)

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({
        "data": {"source": "digits_binary"}, "model": {"kind": "tiny"},
        "privacy": {"epsilon": 3.0},
        "training": {"epochs": 1, "baseline_epochs": 10, "baseline_lr": 0.01}}))
    with MODEL_KINDS.temporarily("tiny", ModelKind("tiny", build=tiny)):
        assert "tiny" in kinds("build") and "tiny" not in kinds("load")
        res = CliRunner().invoke(main, ["train", str(recipe), "--out", str(tmp_path / "run"),
                                        "--quiet"])
        assert res.exit_code == 0, res.output
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["recipe"]["model"]["kind"] == "tiny" and result["baseline"]["accuracy"] > 0.8
    assert (tmp_path / "run" / "model.safetensors").is_file()
    gone = CliRunner().invoke(main, ["train", str(recipe), "--out", str(tmp_path / "again")])
    assert gone.exit_code == 2 and "model.kind: 'tiny' is not one of ['mlp'," in gone.output
    with pytest.raises(ConfigError, match="model.kind: 'sklearn' is not one of"):
        build_adapter({"kind": "sklearn"}, None, 0)  # a kind that only loads


def test_train_audit_bounds_the_dp_training_and_fails_a_broken_engine(tmp_path, monkeypatch):
    """--audit prints the bound and keeps it in result.json; an engine drawing a tenth of the
    noise it accounts is caught: exit 1, one line. (A delta far below 1/n: the analysis that
    holds for sampled batches loses ``2 m delta`` to it, m the canaries.)"""
    import trustml.privacy._steppers as steppers

    args = ["train", str(RECIPES / "mlp-digits"), "--quiet", "--set", "training.epochs=6",
            "--set", "privacy.delta=1e-7", "--audit"]
    res = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "ok"),
                                    "--ledger", str(tmp_path / "l1")])
    assert res.exit_code == 0, res.output
    audit = json.loads((tmp_path / "ok" / "result.json").read_text())["audit"]
    assert audit["within_claim"] and 0 <= audit["bound"] <= audit["claimed_epsilon"]
    assert f"empirical epsilon at least {audit['bound']:.2f} of the claimed" in res.output
    make = steppers.make_stepper
    monkeypatch.setattr("trustml.privacy._train_private.make_stepper",
                        lambda module, opt, *, sigma, **kw: make(module, opt, sigma=sigma / 10,
                                                                 **kw))
    res = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "broken"),
                                    "--ledger", str(tmp_path / "l2")])
    assert res.exit_code == 1
    assert res.output.strip().splitlines()[-1].startswith(
        "trustml: audit: the DP training is less private than it claims: empirical epsilon")


def test_a_text_recipe_trains_on_the_three_class_tweets(tmp_path):
    """data.source: tweets3, the three-class reference (negative / neutral / positive)."""
    res = CliRunner().invoke(main, ["train", "lstm-text", "--out", str(tmp_path / "o"),
                                    "--quiet", "--ledger", str(tmp_path / "l"),
                                    *sum((["--set", s] for s in QUICK["lstm-text"]), []),
                                    "--set", "data.source=tweets3"])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "o" / "result.json").read_text())["data"]
    assert data["task"] == "multiclass"
    assert data["classes"] == ["negative", "neutral", "positive"]
