"""Explainability: SHAP and Captum attributions of the audited model, and their agreement."""

from __future__ import annotations

from scipy.stats import spearmanr

from trustml.checks._finding import Chart, Finding, Table
from trustml.checks._registry import AuditContext, register
from trustml.explain import Attribution, captum_tabular, captum_text, shap_tabular, shap_text
from trustml.models._adapters import TorchTabularAdapter, TorchTextAdapter

REGS = ["EU AI Act Art. 13", "NIST AI RMF MEASURE 2.9"]


def _importance_table(attr: Attribution, top: int) -> tuple[list[dict], Table, Chart]:
    rows = attr.global_importance(top=top)
    key = "feature"
    table = Table(f"Global importance: {attr.method}",
                  [key, "mean |attribution|", "std", "mean signed"],
                  [[r[key], round(r["mean_abs"], 5), round(r["std_abs"], 5),
                    round(r["mean_signed"], 5)] for r in rows])
    chart = Chart(f"Mean |attribution|: {attr.method}", [r[key] for r in rows],
                  [r["mean_abs"] for r in rows], [r["std_abs"] for r in rows])
    return rows, table, chart


@register("explainability", "explainability")
def attributions(ctx: AuditContext) -> list[Finding]:
    data = ctx.data
    if data.task != "binary":
        return [Finding("explainability.attributions", "explainability", "info",
                        "Attributions explain binary classifiers here",
                        f"This is a {data.task} task; attribution of it is not run yet.",
                        regulations=REGS)]
    x_train, _, _ = data.take("train")
    x_test, _, _ = data.take("test")
    n = min(ctx.explain_rows, len(x_test))
    explain = x_test.iloc[:n] if data.kind == "tabular" else list(x_test[:n])
    if data.kind == "tabular":
        methods = [shap_tabular(ctx.model, x_train, explain, seed=ctx.seed)]
        if isinstance(ctx.model, TorchTabularAdapter):
            methods.append(captum_tabular(ctx.model, x_train, explain))
    else:
        methods = [shap_text(ctx.model, explain)]
        if isinstance(ctx.model, TorchTextAdapter):
            methods.append(captum_text(ctx.model, explain))
    top = 10 if data.kind == "tabular" else 15
    metrics, tables, charts = {"examples_explained": n}, [], []
    for attr in methods:
        rows, table, chart = _importance_table(attr, top)
        key = "shap" if attr.method.startswith("SHAP") else "captum"
        metrics[f"{key}_top_attributions"] = rows
        if attr.completeness_gap is not None:
            metrics[f"{key}_completeness_gap"] = attr.completeness_gap
        tables.append(table)
        charts.append(chart)
    status, agreement_text = "info", ""
    if data.kind == "tabular" and len(methods) == 2:
        shap_imp = abs(methods[0].values).mean(0)
        captum_imp = abs(methods[1].values).mean(0)
        rho = float(spearmanr(shap_imp, captum_imp).statistic) if len(shap_imp) > 2 else 1.0
        metrics["rank_agreement_spearman"] = rho
        limit = ctx.thresholds["min_rank_agreement"]
        status = "pass" if rho >= limit else "warn"
        agreement_text = (f" SHAP and Captum rank the features alike (Spearman {rho:.2f})."
                          if status == "pass" else
                          f" SHAP and Captum disagree on the ranking (Spearman {rho:.2f}): "
                          "treat either explanation with care.")
    if data.kind == "text" and len(methods) == 2:
        metrics["token_examples"] = [
            {"tokens": methods[1].tokens[i], "values": methods[1].token_values[i]}
            for i in range(min(3, n))]
    leaders = metrics["shap_top_attributions"][:3]
    summary = (f"Attributions show which inputs drive the model's positive-class probability, "
               f"computed on {n} held-out examples with "
               f"{' and '.join(m.method for m in methods)}. The most influential "
               f"{'features' if data.kind == 'tabular' else 'tokens'} are "
               f"{', '.join(repr(r['feature']) for r in leaders)}.{agreement_text}")
    return [Finding("explainability.attributions", "explainability", status,
                    "What drives the model's decisions", summary, metrics=metrics,
                    tables=tables, charts=charts,
                    thresholds={"min_rank_agreement": ctx.thresholds["min_rank_agreement"]},
                    regulations=REGS)]
