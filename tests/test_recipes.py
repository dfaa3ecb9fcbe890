"""Every recipe runs from the CLI (shrunk to seconds with --set), and recipe errors are clear."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from trustml.cli import main
from trustml.models import read_claim

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
QUICK = {  # enough to exercise every path, small enough for CI
    "mlp-adult": ["data.rows=2000", "training.epochs=1"],
    "mlp-digits": ["training.epochs=2"],
    "cnn-digits": ["training.epochs=1"],
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


@pytest.mark.parametrize("override, message", [
    ("training.epoch=3", "training.epoch: unknown setting"),
    ("model.kind=rnn", "model.kind: 'rnn' is not one of"),
    ("privacy.epsilon=-1", "epsilon: -1 must be a finite number > 0"),
    ("data.source=mnist", "data.source: 'mnist' is not one of"),
    ("training.lr=fast", "training.lr: 'fast' is not a float"),
    ("nonsense", "--set: 'nonsense' is not section.key=value"),
])
def test_bad_recipe_settings_exit_2_with_one_line(tmp_path, override, message):
    res = CliRunner().invoke(main, ["train", str(RECIPES / "mlp-digits"), "--out",
                                    str(tmp_path / "o"), "--quiet", "--set", override])
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [f"trustml: error: {res.output.strip()[16:]}"]
    assert message in res.output and not (tmp_path / "o").exists()


def test_missing_recipe_is_a_clear_error(tmp_path):
    res = CliRunner().invoke(main, ["train", str(tmp_path / "nope"), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "recipe: " in res.output and "does not exist" in res.output


def test_training_twice_into_one_directory_composes_and_says_so(tmp_path):
    args = ["train", str(RECIPES / "mlp-digits"), "--out", str(tmp_path), "--quiet",
            "--set", "training.epochs=1"]
    first = CliRunner().invoke(main, args)
    second = CliRunner().invoke(main, args)
    assert first.exit_code == second.exit_code == 0
    assert "note:" not in first.output and "already held spending" in second.output
    rec = json.loads((tmp_path / "result.json").read_text())["privacy"]
    assert rec["run_epsilon"] < rec["epsilon"] <= 3.0 + 1e-9


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
    from trustml._recipes import build_adapter, load_recipe
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
