"""One registry type for every axis of the suite: methods, datasets, metrics, protocols, recipes.

Modelled on BasicSR's `basicsr/utils/registry.py` (one `Registry` class, one instance per axis):
an instance maps a name to an object (a class, a factory or a plain value), filled by `@register`
or `register(obj, name=...)`. Optionally, on the first lookup it imports every module of a
package (`discover="baselines"`) so that a new entry is one new file and nothing else is edited.

    METHODS = Registry("method", discover="baselines", case_sensitive=False)

    @METHODS.register
    class EDSR(Method): name = "edsr"

    METHODS.get("edsr")      # the registered object (here the class); METHODS["edsr"] the same
    METHODS.names()          # names in registration order (after discovery)
    METHODS.canonical_names(["EDSR"], "--methods")   # ["edsr"] (case folded: case_sensitive=False)

Every axis a user names (methods, datasets, metrics, protocols, reference modes, recipes) is a
`case_sensitive=False` registry: "Bicubic", "CUFED5" and " PSNR " name "bicubic", "cufed5" and "psnr";
the entry that reads a user's names (an option, a settings or config file) turns them into the
registered names once with `canonical_names` (or `canonical`).

Errors: an unknown name is a `UserError` that lists the valid names (and any module that failed to
import during discovery); registering a name twice with another object is a `ValueError` (a bug).
"""
from __future__ import annotations

import contextlib
import importlib
import pkgutil
import warnings
from typing import Any, Callable, Iterable, Iterator

from foundation.errors import UserError

_MISSING = object()


class Registry:
    """Name → object for one axis (`what` is the singular noun used in messages: "method")."""

    def __init__(self, what: str, *, discover: str | None = None,
                 aliases: dict[str, str] | None = None, case_sensitive: bool = True) -> None:
        self.what = what
        self._fold = (lambda text: text) if case_sensitive else (lambda text: text.strip().lower())
        self._package = discover
        self._discovered = discover is None
        self._entries: dict[str, Any] = {}
        self._aliases: dict[str, str] = {self._fold(a): n for a, n in (aliases or {}).items()}
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
            spellings = {self._fold(s) for s in (key, *aliases)}
            taken = {self._fold(n): n for n in self._entries if n != key} | {
                a: n for a, n in self._aliases.items() if n != key}
            clash = sorted(s for s in spellings if s in taken)
            if clash:
                raise ValueError(f"{self.what} {key!r}: {', '.join(map(repr, clash))} already name "
                                 f"{self.what} {taken[clash[0]]!r}")
            self._entries[key] = target
            for alias in aliases:
                if self._fold(alias) != self._fold(key):
                    self._aliases[self._fold(alias)] = key
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
        """The registered name `name` spells (an alias, or another case where case does not count);
        unknown names come back unchanged."""
        self.discover()
        folded = self._fold(str(name))
        if folded in self._aliases:
            return self._aliases[folded]
        return next((n for n in self._entries if self._fold(n) == folded), name)

    def canonical_names(self, names: Iterable[str], source: str | None = None) -> list[str]:
        """The registered names that `names` spell (`canonical`), in the given order, each once: what
        a command line or a file names is turned into the registered name here, at the entry, so that
        rows, identities and file names carry one spelling. Unknown names are ONE `UserError` naming
        them all (after `source`, the option or file key that gave them: "--methods") and the valid
        names."""
        self.discover()
        given = [str(name) for name in names]
        unknown = [name for name in given if self.canonical(name) not in self._entries]
        if unknown:
            raise UserError(self._unknown(unknown, source))
        return list(dict.fromkeys(self.canonical(name) for name in given))

    def get(self, name: str, default: Any = _MISSING) -> Any:
        """The object registered under `name` (or an alias); without `default`, an unknown name is a
        `UserError` naming the valid names."""
        self.discover()
        key = self.canonical(name)
        if key not in self._entries:
            if default is not _MISSING:
                return default
            raise UserError(self._unknown([name]))
        return self._entries[key]

    def _unknown(self, names: list[str], source: str | None = None) -> str:
        """The one line for unknown `names`: them, the valid names, any module that failed to import."""
        message = (f"{source}: " if source else "") + (
            f"unknown {self.what} {', '.join(map(repr, names))}; valid names: {', '.join(self.names()) or '(none)'}")
        if self._import_failures:
            message += "; modules that failed to import: " + ", ".join(
                f"{mod} ({why})" for mod, why in self._import_failures.items())
        return message

    def names(self, where: Callable[[Any], bool] | None = None) -> list[str]:
        """Registered names in registration order, optionally only those whose object passes `where`."""
        self.discover()
        return [n for n, obj in self._entries.items() if where is None or where(obj)]

    def items(self) -> list[tuple[str, Any]]:
        self.discover()
        return list(self._entries.items())

    def values(self) -> list[Any]:
        return [obj for _, obj in self.items()]

    @contextlib.contextmanager
    def temporarily(self, obj: Any, name: str, source: str = "name") -> Iterator[None]:
        """`obj` registered as `name` for the `with` block only (a user's method for one command or
        call); a name already taken is a `UserError` naming `source` (the option or argument)."""
        if name in self:
            raise UserError(f"{source}: {self.what} {name!r} is already registered; choose another name")
        self.register(obj, name=name)
        try:
            yield
        finally:
            del self[name]

    def copy(self) -> "Registry":
        """A registry with the same entries and aliases (e.g. to add entries for a while)."""
        self.discover()
        twin = Registry(self.what)
        twin._fold, twin._entries, twin._aliases = self._fold, dict(self._entries), dict(self._aliases)
        return twin

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def __setitem__(self, name: str, obj: Any) -> None:
        """Replace (or add) the entry `name` on purpose: a user's own definition over the shipped one."""
        self.discover()
        self._entries[self.canonical(name)] = obj

    def __delitem__(self, name: str) -> None:
        self.discover()
        key = self.canonical(name)
        del self._entries[key]
        self._aliases = {a: n for a, n in self._aliases.items() if n != key}

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
