"""Command line: ``trustml report``, ``train``, ``compare``, ``render``, ``recipes``,
``checks`` and ``docs``.

Exit codes, the same for every command, so CI can trust them:

- 0: done (``report``: every gated concern passed);
- 1: a gate failed: ``report`` (the reports are written), ``compare --fail-on worse``, or
  ``train --audit`` refuting the privacy claim;
- 2: bad input: a config key, a flag, a file or the output folder (one line on stderr naming
  the key or flag, found before any work; nothing written);
- 3: an internal error (one line, and the traceback in a log file whose path it gives), or a
  check raised, so the audit is incomplete (the reports are written; its finding says why);
- 130: interrupted (Ctrl-C); nothing half-written.

Each command imports what it needs when it runs, so ``trustml --help`` and ``trustml render``
never import torch or the checks.
"""

from __future__ import annotations

# Over 400 lines on purpose: one module for the command line, each command's docstring its
# --help; the commands themselves import their work when they run.

import functools
import json
import os
import sys
import tempfile
import traceback
from pathlib import Path

import click
from click.core import ParameterSource

from trustml.errors import ConfigError, TrustMLError

# Flags of the built-in demos, and where a config says the same thing instead.
DEMO_FLAGS = {"demo": "remove it (--config replaces the demo)",
              "epsilon": "a config audits a model already trained; its epsilon comes from "
                         "model.training_record",
              "seed": "write seed: N in the config",
              "privacy_depth": "write privacy_depth: quick|standard|thorough in the config"}


def _fail(message: str, code: int) -> None:
    click.echo(f"trustml: {message}", err=True)
    sys.exit(code)


def _log_traceback() -> str:
    """Write the current exception's traceback to a new log file; return its path."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"),
                                                            ".local", "state")
    for folder in (Path(state) / "trustml", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, path = tempfile.mkstemp(dir=folder, prefix="trustml-error-", suffix=".log")
            with os.fdopen(fd, "w") as f:
                f.write(traceback.format_exc())
            return path
        except OSError:
            continue
    return "no log: no writable folder"


def guarded(interrupted):
    """Run a command so that its exit code tells CI what happened: a :class:`TrustMLError`
    exits 2 with its one line, Ctrl-C exits 130 with ``interrupted(**params)``, any other
    exception (a bug) exits 3 with one line and the traceback in a log file."""
    def decorate(command):
        @functools.wraps(command)
        def run(**params):
            try:
                return command(**params)
            except TrustMLError as exc:
                _fail(f"error: {exc}", 2)
            except KeyboardInterrupt:
                _fail(f"interrupted; {interrupted(**params)}", 130)
            except BrokenPipeError:  # the reader went away (| head): nothing more to say
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                sys.exit(141)
            except (click.ClickException, click.exceptions.Exit, click.Abort):
                raise
            except Exception as exc:  # a bug: one line, never a traceback on screen
                first = (str(exc).strip().splitlines() or [""])[0]
                _fail(f"internal error: {type(exc).__name__}: {first} (traceback in "
                      f"{_log_traceback()})", 3)
        return run
    return decorate


def _refuse_demo_flags() -> None:
    """With --config, refuse the demo's flags that were given (they would be ignored)."""
    ctx = click.get_current_context()
    for name, instead in DEMO_FLAGS.items():
        if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None):
            flag = "--" + name.replace("_", "-")
            raise ConfigError(f"{flag}: does not apply with --config; {instead}")


class OneLineGroup(click.Group):
    """A click group whose usage errors (an unknown flag, a value of the wrong type) are one
    line on stderr, ``trustml: error: ...``, with exit code 2, as every other bad input."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            where = f"trustml {exc.ctx.info_name}" if exc.ctx and exc.ctx.parent else "trustml"
            _fail(f"error: {exc.format_message()} (see {where} --help)", 2)


@click.group(cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="trustml")
def main() -> None:
    """trustml: audit models for privacy, fairness and explainability."""


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Audit your own model and data as this YAML file says (`trustml docs config`); "
                   "replaces --demo. Exit code 1 when a gate fails.")
@click.option("--demo", default="tabular", show_default=True,
              help="Built-in demo to run: 'tabular' (MLP on UCI Adult) or 'sentiment' "
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
@click.option("--annex-iv", "annex_iv", is_flag=True,
              help="Also write annex_iv.md: the EU AI Act's technical documentation (Annex "
                   "IV), each point with what the audit shows and its source, or marked for "
                   "the provider.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@guarded(lambda **_: "nothing was written")
# Over 60 lines with its docstring, which is the command's --help; its code is under 30.
def report(config_path: str | None, demo: str, out: str | None, epsilon: float | None,
           seed: int, privacy_depth: str | None, annex_iv: bool, quiet: bool) -> None:
    """Audit a model and write HTML, JSON and model-card reports.

    With --config, your model and data as the YAML file names them; otherwise a built-in demo
    that trains a non-private and a DP model first. --demo, --epsilon, --seed and
    --privacy-depth belong to the demos: with --config they are refused (the config has seed
    and privacy_depth keys).

    \b
    The config file (`trustml docs config` prints a tested example and every key):
      model:    kind sklearn (path: .skops; joblib/pickle needs trust: true),
                torch (weights, architecture and its hidden, max_length,
                embed_dim, trainable, embeddings, layers, channels, activation,
                scales; optional training_record from trustml train) or
                huggingface (path: a save_pretrained directory; max_length)
      data:     path (CSV, TSV, JSON lines, Parquet), label, sensitive, features, text,
                positive_label, task, test_size, missing (error | drop), name;
                the rows that trained the model: split (a train/test column), or
                train and test (two files) instead of path
      checks, thresholds, gates, fail_on (fail | warn), formats (html, json,
      model_card), privacy_depth, cv_folds, n_jobs, explain_rows, assume_split,
      quasi_identifiers, phone_regions (e.g. [US, GB]: whose phone formats count
      as personal data), lexicon and templates (your identity terms and {person}
      sentences for text models: YAML, JSON or CSV files), seed, title
    An unknown key, a wrong type or an empty list is refused by its path.

    \b
    Exit codes: 0 every gated concern passed; 1 a gate failed (reports are
    still written); 2 usage or input error (one line on stderr naming the
    key or flag, before any work; nothing written); 3 an internal error (one
    line and the path of a log with the traceback) or a check raised
    (reports are written; its finding says why); 130 interrupted (nothing
    written). Every requested format is written, or none.
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    failed: list[str] = []
    if config_path is not None:
        from trustml._config import load_config, run_config

        _refuse_demo_flags()
        result, paths, failed = run_config(load_config(config_path), out or "reports/audit",
                                           progress=not quiet)
    else:
        from trustml._files import check_writable_dir
        from trustml.demos import run_demo
        from trustml.report import FORMATS

        check_writable_dir(out or Path("reports") / demo, FORMATS.values())
        result, paths = run_demo(demo, out, epsilon=epsilon, seed=seed,
                                 privacy_depth=privacy_depth, progress=not quiet)
    if annex_iv:
        folder = Path(next(iter(paths.values()))).parent
        result.to_annex_iv(folder / "annex_iv.md")
        paths = {**paths, "annex_iv": folder / "annex_iv.md"}
    click.echo(f"{result.overall['status'].upper()}: {result.statement}")
    for challenge, status in result.verdicts.items():
        click.echo(f"{challenge:>15}: {status}")
    for path in paths.values():
        click.echo(f"wrote {path}")
    broken = [f.id.removesuffix(".error") for f in result.findings if f.status == "error"]
    if broken:
        _fail(f"audit incomplete: the {', '.join(broken)} check(s) raised; see their findings",
              3)
    if failed:
        _fail(f"gate failed: {', '.join(failed)}", 1)


@main.command()
@click.argument("recipe", type=click.Path())
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Output directory: the DP model with its privacy claim (model.safetensors, "
                   "or model/ for kind: huggingface), result.json, checkpoints/.")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a recipe setting, e.g. --set training.epochs=1 (repeatable).")
@click.option("--resume", is_flag=True,
              help="Continue the interrupted run in --out: same batches and noise, and the "
                   "epsilon of an uninterrupted run.")
@click.option("--ledger", "ledger_dir", type=click.Path(file_okay=False), default=None,
              help="Privacy ledger store [default: $TRUSTML_LEDGER_DIR, else "
                   "$XDG_DATA_HOME/trustml/ledger, else ~/.local/share/trustml/ledger]. "
                   "Spending on the same rows adds up there: a new run on rows it already "
                   "holds is refused unless privacy.compose: true. On a CI runner, point it at "
                   "a folder that outlives the job (a wiped home wipes the spending).")
@click.option("--audit", is_flag=True,
              help="Then audit the DP training itself: train once more with its recorded "
                   "noise, sampling rate and steps and planted gradient canaries, and bound "
                   "its epsilon from below (exit 1 if the bound exceeds the claim).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@guarded(lambda recipe, out, **_: "the last checkpoint and the ledger are intact: continue "
                                  f"with trustml train {recipe} --out {out} --resume")
def train(recipe: str, out: str, overrides: tuple[str, ...], resume: bool,
          ledger_dir: str | None, audit: bool, quiet: bool) -> None:
    """Train a recipe's DP model and its non-private baseline, and compare them.

    RECIPE is the name of a shipped recipe (`trustml recipes` lists them,
    e.g. mlp-digits) or the path of your own recipe.yaml (or of its
    directory). Your own data: data: {path: FILE, label: COLUMN, text:
    COLUMN | features: [...], sensitive: [...]} (CSV, TSV, JSON lines or
    Parquet); your own model: model: {kind: huggingface, path: DIR,
    trainable: all | head | lora | N} or {kind: module, import:
    'package.module:Name', options: {...}}. See `trustml docs your-own-model`.

    \b
    Exit codes: 0 trained; 1 --audit found the DP training less private
    than it claims; 2 bad input (an unknown or mistyped recipe key,
    a bad --set, an --out that cannot be written), earlier spending on
    the same rows (set privacy.compose: true to spend the rest of
    privacy.epsilon), or another run on the same data (one line on
    stderr); 3 an internal error
    (one line and the path of a log with the traceback); 130 interrupted
    (resume with --resume).
    """
    from trustml._files import check_writable_dir
    from trustml._recipe_run import run_recipe
    from trustml._recipes import load_recipe

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    loaded = load_recipe(recipe, list(overrides))
    check_writable_dir(out, ["model.safetensors", "result.json", "baseline.json"])
    result = run_recipe(loaded, out, progress=not quiet, resume=resume, ledger=ledger_dir,
                        audit=audit)
    rec = result["privacy"]
    click.echo(f"{result['recipe'].get('name', recipe)}: epsilon {rec['epsilon']:.3f} "
               f"(delta {rec['delta']:g}, {rec['accountant']}, {rec['clipping']} clipping, "
               f"{rec['steps']} steps)")
    if rec["prior_runs"]:
        click.echo(f"  note: composed with {rec['prior_runs']} earlier run(s) on these rows "
                   f"(privacy.compose, ledger {rec['ledger']}): this run alone spent epsilon "
                   f"{rec['run_epsilon']:.3f}; the rows' total is {rec['epsilon']:.3f}.")
    click.echo(f"  data: {result['data']['name']}, {result['train_rows']} training rows")
    click.echo(f"  {result['tuning']['statement']}")
    for metric in result["baseline"]:
        if metric != "seconds":
            click.echo(f"  {metric:>9}: non-private {result['baseline'][metric]:.4f}   "
                       f"DP {result['private'][metric]:.4f}")
    click.echo(f"wrote {os.path.join(out, result['model'])} and "
               f"{os.path.join(out, 'result.json')}")
    if audit:
        _say_audit(result["audit"])


def _say_audit(audit: dict) -> None:
    """The --audit line; exit 1 when the bound refutes the claim."""
    said = (f"empirical epsilon at least {audit['bound']:.2f} of the claimed "
            f"{audit['claimed_epsilon']:.2f} ({audit['analysis'].replace('_', '-')} analysis, "
            f"{audit['canaries']} gradient canaries)")
    if not audit["within_claim"]:
        _fail(f"audit: the DP training is less private than it claims: {said}; do not "
              "release the model", 1)
    click.echo(f"  audit: the DP training behaved as claimed: {said}")


@main.command()
@guarded(lambda **_: "nothing was written")
def recipes() -> None:
    """List the reference recipes shipped with trustml: name, model, data, the
    privacy budget and the expected training time on 2 CPU cores (both
    models). Train one with `trustml train NAME --out DIR`."""
    from trustml._recipes import catalogue, load_recipe

    rows = [("recipe", "model", "data", "epsilon", "minutes")]
    for name, path in catalogue().items():
        r = load_recipe(path)
        rows.append((name, r["model"]["kind"], r["data"]["source"],
                     f"{r['privacy']['epsilon']:g}", f"{r.get('minutes', 0):g}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


@main.command(name="checks")
@click.option("--json", "as_json", is_flag=True, help="Print the listing as JSON.")
@guarded(lambda **_: "nothing was written")
def checks_command(as_json: bool) -> None:
    """List the checks an audit runs (plug-ins' included): each one's concern, its
    thresholds with their defaults (set them under thresholds: in a config, or
    thresholds= in audit()), what it needs to run, and the regulation clauses it
    evidences; then the gate names (the concerns, as gates: takes them)."""
    from trustml.checks import CHALLENGES, REGISTRY

    REGISTRY.load_plugins()
    listing = {"checks": [{"name": name, "concern": REGISTRY[name].challenge,
                           "thresholds": dict(REGISTRY[name].thresholds),
                           "needs": list(REGISTRY[name].needs),
                           "clauses": list(REGISTRY[name].clauses)} for name in REGISTRY],
               "gates": list(CHALLENGES)}
    if as_json:
        click.echo(json.dumps(listing, indent=2))
        return
    for check in listing["checks"]:
        click.echo(f"{check['name']}  (concern: {check['concern']})")
        for key in ("thresholds", "needs", "clauses"):
            value = check[key]
            if value:
                words = (", ".join(f"{k} = {v:g}" for k, v in value.items())
                         if key == "thresholds" else ", ".join(value))
                click.echo(f"  {key}: {words}")
    gates = ", ".join(f'"{g}"' if " " in g else g for g in listing["gates"])
    click.echo(f"\ngates (a config's gates: list; quote the ones with a space): {gates}")


@main.command(name="docs")
@click.argument("page", required=False)
@guarded(lambda **_: "nothing was written")
def docs_command(page: str | None) -> None:
    """Print a page of the user documentation (Markdown), e.g. `trustml docs
    config`; without PAGE, list the pages and where they are installed."""
    from trustml._docs import docs_dir, pages
    from trustml.errors import did_you_mean

    found = pages()
    if not found:
        raise ConfigError("docs: no documentation is installed with this trustml; reinstall "
                          "it from a wheel or a checkout")
    if page is None:
        click.echo(f"pages in {docs_dir()}:")
        for name, path in found.items():
            title = next((line.lstrip("# ") for line in path.read_text().splitlines()
                          if line.startswith("# ")), "")
            click.echo(f"  {name:<20} {title}")
        return
    if page.removesuffix(".md") not in found:
        raise ConfigError(f"docs: no page {page!r}{did_you_mean(page, list(found))}; "
                          "`trustml docs` lists them")
    click.echo(found[page.removesuffix(".md")].read_text(), nl=False)


@main.command()
@click.argument("report_json", metavar="REPORT_JSON", type=click.Path())
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Output directory for the formats asked for (report.html, report.json, "
                   "model_card.md).")
@click.option("--formats", default="html,json,model_card", show_default=True,
              help="Comma-separated formats to write: html, json, model_card.")
@guarded(lambda **_: "nothing was written")
def render(report_json: str, out: str, formats: str) -> None:
    """Re-render a saved report.json without re-running the audit.

    The report must follow the JSON Schema of the current version (its
    verdicts those its findings give); the files are the ones the audit
    wrote, byte for byte.

    \b
    Exit codes: 0 written; 2 a missing, unreadable or invalid report, an
    unknown format or an --out that cannot be written (one line on stderr,
    nothing written); 3 an internal error (one line and the path of a log
    with the traceback); 130 interrupted. Every format asked for is
    written, or none.
    """
    from trustml._files import check_writable_dir
    from trustml.report import FORMATS, AuditResult

    wanted = [f.strip() for f in formats.split(",") if f.strip()]
    for fmt in wanted or [""]:
        if fmt not in FORMATS:
            raise ConfigError(f"--formats: {fmt!r} is not one of {list(FORMATS)}")
    check_writable_dir(out, [FORMATS[fmt] for fmt in wanted])
    result = AuditResult.from_json(report_json)
    paths = result.write(out, wanted)
    for path in paths.values():
        click.echo(f"wrote {path}")


@main.command(name="compare")
@click.argument("base_json", metavar="BASE", type=click.Path())
@click.argument("new_json", metavar="NEW", type=click.Path())
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Also write compare.json and compare.md (the summary printed) here.")
@click.option("--fail-on", type=click.Choice(["worse", "never"]), default="never",
              show_default=True,
              help="worse: exit 1 when a finding's status is graver in NEW than in BASE.")
@click.option("--allow-different-data", is_flag=True,
              help="Compare reports of different data (refused by default).")
@guarded(lambda **_: "nothing was written")
def compare_command(base_json: str, new_json: str, out: str | None, fail_on: str,
                    allow_different_data: bool) -> None:
    """Compare two audits of the same data: BASE and NEW are report.json files.

    For every finding in both: the statuses side by side and the change of its
    headline figure with an interval (from the two reports' intervals); then the
    findings that appeared or disappeared. Prints a Markdown summary short
    enough for a pull-request comment.

    \b
    Exit codes: 0 compared (and, with --fail-on worse, nothing got worse); 1
    --fail-on worse and a status got worse; 2 a missing or invalid report, or
    reports of different data (one line on stderr, nothing written); 3 an
    internal error (one line and the path of a log with the traceback).
    """
    from trustml._files import check_writable_dir, write_set
    from trustml.report import AuditResult
    from trustml.report._compare import compare, to_markdown

    if out is not None:
        check_writable_dir(out, ["compare.json", "compare.md"])
    result = compare(AuditResult.from_json(base_json), AuditResult.from_json(new_json),
                     allow_different_data=allow_different_data)
    summary = to_markdown(result)
    click.echo(summary, nl=False)
    if out is not None:
        write_set(out, {"compare.json": json.dumps(result, indent=2), "compare.md": summary})
    worse = [r["id"] for r in result["findings"] if r["worse"]]
    if fail_on == "worse" and worse:
        _fail(f"gate failed: graver in NEW than in BASE: {', '.join(worse)}", 1)


if __name__ == "__main__":
    main()
