"""Render an :class:`AuditResult` as one self-contained HTML file (inline CSS and SVG).

Renderers format; they never compute findings. Jinja2 autoescaping escapes every string that
comes from data or models.
"""

from __future__ import annotations

import re

import yaml
from jinja2 import Environment, PackageLoader, select_autoescape

from trustml.report._finding import CHALLENGES

JUDGED = ("pass", "info", "warn", "fail")  # statuses whose finding evidences its clauses

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
    "Membership inference": "An attack that guesses whether a person's record was used to train "
    "the model. An attack no better than guessing (AUC 0.5) means the model does not visibly "
    "leak who was in its training data.",
    "Faithfulness (comprehensiveness, sufficiency)": "Whether an explanation points at the "
    "inputs the model really uses: removing them should change the prediction a lot "
    "(comprehensiveness), keeping only them should change it little (sufficiency).",
    "k-anonymity": "Every combination of identifying attributes (age, sex, postcode...) is "
    "shared by at least k people, so no one can be singled out by them.",
    "Calibration (expected calibration error, Brier score)": "Whether a predicted probability "
    "means what it says: of the cases given 70%, about 70% should turn out positive. The "
    "expected calibration error is the average gap, 0 is perfect; the Brier score is the mean "
    "squared error of the probabilities.",
    "Confusion matrix": "A count of the model's answers for each true class: the diagonal holds "
    "the right answers, the other cells the kinds of mistakes.",
    "k-fold cross-validation": "Train and test the model k times, each time holding out a "
    "different k-th of the data; the spread of the scores shows how much one number depends "
    "on which data happened to be held out.",
    "Robustness to small changes": "Whether the answer stays the same after a change that should "
    "not matter: a typo, lower case, dropped commas, or a little noise in a measurement.",
    "Confidence interval": "The range the true value lies in with 95% probability, given how "
    "much data there was; a wide interval means the number is uncertain.",
}


# What each clause a finding can evidence asks for, in a line (EU AI Act Regulation (EU)
# 2024/1689, NIST AI RMF 1.0, GDPR).
CLAUSES = {
    "EU AI Act Art. 9": "Risk management: identify, evaluate and mitigate foreseeable risks.",
    "EU AI Act Art. 10": "Data governance: quality, representativeness, examination of biases.",
    "EU AI Act Art. 11": "Technical documentation (Annex IV), including the computational "
    "resources used to develop, train, test and validate the system.",
    "EU AI Act Art. 13": "Transparency: deployers can interpret the output and use it properly.",
    "EU AI Act Art. 14": "Human oversight: people can understand, monitor and override.",
    "EU AI Act Art. 15": "Accuracy, robustness and cybersecurity, declared and resilient.",
    "GDPR Art. 5(1)(c)": "Data minimisation: only the personal data the purpose needs.",
    "GDPR Art. 25": "Data protection by design and by default.",
    "GDPR Art. 32": "Security of processing: measures appropriate to the risk to people's data.",
    "NIST AI RMF MEASURE 2.5": "Validity and reliability are demonstrated.",
    "NIST AI RMF MEASURE 2.7": "Security and resilience are evaluated.",
    "NIST AI RMF MEASURE 2.9": "The model is explained and its output interpreted in context.",
    "NIST AI RMF MEASURE 2.10": "Privacy risk is examined and documented.",
    "NIST AI RMF MEASURE 2.11": "Fairness and bias are evaluated and results documented.",
    "NIST AI RMF MEASURE 2.12": "Environmental impact and sustainability of training and "
    "use are assessed and documented.",
    "NIST AI RMF MANAGE 1.3": "Responses to high-priority risks are planned and documented.",
}


def _by_clause(findings) -> dict:
    """Clause -> the findings that evidence it, clauses in a stable order."""
    out: dict[str, list] = {}
    for f in findings:
        if f.status not in JUDGED:
            continue  # not run, not meaningful, or an error: evidence of nothing
        for clause in f.regulations:
            out.setdefault(clause, []).append(f)
    def natural(clause: str) -> list:  # "Art. 9" before "Art. 10"
        return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", clause)]
    return dict(sorted(out.items(), key=lambda item: natural(item[0])))


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
        audited=_audited(result), figures=_figures(result.findings),
        glossary=GLOSSARY, regulations=_by_clause(result.findings), clause_texts=CLAUSES)


FIGURE_ORDER = ("performance", "privacy", "fairness", "explainability")  # the story's order


def _figures(findings) -> list:
    """The findings with a headline figure: does the model work, what privacy it has, whom it
    treats differently, whether its explanations hold; then the rest."""
    order = [*FIGURE_ORDER, *CHALLENGES]
    return sorted((f for f in findings if f.headline), key=lambda f: order.index(f.challenge))


def _audited(result) -> str:
    """What was audited, in one line: the model, its data, the split."""
    m, d = result.models.get("model", {}), result.data
    what = m.get("estimator") or m.get("architecture") or m.get("kind", "model")
    if m.get("backbone"):
        what += f" ({m['backbone']})"
    privacy = "differentially private" if m.get("private") else "not private"
    split = (f"{d['train_rows']} training, {d['test_rows']} held out{_split_source(d)}"
             if "train_rows" in d else "")
    return (f"Model: {what}, {m.get('task', '')} {m.get('input', '')}, {privacy} · Data: "
            f"{d.get('name', '')}: {d.get('rows', '?')} rows" + (f" ({split})" if split else ""))


def _split_source(data: dict) -> str:
    """Where the split came from, as a clause (nothing for a report that does not say)."""
    split = data.get("split") or {}
    if split.get("by") == "seed":
        return f", drawn with seed {split.get('seed')}"
    if split.get("by") == "column":
        return f", as declared by column {split.get('column')!r}"
    if split.get("by") == "files":
        named = " and ".join(filter(None, (split.get("train"), split.get("test"))))
        return f", as declared by the files {named}" if named else ", as declared"
    return ", as declared" if split.get("by") == "declared" else ""


def render_model_card(result) -> str:
    """A Markdown model card drawn from the findings, with the Hugging Face Hub's YAML metadata
    (:func:`card_metadata`) on top."""
    dp = next((f.metrics for f in result.findings if f.id == "privacy.dp_guarantee"
               and "epsilon" in f.metrics), None)
    by_concern = sorted(result.findings, key=lambda f: CHALLENGES.index(f.challenge))
    body = _MD.get_template("model_card.md.j2").render(r=result, dp=dp, findings=by_concern)
    meta = yaml.safe_dump(card_metadata(result), sort_keys=False, allow_unicode=True)
    return f"---\n{meta}---\n\n{body}"


CARD_CONCERNS = ("performance", "fairness", "privacy")  # whose headline figures are results
TASKS = {("tabular", "regression"): "tabular-regression", ("text", "binary"):
         "text-classification", ("text", "multiclass"): "text-classification"}


def card_metadata(result) -> dict:
    """The Hub's model-card metadata: a license for the provider to set, tags, and a
    ``model-index`` whose results are the performance, fairness and privacy findings' headline
    figures (``huggingface_hub.ModelCard`` reads them as evaluation results)."""
    data = result.data or {}
    metrics = [{"type": _meta(f.id), "value": float(f.headline["value"]),
                "name": _meta(f.headline["label"])}
               for f in result.findings if f.challenge in CARD_CONCERNS and f.headline
               and isinstance(f.headline.get("value"), (int, float))]
    task = TASKS.get((data.get("kind"), data.get("task")), "tabular-classification")
    meta = {"license": "other", "tags": ["trustml", "fairness-audit"]
            + (["differential-privacy"] if any(f.id == "privacy.dp_guarantee" and
                                               f.metrics.get("epsilon") for f in result.findings)
               else [])}
    if metrics:
        name = _meta(data.get("name") or "audited data")
        meta["model-index"] = [{"name": _meta(result.title), "results": [{
            "task": {"type": task},
            "dataset": {"name": name, "type": re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")},
            "metrics": metrics}]}]
    return meta


def _meta(text) -> str:
    """A metadata string: no angle brackets (no HTML anywhere in the card) or control
    characters, at most 200 characters."""
    return re.sub(r"[<>\x00-\x1f\x7f]", "", str(text))[:200]


def render_summary(result) -> str:
    """The first screen only, for notebooks."""
    return _ENV.get_template("summary.html.j2").render(r=result, verdicts=result.verdicts)
