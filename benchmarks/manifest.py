"""The run manifest (`<out>/manifest.json`): what produced the rows of a run folder.

Package versions, git commit (and whether the tree had local changes), device, seeds, the
protocol and its settings, and for every method the weights file used: path, sha256, where it
was found (`--weights`, `$TTSR_BENCH_WEIGHTS`, `./weights`) and what it is
(`foundation.provenance.weights_record`). Random or test-made weights are labelled so, in
capitals, here and in the run's printed output (`RANDOM_LABEL`).

Every invocation on the same run folder is appended to `invocations`; the top level describes
the latest one. Written atomically.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import sys
from pathlib import Path
from typing import Mapping

from foundation.errors import UserError
from foundation.fileio import atomic_write_text
from foundation.provenance import RANDOM_LABEL, device_info, git_state, package_versions, weights_record

__all__ = ["MANIFEST_FILE", "RANDOM_LABEL", "build", "check", "now", "read", "weights_record", "write"]

MANIFEST_FILE = "manifest.json"


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
