import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from fairlearn.metrics import MetricFrame, selection_rate
from opacus.accountants import PRVAccountant
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score

import trustml
from trustml.cli import main
from trustml.data import AuditData, load_tweets
from trustml.models import transformer_sentiment, wrap
from trustml.report import AuditResult


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    res = CliRunner().invoke(main, ["report", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    return out, json.loads((out / "report.json").read_text()), (out / "report.html").read_text()


def test_demo_writes_a_model_card(demo_report):
    out, report, _ = demo_report
    card = (out / "model_card.md").read_text()
    assert "\n# Model card: trustml demo audit" in card
    from huggingface_hub import ModelCard  # a Hub-valid README: metadata and results load
    results = {r.metric_type: r for r in ModelCard.load(out / "model_card.md").data.eval_results}
    accuracy = next(f for f in report["findings"] if f["id"] == "performance.metrics")
    assert results["performance.metrics"].metric_value == accuracy["headline"]["value"]
    assert results["privacy.dp_guarantee"].metric_name == "Differential privacy (epsilon)"
    assert "differential-privacy" in ModelCard.load(out / "model_card.md").data.tags
    for challenge, status in report["verdicts"].items():
        assert f"| {challenge} | {status} |" in card
    dp = next(f for f in report["findings"] if f["id"] == "privacy.dp_guarantee")["metrics"]
    assert f"epsilon {dp['epsilon']:.2f} at delta {dp['delta']}" in card


def test_demo_json_holds_what_an_auditor_needs(demo_report):
    _, report, _ = demo_report
    assert report["schema_version"] == "1.2"
    findings = {f["id"]: f for f in report["findings"]}
    dp = findings["privacy.dp_guarantee"]["metrics"]
    assert dp["accountant"] == "prv" and 0 < dp["epsilon"] <= 1.0 + 1e-6
    assert dp["delta"] < 1 / dp["n_train"]
    direct = PRVAccountant()
    direct.history = [(dp["noise_multiplier"], dp["sample_rate"], dp["steps"])]
    assert dp["epsilon"] == pytest.approx(direct.get_epsilon(dp["delta"]), rel=1e-6)
    perf = findings["performance.metrics"]["metrics"]
    assert 0.5 < perf["baseline_accuracy"] <= 1 and 0.5 < perf["model_accuracy"] <= 1
    # The main job's DP model works: its balanced-accuracy gain over the majority class has a
    # bootstrap interval above 0, so its passes elsewhere are meaningful.
    assert perf["working"] and perf["gain_over_trivial_ci"][0] > 0
    assert findings["performance.metrics"]["status"] == "pass"
    for feature, n_groups in (("sex", 2), ("race", 5)):
        groups = findings[f"fairness.group_metrics.{feature}"]["metrics"]["by_group"]
        assert len(groups) == n_groups and all("selection_rate" in g for g in groups)
    methods = findings["explainability.attributions"]["metrics"]["methods"]
    assert set(methods) == {"integrated_gradients", "shap"}
    top = methods["shap"]["top_attributions"]
    assert top[0]["mean_abs"] >= top[-1]["mean_abs"] > 0
    assert {r["feature"] for r in top} <= {
        "age", "workclass", "education", "education-num", "marital-status", "occupation",
        "relationship", "capital-gain", "capital-loss", "hours-per-week", "native-country"}
    quality = findings["explainability.quality"]["metrics"]
    assert quality["integrated_gradients"]["completeness_gap"] < 0.05
    assert quality["robustness"]["infidelity"] >= 0
    assert -1 <= quality["stability_vs_baseline"]["global"] <= 1
    assert set(report["verdicts"]) >= {"privacy", "fairness", "explainability", "performance"}


def test_demo_html_is_self_contained(demo_report):
    _, _, html = demo_report
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html and "<svg" in html
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "Content-Security-Policy" in html
    for section in ("privacy", "fairness", "explainability", "performance"):
        assert f'id="{section}"' in html


@pytest.mark.parametrize("args, message", [
    (["--demo", "nope"], "trustml: error: demo: unknown demo 'nope'"),
    (["--epsilon", "0"], "trustml: error: epsilon: 0.0 must be a finite number > 0"),
    (["--epsilon", "-2"], "trustml: error: epsilon: -2.0 must be"),
])
def test_cli_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["report", "--out", str(out), "--quiet", *args])
    assert res.exit_code == 2
    assert res.output.strip().startswith(message) and len(res.output.strip().splitlines()) == 1
    assert not out.exists()


def test_the_demos_members_are_the_rows_its_dp_record_names_not_an_assumption(demo_report):
    _, report, _ = demo_report
    finding = next(f for f in report["findings"] if f["id"] == "privacy.membership_inference")
    assert report["data"]["split"]["by"] == "seed" and "assumed" not in finding["summary"]


def test_every_json_field_the_reading_page_names_is_in_the_report(demo_report):
    _, report, _ = demo_report
    page = (Path(__file__).resolve().parents[1] / "docs" / "reading-a-report.md").read_text()
    table = page.split("## Where each figure is in `report.json`")[1].split("\n## ")[0]
    fields = [f for line in table.splitlines() if line.startswith("| `")
              for f in re.findall(r"`([\w.\[\]]+)`", line.split("|")[1])]
    assert len(fields) > 20
    for field in fields:
        head, _, rest = field.partition("[].")
        values = [report]
        for key in head.split("."):
            values = [v[key] for v in values]
        if rest:  # every finding has it
            values = [f[rest] for f in values[0]]
        assert values, field


def test_no_partial_report_when_rendering_fails(demo_report, tmp_path, monkeypatch):
    def boom(self, path=None):
        raise RuntimeError("renderer crashed")

    result = AuditResult.from_json((demo_report[0] / "report.json").read_text())
    monkeypatch.setattr(AuditResult, "to_json", boom)  # one of the three renderers fails
    with pytest.raises(RuntimeError):
        result.write(tmp_path / "out", ["html", "json", "model_card"])
    assert not (tmp_path / "out").exists()


def test_atomic_write_keeps_the_old_file_on_interrupt_and_uses_the_usual_mode(tmp_path,
                                                                              monkeypatch):
    import os

    from trustml.report import write_atomic
    path = write_atomic(tmp_path / "report.html", "old")
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, "new")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["report.html"]


def hostile_data():
    evil = "<script>alert(1)</script>"
    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame({f"x{evil}": rng.normal(size=n),
                       "grp": np.where(np.arange(n) % 2, evil, '<img src=x onerror="alert(2)">')})
    df["y"] = (df.iloc[:, 0] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    return AuditData.from_frame(df, label="y", sensitive="grp", name=evil)


def test_sklearn_audit_matches_fairlearn_and_escapes_hostile_strings(tmp_path):
    data = hostile_data()
    x_train, y_train, _ = data.take("train")
    model = LogisticRegression().fit(x_train, y_train)
    result = trustml.audit(model, data, progress=False, explain_rows=20)
    x, y, sens = data.take("test")
    pred = model.predict(x)
    mf = MetricFrame(metrics={"accuracy": accuracy_score, "selection_rate": selection_rate},
                     y_true=y, y_pred=pred, sensitive_features=sens["grp"])
    finding = result.finding("fairness.group_metrics.grp")
    for row in finding.metrics["by_group"]:
        assert row["accuracy"] == pytest.approx(mf.by_group.loc[row["group"], "accuracy"])
        assert row["selection_rate"] == pytest.approx(
            mf.by_group.loc[row["group"], "selection_rate"])
    html = result.to_html(tmp_path / "r.html")
    assert "<script" not in html and "onerror=" not in html.replace("onerror=&#34;", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    js = json.loads(result.to_json(tmp_path / "r.json"))
    assert js["data"]["name"] == "<script>alert(1)</script>"  # JSON keeps data verbatim
    assert "<div" in result._repr_html_()
    card = result.to_model_card(tmp_path / "card.md")
    assert not re.search(r"(?<!\\)[<>]", card)  # every angle bracket escaped: no HTML
    assert r"\<script\>alert(1)\</script\>" in card  # shown literally by Markdown viewers


def test_audit_without_privacy_record_warns_and_rejects_unknown_checks():
    data = hostile_data()
    model = LogisticRegression().fit(*data.take("train")[:2])
    result = trustml.audit(model, data, checks=["privacy"], progress=False)
    assert result.verdicts == {"privacy": "warn"}
    with pytest.raises(trustml.ConfigError, match="checks: unknown check 'nope'"):
        trustml.audit(model, data, checks=["nope"], progress=False)
    with pytest.raises(trustml.ConfigError, match="thresholds: unknown"):
        trustml.audit(model, data, thresholds={"max_eps": 3}, progress=False)


def test_text_audit_with_transformer():
    data = load_tweets(n=80)
    model, tok = transformer_sentiment(trainable="head")
    result = trustml.audit(wrap(model, tokenizer=tok, max_length=32), data, explain_rows=3,
                           progress=False, checks=["performance", "explainability"])
    attr = result.finding("explainability.attributions").metrics
    assert attr["examples_explained"] == 3
    assert set(attr["methods"]) == {"attention", "ablation", "integrated_gradients", "shap"}
    assert attr["methods"]["attention"]["method"].startswith("attention-mask")
    quality = result.finding("explainability.quality").metrics
    assert quality["integrated_gradients"]["completeness_gap"] < 0.05
    assert result.finding("explainability.identity_terms").metrics["texts"] == 3
    html = result.to_html()
    assert html.count('<figure class="heat">') == 3


def test_schema_rejects_a_malformed_report(demo_report):
    from trustml.report import ReportSchemaError, report_schema, validate_report
    _, report, _ = demo_report
    validate_report(report)
    assert report_schema()["properties"]["schema_version"]["const"] == report["schema_version"]
    broken = json.loads(json.dumps(report))
    broken["findings"][0]["status"] = "great"
    with pytest.raises(ReportSchemaError, match=r"^report: findings/0/status: 'great' is not one"):
        validate_report(broken)
    del broken["provenance"]
    with pytest.raises(ReportSchemaError, match="provenance"):
        validate_report(broken)


def test_each_report_is_validated_against_the_schema_of_its_own_version():
    from trustml.report import ReportSchemaError, validate_report
    data = hostile_data()
    model = LogisticRegression().fit(*data.take("train")[:2])
    report = trustml.audit(model, data, checks=["performance"], progress=False).to_dict()
    old = json.loads(json.dumps(report))  # what a 1.0 report held
    for key in ("missing_values", "dropped_rows"):
        del old["data"][key]
    for key in ("hardware", "seconds", "cv_folds"):
        del old["provenance"][key]
    del old["overall"]  # 1.2 added the overall verdict and headlines
    old["findings"] = [{k: v for k, v in f.items() if k != "headline"} for f in old["findings"]]
    old["schema_version"] = "1.0"
    validate_report(old)
    with pytest.raises(ReportSchemaError, match="is a required property"):
        validate_report(old | {"schema_version": "1.1"})
    with pytest.raises(ReportSchemaError, match="^schema_version: '9.9' is not one of .*; "
                       "upgrade trustml to read it"):
        validate_report(report | {"schema_version": "9.9"})
    with pytest.raises(ReportSchemaError, match="^report: \\(top level\\): 'schema_version' is "
                       "a required property"):
        validate_report({k: v for k, v in report.items() if k != "schema_version"})


def _without_times(value):
    """The report without wall-clock times, timestamps and the compute-cost finding (timings)."""
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items()
                if k not in ("seconds", "created")}
    if isinstance(value, list):
        return [_without_times(v) for v in value
                if not (isinstance(v, dict) and v.get("challenge") == "compute")]
    return value


def test_same_seed_gives_the_same_report_and_every_clause_is_explained():
    from trustml.report._html import CLAUSES
    data = hostile_data()
    model = LogisticRegression().fit(*data.take("train")[:2])
    runs = [trustml.audit(model, data, progress=False, explain_rows=10, n_boot=20, seed=3)
            for _ in range(2)]
    first, second = (_without_times(r.to_dict()) for r in runs)
    assert first == second
    html = runs[0].to_html()
    clauses = {c for f in runs[0].findings for c in f.regulations}
    assert clauses and clauses <= set(CLAUSES)  # every clause a finding cites has its text
    assert 'id="regulation"' in html and "EU AI Act Art. 10" in html
    assert 'href="#fairness.group_metrics.grp"' in html


def test_a_check_that_raises_leaves_an_error_finding_and_a_complete_report():
    from trustml.checks import REGISTRY, register
    from trustml.checks._registry import CheckSpec

    def broken(ctx):
        raise RuntimeError("library failed on this model\nsecond line")

    data = hostile_data()
    model = LogisticRegression().fit(*data.take("train")[:2])
    with REGISTRY.temporarily("broken", CheckSpec("broken", "robustness", broken)):
        result = trustml.audit(model, data, checks=["broken", "privacy"], progress=False)
    assert "broken" not in REGISTRY  # restored
    found = result.finding("broken.error")
    assert found.status == "error" and "RuntimeError: library failed on this model." in (
        found.summary)
    assert result.verdicts == {"robustness": "error", "privacy": "warn"}  # the rest ran
    assert AuditResult.from_json(result.to_json()).to_html() == result.to_html()
    with pytest.raises(ValueError, match="registered twice"):
        register("privacy", "privacy")
    with pytest.raises(ValueError, match="is not one of"):
        register("new_check", "speed")


def test_checks_declare_needs_thresholds_and_clauses():
    from trustml.checks import DEFAULT_THRESHOLDS, REGISTRY, register
    from trustml.checks._registry import CheckSpec
    # the defaults are the union of what the registered checks declare
    declared = {k: v for spec in REGISTRY.values() for k, v in spec.thresholds.items()}
    assert DEFAULT_THRESHOLDS == declared and DEFAULT_THRESHOLDS["max_epsilon"] == 10.0
    with pytest.raises(ValueError, match="have other defaults"):
        register("stricter", "privacy", thresholds={"max_epsilon": 1.0})
    with pytest.raises(ValueError, match="needs \\['gpu'\\] are not among"):
        register("gpu_check", "compute", needs=["gpu"])

    data = hostile_data()  # tabular, binary, with a sensitive feature
    model = LogisticRegression().fit(*data.take("train")[:2])
    result = trustml.audit(model, data, checks=["identity_probes", "empirical_epsilon",
                                                "calibration"], progress=False)
    probes = result.finding("identity_probes.not_run")
    assert probes.status == "not_run" and probes.summary == "Not run: it needs text inputs."
    assert probes.regulations == []  # evidence of nothing
    canaries = result.finding("empirical_epsilon.not_run")
    assert canaries.metrics["needs"] == ["canaries"]  # a scikit-learn model retrains itself
    assert result.finding("performance.calibration").status in ("pass", "warn")
    assert result.verdicts["fairness"] == "not_run"
    assert AuditResult.from_json(result.to_json()).to_html() == result.to_html()

    def cites_too_much(ctx):
        return [trustml.checks.Finding("x.y", "robustness", "pass", "t", "s",
                                       regulations=["GDPR Art. 22"])]
    loose = CheckSpec("loose", "robustness", cites_too_much, clauses=("EU AI Act Art. 15",))
    with REGISTRY.temporarily("loose", loose):
        found = trustml.audit(model, data, checks=["loose"], progress=False).finding(
            "loose.error")
    assert "cites ['GDPR Art. 22'], which the loose check does not declare" in found.summary
