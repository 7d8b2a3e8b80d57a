"""Provenance: what produced a number — package versions, git state, device, weights files.

Used by the run manifest (`benchmarks.manifest`), the training exports (`benchmarks.train`) and
`ttsr.sr`. `weights_record` describes one weights file: path, sha256 (`foundation.fileio.sha256_file`),
where it was found, and what it is. Weights whose checkpoint metadata says they are random or made
by a test are labelled so (`RANDOM_LABEL`, `is_random_label`), so nobody mistakes such a run for a
measurement of the paper.
"""
from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Mapping

from foundation.download import check_recorded
from foundation.errors import UserError
from foundation.fileio import sha256_file

PACKAGES = ("ttsr-bench", "torch", "torchvision", "numpy", "pillow", "scipy", "scikit-image",
            "pandas", "lpips", "piq", "safetensors", "tqdm")
RANDOM_LABEL = "RANDOM WEIGHTS (test-made, not a published checkpoint): numbers mean nothing"
# Metadata a checkpoint may carry to say it is not a trained model (training.trainer's exports write
# "random" (bool) and "origin"; baselines.srntt.convert of random_release files writes "origin").
_FLAG_KEYS = ("random", "allow_random_vgg")  # a true value says random ("random" decides when present)
_ORIGIN_KEYS = ("origin", "weights_origin", "source", "note", "init_origin", "vgg19_weights")
_RANDOM_WORDS = ("random", "test-made", "untrained")
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no", "", "none")


def package_versions() -> dict[str, str | None]:
    """Python's and each of `PACKAGES`' installed version (None when not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(root: str | os.PathLike | None = None) -> dict[str, object]:
    """{"commit": HEAD's hash, "dirty": whether tracked files have local changes} of the git
    checkout at `root` (default: this repository); both None outside a checkout or without git."""
    root = Path(root or Path(__file__).resolve().parents[1])
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, timeout=10, check=True).stdout
        return {"commit": commit, "dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def _checkpoint_metadata(path: Path) -> dict[str, str]:
    """The metadata a checkpoint carries (`foundation.checkpoints.read_checkpoint`; also under "meta"
    or "__metadata__" in older torch files), as strings; {} for a file the method's loader will refuse."""
    from foundation.checkpoints import read_checkpoint

    try:
        checkpoint = read_checkpoint(path, tensors=False)  # the metadata: a safetensors header is enough
    except UserError:
        return {}
    meta = checkpoint.metadata or next((value for key in ("meta", "__metadata__")
                                        if isinstance(value := checkpoint.entries.get(key), Mapping)), {})
    return {str(k): str(v) for k, v in meta.items()}


def is_random_label(meta: Mapping[str, object]) -> bool:
    """Whether checkpoint metadata says the weights are random or test-made: a true "random" flag
    (else a true "allow_random_vgg": trained from a random VGG19/LTE), or an origin text with
    "random", "test-made" or "untrained". Values may be bools or their `str` ("True")."""
    def flag(value: object) -> bool | None:
        text = str(value).strip().lower()
        return True if text in _TRUE else False if text in _FALSE else None

    flags = {key: flag(meta[key]) for key in _FLAG_KEYS if key in meta}
    if flags.get("random") or ("random" not in flags and flags.get("allow_random_vgg")):
        return True
    texts = [str(meta[k]) for k in _ORIGIN_KEYS if k in meta]
    texts += [str(meta[k]) for k in _FLAG_KEYS if k in flags and flags[k] is None]  # a sentence, not a flag
    text = " ".join(texts).lower()
    return any(word in text for word in _RANDOM_WORDS)


def weights_record(path: str | os.PathLike | None, found_in: str | None,
                   published_sha256: str | None = None) -> dict[str, object]:
    """Manifest entry of one method's weights (None: the method needs no weights).

    `published_sha256`: the published file's sha256 (or a known prefix of it, as hub file names
    carry) when the method's weights record knows it; `published` then says whether this file is
    that file (True / False), and a different file's origin says so. None: unknown.
    A file whose folder's SHA256SUMS records another digest (`foundation.download.check_recorded`)
    is a one-line `UserError`.
    """
    if path is None:
        return {"path": None, "sha256": None, "found_in": None, "origin": "none needed", "random": False}
    path = Path(path)
    meta = _checkpoint_metadata(path)
    random = is_random_label(meta)
    sha = sha256_file(path)
    check_recorded(path, sha)  # a file fetched without a published hash must still be the file fetched
    published = None if not published_sha256 else sha.startswith(published_sha256.lower())
    origin = RANDOM_LABEL if random else (meta.get("origin") or meta.get("source") or "as found")
    if published is False and not random:
        origin = f"{origin}; sha256 differs from the published file ({published_sha256[:16]}…): not the published weights"
    elif published:
        origin = "the published file (sha256 matches)" if origin == "as found" else origin
    return {
        "path": str(path.resolve()),
        "sha256": sha,
        "size_bytes": path.stat().st_size,
        "found_in": found_in,
        "metadata": meta,
        "random": random,
        "published": published,
        "origin": origin,
    }


def device_info(device: str) -> dict[str, object]:
    """Where numbers were computed: the device name, torch threads, platform, CPU, and on CUDA the
    GPU name and the CUDA / cuDNN versions."""
    import torch

    info: dict[str, object] = {"device": device, "torch_threads": torch.get_num_threads(),
                               "platform": platform.platform(), "cpu": platform.processor() or None}
    if device.startswith("cuda") and torch.cuda.is_available():
        index = torch.device(device).index or 0
        info["cuda_name"] = torch.cuda.get_device_name(index)
        info["cuda_version"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    return info
