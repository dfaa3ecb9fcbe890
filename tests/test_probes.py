import numpy as np
import pytest

import trustml
from trustml.data import load_tweets
from trustml.errors import ConfigError
from trustml.fairness import LEXICON, TEMPLATES, identity_probe
from trustml.models import ModelAdapter


class KeywordModel(ModelAdapter):
    """Positive score 0.9 when a sentence names a woman-group term, else 0.5."""

    input_kind = "text"
    WOMEN = LEXICON["gender"]["women"]

    def predict_proba(self, texts):
        p = np.array([0.9 if any(w.lower() in t.lower() for w in self.WOMEN) else 0.5
                      for t in texts])
        return np.stack([1 - p, p], 1)


def test_probe_scores_are_hand_computable():
    results = {r["category"]: r for r in identity_probe(KeywordModel(), n_boot=50)}
    gender = results["gender"]
    assert gender["groups"] == pytest.approx({"women": 0.9, "men": 0.5, "non-binary": 0.5})
    assert gender["gap"] == pytest.approx(0.4)
    assert gender["gap_ci"] == pytest.approx([0.4, 0.4])  # same gap under every template
    assert gender["highest"] == "women"
    assert set(list(gender["terms"])[:4]) == set(LEXICON["gender"]["women"])
    assert results["religion"]["gap"] == pytest.approx(0.0)
    assert set(results) == set(LEXICON)


def test_user_templates_and_lexicon_from_files(tmp_path):
    (tmp_path / "t.txt").write_text("{person} liked it.\n\n{person} hated it.\n")
    lexicon = {"gender": {"women": ["a woman"], "men": ["a man"]}}
    [result] = identity_probe(KeywordModel(), templates=tmp_path / "t.txt", lexicon=lexicon,
                              n_boot=0)
    assert result["groups"] == pytest.approx({"women": 0.9, "men": 0.5})
    with pytest.raises(ConfigError, match=r"templates: every template needs a \{person\}"):
        identity_probe(KeywordModel(), templates=["no slot here"])
    with pytest.raises(ConfigError, match="lexicon: category 'x' needs at least two groups"):
        identity_probe(KeywordModel(), lexicon={"x": {"only": ["a person"]}})


def test_text_audit_runs_the_probes():
    data = load_tweets(n=60)
    result = trustml.audit(KeywordModel(), data, checks=["identity_probes"], progress=False,
                           n_boot=20)
    finding = result.finding("fairness.identity_probes")
    assert finding.status == "fail"  # a 0.4 gap is far above the 0.10 fail threshold
    assert "gender" in finding.summary and len(TEMPLATES) >= 10


LEXICON_FILES = {
    "yaml": "pets:\n  cat people: [a woman with a cat]\n  dog people: [a man with a dog]\n",
    "json": '{"pets": {"cat people": ["a woman with a cat"], "dog people": ["a man with a dog"]}}',
    "csv": "category,group,term\npets,cat people,a woman with a cat\npets,dog people,a man with a dog\n",
}


@pytest.mark.parametrize("suffix", sorted(LEXICON_FILES))
def test_audit_probes_the_users_groups_from_a_lexicon_file(tmp_path, suffix):
    path = tmp_path / f"terms.{suffix}"
    path.write_text(LEXICON_FILES[suffix])
    (tmp_path / "templates.yaml").write_text("- '{person} liked it.'\n- '{person} hated it.'\n")
    result = trustml.audit(KeywordModel(), load_tweets(n=60), checks=["identity_probes"],
                           lexicon=path, templates=tmp_path / "templates.yaml", n_boot=10,
                           progress=False)
    [probe] = result.finding("fairness.identity_probes").metrics["categories"]
    assert probe["category"] == "pets" and probe["highest"] == "cat people"
    assert probe["groups"] == pytest.approx({"cat people": 0.9, "dog people": 0.5})


@pytest.mark.parametrize("content, message", [
    ("pets: {cats: [a cat]}\n", "lexicon: terms.yaml: category 'pets' needs at least two groups"),
    ("pets: {a: [], b: [x]}\n", "lexicon: terms.yaml: group 'a' of 'pets' needs a list of"),
    ("pets: {a: [x], b: [y]\n", "lexicon: terms.yaml: not valid YAML"),
    ("- a\n- b\n", "lexicon: terms.yaml: expected categories of groups of terms"),
])
def test_a_malformed_lexicon_file_is_one_line_before_any_work(tmp_path, content, message):
    (tmp_path / "terms.yaml").write_text(content)

    class Untouchable(KeywordModel):
        def predict_proba(self, texts):
            raise AssertionError("the model ran before the lexicon was checked")
    with pytest.raises(ConfigError, match=message):
        trustml.audit(Untouchable(), load_tweets(n=60), lexicon=tmp_path / "terms.yaml",
                      progress=False)


def test_a_single_template_string_is_refused_with_the_list_to_write():
    with pytest.raises(ConfigError, match=r"templates: one string is read as a file name; "
                                          r"pass a list, e.g. \['\{person\} was here.'\]"):
        identity_probe(KeywordModel(), templates="{person} was here.")
