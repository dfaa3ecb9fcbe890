"""trustml compare: two audits of the same data, a fair and an unfair model."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression

import trustml
from trustml.cli import main
from trustml.data import AuditData


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """report.json of a fair model (trained on the true labels) and of an unfair one (trained
    on labels that favour group "a", which a proxy input lets it find)."""
    rng = np.random.default_rng(0)
    n = 2000
    group = rng.choice(["a", "b"], n)
    x = pd.DataFrame({"skill": rng.normal(size=n),
                      "proxy": (group == "a") + 0.3 * rng.normal(size=n)})
    y = (x["skill"] > 0).astype(int).to_numpy()
    data = AuditData.from_frame(x.assign(y=y, group=group), label="y", sensitive="group",
                                features=["skill", "proxy"], seed=0)
    x_train, y_train, s_train = data.take("train")
    favoured = y_train | (s_train["group"].to_numpy() == "a")
    out = tmp_path_factory.mktemp("compare")
    paths = {}
    for name, labels in (("fair", y_train), ("unfair", favoured)):
        model = LogisticRegression().fit(x_train, labels)
        result = trustml.audit(model, data, checks=["fairness", "performance"],
                               progress=False, n_boot=100)
        paths[name] = out / f"{name}.json"
        result.to_json(paths[name])
    return paths


def test_an_unfair_new_model_fails_the_gate_with_the_gap_change(reports, tmp_path):
    res = CliRunner().invoke(main, ["compare", str(reports["fair"]), str(reports["unfair"]),
                                    "--fail-on", "worse", "--out", str(tmp_path / "c")])
    assert res.exit_code == 1, res.output
    assert res.output.strip().splitlines()[-1].startswith(
        "trustml: gate failed: graver in NEW than in BASE: fairness.group_metrics.group")
    result = json.loads((tmp_path / "c" / "compare.json").read_text())
    row = next(r for r in result["findings"] if r["id"] == "fairness.group_metrics.group")
    base, new = (json.loads(reports[k].read_text()) for k in ("fair", "unfair"))
    gap = {k: next(f for f in r["findings"] if f["id"] == row["id"])["headline"]
           for k, r in (("base", base), ("new", new))}
    fig = row["figure"]
    assert row["worse"] and fig["change"] == pytest.approx(gap["new"]["value"] -
                                                           gap["base"]["value"])
    assert fig["change_ci"] == pytest.approx([gap["new"]["ci"][0] - gap["base"]["ci"][1],
                                              gap["new"]["ci"][1] - gap["base"]["ci"][0]])
    assert fig["change_ci"][0] > 0  # the gap grew beyond the intervals' noise
    assert "| Group fairness by group | pass -> fail (worse) |" in res.output
    assert (tmp_path / "c" / "compare.md").read_text() in res.output


def test_nothing_worse_exits_0(reports):
    res = CliRunner().invoke(main, ["compare", str(reports["unfair"]), str(reports["fair"]),
                                    "--fail-on", "worse"])
    assert res.exit_code == 0, res.output
    assert "Group fairness by group | fail -> pass" in res.output


def test_reports_of_different_data_are_refused_in_one_line(reports, tmp_path):
    other = json.loads(reports["unfair"].read_text())
    other["data"]["sha256"] = "0" * 64
    (tmp_path / "other.json").write_text(json.dumps(other))
    res = CliRunner().invoke(main, ["compare", str(reports["fair"]), str(tmp_path / "other.json"),
                                    "--out", str(tmp_path / "c")])
    assert res.exit_code == 2
    assert len(res.output.strip().splitlines()) == 1 and "different data" in res.output
    assert "--allow-different-data" in res.output and not (tmp_path / "c").exists()


def test_a_hostile_title_cannot_break_the_pull_request_table():
    from trustml.report._compare import to_markdown
    row = {"id": "fairness.group_metrics.x", "title": "Group fairness by a|b <script>\n# h",
           "base": "pass", "new": "warn", "worse": True, "figure": None}
    text = to_markdown({"base": "b", "new": "n", "findings": [row], "appeared": [],
                        "disappeared": [], "intervals": "from the two reports' intervals"})
    line = next(t for t in text.splitlines() if "Group fairness" in t)
    assert line.count("|") - line.count("\\|") == 4  # still three cells
    assert "<script>" not in text and "\n# h" not in text
