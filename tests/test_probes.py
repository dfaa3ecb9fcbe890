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
