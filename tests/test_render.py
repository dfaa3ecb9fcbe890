"""Results are a leaf: a saved report.json is read, validated and re-rendered without torch or
the checks (``AuditResult.from_json``, ``trustml render``), to the same files."""

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression

import trustml
from trustml.cli import main
from trustml.data import AuditData
from trustml.report import (
    AuditResult,
    Chart,
    Curve,
    Finding,
    ImageOverlay,
    ReportReadError,
    ReportSchemaError,
    Table,
    TokenHeatmap,
    validate_report,
)
from trustml.report._annex_iv import POINTS, PROVIDER

ROOT = Path(__file__).resolve().parents[1]
FILES = ("report.html", "report.json", "model_card.md")


def _modules_after(code: str) -> set[str]:
    """The top-level modules loaded after running ``code`` in a fresh interpreter."""
    probe = code + "\nimport sys; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    return set(out.split())


def _submodules_after(code: str) -> set[str]:
    probe = code + "\nimport sys; print(' '.join(m for m in sys.modules if 'trustml' in m))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    return set(out.split())


@pytest.mark.parametrize("code", [
    "import trustml.report",
    "import trustml.cli",
    "import trustml; trustml.AuditResult, trustml.Finding",
    "from trustml.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass",
    "from trustml.cli import main\ntry:\n    main(['render', '--help'])\nexcept SystemExit:\n"
    "    pass",
])
def test_reading_reports_and_the_cli_help_import_no_torch(code):
    loaded = _modules_after(code)
    assert "torch" not in loaded
    assert not loaded & {"captum", "shap", "opacus", "transformers", "sklearn", "fairlearn"}
    assert "trustml.checks" not in _submodules_after(code)


def test_public_names_stay_and_are_the_same_objects():
    from trustml import checks
    for name in ("Finding", "Table", "Chart", "Curve", "TokenHeatmap", "ImageOverlay",
                 "CHALLENGES", "STATUSES", "worst"):
        assert getattr(checks, name) is getattr(trustml.report._finding, name)
    assert trustml.Finding is Finding and trustml.AuditResult is AuditResult
    assert trustml.models.wrap is trustml.wrap  # subpackages still reachable as attributes
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        trustml.nope


@pytest.fixture(scope="module")
def saved_audit(tmp_path_factory):
    """A scikit-learn audit written as the CLI writes it, and the same files re-rendered."""
    rng = np.random.default_rng(1)
    n = 300
    frame = pd.DataFrame({"income <k$>": rng.normal(size=n), "age": rng.integers(18, 80, n),
                          "sex": np.where(rng.random(n) < 0.4, "female", "male & other")})
    frame["y"] = (frame["income <k$>"] + rng.normal(scale=0.7, size=n) > 0).astype(int)
    data = AuditData.from_frame(frame, label="y", sensitive="sex", name="<b>loans</b>")
    model = LogisticRegression().fit(*data.take("train")[:2])
    result = trustml.audit(model, data, progress=False, explain_rows=10, n_boot=20, seed=3)
    first = tmp_path_factory.mktemp("audit")
    result.to_html(first / "report.html")
    result.to_json(first / "report.json")
    result.to_model_card(first / "model_card.md")
    again = tmp_path_factory.mktemp("rendered")
    res = CliRunner().invoke(main, ["render", str(first / "report.json"), "--out", str(again)])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines() == [f"wrote {again / name}" for name in FILES]
    return first, again


@pytest.mark.parametrize("name", FILES)
def test_render_reproduces_each_file_byte_for_byte(saved_audit, name):
    first, again = saved_audit
    assert (again / name).read_bytes() == (first / name).read_bytes()


def test_from_dict_is_the_inverse_of_to_dict(saved_audit):
    first, _ = saved_audit
    report = json.loads((first / "report.json").read_text())
    result = AuditResult.from_dict(report)
    assert result.to_dict() == report
    assert result.to_json() == (first / "report.json").read_text()
    assert AuditResult.from_json(result.to_json()).to_dict() == report  # JSON text works too
    assert all(isinstance(t, Table) for f in result.findings for t in f.tables)
    assert all(isinstance(c, Chart) for f in result.findings for c in f.charts)
    assert any(isinstance(v, Curve) for f in result.findings for v in f.visuals)


def test_render_writes_only_the_formats_asked_for(saved_audit, tmp_path):
    first, _ = saved_audit
    res = CliRunner().invoke(main, ["render", str(first / "report.json"), "--out",
                                    str(tmp_path), "--formats", "html,model_card"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model_card.md", "report.html"]


def _edited(report: dict, edit) -> str:
    report = json.loads(json.dumps(report))
    edit(report)
    return json.dumps(report)


@pytest.mark.parametrize("content, message", [
    (None, r"^trustml: error: .*missing\.json: no such file; give the path of a report\.json"),
    ("{\"title\": ", r"^trustml: error: .*report\.json: not JSON \(Expecting value at line 1"),
    (lambda r: r["findings"][0].update(status="great"),
     r"^trustml: error: report: findings/0/status: 'great' is not one of"),
    (lambda r: r.pop("provenance"), r"^trustml: error: report: \(top level\): 'provenance'"),
    (lambda r: r.update(schema_version="9.9"),
     r"^trustml: error: schema_version: '9.9' is not one of"),
    (lambda r: r["verdicts"].update(fairness="pass" if r["verdicts"]["fairness"] != "pass"
                                    else "fail"),
     r"^trustml: error: report: verdicts: .* are not those its findings give"),
])
def test_render_refuses_a_missing_or_invalid_report_with_one_line(saved_audit, tmp_path,
                                                                   content, message):
    import re
    first, _ = saved_audit
    source = tmp_path / ("missing.json" if content is None else "report.json")
    if isinstance(content, str):
        source.write_text(content)
    elif content is not None:
        source.write_text(_edited(json.loads((first / "report.json").read_text()), content))
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["render", str(source), "--out", str(out)])
    assert res.exit_code == 2
    assert len(res.output.strip().splitlines()) == 1 and re.match(message, res.output)
    assert not out.exists()


def test_render_refuses_an_unknown_format_and_an_older_schema_version(saved_audit, tmp_path):
    first, _ = saved_audit
    res = CliRunner().invoke(main, ["render", str(first / "report.json"), "--out",
                                    str(tmp_path / "out"), "--formats", "html,pdf"])
    assert res.exit_code == 2 and res.output == (
        "trustml: error: --formats: 'pdf' is not one of ['html', 'json', 'model_card']\n")
    old = json.loads((first / "report.json").read_text())  # what a 1.0 report held
    for key in ("missing_values", "dropped_rows"):
        del old["data"][key]
    for key in ("hardware", "seconds", "cv_folds"):
        del old["provenance"][key]
    del old["overall"]  # 1.2 added the overall verdict, headlines and two statuses
    old["findings"] = [{k: v for k, v in f.items() if k != "headline"}
                       | {"visuals": [v for v in f["visuals"] if v["kind"] != "curve"]}
                       for f in old["findings"] if f["status"] in ("pass", "info", "warn", "fail")]
    old["verdicts"] = {c: v for c, v in old["verdicts"].items()
                       if v in ("pass", "info", "warn", "fail")}
    old["schema_version"] = "1.0"
    validate_report(old)
    (tmp_path / "old.json").write_text(json.dumps(old))
    res = CliRunner().invoke(main, ["render", str(tmp_path / "old.json"), "--out",
                                    str(tmp_path / "out"), "--formats", "html"])
    assert res.exit_code == 2 and res.output == (
        "trustml: error: schema_version: '1.0' reports can be validated but not read back; "
        "this trustml reads 1.2 (re-run the audit)\n")
    assert not (tmp_path / "out").exists()


def test_from_json_names_a_missing_file():
    with pytest.raises(ReportReadError, match="nope.json: no such file"):
        AuditResult.from_json(Path("nope.json"))
    with pytest.raises(ReportSchemaError):
        AuditResult.from_dict({"title": "x"})


def _every_kind_of_evidence() -> Finding:
    """A finding holding every evidence type and the values JSON cannot keep as they are."""
    return Finding(
        id="performance.toy", challenge="performance", status="warn", title="Toy",
        summary="Every kind of evidence.",
        metrics={"nan": float("nan"), "f32": np.float32(0.1), "i64": np.int64(3),
                 "pair": (0.25, np.float64(0.75)), 1: "int key"},
        tables=[Table("t", ["a", "b"], [[np.float32(1 / 3), float("inf")], ["x", None]])],
        charts=[Chart("c", ["p", "q"], [np.float32(0.5), float("nan")], errors=[0.1, 0.2])],
        visuals=[TokenHeatmap("h", ["good", " film"], [np.float32(0.3), -0.2]),
                 ImageOverlay("i", [[0.0, 1.0]], [[np.float32(0.5), -0.5]]),
                 Curve("r", "predicted", "observed", [0.1, float("nan")], [0.2, 0.3])],
        thresholds={"max": np.float32(0.05)}, regulations=["EU AI Act Art. 15"])


def test_numbers_json_cannot_keep_render_the_same_from_memory_and_from_json(saved_audit):
    first, _ = saved_audit
    result = AuditResult.from_json(first / "report.json")
    result.findings.append(_every_kind_of_evidence())
    report = result.to_dict()
    assert math.isnan(result.findings[-1].metrics["nan"])
    assert report["findings"][-1]["metrics"]["nan"] is None
    again = AuditResult.from_dict(report)
    assert again.to_html() == result.to_html()
    assert again.to_model_card() == result.to_model_card()
    assert again._repr_html_() == result._repr_html_()
    assert again.to_dict() == report


def test_a_notebook_sees_a_short_repr_and_one_dataframe_row_per_finding(saved_audit):
    first, _ = saved_audit
    result = AuditResult.from_json(first / "report.json")
    text = repr(result)
    statuses = [f.status for f in result.findings]
    assert len(text) < 300 and text.startswith(f"AuditResult({result.title!r}, ")
    for status in set(statuses):
        assert f"{statuses.count(status)} {status}" in text
    assert f", {result.overall['status']}: " in text
    frame = result.to_dataframe()
    assert list(frame["id"]) == [f.id for f in result.findings]
    assert list(frame["status"]) == statuses
    for f, (_, row) in zip(result.findings, frame.iterrows()):
        if f.headline:
            assert row["figure"] == f.headline["label"]
            assert row["value"] == f.headline["value"] or (
                pd.isna(row["value"]) and f.headline["value"] is None)
            if f.headline.get("ci"):
                assert [row["ci_low"], row["ci_high"]] == f.headline["ci"]


# The Annex IV document: every point of Annex IV present, each statement citing a source that
# exists in the audit, and what the audit cannot know marked for the provider.
ANNEX_IV = ["1(a)", "1(b)", "1(c)", "1(d)", "1(e)", "1(f)", "1(g)", "1(h)", "2(a)", "2(b)",
            "2(c)", "2(d)", "2(e)", "2(f)", "2(g)", "2(h)", "3", "4", "5", "6", "7", "8", "9"]


def test_annex_iv_has_every_point_present_and_nothing_is_filled_without_a_source(saved_audit):
    first, _ = saved_audit
    result = AuditResult.from_json(first / "report.json")
    text = result.to_annex_iv()
    assert [p for p, _, _ in POINTS] == ANNEX_IV  # Regulation (EU) 2024/1689, Annex IV
    sections = re.split(r"\n## Point ", text)[1:]
    assert [s.split(":")[0] for s in sections] == ANNEX_IV
    ids = {f.id for f in result.findings}
    for section in sections:
        body = [line for line in section.splitlines()[1:] if line.strip()]
        assert body, section
        for line in body:
            if line in (PROVIDER, f"- The rest of this point: {PROVIDER}"):
                continue
            source = re.search(r"\(source: (finding `([^`]+)`|the audit's (data summary|model "
                               r"descriptions|provenance))\)$", line)
            assert source, line
            assert source.group(2) is None or source.group(2) in ids
    for point in ("1(a)", "2(e)", "4", "8", "9"):  # only the provider knows these
        section = next(s for s in sections if s.startswith(point + ":"))
        assert section.strip().endswith(PROVIDER) and "source:" not in section
    fairness = next(s for s in sections if s.startswith("2(g):"))
    assert "(source: finding `fairness.group_metrics." in fairness

