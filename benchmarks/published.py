"""The paper's published numbers: lookup by table, method, dataset and reference mode.

The numbers ship in `benchmarks/published.toml`; its header documents the format. Every cell names
a source (`[sources.ID]`: title, http(s) URL, the table or file in it, the commit of a repository
file) and says whether that source confirmed it. A figure no openable source confirmed keeps the
"⚠" mark wherever it is shown (`PublishedCell.mark`) and carries the reason (`PublishedCell.reason`).

User files. A user can add published-numbers files in the same format (e.g. after checking a table
against the paper PDF). They are applied after the shipped file, in the order given:

- a cell of a user file (same table, method and column key) replaces the shipped cell;
- a new method adds a row, a new column key adds a column, a new table adds a table, a new source id
  adds a source (a source id given again replaces it);
- every cell records the file it came from (`PublishedCell.origin_file`), and so does every source.

A user file needs only what it changes, e.g.::

    [sources.MY-CHECK]
    title = "TTSR paper PDF, Table 4, read by me"
    url = "https://arxiv.org/abs/2006.04139"
    where = "Table 4"

    [[tables.table4.rows]]
    method = "ttsr-rec"
    source = "MY-CHECK"
    confirmed = true
    l2 = [26.74, 0.791]

Which user files are used: `use_files([...])` (what `--published FILE` of `python -m benchmarks.report`
and `python -m benchmarks.reproduce` and the settings file's `published = "file.toml"` call:
`foundation.settings`),
else `$TTSR_BENCH_PUBLISHED` (paths separated by the OS path separator, ':' on Linux), else none.
`tables(files=[...])` and the other lookups also take the files explicitly. A user file that is
missing, not TOML, or not in the format raises `UserError` naming the file and the key.

`judge` compares a measured cell with the paper under the table's tolerance: "ok", "off" (outside
the tolerance, flagged) or "far" (far outside: loud, fails --strict).
"""
from __future__ import annotations

import functools
import math
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterable, Literal, Sequence, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from benchmarks.datasets import refmodes
from foundation.errors import UserError
from ttsr.config import VARIANTS, TTSRConfig
from foundation.settings import ENV

DATA_FILE = Path(__file__).with_name("published.toml")
SHIPPED_NAME = "benchmarks/published.toml"  # how reports name the shipped file
ENV_VAR = ENV["published"]
UNCONFIRMED_MARK = "⚠"

#: The published column of a reference mode (`stitched`, `l1`…`l5`, `random`, `lr`, `*`): every
#: spelling and alias is in `benchmarks.datasets.refmodes`; a spelling no mode has is kept lower-cased.
normalize_ref_mode = refmodes.column_key


class PublishedFileError(UserError, ValueError):
    """A published-numbers file that is missing, not TOML, or not in the format (names file and key)."""


@dataclass(frozen=True)
class Source:
    """Where published numbers were read: a paper's table, a repository file at a commit, an issue."""

    id: str
    title: str
    url: str
    where: str = ""  # the table/figure of a paper, or the file of a repository
    commit: str = ""  # the commit of a repository file
    note: str = ""
    origin_file: str = SHIPPED_NAME  # the published-numbers file that defined it

    def __str__(self) -> str:
        parts = [self.title] + ([self.where] if self.where else []) + ([f"commit {self.commit}"] if self.commit else [])
        return ", ".join(parts) + f" <{self.url}>"


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
    reason: str = ""  # why a figure is unconfirmed, in the reader's terms
    origin_file: str = SHIPPED_NAME  # the published-numbers file the cell came from

    @property
    def confirmed(self) -> bool:
        return self.psnr_confirmed and self.ssim_confirmed

    @property
    def from_user_file(self) -> bool:
        """Whether a user's published-numbers file gave this cell (not the shipped file)."""
        return self.origin_file != SHIPPED_NAME

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

    def provenance(self, sources: dict[str, Source] | None = None) -> str:
        """One line for a tooltip: source id, title and URL, the file the cell came from, note, reason."""
        src = (sources or {}).get(self.source)
        parts = [f"source {self.source}" + (f": {src}" if src else ""), f"from {self.origin_file}"]
        parts += [text for text in (self.note, f"{UNCONFIRMED_MARK} {self.reason}" if self.reason else "") if text]
        return "; ".join(parts)


@dataclass(frozen=True)
class PublishedRow:
    method: str
    label: str
    source: str
    confirmed: bool
    note: str
    aliases: tuple[str, ...]
    flags: dict[str, bool]  # the table's flags, read from the variant's network
    variant: str | None  # the network, a name of ttsr.config.VARIANTS
    params_paper: dict[str, Any] | None
    cells: dict[str, PublishedCell]  # column key -> cell
    origin_file: str = SHIPPED_NAME  # the file that added the row


@dataclass(frozen=True)
class PublishedTable:
    name: str
    title: str
    note: str
    tolerance: Tolerance
    far: Tolerance
    columns: tuple[Column, ...]
    rows: tuple[PublishedRow, ...]
    sources: dict[str, Source] = field(default_factory=dict)
    trained_on: str = ""  # the training set of every model in the paper's table ("" unknown / mixed)

    def row(self, method: str) -> PublishedRow | None:
        """The row of `method`, or of the first row that lists it among its aliases."""
        for row in self.rows:
            if row.method == method:
                return row
        for row in self.rows:
            if method in row.aliases:
                return row
        return None

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


# ----------------------------------------------------------------------------- the file format
class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class _SourceSpec(_Spec):
    title: str
    url: str = Field(pattern=r"^https?://\S+$")
    where: str = ""
    commit: str = Field("", pattern=r"^([0-9a-f]{7,40})?$")
    note: str = ""


class _CellSpec(_Spec):
    psnr: float | None = None
    ssim: float | None = None
    source: str | None = None
    confirmed: bool | None = None
    psnr_confirmed: bool | None = None
    ssim_confirmed: bool | None = None
    note: str | None = None
    reason: str | None = None


class _ParamsSpec(_Spec):
    value: float
    source: str
    confirmed: bool = False
    reason: str = ""


class _ToleranceSpec(_Spec):
    psnr: float = Field(ge=0)
    ssim: float = Field(ge=0)


class _ColumnSpec(_Spec):
    key: str
    dataset: str
    ref_mode: str = "*"
    label: str | None = None


class _RowSpec(_Spec):
    model_config = ConfigDict(extra="allow")  # the extra keys are the cells, by column key
    method: str
    label: str | None = None
    aliases: list[str] | None = None
    source: str | None = None
    confirmed: bool | None = None
    note: str | None = None
    reason: str | None = None
    variant: Literal[tuple(VARIANTS)] | None = None
    params_paper: _ParamsSpec | None = None


class _TableSpec(_Spec):
    title: str | None = None
    note: str | None = None
    tolerance: _ToleranceSpec | None = None
    far: _ToleranceSpec | None = None
    trained_on: str | None = None
    flags: dict[str, Literal[tuple(f.name for f in fields(TTSRConfig))]] | None = None
    columns: list[_ColumnSpec] = []
    rows: list[_RowSpec] = []


class _FileSpec(_Spec):
    sources: dict[str, _SourceSpec] = {}
    tables: dict[str, _TableSpec] = {}


_PAIR = TypeAdapter(tuple[Union[float, None], Union[float, None]])
_FORMAT_HINT = "see the format at the top of benchmarks/published.toml"


def _key_path(loc: Iterable[Any]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


_MESSAGES = {"extra_forbidden": "unknown key", "missing": "required key missing"}
_PATTERN_MESSAGES = {"url": "must be an http(s) URL", "commit": "must be a commit hash (7 to 40 hex digits)"}


def _format_error(name: str, err: ValidationError, prefix: str = "") -> PublishedFileError:
    """The first problem pydantic found, as "file: key.path: what is wrong (got value); see the format"."""
    first = err.errors()[0]
    loc = _key_path(first["loc"])
    key = f"{prefix}.{loc}" if prefix and loc else prefix or loc
    msg = _MESSAGES.get(first["type"], first["msg"])
    if first["type"] == "string_pattern_mismatch":
        msg = _PATTERN_MESSAGES.get(str(first["loc"][-1]), msg)
    value = first.get("input")
    shown = f" (got {value!r})" if first["type"] != "missing" and not isinstance(value, (dict, list)) else ""
    return PublishedFileError(f"{name}: {key}: {msg}{shown}; {_FORMAT_HINT}")


def _read_spec(path: Path, name: str) -> _FileSpec:
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise PublishedFileError(f"{name}: published-numbers file not found") from None
    except tomllib.TOMLDecodeError as err:
        raise PublishedFileError(f"{name}: not valid TOML ({err}); {_FORMAT_HINT}") from None
    try:
        return _FileSpec.model_validate(data)
    except ValidationError as err:
        raise _format_error(name, err) from None


# ----------------------------------------------------------------------------- merging files
@dataclass
class _TableState:
    name: str
    title: str
    note: str
    tolerance: Tolerance
    far: Tolerance
    trained_on: str = ""
    flags: dict[str, str] = field(default_factory=dict)  # label -> field of the rows' variant
    columns: dict[str, Column] = field(default_factory=dict)
    rows: dict[str, PublishedRow] = field(default_factory=dict)  # cells filled in place while merging


_DEFAULT_TOLERANCE = Tolerance(0.05, 0.002)
_DEFAULT_FAR = Tolerance(0.5, 0.02)


def _apply(spec: _FileSpec, name: str, sources: dict[str, Source], tables: dict[str, _TableState]) -> None:
    """Apply one file's sources and tables onto the state (the override and extension rules)."""
    for sid, s in spec.sources.items():
        sources[sid] = Source(id=sid, title=s.title, url=s.url, where=s.where, commit=s.commit, note=s.note,
                              origin_file=name)

    def need_source(key: str, sid: str | None) -> str:
        if not sid:
            raise PublishedFileError(f"{name}: {key}: no source; give source = \"ID\" of a [sources.ID]; {_FORMAT_HINT}")
        if sid not in sources:
            raise PublishedFileError(f"{name}: {key}: unknown source {sid!r}; known: {sorted(sources)}")
        return sid

    for tname, t in spec.tables.items():
        tkey = f"tables.{tname}"
        state = tables.get(tname)
        if state is None:
            if not t.columns:
                raise PublishedFileError(f"{name}: {tkey}.columns: a new table needs its columns; {_FORMAT_HINT}")
            state = tables[tname] = _TableState(tname, tname, "", _DEFAULT_TOLERANCE, _DEFAULT_FAR)
        state.title = t.title if t.title is not None else state.title
        state.note = t.note if t.note is not None else state.note
        if t.tolerance is not None:
            state.tolerance = Tolerance(t.tolerance.psnr, t.tolerance.ssim)
        if t.far is not None:
            state.far = Tolerance(t.far.psnr, t.far.ssim)
        if t.trained_on is not None:
            state.trained_on = t.trained_on
        if t.flags is not None:
            state.flags = dict(t.flags)
        for i, c in enumerate(t.columns):
            column = Column(key=c.key, dataset=c.dataset.lower(), ref_mode=normalize_ref_mode(c.ref_mode) or "*",
                            label=c.label or c.key)
            old = state.columns.get(c.key)
            if old is not None and (old.dataset, old.ref_mode) != (column.dataset, column.ref_mode):
                raise PublishedFileError(
                    f"{name}: {tkey}.columns[{i}]: column {c.key!r} exists as {old.dataset}/{old.ref_mode}; "
                    f"a column of another dataset or reference mode needs a new key")
            state.columns[c.key] = column
        for i, r in enumerate(t.rows):
            rkey = f"{tkey}.rows[{i}] (method {r.method})"
            given = r.model_fields_set
            row = state.rows.get(r.method) or PublishedRow(
                method=r.method, label=r.method, source="", confirmed=False, note="", aliases=(), flags={},
                variant=None, params_paper=None, cells={}, origin_file=name)
            changes = {attr: getattr(r, attr) for attr in ("label", "note", "variant") if attr in given}
            if "aliases" in given:
                changes["aliases"] = tuple(r.aliases or ())
            if r.params_paper is not None:
                need_source(f"{rkey}.params_paper.source", r.params_paper.source)
                changes["params_paper"] = r.params_paper.model_dump()
            if "source" in given:
                changes["source"] = need_source(f"{rkey}.source", r.source)
            if "confirmed" in given:
                changes["confirmed"] = bool(r.confirmed)
            row = state.rows[r.method] = replace(row, **changes)
            for key, raw in (r.model_extra or {}).items():
                column = state.columns.get(key)
                if column is None:
                    raise PublishedFileError(
                        f"{name}: {rkey}: unknown key {key!r}: neither a row key nor a column of {tname} "
                        f"(columns: {sorted(state.columns)}); {_FORMAT_HINT}")
                row.cells[key] = _parse_cell(name, f"{tkey}.rows[{i}].{key}", tname, r, row.label, column, raw,
                                             need_source)


def _parse_cell(name: str, key: str, table: str, r: _RowSpec, label: str, column: Column, raw: Any,
                need_source) -> PublishedCell:
    """A cell `[psnr, ssim]` or `{psnr, ssim, source, confirmed, ...}`; what it omits comes from its row."""
    if isinstance(raw, dict):
        try:
            spec = _CellSpec.model_validate(raw)
        except ValidationError as err:
            raise _format_error(name, err, prefix=key) from None
    else:
        try:
            psnr, ssim = _PAIR.validate_python(raw)
        except ValidationError:
            raise PublishedFileError(f"{name}: {key}: expected [psnr, ssim] or an inline table "
                                     f"{{psnr, ssim, source, confirmed, note, reason}} (got {raw!r}); {_FORMAT_HINT}") from None
        spec = _CellSpec(psnr=psnr, ssim=ssim)

    def pick(attr: str, default):
        own = getattr(spec, attr)
        if own is not None:
            return own
        inherited = getattr(r, attr, None)
        return default if inherited is None else inherited

    confirmed = bool(pick("confirmed", False))
    psnr_confirmed = confirmed if spec.psnr_confirmed is None else spec.psnr_confirmed
    ssim_confirmed = confirmed if spec.ssim_confirmed is None else spec.ssim_confirmed
    return PublishedCell(
        table=table, method=r.method, dataset=column.dataset, ref_mode=column.ref_mode, column=column.key,
        label=label, psnr=spec.psnr, ssim=spec.ssim, source=need_source(key, pick("source", None)),
        psnr_confirmed=psnr_confirmed, ssim_confirmed=ssim_confirmed,
        note=str(pick("note", "")), reason=str(pick("reason", "")), origin_file=name)


def _freeze(sources: dict[str, Source], states: dict[str, _TableState]) -> dict[str, PublishedTable]:
    tables = {}
    for tname, s in states.items():
        rows = []
        for r in s.rows.values():
            cells = {c: replace(r.cells[c], label=r.label) for c in s.columns if c in r.cells}
            flags = {label: bool(getattr(VARIANTS[r.variant], key)) for label, key in s.flags.items()} if r.variant else {}
            rows.append(replace(r, flags=flags, cells=cells))
        tables[tname] = PublishedTable(name=tname, title=s.title, note=s.note, tolerance=s.tolerance, far=s.far,
                                       columns=tuple(s.columns.values()), rows=tuple(rows), sources=dict(sources),
                                       trained_on=s.trained_on)
    return tables


def _display_name(path: Path) -> str:
    return SHIPPED_NAME if path.resolve() == DATA_FILE.resolve() else str(path)


def _stamp(path: Path) -> tuple[str, int, int]:
    try:
        st = path.stat()
        return str(path), st.st_mtime_ns, st.st_size
    except OSError:
        return str(path), -1, -1


@functools.lru_cache(maxsize=32)
def _load(stamps: tuple[tuple[str, int, int], ...]) -> tuple[dict[str, Source], dict[str, PublishedTable]]:
    sources: dict[str, Source] = {}
    states: dict[str, _TableState] = {}
    for path_text, _, _ in stamps:
        path = Path(path_text)
        name = _display_name(path)
        _apply(_read_spec(path, name), name, sources, states)
    return sources, _freeze(sources, states)


# ----------------------------------------------------------------------------- which user files
_chosen: tuple[Path, ...] | None = None  # set by use_files; None: $TTSR_BENCH_PUBLISHED


def _as_paths(files: Iterable[str | os.PathLike]) -> tuple[Path, ...]:
    return tuple(Path(f).expanduser() for f in files if str(f).strip())


def active_files() -> tuple[Path, ...]:
    """The user files in use: those of `use_files`, else `$TTSR_BENCH_PUBLISHED`, else none."""
    if _chosen is not None:
        return _chosen
    return _as_paths(os.environ.get(ENV_VAR, "").split(os.pathsep))


def use_files(files: Sequence[str | os.PathLike] | None, origin: str = "--published") -> tuple[Path, ...]:
    """Use these user files from now on (None: back to `$TTSR_BENCH_PUBLISHED`); returns the files in use.

    The files are read at once, so a bad one fails here: a missing one is a `UserError` naming
    `origin` (the option or settings-file key that named it, or the variable), a malformed one names
    the file and the key.
    """
    global _chosen
    chosen = None if files is None else _as_paths(files)
    candidates = chosen if chosen is not None else _as_paths(os.environ.get(ENV_VAR, "").split(os.pathsep))
    missing = [str(p) for p in candidates if not p.is_file()]
    if missing:
        raise PublishedFileError(f"{origin if chosen is not None else '$' + ENV_VAR}: {', '.join(missing)}: "
                                 "published-numbers file not found; give an existing TOML file "
                                 "(README, Published numbers) or drop the setting")
    tables(files=candidates)  # validate before switching
    _chosen = chosen
    return active_files()


# ----------------------------------------------------------------------------- lookups
def _loaded(path: str | Path, files: Sequence[str | os.PathLike] | None):
    paths = (Path(path),) + (active_files() if files is None else _as_paths(files))
    return _load(tuple(_stamp(p) for p in paths))


def tables(path: str | Path = DATA_FILE, files: Sequence[str | os.PathLike] | None = None) -> dict[str, PublishedTable]:
    """All published tables by name (table1 … table4, fig8, sisr, then user tables), in file order.

    `path` is the shipped file; `files` the user files applied over it (None: `active_files()`).
    Raises `UserError` (`PublishedFileError`) for a missing or malformed file, naming file and key.
    """
    return _loaded(path, files)[1]


def table(name: str, path: str | Path = DATA_FILE, files: Sequence[str | os.PathLike] | None = None) -> PublishedTable | None:
    return tables(path, files).get(name)


def sources(path: str | Path = DATA_FILE, files: Sequence[str | os.PathLike] | None = None) -> dict[str, Source]:
    """Every source by id (shipped, then the user files'), each with the file that defined it."""
    return dict(_loaded(path, files)[0])


def cells(table_name: str, path: str | Path = DATA_FILE,
          files: Sequence[str | os.PathLike] | None = None) -> list[PublishedCell]:
    """Every published cell of a table, row by row in the paper's order; [] for an unknown table."""
    t = table(table_name, path, files)
    if t is None:
        return []
    return [row.cells[c.key] for row in t.rows for c in t.columns if c.key in row.cells]


def lookup(table_name: str, method: str, dataset: str, ref_mode: str | None = None,
           path: str | Path = DATA_FILE, files: Sequence[str | os.PathLike] | None = None) -> PublishedCell | None:
    """The paper's cell for (table, method, dataset, reference mode), or None when it has none.

    `ref_mode=None` takes the table's first column for the dataset (e.g. stitched refs for CUFED5
    in Table 1). Reference modes are matched after `normalize_ref_mode`.
    """
    t = table(table_name, path, files)
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
          path: str | Path = DATA_FILE, files: Sequence[str | os.PathLike] | None = None) -> Judgement | None:
    """Measured against published under the table's tolerance; None when nothing to compare."""
    t = table(table_name, path, files)
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
