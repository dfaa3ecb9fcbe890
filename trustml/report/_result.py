"""`AuditResult`: the plain, JSON-serialisable outcome of an audit, and its writers."""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trustml.checks._finding import CHALLENGES, Finding, worst

SCHEMA_VERSION = "1.1"


def _plain(value):
    """Make a value JSON-safe: numpy scalars to Python, NaN and inf to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value


# Read once, at import: os.umask can only be read by setting it, which races with threads.
_UMASK = os.umask(0)
os.umask(_UMASK)


def write_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename: never a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        # mkstemp creates the file private (0600); give it the mode open() would have.
        os.chmod(tmp, 0o666 & ~_UMASK)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


@dataclass
class AuditResult:
    """Findings of an audit with what was audited and how.

    Attributes
    ----------
    title : str
    findings : list of Finding
    data : dict
        Summary of the data set (:meth:`AuditData.describe`).
    models : dict
        ``model`` and optionally ``baseline`` descriptions, with their training records.
    provenance : dict
        Versions, seed, time, configuration.
    """

    title: str
    findings: list[Finding]
    data: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)

    @property
    def verdicts(self) -> dict[str, str]:
        """Worst status per challenge that has findings, in the order of CHALLENGES."""
        return {c: worst(f.status for f in self.findings if f.challenge == c)
                for c in CHALLENGES if any(f.challenge == c for f in self.findings)}

    def finding(self, id: str) -> Finding:
        """The finding with this id."""
        for f in self.findings:
            if f.id == id:
                return f
        raise KeyError(id)

    def to_dict(self) -> dict:
        return _plain({"schema_version": SCHEMA_VERSION, "title": self.title,
                       "verdicts": self.verdicts, "data": self.data, "models": self.models,
                       "findings": [f.to_dict() for f in self.findings],
                       "provenance": self.provenance})

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """The result as JSON; also written atomically to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        if path is not None:
            write_atomic(path, text)
        return text

    def to_html(self, path: str | os.PathLike | None = None) -> str:
        """A self-contained HTML report; also written atomically to ``path`` when given."""
        from trustml.report._html import render_html

        text = render_html(self)
        if path is not None:
            write_atomic(path, text)
        return text

    def to_model_card(self, path: str | os.PathLike | None = None) -> str:
        """A Markdown model card; also written atomically to ``path`` when given."""
        from trustml.report._html import render_model_card

        text = render_model_card(self)
        if path is not None:
            write_atomic(path, text)
        return text

    def _repr_html_(self) -> str:
        from trustml.report._html import render_summary

        return render_summary(self)
