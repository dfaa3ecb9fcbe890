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
from trustml.checks import CHALLENGES, DEFAULT_THRESHOLDS, REGISTRY
from trustml.checks.privacy import DEPTHS
from trustml.data import AuditData, read_table, read_texts
from trustml.errors import ConfigError, ModelLoadError
from trustml.report import AuditResult, write_atomic

MODEL_KINDS = ("sklearn", "torch", "huggingface")
FORMATS = {"html": "report.html", "json": "report.json", "model_card": "model_card.md"}
SECTIONS = {"title", "seed", "model", "data", "checks", "thresholds", "gates", "fail_on",
            "formats", "privacy_depth", "explain_rows", "quasi_identifiers", "cv_folds"}


def load_config(path: str | Path) -> dict:
    """Read and validate an audit configuration; paths in it are relative to the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config: no file at {str(path)!r}; pass the path of an audit YAML")
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"config: {path.name} is not valid YAML ({str(exc).splitlines()[0]})")
    if not isinstance(config, dict):
        raise ConfigError(f"config: {path.name} must be a mapping with model: and data: sections")
    unknown = set(config) - SECTIONS
    if unknown:
        raise ConfigError(f"config: unknown section(s) {sorted(unknown)}; use {sorted(SECTIONS)}")
    for section in ("model", "data"):
        if not isinstance(config.get(section), dict):
            raise ConfigError(f"{section}: section missing; see docs/config.md")
    if config["model"].get("kind") not in MODEL_KINDS:
        raise ConfigError(f"model.kind: {config['model'].get('kind')!r} is not one of "
                          f"{list(MODEL_KINDS)}")
    for key in ("path", "weights", "training_record"):
        if key in config["model"]:
            config["model"][key] = str(path.parent / config["model"][key])
    if "path" not in config["data"]:
        raise ConfigError("data.path: missing; name a CSV, TSV or Parquet file")
    config["data"]["path"] = str(path.parent / config["data"]["path"])
    for name in config.get("checks") or []:
        if name not in REGISTRY:
            raise ConfigError(f"checks: unknown check {name!r}; use names among {list(REGISTRY)}")
    unknown = set(config.get("thresholds") or {}) - set(DEFAULT_THRESHOLDS)
    if unknown:
        raise ConfigError(f"thresholds: unknown name(s) {sorted(unknown)}; use names among "
                          f"{sorted(DEFAULT_THRESHOLDS)}")
    for gate in config.get("gates") or []:
        if gate not in CHALLENGES:
            raise ConfigError(f"gates: {gate!r} is not a concern; use names among "
                              f"{list(CHALLENGES)}")
    if config.get("fail_on", "fail") not in ("fail", "warn"):
        raise ConfigError(f"fail_on: {config['fail_on']!r}; use 'fail' or 'warn'")
    for fmt in config.get("formats") or []:
        if fmt not in FORMATS:
            raise ConfigError(f"formats: {fmt!r} is not one of {list(FORMATS)}")
    if config.get("privacy_depth", "standard") not in DEPTHS:
        raise ConfigError(f"privacy_depth: {config['privacy_depth']!r} is not one of "
                          f"{list(DEPTHS)}")
    return config


def load_data(spec: dict, seed: int) -> AuditData:
    """The configured data set, split with ``seed``."""
    common = {k: spec[k] for k in ("positive_label", "test_size", "task", "name") if k in spec}
    if not Path(spec["path"]).is_file():
        raise ConfigError(f"data.path: no file at {spec['path']!r}")
    if "label" not in spec:
        raise ConfigError("data.label: missing; name the label column")
    sensitive = spec.get("sensitive", [])
    if spec.get("missing", "error") not in ("error", "drop"):
        raise ConfigError(f"data.missing: {spec['missing']!r}; use 'error' or 'drop'")
    if "text" in spec:
        if "missing" in spec:
            raise ConfigError("data.missing: applies to tabular data only; remove it (drop "
                              "rows without a text or label from the file)")
        return read_texts(spec["path"], text=spec["text"], label=spec["label"],
                          sensitive=sensitive, seed=seed, **common)
    return read_table(spec["path"], label=spec["label"], sensitive=sensitive,
                      features=spec.get("features"), missing=spec.get("missing", "error"),
                      seed=seed, **common)


def load_training_record(spec: dict, data: AuditData) -> dict:
    """What ``model.training_record`` (a ``result.json`` of ``trustml train``) tells the audit:
    ``privacy`` (the DP record, its ledger beside it), ``training`` (time and size),
    ``retrain`` (the recipe's training, for reference models and cross-validation) and
    ``target``, the (center, scale) a regression model was trained in."""
    from trustml._recipes import build_adapter, train_like_recipe
    from trustml.privacy import PrivacyRecord

    path = Path(spec["training_record"])
    if spec["kind"] != "torch":
        raise ConfigError("model.training_record: only torch models come from trustml train; "
                          "remove it")
    try:
        result = json.loads(path.read_text())
        recipe, record = result["recipe"], dict(result["privacy"])
        seconds, rows = result["private"]["seconds"], result["train_rows"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"model.training_record: {str(path)!r} is not a result.json written by "
                          "trustml train") from None
    if recipe["model"]["kind"] != spec.get("architecture"):
        raise ConfigError(f"model.architecture: {spec.get('architecture')!r} differs from the "
                          f"recipe's model {recipe['model']['kind']!r}; make them match")
    ledger = path.parent / "checkpoints"  # where trustml train keeps the ledger
    record["checkpoint_dir"] = str(ledger) if ledger.is_dir() else None
    center = recipe["data"].get("target_center", 0.0)
    scale = recipe["data"].get("target_scale", 1.0)

    def retrain(X, y, *, private: bool = False, seed: int = 0):
        adapter = build_adapter(recipe["model"], data, seed, target=(center, scale))
        if data.task == "regression":
            y = (y - center) / scale
        return train_like_recipe(recipe, adapter, X, y, private=private, seed=seed)[0]

    return {"privacy": PrivacyRecord(**record), "retrain": retrain, "target": (center, scale),
            "training": {"model": {"private": True, "seconds": seconds, "examples": rows,
                                   "epochs": record["epochs"],
                                   "batch_size": record["batch_size"], "lr": record["lr"]}}}


def load_model(spec: dict, data: AuditData, seed: int, target: tuple = (0.0, 1.0)):
    """The configured model, as an adapter; ``target`` as in :func:`load_training_record`."""
    kind = spec["kind"]
    source = spec.get("weights") if kind == "torch" else spec.get("path")
    if source is None or not Path(source).exists():
        key = "model.weights" if kind == "torch" else "model.path"
        raise ConfigError(f"{key}: no file or directory at {source!r}")
    if kind == "sklearn":
        return _sklearn(source, bool(spec.get("trust", False)))
    if kind == "torch":
        from trustml._recipes import MODELS, build_adapter
        from trustml.models import load_weights

        architecture = spec.get("architecture")
        if architecture not in MODELS:
            raise ConfigError(f"model.architecture: {architecture!r} is not one of {list(MODELS)}")
        adapter = build_adapter({**spec, "kind": architecture}, data, seed, target)
        load_weights(adapter.module, source)
        adapter.module.eval()
        return adapter
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from trustml.models import wrap

    try:
        module = AutoModelForSequenceClassification.from_pretrained(source, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"model.path: {source!r} is not a Hugging Face model directory "
                             f"({str(exc).splitlines()[0]})") from None
    return wrap(module.eval(), tokenizer=tokenizer, max_length=spec.get("max_length", 128),
                task=data.task)


def _sklearn(path: str, trust: bool):
    """A scikit-learn model from skops (types checked) or joblib / pickle (``trust`` only)."""
    from trustml.models import wrap

    if path.endswith(".skops"):
        import skops.io as sio

        untrusted = sio.get_untrusted_types(file=path)
        if untrusted and not trust:
            raise ModelLoadError(f"model.path: {Path(path).name} holds types skops does not "
                                 f"trust ({', '.join(untrusted[:5])}); check them and set "
                                 "model.trust: true")
        return wrap(sio.load(path, trusted=untrusted))
    if not trust:
        raise ModelLoadError(f"model.trust: loading {Path(path).name} (a pickle) runs any code it "
                             "holds; save the model with skops, or set model.trust: true for a "
                             "file you made")
    import joblib

    return wrap(joblib.load(path))


def gate_failures(result: AuditResult, gates, fail_on: str = "fail") -> list[str]:
    """Concerns among ``gates`` whose verdict is ``fail`` (or also ``warn``)."""
    bad = {"fail"} if fail_on == "fail" else {"warn", "fail"}
    return [c for c, status in result.verdicts.items()
            if status in bad and (not gates or c in gates)]


def run_config(config: dict, out: str | Path, *, progress: bool = True
               ) -> tuple[AuditResult, dict[str, Path], list[str]]:
    """Audit per ``config``; write the formats asked for under ``out``.

    Returns
    -------
    (AuditResult, {format: path}, failed gates)
    """
    seed = int(config.get("seed", 0))
    data = load_data(config["data"], seed)
    trained = (load_training_record(config["model"], data)
               if "training_record" in config["model"] else {})
    model = load_model(config["model"], data, seed, trained.pop("target", (0.0, 1.0)))
    result = audit(model, data, **trained, checks=config.get("checks"),
                   thresholds=config.get("thresholds"),
                   explain_rows=int(config.get("explain_rows", 100)),
                   privacy_depth=config.get("privacy_depth", "standard"),
                   quasi_identifiers=config.get("quasi_identifiers"),
                   cv_folds=config.get("cv_folds"), seed=seed,
                   title=config.get("title"), progress=progress,
                   config={k: v for k, v in config.items() if k not in ("model", "data")}
                   | {"model": {k: Path(v).name if k in ("path", "weights", "training_record")
                                else v
                                for k, v in config["model"].items()},
                      "data": {k: Path(v).name if k == "path" else v
                               for k, v in config["data"].items()}})
    formats = config.get("formats") or list(FORMATS)
    render = {"html": result.to_html, "json": result.to_json, "model_card": result.to_model_card}
    texts = {fmt: render[fmt]() for fmt in formats}  # render all before writing any
    paths = {fmt: write_atomic(Path(out) / FORMATS[fmt], texts[fmt]) for fmt in formats}
    return result, paths, gate_failures(result, config.get("gates"), config.get("fail_on", "fail"))
