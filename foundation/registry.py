"""One registry type for every axis of the suite: methods, datasets, metrics, protocols, recipes.

Modelled on BasicSR's `basicsr/utils/registry.py` (one `Registry` class, one instance per axis):
an instance maps a name to an object (a class, a factory or a plain value), filled by `@register`
or `register(obj, name=...)`. Optionally, on the first lookup it imports every module of a
package (`discover="baselines"`) so that a new entry is one new file and nothing else is edited.

    METHODS = Registry("method", discover="baselines")

    @METHODS.register
    class EDSR(Method): name = "edsr"

    METHODS.get("edsr")      # the registered object (here the class)
    METHODS.names()          # names in registration order (after discovery)

Errors: an unknown name is a `UserError` that lists the valid names (and any module that failed to
import during discovery); registering a name twice with another object is a `ValueError` (a bug).
"""
from __future__ import annotations

import importlib
import pkgutil
import warnings
from typing import Any, Callable, Iterator

from foundation.errors import UserError


class Registry:
    """Name → object for one axis (`what` is the singular noun used in messages: "method")."""

    def __init__(self, what: str, *, discover: str | None = None,
                 aliases: dict[str, str] | None = None) -> None:
        self.what = what
        self._package = discover
        self._discovered = discover is None
        self._entries: dict[str, Any] = {}
        self._aliases: dict[str, str] = dict(aliases or {})
        self._import_failures: dict[str, str] = {}

    # ------------------------------------------------------------------ filling
    def register(self, obj: Any = None, *, name: str | None = None, aliases: tuple[str, ...] = ()) -> Any:
        """Add `obj` under `name` (default: its `name` attribute). Usable as `@reg.register`,
        `@reg.register(name="x")` or `reg.register(value, name="x")`; returns `obj`."""

        def add(target: Any) -> Any:
            key = name or getattr(target, "name", "")
            if not key:
                raise ValueError(f"{target!r}: a registered {self.what} needs a name")
            if key in self._entries and self._entries[key] is not target:
                raise ValueError(f"{self.what} {key!r} is registered twice")
            self._entries[key] = target
            for alias in aliases:
                self._aliases[alias] = key
            return target

        return add(obj) if obj is not None else add

    def discover(self) -> None:
        """Import every module under the discovery package once, so their `register` calls run.

        A module that fails to import is remembered (a warning, and named in `get`'s error) but does
        not hide the others.
        """
        if self._discovered:
            return
        self._discovered = True
        package = importlib.import_module(self._package)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{self._package}."):
            if info.name.rsplit(".", 1)[-1].startswith("_"):
                continue
            try:
                importlib.import_module(info.name)
            except Exception as err:  # noqa: BLE001 - one broken plug-in must not hide the others
                self._import_failures[info.name] = f"{type(err).__name__}: {err}"
                warnings.warn(f"{self._package}: could not import {info.name} ({err})", RuntimeWarning,
                              stacklevel=2)

    # ------------------------------------------------------------------ lookup
    def canonical(self, name: str) -> str:
        """`name` with aliases resolved (case kept); unknown names come back unchanged."""
        return self._aliases.get(name, name)

    def get(self, name: str) -> Any:
        """The object registered under `name` (or an alias); `UserError` naming the valid names."""
        self.discover()
        key = self.canonical(name)
        if key not in self._entries:
            message = f"unknown {self.what} {name!r}; valid names: {', '.join(self.names()) or '(none)'}"
            if self._import_failures:
                message += "; modules that failed to import: " + ", ".join(
                    f"{mod} ({why})" for mod, why in self._import_failures.items())
            raise UserError(message)
        return self._entries[key]

    def names(self, where: Callable[[Any], bool] | None = None) -> list[str]:
        """Registered names in registration order, optionally only those whose object passes `where`."""
        self.discover()
        return [n for n, obj in self._entries.items() if where is None or where(obj)]

    def items(self) -> list[tuple[str, Any]]:
        self.discover()
        return list(self._entries.items())

    def import_failures(self) -> dict[str, str]:
        self.discover()
        return dict(self._import_failures)

    def __contains__(self, name: object) -> bool:
        self.discover()
        return isinstance(name, str) and self.canonical(name) in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, {len(self._entries)} entries)"
