"""Training recipes, read and checked: a YAML file names data, model, privacy budget and
training settings (the shipped ones in ``trustml/recipes/``, also the top-level ``recipes/``).
:mod:`trustml._recipe_run` trains them.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from trustml._recipe_schema import RecipeConfig, validate_recipe
from trustml._schema_words import sections_of
from trustml.errors import ConfigError, did_you_mean

CATALOGUE = Path(__file__).parent / "recipes"  # the reference recipes, shipped in the package
_SECTIONS = sections_of(RecipeConfig)  # the sections --set can reach
FILES = (("data", "path"), ("data", "train"), ("data", "test"), ("model", "path"))


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
    for section, key in FILES:  # the recipe's own file names: relative to the recipe
        if isinstance(recipe.get(section), dict) and key in recipe[section]:
            recipe[section][key] = _anchored(section, recipe[section][key], path.parent)
    for item in overrides:
        key, sep, value = item.partition("=")
        section, dot, field = key.partition(".")
        if not sep or not dot or not section or not field:
            raise ConfigError(f"--set: {item!r} is not section.key=value; "
                              "e.g. --set training.epochs=1")
        if section not in _SECTIONS:
            raise ConfigError(f"--set: {section!r} is not a recipe section"
                              f"{did_you_mean(section, _SECTIONS)}")
        if not isinstance(recipe.setdefault(section, {}), dict):
            raise ConfigError(f"{section}: expected a mapping; see `trustml recipes` for examples")
        value = _number_or_yaml(value)
        recipe[section][field] = (_anchored(section, value, Path.cwd())
                                  if (section, field) in FILES else value)
    return validate_recipe(recipe)


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
