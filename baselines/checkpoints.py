"""Loading official checkpoints: read safely, unwrap, remap by an explicit table, load strictly.

Order (DESIGN.md, timm-style): read with `torch.load(weights_only=True)` (or safetensors) ->
unwrap `params_ema` / `params` / `state_dict` / `model` -> strip `module.` -> the method's own
`checkpoint_filter(state_dict)` (an explicit rename table) -> strict load. Anything wrong is a
`UserError` naming the file: another method's checkpoint ("this looks like an EDSR checkpoint,
expected IMDN"), missing keys, unexpected keys, shape mismatches.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import torch
from torch import nn

from foundation.errors import UserError
from foundation.safeload import load_torch_file

# Wrapper keys seen in published files, in order of preference (BasicSR's EMA weights first).
WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model", "net", "generator")

StateDict = dict[str, torch.Tensor]


def read_checkpoint(path: str | os.PathLike) -> object:
    """The raw object in a checkpoint file (tensors, dicts, lists only), or a `UserError`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
            return load_file(str(path), device="cpu")
        except Exception as err:  # noqa: BLE001 - a bad file on the user's disk
            raise UserError(f"{path}: not a readable safetensors file ({err})") from err
    return load_torch_file(path, "a readable PyTorch state dict", "pass a plain state_dict checkpoint")


def unwrap(obj: object, path: str | os.PathLike = "checkpoint") -> StateDict:
    """Descend through wrapper dicts to the tensor dict and strip a `module.` prefix."""
    for _ in range(4):
        if not isinstance(obj, Mapping):
            break
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        inner = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping) or not obj:
        raise UserError(f"{path}: no state dict found (expected a dict of tensors, possibly under "
                        f"one of {', '.join(WRAPPER_KEYS)})")
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise UserError(f"{path}: the checkpoint holds no tensors")
    return strip_prefix(tensors, "module.")


def strip_prefix(state_dict: Mapping[str, torch.Tensor], prefix: str) -> StateDict:
    if state_dict and all(k.startswith(prefix) for k in state_dict):
        return {k[len(prefix):]: v for k, v in state_dict.items()}
    return dict(state_dict)


def rename(state_dict: Mapping[str, torch.Tensor], table: Sequence[tuple[str, str | None]]) -> StateDict:
    """Apply an explicit (regex, replacement) table to every key; the first matching rule wins.

    A replacement of None drops the key (e.g. the ×2/×3 branches of a multi-scale file).
    """
    compiled = [(re.compile(pattern), repl) for pattern, repl in table]
    out: StateDict = {}
    for key, value in state_dict.items():
        for pattern, repl in compiled:
            if pattern.search(key):
                key = None if repl is None else pattern.sub(repl, key)
                break
        if key is not None:
            out[key] = value
    return out


def describe_mismatch(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """Human-readable problems (missing, unexpected, shape) between a model and a state dict."""
    expected = model.state_dict()
    problems = []
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
              for k, v in expected.items() if k in state_dict and state_dict[k].shape != v.shape]
    if missing:
        problems.append(f"{len(missing)} missing key(s) ({_first(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s) ({_first(unexpected)})")
    if shapes:
        problems.append(f"{len(shapes)} shape mismatch(es) ({_first(shapes)})")
    return problems


def _first(items: Sequence[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (", …" if len(items) > n else "")


def wrong_method_error(path, keys: Iterable[str], expected: str, hint: str = "") -> UserError | None:
    """A `UserError` when the keys look like another registered method's checkpoint, else None."""
    from baselines.registry import guess_method  # the registry imports this module's users

    guess = guess_method(keys)
    if guess is not None and guess != expected and not guess.startswith(expected + "-"):
        return UserError(f"{path}: this looks like a checkpoint of {guess}, expected {expected}; "
                         f"pass it as --weights {guess}=PATH and give {expected} its own file{hint}")
    return None


def load_strict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], *, path, method: str,
                original_keys: Iterable[str] | None = None, hint: str = "") -> nn.Module:
    """`model.load_state_dict(strict=True)` with a clear `UserError` instead of a traceback."""
    problems = describe_mismatch(model, state_dict)
    if problems:
        wrong = wrong_method_error(path, original_keys if original_keys is not None else state_dict.keys(),
                                   method, hint)
        if wrong is not None:
            raise wrong
        raise UserError(f"{path}: not a {method} checkpoint this adapter can load: {'; '.join(problems)}{hint}")
    model.load_state_dict(dict(state_dict), strict=True)
    return model


def load_official(path, *, method: str, checkpoint_filter: Callable[[StateDict], StateDict],
                  build: Callable[[StateDict], nn.Module], hint: str = "") -> nn.Module:
    """Read, unwrap, remap with `checkpoint_filter`, build (sized from the filtered shapes), strict-load."""
    state_dict = unwrap(read_checkpoint(path), path)
    original_keys = list(state_dict)
    try:
        filtered = checkpoint_filter(state_dict)
        model = build(filtered)
    except (UserError, KeyError, ValueError, IndexError) as err:
        wrong = wrong_method_error(path, original_keys, method, hint)
        raise (wrong or UserError(f"{path}: not a {method} checkpoint ({err}){hint}")) from err
    return load_strict(model, filtered, path=path, method=method, original_keys=original_keys, hint=hint)
