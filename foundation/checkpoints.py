"""The one checkpoint reader of the suite: read safely, unwrap, strip prefixes, remap, load strictly.

Every method's weights go through here (timm's `load_checkpoint` + `checkpoint_filter_fn` idea):

1. `read_checkpoint(path)`: a ``.pt``/``.pth`` file through `foundation.safeload.load_torch_file`
   (``torch.load(weights_only=True)``: tensors, dicts, lists, numbers, strings, nothing that runs
   code), or a ``.safetensors`` file (recognised by suffix or by its header: an 8-byte little-endian
   length, then a JSON object). Wrappers are looked through (`WRAPPER_KEYS`, outermost first, the
   first present wins: BasicSR's EMA weights before its plain ones) and the ``module.`` prefix of
   DataParallel / DistributedDataParallel is stripped from every key. What the file carries
   besides the tensors comes back too: its ``metadata`` (a dict in a torch file, a JSON string in a
   safetensors header) and, when the caller names its key, the configuration stored beside the weights.
2. `rename(state_dict, table)`: a method's explicit remap from published key names to its own
   (regex → replacement, or None to drop a key); a method may pass a function instead.
3. `load_into(model, ...)`: strict load; missing keys, unexpected keys and shape mismatches are
   one `UserError` line, preceded by the method's guess of what the file is when it has one.

`load_checkpoint` chains the three for a network that is built from the (remapped) weights.
Tensors come back on the CPU in their stored dtype. Every problem a user can fix is a `UserError`
naming the file (one line, exit 2 in the commands).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence, Union

import torch
from torch import nn

from foundation.errors import UserError
from foundation.safeload import load_torch_file

StateDict = dict[str, torch.Tensor]
#: A remap: an explicit (regex, replacement or None) table, or a function of the state dict.
Remap = Union[Sequence[tuple[str, Union[str, None]]], Callable[[StateDict], StateDict]]
#: What a wrong file looks like, from its keys: one sentence ("this looks like a checkpoint of …"), or None.
Identify = Callable[[list[str]], Union[str, None]]

#: Wrappers around a state dict seen in published files, in order of preference.
WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model", "net", "generator")
#: Key prefixes stripped from every key (DataParallel / DistributedDataParallel).
STRIPPED_PREFIXES = ("module.",)
#: The entry (torch file) or header field (safetensors, a JSON object) holding free-form metadata.
METADATA_KEY = "metadata"
SAFETENSORS_SUFFIX = ".safetensors"
_MAX_DEPTH = 4

#: Key prefixes of SR checkpoint families, to name what a wrong file is when no registered method
#: recognises it: family → prefixes (the first family with a matching key wins).
FAMILIES: dict[str, tuple[str, ...]] = {
    "IMDN (Hui et al. 2019)": ("IMDB1.", "IMDB_"),
    "RFDN": ("B1.c1_d.", "B1.c1_r."),
    "CARN / CARN-M": ("entry.", "b1.b1.", "b1.c1."),
    "RCAN": ("body.0.body.0.body.",),
    "EDSR / MDSR": ("head.0.", "body.0.body.0.", "tail.0."),
    "RDN": ("SFENet1.", "RDBs."),
    "ESRGAN / RRDBNet": ("RRDB_trunk.", "conv_first.", "body.0.rdb1."),
    "SwinIR": ("layers.0.residual_group.",),
    "SRNTT": ("content_extractor.", "texture_transfer."),
    "torchvision VGG / classification network": ("features.0.", "classifier."),
    "a GAN discriminator": ("discriminator.", "netD.", "D."),
}


@dataclass
class Checkpoint:
    """What a checkpoint file holds.

    `state_dict`: name → CPU tensor, wrappers removed and `STRIPPED_PREFIXES` stripped, not yet
    remapped. `config`: the mapping stored under the caller's `config_key`, else None.
    `metadata`: the file's metadata (string values for a safetensors header). `entries`: the other
    non-tensor entries (torch file: merged over the wrapper levels, inner ones winning;
    safetensors: the header's strings).
    """

    path: Path
    state_dict: StateDict
    config: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    entries: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- reading

def _is_safetensors(path: Path, head: bytes) -> bool:
    if path.suffix.lower() == SAFETENSORS_SUFFIX:
        return True
    if len(head) >= 9 and head[8:9] == b"{":
        return 2 <= int.from_bytes(head[:8], "little") <= path.stat().st_size
    return False


def _json_object(path: Path, header: Mapping[str, str], key: str) -> dict[str, Any] | None:
    if key not in header:
        return None
    try:
        value = json.loads(header[key])
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: the safetensors header's {key!r} is not valid JSON ({err}); re-save the file") from err
    return value if isinstance(value, dict) else None


def _read_safetensors(path: Path, config_key: str | None, tensors: bool = True) -> Checkpoint:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            header = dict(handle.metadata() or {})
            state = {key: handle.get_tensor(key) for key in handle.keys()} if tensors else {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise UserError(f"{path}: not a readable safetensors file ({err}); re-download or re-save it") from err
    config = _json_object(path, header, config_key) if config_key else None
    try:  # free-form: a `metadata` field that is not a JSON object is kept as the string it is
        metadata, used = _json_object(path, header, METADATA_KEY), (config_key, METADATA_KEY)
    except UserError:
        metadata, used = None, (config_key,)
    metadata = metadata or {}
    for key, value in header.items():
        if key not in used:
            metadata.setdefault(key, value)
    return Checkpoint(path, strip_prefixes(state), config, metadata, header)


def _unwrap(obj: Any, path: Path, config_key: str | None) -> Checkpoint:
    """Descend through `WRAPPER_KEYS` to the tensors, collecting config, metadata and other entries."""
    if not isinstance(obj, Mapping):
        raise UserError(f"{path}: holds a {type(obj).__name__}, not a state dict (a mapping of names to "
                        f"tensors, possibly under one of {', '.join(WRAPPER_KEYS)})")
    top_keys = list(obj)
    config, metadata, entries = None, {}, {}
    for _ in range(_MAX_DEPTH):
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        level = {k: v for k, v in obj.items() if not isinstance(v, torch.Tensor) and k not in WRAPPER_KEYS}
        entries.update(level)
        if config_key and isinstance(level.get(config_key), Mapping):
            config = dict(level[config_key])
        if isinstance(level.get(METADATA_KEY), Mapping):
            metadata.update(level[METADATA_KEY])
        inner = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not tensors:
        keys = ", ".join(map(str, top_keys[:6])) or "none"
        raise UserError(f"{path}: holds no tensors, so it is not a checkpoint (top-level keys: {keys})")
    return Checkpoint(path, strip_prefixes(tensors), config, metadata, entries)


def check_checkpoint_file(path: str | os.PathLike) -> Path:
    """`path` as a `Path` when it is a non-empty file; else `UserError` (one line: missing, a folder,
    empty). The cheap part of `read_checkpoint`, for commands that check inputs before any work."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: checkpoint not found; check the path (--weights); "
                        "`python -m benchmarks.weights list` shows where every method's file comes from")
    if path.is_dir():
        raise UserError(f"{path}: is a folder, expected a checkpoint file (.pt, .pth or .safetensors)")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: empty file, not a checkpoint; re-download it")
    return path


def read_checkpoint(path: str | os.PathLike, *, config_key: str | None = None,
                    tensors: bool = True) -> Checkpoint:
    """Read a checkpoint file (.pt/.pth with weights_only, or safetensors); see the module docstring.

    `config_key`: the entry / header field where the method stores its configuration (a mapping /
    a JSON object), e.g. TTSR's ``ttsr_config``. `tensors=False`: a safetensors file's header only
    (its config and metadata; `state_dict` stays empty); a torch file is read whole either way.
    Raises `UserError` for a missing, empty, unreadable or refused file (pickled objects), or one
    without tensors.
    """
    path = check_checkpoint_file(path)
    with open(path, "rb") as handle:
        head = handle.read(16)
    if _is_safetensors(path, head):
        return _read_safetensors(path, config_key, tensors)
    return _unwrap(load_torch_file(path), path, config_key)


def strip_prefixes(state_dict: Mapping[str, torch.Tensor], prefixes: Sequence[str] = STRIPPED_PREFIXES) -> StateDict:
    """Every key without the leading `prefixes` (repeated ones too: ``module.module.x`` → ``x``)."""
    out: StateDict = {}
    for key, value in state_dict.items():
        while key.startswith(tuple(prefixes)):
            key = key[len(next(p for p in prefixes if key.startswith(p))):]
        out[key] = value
    return out


# --------------------------------------------------------------------------- remapping

def rename(state_dict: Mapping[str, torch.Tensor], table: Sequence[tuple[str, str | None]]) -> StateDict:
    """Apply an explicit (regex, replacement) table to every key; the first matching rule wins.

    A replacement of None drops the key (e.g. the ×2/×3 branches of a multi-scale file).
    """
    compiled = [(re.compile(pattern), repl) for pattern, repl in table]
    out: StateDict = {}
    for key, value in state_dict.items():
        new: str | None = key
        for pattern, repl in compiled:
            if pattern.search(key):
                new = None if repl is None else pattern.sub(repl, key)
                break
        if new is not None:
            out[new] = value
    return out


def remap(state_dict: StateDict, how: Remap | None) -> StateDict:
    """`state_dict` through a table (`rename`) or a function; unchanged when `how` is None."""
    if how is None:
        return dict(state_dict)
    return how(state_dict) if callable(how) else rename(state_dict, how)


def describe_family(keys: Iterable[str]) -> str | None:
    """The checkpoint family (`FAMILIES`) these state-dict keys belong to, or None when unknown."""
    keys = list(keys)
    return next((name for name, prefixes in FAMILIES.items() if any(k.startswith(prefixes) for k in keys)), None)


# --------------------------------------------------------------------------- strict loading

def first(items: Sequence[str], n: int = 5) -> str:
    """The first `n` items, comma-separated, with "…" when there are more."""
    return ", ".join(items[:n]) + (", …" if len(items) > n else "")


def mismatch(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """What keeps `state_dict` from loading strictly into `model`: missing, unexpected, shapes."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
              for k, v in expected.items() if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)]
    return [f"{len(items)} {label} ({first(items)})" for label, items in
            (("missing key(s)", missing), ("unexpected key(s)", unexpected), ("shape mismatch(es)", shapes)) if items]


def load_into(model: nn.Module, state_dict: Mapping[str, torch.Tensor], ckpt: Checkpoint, *, what: str,
              identify: Identify | None = None, hint: str = "") -> nn.Module:
    """`model.load_state_dict(state_dict, strict=True)` or a `UserError` line: the file's identity
    (`identify` on the unremapped keys of `ckpt`) when known, else every problem (`mismatch`)."""
    problems = mismatch(model, state_dict)
    if problems:
        known = identify(list(ckpt.state_dict)) if identify else None
        raise UserError(f"{ckpt.path}: " + (known or f"does not fit {what}: {'; '.join(problems)}{hint}"))
    model.load_state_dict(dict(state_dict), strict=True)
    return model


def load_checkpoint(path: str | os.PathLike, *, what: str, build: Callable[[StateDict], nn.Module],
                    remap_with: Remap | None = None, identify: Identify | None = None,
                    hint: str = "") -> tuple[nn.Module, Checkpoint]:
    """Read `path`, remap, `build` the network from the remapped weights (sized from their shapes
    where a family varies), load strictly. Returns the model (CPU, as built) and the checkpoint.

    A remap or build that fails (`UserError`, `KeyError`, `ValueError`, `IndexError`) is reported as
    the file's identity (`identify`) or ``"{path}: not a {what} checkpoint (why){hint}"``; an
    unreadable file is `read_checkpoint`'s one line with `hint` (which file the method expects) added.
    """
    try:
        ckpt = read_checkpoint(path)
    except UserError as err:
        if not hint:
            raise
        raise UserError(f"{err}{hint}") from None
    try:
        state_dict = remap(ckpt.state_dict, remap_with)
        model = build(state_dict)
    except (UserError, KeyError, ValueError, IndexError) as err:
        known = identify(list(ckpt.state_dict)) if identify else None
        raise UserError(f"{ckpt.path}: " + (known or f"not a {what} checkpoint ({err}){hint}")) from err
    return load_into(model, state_dict, ckpt, what=what, identify=identify, hint=hint), ckpt
