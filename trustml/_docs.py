"""The user documentation's pages, wherever trustml is installed: a wheel puts ``docs/*.md``
under ``<prefix>/share/doc/trustml`` (``[tool.setuptools.data-files]``); a checkout or an
editable install reads ``docs/`` beside the package. ``trustml docs`` prints them."""

from __future__ import annotations

import site
import sys
from pathlib import Path


def docs_dir() -> Path | None:
    """The folder holding the pages, or None where none is installed."""
    candidates = [Path(__file__).resolve().parents[1] / "docs"]
    candidates += [Path(base) / "share" / "doc" / "trustml"
                   for base in (sys.prefix, site.getuserbase())]
    return next((d for d in candidates if (d / "config.md").is_file()), None)


def pages() -> dict[str, Path]:
    """Page name (``config``) -> its Markdown file."""
    folder = docs_dir()
    return {p.stem: p for p in sorted(folder.glob("*.md"))} if folder else {}
