"""`audit()`: run the registered checks on a model and data, collect an `AuditResult`."""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable, Sequence

from tqdm.auto import tqdm

from trustml._schema import Settings
from trustml.checks import DEFAULT_THRESHOLDS, REGISTRY, AuditContext, overall_statement
from trustml.data import (
    LEXICON,
    TEMPLATES,
    AuditData,
    Redactor,
    read_lexicon,
    read_templates,
)
from trustml.data._protection import phone_regions_of
from trustml.errors import DataError
from trustml.models import wrap
from trustml.privacy import PrivacyRecord
from trustml.provenance import hardware, versions
from trustml.report import AuditResult


# Over 60 lines with its docstring (a public entry point documents each keyword); its
# code is under 45.
def audit(model, data: AuditData, settings: Settings | None = None, *, baseline=None,
          privacy: PrivacyRecord | None = None, training: dict | None = None,
          retrain: Callable | None = None, n_boot: int = 100, progress: bool = True,
          config: dict | None = None, checks: Sequence[str] | None = None,
          thresholds: dict | None = None, explain_rows: int | None = None,
          quasi_identifiers: Sequence[str] | None = None, privacy_depth: str | None = None,
          cv_folds: int | None = None, n_jobs: int | None = None, seed: int | None = None,
          title: str | None = None, phone_regions: Sequence[str] | None = None,
          lexicon=None, templates=None, assume_split: bool | None = None,
          **wrap_kwargs) -> AuditResult:
    """Audit a model on a data set.

    Parameters
    ----------
    model : estimator, torch module, Hugging Face model or ModelAdapter
        The model under audit (wrapped with :func:`trustml.models.wrap` and ``wrap_kwargs``).
    data : AuditData
    settings : Settings, optional
        The audit's settings (``trustml.Settings``; an audit config's top-level keys), each
        default declared there. The keywords from ``checks`` on override it, one by one;
        None keeps its value.
    baseline : optional
        A non-private twin of ``model``, trained the same way, for comparison.
    privacy : PrivacyRecord, optional
        The DP training record of ``model``.
    training : dict, optional
        Training records to show, keyed ``"model"`` / ``"baseline"``.
    n_boot : int
        Bootstrap resamples for confidence intervals (0: none).
    progress : bool
    config : dict, optional
        Recorded in the provenance as given.
    checks : sequence of str, optional
        Names from :data:`trustml.checks.REGISTRY`; default all.
    thresholds : dict, optional
        Overrides of :data:`trustml.checks.DEFAULT_THRESHOLDS`.
    explain_rows : int
        Test examples to explain (default 100).
    quasi_identifiers : sequence of str, optional
        Columns (inputs or sensitive features) that together could identify a person, for the
        k-anonymity check; default the sensitive features.
    privacy_depth : {"quick", "standard", "thorough"}
        How hard the privacy checks attack the model (default "standard"): "quick" runs the
        confidence membership attack only; "standard" adds offline LiRA with 4 reference
        models (about two extra trainings on half the data); "thorough" uses 8 and adds the
        one-run canary audit (one more training). Reference models need ``retrain``.
    retrain : callable, optional
        ``retrain(X, y, *, private, seed) -> model``: trains the audited model's architecture
        the same way on other data, without DP or with the audited DP settings. Default for
        scikit-learn models: a clone refitted (non-private only).
    cv_folds : int, optional
        Folds of the k-fold cross-validation (0: none); it needs ``retrain``. Default 5 where
        retraining is cheap: a scikit-learn model, or a ``training`` record of the model saying
        5 trainings take under a minute; else none.
    n_jobs : int, optional
        Processes that train the LiRA reference models at once (joblib: loky processes, or
        the backend ``joblib.parallel_config`` sets, such as Ray or Spark; -1 every core).
        Default ``$TRUSTML_N_JOBS``, else, from a pool of 50,000 rows, one per reference model
        up to half the cores there are (1 below that, and on 2 cores).
        The models are the same whatever the number (docs/privacy-audits.md).
    seed : int
    title : str, optional
    phone_regions : sequence of str
        Countries (ISO 3166 codes) whose national phone-number formats the personal-data scan
        recognises (numbers written with a country code are found whatever this says).
    lexicon, templates : optional
        The identity terms (category -> group -> terms) and sentences with a ``{person}``
        slot that the identity probes fill and the explanation checks look for: Python
        objects or YAML / JSON / CSV files (:func:`trustml.data.read_lexicon`). Default:
        trustml's own (:data:`trustml.data.LEXICON`, :data:`trustml.data.TEMPLATES`).

    assume_split : bool
        Whether the model was trained on the training rows of ``data``'s split when it was
        drawn with a seed (default True: the usual model trained on ``data.take("train")``).
        False for a model trained on other rows: membership inference is then not run, since
        its members would be a guess; declare the rows instead (:meth:`AuditData.from_frames`,
        ``from_frame(split=)``). A declared split is always known.

    Returns
    -------
    AuditResult
        Personal information never appears raw in it: every string of every finding passes
        :class:`trustml.data.Redactor`, which replaces any value the scan finds in the data's
        texts (or string values), or in the string itself, by its kind (``<EMAIL_ADDRESS>``).
    """
    REGISTRY.load_plugins()  # checks (and their thresholds) other packages add
    s = Settings.of(settings, checks=checks, thresholds=thresholds, explain_rows=explain_rows,
                    seed=seed, privacy_depth=privacy_depth, quasi_identifiers=quasi_identifiers,
                    cv_folds=cv_folds, n_jobs=n_jobs, phone_regions=phone_regions, title=title,
                    assume_split=assume_split)
    lexicon = lexicon if lexicon is not None else s.lexicon
    templates = templates if templates is not None else s.templates
    lexicon = read_lexicon(lexicon) if lexicon is not None else LEXICON
    templates = read_templates(templates) if templates is not None else TEMPLATES
    if not isinstance(data, AuditData):
        raise DataError(f"data: expected AuditData, got {type(data).__name__}; build it with "
                        "AuditData.from_frame or AuditData.from_texts")
    phone_regions = phone_regions_of(s.phone_regions)
    names = list(REGISTRY) if s.checks is None else list(s.checks)
    adapter = wrap(model, **wrap_kwargs).on_inputs(data.kind)
    base = wrap(baseline, **wrap_kwargs).on_inputs(data.kind) if baseline is not None else None
    ctx = AuditContext.of(s, data=data, model=adapter, baseline=base, privacy=privacy,
                          training=training or {}, n_boot=n_boot, progress=progress,
                          thresholds={**DEFAULT_THRESHOLDS, **(s.thresholds or {})},
                          retrain=retrain or adapter.retrainer(), phone_regions=phone_regions,
                          lexicon=lexicon, templates=templates)
    findings, seconds = [], {}
    for name in tqdm(names, desc="checks", disable=not progress, leave=False):
        start = time.perf_counter()
        findings += REGISTRY[name].run(ctx)
        seconds[name] = round(time.perf_counter() - start, 3)
    models = {"model": {**adapter.describe(), "private": privacy is not None,
                        "training": (training or {}).get("model")}}
    if base is not None:
        models["baseline"] = {**base.describe(), "private": False,
                              "training": (training or {}).get("baseline")}
    provenance = {"trustml_version": versions()["trustml"],
                  "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                  "seed": s.seed, "checks": names, "thresholds": ctx.thresholds,
                  "privacy_depth": s.privacy_depth, "cv_folds": s.cv_folds,
                  "versions": versions(), "hardware": hardware(), "seconds": seconds,
                  "config": config or {}}
    redactor = Redactor.for_data(data, phone_regions=phone_regions)
    return AuditResult(title=redactor.text(s.title or f"trustml audit: {data.name}"),
                       findings=redactor.apply(findings), data=redactor.apply(data.describe()),
                       models=models, provenance=provenance,
                       statement=redactor.text(overall_statement(findings, ctx)))
