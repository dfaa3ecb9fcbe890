"""`trustml train` on the user's own files and models, then `trustml report --config` from the
training record: a Hugging Face classifier from a CSV, a torch module named by import path."""

import contextlib
import json
import re
import shlex
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from trustml.cli import main
from trustml.models import default_backbone, read_claim, wrap
from trustml.privacy import PrivacyLedger, train_private

WORDS = {1: ["good", "great", "fine", "lovely"], 0: ["bad", "awful", "dull", "poor"]}


def cli(*args):
    return CliRunner().invoke(main, [*map(str, args)])


def tiny_classifiers():
    """Tiny untrained BERT, DistilBERT, RoBERTa and DeBERTa-v2 classifiers (MiniLM's
    tokenizer, built offline) and the tokenizer."""
    from transformers import (AutoTokenizer, BertConfig, BertForSequenceClassification,
                              DebertaV2Config, DebertaV2ForSequenceClassification,
                              DistilBertConfig, DistilBertForSequenceClassification,
                              RobertaConfig, RobertaForSequenceClassification)

    tok = AutoTokenizer.from_pretrained(default_backbone())
    common = {"vocab_size": tok.vocab_size, "pad_token_id": tok.pad_token_id}
    layers = {"hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
              "intermediate_size": 16, **common}
    torch.manual_seed(0)
    return tok, {
        "bert": BertForSequenceClassification(BertConfig(max_position_embeddings=64, **layers)),
        "distilbert": DistilBertForSequenceClassification(DistilBertConfig(
            dim=8, n_layers=1, n_heads=2, hidden_dim=16, max_position_embeddings=64, **common)),
        "roberta": RobertaForSequenceClassification(RobertaConfig(
            max_position_embeddings=70, **layers)),
        "deberta": DebertaV2ForSequenceClassification(DebertaV2Config(
            max_position_embeddings=64, **layers)),
    }


DOC = Path(__file__).resolve().parents[1] / "docs" / "your-own-model.md"
SECTION = DOC.read_text().split("## `trustml train` on your own files")[1].split("\n## ")[0]


def documented(name: str) -> str:
    """The YAML block of docs/your-own-model.md whose first line is ``# name``."""
    return next(b for b in re.findall(r"```yaml\n(.*?)```", SECTION, re.S)
                if b.startswith(f"# {name}"))


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    """The documented user's folder: reviews.csv (text, label, sex), the documented recipe,
    with a tiny BERT directory in place of ./distilbert-base-uncased, and audit.yaml."""
    root = tmp_path_factory.mktemp("own")
    tok, models = tiny_classifiers()
    models["bert"].save_pretrained(root / "bert")
    tok.save_pretrained(root / "bert")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(240):
        label = int(rng.integers(2))
        rows.append(f"a {rng.choice(WORDS[label])} film {i},"
                    f"{'positive' if label else 'negative'},{'F' if i % 3 else 'M'}")
    (root / "reviews.csv").write_text("text,label,sex\n" + "\n".join(rows) + "\n")
    recipe = documented("recipe.yaml")
    assert "path: ./distilbert-base-uncased" in recipe
    (root / "recipe.yaml").write_text(recipe.replace("./distilbert-base-uncased", "bert"))
    (root / "audit.yaml").write_text(documented("audit.yaml"))
    return root


def documented_command(own, word: str):
    """Run the documented ``trustml WORD ...`` command in ``own``."""
    line = next(line for line in re.findall(r"```bash\n(.*?)```", SECTION, re.S)[0].splitlines()
                if line.startswith(f"trustml {word}"))
    args = shlex.split(line)[1:]
    with contextlib.chdir(own):
        return CliRunner().invoke(main, args)


@pytest.fixture(scope="module")
def trained(own):
    res = documented_command(own, "train")
    assert res.exit_code == 0, res.output
    return json.loads((own / "run" / "result.json").read_text())


def test_a_hugging_face_classifier_trains_privately_from_a_users_csv(own, trained):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(own / "run" / "model")
    claim = read_claim(own / "run" / "model")
    assert claim["epsilon"] == pytest.approx(trained["privacy"]["epsilon"])
    assert claim["epsilon"] <= 8
    assert trained["model"] == "model" and trained["train_rows"] == 180
    assert trained["recipe"]["data"]["path"] == str(own / "reviews.csv")  # absolute: auditable
    assert model.config.num_labels == 2 and 0.0 <= trained["private"]["accuracy"] <= 1.0


def test_the_trained_classifier_is_audited_from_its_record_with_reference_models(own, trained):
    res = documented_command(own, "report")
    assert res.exit_code in (0, 1), res.output
    report = json.loads((own / "audit" / "report.json").read_text())
    found = {f["id"]: f for f in report["findings"]}
    dp = found["privacy.dp_guarantee"]
    assert dp["metrics"]["epsilon"] == pytest.approx(trained["privacy"]["epsilon"])
    lira = found["privacy.membership_inference"]["metrics"]["lira"]
    assert lira["reference_models"] == 4  # retrained like the recipe, from the base BERT
    assert found["performance.metrics"]["metrics"]["model_accuracy"] == pytest.approx(
        trained["private"]["accuracy"])  # the audit's test split is the training's
    assert report["data"]["train_rows"] == 180 and (own / "audit" / "report.html").is_file()


def test_an_audit_whose_base_model_is_gone_is_refused_before_any_work(own, trained,
                                                                     tmp_path):
    record = json.loads((own / "run" / "result.json").read_text())
    record["recipe"]["model"]["path"] = str(tmp_path / "deleted-bert")
    (tmp_path / "result.json").write_text(json.dumps(record))
    (tmp_path / "a.yaml").write_text(
        f"model: {{kind: huggingface, path: {own / 'run' / 'model'}, training_record: "
        f"result.json}}\ndata: {{path: {own / 'reviews.csv'}, text: text, label: label}}\n")
    res = cli("report", "--config", tmp_path / "a.yaml", "--out", tmp_path / "out", "--quiet")
    assert res.exit_code == 2 and "model.training_record: the model it was fine-tuned from" \
        in res.output, res.output
    assert not (tmp_path / "out").exists()


def test_an_audit_on_another_split_than_the_training_is_refused(own, trained):
    (own / "other.yaml").write_text(
        "seed: 1\nmodel: {kind: huggingface, path: run/model, training_record: run/result.json}\n"
        "data: {path: reviews.csv, text: text, label: label}\nformats: [json]\n")
    res = cli("report", "--config", own / "other.yaml", "--out", own / "other", "--quiet")
    assert res.exit_code == 2, res.output
    assert "data: the training split is not the rows the model was trained on" in res.output
    assert "seed: 0" in res.output and not (own / "other").exists()


NET = '''
import torch


class Net(torch.nn.Module):
    def __init__(self, n_features, n_classes, width=8):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(n_features, width), torch.nn.Tanh(),
                                        torch.nn.Linear(width, n_classes))

    def forward(self, x):
        return self.body(x)
'''


def test_a_torch_module_by_import_path_trains_on_json_lines_and_is_audited(tmp_path,
                                                                           monkeypatch):
    (tmp_path / "my_nets.py").write_text(NET)
    monkeypatch.syspath_prepend(str(tmp_path))
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 3))
    with open(tmp_path / "rows.jsonl", "w") as f:
        for row, y in zip(x, x[:, 0] + 0.3 * rng.normal(size=300) > 0):
            f.write(json.dumps({"a": row[0], "b": row[1], "c": row[2],
                                "colour": "blue" if row[2] > 0 else "red",
                                "approved": "yes" if y else "no"}) + "\n")
    (tmp_path / "recipe.yaml").write_text(
        "data: {path: rows.jsonl, label: approved, features: [a, b, c], sensitive: [colour],"
        " positive_label: 'yes', rows: 200}\n"
        "model: {kind: module, import: 'my_nets:Net', options: {width: 6}}\n"
        "privacy: {epsilon: 3.0}\ntraining: {epochs: 3, batch_size: 100, lr: 0.05}\n")
    res = cli("train", tmp_path / "recipe.yaml", "--out", tmp_path / "run", "--quiet")
    assert res.exit_code == 0, res.output
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["train_rows"] == 200 and result["model"] == "model.safetensors"
    assert result["private"]["accuracy"] > 0.7  # the first column decides the label
    (tmp_path / "audit.yaml").write_text(
        "model: {kind: torch, weights: run/model.safetensors, training_record: run/result.json}\n"
        "data: {path: rows.jsonl, label: approved, features: [a, b, c], sensitive: [colour],"
        " positive_label: 'yes'}\n"
        "checks: [privacy, membership_inference, performance]\nformats: [json]\n")
    res = cli("report", "--config", tmp_path / "audit.yaml", "--out", tmp_path / "audit",
              "--quiet")
    assert res.exit_code in (0, 1), res.output
    found = {f["id"]: f for f in json.loads((tmp_path / "audit" / "report.json").read_text())
             ["findings"]}
    assert found["performance.metrics"]["metrics"]["model_accuracy"] == pytest.approx(
        result["private"]["accuracy"])
    report = json.loads((tmp_path / "audit" / "report.json").read_text())
    assert report["data"]["train_rows"] == 200  # the recipe's data.rows, not the whole split


@pytest.mark.parametrize("data, model, message", [
    ("{source: adult, path: rows.csv, label: y}", "{kind: mlp}", "data: give either source"),
    ("{path: rows.csv}", "{kind: mlp}", "data.label: missing"),
    ("{path: nowhere.csv, label: y}", "{kind: mlp}", "data.path: no file at"),
    ("{source: adult, label: y}", "{kind: mlp}", "data.label: applies to your own file"),
    ("{path: rows.csv, label: y}", "{kind: huggingface}", "model.path: missing"),
    ("{path: rows.csv, label: y}", "{kind: mlp, path: bert}", "model.path: does not apply to "
                                                               "kind: mlp (it takes hidden, "
                                                               "activation)"),
    ("{path: rows.csv, label: y}", "{kind: mlp, channels: 8}", "model.channels: does not apply "
                                                               "to kind: mlp"),
    ("{path: rows.csv, label: y}", "{kind: module, import: my_nets.Net}",
     "model.import: 'my_nets.Net' is not package.module:Name"),
    ("{path: rows.csv, label: y}", "{kind: module, import: 'no_such_pkg:Net'}",
     "model.import: cannot import 'no_such_pkg:Net'"),
    ("{path: rows.csv, label: y}", "{kind: huggingface, path: bert, trainable: some}",
     "model.trainable: 'some' is not all, head, lora"),
    ("{path: rows.csv, label: y, text: t}", "{kind: huggingface, path: ./no_such_dir}",
     "model.path: no directory at"),
    ("{path: rows.csv, label: y}", "{kind: huggingface, path: no_such_dir}",
     "model.kind: 'huggingface' trains text classifiers"),
])
def test_a_bad_own_data_or_model_is_refused_in_one_line_before_training(tmp_path, data, model,
                                                                          message):
    (tmp_path / "rows.csv").write_text("a,t,y\n" + "\n".join(f"{i},w{i},{i % 2}"
                                                              for i in range(60)))
    (tmp_path / "r.yaml").write_text(f"data: {data}\nmodel: {model}\nprivacy: {{epsilon: 1.0}}"
                                     "\ntraining: {epochs: 1}\n")
    res = cli("train", tmp_path / "r.yaml", "--out", tmp_path / "run", "--quiet")
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", ["bert", "distilbert", "roberta", "deberta"])
def test_hugging_face_forward_gives_the_models_own_answers_and_trains_with_dp(name):
    """Explicit position ids must be the model's own (RoBERTa counts from its padding index;
    DistilBERT takes no token types), and every family trains under book-keeping clipping."""
    tok, models = tiny_classifiers()
    model = models[name].eval()
    adapter = wrap(model, tokenizer=tok, max_length=12, task="binary")
    ids, mask = adapter.tensorize(["a good film", "a bad and dull film, really poor", "fine"])
    with torch.no_grad():
        assert torch.allclose(adapter.forward(model, ids, mask),
                              model(input_ids=ids, attention_mask=mask).logits, atol=1e-6)
    texts = [f"a {w} film" for w in WORDS[1] + WORDS[0]] * 10
    y = np.array(([1] * 4 + [0] * 4) * 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, record = train_private(adapter, texts, y, target_epsilon=8, epochs=1, batch_size=40,
                                  lr=1e-2, ledger=PrivacyLedger(), progress=False)
    assert record.clipping == "bookkeeping" and 0 < record.epsilon <= 8


@pytest.mark.parametrize("name", ["bert", "distilbert", "roberta", "deberta"])
def test_length_sorted_batches_answer_as_each_text_alone(name):
    """Inference batches texts by length (each padded to its batch's longest): the answers are
    each text's own, unpadded, in the order given."""
    tok, models = tiny_classifiers()
    model = models[name].eval()
    adapter = wrap(model, tokenizer=tok, max_length=12, task="binary", batch_size=3)
    texts = ["fine", "a bad and dull film, really poor and long", "a good film", "ok",
             "not the worst film of the year", "dull", "a good and fine film"]
    with torch.no_grad():
        alone = [adapter.forward(model, *adapter.tensorize([t])) for t in texts]
    expected = torch.cat(alone).numpy()
    np.testing.assert_allclose(adapter.logits(texts), expected, atol=1e-5)
    sizes = [len(rows) for rows, _ in adapter.batches(texts)]
    assert sizes == [3, 3, 1]


def test_lora_adapters_are_merged_into_a_plain_directory(tmp_path):
    from transformers import AutoModelForSequenceClassification

    from trustml._model_kinds import _build_huggingface
    from trustml._recipe_run import _save_model
    from trustml.data import AuditData

    tok, models = tiny_classifiers()
    models["bert"].save_pretrained(tmp_path / "bert")
    tok.save_pretrained(tmp_path / "bert")
    data = AuditData.from_texts(["good", "bad"] * 10, [1, 0] * 10)
    adapter = _build_huggingface({"path": str(tmp_path / "bert"), "trainable": "lora"}, data, 2,
                                 (0.0, 1.0))
    assert type(adapter.module).__name__.startswith("Peft")
    ids, mask = adapter.tensorize(["a good film"])
    with torch.no_grad():
        before = adapter.forward(adapter.module, ids, mask)
    assert _save_model(adapter, tmp_path, {"epsilon": 1.0}, directory=True) == "model"
    plain = AutoModelForSequenceClassification.from_pretrained(tmp_path / "model").eval()
    assert not any("lora" in n for n, _ in plain.named_parameters())
    with torch.no_grad():
        assert torch.allclose(plain(input_ids=ids, attention_mask=mask).logits, before,
                              atol=1e-5)
    assert read_claim(tmp_path / "model") == {"epsilon": 1.0}


def test_the_documented_table_recipe_trains_on_its_declared_rows_and_is_audited(tmp_path,
                                                                              monkeypatch):
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 1200
    frame = pd.DataFrame({"age": rng.integers(18, 70, n), "income": rng.normal(40, 12, n),
                          "sex": rng.choice(["f", "m"], n)})
    frame["approved"] = (frame.income + rng.normal(0, 8, n) > 40).astype(int)
    frame.iloc[:900].to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[900:].to_csv(tmp_path / "test.csv", index=False)
    (tmp_path / "table.yaml").write_text(documented("table.yaml"))
    # the privacy checks are what the declared rows change: the others are tested elsewhere
    (tmp_path / "table-audit.yaml").write_text(documented("table-audit.yaml")
                                               + "checks: [privacy, membership_inference]\n")
    line = next(line for block in re.findall(r"```bash\n(.*?)```", SECTION, re.S)
                for line in block.splitlines() if "table.yaml" in line)
    monkeypatch.chdir(tmp_path)
    trained = CliRunner().invoke(main, shlex.split(line)[1:] + ["--set", "training.epochs=2"])
    assert trained.exit_code == 0, trained.output
    result = json.loads((tmp_path / "table-run" / "result.json").read_text())
    assert result["train_rows"] == 900 and result["data"]["split"]["by"] == "files"
    assert result["privacy"]["epsilon"] <= 1.0 + 1e-9
    audited = CliRunner().invoke(main, ["report", "--config", "table-audit.yaml", "--out",
                                        "audit", "--quiet"])
    assert audited.exit_code in (0, 1), audited.output
    report = json.loads((tmp_path / "audit" / "report.json").read_text())
    members = next(f for f in report["findings"]
                   if f["id"] == "privacy.membership_inference")["metrics"]["rows"]["members"]
    assert report["data"]["train_rows"] == 900 and max(members) < 900
