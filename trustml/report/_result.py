"""`AuditResult`: the plain, JSON-serialisable outcome of an audit, and its writers."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trustml._files import check_writable_dir, write_durably, write_set
from trustml.errors import ConfigError
from trustml.report._finding import CHALLENGES, STATUSES, Finding, worst
from trustml.report._schema import ReportReadError, ReportSchemaError, validate_report

SCHEMA_VERSION = "1.2"
# the report formats and the file each is written to
FORMATS = {"html": "report.html", "json": "report.json", "model_card": "model_card.md"}


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


def write_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename: never a partial file.

    Raises
    ------
    ConfigError
        ``path`` is a folder, or its folder cannot be made or written (nothing is written).
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"path: {path} is a folder; give a file path, such as "
                          f"{path / 'report.html'}")
    check_writable_dir(path.parent, flag="path")
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_durably(path, text)


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
    statement : str
        The overall verdict in one sentence, the gravest problem first
        (:func:`trustml.checks.overall_statement`).
    """

    title: str
    findings: list[Finding]
    data: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    statement: str = ""

    @property
    def overall(self) -> dict:
        """The worst status of any finding, and :attr:`statement`."""
        return {"status": worst(f.status for f in self.findings), "statement": self.statement}

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
                       "verdicts": self.verdicts, "overall": self.overall, "data": self.data,
                       "models": self.models,
                       "findings": [f.to_dict() for f in self.findings],
                       "provenance": self.provenance})

    @classmethod
    def from_dict(cls, report: dict) -> AuditResult:
        """The inverse of :meth:`to_dict`: a result from a parsed ``report.json``.

        The report is first checked against the shipped JSON Schema of the version it declares
        (:func:`validate_report`); it must be of the current version (:data:`SCHEMA_VERSION`),
        and its ``verdicts`` those its findings give. Raises :class:`ReportSchemaError` naming
        the first place at fault. ``to_dict`` of the result gives ``report`` back.
        """
        validate_report(report)
        if report["schema_version"] != SCHEMA_VERSION:
            raise ReportSchemaError(f"schema_version: {report['schema_version']!r} reports can "
                                    f"be validated but not read back; this trustml reads "
                                    f"{SCHEMA_VERSION} (re-run the audit)")
        result = cls(title=report["title"],
                     findings=[Finding.from_dict(f) for f in report["findings"]],
                     data=report["data"], models=report["models"],
                     provenance=report["provenance"],
                     statement=report["overall"]["statement"])
        if result.overall != report["overall"]:
            raise ReportSchemaError(f"report: overall: status {report['overall']['status']!r} "
                                    f"is not the one its findings give "
                                    f"({result.overall['status']!r}); the file was edited")
        if result.verdicts != report["verdicts"]:
            raise ReportSchemaError(f"report: verdicts: {report['verdicts']} are not those its "
                                    f"findings give ({result.verdicts}); the file was edited")
        return result

    @classmethod
    def from_json(cls, source: str | os.PathLike) -> AuditResult:
        """The inverse of :meth:`to_json`: ``source`` is JSON text (a string starting with
        ``{``) or the path of a ``report.json``. Raises :class:`ReportReadError` for a file
        that is missing, unreadable or not JSON, :class:`ReportSchemaError` for a report that
        breaks its schema."""
        if isinstance(source, str) and source.lstrip().startswith("{"):
            where, text = "report", source
        else:
            where = os.fspath(source)
            try:
                text = Path(source).read_text(encoding="utf-8")
            except FileNotFoundError:
                raise ReportReadError(f"{where}: no such file; give the path of a report.json "
                                      "written by trustml") from None
            except (OSError, UnicodeDecodeError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc)
                raise ReportReadError(f"{where}: cannot be read ({reason})") from None
        try:
            report = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ReportReadError(f"{where}: not JSON ({exc.msg} at line {exc.lineno}, column "
                                  f"{exc.colno}); give a report.json written by trustml") from None
        return cls.from_dict(report)

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """The result as JSON; also written atomically to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        if path is not None:
            write_atomic(path, text)
        return text

    def to_html(self, path: str | os.PathLike | None = None) -> str:
        """A self-contained HTML report; also written atomically to ``path`` when given."""
        from trustml.report._html import render_html

        text = render_html(self._as_saved())
        if path is not None:
            write_atomic(path, text)
        return text

    def to_model_card(self, path: str | os.PathLike | None = None) -> str:
        """A Markdown model card; also written atomically to ``path`` when given."""
        from trustml.report._html import render_model_card

        text = render_model_card(self._as_saved())
        if path is not None:
            write_atomic(path, text)
        return text

    def to_annex_iv(self, path: str | os.PathLike | None = None) -> str:
        """The EU AI Act's technical documentation (Annex IV) in Markdown, each point with what
        this audit shows for it and its source, or marked for the provider
        (:mod:`trustml.report._annex_iv`); also written atomically to ``path`` when given."""
        from trustml.report._annex_iv import annex_iv

        text = annex_iv(self._as_saved())
        if path is not None:
            write_atomic(path, text)
        return text

    def write(self, out: str | os.PathLike, formats=None) -> dict[str, Path]:
        """Render ``formats`` (default all of :data:`FORMATS`), then write them under ``out``
        with :func:`~trustml._files.write_set`: every format or none, even if killed midway.
        Returns format -> path."""
        formats = list(FORMATS) if formats is None else list(formats)
        unknown = [f for f in formats if f not in FORMATS]
        if unknown:
            raise ConfigError(f"formats: {unknown} are not among {list(FORMATS)}")
        check_writable_dir(out, [FORMATS[fmt] for fmt in formats], flag="out")
        render = {"html": self.to_html, "json": self.to_json, "model_card": self.to_model_card}
        paths = write_set(out, {FORMATS[fmt]: render[fmt]() for fmt in formats})
        return {fmt: paths[FORMATS[fmt]] for fmt in formats}

    def __repr__(self) -> str:
        """Title, overall status and the findings counted by status, gravest first."""
        counts = {s: sum(f.status == s for f in self.findings) for s in reversed(STATUSES)}
        title = self.title if len(self.title) <= 80 else self.title[:77] + "..."
        counted = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        return f"AuditResult({title!r}, {self.overall['status']}: {counted or 'no findings'})"

    def to_dataframe(self):
        """One row per finding: ``id``, ``challenge``, ``status``, ``title`` and its headline
        figure (``figure``, ``value``, ``ci_low``, ``ci_high``; empty where it has none), as a
        pandas DataFrame."""
        import pandas as pd

        rows = []
        for f in self.findings:
            head = f.headline or {}
            low, high = head.get("ci") or (None, None)
            rows.append([f.id, f.challenge, f.status, f.title, head.get("label"),
                         head.get("value"), low, high])
        return pd.DataFrame(rows, columns=["id", "challenge", "status", "title", "figure",
                                           "value", "ci_low", "ci_high"])

    def _repr_html_(self) -> str:
        from trustml.report._html import render_summary

        return render_summary(self._as_saved())

    def _as_saved(self) -> AuditResult:
        """This result as its report.json holds it (plain numbers, NaN as null, lists for
        tuples). The renderers draw this, so a report re-rendered from its JSON
        (:meth:`from_json`, ``trustml render``) is the same file, byte for byte."""
        d = self.to_dict()
        return type(self)(title=d["title"], findings=[Finding.from_dict(f) for f in d["findings"]],
                          data=d["data"], models=d["models"], provenance=d["provenance"],
                          statement=d["overall"]["statement"])
