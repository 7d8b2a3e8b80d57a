"""Run folders as the report reads them (layout: docs/interfaces.md, "Runs"): found, checked (a damaged
or foreign file is one line naming it), and combined: each folder shows what its latest command asked
for (`results.select_current`); when folders share a pass, the newer folder's rows are shown.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from benchmarks import results
from benchmarks.views import KEY
from foundation.errors import UserError


@dataclass
class Run:
    """One run folder as its views see it: `rows` are the rows its latest command asked for
    (`results.select_current`), `created` when that command started."""

    name: str
    path: Path
    rows: pd.DataFrame
    manifest: dict
    skipped: list[dict]
    created: str = ""
    stored_rows: int = 0  # every row of rows.csv, earlier commands' included

    @property
    def random_methods(self) -> set[str]:
        return random_weight_methods(self.manifest)

    @property
    def weight_origins(self) -> dict[str, tuple[str, str]]:
        """{method: (weights_origin, trained_on)} where the manifest's weights record says them."""
        return {m: (str(r["weights_origin"]), str(r.get("trained_on") or ""))
                for m, r in weight_records(self.manifest).items() if r.get("weights_origin")}

    @property
    def has_images(self) -> bool:
        return (self.path / "images").is_dir()

    def config_of(self, method: str, dataset: str, protocol: str, ref_mode: str) -> str:
        """The config_id the latest command used for a pass ("" when the folder records none)."""
        for item in (self.manifest.get("plan") or {}).get("passes") or []:
            if (item.get("method"), item.get("dataset"), item.get("protocol"), item.get("ref_mode")) == \
                    (method, dataset, protocol, ref_mode):
                return str(item.get("config_id", ""))
        return ""


def weight_records(manifest: dict) -> dict[str, dict]:
    """{method: its weights record} for the latest command's configurations when the manifest
    records them, else its `weights`."""
    weights = {str(k): v for k, v in (manifest.get("weights") or {}).items() if isinstance(v, dict)}
    plan, configs = manifest.get("plan") or {}, manifest.get("configs") or {}
    for item in plan.get("passes") or []:
        record = (configs.get(item.get("config_id")) or {}).get("weights")
        if isinstance(record, dict):
            weights[str(item.get("method"))] = record
    return weights


def random_weight_methods(manifest: dict) -> set[str]:
    """Methods whose weights the manifest says are random / test-made (`weight_records`)."""
    found = {str(m) for m in manifest.get("random_weights", []) or []}
    for method, info in weight_records(manifest).items():
        if info.get("random") is True or "random" in str(info.get("origin", "")).lower():
            found.add(str(method))
    return found


def find_run_dirs(paths: Iterable[str | Path]) -> list[Path]:
    """Each path is a run folder (it holds rows.csv) or a folder of run folders."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if (path / "rows.csv").is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if (p / "rows.csv").is_file()))
        else:
            raise UserError(f"{path}: no such run folder; pass a folder written by "
                            f"`python -m benchmarks.run --out {path}` (it holds rows.csv)")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise UserError(f"no run folder (with rows.csv) under {', '.join(map(str, paths))}; "
                        f"run `python -m benchmarks.run --out runs/NAME` first")
    return unique


_DAMAGED = "the run folder is damaged: rerun `python -m benchmarks.run` with the same --out to rewrite it"


def _read_json(path: Path, kind: type, what: str):
    """A run folder's JSON file, which must hold a `kind`; absent: an empty one. `UserError` (one line
    naming the file) for a file that cannot be read, is not JSON, or holds something else."""
    if not path.is_file():
        return kind()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise UserError(f"{path}: not readable JSON ({type(err).__name__}); {_DAMAGED}") from err
    if not isinstance(data, kind):
        raise UserError(f"{path}: holds a JSON {type(data).__name__}, expected {what}; {_DAMAGED}")
    return data


def _check_skipped(path: Path, items: list) -> list[dict]:
    for number, item in enumerate(items):
        if not isinstance(item, dict) or not all(isinstance(item.get(k, ""), str) for k in ("what", "reason", "fix")):
            raise UserError(f"{path}: item {number} is not a {{what, reason, fix}} record of text; {_DAMAGED}")
    return items


# the manifest fields a report reads: (JSON types the runner writes, type of each element or None, words)
_MANIFEST_TYPES = {"created": ((str,), None, "text"), "argv": ((list,), None, "list"),
                   "protocol": ((dict, str), None, "object or text"), "device": ((dict, str), None, "object or text"),
                   "seeds": ((dict,), None, "object"), "weights": ((dict,), dict, "object of objects"),
                   "random_weights": ((list,), str, "list of method names"), "versions": ((dict,), None, "object"),
                   "git": ((dict,), None, "object"), "configs": ((dict,), None, "object"),
                   "world_size": ((int,), None, "whole number"), "data_root": ((str,), None, "text")}


def _check_manifest(path: Path, manifest: dict) -> dict:
    """`UserError` (one line naming the file and key) for a field of the wrong JSON type."""
    for key, (kinds, element, words) in _MANIFEST_TYPES.items():
        value = manifest.get(key)
        if value is None:
            continue
        elements = (value.values() if isinstance(value, dict) else value) if element else ()
        if not isinstance(value, kinds) or not all(isinstance(v, element) for v in elements):
            raise UserError(f"{path}: {key} is {json.dumps(value)[:40]}, expected {words}; {_DAMAGED}")
    return manifest


def _check_plan(path: Path, manifest: dict) -> dict | None:
    plan = manifest.get("plan")
    if plan is None:
        return None
    passes, data = (plan.get("passes"), plan.get("data")) if isinstance(plan, dict) else (None, None)
    ok = isinstance(passes, list) and isinstance(data, dict) and all(
        isinstance(p, dict) and all(isinstance(p.get(k), str) for k in ("method", "dataset", "protocol",
                                                                          "ref_mode", "config_id"))
        for p in passes) and all(isinstance(v, dict) for v in data.values())
    if not ok:
        raise UserError(f"{path}: its plan is not the runner's ({{passes: [...], data: {{...}}}}); {_DAMAGED}")
    return plan


def load_run(path: Path) -> Run:
    """Read a run folder, checked: `UserError` (one line naming the file) for a damaged or foreign one."""
    manifest = _check_manifest(path / "manifest.json",
                               _read_json(path / "manifest.json", dict, "an object (the run manifest)"))
    skipped = _check_skipped(path / "skipped.json", _read_json(path / "skipped.json", list, "a list of skip records"))
    plan = _check_plan(path / "manifest.json", manifest)
    _, stored = results.read_rows(path / "rows.csv")
    current = results.select_current(stored, plan)
    requested = (manifest.get("metrics") or {}).get("requested") if isinstance(manifest.get("metrics"), dict) else None
    if plan is not None and isinstance(requested, list):  # only the measures the latest command asked for
        current = results.asked_measures(current, list(map(str, requested)))
    rows = _frame(results.load_frame("", current))
    created = str((plan or {}).get("created") or manifest.get("created") or "")
    return Run(name=path.name, path=path, rows=rows, manifest=manifest, skipped=skipped, created=created,
               stored_rows=len(stored))


def _frame(frame: pd.DataFrame) -> pd.DataFrame:
    for column in KEY:
        if column not in frame.columns:
            frame[column] = ""
        frame[column] = frame[column].astype(str)
    for column in ("psnr", "ssim"):
        if column not in frame.columns:
            frame[column] = float("nan")
    return frame


def combined_rows(runs: Sequence[Run]) -> pd.DataFrame:
    """The rows every view shows, with a `run` column: for each pass (method, dataset, protocol,
    ref_mode) the rows of the run folder whose latest command is the newest among those holding that
    pass — a whole pass from one folder, never images of one folder mixed with another's."""
    frames = [r.rows.assign(run=r.name) for r in sorted(runs, key=lambda r: r.created) if not r.rows.empty]
    if not frames:
        return pd.DataFrame(columns=KEY + ["psnr", "ssim", "run"])
    frame = pd.concat(frames, ignore_index=True, sort=False)
    group = ["method", "dataset", "protocol", "ref_mode"]
    newest = frame.groupby(group, sort=False)["run"].transform("last")
    return frame[frame["run"] == newest].reset_index(drop=True)


def current_skips(runs: Sequence[Run], frame: pd.DataFrame) -> list[dict]:
    """Skip records of the runs shown, each with its `run`; a record about a method or dataset that a
    newer run measured is left out (it no longer holds for what is shown)."""
    created = {r.name: r.created for r in runs}
    shown: dict[str, str] = {}
    if not frame.empty:
        for column in ("method", "dataset"):
            for name, run in frame.groupby(column)["run"].last().items():
                shown[f"{column} {name}"] = max(shown.get(f"{column} {name}", ""), created.get(run, ""))
    records = []
    for run in runs:
        for item in run.skipped:
            subject = str(item.get("what", ""))
            if subject in shown and shown[subject] > run.created:
                continue
            records.append(dict(item, run=run.name))
    return records


def manifest_view(run: Run) -> dict:
    m = run.manifest or {}
    device = m.get("device")
    if isinstance(device, dict):
        device_text = ", ".join(str(device[k]) for k in ("device", "cuda_name", "platform") if device.get(k))
    else:
        device_text = str(device or "–")
    git = m.get("git") if isinstance(m.get("git"), dict) else {}
    commit = git.get("commit") or m.get("git_commit") or m.get("commit")
    protocol = m.get("protocol")
    protocol_text = protocol.get("name") if isinstance(protocol, dict) else protocol
    weights = []
    for method, info in (m.get("weights") or {}).items():
        info = info if isinstance(info, dict) else {"path": str(info)}
        weights.append({"method": method, "path": info.get("path") or "–",
                        "sha256": info.get("sha256") or "–", "found_in": info.get("found_in") or "–",
                        "origin": info.get("origin") or "–",
                        "weights_origin": info.get("weights_origin") or "", "trained_on": info.get("trained_on") or "",
                        "random": method in run.random_methods})
    versions = m.get("versions") if isinstance(m.get("versions"), dict) else {}
    return {
        "name": run.name, "path": str(run.path), "created": m.get("created", "–"),
        "argv": " ".join(map(str, m.get("argv", []))) if isinstance(m.get("argv"), list) else str(m.get("argv", "–")),
        "protocol": protocol_text or ", ".join(sorted(set(run.rows["protocol"]))) or "–",
        "device": device_text, "commit": commit or "–", "dirty": git.get("dirty"),
        "world_size": m.get("world_size", "–"), "seeds": m.get("seeds", {}), "versions": versions,
        "weights": weights, "random": sorted(run.random_methods), "rows": int(len(run.rows)),
        "stored_rows": run.stored_rows, "manifest_uri": (run.path / "manifest.json").resolve().as_uri(),
        "passes": [{**{k: str(p.get(k, "")) for k in ("method", "dataset", "protocol", "ref_mode", "config_id")},
                    "weights_sha256": str(((m.get("configs") or {}).get(p.get("config_id")) or {})
                                          .get("config", {}).get("weights_sha256", ""))}
                   for p in (m.get("plan") or {}).get("passes") or []],
        "json": json.dumps(m, indent=2, default=str) if m else "(no manifest.json)",
    }


