"""Bad input, everywhere a user can give it: each case is refused at validation, before any
audit or training, with exit code 2 (or a ``TrustMLError`` in Python), one line naming the key,
flag or keyword, no traceback, and nothing written in the output folder.

The fixtures are built once per module and every case fails before the work starts, so the
whole file runs in seconds.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression

from trustml._recipes import CATALOGUE
from trustml.cli import main
from trustml.errors import TrustMLError
from trustml.privacy import PrivacyLedger

RECIPE = CATALOGUE / "mlp-digits"


@pytest.fixture(scope="module")
def workdir(documented_example):
    """As tests/test_config.py, with a file where a folder is expected."""
    root = documented_example
    (root / "a_file").write_text("not a folder")
    return root


def cli(*args):
    return CliRunner().invoke(main, [*map(str, args)])


def refused(res, out: Path, *names: str) -> None:
    """Exit 2, one line on stderr naming each of ``names``, no traceback, nothing written."""
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("trustml: error: "), res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "Traceback" not in res.output
    for name in names:
        assert name in res.stderr, res.stderr
    assert not out.exists() or not any(out.iterdir())


# ------------------------------------------------------------------ trustml report --config
CONFIG_EDITS = [  # (text replaced in audit.yaml, replacement, what the message must say)
    # unknown keys at every depth, with a did-you-mean
    ("  sensitive: [colour, sex]", "  sensitve: [colour, sex]",
     "data.sensitve: unknown key; did you mean 'sensitive'?"),
    ("  label: released", "  lable: released", "data.lable: unknown key; did you mean 'label'?"),
    ("  label: released", "  label: released\n  labels: x", "did you mean 'label'?"),
    ("  positive_label:", "  positve_label:", "did you mean 'positive_label'?"),
    ("  label: released", "  label: released\n  test-size: 0.3", "did you mean 'test_size'?"),
    ("  label: released", "  label: released\n  sensitive_features: [sex]",
     "did you mean 'sensitive'?"),
    ("  label: released", "  label: released\n  colour: 3", "data.colour: unknown key"),
    ("  kind: sklearn", "  knd: sklearn", "model.knd: unknown key; did you mean 'kind'?"),
    ("  path: model.skops", "  path: model.skops\n  wieghts: w", "did you mean 'weights'?"),
    ("  path: model.skops", "  path: model.skops\n  trusted: true", "did you mean 'trust'?"),
    ("  path: model.skops", "  path: model.skops\n  version: 2", "model.version: unknown key"),
    ("seed: 0", "sed: 0", "sed: unknown key; did you mean 'seed'?"),
    ("title:", "titel:", "did you mean 'title'?"),
    ("checks: [", "check: [", "did you mean 'checks'?"),
    ("thresholds:", "threshold:", "did you mean 'thresholds'?"),
    ("gates:", "gate:", "did you mean 'gates'?"),
    ("fail_on: fail", "failon: fail", "did you mean 'fail_on'?"),
    ("formats:", "format:", "did you mean 'formats'?"),
    ("privacy_depth: quick", "privacy-depth: quick", "did you mean 'privacy_depth'?"),
    ("privacy_depth: quick", "privacy_depth: quick\nexplain_row: 5",
     "did you mean 'explain_rows'?"),
    ("privacy_depth: quick", "privacy_depth: quick\ncvfolds: 3", "did you mean 'cv_folds'?"),
    ("privacy_depth: quick", "privacy_depth: quick\nsensitive: [sex]",
     "sensitive: unknown key at the top level; did you mean 'sensitive' under data:"),
    ("privacy_depth: quick", "privacy_depth: quick\nlabel: released", "under data:"),
    ("privacy_depth: quick", "privacy_depth: quick\nverbose: true", "verbose: unknown key"),
    ("privacy_depth: quick", "privacy_depth: quick\n1: x", "the key 1 is not a name"),
    ("  parity_difference_fail: 0.20", "  parity_diference_fail: 0.20",
     "thresholds.parity_diference_fail: unknown threshold; did you mean"),
    ("  parity_difference_fail: 0.20", "  parity: 0.20", "thresholds.parity: unknown threshold"),
    # types and ranges of thresholds
    ("parity_difference_fail: 0.20", "parity_difference_fail: high",
     "thresholds.parity_difference_fail: 'high' is not a number"),
    ("parity_difference_fail: 0.20", "parity_difference_fail: '0.2'", "is not a number"),
    ("parity_difference_fail: 0.20", "parity_difference_fail: -0.1", "must be >= 0"),
    ("parity_difference_fail: 0.20", "parity_difference_fail: .inf", "must be a finite number"),
    ("parity_difference_fail: 0.20", "parity_difference_fail: .nan", "must be a finite number"),
    ("parity_difference_fail: 0.20", "parity_difference_fail: [0.2]", "is not a number"),
    ("parity_difference_fail: 0.20", "parity_difference_fail: true", "is not a number"),
    ("thresholds:\n  parity_difference_fail: 0.20", "thresholds: [0.2]",
     "thresholds: [0.2] is not a mapping"),
    ("thresholds:\n  parity_difference_fail: 0.20", "thresholds: 0.2", "thresholds: 0.2 is not"),
    # seed
    ("seed: 0", "seed: abc", "seed: 'abc' is not a whole number; write e.g. seed: 0"),
    ("seed: 0", "seed: -1", "seed: -1 must be >= 0"),
    ("seed: 0", "seed: 1.5", "seed: 1.5 is not a whole number"),
    ("seed: 0", "seed: true", "seed: True is not a whole number"),
    ("seed: 0", "seed: [0]", "seed: [0] is not a whole number"),
    ("seed: 0", "seed: '7'", "seed: '7' is not a whole number"),
    # checks
    ("checks: [performance, fairness, duplicates, personal_data, membership_inference]",
     "checks: []", "checks: empty list runs no check; leave the key out to run all"),
    ("checks: [performance, fairness, duplicates, personal_data, membership_inference]",
     "checks: performance", "checks: 'performance' is text, not a list; write e.g. "
                            "checks: [performance]"),
    ("checks: [performance,", "checks: [perfromance,",
     "checks: unknown check 'perfromance'; did you mean 'performance'?"),
    ("checks: [performance,", "checks: [speed,", "checks: unknown check 'speed'; use one of"),
    ("checks: [performance,", "checks: [3,", "checks: 3 is not text"),
    ("checks: [performance,", "checks: [Fairness,", "did you mean 'fairness'?"),
    ("checks: [performance, fairness, duplicates, personal_data, membership_inference]",
     "checks: {performance: true}", "is not a list"),
    ("checks: [performance, fairness, duplicates, personal_data, membership_inference]",
     "checks: 3", "checks: 3 is not a list"),
    # gates, fail_on, formats
    ("gates: [fairness, privacy]", "gates: [speed]", "gates: 'speed' is not a concern"),
    ("gates: [fairness, privacy]", "gates: [fairnes]", "did you mean 'fairness'?"),
    ("gates: [fairness, privacy]", "gates: fairness", "gates: 'fairness' is text, not a list"),
    ("gates: [fairness, privacy]", "gates: []", "gates: empty list gates nothing"),
    ("gates: [fairness, privacy]", "gates: [data_quality]", "did you mean 'data quality'?"),
    ("fail_on: fail", "fail_on: error", "fail_on: 'error' is not one of ['fail', 'warn']"),
    ("fail_on: fail", "fail_on: true", "fail_on: True is not one of"),
    ("fail_on: fail", "fail_on: warning", "did you mean 'warn'?"),
    ("formats: [html, json, model_card]", "formats: []", "formats: empty list writes no report"),
    ("formats: [html, json, model_card]", "formats: html", "formats: 'html' is text, not a list"),
    ("formats: [html, json, model_card]", "formats: [pdf]", "formats: 'pdf' is not a format"),
    ("formats: [html, json, model_card]", "formats: [htm]", "did you mean 'html'?"),
    ("formats: [html, json, model_card]", "formats: [markdown]", "formats: 'markdown'"),
    # privacy_depth, explain_rows, cv_folds, quasi_identifiers, phone_regions, title
    ("privacy_depth: quick", "privacy_depth: deep", "privacy_depth: 'deep' is not one of"),
    ("privacy_depth: quick", "privacy_depth: quik", "did you mean 'quick'?"),
    ("privacy_depth: quick", "privacy_depth: 1", "privacy_depth: 1 is not one of"),
    ("privacy_depth: quick", "explain_rows: 0", "explain_rows: 0 must be >= 1"),
    ("privacy_depth: quick", "explain_rows: -5", "explain_rows: -5 must be >= 1"),
    ("privacy_depth: quick", "explain_rows: many", "explain_rows: 'many' is not a whole number"),
    ("privacy_depth: quick", "explain_rows: 10.5", "explain_rows: 10.5 is not a whole number"),
    ("privacy_depth: quick", "cv_folds: 1", "cv_folds: 1 is not 0 or an integer of 2 or more"),
    ("privacy_depth: quick", "cv_folds: -1", "cv_folds: -1 must be >= 0"),
    ("privacy_depth: quick", "cv_folds: five", "cv_folds: 'five' is not a whole number"),
    ("privacy_depth: quick", "cv_folds: 2.5", "cv_folds: 2.5 is not a whole number"),
    ("privacy_depth: quick", "quasi_identifiers: age", "quasi_identifiers: 'age' is text, not"),
    ("privacy_depth: quick", "quasi_identifiers: [1]", "quasi_identifiers: 1 is not text"),
    ("privacy_depth: quick", "phone_regions: US", "phone_regions: 'US' is text, not a list"),
    ("privacy_depth: quick", "phone_regions: [XX]", "phone_regions: ['XX'] is not a list of"),
    ("privacy_depth: quick", "phone_regions: [us]", "phone_regions: ['us']"),
    ("privacy_depth: quick", "phone_regions: [1]", "phone_regions: 1 is not text"),
    ("title: Release audit of the arrests model", "title: [a, b]", "title: ['a', 'b'] is not"),
    ("title: Release audit of the arrests model", "title: 3", "title: 3 is not text"),
    # whole sections
    ("privacy_depth: quick", "privacy_depth: quick\nmodel: sklearn",
     "model: 'sklearn' is not a mapping"),
    ("privacy_depth: quick", "privacy_depth: quick\ndata: arrests.csv",
     "data: 'arrests.csv' is not a mapping"),
    ("privacy_depth: quick", "privacy_depth: quick\nmodel:", "model: None is not a mapping"),
    ("privacy_depth: quick", "privacy_depth: quick\ndata: [arrests.csv]", "data: ['arrests.csv']"),
    ("privacy_depth: quick", "privacy_depth: quick\nmodel: {path: model.skops}",
     "model.kind: missing"),
    ("privacy_depth: quick", "privacy_depth: quick\ndata: {label: released}",
     "data.path: missing"),
    ("privacy_depth: quick", "privacy_depth: quick\ndata: {path: arrests.csv}",
     "data.label: missing"),
    # model:
    ("kind: sklearn", "kind: keras", "model.kind: 'keras'"),
    ("kind: sklearn", "kind: skleran", "did you mean 'sklearn'?"),
    ("kind: sklearn", "kind: [sklearn]", "model.kind: ['sklearn'] is not one of"),
    ("kind: sklearn", "kind: torch", "model.weights: missing; kind: torch needs weights"),
    ("kind: sklearn", "kind: huggingface", "model.path: model.skops is not a directory"),
    ("  path: model.skops", "  path: model.skops\n  weights: w.safetensors",
     "model.weights: does not apply to kind: sklearn; remove it"),
    ("  path: model.skops", "  path: model.skops\n  architecture: mlp",
     "model.architecture: does not apply to kind: sklearn"),
    ("  path: model.skops", "  path: model.skops\n  hidden: [4]", "model.hidden: does not apply"),
    ("  path: model.skops", "  path: model.skops\n  max_length: 4", "model.max_length: does not"),
    ("  path: model.skops", "  path: model.skops\n  training_record: r.json",
     "model.training_record: does not apply to kind: sklearn"),
    ("  path: model.skops", "  path: model.skops\n  trust: 'false'",
     "model.trust: 'false' is not true or false"),
    ("  path: model.skops", "  path: model.skops\n  trust: \"yes\"", "model.trust: 'yes' is not"),
    ("  path: model.skops", "  path: model.skops\n  trust: 1", "model.trust: 1 is not true or"),
    ("  path: model.skops", "  path: model.skops\n  trust: [true]", "model.trust: [True] is not"),
    ("  path: model.skops", "  path: ''", "model.path: '' must not be empty"),
    ("  path: model.skops", "  path: [model.skops]", "model.path: ['model.skops'] is not text"),
    ("  path: model.skops", "  path: 3", "model.path: 3 is not text"),
    ("  path: model.skops", "  path: missing.skops", "model.path: no file or directory"),
    ("  path: model.skops", "  path: arrests.csv", "model.trust: loading arrests.csv"),
    ("  kind: sklearn\n  path: model.skops", "  kind: sklearn", "model.path: missing"),
    ("privacy_depth: quick", "privacy_depth: quick\nmodel: {kind: torch, weights: w.safetensors}",
     "model.architecture: missing"),
    ("privacy_depth: quick", "privacy_depth: quick\nmodel: {kind: torch, architecture: rnn, "
                             "weights: w}", "model.architecture: 'rnn' is not one of"),
    ("privacy_depth: quick", "privacy_depth: quick\nmodel: {kind: torch, architecture: mpl, "
                             "weights: w}", "did you mean 'mlp'?"),
    ("privacy_depth: quick", "privacy_depth: quick\nmodel: {kind: torch, architecture: mlp, "
                             "weights: w, hidden: [0]}", "model.hidden: 0 must be >= 1"),
    ("privacy_depth: quick", "privacy_depth: quick\nmodel: {kind: torch, architecture: mlp, "
                             "weights: w, hidden: 64}", "model.hidden: 64 is not a list"),
    ("privacy_depth: quick", "privacy_depth: quick\nmodel: {kind: torch, architecture: mlp, "
                             "weights: w, hidden: []}", "model.hidden: [] must not be empty"),
    ("privacy_depth: quick", "privacy_depth: quick\nmodel: {kind: torch, architecture: mlp, "
                             "weights: w, max_length: 0}", "model.max_length: 0 must be >= 1"),
    ("privacy_depth: quick", "privacy_depth: quick\nmodel: {kind: torch, architecture: mlp, "
                             "weights: w, path: m}", "model.path: does not apply to kind: torch"),
    ("privacy_depth: quick", "privacy_depth: quick\nmodel: {kind: torch, architecture: mlp, "
                             "weights: w, trust: true}", "model.trust: does not apply"),
    ("privacy_depth: quick", "privacy_depth: quick\nmodel: {kind: torch, architecture: mlp, "
                             "weights: nope.safetensors}", "model.weights: no file"),
    ("privacy_depth: quick", "privacy_depth: quick\nmodel: {kind: huggingface}",
     "model.path: missing"),
    ("privacy_depth: quick", "privacy_depth: quick\nmodel: {kind: huggingface, path: hf, "
                             "hidden: [3]}", "model.hidden: does not apply to kind: huggingface"),
    # data:
    ("label: released", "label: outcome", "label: column 'outcome'"),
    ("label: released", "label: [released]", "data.label: ['released'] is not text"),
    ("label: released", "label: 3", "data.label: 3 is not text"),
    ("sensitive: [colour, sex]", "sensitive: colour", "data.sensitive: 'colour' is text, not a"),
    ("sensitive: [colour, sex]", "sensitive: [race]", "sensitive: column 'race'"),
    ("sensitive: [colour, sex]", "sensitive: {colour: 1}", "data.sensitive: "),
    ("positive_label: \"Yes\"", "positive_label: [\"Yes\"]",
     "data.positive_label: ['Yes'] is not a single value"),
    ("positive_label: \"Yes\"", "positive_label: Maybe", "positive_label: 'Maybe'"),
    ("label: released", "label: released\n  test_size: 0", "data.test_size: 0 must be > 0"),
    ("label: released", "label: released\n  test_size: 1", "data.test_size: 1 must be < 1"),
    ("label: released", "label: released\n  test_size: 1.5", "data.test_size: 1.5 must be < 1"),
    ("label: released", "label: released\n  test_size: -0.2", "data.test_size: -0.2 must be > 0"),
    ("label: released", "label: released\n  test_size: half", "data.test_size: 'half' is not a"),
    ("label: released", "label: released\n  task: classification",
     "data.task: 'classification' is not one of"),
    ("label: released", "label: released\n  task: binry", "did you mean 'binary'?"),
    ("label: released", "label: released\n  missing: skip", "data.missing: 'skip'"),
    ("label: released", "label: released\n  missing: true", "data.missing: True is not one of"),
    ("label: released", "label: released\n  missing: dorp", "did you mean 'drop'?"),
    ("label: released", "label: released\n  text: citizen\n  missing: drop",
     "data.missing: applies to tabular data only"),
    ("label: released", "label: released\n  text: citizen\n  features: [age]",
     "data.features: applies to tabular data only"),
    ("label: released", "label: released\n  features: []", "data.features: [] must not be empty"),
    ("label: released", "label: released\n  features: age", "data.features: 'age' is text"),
    ("label: released", "label: released\n  features: [nope]", "features: column 'nope'"),
    ("label: released", "label: released\n  name: [a]", "data.name: ['a'] is not text"),
    ("  path: arrests.csv", "  path: ''", "data.path: '' must not be empty"),
    ("  path: arrests.csv", "  path: nope.csv", "data.path: no file"),
    ("  path: arrests.csv", "  path: [arrests.csv]", "data.path: ['arrests.csv'] is not text"),
    # the model's features against the configured ones
    ("label: released", "label: released\n  features: [age, employed]",
     "data.features: the model was fitted on"),
    ("sensitive: [colour, sex]", "sensitive: [colour]", "extra ['sex']"),
    ("sensitive: [colour, sex]", "sensitive: [colour, sex, age]", "missing ['age']"),
]


@pytest.mark.parametrize("old, new, message", CONFIG_EDITS)
def test_a_bad_config_exits_2_naming_its_key(workdir, tmp_path, old, new, message):
    text = (workdir / "audit.yaml").read_text()
    assert old in text
    bad = workdir / f"bad-{abs(hash((old, new)))}.yaml"
    bad.write_text(text.replace(old, new, 1))
    out = tmp_path / "out"
    refused(cli("report", "--config", bad, "--out", out, "--quiet"), out, message)


@pytest.mark.parametrize("content, message", [
    (b"", "must be a mapping with model: and data: sections"),
    (b"- model\n- data\n", "must be a mapping"),
    (b"just words\n", "must be a mapping"),
    (b"\xff\xfe\x00m\x00o\x00d\x00e\x00l", "is not UTF-8 text"),
    (b"model: {kind: sklearn\n", "is not valid YAML"),
    (b"model:\n\tkind: sklearn\n", "is not valid YAML"),
    (b"model: {kind: sklearn}\n\x00\x01", "is not valid YAML"),
])
def test_a_config_that_is_not_a_yaml_mapping_exits_2(workdir, tmp_path, content, message):
    (tmp_path / "c.yaml").write_bytes(content)
    out = tmp_path / "out"
    refused(cli("report", "--config", tmp_path / "c.yaml", "--out", out), out, "config: ",
            message)


@pytest.mark.parametrize("flags, message", [
    (["--epsilon", "1"], "--epsilon: does not apply with --config"),
    (["--epsilon", "8.0"], "--epsilon: does not apply with --config"),
    (["--demo", "tabular"], "--demo: does not apply with --config"),
    (["--demo", "sentiment"], "--demo: does not apply with --config"),
    (["--seed", "3"], "--seed: does not apply with --config; write seed: N"),
    (["--seed", "0"], "--seed: does not apply with --config"),
    (["--privacy-depth", "quick"], "--privacy-depth: does not apply with --config"),
    (["--seed", "abc"], "'--seed': 'abc' is not a valid integer"),
    (["--epsilon", "lots"], "'--epsilon': 'lots' is not a valid float"),
    (["--bogus"], "No such option '--bogus'"),
    (["--quite"], "No such option '--quite'"),
])
def test_a_flag_that_does_not_apply_to_a_config_exits_2(workdir, tmp_path, flags, message):
    out = tmp_path / "out"
    refused(cli("report", "--config", workdir / "audit.yaml", "--out", out, *flags), out,
            message)


@pytest.mark.parametrize("out, message", [
    ("a_file", "is a file"),
    ("a_file/sub", "is a file, not a folder"),
    ("/proc/trustml-x", "--out: cannot write in /proc"),
    ("/proc/self/trustml/x", "--out: cannot write in"),
])
def test_an_out_that_cannot_be_written_exits_2_before_any_work(workdir, out, message):
    target = workdir / out if not out.startswith("/") else Path(out)
    res = cli("report", "--config", workdir / "audit.yaml", "--out", target, "--quiet")
    refused(res, workdir / "no-such-folder", "--out", message)
    assert (workdir / "a_file").read_text() == "not a folder"


@pytest.mark.parametrize("name", ["report.html", "report.json", "model_card.md"])
def test_a_report_file_that_is_a_folder_exits_2_and_nothing_is_written(workdir, tmp_path, name):
    (tmp_path / "out" / name).mkdir(parents=True)
    res = cli("report", "--config", workdir / "audit.yaml", "--out", tmp_path / "out")
    assert res.exit_code == 2 and f"--out: {tmp_path / 'out' / name} is a folder" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert [p.name for p in (tmp_path / "out").iterdir()] == [name]


@pytest.mark.parametrize("flags, message", [
    (["--config", "nope.yaml"], "config: no file at"),
    (["--config", "."], "is a directory"),
    (["--demo", "nope"], "demo: unknown demo 'nope'"),
    (["--demo", "tabular", "--epsilon", "-1"], "epsilon: -1"),
    (["--demo", "tabular", "--epsilon", "0"], "epsilon: 0"),
    (["--demo", "tabular", "--epsilon", "nan"], "epsilon: nan"),
    (["--demo", "tabular", "--epsilon", "inf"], "epsilon: inf"),
    (["--demo", "sentiment", "--privacy-depth", "deep"], "privacy_depth: 'deep'"),
    (["--demo", "tabular", "--out", "a_file"], "'--out': Directory 'a_file' is a file"),
    (["--demo", "tabular", "--out", "a_file/x"], "--out: a_file is a file, not a folder"),
])
def test_bad_report_flags_exit_2(workdir, tmp_path, monkeypatch, flags, message):
    monkeypatch.chdir(workdir)
    if "--out" not in flags:
        flags = [*flags, "--out", str(tmp_path / "out")]
    refused(cli("report", *flags), tmp_path / "out", message)


# ------------------------------------------------------------------ trustml train
@pytest.mark.parametrize("override, message", [
    ("training.epoch=3", "training.epoch: unknown key; did you mean 'epochs'?"),
    ("training.learning_rate=0.1", "training.learning_rate: unknown key; use one of"),
    ("training.batchsize=8", "did you mean 'batch_size'?"),
    ("privacy.epsilom=1", "did you mean 'epsilon'?"),
    ("privacy.sigma=1", "privacy.sigma: unknown key; use one of"),
    ("model.hiden=[4]", "did you mean 'hidden'?"),
    ("data.row=10", "did you mean 'rows'?"),
    ("trainng.epochs=1", "--set: 'trainng' is not a recipe section; did you mean 'training'?"),
    ("seed.x=1", "--set: 'seed' is not a recipe section"),
    ("nonsense", "--set: 'nonsense' is not section.key=value"),
    ("training.epochs", "--set: 'training.epochs' is not section.key=value"),
    ("=1", "--set: '=1' is not section.key=value"),
    (".epochs=1", "--set: '.epochs=1' is not section.key=value"),
    ("training.=1", "--set: 'training.=1' is not section.key=value"),
    ("model.kind=rnn", "model.kind: 'rnn' is not one of"),
    ("model.hidden=[0]", "model.hidden: 0 must be >= 1"),
    ("model.hidden=64", "model.hidden: 64 is not a list"),
    ("privacy.epsilon=-1", "privacy.epsilon: -1.0 must be a finite number > 0"),
    ("privacy.epsilon=0", "privacy.epsilon: 0.0 must be a finite number > 0"),
    ("privacy.epsilon=.nan", "epsilon: nan must be a finite number > 0"),
    ("privacy.epsilon=lots", "privacy.epsilon: 'lots' is not a number"),
    ("privacy.delta=2", "privacy.delta: 2"),
    ("privacy.accountant=moments", "privacy.accountant: unknown accountant 'moments'"),
    ("privacy.max_grad_norm=0", "privacy.max_grad_norm: 0"),
    ("training.lr=fast", "training.lr: 'fast' is not a number"),
    ("training.lr=0", "training.lr: 0"),
    ("training.lr=-0.1", "training.lr: -0.1"),
    ("training.epochs=0", "training.epochs: 0"),
    ("training.epochs=1.5", "training.epochs: 1.5 is not a whole number"),
    ("training.batch_size=0", "training.batch_size: 0"),
    ("training.batch_size=abc", "training.batch_size: 'abc' is not a whole number"),
    ("training.baseline_lr=0", "training.baseline_lr: 0 must be > 0"),
    ("data.source=mnist", "data.source: 'mnist' is not one of"),
    ("data.rows=0", "data.rows: 0 must be >= 1"),
    ("data.rows=abc", "data.rows: 'abc' is not a whole number"),
    # YAML 1.1 would read yes / on as true: a --set value says what the user typed
    ("tuning.data=yes", "tuning.data: 'yes' is not one of ['public', 'other', 'training']"),
    ("privacy.compose=on", "privacy.compose: 'on' is not true or false"),
])
def test_bad_recipe_settings_exit_2_naming_the_key(tmp_path, override, message):
    out = tmp_path / "o"
    refused(cli("train", RECIPE, "--out", out, "--quiet", "--set", override), out, message)


@pytest.mark.parametrize("content, message", [
    (b"- data\n- model\n", "recipe: recipe.yaml must be a mapping"),
    (b"hello\n", "must be a mapping"),
    (b"\xff\xfe\x00d\x00a", "is not UTF-8 text"),
    (b"data: {source: digits\n", "is not valid YAML"),
    (b"data: {source: digits}\n", "model: missing; write e.g. model: {hidden: [64, 32], kind: mlp}"),
    (b"trainig: {}\ndata: {source: digits}\n", "trainig: unknown key; did you mean 'training'?"),
    (b"data: 3\nmodel: {kind: mlp}\nprivacy: {epsilon: 1}\ntraining: {}\n",
     "data: 3 is not a mapping; write e.g. data: {source: adult}"),
    (b"data: {source: digits}\nmodel: {kind: mlp}\nprivacy: {delta: 0.1}\ntraining: {}\n",
     "privacy.epsilon: missing"),
])
def test_a_bad_recipe_file_exits_2(tmp_path, content, message):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "recipe.yaml").write_bytes(content)
    out = tmp_path / "o"
    refused(cli("train", tmp_path / "r", "--out", out, "--quiet"), out, message)


@pytest.mark.parametrize("args, message", [
    (["nope-recipe"], "recipe: "),
    ([str(RECIPE), "--out", "a_file"], "'--out': Directory 'a_file' is a file"),
    ([str(RECIPE), "--out", "a_file/sub"], "is a file, not a folder"),
    ([str(RECIPE), "--out", "/proc/trustml-run"], "--out: cannot write in /proc"),
    ([str(RECIPE), "--bogus"], "No such option '--bogus'"),
    ([str(RECIPE)], "Missing option '--out'"),
])
def test_bad_train_arguments_exit_2(workdir, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(workdir)
    if "--out" not in args and args != [str(RECIPE)]:
        args = [*args, "--out", str(tmp_path / "o")]
    refused(cli("train", *args), tmp_path / "o", message)


# ------------------------------------------------------------------ trustml render
@pytest.mark.parametrize("content, flags, message", [
    (None, [], "no such file"),
    (b"{\"title\": ", [], "not JSON"),
    (b"[1, 2]", [], "report"),
    (b"{}", [], "report"),
    (b"\xff\xfe{}", [], "report.json"),
    (b"{\"schema_version\": \"9.9\"}", [], "schema_version"),
    (b"{}", ["--formats", "pdf"], "--formats: 'pdf' is not one of"),
    (b"{}", ["--formats", ""], "--formats: '' is not one of"),
    (b"{}", ["--formats", ","], "--formats: '' is not one of"),
    (b"{}", ["--formats", "html,,pdf"], "--formats: 'pdf'"),
    (b"{}", ["--formats", "HTML"], "--formats: 'HTML'"),
    (b"{}", ["--bogus"], "No such option '--bogus'"),
])
def test_bad_render_inputs_exit_2(tmp_path, content, flags, message):
    source = tmp_path / "report.json"
    if content is not None:
        source.write_bytes(content)
    out = tmp_path / "out"
    refused(cli("render", source, "--out", out, *flags), out, message)


@pytest.mark.parametrize("out, message", [
    ("a_file", "'--out': Directory"), ("a_file/x", "--out: "),
    ("/proc/trustml-render", "--out: cannot write in /proc"),
])
def test_render_refuses_an_out_it_cannot_write(workdir, tmp_path, out, message):
    target = workdir / out if not out.startswith("/") else Path(out)
    (tmp_path / "report.json").write_text("{}")
    refused(cli("render", tmp_path / "report.json", "--out", target), tmp_path / "none", message)


# ------------------------------------------------------------------ the Python API
@pytest.fixture(scope="module")
def toy():
    """A small frame, its AuditData, a fitted scikit-learn model and a tiny torch adapter."""
    from trustml import AuditData, wrap
    from trustml.data import TabularEncoder
    from trustml.models import MLPClassifier

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=80), "b": rng.integers(0, 5, 80),
                          "s": np.where(rng.random(80) < 0.5, "f", "m")})
    frame["y"] = (frame["a"] > 0).astype(int)
    data = AuditData.from_frame(frame, label="y", sensitive="s")
    x, y, _ = data.take("train")
    encoder = TabularEncoder().fit(x)
    return {"frame": frame, "data": data, "model": LogisticRegression().fit(x, y), "x": x,
            "y": y, "torch": wrap(MLPClassifier(encoder.n_outputs, hidden=(4,)),
                                  encoder=encoder)}


def raises_naming(call, name: str) -> None:
    with pytest.raises(TrustMLError) as err:
        call()
    message = str(err.value)
    assert "\n" not in message and name in message, message


@pytest.mark.parametrize("kwargs, name", [
    ({"checks": "performance"}, "checks: 'performance' is text, not a list"),
    ({"checks": []}, "checks: empty list runs no check"),
    ({"checks": ["perfromance"]}, "did you mean 'performance'?"),
    ({"checks": [3]}, "checks: 3 is not text"),
    ({"thresholds": {"x": 1}}, "thresholds: unknown threshold 'x'"),
    ({"thresholds": {"max_epsilon": "high"}}, "thresholds.max_epsilon: 'high' is not a number"),
    ({"thresholds": {"max_epsilon": -1}}, "thresholds.max_epsilon: -1 must be >= 0"),
    ({"thresholds": [1]}, "thresholds: [1] is not a mapping"),
    ({"cv_folds": 1}, "cv_folds: 1"),
    ({"cv_folds": -2}, "cv_folds: -2"),
    ({"cv_folds": True}, "cv_folds: True"),
    ({"cv_folds": "5"}, "cv_folds: '5'"),
    ({"privacy_depth": "deep"}, "privacy_depth: 'deep'"),
    ({"phone_regions": ["XX"]}, "phone_regions: "),
    ({"phone_regions": "US"}, "phone_regions: 'US'"),
    ({"explain_rows": 0}, "explain_rows: 0 must be >= 1; pass e.g. explain_rows=100"),
    ({"explain_rows": "x"}, "explain_rows: 'x' is not a whole number"),
    ({"seed": -1}, "seed: -1 must be >= 0"),
    ({"seed": "x"}, "seed: 'x' is not a whole number"),
    ({"seed": 1.5}, "seed: 1.5"),
    ({"quasi_identifiers": "a"}, "quasi_identifiers: 'a' is text, not a list"),
    ({"title": 3}, "title: 3 is not text"),
])
def test_audit_refuses_bad_keywords(toy, kwargs, name):
    import trustml

    raises_naming(lambda: trustml.audit(toy["model"], toy["data"], progress=False, **kwargs),
                  name)


def test_audit_takes_a_settings_object_that_keywords_override(toy):
    import trustml

    settings = trustml.Settings(checks=["performance"], seed=3, thresholds={"max_epsilon": 5})
    by_object = trustml.audit(toy["model"], toy["data"], settings, progress=False)
    by_keywords = trustml.audit(toy["model"], toy["data"], checks=["performance"], seed=3,
                                thresholds={"max_epsilon": 5}, progress=False)
    for result in (by_object, by_keywords):
        assert result.provenance["checks"] == ["performance"]
        assert result.provenance["seed"] == 3 and result.provenance["thresholds"][
            "max_epsilon"] == 5
    assert [f.to_dict() for f in by_object.findings] == [f.to_dict() for f in by_keywords.findings]
    overridden = trustml.audit(toy["model"], toy["data"], settings, seed=4, progress=False)
    assert overridden.provenance["seed"] == 4 and overridden.provenance["checks"] == [
        "performance"]
    raises_naming(lambda: trustml.Settings(checks="performance"),
                  "checks: 'performance' is text, not a list; pass e.g. checks=")


def test_audit_refuses_what_is_not_its_data_or_model(toy):
    import trustml

    raises_naming(lambda: trustml.audit(toy["model"], toy["frame"], progress=False), "data: ")
    raises_naming(lambda: trustml.audit(object(), toy["data"], progress=False), "model: ")


@pytest.mark.parametrize("kwargs, name", [
    ({"label": "z"}, "label: column 'z'"),
    ({"label": ["y"]}, "label: "),
    ({"label": "y", "sensitive": "q"}, "sensitive: column 'q'"),
    ({"label": "y", "test_size": 1.5}, "test_size: 1.5"),
    ({"label": "y", "test_size": 0}, "test_size: 0"),
    ({"label": "y", "task": "foo"}, "task: unknown task 'foo'"),
    ({"label": "y", "positive_label": 7}, "positive_label: 7"),
    ({"label": "y", "features": ["a", "zz"]}, "features: column 'zz'"),
    ({"label": "y", "features": ["y"]}, "features: the label column 'y'"),
    ({"label": "y", "features": []}, "features: "),
    ({"label": "y", "missing": "skip"}, "missing: 'skip'"),
    ({"label": "y", "test_size": "0.2"}, "test_size: '0.2' must be a fraction in (0, 1)"),
    ({"label": "y", "seed": "1"}, "seed: '1' must be a whole number"),
    ({"label": "y", "features": ["a", "a"]}, "features: ['a', 'a'] names a column more than"),
])
def test_from_frame_refuses_bad_keywords(toy, kwargs, name):
    from trustml import AuditData

    raises_naming(lambda: AuditData.from_frame(toy["frame"], **kwargs), name)


def test_from_frame_refuses_what_is_not_a_frame(toy):
    from trustml import AuditData

    raises_naming(lambda: AuditData.from_frame([1, 2], label="y"), "data: ")
    raises_naming(lambda: AuditData.from_frame(toy["frame"].iloc[:0], label="y"), "data: ")
    twice = toy["frame"].set_axis(["a", "a", "s", "y"], axis=1)
    raises_naming(lambda: AuditData.from_frame(twice, label="y"),
                  "data: column names ['a'] appear more than once")


@pytest.mark.parametrize("kwargs, name", [
    ({"target_epsilon": -1}, "target_epsilon: -1"),
    ({"target_epsilon": 0}, "target_epsilon: 0"),
    ({"target_epsilon": float("nan")}, "target_epsilon: nan"),
    ({"target_epsilon": float("inf")}, "target_epsilon: inf"),
    ({"target_epsilon": "1"}, "target_epsilon: '1'"),
    ({"target_epsilon": 1, "delta": 2}, "delta: 2"),
    ({"target_epsilon": 1, "delta": 0}, "delta: 0"),
    ({"target_epsilon": 1, "epochs": 0}, "epochs: 0"),
    ({"target_epsilon": 1, "epochs": 1.5}, "epochs: 1.5"),
    ({"target_epsilon": 1, "batch_size": 0}, "batch_size: 0"),
    ({"target_epsilon": 1, "lr": 0}, "lr: 0"),
    ({"target_epsilon": 1, "lr": -1}, "lr: -1"),
    ({"target_epsilon": 1, "max_grad_norm": 0}, "max_grad_norm: 0"),
    ({"target_epsilon": 1, "accountant": "x"}, "accountant: unknown accountant 'x'"),
    ({"target_epsilon": 1, "clipping": "x"}, "clipping: unknown method 'x'"),
    ({"target_epsilon": 1, "max_physical_batch_size": 0}, "max_physical_batch_size: 0"),
    ({"target_epsilon": 1, "noise_multiplier": -1}, "noise_multiplier: -1"),
    ({"target_epsilon": 1, "compose": "yes"}, "compose: 'yes' must be true or false"),
    ({"target_epsilon": 1, "delta": 1e-300}, "accountant: 'prv' cannot compute epsilon at "
                                             "delta 1e-300"),
])
def test_train_private_refuses_bad_keywords(toy, kwargs, name):
    from trustml import train_private

    raises_naming(lambda: train_private(toy["torch"], toy["x"], toy["y"], progress=False,
                                        max_steps=1, ledger=PrivacyLedger(), **kwargs), name)


def test_train_private_refuses_bad_data_and_folders(toy, tmp_path):
    from trustml import train_private

    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    for x, y, extra, name in [
            (toy["x"], toy["y"][:-5], {}, f"X, y: {len(toy['y'])} rows in X but "
                                          f"{len(toy['y']) - 5} labels in y"),
            (toy["x"], np.where(toy["y"] == 1, "yes", "no"), {}, "y: labels of type <U3"),
            (toy["x"], toy["y"], {"checkpoint_dir": a_file},
             f"checkpoint_dir: {a_file} is a file, not a folder")]:
        raises_naming(lambda: train_private(toy["torch"], x, y, target_epsilon=1.0,
                                            progress=False, ledger=PrivacyLedger(), **extra),
                      name)
    assert a_file.read_text() == "not a folder"


def test_a_report_written_to_a_folder_or_into_a_file_is_refused(toy, tmp_path):
    import trustml

    result = trustml.audit(toy["model"], toy["data"], checks=["performance"], progress=False)
    raises_naming(lambda: result.to_html(tmp_path), f"path: {tmp_path} is a folder; give a "
                                                    "file path")
    (tmp_path / "f").write_text("x")
    raises_naming(lambda: result.write(tmp_path / "f"), f"out: {tmp_path / 'f'} is a file")
    raises_naming(lambda: result.write(tmp_path / "r", ["pdf"]), "formats: ['pdf']")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


# ------------------------------------------------------------------ exit codes 3 and 130
def test_a_bug_exits_3_with_one_line_and_the_traceback_in_a_log(workdir, tmp_path, monkeypatch):
    import trustml._config

    def broken(*args, **kwargs):
        raise TypeError("unsupported operand")

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(trustml._config, "run_config", broken)
    res = cli("report", "--config", workdir / "audit.yaml", "--out", tmp_path / "out")
    assert res.exit_code == 3 and "Traceback" not in res.output
    line = res.stderr.strip()
    assert "\n" not in line and line.startswith(
        "trustml: internal error: TypeError: unsupported operand (traceback in ")
    log = Path(line.split("(traceback in ")[1].rstrip(")"))
    assert log.parent == tmp_path / "state" / "trustml" and "Traceback" in log.read_text()


def test_ctrl_c_exits_130_and_writes_nothing(workdir, tmp_path, monkeypatch):
    import trustml._config

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(trustml._config, "run_config", interrupted)
    res = cli("report", "--config", workdir / "audit.yaml", "--out", tmp_path / "out")
    assert res.exit_code == 130 and res.stderr.startswith("trustml: interrupted")
    assert not (tmp_path / "out").exists()


def test_the_report_set_is_written_all_or_none(tmp_path, monkeypatch):
    """A rename that fails half-way puts the old files back and leaves no new one."""
    import os

    from trustml._files import write_set

    out = tmp_path / "out"
    write_set(out, {"a.txt": "old a", "b.txt": "old b"})
    real, calls = os.replace, []

    def failing(src, dst):  # the new b.txt cannot be renamed into place, once
        if str(src).endswith("b.txt") and not calls:
            calls.append(src)
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OSError):
        write_set(out, {"a.txt": "new a", "b.txt": "new b"})
    monkeypatch.setattr(os, "replace", real)
    assert {p.name: p.read_text() for p in out.iterdir()} == {"a.txt": "old a", "b.txt": "old b"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder left


@pytest.mark.parametrize("line, message", [
    ("lexicon: 42\n", "lexicon: 42 is not a single value"),
    ("templates: 7\n", "templates: 7 is not a single value"),
    ("lexicon: {pets: {cats: [a cat]}}\n", "lexicon: category 'pets' needs at least two groups"),
])
def test_a_bad_lexicon_key_names_the_key_without_pydantic_words(documented_example, tmp_path,
                                                                line, message):
    cfg = tmp_path / "audit.yaml"
    cfg.write_text((documented_example / "audit.yaml").read_text() + line)
    res = CliRunner().invoke(main, ["report", "--config", str(cfg), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and message in res.output
    assert "constrained" not in res.output and not (tmp_path / "o").exists()
