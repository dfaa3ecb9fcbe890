"""Hostile and damaged files: nothing is unpickled without ``trust: true``, a corrupt model or
config file gives one line and exit 2, and downloads are checked against pinned digests."""

import hashlib
import io
import os
import pickle
import urllib.request
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

from trustml._model_kinds import load_model
from trustml.cli import main
from trustml.data import find_data_file
from trustml.errors import DataError


class Marker:
    """Unpickling this creates the file ``path``: proof that the pickle ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def run(*args):
    """As tests/test_config.py runs a config: `trustml report ... --quiet`."""
    return CliRunner().invoke(main, ["report", *map(str, args), "--quiet"])


def refused(res, out: Path, message: str) -> None:
    """Exit 2, one line naming ``message`` on stderr, no traceback, nothing written."""
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("trustml: error: ") and message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "Traceback" not in res.output and "weights_only" not in res.output
    assert not out.exists() or not any(out.iterdir())


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """Tiny tabular and text data, and a pickle whose loading creates ``ran``."""
    root = tmp_path_factory.mktemp("hostile")
    (root / "table.csv").write_text("x,z,y\n" + "".join(
        f"{i % 7},{i % 3},{'a' if i % 2 else 'b'}\n" for i in range(40)))
    (root / "texts.csv").write_text("text,label\n" + "".join(
        f"{'good film' if i % 2 else 'dull film'} {i},{i % 2}\n" for i in range(40)))
    with open(root / "evil.pkl", "wb") as f:
        pickle.dump(Marker(root / "ran"), f)
    return root


def config(root: Path, name: str, model: str, data: str = "{path: table.csv, label: y}"):
    path = root / f"{name}.yaml"
    path.write_text(f"model: {model}\ndata: {data}\nformats: [json]\n")
    return path


@pytest.mark.parametrize("trust", ["'false'", "'yes'", "1", '"true"'])
def test_a_trust_that_is_not_a_yaml_boolean_is_refused_before_any_work(root, trust):
    cfg = config(root, "quoted", f"{{kind: sklearn, path: evil.pkl, trust: {trust}}}")
    res = run("--config", cfg, "--out", root / "out")
    refused(res, root / "out", "model.trust: ")
    assert "is not true or false" in res.stderr
    assert not (root / "ran").exists()


def test_a_pickle_without_trust_is_not_loaded_and_with_trust_it_is(root):
    res = run("--config", config(root, "plain", "{kind: sklearn, path: evil.pkl}"),
              "--out", root / "out")
    refused(res, root / "out", "model.trust: ")
    assert not (root / "ran").exists()
    # The control: trust: true does unpickle (the marker shows it), then the file object it
    # made is not a model, which is one line too.
    trusted = config(root, "trusted", "{kind: sklearn, path: evil.pkl, trust: true}")
    refused(run("--config", trusted, "--out", root / "out"), root / "out", "model: ")
    assert (root / "ran").exists()
    (root / "ran").unlink()


def skops_of_something_else(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("notes.txt", "not a model")


@pytest.mark.parametrize("name, write, message", [
    ("random.skops", lambda p: p.write_bytes(os.urandom(256)), "model.path: random.skops"),
    ("zip.skops", skops_of_something_else, "model.path: zip.skops"),
    ("garbage.joblib", lambda p: p.write_bytes(b"\x80\x04garbage" + os.urandom(64)),
     "model.path: garbage.joblib"),
])
def test_corrupt_scikit_learn_files_give_one_line(root, name, write, message):
    write(root / name)
    cfg = config(root, "corrupt", f"{{kind: sklearn, path: {name}, trust: true}}")
    refused(run("--config", cfg, "--out", root / "out"), root / "out", message)


def test_truncated_safetensors_weights_give_one_line(root):
    save_file({"weight": torch.zeros(64, 8)}, root / "whole.safetensors")
    (root / "cut.safetensors").write_bytes((root / "whole.safetensors").read_bytes()[:300])
    cfg = config(root, "torch", "{kind: torch, architecture: mlp, hidden: [4], "
                                "weights: cut.safetensors}")
    refused(run("--config", cfg, "--out", root / "out"), root / "out",
            "model.weights: cut.safetensors")


@pytest.fixture(scope="module")
def tiny_bert(root):
    """A tiny BERT classifier saved as safetensors (``hf``) and as a pickle .bin (``hf_bin``)."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from trustml.models import default_backbone

    tokenizer = AutoTokenizer.from_pretrained(default_backbone())
    bert = BertForSequenceClassification(BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=8, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=16, max_position_embeddings=32))
    for name in ("hf", "hf_bin"):
        bert.save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
    (root / "hf_bin" / "model.safetensors").unlink()
    torch.save(bert.state_dict(), root / "hf_bin" / "pytorch_model.bin")  # a pickle
    return root


def test_a_hugging_face_directory_of_pickle_weights_needs_trust(tiny_bert):
    root = tiny_bert
    cfg = config(root, "hf_bin", "{kind: huggingface, path: hf_bin}",
                 "{path: texts.csv, text: text, label: label}")
    res = run("--config", cfg, "--out", root / "out")
    refused(res, root / "out", "model.path: hf_bin holds pickle weights")
    assert "save_pretrained" in res.stderr and "model.trust: true" in res.stderr
    spec = {"kind": "huggingface", "path": str(root / "hf_bin"), "trust": True}
    assert load_model(spec, SimpleNamespace(task="binary"), 0).module is not None


@pytest.mark.parametrize("damage", ["config", "weights"])
def test_a_damaged_hugging_face_directory_gives_one_line(tiny_bert, damage):
    import shutil

    root = tiny_bert
    broken = root / f"hf_{damage}"
    shutil.copytree(root / "hf", broken, dirs_exist_ok=True)
    if damage == "config":
        (broken / "config.json").write_text('{"model_type": "bert", "hidden_size": ')
    else:
        weights = broken / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])
    cfg = config(root, "hf_broken", f"{{kind: huggingface, path: {broken.name}}}",
                 "{path: texts.csv, text: text, label: label}")
    refused(run("--config", cfg, "--out", root / "out"), root / "out",
            f"model.path: {broken.name}")


@pytest.mark.parametrize("content, message", [
    (b"\xff\xfe\x00m\x00o\x00d\x00e\x00l", "is not UTF-8 text"),
    (b"model: {kind: sklearn}\n\x00\x01\x02", "is not valid YAML"),
])
def test_a_binary_config_gives_one_line(root, content, message):
    (root / "binary.yaml").write_bytes(content)
    refused(run("--config", root / "binary.yaml", "--out", root / "out"), root / "out",
            f"config: binary.yaml {message}")


@pytest.fixture
def downloads(tmp_path, monkeypatch):
    """An empty cache, no $TRUSTML_DATA, and ``serve(bytes)`` to answer every download."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("TRUSTML_DATA", raising=False)

    def serve(content: bytes):
        monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: io.BytesIO(content))
    return serve


def test_a_download_that_does_not_match_its_digest_is_discarded(downloads, tmp_path):
    downloads(b"1 2 3 tampered\n")
    with pytest.raises(DataError) as err:
        find_data_file("german/german.data")
    message = str(err.value)
    assert "german/german.data" in message and "\n" not in message
    assert hashlib.sha256(b"1 2 3 tampered\n").hexdigest() in message
    assert "b21f3d81db8071257d5ff1deaeba1fd4303b62712e6fcc9715c7a86202cb5871" in message
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_a_download_that_matches_its_digest_lands_in_the_cache(downloads, tmp_path, data_dir):
    content = (data_dir / "german" / "german.data").read_bytes()
    downloads(content)
    found = find_data_file("german/german.data")
    assert found == tmp_path / "trustml" / "german" / "german.data"
    assert found.read_bytes() == content
    assert [p.name for p in found.parent.iterdir()] == ["german.data"]
