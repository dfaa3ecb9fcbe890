import json
from pathlib import Path

import pytest
import skops.io as sio
import torch
from click.testing import CliRunner

from trustml._recipe_run import load_recipe_data
from trustml._recipes import CATALOGUE
from trustml.cli import main
from trustml.data import load_arrests

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "config.md"


@pytest.fixture(scope="module")
def workdir(documented_example):
    """The documented example: arrests.csv, model.skops and audit.yaml from docs/config.md."""
    return documented_example


def run(*args):
    return CliRunner().invoke(main, ["report", *map(str, args), "--quiet"])


def test_the_documented_config_audits_and_passes_its_gates(workdir):
    res = run("--config", workdir / "audit.yaml", "--out", workdir / "out", "--annex-iv")
    assert res.exit_code == 0, res.output
    for name in ("report.html", "report.json", "model_card.md", "annex_iv.md"):
        assert (workdir / "out" / name).is_file()
    assert "fairness:" in res.output and f"wrote {workdir / 'out' / 'annex_iv.md'}" in res.output


def test_a_failed_gate_exits_1_and_still_writes_the_reports(workdir):
    text = (workdir / "audit.yaml").read_text().replace("parity_difference_fail: 0.20",
                                                         "parity_difference_fail: 0.0")
    strict = workdir / "strict.yaml"
    strict.write_text(text.replace("parity_difference_fail: 0.0",
                                   "parity_difference_fail: 0.0\n  parity_difference_warn: 0.0"))
    res = run("--config", strict, "--out", workdir / "strict")
    assert res.exit_code == 1
    assert "gate failed: fairness" in res.output
    assert (workdir / "strict" / "report.json").is_file()


def test_a_check_that_raises_exits_3_writes_the_reports_and_fails_its_gate(workdir):
    from trustml.checks import REGISTRY
    from trustml.checks._registry import CheckSpec

    def broken(ctx):
        raise RuntimeError("the library failed")

    with REGISTRY.temporarily("duplicates", CheckSpec("duplicates", "data quality", broken)):
        res = run("--config", workdir / "audit.yaml", "--out", workdir / "broken")
    assert res.exit_code == 3
    assert "audit incomplete: the duplicates check(s) raised" in res.output
    report = json.loads((workdir / "broken" / "report.json").read_text())
    assert report["verdicts"]["data quality"] == "error"
    assert report["verdicts"]["fairness"] in ("pass", "info", "warn")  # the rest ran
    from trustml._config import gate_failures
    from trustml.report import AuditResult
    assert gate_failures(AuditResult.from_dict(report), ["data quality"]) == ["data quality"]


@pytest.mark.parametrize("edit, message", [
    (("label: released", "label: outcome"), "label: column 'outcome'"),
    (("kind: sklearn", "kind: keras"), "model.kind: 'keras'"),
    (("gates: [fairness, privacy]", "gates: [speed]"), "gates: 'speed'"),
    (("path: model.skops", "path: model.pkl"), "model.path: no file"),
    (("label: released", "label: released\n  missing: skip"), "data.missing: 'skip'"),
    (("label: released", "label: released\n  text: citizen\n  missing: drop"),
     "data.missing: applies to tabular data only"),
])
def test_bad_configs_exit_2_with_one_line_and_write_nothing(workdir, edit, message):
    bad = workdir / "bad.yaml"
    bad.write_text((workdir / "audit.yaml").read_text().replace(*edit))
    out = workdir / "bad_out"
    res = run("--config", bad, "--out", out)
    assert res.exit_code == 2
    assert res.output.startswith("trustml: error: ") and message in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not out.exists()


def test_a_pickle_needs_trust(workdir):
    import joblib
    joblib.dump(sio.load(workdir / "model.skops"), workdir / "model.joblib")
    cfg = workdir / "pickle.yaml"
    cfg.write_text((workdir / "audit.yaml").read_text().replace("model.skops", "model.joblib"))
    res = run("--config", cfg, "--out", workdir / "p")
    assert res.exit_code == 2 and "model.trust:" in res.output
    cfg.write_text(cfg.read_text().replace("kind: sklearn", "kind: sklearn\n  trust: true"))
    assert run("--config", cfg, "--out", workdir / "p").exit_code == 0


def test_torch_and_transformer_models_from_config(workdir, tmp_path):
    from trustml.data import TabularEncoder
    from trustml.models import (
        MLPClassifier,
        fit,
        save_weights,
        transformer_sentiment,
        wrap,
    )
    data = load_arrests()
    x, y, _ = data.take("train")
    torch.manual_seed(0)
    adapter = wrap(MLPClassifier(TabularEncoder().fit(x).n_outputs, hidden=(16,)),
                   encoder=TabularEncoder().fit(x))
    fit(adapter, x, y, epochs=2, progress=False)
    save_weights(adapter.module, workdir / "mlp.safetensors")
    cfg = workdir / "torch.yaml"
    cfg.write_text((workdir / "audit.yaml").read_text().replace(
        "  kind: sklearn\n  path: model.skops",
        "  kind: torch\n  architecture: mlp\n  hidden: [16]\n  weights: mlp.safetensors"))
    res = run("--config", cfg, "--out", workdir / "torch_out")
    assert res.exit_code in (0, 1), res.output
    assert (workdir / "torch_out" / "report.json").is_file()

    model, tok = transformer_sentiment(trainable="head")
    model.save_pretrained(tmp_path / "hf")
    tok.save_pretrained(tmp_path / "hf")
    (tmp_path / "reviews.csv").write_text(
        "text,label\n" + "\n".join(f"{'a fine film' if i % 2 else 'dull and long'} {i},"
                                     f"{'pos' if i % 2 else 'neg'}" for i in range(80)))
    (tmp_path / "hf.yaml").write_text(
        "model: {kind: huggingface, path: hf, max_length: 16}\n"
        "data: {path: reviews.csv, text: text, label: label, positive_label: pos}\n"
        "checks: [performance, explainability]\nexplain_rows: 4\nformats: [json]\n")
    res = run("--config", tmp_path / "hf.yaml", "--out", tmp_path / "hf_out")
    assert res.exit_code in (0, 1), res.output
    assert (tmp_path / "hf_out" / "report.json").is_file()


def train_and_audit(tmp_path, recipe: str, source: str, epochs: int | None, label: str,
                    config: str):
    """`trustml train` recipe ``recipe``, write its data (``source``) to CSV with the label
    column ``label``, then `trustml report --config` with ``config``, whose ``model`` section
    names ``run/model.safetensors`` and ``run/result.json``. ``epochs`` shortens the
    recipe's training (None: as the recipe says).

    Returns (the report's exit code, its findings by id, the training's result.json)."""
    shorter = ["--set", f"training.epochs={epochs}"] if epochs else []
    res = CliRunner().invoke(main, ["train", str(CATALOGUE / recipe), "--out",
                                    str(tmp_path / "run"), "--quiet", *shorter])
    assert res.exit_code == 0, res.output
    data = load_recipe_data({"source": source}, 0)
    data.features.assign(**{label: data.labels}).to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "audit.yaml").write_text(config)
    res = run("--config", tmp_path / "audit.yaml", "--out", tmp_path / "out")
    assert res.exit_code in (0, 1), res.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    return (res.exit_code, {f["id"]: f for f in report["findings"]},
            json.loads((tmp_path / "run" / "result.json").read_text()))


def test_a_recipe_trained_model_is_audited_with_its_dp_record_ledger_and_retraining(tmp_path):
    """`trustml train` then `trustml report --config` with `training_record`: the report shows
    the recipe's DP guarantee and ledger, and retrains like the recipe for LiRA and k-fold."""
    _, found, trained = train_and_audit(
        tmp_path, "mlp-digits", "digits_binary", 2, "odd",
        "model: {kind: torch, architecture: mlp, hidden: [64, 32], weights: run/model.safetensors,"
        " training_record: run/result.json}\n"
        "data: {path: data.csv, label: odd}\n"
        "checks: [privacy, membership_inference, cross_validation, compute]\n"
        "privacy_depth: standard\nformats: [json]\n")
    dp = found["privacy.dp_guarantee"]
    assert dp["status"] == "warn" and "tier 2" in dp["summary"]  # epsilon 3: not strong
    assert dp["metrics"]["epsilon"] == pytest.approx(trained["privacy"]["epsilon"])
    assert [row[0] for row in dp["tables"][1]["rows"]] == [trained["privacy"]["run_id"]]
    assert found["privacy.membership_inference"]["metrics"]["lira"]["reference_models"] == 4
    # the DP record's fingerprint is the training split's: the members are known, not assumed
    assert "assumed" not in found["privacy.membership_inference"]["summary"]
    assert found["performance.cross_validation"]["metrics"]["folds"] == 5
    assert found["compute.cost"]["metrics"]["model_training_seconds"] == pytest.approx(
        trained["private"]["seconds"])

    (tmp_path / "bad.yaml").write_text((tmp_path / "audit.yaml").read_text().replace(
        "architecture: mlp", "architecture: scatter"))  # one that takes hidden: too
    res = run("--config", tmp_path / "bad.yaml", "--out", tmp_path / "bad")
    assert res.exit_code == 2 and "model.architecture: 'scatter' differs from the recipe" in \
        res.output


def test_a_recipe_trained_regression_model_answers_in_the_targets_units(tmp_path):
    """The linear-regression recipe trains on a scaled target; audited from its training
    record, the model's error is in the target's own units, as `trustml train` reported it."""
    code, found, trained = train_and_audit(
        tmp_path, "linear-regression", "diabetes", None, "progression",
        "model: {kind: torch, architecture: linear_regression, weights: run/model.safetensors,"
        " training_record: run/result.json}\n"
        "data: {path: data.csv, label: progression, task: regression}\n"
        "checks: [performance, cross_validation]\ncv_folds: 2\nformats: [json]\n")
    assert code == 0
    metrics = found["performance.metrics"]["metrics"]
    assert metrics["model_mae"] == pytest.approx(trained["private"]["mae"], rel=1e-4)
    assert metrics["model_r2"] == pytest.approx(trained["private"]["r2"], abs=1e-4)
    cv = found["performance.cross_validation"]["metrics"]
    # unscaled: about the test error (~50), not the target's offset (~185)
    assert cv["folds"] == 2 and cv["cv_mae_mean"] < 2 * trained["private"]["mae"]


def test_help_names_every_config_section_and_exit_code():
    from trustml._config import SECTIONS
    text = CliRunner().invoke(main, ["report", "--help"]).output
    assert all(section in text for section in SECTIONS - {"model", "data"} | {"model:", "data:"})
    assert "Exit codes: 0" in text and "1 a gate failed" in text and "2 usage" in text


def test_a_config_audit_with_a_lexicon_file_reports_the_users_groups(tmp_path):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    rows = [(f"{'a cat owner loved it' if i % 2 else 'a dog owner hated it'} {i}",
             "pos" if i % 2 else "neg") for i in range(120)]
    (tmp_path / "reviews.csv").write_text(
        "text,label\n" + "\n".join(f"{t},{label}" for t, label in rows))
    model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(
        [t for t, _ in rows], [label == "pos" for _, label in rows])
    sio.dump(model, tmp_path / "model.skops")
    (tmp_path / "terms.csv").write_text("category,group,term\npets,cat people,a cat owner\n"
                                        "pets,dog people,a dog owner\n")
    (tmp_path / "audit.yaml").write_text(
        "model: {kind: sklearn, path: model.skops}\n"
        "data: {path: reviews.csv, text: text, label: label, positive_label: pos}\n"
        "checks: [identity_probes]\nlexicon: terms.csv\n"
        "templates: ['{person} wrote this.', 'I met {person}.']\nformats: [json]\n")
    res = run("--config", tmp_path / "audit.yaml", "--out", tmp_path / "out")
    assert res.exit_code in (0, 1), res.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    [probe] = next(f for f in report["findings"]
                   if f["id"] == "fairness.identity_probes")["metrics"]["categories"]
    assert probe["category"] == "pets" and set(probe["groups"]) == {"cat people", "dog people"}
    assert probe["highest"] == "cat people"
    assert report["provenance"]["config"]["lexicon"] == "terms.csv"
    (tmp_path / "terms.csv").write_text("category,group\npets,cats\n")
    res = run("--config", tmp_path / "audit.yaml", "--out", tmp_path / "out2")
    assert res.exit_code == 2 and not (tmp_path / "out2").exists()
    assert "lexicon: terms.csv: needs exactly the columns category,group,term" in res.output


def test_a_torch_architecture_takes_its_own_keys_only():
    from trustml._schema import validate_config
    from trustml.errors import ConfigError

    base = {"data": {"path": "d.csv", "label": "y"}}

    def model(**keys):
        return validate_config({**base, "model": {"kind": "torch", "weights": "w.pt", **keys}})

    assert model(architecture="scatter", scales=2)["model"]["scales"] == 2
    assert model(architecture="cnn", channels=8, activation="tanh")["model"]["channels"] == 8
    for keys, message in [
            ({"architecture": "mlp", "channels": 8},
             "model.channels: does not apply to architecture: mlp (it takes hidden, activation)"),
            ({"architecture": "cnn", "scales": 2}, "model.scales: does not apply to "
                                                   "architecture: cnn"),
            ({"architecture": "cnn", "channels": 6}, "model.channels: 6 must be a multiple of 4"),
            ({"architecture": "mlp", "activation": "gelu"}, "model.activation: ")]:
        with pytest.raises(ConfigError) as refused:
            model(**keys)
        assert str(refused.value).startswith(message), str(refused.value)


@pytest.fixture(scope="module")
def split_files(tmp_path_factory):
    """A model trained on train.csv only, the same rows as all.csv with a split column, and the
    configs that audit them declared, drawn, or drawn and assumed."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("split")
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({"age": rng.integers(18, 80, n), "hours": rng.integers(10, 60, n),
                          "sex": rng.choice(["f", "m"], n)})
    frame["y"] = ((frame.age + frame.hours + rng.normal(0, 10, n)) > 80).astype(int)
    train, test = frame.iloc[:300], frame.iloc[300:]  # not what a seed would draw
    train.to_csv(root / "train.csv", index=False)
    test.to_csv(root / "test.csv", index=False)
    frame.assign(fold=["train"] * 300 + ["test"] * 100).to_csv(root / "all.csv", index=False)
    sio.dump(LogisticRegression().fit(train[["age", "hours"]], train.y), root / "model.skops")
    common = ("model: {kind: sklearn, path: model.skops}\n"
              "checks: [performance, membership_inference]\nprivacy_depth: quick\n")
    columns = "label: y, sensitive: [sex], features: [age, hours]"
    for name, data in (("files", "train: train.csv, test: test.csv"),
                       ("column", "path: all.csv, split: fold"), ("drawn", "path: all.csv")):
        (root / f"{name}.yaml").write_text(f"{common}data: {{{data}, {columns}}}\n")
    (root / "assumed.yaml").write_text((root / "drawn.yaml").read_text() + "assume_split: true\n")
    return root, train


@pytest.mark.parametrize("config", ["files", "column"])
def test_a_declared_split_audits_exactly_the_rows_that_trained_the_model(split_files, config):
    from trustml._config import load_config
    from trustml.data import read_data

    root, train = split_files
    res = run("--config", root / f"{config}.yaml", "--out", root / config)
    assert res.exit_code == 0, res.output
    report = json.loads((root / config / "report.json").read_text())
    assert report["data"]["train_rows"] == 300 and report["data"]["test_rows"] == 100
    assert report["data"]["split"]["by"] == {"files": "files", "column": "column"}[config]
    finding = next(f for f in report["findings"] if f["id"] == "privacy.membership_inference")
    assert finding["status"] != "not_run" and "assumed" not in finding["summary"]
    scores = next(f for f in report["findings"] if f["id"] == "performance.metrics")
    assert "not declared" not in scores["summary"]
    # the members the attack scored are rows of train.csv, in its order
    data = read_data(load_config(root / f"{config}.yaml")["data"], 0)
    x_train = data.take("train")[0]
    assert x_train[["age", "hours"]].to_numpy().tolist() == \
        train[["age", "hours"]].to_numpy().tolist()
    members = finding["metrics"]["rows"]["members"]
    assert members and max(members) < 300


def test_without_a_declared_split_membership_is_not_run_unless_assumed(split_files):
    root, _ = split_files
    assert run("--config", root / "drawn.yaml", "--out", root / "drawn").exit_code == 0
    report = json.loads((root / "drawn" / "report.json").read_text())
    finding = next(f for f in report["findings"] if f["id"] == "membership_inference.not_run")
    assert finding["status"] == "not_run" and finding["metrics"]["needs"] == ["known_members"]
    assert "assume_split: true" in finding["summary"]
    assert report["data"]["split"] == {"by": "seed", "seed": 0, "test_size": 0.25}
    scores = next(f for f in report["findings"] if f["id"] == "performance.metrics")
    assert scores["status"] != "pass" and "not declared" in scores["summary"]
    assert run("--config", root / "assumed.yaml", "--out", root / "assumed").exit_code == 0
    report = json.loads((root / "assumed" / "report.json").read_text())
    finding = next(f for f in report["findings"] if f["id"] == "privacy.membership_inference")
    assert finding["status"] != "not_run"
    assert "drawn with seed 0, assumed to be the rows the model saw" in finding["summary"]


@pytest.mark.parametrize("data, message", [
    ("train: train.csv, label: y", "data.test: missing; the files that trained the model"),
    ("path: all.csv, train: train.csv, test: test.csv, label: y", "data.path: goes with train"),
    ("train: train.csv, test: test.csv, split: fold, label: y", "data.split: applies to one "
                                                                "file"),
    ("path: all.csv, split: fold, test_size: 0.3, label: y", "data.test_size: applies to a "
                                                             "split drawn at random"),
    ("label: y", "data.path: missing; name the data file"),
    ("path: all.csv, split: sex, label: y", "split: column 'sex' holds 'm' at row 0"),
    ("train: train.csv, test: train.csv, label: y", "data.test: the same file as data.train"),
    ("train: empty.csv, test: test.csv, label: y", "data.train: no rows"),
    ("train: train.csv, test: fewer.csv, label: y", "data.test: its columns differ from "
                                                    "train's (['sex'])"),
])
def test_a_bad_declared_split_exits_2_naming_the_key(split_files, data, message):
    root, train = split_files
    train.iloc[:0].to_csv(root / "empty.csv", index=False)
    train.drop(columns="sex").to_csv(root / "fewer.csv", index=False)
    bad = root / "bad.yaml"
    bad.write_text(f"model: {{kind: sklearn, path: model.skops}}\ndata: {{{data}}}\n")
    res = run("--config", bad, "--out", root / "bad")
    assert res.exit_code == 2 and message in res.output, res.output
    assert not (root / "bad").exists()
