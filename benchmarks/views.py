"""The results view: measured cells judged against the paper, built once, rendered many ways.

`TableView` (rows of `RowView`, cells of `CellView`) is what every output shows of a table:
the console table of `python -m benchmarks.run` (`pass_table`: this command's passes) and of
`benchmarks.reproduce`, and the report's Markdown, HTML and CSV (`build_table`: one paper table,
`benchmarks.published`). The judgement is written here once (`CellView.status`):

- a measured cell with a paper cell gets Δ = measured − paper and `published.judge`'s verdict
  under the table's tolerance (ok / off / far; "far" is loud: `CellView.loud`);
- a cell of a method with random or test-made weights is `random`: labelled in every output and
  never judged; a cell measured on part of a test set (`Measured.partial`) shows Δ, not judged;
- a cell measured with weights trained on another set than the paper's table says its models were
  (`PublishedTable.trained_on`; e.g. official DIV2K weights in Table 1, whose rows were all retrained
  on CUFED) is `other-training`: labelled "official weights (not the paper's training set: DIV2K)",
  Δ shown, never judged;
- ⚠ marks a paper figure no source confirmed (`published.PublishedCell.format`);
- coverage (`TableView.coverage_text`) is the one count every output prints.

`GroupView` is the per-pass view without the paper: per-method means and per-image values.
Renderers (`benchmarks.report.text`, `benchmarks.report.html`) add nothing to these objects.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import pandas as pd

from benchmarks import published, results

KEY = ["method", "dataset", "protocol", "ref_mode", "image"]
NON_METRIC = set(KEY) | {"seconds", "peak_mem_mb", "run", "finished", "config_id", "weights_sha256", "data_sha256",
                         *results.ATTENTION_COLUMNS}  # attention statistics: not measures of the SR
# Protocols whose rows may fill another paper table's cell with the same dataset and reference mode
# (same degradation and metric settings: the TTSR release convention). The SISR protocol differs.
REFSR_TABLE_PROTOCOLS = ("table1", "table2", "table3", "table4")
#: The precision the paper prints its figures at (TTSR's tables: PSNR in dB with 2 decimals, SSIM with 3);
#: exported tables print measured values so, and judge the best value of a column at it (`TableView.best`).
PAPER_DIGITS = {"psnr": 2, "ssim": 3, "lpips": 3}
# Directions of measures, for runs made where metrics cannot be imported.
_DIRECTIONS = {"psnr": True, "ssim": True, "lpips": False, "ms-ssim": True, "fsim": True, "gmsd": False,
               "vif": True, "haarpsi": True, "dists": False}
_EXPECTED = {"cufed5": 126, "sun80": 80, "urban100": 100, "manga109": 109, "set5": 5, "set14": 14,
             "bsd100": 100}


def as_number(value) -> float | None:
    """A finite float, or None for missing / non-numeric / NaN cells."""
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def fmt(value, digits: int = 2, signed: bool = False) -> str:
    value = as_number(value)
    if value is None:
        return "–"
    if abs(value) < 0.5 * 10 ** -digits:
        value = 0.0  # no "−0.0000"
    text = f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    return text.replace("-", "−")


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
        info = DATASETS.get(dataset, None)
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
    image_names: tuple[str, ...] = ()  # the images measured (sorted), when the rows named them
    ci: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # measure -> bootstrap interval (--ci)

    @property
    def partial(self) -> bool:
        return self.expected is not None and self.images < self.expected


def best_of(entries: Mapping[str, tuple[float | None, Measured, bool]], metric: str,
            digits: int | None = None) -> set[str]:
    """The rule of "best" (bold) every view applies (`TableView.best`, `GroupView.best`): of one column's
    `entries` (name -> (value of `metric`, its `Measured`, random weights?)), the names holding the best
    value. Direction from `metrics.REGISTRY` (`higher_is_better`; unknown direction: nobody is best);
    values compared rounded to `digits` decimals when given, so printed ties are all best.

    A cell competes only when it covers the column's full image set, so every competing cell is a mean
    over the same images: not `Measured.partial` (fewer images than the test set holds: §), and its
    images are the union of the images of every measured cell of the column (random weights included),
    compared by name where the rows named them, else by count (the largest count of the column).
    Random weights never compete. Returns an empty set when no cell competes."""
    higher = higher_is_better(metric)
    if higher is None:
        return set()
    measured = [m for _, m, _ in entries.values()]
    names = set().union(*(m.image_names for m in measured))
    full = len(names) if names else max((m.images for m in measured), default=0)

    def covers(m: Measured) -> bool:
        if m.partial:
            return False
        return set(m.image_names) == names if m.image_names else m.images == full

    values = {}
    for name, (value, m, random) in entries.items():
        value = as_number(value)
        if value is not None and not random and covers(m):
            values[name] = round(value, digits) if digits is not None else value
    if not values:
        return set()
    top = (max if higher else min)(values.values())
    return {name for name, value in values.items() if value == top}


@dataclass
class CellView:
    column: str
    paper: published.PublishedCell | None
    measured: Measured | None
    judgement: published.Judgement | None = None
    random: bool = False
    reason: str = ""  # why there is no measurement
    measured_as: str = ""  # the alias whose rows filled the cell (e.g. ttsr-rec for Table 3's CSFI row)
    other_training: str = ""  # "official weights (not the paper's training set: DIV2K)": not judged

    @property
    def status(self) -> str:
        if self.measured is None:
            return "paper-only" if self.paper else "empty"
        if self.random:
            return "random"
        if self.other_training:
            return "other-training"
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
        """"PSNR / SSIM", each followed by its interval "[low, high]" when the view has them (`--ci`)."""
        m = self.measured
        if m is None:
            return "–"
        return " / ".join(fmt(getattr(m, k), d) + ci_text(m, k, d) for k, d in (("psnr", 3), ("ssim", 4)))

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
    """A table of measured cells against the paper: a paper table (`build_table`; `tolerance` and `far`
    its own) or one command's passes (`pass_table`; each cell judged under its own table's)."""

    name: str
    title: str
    note: str
    columns: list[published.Column]
    rows: list[RowView]
    tolerance: published.Tolerance | None = None
    far: published.Tolerance | None = None
    flag_names: list[str] = field(default_factory=list)
    has_params: bool = False
    measured_protocols: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
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

    def best(self, metric: str, digits: int | None = None) -> dict[str, set[str]]:
        """Column key -> the methods whose measured `metric` ("psnr", "ssim" or "lpips") is the column's best
        (`best_of`: only cells over the column's full image set compete, never random weights; compared
        rounded to `digits` decimals when given, the precision a table prints, so printed ties are all
        best). The one rule of bold in every renderer (LaTeX, CSV `best`, Markdown, HTML). A column where
        no cell competes, or a measure of unknown direction, is left out."""
        out: dict[str, set[str]] = {}
        for column in self.columns:
            entries = {row.method: (getattr(cell.measured, metric, None), cell.measured, cell.random)
                       for row in self.rows for cell in (row.cells[column.key],) if cell.measured is not None}
            winners = best_of(entries, metric, digits)
            if winners:
                out[column.key] = winners
        return out

    def gaps(self) -> list[tuple[RowView, CellView]]:
        """Paper cells with no measurement."""
        return [(r, c) for r, c in self.cells() if c.paper is not None and c.measured is None]

    def loud_cells(self) -> list[tuple[RowView, CellView]]:
        return [(r, c) for r, c in self.cells() if c.measured is not None and c.loud]

    def flagged_cells(self) -> list[tuple[RowView, CellView]]:
        return [(r, c) for r, c in self.cells() if c.status in ("off", "far")]


def ci_text(measured: "Measured", metric: str, digits: int) -> str:
    """" [low, high]" of `measured`'s interval of `metric` at `digits` decimals, "" when it has none."""
    interval = measured.ci.get(metric) if measured is not None else None
    if not interval or as_number(interval[0]) is None:
        return ""
    return f" [{fmt(interval[0], digits)}, {fmt(interval[1], digits)}]"


def _intervals(rec: Mapping) -> dict[str, tuple[float, float]]:
    """{measure: (low, high)} of a `summarize(..., ci=True)` record (its `<measure>_ci` cells)."""
    return {k[:-3]: v for k, v in rec.items() if k.endswith("_ci") and isinstance(v, tuple)}


def summarize(frame: pd.DataFrame, ci: bool = False) -> pd.DataFrame:
    """Means of every measure per pass (method, dataset, protocol, ref_mode), with `images` (count),
    `image_names` (the sorted tuple of image names, when the frame has an `image` column), and the `run`
    (when the frame has one) and `config_id` of the pass's rows. `ci`: also `<measure>_ci`, the (low, high)
    bootstrap interval of each mean over the pass's images (`benchmarks.stats.bootstrap_ci`)."""
    if frame.empty:
        return pd.DataFrame(columns=["method", "dataset", "protocol", "ref_mode", "run", "images"])
    values = [c for c in metric_columns(frame)]
    grouped = frame.groupby(["method", "dataset", "protocol", "ref_mode"], sort=False, dropna=False)
    out = grouped[values].mean() if values else grouped.size().to_frame("images").iloc[:, :0]
    if ci:
        from benchmarks.stats import bootstrap_ci

        for column in values:
            out[f"{column}_ci"] = grouped[column].agg(lambda s: bootstrap_ci(s.tolist()))
    out["images"] = grouped.size()
    if "image" in frame.columns:
        out["image_names"] = grouped["image"].agg(lambda s: tuple(sorted(set(map(str, s)))))
    out["run"] = grouped["run"].last() if "run" in frame.columns else ""
    if "config_id" in frame.columns:
        out["config_id"] = grouped["config_id"].last()
    return out.reset_index()


def _names(rec: Mapping) -> tuple[str, ...]:
    """The `image_names` of a `summarize` record (empty when the rows named no image)."""
    names = rec.get("image_names")
    return tuple(names) if isinstance(names, (tuple, list)) else ()


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


def other_training(pub: published.PublishedTable, origin: tuple[str, str] | None) -> str:
    """The label of a cell whose weights (`origin` = (weights_origin, trained_on) from the manifest's
    weights record) were not trained on the set the paper's table trained every model on, else ""."""
    if not pub.trained_on or origin is None:
        return ""
    where, trained_on = origin
    if trained_on.lower() == pub.trained_on.lower():
        return ""
    if where == "trained here" and not trained_on:
        return ""  # the suite's own training (the table's recipe): judged like the paper's retraining
    return f"{where} weights (not the paper's training set: {trained_on or 'unknown'})"


def build_table(pub: published.PublishedTable, summary: pd.DataFrame, random: set[str],
                skipped: list[dict], suite: set[str] | None,
                origins: Mapping[str, tuple[str, str]] | None = None) -> TableView:
    """The paper's rows first (its order), then methods measured under the protocol but not in it.
    `origins`: {method: (weights_origin, trained_on)} from the runs' weights records (`other_training`)."""
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
                        protocol=protocol, run=str(rec.get("run", "")), config_id=str(rec.get("config_id", "") or ""),
                        image_names=_names(rec), ci=_intervals(rec))
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
            if m is not None:
                cell.other_training = other_training(pub, (origins or {}).get(source_method))
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
    best: dict[str, set[str]]                    # metric -> best methods (`best_of`, as `TableView.best`)
    images: list[str]
    per_image: dict[str, dict[str, tuple[float | None, float | None]]]  # image -> method -> (psnr, ssim)
    random: set[str]
    counts: dict[str, int] = field(default_factory=dict)  # method -> images measured
    plots: list[dict] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.dataset} · {self.protocol} · ref {self.ref_mode}"


def anchor(*parts: str) -> str:
    """An HTML id from text: every character other than a letter or digit becomes `_`, parts joined by `-`."""
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
        counts = {m: int(n) for m, n in part.groupby("method", sort=False).size().items()}
        names = part.groupby("method", sort=False)["image"].agg(lambda s: tuple(sorted(set(map(str, s)))))
        coverage = {m: Measured(psnr=None, ssim=None, lpips=None, images=counts[m], expected=expected_count(dataset),
                                protocol=protocol, run="", image_names=tuple(names[m])) for m in methods}
        best = {}
        for metric in metrics:
            winners = best_of({m: (means[m][metric], coverage[m], m in random) for m in methods}, metric)
            if winners:
                best[metric] = winners
        per_image: dict[str, dict[str, tuple]] = {}
        for rec in part[["image", "method", "psnr", "ssim"]].itertuples(index=False):
            per_image.setdefault(rec.image, {})[rec.method] = (as_number(rec.psnr), as_number(rec.ssim))
        groups.append(GroupView(protocol=protocol, dataset=dataset, ref_mode=ref_mode,
                                anchor=anchor("g", protocol, dataset, ref_mode), methods=methods,
                                metrics=metrics, means=means, best=best, images=list(per_image),
                                per_image=per_image, random=random, counts=counts))
    return groups


def pass_table(rows: Sequence[Mapping[str, str]], evaluations: Sequence, random_methods: Iterable[str],
               runs: Mapping[tuple[str, str, str, str], str] | None = None, ci: bool = False) -> TableView:
    """One command's rows as a table: a row per method, a column per pass (dataset, protocol,
    ref_mode: `Column.key` "dataset|protocol|ref_mode", label "dataset/ref_mode\nprotocol"), each cell
    with the paper's cell of its evaluation's table (`protocols.Evaluation.table`) when it has one.
    `runs`: (method, dataset, protocol, ref_mode) -> the run folder the pass's rows came from (`Measured.run`);
    `ci`: each cell with its bootstrap intervals (`summarize`)."""

    summary = summarize(results.load_frame("", rows), ci=ci) if rows else summarize(pd.DataFrame())
    tables = {(e.dataset, e.protocol, e.ref_mode): e.table for e in evaluations}
    random_methods = set(random_methods)
    passes = list(dict.fromkeys((r["dataset"], r["protocol"], r["ref_mode"]) for r in rows))
    columns = [published.Column(key=f"{d}|{p}|{r}", dataset=d, ref_mode=r, label=f"{d}/{r}\n{p}")
               for d, p, r in passes]
    means = {(rec["method"], rec["dataset"], rec["protocol"], rec["ref_mode"]): rec
             for rec in summary.to_dict("records")}
    view_rows = []
    for method in dict.fromkeys(r["method"] for r in rows):
        random = method in random_methods
        cells = {}
        for (dataset, protocol, ref_mode), column in zip(passes, columns):
            rec = means.get((method, dataset, protocol, ref_mode))
            table = tables.get((dataset, protocol, ref_mode))
            paper = published.lookup(table, method, dataset, ref_mode) if table else None
            measured = None if rec is None else Measured(
                psnr=as_number(rec.get("psnr")), ssim=as_number(rec.get("ssim")), lpips=as_number(rec.get("lpips")),
                images=int(rec["images"]), expected=expected_count(dataset), protocol=protocol,
                run=(runs or {}).get((method, dataset, protocol, ref_mode), ""),
                config_id=str(rec.get("config_id", "") or ""), image_names=_names(rec), ci=_intervals(rec))
            cell = CellView(column=column.key, paper=paper if measured else None, measured=measured, random=random)
            if measured is not None and paper is not None:
                cell.judgement = published.judge(table, paper, measured.psnr, measured.ssim)
            cells[column.key] = cell
        view_rows.append(RowView(method=method, label=method, in_paper=False, note="", random=random, cells=cells))
    return TableView(name="run", title="this command's results", note="", columns=columns, rows=view_rows)
