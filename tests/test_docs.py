"""The getting-started example runs as written."""

import json
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "getting-started.md"


def test_getting_started_api_example_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    example = next(b for b in blocks if "trustml.audit(model, data)" in b)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(example.replace("trustml.audit(model, data)",
                         "trustml.audit(model, data, progress=False)"), namespace)
    assert (tmp_path / "audit.html").is_file() and (tmp_path / "audit.json").is_file()
    assert set(namespace["result"].verdicts) >= {"fairness", "explainability", "performance"}


def test_verdicts_doc_lists_every_registered_threshold_with_its_default():
    from trustml.checks import DEFAULT_THRESHOLDS
    text = (DOC.parent / "verdicts.md").read_text()
    for name, value in DEFAULT_THRESHOLDS.items():
        row = next((line for line in text.splitlines() if f"`{name}`" in line), None)
        assert row is not None, name
        assert f"| {value:g}" in row or f"{value:g} /" in row or f"/ {value:g}" in row, name


def test_the_cli_help_and_the_docs_name_every_config_key_and_table_format():
    """The report help keeps its own short list of the config's keys (the help loads no
    schema, so no torch): it must not drift from the schema, nor the file formats from the
    reader."""
    from click.testing import CliRunner

    from trustml._model_kinds import kinds
    from trustml._schema import AuditConfig, DataSection, ModelSection
    from trustml.cli import main
    from trustml.data._loaders import TABLE_FORMATS

    report_help = " ".join(CliRunner().invoke(main, ["report", "--help"]).output.split())
    train_help = " ".join(CliRunner().invoke(main, ["train", "--help"]).output.split())
    config_doc = (DOC.parent / "config.md").read_text()
    readme = (DOC.parents[1] / "README.md").read_text()
    for section in (AuditConfig, ModelSection, DataSection):
        for key in section.model_fields:
            assert re.search(rf"\b{key}\b", report_help), f"report --help lacks {key}"
            assert re.search(rf"[`.]{key}`|{key}:", config_doc), f"config.md lacks {key}"
    for kind in kinds("architecture"):
        assert f"`{kind}`" in config_doc, f"config.md does not list the architecture {kind}"
    for name in TABLE_FORMATS.values():
        for where, text in (("report --help", report_help), ("train --help", train_help),
                            ("README", readme), ("docs/config.md", config_doc)):
            assert name in text, f"{where} does not name {name} files"


def test_trustml_checks_lists_every_check_threshold_default_and_gate_name():
    import json

    from click.testing import CliRunner

    from trustml.checks import CHALLENGES, DEFAULT_THRESHOLDS, REGISTRY
    from trustml.cli import main

    text = CliRunner().invoke(main, ["checks"])
    assert text.exit_code == 0, text.output
    for name in REGISTRY:
        assert f"{name}  (concern: {REGISTRY[name].challenge})" in text.output
    for name, value in DEFAULT_THRESHOLDS.items():
        assert f"{name} = {value:g}" in text.output
    gates = text.output.strip().splitlines()[-1]
    assert all((f'"{g}"' if " " in g else g) in gates for g in CHALLENGES)
    listing = json.loads(CliRunner().invoke(main, ["checks", "--json"]).output)
    assert [c["name"] for c in listing["checks"]] == list(REGISTRY)
    assert listing["gates"] == list(CHALLENGES)
    assert "`trustml checks`" in (DOC.parent / "config.md").read_text()


def test_the_config_doc_gives_each_default_the_code_declares():
    """docs/config.md's table against the schema's defaults (and AuditData's, where the schema
    leaves a data key to it): changing a default in the code without the doc fails here."""
    import inspect

    import yaml

    from trustml._schema import AuditConfig, DataSection, ModelSection
    from trustml.data import AuditData

    cells = {}
    for line in (DOC.parent / "config.md").read_text().splitlines():
        if line.startswith("| `"):
            row = [c.strip() for c in line.strip().strip("|").split("|")]
            for key in re.findall(r"`([\w.]+)`", row[0]):
                cells[key] = row[-1]
    declared = {}
    for prefix, model in (("", AuditConfig), ("data.", DataSection), ("model.", ModelSection)):
        for name, field in model.model_fields.items():
            default = None if field.is_required() else field.get_default(
                call_default_factory=True)
            if default is not None:
                declared[prefix + name] = default
    signature = inspect.signature(AuditData.from_frame).parameters
    for key in ("task", "test_size", "missing"):  # None in the schema: AuditData decides
        declared.setdefault(f"data.{key}", signature[key].default)
    for key, default in declared.items():
        shown = yaml.safe_dump(default, default_flow_style=True).strip().removesuffix("...")
        assert key in cells, f"docs/config.md has no row for {key}"
        assert re.search(rf"(^|[\s`(]){re.escape(shown.strip())}($|[\s`);,])", cells[key]), \
            f"docs/config.md gives {key} the default {cells[key]!r}; the code: {shown.strip()}"


def test_the_ci_page_runs_as_written(tmp_path, monkeypatch):
    """docs/ci.md, run as a CI job would: its training script on an applicants table, its
    config, its command (exit 0 or 1: gates may fail) and its reading of report.json."""
    import numpy as np
    import pandas as pd
    from click.testing import CliRunner

    from trustml.cli import main

    page = (DOC.parent / "ci.md").read_text()
    python = re.findall(r"```python\n(.*?)```", page, re.S)
    config = next(b for b in re.findall(r"```yaml\n(.*?)```", page, re.S)
                  if b.startswith("# audit.yaml"))
    command = re.search(r"```bash\n(trustml report .*?)\n```", page).group(1).split()
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame({"age": rng.integers(18, 70, n), "income": rng.normal(40, 12, n),
                          "sex": rng.choice(["f", "m"], n)})
    frame["approved"] = (frame.income + rng.normal(0, 8, n) > 40).astype(int)
    frame.to_csv("applicants.csv", index=False)
    exec(python[0], {})
    (tmp_path / "audit.yaml").write_text(config)
    res = CliRunner().invoke(main, command[1:] + ["--quiet"])
    assert res.exit_code in (0, 1), res.output
    report = json.loads((tmp_path / "audit" / "report.json").read_text())
    assert report["data"]["split"]["by"] == "files" and report["data"]["train_rows"] == 450
    namespace = {}
    exec(python[1].replace("print(", "(lambda *a: None)("), namespace)
    assert namespace["failed"] == [(f["id"], f["title"]) for f in report["findings"]
                                   if f["status"] == "fail"]
    assert (res.exit_code == 1) == any(report["verdicts"][g] == "fail"
                                       for g in ("fairness", "privacy"))


def test_trustml_docs_prints_the_pages_the_help_texts_name():
    """The help texts point at `trustml docs PAGE`, which works from a wheel too (the pages are
    its data files): every page they name must print."""
    from click.testing import CliRunner

    from trustml.cli import main

    runner = CliRunner()
    listing = runner.invoke(main, ["docs"])
    assert listing.exit_code == 0 and "config" in listing.output
    helps = " ".join(" ".join(runner.invoke(main, [cmd, "--help"]).output.split())
                     for cmd in ("report", "train"))  # help text wraps lines
    named = set(re.findall(r"`trustml docs ([\w-]+)`", helps))
    assert named >= {"config", "your-own-model"}
    for page in named:
        printed = runner.invoke(main, ["docs", page])
        assert printed.exit_code == 0
        assert printed.output == (DOC.parent / f"{page}.md").read_text()
    wrong = runner.invoke(main, ["docs", "confg"])
    assert wrong.exit_code == 2 and "did you mean 'config'?" in wrong.output
