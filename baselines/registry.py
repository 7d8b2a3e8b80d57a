"""Every method behind one interface, and the registry that finds them (docs/interfaces.md, Methods).

A method is a small object: `name`, `kind` ("sisr" | "refsr"), `scale`, `convention` (the colour and
range its network works in), `weights` (a `WeightsSpec`, or None when it needs no file),
`load(weights_path, device)` and `__call__(batch) -> sr`. The batch holds float tensors in [0, 255],
NCHW: `lr` always, and for RefSR also `lr_up`, `ref`, `ref_down_up` (a method with
`takes_multiple_refs = True` gets `refs` / `refs_down_up`, lists of such tensors, under a mode
that gives several references, e.g. CUFED5 "all"); SR comes back float in
[0, 255] (the runner rounds). After a call, `extras` may hold attention maps for the report.

A new method is one small file anywhere under `baselines/`: subclass `Method` (or `SISRMethod` in
`baselines.sisr.common`) and decorate it with `@register`. Every module and package under
`baselines/` is imported once, on the first `get()` / `names()`, so nothing else needs editing.

Weights are looked up in `--weights NAME=PATH`, then `$TTSR_BENCH_WEIGHTS` (one or more folders,
`os.pathsep`-separated), then `./weights`; in each folder as `<folder>/<file>` or
`<folder>/<method>/<file>` for every file name the method accepts.
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

import torch

from foundation.errors import UserError

KINDS = ("sisr", "refsr")
WEIGHTS_ENV = "TTSR_BENCH_WEIGHTS"
DEFAULT_WEIGHTS_DIR = Path("weights")


@dataclass(frozen=True)
class WeightsSpec:
    """Where a method's checkpoint comes from and what the adapter accepts.

    `files`: accepted file names, the canonical (official) one first. `url`: a direct download URL
    (None when the file is only on Google Drive / Dropbox / Baidu: `source` then says where).
    `sha256`: the full hash or a known prefix (torch.hub / BasicSR put the first 8 hex digits in
    the file name), None when unknown. `formats`: checkpoint layouts the adapter reads.
    """

    files: tuple[str, ...]
    source: str
    url: str | None = None
    sha256: str | None = None
    formats: tuple[str, ...] = ("state_dict (.pth/.pt, torch.load weights_only)",)
    note: str = ""

    @property
    def filename(self) -> str:
        return self.files[0]

    @property
    def fetchable(self) -> bool:
        """True when `python -m benchmarks.weights fetch` can download the file directly."""
        return self.url is not None


class Method:
    """Base class of every method. Subclasses set the class attributes and implement the two calls."""

    name: str = ""
    kind: str = "sisr"
    scale: int = 4
    convention: str = ""  # colour / range of the network, e.g. "RGB [0,1]"
    description: str = ""
    weights: WeightsSpec | None = None
    takes_multiple_refs: bool = False  # reads batch["refs"] (several references); else one `ref`

    def __init__(self) -> None:
        self.extras: dict[str, torch.Tensor] = {}
        self.device = torch.device("cpu")
        self.weights_path: Path | None = None

    @property
    def needs_weights(self) -> bool:
        return self.weights is not None

    def load(self, weights_path: str | os.PathLike | None, device: str | torch.device = "cpu") -> "Method":
        """Load the checkpoint (strict; `UserError` on a wrong or unreadable file) onto `device`."""
        raise NotImplementedError

    def __call__(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def options(self) -> dict[str, object]:
        """What, besides the weights file, determines this method's output (JSON-able): part of a
        result's identity (`benchmarks.identity`). Subclasses with settings (a network
        configuration, a self-ensemble switch, ...) extend it."""
        return {"scale": self.scale, "convention": self.convention}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} ({self.kind}, x{self.scale})>"

    # Recognising another method's checkpoint: a few regexes that all match some key of a
    # (`module.`-stripped, unwrapped) state dict of this method in any of its published namings.
    key_signature: tuple[tuple[str, ...], ...] = ()

    @classmethod
    def recognises(cls, keys: Iterable[str]) -> bool:
        keys = list(keys)
        for signature in cls.key_signature:
            if signature and all(any(re.search(p, k) for k in keys) for p in signature):
                return True
        return False


# ---------------------------------------------------------------------------------------------
# The registry

_FACTORIES: dict[str, Callable[[], Method]] = {}
_CLASSES: dict[str, type] = {}
_IMPORT_FAILURES: dict[str, str] = {}
_discovered = False


def register(obj=None, *, name: str | None = None):
    """Register a `Method` subclass (by its `name`) or a zero-argument factory under `name`.

    `@register` on a class; `register(lambda: TTSRMethod(...), name="ttsr-ha")` for variants.
    """

    def add(target):
        key = name or getattr(target, "name", "")
        if not key:
            raise ValueError(f"{target!r}: a registered method needs a name")
        if key in _FACTORIES and _FACTORIES[key] is not target:
            raise ValueError(f"method {key!r} is registered twice")
        _FACTORIES[key] = target
        if isinstance(target, type):
            _CLASSES[key] = target
        return target

    return add(obj) if obj is not None else add


def discover() -> None:
    """Import every module and package under `baselines/` once, so their `@register`s run.

    A module that fails to import is reported (warning, and in `get()`'s error) but does not hide
    the other methods.
    """
    global _discovered
    if _discovered:
        return
    _discovered = True
    import baselines

    for info in pkgutil.walk_packages(baselines.__path__, prefix="baselines."):
        if info.name == __name__ or info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        try:
            importlib.import_module(info.name)
        except Exception as err:  # noqa: BLE001 - one broken plug-in must not hide the others
            _IMPORT_FAILURES[info.name] = f"{type(err).__name__}: {err}"
            warnings.warn(f"baselines: could not import {info.name} ({err})", RuntimeWarning, stacklevel=2)


def names(kind: str | None = None) -> list[str]:
    """Registered method names (bicubic first, then alphabetical), optionally of one kind."""
    discover()
    result = sorted(_FACTORIES, key=lambda n: (n != "bicubic", n))
    if kind is not None:
        result = [n for n in result if get(n).kind == kind]
    return result


def get(name: str) -> Method:
    """A fresh, unloaded instance of method `name`; `UserError` listing the valid names otherwise."""
    discover()
    if name not in _FACTORIES:
        message = f"unknown method {name!r}; valid names: {', '.join(names())}"
        if _IMPORT_FAILURES:
            message += "; modules that failed to import: " + ", ".join(
                f"{mod} ({why})" for mod, why in _IMPORT_FAILURES.items())
        raise UserError(message)
    method = _FACTORIES[name]()
    if method.kind not in KINDS:
        raise ValueError(f"{name}: kind must be one of {KINDS}, not {method.kind!r}")
    return method


def import_failures() -> dict[str, str]:
    discover()
    return dict(_IMPORT_FAILURES)


def guess_method(keys: Iterable[str]) -> str | None:
    """The registered method whose key signature these state-dict keys carry, if exactly one does."""
    discover()
    keys = list(keys)
    hits = []
    for key, factory in _FACTORIES.items():
        cls = _CLASSES.get(key) or type(factory())
        if cls.recognises(keys):
            hits.append(key)
    # variants share their parent's signature: report the shortest name (the parent)
    return min(hits, key=len) if hits else None


# ---------------------------------------------------------------------------------------------
# Weights lookup

def parse_weight_overrides(items: Iterable[str] | None) -> dict[str, Path]:
    """`["ttsr=/x/TTSR.pt", ...]` (the `--weights` arguments) -> {method: path}."""
    overrides: dict[str, Path] = {}
    for item in items or ():
        method, sep, path = item.partition("=")
        if not sep or not method or not path:
            raise UserError(f"--weights {item!r}: expected NAME=PATH, e.g. --weights imdn=weights/IMDN_x4.pth")
        overrides[method.strip()] = Path(path).expanduser()
    return overrides


def weight_dirs() -> list[Path]:
    """The folders searched after `--weights`: `$TTSR_BENCH_WEIGHTS` (os.pathsep list), `./weights`."""
    dirs = [Path(p).expanduser() for p in os.environ.get(WEIGHTS_ENV, "").split(os.pathsep) if p]
    missing = [str(d) for d in dirs if not d.is_dir()]
    if missing:  # a folder the user named must exist, as $TTSR_BENCH_DATA must
        raise UserError(f"${WEIGHTS_ENV}: folder {', '.join(missing)} not found; set it to the folder(s) holding "
                        f"the weights files (separated by '{os.pathsep}'), or unset it")
    dirs.append(DEFAULT_WEIGHTS_DIR)
    return dirs


def find_weights(method: Method, overrides: Mapping[str, str | os.PathLike] | None = None) -> Path | None:
    """The weights file of `method`, or None when it is not found (or the method needs none).

    An override that names a missing file is a `UserError` (the user asked for that file).
    """
    if method.weights is None:
        return None
    if overrides and method.name in overrides:
        path = Path(overrides[method.name]).expanduser()
        if path.is_dir():
            raise UserError(f"--weights {method.name}={path}: is a folder; give the weights file itself "
                            f"(e.g. {path / method.weights.filename})")
        if not path.is_file():
            raise UserError(f"--weights {method.name}={path}: file not found")
        return path
    for folder in weight_dirs():
        for filename in method.weights.files:
            for candidate in (folder / filename, folder / method.name / filename):
                if candidate.is_file():
                    return candidate
    return None


def missing_weights_message(method: Method) -> str:
    """One line: which file, where it comes from, where to put it."""
    spec = method.weights
    assert spec is not None
    where = (f"pass --weights {method.name}=PATH, or put it in ${WEIGHTS_ENV} or ./weights "
             f"(as <dir>/{spec.filename} or <dir>/{method.name}/{spec.filename})")
    if spec.fetchable:
        how = f"run `python -m benchmarks.weights fetch {method.name}`"
    else:
        how = f"download it by hand from {spec.source}"
    return f"{method.name}: weights {spec.filename} not found; {how}; {where}"
