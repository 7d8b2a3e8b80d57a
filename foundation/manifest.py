"""The run manifest (`<out>/manifest.json`): what produced the rows of a run folder.

Package versions, git commit (and whether the tree had local changes), device, seeds, the
protocol and its settings, and for every method the weights file used: path, sha256, where it
was found (`--weights`, `$TTSR_BENCH_WEIGHTS`, `./weights`) and what it is. Weights whose
checkpoint metadata says they are random or made by a test are labelled so, in capitals, here and
in the run's printed output, so nobody mistakes such a run for a measurement of the paper.

Every invocation on the same run folder is appended to `invocations`; the top level describes
the latest one. Written atomically.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Mapping

from foundation.fileio import atomic_write_text

MANIFEST_FILE = "manifest.json"
PACKAGES = ("ttsr-bench", "torch", "torchvision", "numpy", "pillow", "scipy", "scikit-image",
            "pandas", "lpips", "piq", "safetensors", "tqdm")
RANDOM_LABEL = "RANDOM WEIGHTS (test-made, not a published checkpoint): numbers mean nothing"
# Metadata a checkpoint may carry to say it is not a trained model (training.trainer's exports write
# "random" (bool) and "origin"; baselines.srntt.convert of random_release files writes "origin").
_FLAG_KEYS = ("random", "allow_random_vgg")  # a true value says random ("random" decides when present)
_ORIGIN_KEYS = ("origin", "weights_origin", "source", "note", "init_origin", "vgg19_weights")
_RANDOM_WORDS = ("random", "test-made", "untrained")
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no", "", "none")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(root: str | os.PathLike | None = None) -> dict[str, object]:
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
    """String metadata stored in a checkpoint (safetensors header, or a `metadata`/`meta` dict in a
    torch file); empty when there is none or the file cannot be read that way."""
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                header = dict(handle.metadata() or {})
            try:  # ttsr.checkpoint.save_ttsr keeps its metadata as one JSON string
                nested = json.loads(header.pop("metadata", "{}"))
            except ValueError:
                nested = {}
            if isinstance(nested, dict):
                header.update({str(k): str(v) for k, v in nested.items()})
            return header
        import torch

        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - the method's own loader reports unreadable files
        return {}
    if isinstance(obj, dict):
        for key in ("metadata", "meta", "__metadata__"):
            if isinstance(obj.get(key), dict):
                return {str(k): str(v) for k, v in obj[key].items()}
    return {}


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
    """
    if path is None:
        return {"path": None, "sha256": None, "found_in": None, "origin": "none needed", "random": False}
    path = Path(path)
    meta = _checkpoint_metadata(path)
    random = is_random_label(meta)
    sha = sha256_file(path)
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
    import torch

    info: dict[str, object] = {"device": device, "torch_threads": torch.get_num_threads(),
                               "platform": platform.platform(), "cpu": platform.processor() or None}
    if device.startswith("cuda") and torch.cuda.is_available():
        index = torch.device(device).index or 0
        info["cuda_name"] = torch.cuda.get_device_name(index)
        info["cuda_version"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    return info


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


def build(*, argv: list[str], protocol: Mapping[str, object], device: str, seeds: Mapping[str, object],
          weights: Mapping[str, Mapping[str, object]], metrics: Mapping[str, object],
          peak_memory: str, world_size: int, data_root: str | None,
          created: str | None = None, plan: Mapping[str, object] | None = None,
          configs: Mapping[str, object] | None = None) -> dict[str, object]:
    """The manifest of one command. `plan`: what it asked for (`benchmarks.runner.plan.Passes.record`:
    the passes with their config ids and the images' data hashes: what the folder's views show);
    `configs`: config_id -> {config, weights} for every configuration (kept across commands)."""
    return {
        "plan": dict(plan or {}),
        "configs": dict(configs or {}),
        "created": created or now(),
        "argv": list(argv),
        "protocol": dict(protocol),
        "data_root": data_root,
        "device": device_info(device),
        "world_size": world_size,
        "seeds": dict(seeds),
        "weights": {k: dict(v) for k, v in weights.items()},
        "random_weights": sorted(k for k, v in weights.items() if v.get("random")),
        "metrics": dict(metrics),
        "peak_memory_measure": peak_memory,
        "versions": package_versions(),
        "git": git_state(),
        "python_executable": sys.executable,
    }


def write(run_dir: str | os.PathLike, manifest: Mapping[str, object]) -> Path:
    """Write the manifest, keeping earlier invocations on this run folder under `invocations`."""
    target = Path(run_dir) / MANIFEST_FILE
    history: list = []
    old: dict = {}
    if target.exists():
        try:
            old = json.loads(target.read_text(encoding="utf-8"))
            old = old if isinstance(old, dict) else {}
            history = [h for h in old.get("invocations", []) if isinstance(h, dict)] \
                if isinstance(old.get("invocations"), list) else []
        except (OSError, ValueError):
            old, history = {}, []
    entry = {k: manifest.get(k) for k in ("created", "argv", "git", "world_size")}
    if isinstance(old_configs := old.get("configs"), dict):
        # every configuration a row of this folder may carry stays described
        manifest = {**manifest, "configs": {**old_configs, **(manifest.get("configs") or {})}}
    if history and history[-1].get("created") == entry["created"]:
        history[-1] = entry  # the same invocation writing again (start, then end)
    else:
        history.append(entry)
    data = {**manifest, "invocations": history}
    atomic_write_text(target, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    return target


def check(run_dir: str | os.PathLike) -> None:
    """Before a run adds to a folder: its manifest, if any, must be a JSON object (it describes the
    configurations of the rows already there), else `UserError` (one line); nothing is overwritten."""
    from foundation.errors import UserError

    target = Path(run_dir) / MANIFEST_FILE
    if not target.exists():
        return
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        data = err
    if not isinstance(data, dict) or not isinstance(data.get("configs", {}), dict):
        raise UserError(f"{target}: damaged (not the run manifest); it describes the rows already in this folder, "
                        "so it is not overwritten: move it away (rows.csv keeps each row's identity) or choose "
                        "another --out")


def read(run_dir: str | os.PathLike) -> dict[str, object]:
    target = Path(run_dir) / MANIFEST_FILE
    return json.loads(target.read_text(encoding="utf-8")) if target.exists() else {}
