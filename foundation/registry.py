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

Plug-ins (a user's own method, metric ... in THEIR package, the suite unedited):
- `load_plugins(["my_pkg.my_module"], source="--plugin")` imports each module once (its `register` calls
  run); an import failure is ONE `UserError` line naming the module and the error. `--plugin MODULE` on
  the commands and the settings file's `plugins = [...]` reach it through `foundation.settings.resolve`.
- `Registry(..., entry_points="ttsr_bench.methods")` (methods; metrics: `ttsr_bench.metrics`): `discover()` also loads every entry point of that
  group of the installed distributions (`[project.entry-points."ttsr_bench.methods"] mine =
  "my_pkg.my_module"`, or `"my_pkg.my_module:MyMethod"`: an object the module did not register itself is
  registered under its `name`, else the entry point's name); a failing one is remembered like a module
  of the package (a warning, named in `get`'s error).
- `Registry.origin(name)`: None for an entry of the suite's own packages (`SUITE_PACKAGES`), else where it
  came from: {"module", "file", "sha256" of that file, and "distribution", "version" when an installed
  distribution holds it}; the runner puts it in the pass's identity and the manifest
  (`benchmarks.identity.pass_config`).

Every axis a user names (methods, datasets, metrics, protocols, reference modes, recipes) is a
`case_sensitive=False` registry: "Bicubic", "CUFED5" and " PSNR " name "bicubic", "cufed5" and "psnr";
the entry that reads a user's names (an option, a settings or config file) turns them into the
registered names once with `canonical_names` (or `canonical`).

Errors: an unknown name is a `UserError` that lists the valid names (and any module that failed to
import during discovery); registering a name twice with another object is a `ValueError` (a bug).
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.metadata
import inspect
import pkgutil
import re
import sys
import warnings
from functools import lru_cache
from typing import Any, Callable, Iterable, Iterator

from foundation.errors import UserError

_MISSING = object()
#: the suite's own top-level packages (the layers of docs/interfaces.md): what they register has no `origin`
SUITE_PACKAGES = ("foundation", "metrics", "ttsr", "baselines", "training", "benchmarks")
_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
#: top-level package -> (distribution, version) of the entry points loaded (their dist is known exactly)
_ENTRY_POINT_DISTS: dict[str, tuple[str, str]] = {}
#: module -> its origin, for every module `load_plugins` imported (in order)
_LOADED: dict[str, dict[str, str]] = {}


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def load_plugins(names: Iterable[str], source: str = "--plugin") -> list[str]:
    """Import each module of `names` ("my_pkg.my_module"; each once per process), so that its
    `register` calls add the user's methods, metrics ... to the suite's registries. Returns the module
    names, in order. A module that cannot be imported (not found, or raising while it is imported, e.g.
    a name registered twice) is ONE `UserError` line: `source` (the option or file key that named it),
    the module and the error, and what to do."""
    loaded = []
    for name in names:
        name = str(name).strip()
        if not _MODULE_NAME.match(name):
            raise UserError(f"{source} {name!r}: not a module name; give a dotted Python module name, "
                            "e.g. my_package.my_methods")
        if name not in _LOADED:
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as err:
                if err.name and (name == err.name or name.startswith(err.name + ".")):
                    raise UserError(f"{source} {name}: module not found ({_one_line(err)}); put the folder holding "
                                    "its package on PYTHONPATH, or install the package") from None
                raise UserError(f"{source} {name}: importing it failed ({type(err).__name__}: {_one_line(err)}); "
                                "install what it needs, or fix the module") from None
            except Exception as err:  # noqa: BLE001 - the user's module: any failure is one line
                raise UserError(f"{source} {name}: importing it failed ({type(err).__name__}: {_one_line(err)}); "
                                "fix the module") from None
            _LOADED[name] = module_origin(module.__name__)
        loaded.append(name)
    return loaded


def loaded_plugins() -> dict[str, dict[str, str]]:
    """{module: origin} of every module `load_plugins` imported in this process."""
    return dict(_LOADED)


@lru_cache(maxsize=None)
def _distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def module_origin(module: str) -> dict[str, str]:
    """Where module `module` (imported) comes from: {"module", "file", "sha256" (of that file), and
    "distribution", "version" when an installed distribution holds its top-level package}."""
    origin = {"module": module}
    found = sys.modules.get(module)
    path = getattr(found, "__file__", None)
    if path:
        origin["file"] = str(path)
        try:
            with open(path, "rb") as handle:
                origin["sha256"] = hashlib.sha256(handle.read()).hexdigest()
        except OSError:
            pass
    top = module.split(".", 1)[0]
    if top in _ENTRY_POINT_DISTS:
        dist, version = _ENTRY_POINT_DISTS[top]
    else:
        dists = _distributions().get(top) or []
        dist = dists[0] if dists else None
        try:
            version = importlib.metadata.version(dist) if dist else None
        except importlib.metadata.PackageNotFoundError:
            version = None
    if dist:
        origin["distribution"] = dist
    if version:
        origin["version"] = version
    return origin


def _is_suite(module: str) -> bool:
    return module.split(".", 1)[0] in SUITE_PACKAGES


def _module_of(target: Any) -> str:
    """The module that defines a registered class or function; for a value (an instance), the module
    whose code registers it (the first caller outside this module)."""
    if inspect.isclass(target) or inspect.isroutine(target):
        return getattr(target, "__module__", "") or ""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
    return frame.f_globals.get("__name__", "") if frame is not None else ""


class Registry:
    """Name → object for one axis (`what` is the singular noun used in messages: "method")."""

    def __init__(self, what: str, *, discover: str | None = None, entry_points: str | None = None,
                 aliases: dict[str, str] | None = None, case_sensitive: bool = True,
                 order: Callable[[str], Any] | None = None) -> None:
        self.what = what
        self._order = order  # names() sorted by this key; None: registration order (the tables' own order)
        self._fold = (lambda text: text) if case_sensitive else (lambda text: text.strip().lower())
        self._package = discover
        self._group = entry_points
        self._discovered = discover is None and entry_points is None
        self._entries: dict[str, Any] = {}
        self._aliases: dict[str, str] = {self._fold(a): n for a, n in (aliases or {}).items()}
        self._import_failures: dict[str, str] = {}
        self._modules: dict[str, str] = {}  # name -> the module that defines (or registers) its object

    # ------------------------------------------------------------------ filling
    def register(self, obj: Any = None, *, name: str | None = None, aliases: tuple[str, ...] = ()) -> Any:
        """Add `obj` under `name` (default: its `name` attribute). Usable as `@reg.register`,
        `@reg.register(name="x")` or `reg.register(value, name="x")`; returns `obj`."""

        def add(target: Any) -> Any:
            module = _module_of(target)
            if not self._discovered and not _is_suite(module):
                self.discover()  # the shipped entries first: a newcomer clashing with one is the error
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
            self._modules[key] = module
            for alias in aliases:
                if self._fold(alias) != self._fold(key):
                    self._aliases[self._fold(alias)] = key
            return target

        return add(obj) if obj is not None else add

    def discover(self) -> None:
        """Import every module under the discovery package once, then load the entry points of the
        `entry_points` group (module docstring), so their `register` calls run.

        A module or entry point that fails to import is remembered (a warning, and named in `get`'s
        error) but does not hide the others.
        """
        if self._discovered:
            return
        self._discovered = True
        if self._package is not None:
            package = importlib.import_module(self._package)
            for info in pkgutil.walk_packages(package.__path__, prefix=f"{self._package}."):
                if info.name.rsplit(".", 1)[-1].startswith("_"):
                    continue
                try:
                    importlib.import_module(info.name)
                except Exception as err:  # noqa: BLE001 - one broken plug-in must not hide the others
                    self._failed(info.name, err, self._package)
        if self._group is not None:
            for entry in importlib.metadata.entry_points(group=self._group):
                self._load_entry_point(entry)

    def _failed(self, what: str, err: Exception, where: str) -> None:
        self._import_failures[what] = f"{type(err).__name__}: {_one_line(err)}"
        warnings.warn(f"{where}: could not import {what} ({_one_line(err)})", RuntimeWarning, stacklevel=3)

    def _load_entry_point(self, entry: importlib.metadata.EntryPoint) -> None:
        """Import one entry point of the group; an object it names that no module registered is
        registered here (under its `name`, else the entry point's)."""
        dist = getattr(entry, "dist", None)
        dist_text = f" of {dist.name} {dist.version}" if dist is not None else ""
        label = f"entry point {entry.name} = {entry.value}{dist_text}"
        if dist is not None:
            _ENTRY_POINT_DISTS.setdefault(entry.value.split(":", 1)[0].split(".", 1)[0], (dist.name, dist.version))
        try:
            target = entry.load()
            if not inspect.ismodule(target) and all(obj is not target for obj in self._entries.values()):
                self.register(target, name=getattr(target, "name", "") or entry.name)
        except Exception as err:  # noqa: BLE001 - one broken plug-in must not hide the others
            self._failed(label, err, self._group)

    def origin(self, name: str) -> dict[str, str] | None:
        """None for an entry registered by the suite's own packages (`SUITE_PACKAGES`), else where its
        definition came from (`module_origin`: module, file, sha256, distribution, version)."""
        self.get(name)  # an unknown name: the UserError listing the valid ones
        module = self._modules.get(self.canonical(name), "")
        if not module or _is_suite(module):
            return None
        return module_origin(module)

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
        """Registered names (by the registry's `order`, else in registration order: which, for entries
        found by discovery, depends on what was imported first), optionally only those whose object
        passes `where`."""
        self.discover()
        found = [n for n, obj in self._entries.items() if where is None or where(obj)]
        return found if self._order is None else sorted(found, key=self._order)

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
        twin._order = self._order
        twin._modules = dict(self._modules)
        return twin

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def __setitem__(self, name: str, obj: Any) -> None:
        """Replace (or add) the entry `name` on purpose: a user's own definition over the shipped one."""
        self.discover()
        self._entries[self.canonical(name)] = obj
        self._modules[self.canonical(name)] = _module_of(obj)

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
