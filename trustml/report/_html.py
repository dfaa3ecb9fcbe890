"""Render an :class:`AuditResult` as one self-contained HTML file (inline CSS and SVG).

Renderers format; they never compute findings. Jinja2 autoescaping escapes every string that
comes from data or models.
"""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, select_autoescape

from trustml.checks._finding import CHALLENGES

_ENV = Environment(loader=PackageLoader("trustml.report", "templates"),
                   autoescape=select_autoescape(default=True, default_for_string=True),
                   trim_blocks=True, lstrip_blocks=True)

GLOSSARY = {
    "Differential privacy (epsilon, delta)": "A mathematical limit on how much any one person's "
    "data can change what a trained model does. Smaller epsilon is stronger protection; delta is "
    "the small chance the limit does not hold.",
    "Demographic parity difference": "The largest gap between groups in the share of people who "
    "receive the positive decision. 0 means every group receives it equally often.",
    "Equalized odds difference": "The largest gap between groups in true- or false-positive "
    "rate: whether the model makes mistakes equally often for everyone.",
    "Attribution (SHAP, integrated gradients)": "A score for each input telling how much it "
    "pushed one prediction up or down.",
    "ROC AUC": "How well the model ranks positive examples above negative ones; 0.5 is chance, "
    "1 is perfect.",
}


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


_ENV.filters["fmt"] = _fmt

# Markdown has no autoescaping: escape what a Markdown viewer would read as markup or HTML.
_MD = Environment(loader=PackageLoader("trustml.report", "templates"), autoescape=False,
                  trim_blocks=True, lstrip_blocks=True)
_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]|<>#"})


def _md(value) -> str:
    return "" if value is None else str(value).replace("\n", " ").translate(_MD_SPECIAL)


_MD.filters["md"] = _md


def render_html(result) -> str:
    """The full report."""
    sections = [(c, [f for f in result.findings if f.challenge == c]) for c in CHALLENGES]
    return _ENV.get_template("report.html.j2").render(
        r=result, verdicts=result.verdicts, sections=[s for s in sections if s[1]],
        glossary=GLOSSARY)


def render_model_card(result) -> str:
    """A Markdown model card drawn from the findings."""
    dp = next((f.metrics for f in result.findings if f.id == "privacy.dp_guarantee"
               and "epsilon" in f.metrics), None)
    return _MD.get_template("model_card.md.j2").render(r=result, dp=dp)


def render_summary(result) -> str:
    """The first screen only, for notebooks."""
    return _ENV.get_template("summary.html.j2").render(r=result, verdicts=result.verdicts)
