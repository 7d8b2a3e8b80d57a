"""Every method behind one interface, and the registry that finds them (docs/interfaces.md, Methods).

A method is a small object: `name`, `kind` ("sisr" | "refsr"), `scale`, `convention` (the colour and
range its network works in), `weights` (a `WeightsSpec`, or None when it needs no file),
`load(weights_path, device)` and `__call__(batch) -> sr`. The batch holds float tensors in [0, 255],
NCHW: `lr` always, and for RefSR also `lr_up`, `ref`, `ref_down_up` (a method with
`takes_multiple_refs = True` gets `refs` / `refs_down_up`, lists of such tensors, under a mode
that gives several references, e.g. CUFED5 "all"); SR comes back float in
[0, 255] (the runner rounds). After a call, `extras` may hold attention maps for the report.

A new method is one small file anywhere under `baselines/`: subclass `Method` (or `SISRMethod` in
`baselines.sisr.common`), declare its weights record (`WeightsSpec`: file names, source, url,
sha256, accepted formats) in that file, and decorate it with `@register`. `METHODS` is a
`foundation.registry.Registry` that imports every module and package under `baselines/` once, on
the first `get()` / `names()`, so nothing else needs editing. A method in YOUR package is the same
class in your module, imported with `--plugin my_pkg.my_module` (or the settings file's `plugins`),
or declared as an entry point of group `ttsr_bench.methods` (`foundation.registry`). Weights load through
`Method.load_checkpoint` (the one reader, `foundation.checkpoints`, with the method's remap, its
build, and a wrong file named by the registered methods' `key_signature`s).

Weights are looked up in the files named (`--weights NAME=PATH`, then the settings file's
`[weights]`), then in the folders `$TTSR_BENCH_WEIGHTS` (one or more, `os.pathsep`-separated) and
`./weights` (`foundation.settings`); in each folder as `<folder>/<file>` or `<folder>/<method>/<file>`
for every file name the method accepts.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

import torch
from torch import nn

from foundation.checkpoints import Remap, StateDict, load_checkpoint
from foundation.errors import UserError
from foundation.registry import SUITE_PACKAGES, Registry
from foundation.settings import ENV, weight_dirs

KINDS = ("sisr", "refsr")
WEIGHTS_ENV = ENV["weights"]
#: the one rule for a method name that is not the suite's (a plug-in's, a `ttsr_bench.evaluate` object's,
#: a callable's, `score --name`): safe in a file path, a CSV cell and an option; letters, digits, . _ + -
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
NAME_RULE = "use 1-64 letters, digits, '.', '_', '+' or '-', starting with a letter or digit (it names rows and folders)"


def check_name(name: object, who: str) -> str:
    """`name` when it fits `NAME_PATTERN`, else `UserError` "`who`: name 'NAME': use 1-64 letters ..."."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise UserError(f"{who}: name {name!r}: {NAME_RULE}")
    return name


#: Where a method's weights come from, as the manifest's weights record and the report say it:
#: the authors' own release (possibly converted from their format), someone else's release of the
#: same network, another network standing in for one that has no public weights, a checkpoint this
#: suite trained, or a file no record lists.
OFFICIAL, THIRD_PARTY, SUBSTITUTE, TRAINED_HERE, UNKNOWN = "official", "third-party", "substitute", "trained here", "unknown"
WEIGHT_ORIGINS = (OFFICIAL, THIRD_PARTY, SUBSTITUTE, TRAINED_HERE, UNKNOWN)


@dataclass(frozen=True)
class WeightsSpec:
    """Where a method's checkpoint comes from and what the adapter accepts.

    `files`: accepted file names, the canonical (official) one first. `url`: a direct download URL
    (None when there is none: `source` then says where). `drive`: a public Google Drive link, as
    the release publishes it: a file link, or a folder link holding a file named `files[0]`
    (fetched with gdown, `foundation.download.download_drive`). `sha256`: the full hash or a known
    prefix (torch.hub / BasicSR put the first 8 hex digits in the file name), None when unknown
    (the first fetch then records it in the folder's SHA256SUMS). `formats`: checkpoint layouts
    the adapter reads. `origins`: (file name, one of `WEIGHT_ORIGINS`) for files that are not the
    authors' own (a third-party port, a substitute network); see `origin_of`. `trained_on`: the
    training set of the files listed (e.g. "DIV2K", "CUFED"; "" unknown): a paper table whose models
    were all trained on another set does not judge cells measured with them (`benchmarks.views`).
    """

    files: tuple[str, ...]
    source: str
    url: str | None = None
    sha256: str | None = None
    formats: tuple[str, ...] = ("state_dict (.pth/.pt, torch.load weights_only)",)
    note: str = ""
    drive: str | None = None
    origins: tuple[tuple[str, str], ...] = ()
    trained_on: str = ""

    def origin_of(self, filename: str) -> str:
        """Where a file of this record comes from, one of `WEIGHT_ORIGINS`: its entry in `origins`
        ((file name, origin) pairs; e.g. a third-party port's file), else "official" for a name in
        `files`, else "unknown" (a file the record does not list: nobody vouches for it)."""
        for name, origin in self.origins:
            if name == filename:
                return origin
        return OFFICIAL if filename in self.files else UNKNOWN

    @property
    def filename(self) -> str:
        return self.files[0]

    @property
    def fetchable(self) -> bool:
        """True when `python -m benchmarks.weights fetch` can download the file (a direct or Drive link)."""
        return self.url is not None or self.drive is not None

    @property
    def link(self) -> str | None:
        """The address `fetch` downloads from: the direct URL, else the Drive link."""
        return self.url or self.drive


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

    def provenance(self) -> dict[str, object]:
        """Extra entries for the manifest's weights record of this method (JSON-able), saying what
        it is when it is not a published network (a user's callable, a folder of SR images); {} for
        the shipped methods. They enter the row identity with the record."""
        return {}

    def weights_facts(self, weights_path: str | os.PathLike | None, metadata: Mapping[str, object]) -> dict[str, str]:
        """Where the file at `weights_path` comes from, for the manifest's weights record:
        {"weights_origin": one of `WEIGHT_ORIGINS`, "trained_on": its training set ("" unknown)}.
        A checkpoint this suite's trainer exported (its metadata names the `recipe`) is "trained here";
        else the method's `WeightsSpec` decides by file name (`WeightsSpec.origin_of`). {} without a file."""
        if weights_path is None:
            return {}
        if metadata.get("recipe") or str(metadata.get("origin", "")).startswith("trained by ttsr-bench"):
            return {"weights_origin": TRAINED_HERE, "trained_on": str(metadata.get("train_data", ""))}
        if self.weights is None:
            return {"weights_origin": UNKNOWN, "trained_on": ""}
        origin = self.weights.origin_of(Path(weights_path).name)
        return {"weights_origin": origin, "trained_on": self.weights.trained_on if origin != UNKNOWN else ""}

    def begin_image(self, image: str, evaluation) -> None:
        """Called by the runner just before `__call__` with the image's name and its
        `benchmarks.protocols.Evaluation`; a method that serves stored results (SR images) uses it.
        Default: nothing."""

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

    # --- loading weights: the one reader (`foundation.checkpoints`) plus this method's facts -----
    @property
    def weights_hint(self) -> str:
        """`` (expected FILE)`` for error lines, or ""."""
        return f" (expected {self.weights.filename})" if self.weights else ""

    def identify_file(self, keys: Iterable[str]) -> str | None:
        """"this looks like a checkpoint of M, expected NAME; …" when the keys carry another registered
        method's `key_signature` (not this method's family: `ttsr` and `ttsr-base` share one), else None."""
        guess = guess_method(keys)
        if guess is None or guess == self.name or self.name.startswith(guess + "-") or guess.startswith(self.name + "-"):
            return None
        return (f"this looks like a checkpoint of {guess}, expected {self.name}; pass it as --weights {guess}=PATH "
                f"and give {self.name} its own file{self.weights_hint}")

    def load_checkpoint(self, weights_path, build: Callable[[StateDict], nn.Module],
                        remap_with: Remap | None = None) -> nn.Module:
        """Read, remap, build and strictly load this method's weights file (`foundation.checkpoints`);
        `UserError` when the file is absent (where to get it), unreadable, or another method's."""
        if weights_path is None:
            raise UserError(missing_weights_message(self))
        model, _ = load_checkpoint(weights_path, what=self.name, build=build, remap_with=remap_with,
                                   identify=self.identify_file, hint=self.weights_hint)
        return model


# ---------------------------------------------------------------------------------------------
# The registry: one `foundation.registry.Registry` of classes (`@register`) and zero-argument
# factories (`register(lambda: TTSRMethod(...), name="ttsr-ha")` for variants).

class MethodRegistry(Registry):
    """The methods' `Registry`: a method registered by code outside the suite's packages (a plug-in
    module, an entry point, `ttsr_bench.evaluate`) must have a name that fits `NAME_PATTERN`
    (`UserError` when it is registered: in a `--plugin` module, one line naming the module)."""

    def register(self, obj: object = None, *, name: str | None = None, aliases: tuple[str, ...] = ()) -> object:
        def add(target: object) -> object:
            module = getattr(target, "__module__", "") or ""
            if module.split(".", 1)[0] not in SUITE_PACKAGES:
                check_name(name or getattr(target, "name", ""), f"method {getattr(target, '__qualname__', target)} "
                           f"(module {module})")
            return Registry.register(self, target, name=name, aliases=aliases)

        return add(obj) if obj is not None else add


METHODS = MethodRegistry("method", discover="baselines", entry_points="ttsr_bench.methods", case_sensitive=False,
                         order=lambda name: (name != "bicubic", name))  # bicubic first, then alphabetical
register = METHODS.register


def _method_class(entry) -> type:
    return entry if isinstance(entry, type) else type(entry())


def names(kind: str | None = None) -> list[str]:
    """Registered method names (bicubic first, then alphabetical), optionally of one kind."""
    result = METHODS.names()
    return result if kind is None else [n for n in result if _method_class(METHODS.get(n)).kind == kind]


def user_source(name: str, method: Method | None = None) -> str | None:
    """The one rule for "a user's method": None for a method the suite ships (`METHODS.origin(name)` is
    None: registered by the suite's own packages), else what error lines say it is: "plug-in module M"
    (a `--plugin` module or an entry point), or, for an object given to `ttsr_bench.evaluate` (its
    `provenance()` says `user_method`), the manifest's label ("user callable mine.fn", "user method
    mine.Cls"). A user's method that fails is bad input (one line, or a skipped image); a shipped one
    that fails is a bug (it raises)."""
    origin = METHODS.origin(name)
    if origin is None:
        return None
    provenance = method.provenance() if method is not None else {}
    if provenance.get("user_method") and provenance.get("origin"):
        return str(provenance["origin"]).split(" (source sha256", 1)[0].split(";", 1)[0]
    return f"plug-in module {origin['module']}"


def get(name: str) -> Method:
    """A fresh, unloaded instance of method `name`; `UserError` listing the valid names otherwise.
    A user's method (`user_source`) whose construction raises, or whose `kind` is not one of `KINDS`,
    is a `UserError` line naming it and its module; a shipped one raises (a bug)."""
    entry = METHODS.get(name)
    user = METHODS.origin(name) is not None
    try:
        method = entry()
    except Exception as err:  # noqa: BLE001 - a user's code: any failure is one line
        if not user:
            raise
        raise UserError(f"method {name} (plug-in module {METHODS.origin(name)['module']}): creating it failed: "
                        f"{one_line_error(err)}; fix the method") from None
    if method.kind not in KINDS:
        if not user:
            raise ValueError(f"{name}: kind must be one of {KINDS}, not {method.kind!r}")
        raise UserError(f"method {name} ({user_source(name, method)}): kind {method.kind!r} is not one of "
                        f"{', '.join(KINDS)}; set its `kind` attribute to one of them")
    return method


def check_sr(sr: object, lr: torch.Tensor, scale: int, who: str) -> torch.Tensor:
    """A user's method's output as float: `sr` must be a `torch.Tensor` N×3×(scale·h)×(scale·w) for
    `lr` N×3×h×w; else `ValueError` "`who` returned ..., expected ..." (the runner skips the image)."""
    expected = (lr.shape[0], 3, lr.shape[2] * scale, lr.shape[3] * scale)
    if not isinstance(sr, torch.Tensor):
        raise ValueError(f"{who} returned {type(sr).__name__}, expected a torch.Tensor "
                         f"{'×'.join(map(str, expected))} in [0, 255]")
    if tuple(sr.shape) != expected:
        raise ValueError(f"{who} returned a tensor of shape {'×'.join(map(str, sr.shape))}, "
                         f"expected {'×'.join(map(str, expected))} (N×3×{scale}h×{scale}w, values in [0, 255])")
    return sr.float()


def one_line_error(err: BaseException) -> str:
    """`Type: message` of an exception, on one line (at most 300 characters)."""
    return f"{type(err).__name__}: {' '.join(str(err).split())}"[:300]


def import_failures() -> dict[str, str]:
    return METHODS.import_failures()


def guess_method(keys: Iterable[str]) -> str | None:
    """The registered method whose key signature these state-dict keys carry, if exactly one does."""
    keys = list(keys)
    hits = [name for name, entry in METHODS.items() if _method_class(entry).recognises(keys)]
    # variants share their parent's signature: report the shortest name (the parent)
    return min(hits, key=len) if hits else None


# ---------------------------------------------------------------------------------------------
# Weights lookup

def find_weights(method: Method, overrides: Mapping[str, str | os.PathLike] | None = None) -> Path | None:
    """The weights file of `method`, or None when it is not found (or the method needs none).

    `overrides`: the files named ({method: path}, `foundation.settings.Settings.weights`); one
    that is missing, or one named for a method that takes no weights file, is a `UserError` (the
    user asked for that file). Else the folders of `foundation.settings.weight_dirs`.
    """
    if method.weights is None:
        if overrides and method.name in overrides:
            raise UserError(f"--weights {method.name}={overrides[method.name]}: {method.name} takes no weights "
                            "file; drop this weights entry")
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
    elif all(spec.origin_of(name) == TRAINED_HERE for name in spec.files):
        how = spec.source  # says that there are none and how to train them
    else:
        how = f"download it by hand from {spec.source}"
    return f"{method.name}: weights {spec.filename} not found; {how}; {where}"
