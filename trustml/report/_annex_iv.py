"""The EU AI Act's technical documentation (Regulation (EU) 2024/1689, Annex IV), drawn from an
audit: each point of Annex IV with what the audit can show for it, every statement citing its
source (a finding, the data summary, the models, the provenance), and every point the audit
cannot know marked for the provider to complete. Nothing is filled without a source.
"""

from __future__ import annotations

from trustml.report._finding import Finding

PROVIDER = "**To be completed by the provider.**"

# (point, what Annex IV asks, finding ids or families whose summaries answer it, or the
# result's own parts: "data", "models", "provenance"). Empty: only the provider can answer.
POINTS = (
    ("1(a)", "Intended purpose, the provider, and the version of the system", ()),
    ("1(b)", "Interaction with hardware or software, including other AI systems", ()),
    ("1(c)", "Versions of relevant software or firmware", ("provenance",)),
    ("1(d)", "The forms in which the AI system is placed on the market or put into service", ()),
    ("1(e)", "The hardware on which the AI system is intended to run", ("compute.cost",)),
    ("1(f)", "Photographs or illustrations of external features, where the system is a "
             "component of products", ()),
    ("1(g)", "A basic description of the user interface provided to the deployer", ()),
    ("1(h)", "Instructions for use for the deployer", ()),
    ("2(a)", "The methods and steps performed for the development of the AI system",
     ("models", "privacy.dp_guarantee")),
    ("2(b)", "Design specifications: general logic, key design choices and trade-offs",
     ("performance.private_vs_baseline", "fairness.mitigation")),
    ("2(c)", "System architecture and the computational resources used to develop, train, "
             "test and validate it", ("models", "compute.cost")),
    ("2(d)", "Data requirements: the training data, its provenance, scope and main "
             "characteristics, labelling and cleaning",
     ("data", "data_quality.representation", "data_quality.missing", "data_quality.duplicates",
      "privacy.personal_data", "privacy.k_anonymity")),
    ("2(e)", "Assessment of the human oversight measures needed (Article 14)", ()),
    ("2(f)", "Pre-determined changes to the system and its performance", ()),
    ("2(g)", "Validation and testing: data used, metrics of accuracy and robustness, "
             "potentially discriminatory impacts, dated test logs",
     ("provenance", "performance.metrics", "performance.cross_validation",
      "performance.calibration", "robustness.perturbations", "fairness.group_metrics",
      "fairness.identity_probes", "fairness.proxies", "explainability.quality")),
    ("2(h)", "Cybersecurity measures",
     ("privacy.membership_inference", "privacy.empirical_epsilon", "privacy.dp_training_audit",
      "privacy.personal_records")),
    ("3", "Monitoring, functioning and control: capabilities and limitations in performance, "
          "including accuracy for specific persons or groups; foreseeable unintended outcomes "
          "and risks; specifications of input data",
     ("data", "fairness.group_metrics", "explainability.attributions")),
    ("4", "The appropriateness of the performance metrics for the specific AI system", ()),
    ("5", "The risk management system (Article 9)", ("fairness.mitigation",)),
    ("6", "Relevant changes made by the provider through the system's lifecycle", ()),
    ("7", "Harmonised standards applied, or other solutions adopted", ()),
    ("8", "A copy of the EU declaration of conformity (Article 47)", ()),
    ("9", "The system to evaluate performance in the post-market phase (Article 72)", ()),
)


def _answers(result, source: str) -> list[str]:
    """What ``source`` shows: the summary of each finding of that id or family, or a line on
    the data, the models or the provenance; each ending with its source."""
    if source == "data" and result.data:
        d = result.data
        return [f"{d.get('name')}: {d.get('rows')} rows ({d.get('train_rows')} training, "
                f"{d.get('test_rows')} held out), {d.get('kind')} inputs, {d.get('task')} task, "
                f"label {d.get('label')!r}, sensitive features "
                f"{', '.join(d.get('sensitive_features') or []) or 'none named'}; SHA-256 "
                f"{d.get('sha256')}. (source: the audit's data summary)"]
    if source == "models" and result.models:
        return [f"{role}: " + ", ".join(f"{k} {v}" for k, v in m.items()
                                        if isinstance(v, (str, int, float, bool)))
                + " (source: the audit's model descriptions)" for role, m in result.models.items()]
    if source == "provenance" and result.provenance:
        p = result.provenance
        versions = p.get("versions") or {}
        return [f"Audited on {p.get('created')} with trustml {p.get('trustml_version')}, seed "
                f"{p.get('seed')}; " + ", ".join(f"{k} {v}" for k, v in versions.items())
                + ". (source: the audit's provenance)"]
    found: list[Finding] = [f for f in result.findings if f.id == source
                            or f.id.startswith(source + ".")]
    return [f"{f.title} ({f.status}): {f.summary} (source: finding `{f.id}`)" for f in found
            if f.status not in ("not_run", "error")]


def annex_iv(result) -> str:
    """The Annex IV document of ``result`` in Markdown."""
    lines = [f"# Technical documentation (EU AI Act, Annex IV): {result.title}", "",
             "Drawn by trustml from its audit. Each point quotes what the audit shows, with "
             "its source; a point the audit cannot know is marked for the provider. This is "
             "evidence for the documentation, not the documentation itself.", ""]
    for point, asks, sources in POINTS:
        lines += [f"## Point {point}: {asks}", ""]
        said = [a for source in sources for a in _answers(result, source)]
        lines += [f"- {a}" for a in said] or [PROVIDER]
        if said:  # the audit answers a part of a point, never the whole
            lines.append(f"- The rest of this point: {PROVIDER}")
        lines.append("")
    return "\n".join(lines)
