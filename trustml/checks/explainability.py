"""Explainability: attributions of the audited model with every explainer that fits it, and how
far they can be trusted (faithfulness, completeness, robustness, agreement, stability)."""

from __future__ import annotations

from dataclasses import replace

from trustml.checks._registry import AuditContext, register
from trustml.checks._words import say
from trustml.data import redact_pieces, scan_pii, select_rows
from trustml.explain import (
    Attribution,
    captum_robustness,
    explain,
    explainers_for,
    faithfulness,
    identity_share,
    identity_words,
    image_pixels,
    rank_agreement,
)
from trustml.report._finding import (
    Chart,
    Finding,
    ImageOverlay,
    Table,
    TokenHeatmap,
    figure,
    worst,
)

REGS = ["EU AI Act Art. 13", "NIST AI RMF MEASURE 2.9"]
IDENTITY_REGS = REGS + ["EU AI Act Art. 10"]  # attribution on identity terms: data bias
ROBUSTNESS_ROWS = 50
VISUALS = 4
ATTRIBUTIONS, QUALITY = "explainability.attributions", "explainability.quality"


def _methods(ctx: AuditContext, rows, background) -> list[tuple[str, Attribution]]:
    """(key, attribution) for each registered explainer that applies to the model, the
    default first; slow ones on their first ``audit_rows`` rows."""
    return [(e.name, e.func(ctx.model, _head(rows, min(e.audit_rows or len(rows), len(rows))),
                            background=background, seed=ctx.seed, **e.audit_kwargs))
            for e in explainers_for(ctx.model)]


def _importance(attr: Attribution, top: int) -> tuple[list[dict], Table, Chart]:
    rows = attr.global_importance(top=top)
    table = Table(say(ATTRIBUTIONS, "table", method=attr.method),
                  ["feature", "mean |attribution|", "std", "mean signed"],
                  [[r["feature"], round(r["mean_abs"], 5), round(r["std_abs"], 5),
                    round(r["mean_signed"], 5)] for r in rows])
    chart = Chart(say(ATTRIBUTIONS, "chart", method=attr.method), [r["feature"] for r in rows],
                  [r["mean_abs"] for r in rows], [r["std_abs"] for r in rows])
    return rows, table, chart


def _shown(ctx: AuditContext, attr: Attribution, rows) -> Attribution:
    """``attr`` as a report may show it: in each explained text (scanned once), the tokens
    overlapping personal information merged into one ``<ENTITY>`` token, their values summed,
    so a heat map still reads. Faithfulness and agreement keep reading ``attr`` itself."""
    if not attr.fragments:
        return attr
    regions = ctx.phone_regions
    tokens, values, fragments = [], [], []
    for text, toks, vals, frags in zip(rows, attr.tokens, attr.token_values, attr.fragments):
        joined, toks = "".join(frags), toks if len(toks) == len(frags) else frags
        source = str(text) if str(text).startswith(joined) else joined
        runs = redact_pieces(frags, scan_pii([source], phone_regions=regions))
        kept = [b - a == 1 and piece == frags[a] for a, b, piece in runs]
        tokens.append([toks[a] if same else piece.strip() or piece
                       for (a, _, piece), same in zip(runs, kept)])
        values.append([vals[a] if same else float(sum(vals[a:b]))
                       for (a, b, _), same in zip(runs, kept)])
        fragments.append([piece for _, _, piece in runs])
    return replace(attr, tokens=tokens, token_values=values, fragments=fragments)


def _visuals(ctx: AuditContext, attr: Attribution, rows) -> list:
    """Token heat maps (text, personal information redacted) or pixel overlays (images) of
    the first examples."""
    names = ctx.data.class_names
    label = (names[int(attr.target[0])] if len(names) > int(attr.target[0]) else
             say(ATTRIBUTIONS, "the_class"))
    if attr.fragments:
        attr = _shown(ctx, attr.head(VISUALS), rows)
        return [TokenHeatmap(say(ATTRIBUTIONS, "heatmap", i=i + 1, label=label,
                                 method=attr.method),
                             [f for f in attr.fragments[i] if f],
                             [v for f, v in zip(attr.fragments[i], attr.token_values[i]) if f])
                for i in range(min(VISUALS, len(attr)))]
    if attr.image_shape is not None:
        pixels = image_pixels(ctx.model, rows.iloc[:VISUALS])
        return [ImageOverlay(say(ATTRIBUTIONS, "overlay", i=i + 1, method=attr.method,
                                 name=names[int(attr.target[i])] if names else attr.target[i]),
                             pixels[i].round(3).tolist(),
                             attr.values[i].reshape(attr.image_shape).round(6).tolist())
                for i in range(min(VISUALS, len(attr)))]
    return []


def _head(rows, n: int):
    """The first ``n`` explained rows (SHAP text explains only the first few)."""
    return select_rows(rows, range(n))


def _agreement(result: dict) -> tuple[float | None, str]:
    """The headline of a :func:`rank_agreement` result: global ranking where there is one."""
    if "global" in result:
        return result["global"], "global ranking"
    return result["per_example"], "per example"


@register("explainability", "explainability", clauses=IDENTITY_REGS, model_dependent=True,
          needs=("explainer",), thresholds={
              "min_rank_agreement": 0.5,           # Spearman rank of SHAP vs Captum importance
              "min_comprehensiveness_gain": 0.02,  # faithfulness above random deletion
              "max_completeness_gap": 0.05,        # integrated gradients' sum vs output change
              "identity_share_warn": 0.20,         # attribution on identity terms (text)
          })
def attributions(ctx: AuditContext) -> list[Finding]:
    data = ctx.data
    x_train, _, _ = data.take("train")
    x_test, _, _ = data.take("test")
    n = min(ctx.explain_rows, len(x_test))
    rows = x_test.iloc[:n] if data.kind == "tabular" else list(x_test[:n])
    methods = _methods(ctx, rows, x_train)
    findings = [_attribution_finding(ctx, methods, rows, n),
                _quality_finding(ctx, methods, rows, x_train)]
    if data.kind == "text":
        findings.append(_identity_finding(methods[0][1], ctx.thresholds["identity_share_warn"],
                                          identity_words(ctx.lexicon)))
    return findings


def _attribution_finding(ctx, methods, rows, n) -> Finding:
    kind = ctx.data.kind
    top = 15 if kind == "text" else 10
    metrics, tables, charts = {"examples_explained": n, "methods": {}}, [], []
    for key, attr in methods:
        ranked, table, chart = _importance(_shown(ctx, attr, rows), top)
        metrics["methods"][key] = {"method": attr.method, "examples": len(attr),
                                   "seconds": attr.seconds, "output_space": attr.output_space,
                                   "baseline": attr.baseline,
                                   "top_attributions": ranked}
        if attr.image_shape is None:
            tables.append(table)
            charts.append(chart)
    primary = methods[0][1]
    leaders = metrics["methods"][methods[0][0]]["top_attributions"][:3]
    what = say(ATTRIBUTIONS, "what_image" if primary.image_shape is not None else f"what_{kind}")
    summary = say(ATTRIBUTIONS, "summary", n=n, methods=", ".join(a.method for _, a in methods),
                  method=primary.method, what=what,
                  leaders=", ".join(repr(r["feature"]) for r in leaders))
    references = [f"{a.method}: {a.baseline} ({a.output_space})" for _, a in methods
                  if a.baseline]
    if references:
        summary += say(ATTRIBUTIONS, "references", references="; ".join(references))
    return Finding(ATTRIBUTIONS, "explainability", "info", say(ATTRIBUTIONS, "title"), summary,
                   metrics=metrics,
                   tables=tables, charts=charts, visuals=_visuals(ctx, primary, rows),
                   regulations=REGS)


def _quality_finding(ctx, methods, rows, background) -> Finding:
    t = ctx.thresholds
    primary_key, primary = methods[0]
    metrics = _faithfulness(ctx, methods, rows, background)
    tables = [_faithfulness_table(methods, metrics)]
    verdicts = [v for key, attr in methods for v in _faithfulness_verdicts(attr, metrics[key], t)]
    caps = ctx.model.capabilities
    if (caps.modality in ("tabular", "image") and caps.differentiable
            and primary_key == "integrated_gradients"):
        m = min(ROBUSTNESS_ROWS, len(primary))
        metrics["robustness"] = captum_robustness(ctx.model, background, _head(rows, m),
                                                  seed=ctx.seed)
        tables.append(_captum_table(metrics["robustness"], m))
    agreement, agreements, disagreements = _method_agreement(methods, t)
    metrics |= agreement
    verdicts += disagreements
    stable = None
    base_attr = _baseline_attribution(ctx, primary_key, primary, _head(rows, len(primary)),
                                      background)
    if base_attr is not None:
        metrics["stability_vs_baseline"] = rank_agreement(primary, base_attr)
        metrics["baseline_method"] = {"method": base_attr.method,
                                      "output_space": base_attr.output_space}
        stable, over = _agreement(metrics["stability_vs_baseline"])
        if stable is not None:
            agreements.append([say(QUALITY, "audited_model", method=primary.method),
                               say(QUALITY, "on_baseline"), round(stable, 3), over])
            if stable < t["min_rank_agreement"]:
                verdicts.append(("warn", say(QUALITY, "unstable", stable=stable)))
    if agreements:
        tables.append(Table(say(QUALITY, "agreement_table"),
                            ["explanation", "compared with", "agreement", "over"], agreements))
    status = worst([s for s, _ in verdicts]) if verdicts else "pass"
    return Finding(QUALITY, "explainability", status, say(QUALITY, "title"),
                   _quality_summary(primary, metrics[primary_key], stable, verdicts),
                   metrics=metrics, tables=tables,
                   headline=_faithfulness_figure(primary, metrics[primary_key]),
                   thresholds={k: t[k] for k in ("min_comprehensiveness_gain",
                                                 "max_completeness_gap", "min_rank_agreement")},
                   regulations=REGS,
                   recommendation="" if status != "warn" else say(QUALITY, "advice"))


def _faithfulness(ctx, methods, rows, background) -> dict:
    """Per explainer key: :func:`faithfulness` on the rows it explains, with its completeness
    gap (per-example values left out)."""
    bg = background if ctx.data.kind == "tabular" else None
    out = {}
    for key, attr in methods:
        quality = faithfulness(ctx.model, attr, _head(rows, len(attr)), background=bg,
                               seed=ctx.seed)
        quality.pop("per_example")
        quality["completeness_gap"] = attr.completeness_gap
        out[key] = quality
    return out


def _faithfulness_table(methods, quality: dict) -> Table:
    rows = []
    for key, attr in methods:
        q = quality[key]
        rows.append([attr.method, len(attr), round(q["comprehensiveness"], 4),
                     round(q["random_comprehensiveness"], 4), round(q["sufficiency"], 4),
                     round(q["random_sufficiency"], 4),
                     "" if attr.completeness_gap is None else round(attr.completeness_gap, 5)])
    return Table(say(QUALITY, "faithfulness_table"),
                 ["explainer", "examples", "comprehensiveness", "random", "sufficiency",
                  "random", "completeness gap"], rows)


def _faithfulness_verdicts(attr: Attribution, quality: dict, t: dict) -> list[tuple[str, str]]:
    """(status, note) for an explainer no more faithful than random, or whose attributions do
    not add up to the output change."""
    out = []
    floor = t["min_comprehensiveness_gain"]
    if quality["comprehensiveness_gain"] < floor:
        if max(abs(quality["comprehensiveness"]), abs(quality["random_comprehensiveness"])) < floor:
            # deleting inputs hardly moves the output: no explainer can be judged
            out.append(("info", say(QUALITY, "flat_model", floor=floor)))
        else:
            out.append(("warn", say(QUALITY, "unfaithful", method=attr.method, q=quality)))
    if attr.completeness_gap is not None and attr.completeness_gap > t["max_completeness_gap"]:
        out.append(("warn", say(QUALITY, "incomplete", method=attr.method,
                                gap=attr.completeness_gap)))
    return out


def _captum_table(rob: dict, m: int) -> Table:
    return Table(say(QUALITY, "captum_table", m=m),
                 ["metric", "value", "for shuffled attributions"],
                 [["infidelity", round(rob["infidelity"], 6),
                   round(rob["infidelity_shuffled"], 6)],
                  ["sensitivity (max)", round(rob["sensitivity_max"], 4), ""]])


def _baseline_attribution(ctx: AuditContext, primary_key: str, primary: Attribution, rows,
                          background) -> Attribution | None:
    """The baseline explained as the audited model is, on the same output scale: the same
    method where it applies, else the baseline's own tabular SHAP by permutation (on
    probabilities, where a linear model's exact SHAP would give log-odds)."""
    if ctx.baseline is None:
        return None
    fitting = [e.name for e in explainers_for(ctx.baseline)]
    if primary_key in fitting:
        return explain(ctx.baseline, rows, background=background, method=primary_key,
                       seed=ctx.seed)
    if "shap" in fitting and ctx.data.kind == "tabular":
        return explain(ctx.baseline, rows, background=background, method="shap",
                       seed=ctx.seed, explainer="permutation")
    return explain(ctx.baseline, rows, background=background, method=fitting[0],
                   seed=ctx.seed) if fitting else None


def _method_agreement(methods, t: dict) -> tuple[dict, list, list[tuple[str, str]]]:
    """Rank agreement of the default explainer with each other one, over the examples both
    explain: metrics, table rows, and a (status, note) where they disagree."""
    primary_key, primary = methods[0]
    metrics, rows, verdicts = {}, [], []
    for key, attr in methods[1:]:
        m = min(len(primary), len(attr))
        agree = rank_agreement(primary.head(m), attr.head(m))
        metrics[f"agreement_{primary_key}_vs_{key}"] = agree
        value, over = _agreement(agree)
        if value is not None:
            rows.append([primary.method, attr.method, round(value, 3), over])
            # saliency is the gradient's size, not a signed share of the output: not comparable
            if value < t["min_rank_agreement"] and not attr.method.endswith("saliency"):
                verdicts.append(("warn", say(QUALITY, "disagree", method=primary.method,
                                             other=attr.method, value=value)))
    return metrics, rows, verdicts


def _faithfulness_figure(primary: Attribution, q: dict) -> dict:
    return figure(say(QUALITY, "label"), q["comprehensiveness_gain"],
                  say(QUALITY, "headline", method=primary.method, q=q))


def _quality_summary(primary: Attribution, q: dict, stable: float | None, verdicts) -> str:
    effect = say(QUALITY, "effect_units" if primary.output_space == "target units" else
                 "effect_probability", value=q["comprehensiveness"])
    summary = say(QUALITY, "summary", method=primary.method, effect=effect, q=q)
    if stable is not None:
        summary += say(QUALITY, "stable", stable=stable)
    notes = list(dict.fromkeys(note for _, note in verdicts))  # a shared note once
    if notes:
        text = "; ".join(notes)
        summary += f" {text[0].upper()}{text[1:]}."
    return summary


def _identity_finding(attr: Attribution, threshold: float, words: set[str]) -> Finding:
    share = identity_share(attr, words)
    with_terms, among = share["texts_with_terms"], share["share_among_mentions"]
    fid = "explainability.identity_terms"
    if not with_terms:
        status, summary = "info", say(fid, "none", texts=share["texts"])
    else:
        status = "warn" if among > threshold else "pass"
        summary = say(fid, "summary", with_terms=with_terms, texts=share["texts"],
                      terms=", ".join(map(repr, share["terms"][:5])), among=among,
                      top_rate=share["top_rate"])
        if status == "warn":
            summary += say(fid, "warn")
    return Finding(fid, "explainability", status, say(fid, "title"), summary, metrics=share,
                   thresholds={"identity_share_warn": threshold},
                   regulations=IDENTITY_REGS)
