"""The paper's published numbers (`published.toml`): lookup by table, method, dataset and reference mode.

Every cell carries its source id and whether that source confirmed it; unconfirmed cells are the
"⚠ UNCONFIRMED" figures of ../shared/reference/published-tables.md and keep that mark wherever they
are shown (`PublishedCell.mark`). `judge` compares a measured cell with the paper under the table's
tolerance: "ok", "off" (outside the tolerance, flagged) or "far" (far outside: loud, fails --strict).
"""
from __future__ import annotations

import functools
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA_FILE = Path(__file__).with_name("published.toml")
UNCONFIRMED_MARK = "⚠"

# Spellings of reference modes accepted by `lookup`, mapped to the names used in published.toml.
_REF_MODE_ALIASES = {
    "stitch": "stitched", "stitched5": "stitched", "all": "stitched", "5refs": "stitched",
    "multi": "stitched", "concat": "stitched",
    "lr-as-ref": "lr", "self": "lr", "lr_as_ref": "lr",
    "random1": "random", "seeded": "random", "random-seeded": "random", "scene-match": "random",
    "none": "*", "": "*", "sisr": "*",
}
for _k in range(1, 6):
    for _spelling in (f"level{_k}", f"level-{_k}", f"level_{_k}", f"ref{_k}", f"{_k}", f"lv{_k}"):
        _REF_MODE_ALIASES[_spelling] = f"l{_k}"


def normalize_ref_mode(ref_mode: str | None) -> str | None:
    """The canonical name of a reference mode (`stitched`, `l1`…`l5`, `random`, `lr`, `*`)."""
    if ref_mode is None:
        return None
    key = str(ref_mode).strip().lower()
    return _REF_MODE_ALIASES.get(key, key)


@dataclass(frozen=True)
class Tolerance:
    psnr: float
    ssim: float


@dataclass(frozen=True)
class Column:
    key: str
    dataset: str
    ref_mode: str
    label: str

    def matches(self, dataset: str, ref_mode: str | None) -> bool:
        if dataset.lower() != self.dataset:
            return False
        return ref_mode is None or self.ref_mode == "*" or normalize_ref_mode(ref_mode) == self.ref_mode


@dataclass(frozen=True)
class PublishedCell:
    table: str
    method: str
    dataset: str
    ref_mode: str
    column: str
    label: str
    psnr: float | None
    ssim: float | None
    source: str
    psnr_confirmed: bool
    ssim_confirmed: bool
    note: str = ""

    @property
    def confirmed(self) -> bool:
        return self.psnr_confirmed and self.ssim_confirmed

    @property
    def mark(self) -> str:
        """"⚠" when any figure of the cell is unconfirmed, else ""."""
        return "" if self.confirmed else UNCONFIRMED_MARK

    def format(self, digits_psnr: int = 2, digits_ssim: int = 3) -> str:
        """"27.09 / 0.804", with ⚠ after each unconfirmed figure."""
        parts = []
        if self.psnr is not None:
            parts.append(f"{self.psnr:.{max(digits_psnr, _decimals(self.psnr))}f}"
                         + ("" if self.psnr_confirmed else UNCONFIRMED_MARK))
        if self.ssim is not None:
            parts.append(f"{self.ssim:.{max(digits_ssim, _decimals(self.ssim))}f}"
                         + ("" if self.ssim_confirmed else UNCONFIRMED_MARK))
        return " / ".join(parts)


@dataclass(frozen=True)
class PublishedRow:
    method: str
    label: str
    source: str
    confirmed: bool
    note: str
    aliases: tuple[str, ...]
    flags: dict[str, bool]
    config: dict[str, Any]
    params_paper: dict[str, Any] | None
    cells: dict[str, PublishedCell]  # column key -> cell


@dataclass(frozen=True)
class PublishedTable:
    name: str
    title: str
    note: str
    tolerance: Tolerance
    far: Tolerance
    columns: tuple[Column, ...]
    rows: tuple[PublishedRow, ...]
    sources: dict[str, str] = field(default_factory=dict)

    def row(self, method: str) -> PublishedRow | None:
        """The row of `method`, or of the first row that lists it among its aliases."""
        for row in self.rows:
            if row.method == method:
                return row
        for row in self.rows:
            if method in row.aliases:
                return row
        return None

    def column_for(self, dataset: str, ref_mode: str | None) -> Column | None:
        matching = [c for c in self.columns if c.matches(dataset, ref_mode)]
        return matching[0] if matching else None

    @property
    def methods(self) -> list[str]:
        return [row.method for row in self.rows]


@dataclass(frozen=True)
class Judgement:
    """A measured value against the paper: delta = measured - paper; status ok | off | far."""

    delta_psnr: float | None
    delta_ssim: float | None
    status: str

    @property
    def flagged(self) -> bool:
        return self.status != "ok"


def _decimals(value: float) -> int:
    text = repr(float(value))
    return len(text.split(".")[1].rstrip("0")) if "." in text else 0


def _parse_cell(table: str, row: dict, column: Column, raw: Any) -> PublishedCell:
    row_confirmed = bool(row.get("confirmed", False))
    if isinstance(raw, list):
        if len(raw) != 2:
            raise ValueError(f"{DATA_FILE}: {table}/{row['method']}/{column.key}: expected [psnr, ssim]")
        raw = {"psnr": raw[0], "ssim": raw[1]}
    confirmed = bool(raw.get("confirmed", row_confirmed))
    return PublishedCell(
        table=table, method=row["method"], dataset=column.dataset, ref_mode=column.ref_mode,
        column=column.key, label=row.get("label", row["method"]),
        psnr=None if raw.get("psnr") is None else float(raw["psnr"]),
        ssim=None if raw.get("ssim") is None else float(raw["ssim"]),
        source=str(raw.get("source", row.get("source", ""))),
        psnr_confirmed=bool(raw.get("psnr_confirmed", confirmed)),
        ssim_confirmed=bool(raw.get("ssim_confirmed", confirmed)),
        note=str(raw.get("note", row.get("note", ""))),
    )


def _parse(path: Path) -> dict[str, PublishedTable]:
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    sources = {str(k): str(v) for k, v in data.get("sources", {}).items()}
    tables: dict[str, PublishedTable] = {}
    for name, spec in data.get("tables", {}).items():
        columns = tuple(Column(key=c["key"], dataset=c["dataset"].lower(),
                               ref_mode=normalize_ref_mode(c.get("ref_mode", "*")) or "*",
                               label=c.get("label", c["key"])) for c in spec["columns"])
        keys = {c.key for c in columns}
        rows = []
        for row in spec.get("rows", []):
            unknown = set(row) - keys - {"method", "aliases", "label", "source", "confirmed", "note", "flags",
                                         "config", "params_paper"}
            if unknown:
                raise ValueError(f"{path}: table {name}, row {row.get('method')}: unknown keys {sorted(unknown)}")
            cells = {c.key: _parse_cell(name, row, c, row[c.key]) for c in columns if c.key in row}
            for cell in cells.values():
                if cell.source and cell.source not in sources:
                    raise ValueError(f"{path}: table {name}, {cell.method}/{cell.column}: unknown source {cell.source!r}")
            rows.append(PublishedRow(
                method=row["method"], label=row.get("label", row["method"]),
                source=str(row.get("source", "")), confirmed=bool(row.get("confirmed", False)),
                note=str(row.get("note", "")), aliases=tuple(row.get("aliases", ())),
                flags=dict(row.get("flags", {})),
                config=dict(row.get("config", {})), params_paper=row.get("params_paper"), cells=cells))
        tol, far = spec.get("tolerance", {}), spec.get("far", {})
        tables[name] = PublishedTable(
            name=name, title=spec.get("title", name), note=spec.get("note", ""),
            tolerance=Tolerance(float(tol.get("psnr", 0.05)), float(tol.get("ssim", 0.002))),
            far=Tolerance(float(far.get("psnr", 0.5)), float(far.get("ssim", 0.02))),
            columns=columns, rows=tuple(rows), sources=sources)
    return tables


@functools.lru_cache(maxsize=None)
def _load(path: str) -> dict[str, PublishedTable]:
    return _parse(Path(path))


def tables(path: str | Path = DATA_FILE) -> dict[str, PublishedTable]:
    """All published tables by name (table1 … table4, fig8, sisr), in the file's order."""
    return _load(str(path))


def table(name: str, path: str | Path = DATA_FILE) -> PublishedTable | None:
    return tables(path).get(name)


def sources(path: str | Path = DATA_FILE) -> dict[str, str]:
    for t in tables(path).values():
        return dict(t.sources)
    return {}


def cells(table_name: str, path: str | Path = DATA_FILE) -> list[PublishedCell]:
    """Every published cell of a table, row by row in the paper's order; [] for an unknown table."""
    t = table(table_name, path)
    if t is None:
        return []
    return [row.cells[c.key] for row in t.rows for c in t.columns if c.key in row.cells]


def lookup(table_name: str, method: str, dataset: str, ref_mode: str | None = None,
           path: str | Path = DATA_FILE) -> PublishedCell | None:
    """The paper's cell for (table, method, dataset, reference mode), or None when it has none.

    `ref_mode=None` takes the table's first column for the dataset (e.g. stitched refs for CUFED5
    in Table 1). Reference modes are matched after `normalize_ref_mode`.
    """
    t = table(table_name, path)
    if t is None:
        return None
    row = t.row(method)
    if row is None:
        return None
    for column in t.columns:
        if column.matches(dataset, ref_mode) and column.key in row.cells:
            return row.cells[column.key]
    return None


def judge(table_name: str, cell: PublishedCell | None, psnr: float | None, ssim: float | None,
          path: str | Path = DATA_FILE) -> Judgement | None:
    """Measured against published under the table's tolerance; None when nothing to compare."""
    t = table(table_name, path)
    if cell is None or t is None:
        return None

    def delta(measured, paper):
        if measured is None or paper is None:
            return None
        measured = float(measured)
        return None if math.isnan(measured) else measured - paper

    d_psnr, d_ssim = delta(psnr, cell.psnr), delta(ssim, cell.ssim)
    if d_psnr is None and d_ssim is None:
        return None
    # A printed value is only known to its last digit: half a unit of it is no error.
    slack_psnr = 0.5 * 10 ** -_decimals(cell.psnr) if cell.psnr is not None else 0.0
    slack_ssim = 0.5 * 10 ** -_decimals(cell.ssim) if cell.ssim is not None else 0.0

    def level(d, slack, tol, far):
        if d is None:
            return 0
        a = abs(d)
        return 2 if a > far + slack else 1 if a > tol + slack else 0

    worst = max(level(d_psnr, slack_psnr, t.tolerance.psnr, t.far.psnr),
                level(d_ssim, slack_ssim, t.tolerance.ssim, t.far.ssim))
    return Judgement(d_psnr, d_ssim, ("ok", "off", "far")[worst])
