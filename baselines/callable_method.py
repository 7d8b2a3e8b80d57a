"""`CallableMethod`: any Python callable `(lr, lr_up, ref, ref_down_up) -> sr` as a `Method`.

The one adapter through which a user's own function, callable object or `torch.nn.Module` runs
under the suite's protocols (`ttsr_bench.evaluate`); it is not registered here, the caller
registers it for one command.

The call (`fn(lr, lr_up, ref, ref_down_up)`): float32 tensors, NCHW, values in [0, 255] (whole
numbers: the degraded images are uint8), on the run's device, under `torch.inference_mode()`:

- `lr`: 1×3×h×w, the low-resolution input (RGB);
- `lr_up`: 1×3×4h×4w, `lr` enlarged ×4 by PIL bicubic (the protocol's LR↑);
- `ref`: 1×3×H_r×W_r, the reference (its sides a multiple of 4; any size, not that of the HR);
- `ref_down_up`: 1×3×H_r×W_r, `ref` reduced ×4 and enlarged ×4 again by PIL bicubic.

A `kind="sisr"` callable always gets `fn(lr, None, None, None)`: it sees the LR only, in RefSR
passes (where SISR methods run too and ignore the reference) and in SISR passes alike, so its
output is one function of the LR. A `kind="refsr"` callable runs in RefSR passes only and gets
all four (a mode that gives several references per image, e.g. CUFED5 `all`, skips it).

It returns SR: a tensor 1×3×4h×4w (any float dtype, any device), values in [0, 255]; the runner
clips and rounds to uint8. A wrong return (not a tensor, another shape) or any exception raised
inside (a user's method: `baselines.registry.user_source`) skips that image with the reason: its
type, message and the batch's keys (`skipped.json`); NaN/inf too. A callable that cannot take 4
positional arguments is refused when it is wrapped (`UserError`).

Identity (`options()`, part of every row's `config_id`, `benchmarks.identity`): the callable's
module and qualname, the sha256 of its source (`inspect.getsource`: of the function, or of the
class of a callable object) and, for a `torch.nn.Module` (or a bound method of one), the sha256 of
its state dict; so editing the code or training the network further gives new rows instead of
reusing old ones. Where the source cannot be read (a lambda typed at the prompt, a builtin, a
`functools.partial`, code made by `exec`), `version=` is required: a label the user changes
whenever the code changes. `version` is part of the identity whenever given: give it too when the
function calls other code of yours, which the source hash does not cover.
"""
from __future__ import annotations

import hashlib
import inspect
from typing import Callable, Mapping

import torch

from baselines.registry import KINDS, Method, check_name, check_sr
from foundation.errors import UserError

SIGNATURE = "fn(lr, lr_up, ref, ref_down_up) -> sr"


def _source_of(fn: Callable) -> tuple[object, str | None]:
    """(the object whose source describes `fn`, its source text or None when unreadable)."""
    target = fn if (inspect.isfunction(fn) or inspect.ismethod(fn)) else type(fn)
    if inspect.ismethod(target):
        target = target.__func__
    try:
        return target, inspect.getsource(target)
    except (OSError, TypeError):
        return target, None


def _module_of(fn: Callable) -> torch.nn.Module | None:
    """The `torch.nn.Module` whose parameters `fn` computes with: `fn` itself or its `__self__`."""
    for candidate in (fn, getattr(fn, "__self__", None)):
        if isinstance(candidate, torch.nn.Module):
            return candidate
    return None


def state_sha256(module: torch.nn.Module) -> str:
    """sha256 over a module's state dict (each entry's name, dtype, shape and bytes, in key order)."""
    digest = hashlib.sha256()
    for key, value in module.state_dict().items():
        digest.update(f"{key}:{value.dtype}:{tuple(value.shape)};".encode())
        tensor = value.detach().to("cpu").contiguous().reshape(-1)
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def _check_signature(fn: Callable, name: str) -> None:
    """`UserError` when `fn` cannot be called with 4 positional arguments (`SIGNATURE`); a callable
    whose signature cannot be read (some builtins) is not checked."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(None, None, None, None)
    except TypeError as err:
        raise UserError(f"method {name}: {getattr(fn, '__qualname__', type(fn).__name__)}{signature} cannot be called "
                        f"with 4 positional arguments ({err}); the runner calls {SIGNATURE} (a kind='sisr' callable "
                        "gets (lr, None, None, None))") from None


class CallableMethod(Method):
    """A callable `(lr, lr_up, ref, ref_down_up) -> sr` as a method (module docstring: shapes,
    ranges, device, identity).

    `name`: the method's name in rows and views (letters, digits, `. _ + -`; default the function's
    `__name__`, required for a lambda or a callable object without one). `kind`: "refsr" (default)
    or "sisr". `version`: a label that changes when the code changes; required when the source
    cannot be read. `description`: free text for listings. Raises `UserError` for a bad name
    (`baselines.registry.NAME_PATTERN`), kind, a callable that cannot take 4 positional arguments, or
    a missing `version`. Needs no weights file (`weights = None`): the manifest labels it as a
    user callable, not published weights (`provenance`).
    """

    scale = 4
    convention = "RGB float [0,255] NCHW (user callable)"
    weights = None

    def __init__(self, fn: Callable, *, name: str | None = None, kind: str = "refsr",
                 version: str | None = None, description: str = "") -> None:
        super().__init__()
        if not callable(fn):
            raise UserError(f"method {fn!r}: not callable; give a function (lr, lr_up, ref, ref_down_up) -> sr")
        given = name if name is not None else getattr(fn, "__name__", None)
        if not given or given == "<lambda>":
            raise UserError(f"method {fn!r}: has no usable name; give one, e.g. CallableMethod(fn, name='mine')")
        check_name(str(given), "method")
        _check_signature(fn, str(given))
        if kind not in KINDS:
            raise UserError(f"method {given}: kind {kind!r} is not one of {', '.join(KINDS)}")
        self.fn = fn
        self.name = str(given)
        self.kind = kind
        self.description = description or f"user callable {self.qualified_name}"
        self.version = None if version is None else str(version)
        _, source = _source_of(fn)
        self.source_sha256 = hashlib.sha256(source.encode("utf-8")).hexdigest() if source is not None else None
        if self.source_sha256 is None and self.version is None:
            raise UserError(f"method {self.name}: the source of {self.qualified_name} cannot be read (a lambda at the "
                            "prompt, a builtin, a functools.partial or exec'd code), so a change of its code could "
                            "not be told from its results; pass version='…' and change it whenever the code changes")

    @property
    def qualified_name(self) -> str:
        """`module.qualname` of the function (of the class, for a callable object)."""
        target, _ = _source_of(self.fn)
        return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', type(self.fn).__name__)}"

    def options(self) -> dict[str, object]:
        """The identity of the code (module docstring): scale, convention, kind, module, qualname,
        source sha256, state-dict sha256 (a network), version."""
        target, _ = _source_of(self.fn)
        module = _module_of(self.fn)  # a network's parameters are part of what it computes: hashed when planned
        return {**super().options(), "kind": self.kind,
                "callable": {"module": getattr(target, "__module__", None),
                             "qualname": getattr(target, "__qualname__", None),
                             "source_sha256": self.source_sha256,
                             "state_sha256": state_sha256(module) if module is not None else None,
                             "version": self.version}}

    def provenance(self) -> dict[str, object]:
        """What the manifest's `weights` record of this method says (`runner.plan.Passes.prepare` applies
        it): a user callable, its code's identity, not published weights."""
        origin = (f"user callable {self.qualified_name}"
                  + (f" (source sha256 {self.source_sha256[:12]}…)" if self.source_sha256 else "")
                  + (f" version {self.version}" if self.version else "") + "; not published weights")
        return {"origin": origin, "user_method": True, "random": False, "published": None}

    def load(self, weights_path=None, device="cpu") -> "CallableMethod":
        """Nothing to load (no weights file); remembers the device. A `torch.nn.Module` is not moved:
        put it on the run's device yourself."""
        self.device = torch.device(device)
        return self

    def __call__(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        self.extras = {}
        lr = batch["lr"]
        if self.kind == "sisr":
            sr = self.fn(lr, None, None, None)
        else:
            sr = self.fn(lr, batch["lr_up"], batch["ref"], batch["ref_down_up"])
        return check_sr(sr, lr, self.scale, self.qualified_name)
