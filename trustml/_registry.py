"""One registry type for everything another package may add to trustml: checks, adapter
families, explainers and model kinds.

Entries are named and kept in order. A separate package adds its own without editing trustml:
it declares a Python entry point in the registry's group (``trustml.checks``,
``trustml.adapters``, ``trustml.explainers``, ``trustml.model_kinds``) naming a module whose
import registers them (:func:`trustml.checks.register`, :func:`trustml.models.register_adapter`,
:func:`trustml.explain.register_explainer`, :func:`trustml._model_kinds.register_kind`). The
group's modules are imported on the registry's first lookup.
"""

from __future__ import annotations

import importlib.metadata
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Registry:
    """Named entries of one kind, in order, extended by entry points.

    Parameters
    ----------
    kind : str
        What the entries are, e.g. "checks"; the entry point group is ``trustml.<kind>``.
    newest_first : bool
        Order entries newest first (adapter families: a later one is more specific).
    order : callable, optional
        Sort key over the entries' values (explainers: by priority).
    """

    def __init__(self, kind: str, *, newest_first: bool = False,
                 order: Callable | None = None):
        self.kind, self.group = kind, f"trustml.{kind}"
        self._newest_first, self._order = newest_first, order
        self._entries: dict[str, object] = {}
        self._plugins_loaded = False

    def register(self, name: str, value) -> None:
        """Add ``value`` under ``name``.

        Raises
        ------
        ValueError
            ``name`` is registered already.
        """
        self.check_new(name)
        self._entries = ({name: value, **self._entries} if self._newest_first
                         else {**self._entries, name: value})

    def check_new(self, name: str) -> None:
        """Raise ValueError if ``name`` is registered (plug-ins not loaded: safe while trustml
        itself is importing)."""
        if name in self._entries:
            raise ValueError(f"{self.kind}: {name!r} is registered twice")

    def unregister(self, name: str):
        """Remove ``name`` and return its value (KeyError when absent)."""
        return self._entries.pop(name)

    @contextmanager
    def temporarily(self, name: str, value):
        """``value`` under ``name`` for the block (replacing an entry of that name), then the
        registry exactly as before: for tests."""
        saved = dict(self._entries)
        self._entries.pop(name, None)
        self.register(name, value)
        try:
            yield value
        finally:
            self._entries = saved

    def load_plugins(self) -> None:
        """Import the modules of this registry's entry point group (once). A plug-in that
        fails to import is skipped with a warning naming it: trustml itself keeps working."""
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for point in importlib.metadata.entry_points(group=self.group):
            try:
                point.load()
            except Exception as exc:  # a broken plug-in must not break every audit
                warnings.warn(f"trustml plug-in {point.name!r} ({point.value}, group "
                              f"{self.group}) failed to load: {type(exc).__name__}: {exc}",
                              stacklevel=2)

    # ------------------------------------------------------------------ reading
    def items(self) -> list[tuple[str, object]]:
        self.load_plugins()
        pairs = list(self._entries.items())
        return sorted(pairs, key=lambda kv: self._order(kv[1])) if self._order else pairs

    def names(self) -> list[str]:
        return [name for name, _ in self.items()]

    def values(self) -> list:
        return [value for _, value in self.items()]

    def get(self, name: str, default=None):
        self.load_plugins()
        return self._entries.get(name, default)

    def __getitem__(self, name: str):
        self.load_plugins()
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        self.load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self.load_plugins()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
