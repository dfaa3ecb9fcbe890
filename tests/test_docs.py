"""The getting-started example runs as written."""

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
