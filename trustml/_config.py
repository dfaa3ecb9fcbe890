"""Audits of the user's own model and data from a YAML file: ``trustml report --config``.

The file names the model (a scikit-learn file, a torch state dict with a reference
architecture, or a Hugging Face directory), the data (CSV, TSV or Parquet; a text column for
text models), the checks, their thresholds, the gates (concerns whose failure fails the run) and
the output formats. See docs/config.md and its example, which the tests run.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from trustml._audit import audit
from trustml._files import check_writable_dir
from trustml._model_kinds import load_model
from trustml._schema import DEFAULTS, AuditConfig, Settings, validate_config
from trustml.data import AuditData, read_data, read_lexicon, read_templates
from trustml.errors import ConfigError, ModelLoadError
from trustml.report import FORMATS, AuditResult

SECTIONS = set(AuditConfig.model_fields)  # the top-level keys, as the schema declares them


def load_config(path: str | Path) -> dict:
    """Read an audit configuration and validate it against the schema (``trustml._schema``).

    Paths in it are made relative to the file. Returns the keys the file sets, validated.

    Raises
    ------
    ConfigError
        One line naming the key path in YAML terms and the YAML to write.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config: no file at {str(path)!r}; pass the path of an audit YAML")
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config: {path.name} is not UTF-8 text; pass an audit YAML file "
                          "saved as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"config: cannot read {path.name} ({exc.strerror or type(exc).__name__})"
                          "; check the file's permissions") from None
    except yaml.YAMLError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"config: {path.name} is not valid YAML ({first})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"config: {path.name} must be a mapping with model: and data: sections")
    config = validate_config(config)
    for section, keys in (("model", ("path", "weights", "training_record")),
                          ("data", ("path", "train", "test"))):
        for key in keys:
            if key in config[section]:
                config[section][key] = str(path.parent / config[section][key])
    for key in ("lexicon", "templates"):  # a file name, or the value written in the YAML
        if isinstance(config.get(key), str):
            config[key] = str(path.parent / config[key])
    if config.get("lexicon") is not None:  # checked now, before any data or model is loaded
        read_lexicon(config["lexicon"])
    if config.get("templates") is not None:
        read_templates(config["templates"])
    return config


def load_training_record(spec: dict, data: AuditData) -> dict:
    """What ``model.training_record`` (a ``result.json`` of ``trustml train``) tells the audit:
    ``privacy`` (the DP record, its ledger beside it), ``training`` (time and size),
    ``retrain`` (the recipe's training, for reference models and cross-validation), ``target``,
    the (center, scale) a regression model was trained in, ``recipe_model`` (the recipe's
    model section) and ``data``: ``data`` with its training split cut to the rows the recipe
    trained on, which must be exactly those rows (else membership attacks would call rows the
    model never saw members)."""
    from trustml._model_kinds import build_adapter
    from trustml._recipe_run import train_like_recipe, trained_rows
    from trustml.privacy import PrivacyLedger, PrivacyRecord

    path = Path(spec["training_record"])
    try:
        result = json.loads(path.read_text())
        recipe, record = result["recipe"], dict(result["privacy"])
        seconds, rows = result["private"]["seconds"], result["train_rows"]
        kind = recipe["model"]["kind"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"model.training_record: {str(path)!r} is not a result.json written by "
                          "trustml train") from None
    _same_model(spec, kind)
    base = recipe["model"].get("path", "")
    if kind == "huggingface" and Path(base).is_absolute() and not Path(base).is_dir():
        raise ConfigError(f"model.training_record: the model it was fine-tuned from, {base!r}, "
                          "is not there; the audit retrains from it: restore it, or leave "
                          "training_record out to audit without retraining")
    record.update(_model_claim(spec, record, path.parent / "checkpoints"))
    data = trained_rows(recipe, data)
    _same_rows(data, record.get("dataset"), recipe)
    center = recipe["data"].get("target_center", 0.0)
    scale = recipe["data"].get("target_scale", 1.0)

    def retrain(X, y, *, private: bool = False, seed: int = 0):
        adapter = build_adapter(recipe["model"], data, seed, target=(center, scale))
        if data.task == "regression":
            y = (y - center) / scale
        # Reference models are never released: their spending stays in a ledger in memory.
        return train_like_recipe(recipe, adapter, X, y, private=private, seed=seed,
                                 ledger=PrivacyLedger())[0]
    retrain.parallel = False  # torch trains on the process's device and threads: one at a time

    return {"privacy": PrivacyRecord(**record), "retrain": retrain, "target": (center, scale),
            "recipe_model": recipe["model"], "data": data,
            "training": {"model": {"private": True, "seconds": seconds, "examples": rows,
                                   "epochs": record["epochs"],
                                   "batch_size": record["batch_size"], "lr": record["lr"]}}}


def _same_model(spec: dict, kind: str) -> None:
    """The configured model is of the kind the record trained: a Hugging Face directory for
    kind huggingface, else torch weights of the recipe's architecture."""
    if (spec["kind"] == "huggingface") != (kind == "huggingface"):
        want = ("{kind: huggingface, path: run/model}" if kind == "huggingface" else
                "{kind: torch, weights: run/model.safetensors}")
        raise ConfigError(f"model.kind: the record's model is {kind!r}; write e.g. model: "
                          f"{want[:-1]}, training_record: run/result.json}}")
    if spec["kind"] == "torch" and spec.get("architecture", kind) != kind:
        raise ConfigError(f"model.architecture: {spec.get('architecture')!r} differs from the "
                          f"recipe's model {kind!r}; make them match")


def _same_rows(data: AuditData, dataset: str | None, recipe: dict) -> None:
    """Refuse an audit whose training split is not the rows the claim's data set names."""
    from trustml.privacy import data_fingerprint

    if dataset is None or data_fingerprint(data.take("train")[0]) == dataset:
        return
    spec = recipe["data"]
    if "train" in spec or "split" in spec:
        how = "the recipe's declared split (its data.train and data.test, or data.split)"
    else:
        own = f"{Path(spec['path']).name} " if "path" in spec else f"the {spec.get('source')} data "
        how = (f"{own}with the recipe's split: seed: {recipe.get('seed', 0)} and data: "
               f"{{test_size: {spec.get('test_size', 0.25)}}}")
    raise ConfigError("data: the training split is not the rows the model was trained on; "
                      f"audit {how}")


def _model_claim(spec: dict, record: dict, checkpoints: Path) -> dict:
    """The privacy claim the model file itself carries, which the audit checks against the
    ledger; the ledger is the store the run used, else the run directory's copy."""
    from trustml.models import read_claim

    key = "path" if spec["kind"] == "huggingface" else "weights"
    if not Path(spec.get(key) or "").exists():
        raise ConfigError(f"model.{key}: no file at {spec.get(key)!r}")
    try:
        claim = read_claim(spec[key])
    except ModelLoadError as exc:
        raise ModelLoadError(f"model.{key}: {str(exc).removeprefix('model file: ')}") from None
    if claim is None:
        raise ConfigError(f"model.{key}: {Path(spec[key]).name} carries no privacy claim, "
                          "though model.training_record says it was trained with DP; audit the "
                          "model that trustml train wrote beside the record")
    copy = checkpoints / f"ledger-{claim.get('dataset', '')}.jsonl"
    ledger = record.get("ledger")
    if not ledger or not Path(ledger).is_file():
        # trustml train always keeps a ledger: one that cannot be found fails the finding
        ledger = str(copy) if copy.is_file() else (ledger or str(copy))
    return {**claim, "ledger": ledger, "checkpoint_dir": str(checkpoints)}


def gate_failures(result: AuditResult, gates, fail_on: str = "fail") -> list[str]:
    """Concerns among ``gates`` (default: every concern audited) whose verdict is ``fail`` (or
    also ``warn``), or that were not judged: an error, or a verdict not meaningful for a model
    no better than the trivial answer; a concern named in ``gates`` also fails not run or
    absent (no check reported on it)."""
    bad = {"fail", "error", "not_meaningful"} | ({"warn"} if fail_on == "warn" else set())
    if gates:  # a concern named as a gate must be judged
        bad.add("not_run")
    verdicts = result.verdicts
    return [c for c in (gates or verdicts) if verdicts.get(c, "not_run") in bad]


def check_features(model, data: AuditData) -> None:
    """Refuse tabular data whose columns are not the features a scikit-learn model was fitted
    on (``feature_names_in_``, else ``n_features_in_``), naming those missing and extra."""
    estimator = getattr(model, "estimator", None)
    if data.kind != "tabular" or estimator is None:
        return
    columns = [str(c) for c in data.features.columns]
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        names = [str(n) for n in names]
        missing = [n for n in names if n not in columns]
        extra = [c for c in columns if c not in names]
        if missing or extra or names != columns:
            problem = "; ".join(p for p in (missing and f"missing {missing}",
                                            extra and f"extra {extra}") if p) or "another order"
            raise ConfigError(f"data.features: the model was fitted on {len(names)} features, "
                              f"the data gives {len(columns)} ({problem}); write data: "
                              f"{{features: [{', '.join(names)}]}}")
    count = getattr(estimator, "n_features_in_", None)
    if names is None and count is not None and count != len(columns):
        raise ConfigError(f"data.features: the model takes {count} features, the data gives "
                          f"{len(columns)} ({', '.join(columns)}); list the model's {count} "
                          "features in data: {features: [...]}, in training order")


def run_config(config: dict, out: str | Path, *, progress: bool = True
               ) -> tuple[AuditResult, dict[str, Path], list[str]]:
    """Audit per ``config`` (as :func:`load_config` returns it); write the formats asked for
    under ``out``, all of them or none.

    The output folder, the data, the model and its features are checked before the audit runs.

    Returns
    -------
    (AuditResult, {format: path}, failed gates)
    """
    c = DEFAULTS | config
    check_writable_dir(out, [FORMATS[fmt] for fmt in c["formats"]])
    data = read_data(c["data"], c["seed"])
    trained = (load_training_record(c["model"], data)
               if "training_record" in c["model"] else {})
    data = trained.pop("data", data)
    model = load_model(c["model"], data, c["seed"], trained.pop("target", (0.0, 1.0)),
                       trained.pop("recipe_model", None))
    check_features(model, data)
    settings = Settings.model_validate({k: v for k, v in c.items() if k in Settings.model_fields})
    result = audit(model, data, settings, **trained, progress=progress,
                   config=_as_recorded(config))
    paths = result.write(out, c["formats"])
    return result, paths, gate_failures(result, c["gates"], c["fail_on"])


def _as_recorded(config: dict) -> dict:
    """The configuration as the report records it: file names, not the paths on this machine."""
    names = {"model": ("path", "weights", "training_record"), "data": ("path", "train", "test")}
    files = {k: Path(config[k]).name for k in ("lexicon", "templates")
             if isinstance(config.get(k), str)}
    return {k: v for k, v in config.items() if k not in names} | files | {
        section: {k: Path(v).name if k in keys else v for k, v in config[section].items()}
        for section, keys in names.items()}
