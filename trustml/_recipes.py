"""Training recipes, read and checked: a YAML file names data, model, privacy budget and
training settings (the shipped ones in ``trustml/recipes/``, also the top-level ``recipes/``).
:mod:`trustml._recipe_run` trains them.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from trustml._model_kinds import MODEL_KINDS, kinds
from trustml.errors import ConfigError, did_you_mean
from trustml.models._architectures import ACTIVATIONS
from trustml.privacy import DPSettings
from trustml.privacy._settings import check_rows

CATALOGUE = Path(__file__).parent / "recipes"  # the reference recipes, shipped in the package
SECTIONS = {
    "name": str, "description": str, "seed": int, "minutes": float,
    # how the settings were chosen (Papernot and Steinke 2022): where the claim covers it
    "tuning": {"data": str, "how": str},
    "data": {"source": str, "rows": int, "test_size": float, "target_center": float,
             "target_scale": float,
             # your own file instead of a source: the keys of an audit config's data section
             "path": str, "label": str, "text": str, "features": list, "sensitive": list,
             "positive_label": (str, int, float), "task": str, "name": str, "missing": str},
    "model": {"kind": str, "hidden": list, "trainable": (str, int), "max_length": int,
              "embed_dim": int, "activation": str, "channels": int, "embeddings": str,
              "layers": int, "scales": int, "path": str, "import": str, "options": dict},
    "privacy": {"epsilon": float, "delta": float, "accountant": str, "max_grad_norm": float,
                "clipping": str, "noise_seed": int, "compose": bool},
    "training": {"epochs": int, "batch_size": int, "lr": float, "ema": float, "optimizer": str,
                 "baseline_lr": float, "baseline_epochs": int, "baseline_batch_size": int,
                 "max_physical_batch_size": int},
}
_MAPPINGS = sorted(k for k, v in SECTIONS.items() if isinstance(v, dict))
MODELS = kinds("architecture")  # the reference architectures (audit configs name them)
FILE_KEYS = ("path", "label", "text", "features", "sensitive", "positive_label", "task", "name",
             "missing")
IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
TUNING_DATA = ("public", "other", "training")  # tuning.data: where the settings were chosen
EMBEDDINGS = ("learned", "pretrained", "frozen")  # lstm: from scratch, or MiniLM's table
KIND_WORDS = {int: "an int", float: "a float", str: "a str", list: "a list", dict: "a mapping",
              bool: "true or false"}
# train_private's keyword names as a recipe spells them, for one-line errors in YAML terms.
NAMES = {"target_epsilon": "privacy.epsilon", "delta": "privacy.delta",
         "accountant": "privacy.accountant", "max_grad_norm": "privacy.max_grad_norm",
         "epochs": "training.epochs", "batch_size": "training.batch_size", "lr": "training.lr",
         "max_physical_batch_size": "training.max_physical_batch_size", "n": "data.rows",
         "ema": "training.ema", "optimizer": "training.optimizer",
         "clipping": "privacy.clipping", "compose": "privacy.compose: true",
         "seed": "privacy.noise_seed",
         "ledger": "--ledger DIR"}


# ---------------------------------------------------------------------- loading
def catalogue() -> dict[str, Path]:
    """The reference recipes shipped with the package: name -> its ``recipe.yaml``."""
    return {p.parent.name: p for p in sorted(CATALOGUE.glob("*/recipe.yaml"))}


def find_recipe(name: str | Path) -> Path:
    """A recipe file from a path (a YAML file or a directory holding ``recipe.yaml``) or the
    name of a shipped recipe (``mlp-digits``; ``recipes/mlp-digits`` as in a checkout)."""
    path = Path(name)
    if path.is_dir():
        path = path / "recipe.yaml"
    if path.is_file():
        return path
    shipped = catalogue()
    if path.name in shipped and str(path.parent) in (".", "recipes"):
        return shipped[path.name]
    raise ConfigError(f"recipe: {str(name)!r} is neither a recipe file nor a shipped recipe"
                      f"{did_you_mean(path.name, list(shipped))}; `trustml recipes` lists them")


def load_recipe(path: str | Path, overrides: list[str] = ()) -> dict:
    """Read a recipe (a YAML file, a directory holding ``recipe.yaml``, or the name of a
    shipped recipe, :func:`find_recipe`) and validate it.

    ``overrides`` are ``section.key=value`` strings (values parsed as YAML).
    """
    path = find_recipe(path)
    try:
        recipe = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        raise ConfigError(f"recipe: {path.name} is not UTF-8 text; save it as UTF-8") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"recipe: {path.name} is not valid YAML ({exc.__class__.__name__}); "
                          "fix its syntax") from None
    if not isinstance(recipe, dict):
        raise ConfigError(f"recipe: {path.name} must be a mapping with data:, model:, privacy: "
                          "and training: sections; see `trustml recipes` for examples")
    for section in ("data", "model"):  # the recipe's own file names: relative to the recipe
        if isinstance(recipe.get(section), dict) and "path" in recipe[section]:
            recipe[section]["path"] = _anchored(section, recipe[section]["path"], path.parent)
    for item in overrides:
        key, sep, value = item.partition("=")
        section, dot, field = key.partition(".")
        if not sep or not dot or not section or not field:
            raise ConfigError(f"--set: {item!r} is not section.key=value; "
                              "e.g. --set training.epochs=1")
        if section not in SECTIONS or not isinstance(SECTIONS[section], dict):
            raise ConfigError(f"--set: {section!r} is not a recipe section"
                              f"{did_you_mean(section, _MAPPINGS)}")
        if not isinstance(recipe.setdefault(section, {}), dict):
            raise ConfigError(f"{section}: expected a mapping; see `trustml recipes` for examples")
        value = _number_or_yaml(value)
        recipe[section][field] = (_anchored(section, value, Path.cwd()) if field == "path"
                                  else value)
    _validate(recipe)
    return recipe


def _anchored(section: str, value, base: Path):
    """``data.path`` or a local ``model.path`` made absolute, relative to ``base``, so the
    training record names files an audit can find; a model path that is no local directory
    stays as written (a Hugging Face hub id)."""
    if isinstance(value, str) and (section == "data" or (base / value).exists()):
        return str((base / value).resolve())
    return value



def _number_or_yaml(text: str):
    """A --set value: YAML, except that 1e6 is a number (YAML 1.1 reads it as text) and only
    true / false are booleans (YAML 1.1 also reads yes, no, on, off as booleans)."""
    if text.strip().lower() in ("yes", "no", "on", "off", "y", "n"):
        return text.strip()
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    return value


def _validate(recipe: dict) -> None:
    for key, value in recipe.items():
        if key not in SECTIONS:
            raise ConfigError(f"recipe: unknown section {key!r}"
                              f"{did_you_mean(key, sorted(map(str, SECTIONS)))}")
        spec = SECTIONS[key]
        if isinstance(spec, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{key}: expected a mapping; see `trustml recipes` for examples")
            for field, v in value.items():
                if field not in spec:
                    raise ConfigError(f"{key}.{field}: unknown setting"
                                      f"{did_you_mean(field, sorted(spec))}")
                types = spec[field] if isinstance(spec[field], tuple) else (spec[field],)
                wrong_bool = isinstance(v, bool) and bool not in types
                if v is not None and (wrong_bool or not isinstance(v, types)) and not (
                        float in types and isinstance(v, int) and not isinstance(v, bool)):
                    raise ConfigError(f"{key}.{field}: {v!r} is not "
                                      f"{' or '.join(KIND_WORDS[k] for k in types)}")
    hidden = recipe.get("model", {}).get("hidden")
    if hidden is not None and not all(isinstance(h, int) and not isinstance(h, bool) and h >= 1
                                      for h in hidden):
        raise ConfigError(f"model.hidden: {hidden!r} must list layer widths >= 1, e.g. [64, 32]")
    for section in ("data", "model", "privacy", "training"):
        if section not in recipe:
            raise ConfigError(f"recipe: section {section!r} is missing; see `trustml recipes` for "
                              "examples")
    _check_data(recipe["data"])
    model = recipe["model"]
    if model.get("kind") not in kinds("build"):  # registered kinds, plug-ins' included
        raise ConfigError(f"model.kind: {model.get('kind')!r} is not one of "
                          f"{list(kinds('build'))}")
    _check_kind_keys(model)
    _check_own_model(model)
    if model.get("activation", "relu") not in ACTIVATIONS:
        raise ConfigError(f"model.activation: {model['activation']!r} is not one of "
                          f"{sorted(ACTIVATIONS)}")
    channels = model.get("channels", 16)
    if channels < 4 or channels % 4:
        raise ConfigError(f"model.channels: {channels!r} must be a multiple of 4 (four "
                          "GroupNorm groups), e.g. 16")
    if model.get("embeddings", "learned") not in EMBEDDINGS:
        raise ConfigError(f"model.embeddings: {model['embeddings']!r} is not one of "
                          f"{list(EMBEDDINGS)}")
    if (model.get("layers") or 1) < 1:
        raise ConfigError(f"model.layers: {model['layers']!r} must be a whole number "
                          ">= 1 (top layers whose pooled states the probe reads)")
    tuning = recipe.get("tuning", {}).get("data")
    if tuning is not None and tuning not in TUNING_DATA:
        raise ConfigError(f"tuning.data: {tuning!r} is not one of {list(TUNING_DATA)} (where "
                          "the settings were chosen: public data, other data, or these "
                          "training rows)")
    if recipe["data"].get("rows") is not None and recipe["data"]["rows"] < 1:
        raise ConfigError(f"data.rows: {recipe['data']['rows']!r} must be a whole number >= 1")
    check_recipe_training(recipe, n=None)


def _check_data(data: dict) -> None:
    """A built-in ``source``, or the user's file (``path`` with ``label``), not both."""
    if ("source" in data) == ("path" in data):
        raise ConfigError("data: give either source (a built-in data set, e.g. adult) or path "
                          "(your CSV, JSON lines or Parquet file) with label, e.g. data: "
                          "{path: reviews.csv, label: sentiment, text: review}")
    if "source" in data:
        for key in FILE_KEYS:
            if key in data:
                raise ConfigError(f"data.{key}: applies to your own file (data.path) only; "
                                  "remove it")
        return
    if "label" not in data:
        raise ConfigError("data.label: missing; name the label column, e.g. data: "
                          "{path: reviews.csv, label: sentiment}")
    if not Path(data["path"]).is_file():
        raise ConfigError(f"data.path: no file at {data['path']!r}; paths in a recipe are "
                          "relative to the recipe file")
    if "text" in data and "features" in data:
        raise ConfigError("data.features: applies to tabular data only; remove it (a text "
                          "model reads data.text)")


def _check_kind_keys(model: dict) -> None:
    """Refuse a model key the kind does not read (it would be silently ignored)."""
    kind = model["kind"]
    takes = MODEL_KINDS[kind].keys
    for key, value in model.items():
        if key != "kind" and value is not None and key not in takes:
            raise ConfigError(f"model.{key}: does not apply to kind: {kind} (it takes "
                              f"{', '.join(takes) or 'no other key'}); remove it, or --set "
                              f"model.{key}=null")


def _check_own_model(model: dict) -> None:
    """What the user's own models (``huggingface``, ``module``) need."""
    kind = model["kind"]
    if kind == "huggingface":
        if not model.get("path"):
            raise ConfigError("model.path: missing; kind: huggingface needs the directory of a "
                              "sequence-classifier and its tokenizer (save_pretrained), e.g. "
                              "model: {kind: huggingface, path: ./distilbert-base-uncased}")
        path = model["path"]
        local = path.startswith((".", "/", "~")) or "\\" in path or path.count("/") > 1
        if local and not Path(path).expanduser().is_dir():
            raise ConfigError(f"model.path: no directory at {path!r}; point it at the directory "
                              "save_pretrained wrote (or a hub id, e.g. distilbert-base-uncased)")
        trainable = model.get("trainable", "all")
        if trainable not in ("all", "head", "lora") and not (
                isinstance(trainable, int) and trainable >= 0):
            raise ConfigError(f"model.trainable: {trainable!r} is not all, head, lora or a "
                              "number of top layers, e.g. 2")
    if kind == "module" and not IMPORT_PATH.match(str(model.get("import", ""))):
        raise ConfigError(f"model.import: {model.get('import')!r} is not package.module:Name; "
                          "write e.g. model: {kind: module, import: 'mynets:TabularNet'}")


# A recipe's privacy: and training: keys -> the DPSettings fields they fill.
SETTINGS = {"privacy": {"epsilon": "target_epsilon", "delta": "delta", "compose": "compose",
                        "accountant": "accountant", "max_grad_norm": "max_grad_norm",
                        "clipping": "clipping", "noise_seed": "seed"},
            "training": {"epochs": "epochs", "batch_size": "batch_size", "lr": "lr",
                         "ema": "ema", "optimizer": "optimizer",
                         "max_physical_batch_size": "max_physical_batch_size"}}


def recipe_settings(recipe: dict) -> DPSettings:
    """The DP run's settings from a recipe's ``privacy:`` and ``training:`` sections (the
    defaults of the keys it leaves out: :class:`DPSettings`'), checked in YAML terms."""
    return DPSettings.of(names=NAMES, **{field: recipe[section].get(key)
                                         for section, keys in SETTINGS.items()
                                         for key, field in keys.items()})


def check_recipe_training(recipe: dict, n: int | None) -> DPSettings:
    """The training settings, in YAML terms, before anything is trained or spent (``n``:
    the training rows, when they are known)."""
    settings = recipe_settings(recipe)
    if n is not None:
        check_rows(n, settings.delta, NAMES)
    t = recipe["training"]
    if t.get("baseline_lr") is not None and not t["baseline_lr"] > 0:
        raise ConfigError(f"training.baseline_lr: {t['baseline_lr']!r} must be > 0")
    for key in ("baseline_epochs", "baseline_batch_size"):
        if t.get(key) is not None and t[key] < 1:
            raise ConfigError(f"training.{key}: {t[key]!r} must be a whole number >= 1")
    return settings
