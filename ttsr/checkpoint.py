"""Reading and writing TTSR checkpoints: the release's format, our own, and safetensors.

Accepted (DESIGN.md: weights_only loading, explicit key handling):
- the published ``TTSR.pt`` / ``TTSR-rec.pt``: a flat state dict under the release's key names
  (``MainNet.*``, ``LTE.*``), which are this package's names too, so no renaming is needed;
- the same with the ``module.`` prefix of DataParallel, with the release's ``LTE_copy.*`` keys
  (a raw ``model.state_dict()`` of the release; dropped), or wrapped in ``{'state_dict': …}`` /
  ``{'model': …}``;
- files written by `save_ttsr` (``.pt``: ``{'state_dict', 'ttsr_config', 'metadata'}``;
  ``.safetensors``: config and metadata as JSON in the header), either format by suffix or magic.

The configuration comes from the caller, else from the file's metadata, else from the weights'
shapes (``n_feats``, blocks per stage, CSFI, texture transfer); the soft-attention and LTE
switches leave no trace in the weights and default to the published model's.
Every problem a user can fix is a `UserError` (one line, exit 2 in the CLIs).
"""
from __future__ import annotations

import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from ttsr.config import TTSRConfig
from foundation.errors import UserError
from foundation.fileio import atomic_write_bytes
from ttsr.model import TTSR
from foundation.safeload import load_torch_file

#: Wrappers around a state dict that are looked through, outermost first.
WRAPPER_KEYS = ("state_dict", "model")
#: Key prefixes stripped from every key (DataParallel / DistributedDataParallel).
STRIPPED_PREFIXES = ("module.",)
#: Keys of the release's model that are not weights of the network (its frozen LTE copy).
IGNORED_PREFIXES = ("LTE_copy.",)
#: Top-level prefixes of a TTSR state dict.
TTSR_PREFIXES = ("MainNet.", "LTE.")

#: Key patterns of other methods' checkpoints, to say what a wrong file is: name → key prefixes.
FOREIGN_SIGNATURES: dict[str, tuple[str, ...]] = {
    "IMDN (Hui et al. 2019)": ("IMDB1.", "IMDB_",),
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

_SAFETENSORS_SUFFIXES = (".safetensors",)
_ZIP_MAGIC = b"PK\x03\x04"


@dataclass
class Checkpoint:
    """A state dict as read from a file, with the configuration and metadata it carried."""

    state_dict: dict[str, torch.Tensor]
    config: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- reading files

def _is_safetensors(path: Path, head: bytes) -> bool:
    if path.suffix.lower() in _SAFETENSORS_SUFFIXES:
        return True
    # safetensors: 8-byte little-endian header length, then a JSON object.
    if len(head) >= 9 and head[8:9] == b"{":
        size = int.from_bytes(head[:8], "little")
        return 2 <= size <= path.stat().st_size
    return False


def _read_safetensors(path: Path) -> Checkpoint:
    from safetensors import SafetensorError, safe_open

    try:
        tensors: dict[str, torch.Tensor] = {}
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            header = dict(handle.metadata() or {})
            for key in handle.keys():
                tensors[key] = handle.get_tensor(key)
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise UserError(f"{path}: not a readable safetensors file ({err}); re-download or re-save it") from err
    config, metadata = None, {}
    try:
        if "ttsr_config" in header:
            config = json.loads(header["ttsr_config"])
        if "metadata" in header:
            metadata = json.loads(header["metadata"])
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: the safetensors header's TTSR metadata is not valid JSON ({err})") from err
    for key, value in header.items():
        if key not in ("ttsr_config", "metadata"):
            metadata.setdefault(key, value)
    return Checkpoint(tensors, config, metadata)


def _unwrap(obj: Any, path: Path) -> Checkpoint:
    if not isinstance(obj, Mapping):
        raise UserError(f"{path}: holds a {type(obj).__name__}, not a state dict (a mapping of names to tensors)")
    config = obj.get("ttsr_config")
    if config is None and isinstance(obj.get("config"), Mapping):
        try:  # a generic "config" (e.g. the golden file's) is used only when it is a TTSR one
            config = TTSRConfig.from_dict(obj["config"]).to_dict()
        except (ValueError, TypeError):
            config = None
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
    for key in WRAPPER_KEYS:
        inner = obj.get(key)
        if isinstance(inner, Mapping) and any(isinstance(v, torch.Tensor) for v in inner.values()):
            found = _unwrap(inner, path)
            return Checkpoint(found.state_dict, found.config or (dict(config) if config else None),
                              {**dict(metadata), **found.metadata})
    tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not tensors:
        keys = ", ".join(map(str, list(obj)[:6])) or "none"
        raise UserError(f"{path}: holds no tensors, so it is not a checkpoint (top-level keys: {keys})")
    return Checkpoint(tensors, dict(config) if config else None, dict(metadata))


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint file (.pt/.pth pickle with weights_only=True, or safetensors)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: checkpoint not found; check the path (--weights). The published TTSR.pt / "
                        "TTSR-rec.pt come from the TTSR release (links in the researchmm/TTSR README); "
                        "`python -m benchmarks.weights list` shows where every file comes from")
    if path.is_dir():
        raise UserError(f"{path}: is a folder, expected a checkpoint file (.pt, .pth or .safetensors)")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: empty file, not a checkpoint; re-download it")
    with open(path, "rb") as handle:
        head = handle.read(16)
    if _is_safetensors(path, head):
        return _read_safetensors(path)
    return _unwrap(load_torch_file(path), path)


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file, wrappers removed (keys as stored, prefixes kept)."""
    return read_checkpoint(path).state_dict


# --------------------------------------------------------------------------- TTSR state dicts

def normalize_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip ``module.`` prefixes and drop the release's ``LTE_copy.*`` keys."""
    out = {}
    for key, value in state_dict.items():
        for prefix in STRIPPED_PREFIXES:
            while key.startswith(prefix):
                key = key[len(prefix):]
        if not key.startswith(IGNORED_PREFIXES):
            out[key] = value
    return out


def describe_foreign(state_dict: Mapping[str, torch.Tensor]) -> str | None:
    """Name the method a non-TTSR state dict seems to come from, or None when unknown."""
    keys = list(state_dict)
    for name, prefixes in FOREIGN_SIGNATURES.items():
        if any(k.startswith(prefixes) for k in keys):
            return name
    return None


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


def _first(items: list[str], n: int = 5) -> str:
    shown = ", ".join(items[:n])
    return shown + (f" … ({len(items)} in all)" if len(items) > n else "")


def check_state_dict(model: TTSR, state_dict: Mapping[str, torch.Tensor], path: str, how: str) -> None:
    """`UserError` listing missing/unexpected keys and shape mismatches against `model`."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys: {_first(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_first(unexpected)}")
        raise UserError(f"{path}: does not fit TTSR {how}; " + "; ".join(parts))
    wrong = [f"{k} expected {tuple(expected[k].shape)} found {tuple(v.shape)}"
             for k, v in state_dict.items() if tuple(v.shape) != tuple(expected[k].shape)]
    if wrong:
        raise UserError(f"{path}: shape mismatch against TTSR {how}: {_first(wrong, 3)}")


def load_ttsr(path: str | os.PathLike, config: TTSRConfig | None = None,
              device: str | torch.device = "cpu") -> TTSR:
    """Build a TTSR from a checkpoint file, in eval mode on `device` (see the module docstring)."""
    ckpt = read_checkpoint(path)
    state_dict = normalize_keys(ckpt.state_dict)
    if not any(k.startswith(TTSR_PREFIXES) for k in state_dict):
        sample = _first(list(state_dict), 3)
        foreign = describe_foreign(state_dict)
        if foreign:
            raise UserError(f"{path}: looks like a checkpoint of {foreign} (keys such as {sample}), not TTSR; "
                            "TTSR weights (TTSR.pt / TTSR-rec.pt) hold MainNet.* and LTE.* keys")
        raise UserError(f"{path}: not a TTSR checkpoint: none of its {len(state_dict)} keys "
                        f"(first: {sample}) is under MainNet.* or LTE.*")
    if config is not None:
        how = f"as configured ({config.to_dict()})"
    elif ckpt.config is not None:
        try:
            config = TTSRConfig.from_dict(ckpt.config)
        except (ValueError, TypeError) as err:
            raise UserError(f"{path}: the TTSR configuration stored in the file is invalid ({err})") from err
        how = f"as its stored configuration says ({config.to_dict()})"
    else:
        config = infer_config(state_dict)
        how = f"with the configuration inferred from its shapes ({config.to_dict()})"
    with torch.device("meta"):
        skeleton = TTSR(config)
    check_state_dict(skeleton, state_dict, str(path), how)
    model = TTSR(config)
    model.load_state_dict(state_dict, strict=True)
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
    if path.suffix.lower() in _SAFETENSORS_SUFFIXES:
        if release_format:
            raise ValueError("release_format applies to .pt files; the release cannot read safetensors")
        from safetensors.torch import save

        header = {"format": "ttsr-bench", "ttsr_config": json.dumps(config), "metadata": json.dumps(meta)}
        atomic_write_bytes(path, save(state_dict, metadata=header))
        return path
    payload: Any = state_dict if release_format else {
        "state_dict": state_dict, "ttsr_config": config, "metadata": meta}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return path
