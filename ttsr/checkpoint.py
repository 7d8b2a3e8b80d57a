"""TTSR's checkpoints: its key remap, its stored configuration, and writing in the release's format.

Reading goes through the suite's one reader, `foundation.checkpoints` (weights_only torch files or
safetensors, wrappers and the ``module.`` prefix removed, strict load with one clear line). What is
TTSR's own:
- the release's key names (``MainNet.*``, ``LTE.*``; `ttsr.main_net`, `ttsr.lte`) are this package's
  names too, so the remap `RELEASE_REMAP` only drops the release's ``LTE_copy.*`` keys (the frozen
  LTE copy a raw ``model.state_dict()`` of the release holds);
- the configuration: from the caller, else from the file (``ttsr_config``, written by `save_ttsr`;
  or a generic ``config`` entry that is a TTSR one), else from the weights' shapes (``n_feats``,
  blocks per stage, CSFI, texture transfer); the soft-attention and LTE switches leave no trace in
  the weights and default to the published model's;
- `save_ttsr`: ``.pt`` ``{'state_dict', 'ttsr_config', 'metadata'}`` or ``.safetensors`` (config and
  metadata as JSON in the header), or the bare state dict the release's code loads.
Every problem a user can fix is a `UserError` (one line, exit 2 in the CLIs).
"""
from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import Any, Mapping

import torch

from foundation.checkpoints import (SAFETENSORS_SUFFIX, Checkpoint, Identify, describe_family, first,
                                    load_into, read_checkpoint, remap)
from foundation.errors import UserError
from foundation.fileio import atomic_write_bytes
from ttsr.config import TTSRConfig
from ttsr.model import TTSR

#: Where `save_ttsr` stores the configuration (a dict in a .pt file, a JSON string in a safetensors header).
CONFIG_KEY = "ttsr_config"
#: Published key names → ours (`foundation.checkpoints.rename`): the names agree; the frozen LTE copy goes.
RELEASE_REMAP = ((r"^LTE_copy\.", None),)
#: Top-level prefixes of a TTSR state dict.
TTSR_PREFIXES = ("MainNet.", "LTE.")


def read_ttsr(path: str | os.PathLike) -> Checkpoint:
    """The checkpoint at `path` (`foundation.checkpoints.read_checkpoint`) with TTSR's stored config."""
    return read_checkpoint(path, config_key=CONFIG_KEY)


def identify_family(keys: list[str]) -> str | None:
    """"this looks like a checkpoint of …" for another family's keys (`foundation.checkpoints.FAMILIES`)."""
    family = describe_family(keys)
    if family is None:
        return None
    return (f"this looks like a checkpoint of {family} (keys such as {first(keys, 3)}), expected TTSR; "
            "TTSR weights (TTSR.pt / TTSR-rec.pt) hold MainNet.* and LTE.* keys")


def _block_count(keys: list[str], prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    indices = [int(m.group(1)) for k in keys if (m := pattern.match(k))]
    return max(indices) + 1 if indices else 0


def infer_config(state_dict: Mapping[str, torch.Tensor]) -> TTSRConfig:
    """A configuration consistent with the weights' names and shapes (release defaults elsewhere)."""
    keys = list(state_dict)
    head = state_dict.get("MainNet.SFE.conv_head.weight")
    if head is None:
        raise UserError("cannot infer the TTSR configuration: MainNet.SFE.conv_head.weight is missing")
    texture = "MainNet.conv11_head.weight" in state_dict
    blocks = tuple(_block_count(keys, f"MainNet.{p}.") for p in ("SFE.RBs", "RB11", "RB22", "RB33"))
    return TTSRConfig(n_feats=int(head.shape[0]), num_res_blocks=blocks,
                      hard_attention=texture, soft_attention=texture,
                      csfi=any(k.startswith("MainNet.ex12.") for k in keys))


def stored_config(ckpt: Checkpoint) -> TTSRConfig | None:
    """The TTSR configuration a file carries: its ``ttsr_config`` (`UserError` when invalid), else a
    generic ``config`` entry when that is a TTSR one (e.g. the golden file's), else None."""
    if ckpt.config is not None:
        try:
            return TTSRConfig.from_dict(ckpt.config)
        except (ValueError, TypeError) as err:
            raise UserError(f"{ckpt.path}: the TTSR configuration stored in the file is invalid ({err})") from err
    generic = ckpt.entries.get("config")
    if isinstance(generic, Mapping):
        try:
            return TTSRConfig.from_dict(generic)
        except (ValueError, TypeError):
            return None
    return None


def load_ttsr(path: str | os.PathLike, config: TTSRConfig | None = None, device: str | torch.device = "cpu",
              *, fallback: TTSRConfig | None = None, identify: Identify | None = identify_family) -> TTSR:
    """Build a TTSR from a checkpoint file, in eval mode on `device` (see the module docstring).

    `config` forces the configuration; else the file's, else `fallback`, else one inferred from the
    shapes. `identify` names another method's file (default: by `foundation.checkpoints.FAMILIES`).
    The file's metadata is kept as `model.checkpoint_metadata`. Raises `UserError`.
    """
    ckpt = read_ttsr(path)
    state_dict = remap(ckpt.state_dict, RELEASE_REMAP)
    if not any(k.startswith(TTSR_PREFIXES) for k in state_dict):
        known = identify(list(ckpt.state_dict)) if identify else None
        raise UserError(f"{ckpt.path}: " + (known or f"not a TTSR checkpoint: none of its {len(state_dict)} keys "
                                                      f"(first: {first(list(state_dict), 3)}) is under MainNet.* or LTE.*"))
    if config is not None:
        how = f"as configured ({config.to_dict()})"
    elif (config := stored_config(ckpt)) is not None:
        how = f"as its stored configuration says ({config.to_dict()})"
    elif fallback is not None:
        config, how = fallback, f"as configured ({fallback.to_dict()})"
    else:
        config = infer_config(state_dict)
        how = f"with the configuration inferred from its shapes ({config.to_dict()})"
    model = load_into(TTSR(config), state_dict, ckpt, what=f"TTSR {how}", identify=identify)
    model.checkpoint_metadata = dict(ckpt.metadata)
    return model.to(device).eval()


# --------------------------------------------------------------------------- writing

def _jsonable(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    metadata = dict(metadata or {})
    try:
        return json.loads(json.dumps(metadata))
    except (TypeError, ValueError) as err:
        raise ValueError(f"checkpoint metadata must be JSON-serialisable: {err}") from err


def save_ttsr(model: TTSR, path: str | os.PathLike, metadata: Mapping[str, Any] | None = None,
              *, release_format: bool = False) -> Path:
    """Write `model`'s weights under the release's key names, atomically.

    ``.safetensors`` by suffix (config and metadata as JSON strings in the header); anything
    else is a torch file ``{'state_dict', 'ttsr_config', 'metadata'}``. ``release_format=True``
    writes the bare state dict the release's own code loads (the config is then inferred from
    shapes when read back, soft-attention/LTE switches assumed as published).
    """
    path = Path(path)
    state_dict = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    config = model.config.to_dict()
    meta = _jsonable(metadata)
    if path.suffix.lower() == SAFETENSORS_SUFFIX:
        if release_format:
            raise ValueError("release_format applies to .pt files; the release cannot read safetensors")
        from safetensors.torch import save

        header = {"format": "ttsr-bench", CONFIG_KEY: json.dumps(config), "metadata": json.dumps(meta)}
        atomic_write_bytes(path, save(state_dict, metadata=header))
        return path
    payload: Any = state_dict if release_format else {
        "state_dict": state_dict, CONFIG_KEY: config, "metadata": meta}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return path
