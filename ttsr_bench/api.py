"""The Python API: evaluate a method (a registered name, a `Method` or your own callable) under the
suite's protocols, through the same runner, run folder, manifest and report as `python -m benchmarks.run`.

    import ttsr_bench
    res = ttsr_bench.evaluate("bicubic", protocol="demo")               # = benchmarks.run --protocol demo --methods bicubic
    res.rows                                                            # pandas DataFrame, one row per image
    res = ttsr_bench.evaluate([mine, "bicubic"], protocol="demo")       # mine(lr, lr_up, ref, ref_down_up) -> sr
    ttsr_bench.list_methods("refsr"), ttsr_bench.list_protocols()

`evaluate` builds a `benchmarks.runner.plan.RunSettings` and calls `benchmarks.run.run`, so a row
computed here is the row the command line computes (same `config_id`, same values), it is reused
by the next call or command that asks for the same identity, and `python -m benchmarks.report
--runs <run_dir>` renders it. A callable runs through `baselines.callable_method.CallableMethod`
(its docstring: the shapes, ranges and device of the call, and its identity).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence, Union

from baselines import registry
from baselines.callable_method import CallableMethod
from baselines.registry import Method
from benchmarks import results
from benchmarks.run import run
from benchmarks.runner.plan import RunSettings
from foundation import settings as settings_mod
from foundation.cli_types import whole_number
from foundation.devices import resolve_device
from foundation.errors import UserError
from foundation.seeding import SEED_MAX

if TYPE_CHECKING:
    import pandas as pd
    import torch

MethodLike = Union[str, Method, type, Callable[..., Any]]

__all__ = ["Results", "evaluate", "load_method", "list_methods", "list_datasets", "list_protocols",
           "list_metrics", "CallableMethod"]


@dataclass
class Results:
    """What one `evaluate` call measured (its run folder holds the same, durably).

    - `rows`: pandas DataFrame, one row per (method, dataset, protocol, ref_mode, image) of THIS call
      (`benchmarks.results.select_current`: reused rows included, earlier calls' other rows not),
      columns as `rows.csv` (docs/interfaces.md, Runs): text `method, dataset, protocol, ref_mode,
      image, config_id, weights_sha256, data_sha256, finished`; float `psnr` (dB, ≤ 100), `ssim`
      ([-1, 1]), `lpips` (NaN when not computed), any extra measure asked for, `seconds` (the method
      call), `peak_mem_mb` (MiB);
    - `summary`: pandas DataFrame as `summary.csv`: means per method, dataset, protocol, ref_mode and
      config_id, with `images` (count) and `weights_sha256`;
    - `run_dir`: the run folder (`rows.csv`, `summary.csv`, `manifest.json`, `skipped.json`);
    - `status`: the runner's exit status (0 done; 3 nothing measured, `foundation.errors.EXIT_NOTHING_MEASURED`);
    - `skipped`: what was left out and why (`skipped.json`: {what, reason, fix, ...});
    - `weights`: method → the manifest's weights record (path, sha256, origin; a user's method says so).
    """

    rows: "pd.DataFrame"
    summary: "pd.DataFrame"
    run_dir: Path
    status: int
    skipped: list[dict] = field(default_factory=list)
    weights: dict[str, dict] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"<Results status={self.status} rows={len(self.rows)} passes={len(self.summary)} "
                f"skipped={len(self.skipped)} run_dir={str(self.run_dir)!r}>")


# ------------------------------------------------------------------------------------ helpers
def _names(value: str | Iterable[str] | None, what: str) -> list[str] | None:
    """One name or several as a list of str (None stays None); `UserError` for anything else."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value) if isinstance(value, Iterable) else None
    if not items or not all(isinstance(item, str) for item in items):
        raise UserError(f"{what}={value!r}: give a name or a list of names (see ttsr_bench.list_{what}())")
    return items


def _whole(value: int | None, what: str, minimum: int, maximum: int | None = None) -> int | None:
    """`value` checked as the command line checks the option (`foundation.cli_types.whole_number`)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{what}={value!r}: expected a whole number")
    try:
        return whole_number(minimum, maximum)(str(value))
    except argparse.ArgumentTypeError as err:
        raise UserError(f"{what}={value!r}: {err}") from None


def _weight_items(weights: Mapping[str, str | os.PathLike] | Iterable[str] | None) -> list[str]:
    """{method: path} or ["NAME=PATH", ...] as the `--weights` items."""
    if weights is None:
        return []
    if isinstance(weights, Mapping):
        return [f"{name}={os.fspath(path)}" for name, path in weights.items()]
    if isinstance(weights, str):
        return [weights]
    return [str(item) for item in weights]


def _as_method(entry: MethodLike) -> tuple[str, Method | None, Path | None]:
    """(name, the object to register for this call or None for a shipped method, the weights file a
    shipped method's object was loaded from or None)."""
    if isinstance(entry, str):
        return entry, None, None  # made the registered name by RunSettings.apply_file
    if isinstance(entry, type) and issubclass(entry, Method):
        entry = entry()
    if isinstance(entry, Method):
        shipped = registry.METHODS.get(entry.name, None) if entry.name else None
        if shipped is not None:
            name = registry.METHODS.canonical(entry.name)
            fresh = registry.get(name)
            if type(fresh) is type(entry) and fresh.options() == entry.options():
                return name, None, entry.weights_path  # the shipped method itself: run by name
            raise UserError(f"method {entry.name!r}: is the name of a shipped method ({name}); give your method "
                            "another name (its `name` attribute, or CallableMethod(fn, name=...))")
        registry.check_name(entry.name, f"method {type(entry).__module__}.{type(entry).__qualname__}")
        if not entry.provenance():  # the manifest's label of a method that is not shipped
            origin = f"user method {type(entry).__module__}.{type(entry).__qualname__}; not a shipped method"
            entry.provenance = lambda: {"origin": origin, "user_method": True}
        return entry.name, entry, None
    if callable(entry):
        return _as_method(CallableMethod(entry))
    raise UserError(f"method {entry!r}: expected a registered name (ttsr_bench.list_methods()), a "
                    "baselines.registry.Method, or a callable (lr, lr_up, ref, ref_down_up) -> sr")


@contextlib.contextmanager
def _registered(objects: Mapping[str, Method]) -> Iterator[None]:
    """`objects` in `baselines.registry.METHODS` under their names for the block, removed after
    (`Registry.temporarily`, the one way a method is registered for one command)."""
    with contextlib.ExitStack() as stack:
        for name, obj in objects.items():
            stack.enter_context(registry.METHODS.temporarily(lambda obj=obj: obj, name, "method"))
        yield


def _call_text(names: Sequence[str], given: Mapping[str, object]) -> list[str]:
    """The manifest's `argv` of an API call: `ttsr_bench.evaluate(method=[...], protocol='demo', ...)`."""
    shown = {key: os.fspath(value) if isinstance(value, os.PathLike) else value for key, value in given.items()
             if value is not None and value is not False}
    parts = [f"method={names!r}"] + [f"{key}={value!r}" for key, value in shown.items()]
    return [f"ttsr_bench.evaluate({', '.join(parts)})"]


# ------------------------------------------------------------------------------------ the API
def evaluate(method: MethodLike | Sequence[MethodLike], datasets: str | Sequence[str] | None = None,
             protocol: str | None = None, metrics: str | Sequence[str] | None = None, *,
             out: str | os.PathLike | None = None, data_root: str | os.PathLike | None = None,
             weights: Mapping[str, str | os.PathLike] | Iterable[str] | None = None,
             device: "str | torch.device | None" = None, seed: int | None = None, limit: int | None = None,
             save_images: bool = False, force: bool = False, settings: str | os.PathLike | None = None,
             quiet: bool = False) -> Results:
    """Evaluate `method` under `protocol`: `python -m benchmarks.run` from Python, returning the rows.

    `method`: a registered name (any case; `list_methods()`), a `baselines.registry.Method` object
    (a shipped method's object, e.g. from `load_method`, runs by its name with the weights file it
    was loaded from; your own `Method` subclass is registered for this call under its `name`, and
    labelled in the manifest as a user method by a `provenance` attribute set on it unless it has one), any
    callable `(lr, lr_up, ref, ref_down_up) -> sr` (wrapped as `CallableMethod(fn)`, named by its
    `__name__`; wrap it yourself for another name, `kind="sisr"` or `version=`), or a list of these
    (evaluated side by side in one command). The call: float32 NCHW tensors in [0, 255] on the
    run's device — `lr` 1×3×h×w, `lr_up` 1×3×4h×4w (PIL bicubic), `ref` and `ref_down_up` of the
    reference's size (multiple of 4) — returning 1×3×4h×4w in [0, 255]; a `kind="sisr"` callable
    gets `(lr, None, None, None)` (`baselines.callable_method`). A name of a shipped method given to
    another object or callable is refused (`UserError`).

    `datasets`: a name or names (default: every dataset of the protocol found under the data root);
    `protocol`: `list_protocols()`; None is the command line without `--protocol` (protocol `default`
    on the test sets found, the built-in demo set when none is found); `metrics`: names
    (`list_metrics()`; default the settings file's, else psnr ssim lpips). Keywords as the options
    of `benchmarks.run` (same meaning, same settings resolution: option > settings file > environment
    > default, `foundation.settings`): `out` the run folder (default `runs/<protocol>`), `data_root`,
    `weights` ({method: path} or ["NAME=PATH"]), `device` ("auto", "cpu", "cuda", "cuda:N", "mps" or
    a `torch.device`; default the settings file's, else auto), `seed` (0…2³²−1), `limit` (≥ 1 images
    per dataset), `save_images`, `force` (recompute finished rows), `settings` (the settings file).
    `quiet`: keep the runner's printed table and messages off stdout (progress bars still go to stderr).

    Returns `Results` (rows and summary of this call, run folder, exit status, skips); the run folder
    and its manifest are written as by the command line (the manifest's `argv` records this call;
    a user's method is labelled there as such, not published weights). Raises
    `foundation.errors.UserError` (one line: which argument, what is wrong, what to do) for bad input,
    with any finished rows kept; `KeyboardInterrupt` passes through after the run folder is written.
    """
    if protocol is not None and not isinstance(protocol, str):
        raise UserError(f"protocol={protocol!r}: give a protocol name (ttsr_bench.list_protocols())")
    entries = list(method) if isinstance(method, (list, tuple)) else [method]
    if not entries:
        raise UserError("method=[]: give at least one method (a name, a Method or a callable)")
    names: list[str] = []
    objects: dict[str, Method] = {}
    weight_items = _weight_items(weights)
    named = {item.partition("=")[0].strip().lower() for item in weight_items}
    for entry in entries:
        name, obj, loaded_from = _as_method(entry)
        if name.lower() in {n.lower() for n in names}:
            raise UserError(f"method {name!r} is given twice; give each method once (a callable under its own name)")
        names.append(name)
        if obj is not None:
            objects[name] = obj
        if loaded_from is not None and name.lower() not in named:
            weight_items.append(f"{name}={loaded_from}")
    run_settings = RunSettings(
        methods=names, datasets=_names(datasets, "datasets"), protocol=protocol,
        metrics=_names(metrics, "metrics"), out=Path(out) if out is not None else None,
        data_root=Path(data_root) if data_root is not None else None, weights=weight_items,
        device=str(device) if device is not None else None, seed=_whole(seed, "seed", 0, SEED_MAX),
        limit=_whole(limit, "limit", 1), save_images=bool(save_images), force=bool(force),
        settings=os.fspath(settings) if settings is not None else None,
        argv=_call_text(names, {"datasets": datasets, "protocol": protocol, "metrics": metrics, "out": out,
                                "data_root": data_root, "weights": weights, "device": device, "seed": seed,
                                "limit": limit, "save_images": save_images, "force": force,
                                "settings": settings}))
    with _registered(objects):
        done = run(run_settings, out=io.StringIO() if quiet else sys.stdout)
    frame = results.load_frame(done.out, rows=done.rows)
    return Results(rows=frame, summary=results.summarize(frame, results.weights_labels(done.out)), run_dir=Path(done.out), status=done.status,
                   skipped=list(done.skipped), weights=dict(done.weights))


def load_method(name: str, weights: str | os.PathLike | None = None, device: "str | torch.device" = "cpu",
                *, settings: str | os.PathLike | None = None) -> Method:
    """A registered method, loaded: its weights file found as the command line finds it (`weights`,
    else the settings file's `[weights]`, `$TTSR_BENCH_WEIGHTS`, `./weights`; `foundation.settings`)
    and loaded onto `device` ("cpu" default; "auto", "cuda", "cuda:N", "mps" or a `torch.device`).

    Call it with a batch as the runner does: `method({"lr": lr, "lr_up": ..., "ref": ..., "ref_down_up": ...})`
    with float NCHW tensors in [0, 255] on `device` (a SISR method needs only `lr`), returning
    1×3×4h×4w in [0, 255] (`baselines.registry`). `evaluate(method)` runs it by name with this file.
    Raises `UserError` for an unknown name, a weights file that is missing or not this method's,
    weights given for a method that takes none, or a device not usable here.
    """
    method = registry.get(str(name))
    overrides = settings_mod.resolve(settings, weights=[f"{method.name}={os.fspath(weights)}"] if weights is not None
                                     else None, data=False, methods=registry.METHODS).weights
    path = registry.find_weights(method, overrides)
    if method.weights is not None and path is None:
        raise UserError(registry.missing_weights_message(method))
    method.load(path, resolve_device(device, "device"))
    return method


def list_methods(kind: str | None = None) -> list[str]:
    """Registered method names (bicubic first, then alphabetical); `kind`: "sisr" or "refsr" for one
    kind only (`UserError` otherwise). Details: `baselines.registry.get(name)` (kind, scale, weights record)."""
    if kind is not None and kind not in registry.KINDS:
        raise UserError(f"kind={kind!r}: one of {', '.join(registry.KINDS)}, or None for every method")
    return registry.names(kind)


def list_datasets() -> list[str]:
    """Registered test sets (`benchmarks.datasets.DATASETS[name]`: folder, sources, layout,
    reference modes); "demo" needs no files."""
    from benchmarks import datasets

    return datasets.DATASETS.names()


def list_protocols() -> list[str]:
    """Protocol names (`benchmarks.protocols.PROTOCOLS[name]`: description, evaluations); "default"
    combines table1, sisr and demo."""
    from benchmarks import protocols

    return protocols.PROTOCOLS.names()


def list_metrics() -> list[str]:
    """Measure names (`metrics.REGISTRY[name]`: direction, range, convention, source)."""
    import metrics

    return metrics.REGISTRY.names()
