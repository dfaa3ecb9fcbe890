"""Command line: ``trustml report`` and ``trustml train``.

Exit codes: 0 success; 2 a usage or input error (one line on stderr, nothing written).
"""

from __future__ import annotations

import os
import sys

import click

from trustml.errors import TrustMLError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="trustml")
def main() -> None:
    """trustml: audit models for privacy, fairness and explainability."""


@main.command()
@click.option("--demo", default="tabular", show_default=True,
              help="Built-in demo to run: 'tabular' (MLP on Toronto arrests) or 'sentiment' "
                   "(MiniLM on tweets).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output directory for report.html, report.json and model_card.md "
                   "[default: reports/DEMO].")
@click.option("--epsilon", type=float, default=None,
              help="Target epsilon of the DP model [default: 1 tabular, 8 sentiment].")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--privacy-depth", default=None,
              help="How hard the privacy checks attack the model: 'quick' (confidence attack), "
                   "'standard' (+ offline LiRA, 4 reference models) or 'thorough' (+ 8 reference "
                   "models and a one-run canary audit) [default: standard tabular, quick "
                   "sentiment].")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def report(demo: str, out: str | None, epsilon: float | None, seed: int,
           privacy_depth: str | None, quiet: bool) -> None:
    """Train a non-private and a DP model, audit them, and write HTML and JSON reports."""
    from trustml.demos import run_demo

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        result, paths = run_demo(demo, out, epsilon=epsilon, seed=seed,
                                 privacy_depth=privacy_depth, progress=not quiet)
    except TrustMLError as exc:
        click.echo(f"trustml: error: {exc}", err=True)
        sys.exit(2)
    for challenge, status in result.verdicts.items():
        click.echo(f"{challenge:>15}: {status}")
    for path in paths.values():
        click.echo(f"wrote {path}")


@main.command()
@click.argument("recipe", type=click.Path())
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Output directory: result.json, model.safetensors, checkpoints/ (ledger).")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a recipe setting, e.g. --set training.epochs=1 (repeatable).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def train(recipe: str, out: str, overrides: tuple[str, ...], quiet: bool) -> None:
    """Train a recipe's DP model and its non-private baseline, and compare them."""
    from trustml._recipes import load_recipe, run_recipe

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        result = run_recipe(load_recipe(recipe, list(overrides)), out, progress=not quiet)
    except TrustMLError as exc:
        click.echo(f"trustml: error: {exc}", err=True)
        sys.exit(2)
    rec = result["privacy"]
    click.echo(f"{result['recipe'].get('name', recipe)}: epsilon {rec['epsilon']:.3f} "
               f"(delta {rec['delta']:g}, {rec['accountant']}, {rec['clipping']} clipping, "
               f"{rec['steps']} steps)")
    if rec["run_epsilon"] < rec["epsilon"] - 1e-9:
        click.echo(f"  note: the ledger in {out} already held spending on this data; this run "
                   f"alone spent epsilon {rec['run_epsilon']:.3f} (more noise) so the total stays "
                   "within the target. Use a new --out for an independent run.")
    for metric in result["baseline"]:
        if metric != "seconds":
            click.echo(f"  {metric:>9}: non-private {result['baseline'][metric]:.4f}   "
                       f"DP {result['private'][metric]:.4f}")
    click.echo(f"wrote {os.path.join(out, 'result.json')}")


if __name__ == "__main__":
    main()
