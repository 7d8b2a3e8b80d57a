"""The report: `python -m benchmarks.report --runs runs/… --out reports/`.

Reads run folders (the layout of docs/interfaces.md, "Runs") and renders a self-contained folder:
`index.html` (jinja2; inline CSS and JS, relative links, no network), `README.md` and `report.md`
(the same tables in Markdown), and `assets/` (plots and re-encoded thumbnails).

Sections: one per published table in the paper's layout (measured / paper / Δ per cell, coloured
by the table's tolerance, ⚠ on unconfirmed paper values, reasons for what was not measured), other
measured results, the perceptual measures per dataset with a perception–distortion scatter,
visual comparisons with the reference regions hard attention used, per-image tables (sortable),
run manifests, and what was skipped.
"""
from __future__ import annotations

import datetime as _dt
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from benchmarks import plots, published, visuals
from benchmarks.report_text import as_number, fmt, render_markdown
from foundation.cli_types import OneLineParser, whole_number
from foundation.errors import UserError, cli_main
from foundation.fileio import atomic_write_text, check_output_dir, check_output_file

KEY = ["method", "dataset", "protocol", "ref_mode", "image"]
NON_METRIC = set(KEY) | {"seconds", "peak_mem_mb", "run", "finished", "config_id", "weights_sha256", "data_sha256"}
TEMPLATES = Path(__file__).with_name("templates")
MARKER = ".ttsr-bench-report"
# Protocols whose rows may fill another paper table's cell with the same dataset and reference mode
# (same degradation and metric settings: the TTSR release convention). The SISR protocol differs.
REFSR_TABLE_PROTOCOLS = ("table1", "table2", "table3", "table4")
# Directions of measures, for runs made where metrics cannot be imported.
_DIRECTIONS = {"psnr": True, "ssim": True, "lpips": False, "ms-ssim": True, "fsim": True, "gmsd": False,
               "vif": True, "haarpsi": True, "dists": False}
_EXPECTED = {"cufed5": 126, "sun80": 80, "urban100": 100, "manga109": 109, "set5": 5, "set14": 14,
             "bsd100": 100}
_REFSR_PREFERENCE = ("ttsr-rec", "ttsr", "srntt-rec", "srntt")


# --------------------------------------------------------------------------------------------- runs
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
    def has_images(self) -> bool:
        return (self.path / "images").is_dir()

    def config_of(self, method: str, dataset: str, protocol: str, ref_mode: str) -> str:
        """The config_id the latest command used for a pass ("" when the folder records none)."""
        for item in (self.manifest.get("plan") or {}).get("passes") or []:
            if (item.get("method"), item.get("dataset"), item.get("protocol"), item.get("ref_mode")) == \
                    (method, dataset, protocol, ref_mode):
                return str(item.get("config_id", ""))
        return ""


def random_weight_methods(manifest: dict) -> set[str]:
    """Methods whose weights the manifest says are random / test-made (for the latest command's
    configurations when the manifest records them, else its `weights`)."""
    found = {str(m) for m in manifest.get("random_weights", []) or []}
    weights = dict(manifest.get("weights") or {})
    plan, configs = manifest.get("plan") or {}, manifest.get("configs") or {}
    for item in plan.get("passes") or []:
        record = (configs.get(item.get("config_id")) or {}).get("weights")
        if isinstance(record, dict):
            weights[str(item.get("method"))] = record
    for method, info in weights.items():
        if isinstance(info, dict) and (info.get("random") is True or "random" in str(info.get("origin", "")).lower()):
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
    from benchmarks import results

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


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """psnr, ssim, lpips, then the extra measures present, in file order (columns with any value)."""
    cols = [c for c in frame.columns if c not in NON_METRIC and frame[c].notna().any()]
    base = [c for c in ("psnr", "ssim", "lpips") if c in cols]
    return base + [c for c in cols if c not in base]


def higher_is_better(metric: str) -> bool | None:
    try:
        from metrics import REGISTRY
        spec = REGISTRY.get(metric) or REGISTRY.get(metric.replace("_", "-"))
        if spec is not None:
            return bool(spec.higher_is_better)
    except Exception:  # noqa: BLE001 - a report must render without the metric stack
        pass
    return _DIRECTIONS.get(metric.lower().replace("_", "-"))


def expected_count(dataset: str) -> int | None:
    try:
        from benchmarks.datasets.registry import DATASETS
        info = DATASETS.get(dataset)
        if info is not None:
            return int(info.expected)
    except Exception:  # noqa: BLE001
        pass
    return _EXPECTED.get(dataset)


def suite_methods() -> set[str] | None:
    """Methods the suite can run (the registry), or None when it cannot be imported here."""
    try:
        from baselines import registry
        return set(registry.names())
    except Exception:  # noqa: BLE001
        return None


# -------------------------------------------------------------------------------------- view model


@dataclass
class Measured:
    psnr: float | None
    ssim: float | None
    lpips: float | None
    images: int
    expected: int | None
    protocol: str
    run: str
    config_id: str = ""

    @property
    def partial(self) -> bool:
        return self.expected is not None and self.images < self.expected


@dataclass
class CellView:
    column: str
    paper: published.PublishedCell | None
    measured: Measured | None
    judgement: published.Judgement | None = None
    random: bool = False
    reason: str = ""  # why there is no measurement
    measured_as: str = ""  # the alias whose rows filled the cell (e.g. ttsr-rec for Table 3's CSFI row)

    @property
    def status(self) -> str:
        if self.measured is None:
            return "paper-only" if self.paper else "empty"
        if self.random:
            return "random"
        if self.judgement is None:
            return "measured"
        if self.measured.partial:
            return "partial"  # part of a test set: Δ shown, not judged against the tolerance
        return self.judgement.status

    @property
    def loud(self) -> bool:
        """Far outside tolerance on a complete test set with real weights."""
        return self.status == "far"

    def measured_text(self) -> str:
        m = self.measured
        if m is None:
            return "–"
        text = f"{fmt(m.psnr, 3)} / {fmt(m.ssim, 4)}"
        return text

    def paper_text(self) -> str:
        return self.paper.format() if self.paper else "–"

    def delta_text(self) -> str:
        j = self.judgement
        if j is None:
            return ""
        parts = []
        if j.delta_psnr is not None:
            parts.append(f"{fmt(j.delta_psnr, 2, signed=True)} dB")
        if j.delta_ssim is not None:
            parts.append(fmt(j.delta_ssim, 4, signed=True))
        return " / ".join(parts)


@dataclass
class RowView:
    method: str
    label: str
    in_paper: bool
    note: str
    random: bool
    cells: dict[str, CellView]
    flags: dict[str, bool] = field(default_factory=dict)
    params: int | None = None
    params_main: int | None = None
    params_paper: dict | None = None

    @property
    def params_m(self) -> float | None:
        """The suite's count in the paper's unit: 'M' = 2^20 parameters, LTE included (ttsr.model)."""
        return None if self.params is None else self.params / 2 ** 20

    @property
    def params_match(self) -> bool | None:
        """Whether the suite's count, printed as the paper prints it (two decimals), equals the paper's."""
        if self.params is None or not self.params_paper or self.params_paper.get("value") is None:
            return None
        return f"{self.params_m:.2f}" == f"{self.params_paper['value'] / 1e6:.2f}"

    @property
    def reason(self) -> str:
        """The reason shared by every unmeasured paper cell of a row that has no measurement at all."""
        cells = list(self.cells.values())
        if any(c.measured for c in cells):
            return ""
        reasons = {c.reason for c in cells if c.paper is not None}
        return reasons.pop() if len(reasons) == 1 else ""


@dataclass
class TableView:
    name: str
    title: str
    note: str
    columns: list[published.Column]
    rows: list[RowView]
    tolerance: published.Tolerance
    far: published.Tolerance
    flag_names: list[str]
    has_params: bool
    measured_protocols: list[str]
    sources: list[str]
    plots: list[dict] = field(default_factory=list)

    def cells(self) -> Iterable[tuple[RowView, CellView]]:
        for row in self.rows:
            for column in self.columns:
                yield row, row.cells[column.key]

    @property
    def measured_count(self) -> int:
        return sum(1 for _, c in self.cells() if c.measured is not None)

    @property
    def paper_measured_count(self) -> int:
        return sum(1 for _, c in self.cells() if c.measured is not None and c.paper is not None)

    @property
    def paper_count(self) -> int:
        return sum(1 for _, c in self.cells() if c.paper is not None)

    def coverage_text(self) -> str:
        """The one count every view prints (console, report.md, index.html, the report command)."""
        text = f"measured {self.paper_measured_count} of {self.paper_count} paper cells"
        extra = self.measured_count - self.paper_measured_count
        if extra:
            text += f", and {extra} measured cell(s) the paper has no number for"
        return text

    def gaps(self) -> list[tuple[RowView, CellView]]:
        """Paper cells with no measurement."""
        return [(r, c) for r, c in self.cells() if c.paper is not None and c.measured is None]

    def loud_cells(self) -> list[tuple[RowView, CellView]]:
        return [(r, c) for r, c in self.cells() if c.measured is not None and c.loud]

    def flagged_cells(self) -> list[tuple[RowView, CellView]]:
        return [(r, c) for r, c in self.cells() if c.status in ("off", "far")]


def _summary(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame(columns=["method", "dataset", "protocol", "ref_mode", "run", "images"])
    values = [c for c in metric_columns(frame)]
    grouped = frame.groupby(["method", "dataset", "protocol", "ref_mode"], sort=False, dropna=False)
    out = grouped[values].mean() if values else grouped.size().to_frame("images").iloc[:, :0]
    out["images"] = grouped.size()
    out["run"] = grouped["run"].last()
    if "config_id" in frame.columns:
        out["config_id"] = grouped["config_id"].last()
    return out.reset_index()


def _cell_reason(method: str, column: published.Column, table: str, suite: set[str] | None,
                 skipped: list[dict], ran_protocols: set[str], ran_methods: set[str]) -> str:
    """Why a paper cell has no measurement: not in the suite, protocol not run, method skipped (weights
    missing: the runner's skipped.json, whose fix is listed in the Skipped section), dataset missing,
    method not selected."""
    if suite is not None and method not in suite:
        return "method not in the suite: paper number only"
    feeds = {table} | (set(REFSR_TABLE_PROTOCOLS) if table != "sisr" else set())
    if not feeds & ran_protocols:
        run = table if table in REFSR_TABLE_PROTOCOLS + ("sisr",) else "table1"
        return f"not run: python -m benchmarks.reproduce {run}"

    def words(item: dict) -> list[str]:
        return str(item.get("what", "")).lower().replace(":", " ").replace("/", " ").split()

    for item in skipped:
        if method in words(item):
            return _skip_text(item)
    if method not in ran_methods:
        return "method not run (not selected, or no weights: python -m benchmarks.weights list)"
    for item in skipped:
        if column.dataset in words(item) and "incomplete" not in str(item.get("what", "")).lower():
            return _skip_text(item)
    return "not measured in these runs"


def _skip_text(item: dict) -> str:
    parts = [str(item.get("what", "")).strip(), str(item.get("reason", "")).strip()]
    return ": ".join(p for p in parts if p) + " (fix: see Skipped)"


def _param_count(variant: str | None, part: str | None = None) -> int | None:
    """`ttsr.model.parameter_count` of a `ttsr.config.VARIANTS` network (None: no variant)."""
    if not variant:
        return None
    try:
        from ttsr.config import VARIANTS
        from ttsr.model import parameter_count
        return int(parameter_count(VARIANTS[variant], part))
    except Exception:  # noqa: BLE001 - the network may be absent in a partial checkout
        return None


def build_table(pub: published.PublishedTable, summary: pd.DataFrame, random: set[str],
                skipped: list[dict], suite: set[str] | None) -> TableView:
    """The paper's rows first (its order), then methods measured under the protocol but not in it."""
    ran = set(summary["protocol"]) if not summary.empty else set()
    feeds = [pub.name] + ([p for p in REFSR_TABLE_PROTOCOLS if p != pub.name] if pub.name != "sisr" else [])
    ran_methods = set(summary.loc[summary["protocol"].isin(feeds), "method"]) if not summary.empty else set()
    measured: dict[tuple[str, str], Measured] = {}
    protocols_used: list[str] = []
    if not summary.empty:
        candidates = summary[summary["protocol"].isin(feeds)]
        for column in pub.columns:
            part = candidates[candidates["dataset"].str.lower() == column.dataset]
            if column.ref_mode != "*":
                part = part[part["ref_mode"].map(published.normalize_ref_mode) == column.ref_mode]
            for rank, protocol in enumerate(feeds):
                for rec in part[part["protocol"] == protocol].to_dict("records"):
                    key = (rec["method"], column.key)
                    if key in measured:
                        continue
                    measured[key] = Measured(
                        psnr=as_number(rec.get("psnr")), ssim=as_number(rec.get("ssim")), lpips=as_number(rec.get("lpips")),
                        images=int(rec["images"]), expected=expected_count(column.dataset),
                        protocol=protocol, run=str(rec.get("run", "")), config_id=str(rec.get("config_id", "") or ""))
                    if protocol not in protocols_used:
                        protocols_used.append(protocol)
    own_methods = list(dict.fromkeys(
        m for m in summary.loc[summary["protocol"] == pub.name, "method"])) if not summary.empty else []
    methods = pub.methods + [m for m in own_methods if pub.row(m) is None]
    random_rows = {m for m in methods if m in random}
    rows: list[RowView] = []
    for method in methods:
        prow = pub.row(method)
        cells: dict[str, CellView] = {}
        for column in pub.columns:
            paper = prow.cells.get(column.key) if prow else None
            source_method = next((name for name in (method, *(prow.aliases if prow else ()))
                                  if (name, column.key) in measured), method)
            m = measured.get((source_method, column.key))
            cell = CellView(column=column.key, paper=paper, measured=m, random=source_method in random,
                            measured_as=source_method if source_method != method else "")
            if m is not None and paper is not None:
                cell.judgement = published.judge(pub.name, paper, m.psnr, m.ssim)
            if m is None and paper is not None:
                cell.reason = _cell_reason(method, column, pub.name, suite, skipped, ran, ran_methods)
            cells[column.key] = cell
        rows.append(RowView(
            method=method, label=prow.label if prow else method, in_paper=prow is not None,
            note=prow.note if prow else "", random=any(c.random for c in cells.values()) or method in random_rows,
            cells=cells,
            flags=dict(prow.flags) if prow else {},
            params=_param_count(prow.variant) if prow and pub.name == "table3" else None,
            params_main=_param_count(prow.variant, "MainNet") if prow and pub.name == "table3" else None,
            params_paper=prow.params_paper if prow else None))
    flag_names = list(dict.fromkeys(k for r in pub.rows for k in r.flags))
    used_sources = sorted({c.paper.source for r in rows for c in r.cells.values() if c.paper})
    return TableView(name=pub.name, title=pub.title, note=pub.note, columns=list(pub.columns), rows=rows,
                     tolerance=pub.tolerance, far=pub.far, flag_names=flag_names,
                     has_params=any(r.params_paper for r in pub.rows), measured_protocols=protocols_used,
                     sources=used_sources)


@dataclass
class GroupView:
    """One (protocol, dataset, ref_mode) pass: per-method means and per-image values."""

    protocol: str
    dataset: str
    ref_mode: str
    anchor: str
    methods: list[str]
    metrics: list[str]
    means: dict[str, dict[str, float | None]]  # method -> metric -> mean
    best: dict[str, str]                         # metric -> best method
    images: list[str]
    per_image: dict[str, dict[str, tuple[float | None, float | None]]]  # image -> method -> (psnr, ssim)
    random: set[str]
    counts: dict[str, int] = field(default_factory=dict)  # method -> images measured
    plots: list[dict] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.dataset} · {self.protocol} · ref {self.ref_mode}"


def _anchor(*parts: str) -> str:
    return "-".join("".join(ch if ch.isalnum() else "_" for ch in p) for p in parts)


def build_groups(frame: pd.DataFrame, random: set[str]) -> list[GroupView]:
    groups: list[GroupView] = []
    metrics_all = metric_columns(frame)
    for (protocol, dataset, ref_mode), part in frame.groupby(["protocol", "dataset", "ref_mode"], sort=False):
        metrics = [m for m in metrics_all if part[m].notna().any()]
        methods = list(dict.fromkeys(part["method"]))
        if "bicubic" in methods:
            methods.remove("bicubic")
            methods.insert(0, "bicubic")
        means_frame = part.groupby("method", sort=False)[metrics].mean()
        means = {m: {k: as_number(means_frame.loc[m, k]) for k in metrics} for m in methods}
        best = {}
        for metric in metrics:
            hib = higher_is_better(metric)
            vals = {m: v[metric] for m, v in means.items() if v[metric] is not None and m not in random}
            if hib is not None and vals:
                best[metric] = (max if hib else min)(vals, key=vals.get)
        per_image: dict[str, dict[str, tuple]] = {}
        for rec in part[["image", "method", "psnr", "ssim"]].itertuples(index=False):
            per_image.setdefault(rec.image, {})[rec.method] = (as_number(rec.psnr), as_number(rec.ssim))
        groups.append(GroupView(protocol=protocol, dataset=dataset, ref_mode=ref_mode,
                                anchor=_anchor("g", protocol, dataset, ref_mode), methods=methods,
                                metrics=metrics, means=means, best=best, images=list(per_image),
                                per_image=per_image, random=random,
                                counts={m: int(n) for m, n in part.groupby("method", sort=False).size().items()}))
    return groups


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


# ------------------------------------------------------------------------------------------ render
@dataclass
class Report:
    out: Path
    index: Path
    tables: dict[str, TableView]
    groups: list[GroupView]
    runs: list[Run]
    seconds: float

    def gaps(self, table: str) -> list[tuple[RowView, CellView]]:
        return self.tables[table].gaps() if table in self.tables else []

    def loud(self, table: str | None = None) -> list[tuple[str, RowView, CellView]]:
        names = [table] if table else list(self.tables)
        return [(n, r, c) for n in names if n in self.tables for r, c in self.tables[n].loud_cells()]


def _plots_for_tables(tables: dict[str, TableView], plot_dir: Path, rel: str) -> None:
    for view in tables.values():
        if view.name == "table4":
            measured, paper = {}, {}
            for row in view.rows:
                for column in view.columns:
                    c = row.cells[column.key]
                    if c.measured and c.measured.psnr is not None:
                        measured.setdefault(row.method, {})[column.label] = c.measured.psnr
                    if c.paper and c.paper.psnr is not None:
                        paper.setdefault(row.method, {})[column.label] = c.paper.psnr
            name = "table4-psnr-vs-level.png"
            plots.psnr_vs_level([c.label for c in view.columns], measured, paper, plot_dir / name,
                                title="Table 4: PSNR against reference level (dashed: paper)")
            view.plots.append({"src": f"{rel}/{name}", "caption": "PSNR against the reference level per method; "
                               "solid measured, dashed the paper (⚠ unconfirmed except TTSR-rec L1)"})
            continue
        if view.name not in ("table1", "sisr"):
            continue
        for column in view.columns:
            rows = [r for r in view.rows if r.cells[column.key].measured is not None
                    or r.cells[column.key].paper is not None]
            if not any(r.cells[column.key].measured for r in rows):
                continue
            name = f"{view.name}-{column.key}-bars.png"
            plots.bars_vs_paper(
                [r.method for r in rows],
                [r.cells[column.key].measured.psnr if r.cells[column.key].measured else None for r in rows],
                [r.cells[column.key].paper.psnr if r.cells[column.key].paper else None for r in rows],
                plot_dir / name, title=f"{column.label}: PSNR (paper ticked)",
                random_methods=[r.method for r in rows if r.random])
            view.plots.append({"src": f"{rel}/{name}",
                               "caption": f"{column.label}: bars measured, black ticks the paper's value; "
                                          "hatched bars are random weights"})


def _plots_for_groups(groups: list[GroupView], frame: pd.DataFrame, plot_dir: Path, rel: str) -> None:
    for g in groups:
        part = frame[(frame["protocol"] == g.protocol) & (frame["dataset"] == g.dataset)
                     & (frame["ref_mode"] == g.ref_mode)]
        if "bicubic" in g.methods and len(g.methods) > 1:
            images = g.images
            bic = [g.per_image[i].get("bicubic", (None, None))[0] for i in images]
            per_method = {m: [g.per_image[i].get(m, (None, None))[0] for i in images]
                          for m in g.methods if m != "bicubic"}
            name = f"{g.anchor}-vs-bicubic.png"
            plots.per_image_vs_bicubic(bic, per_method, plot_dir / name,
                                       title=f"{g.dataset} ({g.ref_mode}): per image against bicubic")
            g.plots.append({"kind": "vs-bicubic", "src": f"{rel}/{name}",
                            "caption": "PSNR per image against bicubic on the same image (above the line: better)"})
        perceptual = next((m for m in ("lpips", "dists") if m in g.metrics), None)
        if perceptual is None:
            perceptual = next((m for m in g.metrics if m not in ("psnr", "ssim") and higher_is_better(m) is False), None)
        if perceptual is not None:
            points = {}
            for method, sub in part.groupby("method", sort=False):
                points[method] = (sub[perceptual].tolist(), sub["psnr"].tolist())
            name = f"{g.anchor}-perception.png"
            hib = higher_is_better(perceptual)
            plots.perception_distortion(points, perceptual.upper(), plot_dir / name,
                                        title=f"{g.dataset} ({g.ref_mode}): PSNR against {perceptual.upper()}",
                                        lower_is_better=hib is False)
            g.plots.append({"kind": "perception", "src": f"{rel}/{name}",
                            "caption": f"perception–distortion: PSNR against {perceptual.upper()} per image "
                                       "(small) and the mean per method (large)"})


def _image_stem(image: str, dataset: str, ref_mode: str) -> str:
    try:
        from benchmarks.results import image_stem
        return image_stem(image, dataset, ref_mode)
    except Exception:  # noqa: BLE001
        return image


def build_comparisons(runs: Sequence[Run], per_group: int, limit: int, out_dir: Path,
                      rel: str) -> list[visuals.Comparison]:
    """For each run with saved images and each pass in it: the images where the RefSR method gains
    most over bicubic (or the first ones), HR / bicubic / every method cropped side by side."""
    found: list[visuals.Comparison] = []
    for run in runs:
        if not run.has_images or run.rows.empty:
            continue
        for (protocol, dataset, ref_mode), part in run.rows.groupby(["protocol", "dataset", "ref_mode"], sort=False):
            if len(found) >= limit:
                return found
            methods = list(dict.fromkeys(part["method"]))
            if "bicubic" in methods:
                methods.remove("bicubic")
                methods.insert(0, "bicubic")
            table = part.pivot_table(index="image", columns="method", values="psnr", aggfunc="last")
            lead = next((m for m in _REFSR_PREFERENCE if m in table.columns), None)
            if lead and "bicubic" in table.columns:
                order = (table[lead] - table["bicubic"]).sort_values(ascending=False, na_position="last").index
            else:
                order = table.index
            scores = {(r.image, r.method): (as_number(r.psnr), as_number(r.ssim))
                      for r in part[["image", "method", "psnr", "ssim"]].itertuples(index=False)}
            taken = 0
            for image in order:
                if taken >= per_group or len(found) >= limit:
                    break
                stem = _image_stem(str(image), dataset, ref_mode)
                comparison = visuals.build_comparison(
                    run.path, run.name, dataset, str(image), stem, ref_mode, methods,
                    {m: scores.get((image, m), (None, None)) for m in methods}, out_dir, rel,
                    folders={m: "/".join(filter(None, (m, run.config_of(m, dataset, protocol, ref_mode))))
                             for m in methods})
                if comparison is not None:
                    comparison.protocol = protocol
                    found.append(comparison)
                    taken += 1
    return found


def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["fmt"] = fmt
    env.globals["higher_is_better"] = higher_is_better
    env.globals["run_anchor"] = lambda name: _anchor("run", str(name))
    return env


# Outputs whose presence without the marker means the folder holds something else. report.md is
# replaced; README.md too, unless it is not a report (the repository's reports/README.md stays).
OUTPUTS = ("index.html", "assets")


def _prepare_out(out: Path) -> None:
    """Create `out`; an earlier report there (it holds the marker) loses its old assets first.
    A folder whose index.html / assets were not written by a report is left alone."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file; pass a folder for the report")
    out.mkdir(parents=True, exist_ok=True)
    if not (out / MARKER).exists():
        clash = [name for name in OUTPUTS if (out / name).exists()]
        if clash:
            raise UserError(f"--out {out}: already holds {', '.join(clash)} not written by this report; "
                            f"pass an empty or new folder")
    elif (out / "assets").is_dir():
        shutil.rmtree(out / "assets")
    atomic_write_text(out / MARKER, "written by python -m benchmarks.report; safe to delete\n")


def render(run_paths: Sequence[str | Path], out: str | Path, *, visual_images: int = 2,
           visual_limit: int = 12, title: str = "TTSR reproduction report") -> Report:
    """Render the report of the runs under `run_paths` into `out`; returns the view model."""
    started = time.perf_counter()
    runs = [load_run(p) for p in find_run_dirs(run_paths)]
    out = Path(out)
    _prepare_out(out)
    plot_dir, img_dir = out / "assets" / "plots", out / "assets" / "img"
    plot_dir.mkdir(parents=True, exist_ok=True)
    img_dir.mkdir(parents=True, exist_ok=True)

    frame = combined_rows(runs)
    random = {m for r in runs for m in r.random_methods
              if not frame.empty and ((frame["run"] == r.name) & (frame["method"] == m)).any()}
    skipped = current_skips(runs, frame)
    summary = _summary(frame)
    suite = suite_methods()
    tables = {name: build_table(pub, summary, random, skipped, suite)
              for name, pub in published.tables().items()}
    paper_protocols = set(tables) | {"default"}
    groups = build_groups(frame, random)
    other_groups = [g for g in groups if g.protocol not in paper_protocols
                    or not any(g.dataset == c.dataset for t in tables.values() for c in t.columns)]
    _plots_for_tables(tables, plot_dir, "assets/plots")
    _plots_for_groups(groups, frame, plot_dir, "assets/plots")
    comparisons = build_comparisons(runs, visual_images, visual_limit, img_dir, "assets/img")
    perceptual_groups = [g for g in groups if any(m not in ("psnr", "ssim") for m in g.metrics)]
    # the paper's order (published.toml's, user tables after); tables nothing was measured for come
    # after the measured results
    order = list(tables)

    context = {
        "title": title,
        "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "runs": runs, "manifests": [manifest_view(r) for r in runs],
        "tables": tables, "table_order": [n for n in order if tables[n].measured_count],
        "paper_only_order": [n for n in order if not tables[n].measured_count],
        "groups": groups, "other_groups": other_groups, "perceptual_groups": perceptual_groups,
        "comparisons": comparisons, "skipped": skipped, "random": sorted(random),
        "sources": published.sources(), "unconfirmed": published.UNCONFIRMED_MARK,
        "metric_arrow": lambda m: {True: "↑", False: "↓"}.get(higher_is_better(m), ""),
        "total_rows": int(len(frame)),
    }
    env = _environment()
    index = out / "index.html"
    atomic_write_text(index, env.get_template("index.html.j2").render(**context))
    markdown = render_markdown(context)
    atomic_write_text(out / "report.md", markdown)
    readme = out / "README.md"
    if not readme.exists() or readme.read_text(encoding="utf-8").startswith(markdown.split("\n", 1)[0]):
        atomic_write_text(readme, markdown)  # a README.md of someone else's (the repo's reports/README.md) stays
    return Report(out=out, index=index, tables=tables, groups=groups, runs=runs,
                  seconds=time.perf_counter() - started)


# ------------------------------------------------------------------------------------------- CLI
@cli_main
def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(
        prog="python -m benchmarks.report",
        description="Render the HTML/Markdown report of benchmark runs (a self-contained folder).",
        epilog="Each run folder shows what its latest command asked for; when folders share a pass, the newer "
               "folder's rows are shown. Exit status: 0 done; 2 bad input or a damaged run folder (one line).")
    parser.add_argument("--runs", nargs="+", default=["runs"],
                        help="run folders, or folders of run folders (default: runs)")
    parser.add_argument("--out", default="reports", help="report folder (default: reports)")
    parser.add_argument("--visual-images", type=whole_number(0), default=2, metavar="N",
                        help="images per pass shown as visual comparisons, N ≥ 0 (0: none; default 2)")
    parser.add_argument("--visual-limit", type=whole_number(0), default=12, metavar="N",
                        help="at most N ≥ 0 comparisons in all (0: none; default 12)")
    parser.add_argument("--title", default="TTSR reproduction report")
    parser.add_argument("--screenshot", metavar="PNG",
                        help="also save a screenshot of index.html through headless Chromium")
    parser.add_argument("--published", nargs="+", metavar="FILE", help="your published-numbers TOML file(s), applied over benchmarks/published.toml (default $TTSR_BENCH_PUBLISHED)")
    args = parser.parse_args(argv)
    published.use_files(args.published)
    check_output_dir(args.out, "--out")
    if args.screenshot:
        check_output_file(args.screenshot, "--screenshot")
    report = render(args.runs, args.out, visual_images=args.visual_images, visual_limit=args.visual_limit,
                    title=args.title)
    print(f"report: {report.index} ({len(report.runs)} run(s), {report.seconds:.1f} s)")
    for name, view in report.tables.items():
        if view.measured_count:
            print(f"  {name}: {view.coverage_text()}; {len(view.flagged_cells())} outside tolerance")
    if args.screenshot:
        import browser_client as browser
        browser.screenshot(report.index, Path(args.screenshot))
        print(f"screenshot: {args.screenshot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
