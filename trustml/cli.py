"""Command line: ``trustml report``, ``trustml train`` and ``trustml render``.

Exit codes: 0 success (every gate passed); 1 a gate failed (``trustml report --config``; the
reports are written); 2 a usage or input error (one line on stderr, nothing written); 3 a check
raised, so the audit is incomplete (the reports are written, the check's finding says why).

Each command imports what it needs when it runs, so ``trustml --help`` and ``trustml render``
never import torch or the checks.
"""

from __future__ import annotations

import os
import sys

import click

from trustml.errors import ConfigError, TrustMLError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="trustml")
def main() -> None:
    """trustml: audit models for privacy, fairness and explainability."""


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Audit your own model and data as this YAML file says (docs/config.md); "
                   "replaces --demo. Exit code 1 when a gate fails.")
@click.option("--demo", default="tabular", show_default=True,
              help="Built-in demo to run: 'tabular' (MLP on Toronto arrests) or 'sentiment' "
                   "(MiniLM on tweets).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output directory for report.html, report.json and model_card.md "
                   "[default: reports/DEMO, or reports/audit with --config].")
@click.option("--epsilon", type=float, default=None,
              help="Target epsilon of the DP model [default: 1 tabular, 8 sentiment].")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--privacy-depth", default=None,
              help="How hard the privacy checks attack the model: 'quick' (confidence attack), "
                   "'standard' (+ offline LiRA, 4 reference models) or 'thorough' (+ 8 reference "
                   "models and a one-run canary audit) [default: standard tabular, quick "
                   "sentiment].")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def report(config_path: str | None, demo: str, out: str | None, epsilon: float | None,
           seed: int, privacy_depth: str | None, quiet: bool) -> None:
    """Audit a model and write HTML, JSON and model-card reports.

    With --config, your model and data as the YAML file names them; otherwise a built-in demo
    that trains a non-private and a DP model first.

    \b
    The config file (docs/config.md has a tested example):
      model:    kind sklearn (path: .skops; joblib/pickle needs trust: true),
                torch (weights, architecture, optional training_record from
                trustml train) or huggingface (path: a save_pretrained directory)
      data:     path (CSV, TSV, Parquet), label, sensitive, features, text,
                positive_label, task, test_size, missing (error | drop)
      checks, thresholds, gates, fail_on (fail | warn), formats (html, json,
      model_card), privacy_depth, cv_folds, explain_rows, quasi_identifiers,
      phone_regions (e.g. [US, GB]: whose phone formats count as personal
      data), seed, title

    \b
    Exit codes: 0 every gated concern passed; 1 a gate failed (reports are
    still written); 2 usage or input error (one line on stderr, nothing
    written); 3 a check raised (reports are written; its finding says why).
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    failed: list[str] = []
    try:
        if config_path is not None:
            from trustml._config import load_config, run_config

            result, paths, failed = run_config(load_config(config_path), out or "reports/audit",
                                               progress=not quiet)
        else:
            from trustml.demos import run_demo

            result, paths = run_demo(demo, out, epsilon=epsilon, seed=seed,
                                     privacy_depth=privacy_depth, progress=not quiet)
    except TrustMLError as exc:
        click.echo(f"trustml: error: {exc}", err=True)
        sys.exit(2)
    click.echo(f"{result.overall['status'].upper()}: {result.statement}")
    for challenge, status in result.verdicts.items():
        click.echo(f"{challenge:>15}: {status}")
    for path in paths.values():
        click.echo(f"wrote {path}")
    broken = [f.id.removesuffix(".error") for f in result.findings if f.status == "error"]
    if broken:
        click.echo(f"trustml: audit incomplete: the {', '.join(broken)} check(s) raised; see "
                   "their findings", err=True)
        sys.exit(3)
    if failed:
        click.echo(f"trustml: gate failed: {', '.join(failed)}", err=True)
        sys.exit(1)


@main.command()
@click.argument("recipe", type=click.Path())
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Output directory: model.safetensors (with its privacy claim), result.json, "
                   "checkpoints/.")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a recipe setting, e.g. --set training.epochs=1 (repeatable).")
@click.option("--resume", is_flag=True,
              help="Continue the interrupted run in --out: same batches and noise, and the "
                   "epsilon of an uninterrupted run.")
@click.option("--ledger", "ledger_dir", type=click.Path(file_okay=False), default=None,
              help="Privacy ledger store [default: $TRUSTML_LEDGER_DIR, else "
                   "~/.local/share/trustml/ledger]. Every run on the same rows composes there.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def train(recipe: str, out: str, overrides: tuple[str, ...], resume: bool,
          ledger_dir: str | None, quiet: bool) -> None:
    """Train a recipe's DP model and its non-private baseline, and compare them.

    \b
    Exit codes: 0 trained; 2 bad input, a spent budget, or another run on
    the same data (one line on stderr); 130 interrupted (resume with --resume).
    """
    from trustml._recipes import load_recipe, run_recipe

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        result = run_recipe(load_recipe(recipe, list(overrides)), out, progress=not quiet,
                            resume=resume, ledger=ledger_dir)
    except TrustMLError as exc:
        click.echo(f"trustml: error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo(f"trustml: interrupted; the last checkpoint and the ledger are intact: "
                   f"continue with trustml train {recipe} --out {out} --resume", err=True)
        sys.exit(130)
    rec = result["privacy"]
    click.echo(f"{result['recipe'].get('name', recipe)}: epsilon {rec['epsilon']:.3f} "
               f"(delta {rec['delta']:g}, {rec['accountant']}, {rec['clipping']} clipping, "
               f"{rec['steps']} steps)")
    if rec["run_epsilon"] < rec["epsilon"] - 1e-9:
        click.echo(f"  note: the ledger ({rec['ledger']}) already held spending on these rows; "
                   f"this run alone spent epsilon {rec['run_epsilon']:.3f} (more noise) so the "
                   "total stays within the target.")
    for metric in result["baseline"]:
        if metric != "seconds":
            click.echo(f"  {metric:>9}: non-private {result['baseline'][metric]:.4f}   "
                       f"DP {result['private'][metric]:.4f}")
    click.echo(f"wrote {os.path.join(out, 'model.safetensors')} and "
               f"{os.path.join(out, 'result.json')}")


@main.command()
@click.argument("report_json", metavar="REPORT_JSON", type=click.Path())
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Output directory for the formats asked for (report.html, report.json, "
                   "model_card.md).")
@click.option("--formats", default="html,json,model_card", show_default=True,
              help="Comma-separated formats to write: html, json, model_card.")
def render(report_json: str, out: str, formats: str) -> None:
    """Re-render a saved report.json without re-running the audit.

    The report must follow the JSON Schema of the current version (its
    verdicts those its findings give); the files are the ones the audit
    wrote, byte for byte.

    \b
    Exit codes: 0 written; 2 a missing, unreadable or invalid report or an
    unknown format (one line on stderr, nothing written).
    """
    from trustml.report import FORMATS, AuditResult

    try:
        wanted = [f.strip() for f in formats.split(",") if f.strip()]
        for fmt in wanted or [""]:
            if fmt not in FORMATS:
                raise ConfigError(f"--formats: {fmt!r} is not one of {list(FORMATS)}")
        result = AuditResult.from_json(report_json)
        paths = result.write(out, wanted)
    except TrustMLError as exc:
        click.echo(f"trustml: error: {exc}", err=True)
        sys.exit(2)
    for path in paths.values():
        click.echo(f"wrote {path}")


if __name__ == "__main__":
    main()
