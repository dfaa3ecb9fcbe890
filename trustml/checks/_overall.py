"""The overall verdict of an audit in one sentence, the gravest problem first."""

from __future__ import annotations

from trustml.checks._registry import AuditContext
from trustml.report._finding import Finding


def overall_statement(findings: list[Finding], ctx: AuditContext) -> str:
    """One sentence an auditor reads first: a model no better than the trivial predictor,
    then checks that raised, then failures, warnings, and what did not run."""
    by = {s: [f for f in findings if f.status == s]
          for s in ("error", "fail", "warn", "not_run", "not_meaningful")}
    parts = []
    reason = _not_working(ctx)
    if reason:
        parts.append(f"Not a working model: {reason}; the findings that need one are marked not "
                     "meaningful, so fix the model before reading the rest.")
    if by["error"]:
        raised = ", ".join(f.id.removesuffix(".error") for f in by["error"])
        parts.append(f"Incomplete: the {raised} check(s) raised, so their concerns could not be "
                     "judged.")
    if by["fail"]:
        parts.append(f"Fails: {_titles(by['fail'])}.")
    if by["warn"]:
        parts.append(f"Warnings: {_titles(by['warn'])}.")
    if not parts:
        parts.append("Passes every check that ran.")
    if by["not_run"]:
        names = (f.id.removesuffix(".not_run") if f.id.endswith(".not_run") else f.title
                 for f in by["not_run"])
        parts.append(f"Not run: {'; '.join(dict.fromkeys(names))}.")
    return " ".join(parts)


def _not_working(ctx: AuditContext) -> str:
    try:
        return ctx.not_working()
    except Exception:  # the model cannot predict: the checks' error findings say why
        return ""


def _titles(findings: list[Finding]) -> str:
    return "; ".join(dict.fromkeys(f.title for f in findings))
