"""The results store of a run folder: `rows.csv` (append-only), `summary.csv`, and readers.

`rows.csv` holds one row per (method, dataset, protocol, ref_mode, image) **and identity**: every
row carries what determines its value (README, "A number belongs to its command"):

- `config_id`: a hash of the pass's configuration: method, weights sha256, method options,
  protocol, dataset, reference mode, seed, metric settings, device type and the suite's
  `PROTOCOL_VERSION` (`benchmarks.identity.config_id`; the full configuration is kept under the
  same id in the run's manifest, `configs`);
- `weights_sha256` (`none` for a method without weights) and `data_sha256` (the bytes of the
  image's input files: HR, references, given LR).

A row is reused only when all of it matches; a run with other weights, options or data adds rows
beside the old ones (they stay, and are reused if that configuration is asked for again). Every
row is appended as one line, flushed and fsynced as soon as its image is finished, so a run killed
at any moment loses at most the image in flight. A kill in the middle of a write can leave a torn
last line; `RowStore` drops it and truncates the file back to the last whole row before appending
again. Anything else that is not a row this suite writes (foreign columns, undecodable bytes, a
line in the middle with the wrong number of fields, a PSNR of 1e308) is refused with
`RowsFileError`, one line naming the file and line: the store never merges or rewrites a file it
did not write. When an identical key appears twice (`--force`), the later row wins.

At the end of a run the runner calls `RowStore.canonicalize(order)`, which rewrites the file
atomically with one row per key, the run's plan order first, so an interrupted-and-resumed run, a
distributed run and an uninterrupted run end with the same file (apart from timing columns).

Readers (`read_rows`, `load_frame`) accept files from runs that lack some columns.
"""
from __future__ import annotations

import contextlib
import csv
import errno
import io
import math
import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from foundation.errors import UserError
from foundation.fileio import STORAGE_ERRORS, atomic_write_text, resolve_output_file, storage_error

KEY_COLUMNS = ("method", "dataset", "protocol", "ref_mode", "image")
IDENTITY_COLUMNS = ("config_id", "weights_sha256", "data_sha256")
METRIC_COLUMNS = ("psnr", "ssim", "lpips")
TIMING_COLUMNS = ("seconds", "peak_mem_mb", "finished")
#: attention statistics of a method that reports its matches (`Method.extras`: TTSR, SRNTT), written
#: when the command asks (`RunSettings.attention`; `benchmarks.refgain`): the fraction of LR positions
#: matched to distinct reference patches (unique hard-attention indices / positions) and the mean
#: soft-attention confidence S (TTSR: the relevance, a cosine in [-1, 1]; SRNTT: the best match score)
ATTENTION_COLUMNS = ("attn_distinct", "attn_confidence")
BASE_COLUMNS = KEY_COLUMNS + IDENTITY_COLUMNS + METRIC_COLUMNS + TIMING_COLUMNS
#: what makes two rows the same result: the pass, the image, the configuration and the data
ROW_ID_COLUMNS = KEY_COLUMNS + ("config_id", "data_sha256")
ROWS_FILE = "rows.csv"
SUMMARY_FILE = "summary.csv"
#: PSNR values a row may hold (dB): 0 for the largest error uint8 images allow, up to the cap of
#: `metrics` for identical images (kept here too so a reader needs no metric stack)
PSNR_RANGE = (0.0, 100.0)
#: value ranges checked when a rows file is read (a value outside is a damaged or foreign file)
_RANGES = {"psnr": PSNR_RANGE, "ssim": (-1.0, 1.0), "lpips": (0.0, 10.0), "seconds": (0.0, 1e7),
           "peak_mem_mb": (0.0, 1e9), "attn_distinct": (0.0, 1.0)}
_TEXT_COLUMNS = set(KEY_COLUMNS) | set(IDENTITY_COLUMNS) | {"finished"}

Key = tuple[str, ...]


class RowsFileError(UserError):
    """A rows file this suite did not write, or a damaged one: one line naming the file (a
    `UserError`, so every command prints it and exits 2)."""


def row_key(row: Mapping[str, object]) -> Key:
    """The identity of a row: its pass and image, `config_id` and `data_sha256` (empty when absent)."""
    return tuple(str(row.get(c, "") or "") for c in ROW_ID_COLUMNS)


def format_value(value: object) -> str:
    """How a cell is written: floats at full precision (repr), NaN as `nan` (computed, undefined:
    e.g. an image too small for a measure), missing (not computed) as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    if hasattr(value, "item"):  # numpy / torch scalars
        return format_value(value.item())
    return str(value)


def columns_for(extra_metrics: Iterable[str] = ()) -> list[str]:
    """Base columns with extra metric columns inserted after `lpips` (before the timings)."""
    extras = [m for m in extra_metrics if m not in BASE_COLUMNS]
    return list(KEY_COLUMNS + IDENTITY_COLUMNS + METRIC_COLUMNS) + extras + list(TIMING_COLUMNS)


def known_metric_names() -> set[str]:
    """Names a metric column may have: the metric registry's, or the base ones when it cannot load."""
    try:
        from metrics import REGISTRY
        return set(REGISTRY) | set(METRIC_COLUMNS)
    except Exception:  # noqa: BLE001 - a reader must work without the metric stack
        return set(METRIC_COLUMNS)


def _check_header(path: Path, header: list[str]) -> None:
    missing = [c for c in KEY_COLUMNS if c not in header]
    known = set(BASE_COLUMNS) | known_metric_names() | set(ATTENTION_COLUMNS)
    foreign = [c for c in header if c not in known]
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if missing or foreign or duplicated:
        what = (f"lacks the columns {', '.join(missing)}" if missing else
                f"has columns this suite does not write ({', '.join(map(repr, foreign[:5]))})" if foreign else
                f"repeats the columns {', '.join(duplicated)}")
        raise RowsFileError(f"{path}: not a rows file written by benchmarks.run: its header {what}; move it "
                            "away or choose another --out (results are never merged into a foreign file)")


def _check_values(path: Path, line_number: int, row: Mapping[str, str]) -> None:
    for column, text in row.items():
        if column in _TEXT_COLUMNS or text in ("", "nan"):
            continue
        try:
            value = float(text)
        except ValueError:
            value = None
        low, high = _RANGES.get(column, (-math.inf, math.inf))
        if column == "psnr" and value == math.inf:
            continue  # an exact reproduction written before PSNR was capped: read as the cap
        if value is None or not math.isfinite(value) or not low <= value <= high:
            expected = f"a number in [{low:g}, {high:g}]" if column in _RANGES else "a finite number"
            raise RowsFileError(f"{path}: line {line_number}: {column} = {text[:40]!r} is not {expected}; "
                                "the file is damaged or was not written by benchmarks.run: fix or delete "
                                "that line (or move the file away) and run again")


def _parse(data: bytes, path: Path = Path(ROWS_FILE)) -> tuple[list[str] | None, list[dict[str, str]], int]:
    """Parse and check CSV bytes; return (header, rows, number of bytes that hold whole rows).

    Only the last line may be torn (no newline, or a field count that differs from the header):
    it can come from a write cut short and is left out. Anything else wrong raises `RowsFileError`.
    """
    if not data:
        return None, [], 0
    lines = data.split(b"\n")
    complete = lines[:-1]  # the text after the last newline is a torn (or empty) line
    if not complete:  # the header is written whole (atomically): bytes without one are not ours
        raise RowsFileError(f"{path}: not a rows file written by benchmarks.run ({len(data)} bytes without a "
                            "header line); move it away or choose another --out")
    try:
        header = next(csv.reader([complete[0].decode("utf-8")]))
    except (UnicodeDecodeError, StopIteration, csv.Error) as err:
        raise RowsFileError(f"{path}: not a rows file written by benchmarks.run (its first line is not a CSV "
                            f"header: {type(err).__name__}); move it away or choose another --out") from err
    _check_header(path, header)
    good = len(complete[0]) + 1
    rows: list[dict[str, str]] = []
    for number, line in enumerate(complete[1:], start=2):
        last = number == len(complete)
        try:
            fields = next(csv.reader([line.decode("utf-8")]))
        except (UnicodeDecodeError, StopIteration, csv.Error):
            fields = None
        if fields is None or len(fields) != len(header):
            if last:
                break  # a torn last line
            raise RowsFileError(f"{path}: line {number}: not a row of this file ({'undecodable bytes' if fields is None else f'{len(fields)} fields, the header has {len(header)}'}); "
                                "the file is damaged: fix or delete that line (or move the file away) and run again")
        row = dict(zip(header, fields))
        _check_values(path, number, row)
        rows.append(row)
        good += len(line) + 1
    return header, rows, good


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise RowsFileError(f"{path}: cannot be read ({err.strerror or err})") from err


def asked_measures(rows: Sequence[Mapping[str, str]], requested: Sequence[str]) -> list[dict[str, str]]:
    """`rows` with only the measures a command asked for: other metric cells (a reused row may carry
    SSIM or LPIPS from an earlier command) are left empty, so a view shows what was asked."""
    keep = set(requested) | _TEXT_COLUMNS | set(TIMING_COLUMNS) | set(ATTENTION_COLUMNS)
    return [{k: (v if k in keep else "") for k, v in row.items()} for row in rows]


def read_rows(path: str | os.PathLike) -> tuple[list[str], list[dict[str, str]]]:
    """Read a rows file (torn last line dropped); missing base columns come back as empty cells.

    Raises `RowsFileError` for a file this suite did not write or a damaged one."""
    path = Path(path)
    if not path.exists():
        return list(BASE_COLUMNS), []
    data = _read_bytes(path)
    header, rows, _ = _parse(data, path)
    header = header or list(BASE_COLUMNS)
    columns = header + [c for c in BASE_COLUMNS if c not in header]
    return columns, [{c: r.get(c, "") for c in columns} for r in rows]


class RowStore:
    """An append-only CSV of result rows, safe against kills (see the module docstring)."""

    def __init__(self, path: str | os.PathLike, columns: Sequence[str] = BASE_COLUMNS):
        self.path = Path(path)
        resolve_output_file(self.path)  # appended to in place: a regular file or none (a FIFO would block)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        header, rows, good = (None, [], 0)
        if self.path.exists():
            data = _read_bytes(self.path)
            header, rows, good = _parse(data, self.path)
            if good < len(data):  # torn tail from a kill: drop it before appending
                with open(self.path, "r+b") as handle:
                    handle.truncate(good)
                    handle.flush()
                    os.fsync(handle.fileno())
        wanted = list(header or []) + [c for c in columns if c not in (header or [])]
        if header is None:
            wanted = list(columns)
        self.columns = wanted
        self._rows: dict[Key, dict[str, str]] = {}
        for row in rows:
            full = {c: row.get(c, "") for c in self.columns}
            self._rows.pop(row_key(full), None)  # keep file order of the latest copy
            self._rows[row_key(full)] = full
        if header != self.columns:  # new file, or a run asking for columns the file lacks
            self._rewrite(list(self._rows.values()))

    # -- queries -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: Key) -> bool:
        return key in self._rows

    def get(self, key: Key) -> dict[str, str] | None:
        return self._rows.get(key)

    def rows(self) -> list[dict[str, str]]:
        return list(self._rows.values())

    def is_done(self, key: Key, required: Iterable[str] = ()) -> bool:
        """A finished row holding a value for every column in `required`."""
        row = self._rows.get(key)
        return row is not None and all(row.get(c, "") != "" for c in required)

    # -- writes --------------------------------------------------------------------------------
    def _line(self, row: Mapping[str, object]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow([format_value(row.get(c)) for c in self.columns])
        return buffer.getvalue().encode("utf-8")

    def append(self, row: Mapping[str, object]) -> None:
        """Append one row and make it durable (flush + fsync) before returning."""
        unknown = [c for c in row if c not in self.columns]
        if unknown:
            raise ValueError(f"row has columns the store lacks: {unknown}")
        line = self._line(row)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            try:
                if os.write(fd, line) != len(line):
                    raise OSError(errno.ENOSPC, "short write: no space left")
                os.fsync(fd)
            except OSError as err:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)  # no torn row left behind
                if err.errno in STORAGE_ERRORS:
                    raise storage_error(str(self.path), err) from err
                raise
        finally:
            os.close(fd)
        text = {c: format_value(row.get(c)) for c in self.columns}
        self._rows.pop(row_key(text), None)
        self._rows[row_key(text)] = text

    def _rewrite(self, rows: Sequence[Mapping[str, object]]) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.columns)
        for row in rows:
            writer.writerow([format_value(row.get(c)) for c in self.columns])
        atomic_write_text(self.path, buffer.getvalue())

    def canonicalize(self, order: Sequence[Key] = ()) -> None:
        """Rewrite atomically: one row per key, keys of `order` first in that order, then the rest
        in file order. Rows are never dropped."""
        rank = {key: i for i, key in enumerate(order)}
        rows = sorted(self._rows.items(), key=lambda kv: (0, rank[kv[0]]) if kv[0] in rank else (1, 0))
        self._rows = dict(rows)
        self._rewrite([r for _, r in rows])

    def merge_from(self, other: "RowStore") -> int:
        """Append every row of `other` (a per-rank part file); returns how many were added."""
        count = 0
        for row in other.rows():
            self.append({c: row.get(c, "") for c in self.columns if c in row})
            count += 1
        return count


def load_frame(path: str | os.PathLike, rows: Sequence[Mapping[str, str]] | None = None):
    """rows.csv (or a run folder), or the given `rows`, as a pandas DataFrame with every base column
    present: key and identity columns as text, every other column numeric (empty → NaN)."""
    import pandas as pd

    if rows is None:
        path = Path(path)
        if path.is_dir():
            path = path / ROWS_FILE
        columns, rows = read_rows(path)
    else:
        columns = list(dict.fromkeys([c for r in rows for c in r] + list(BASE_COLUMNS)))
    frame = pd.DataFrame([{c: r.get(c, "") for c in columns} for r in rows], columns=columns)
    for column in frame.columns:
        if column not in _TEXT_COLUMNS:
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
        else:
            frame[column] = frame[column].astype(str)
    if "psnr" in frame.columns:  # rows from before the cap (metrics.PSNR_MAX_DB) held +inf
        frame["psnr"] = frame["psnr"].clip(upper=PSNR_RANGE[1])
    return frame


SUMMARY_GROUP = ["method", "dataset", "protocol", "ref_mode", "config_id"]


def weights_label(record: Mapping[str, object] | None) -> str:
    """What a configuration's weights are, in one word for tables and CSV files (from the manifest's
    weights record): RANDOM (random or test-made: its numbers mean nothing), user (a user's callable,
    plug-in or SR folder), published (the sha256 of the published file), unverified (a file whose
    sha256 differs from or cannot be checked against a published one), none (no weights needed)."""
    record = record or {}
    if record.get("random"):
        return "RANDOM"
    if record.get("user_method") or record.get("found_in") == "--sr":
        return "user"
    if not record.get("sha256"):
        return "none"
    return "published" if record.get("published") else "unverified"


def weights_labels(run_dir: str | os.PathLike) -> dict[str, str]:
    """config_id → `weights_label` of every configuration the run folder's manifest records."""
    from benchmarks import manifest

    configs = manifest.read(run_dir).get("configs") or {}
    return {cid: weights_label(entry.get("weights")) for cid, entry in configs.items() if isinstance(entry, dict)}


def summarize(frame, labels: Mapping[str, str] | None = None):
    """Means per pass and configuration (method, dataset, protocol, ref_mode, config_id): every
    metric column, mean seconds, the largest peak memory, and the number of images; with `labels`
    (config_id → `weights_label`), a `weights` column saying what the weights are. Columns that no
    row filled stay empty."""
    import pandas as pd

    group = SUMMARY_GROUP
    value_columns = [c for c in frame.columns if c not in _TEXT_COLUMNS]
    extra = [c for c in ("weights_sha256",) if c in frame.columns] + (["weights"] if labels is not None else [])
    if frame.empty:
        return pd.DataFrame(columns=group + extra + ["images"] + value_columns)
    grouped = frame.groupby(group, sort=False, dropna=False)
    out = grouped[[c for c in value_columns if c != "peak_mem_mb"]].mean()
    out["peak_mem_mb"] = grouped["peak_mem_mb"].max()
    for column in extra:
        if column != "weights":
            out[column] = grouped[column].first()
    out.insert(0, "images", grouped.size())
    out = out.reset_index()
    if labels is not None:
        out["weights"] = [labels.get(cid, "") for cid in out["config_id"]]
    return out[group + extra + ["images"] + value_columns]


def write_summary(run_dir: str | os.PathLike, rows: Sequence[Mapping[str, str]] | None = None) -> Path:
    """Write `summary.csv` (atomically) from `rows` (the run's current rows: `select_current`), or
    from every row of rows.csv when not given."""
    run_dir = Path(run_dir)
    summary = summarize(load_frame(run_dir / ROWS_FILE, rows), weights_labels(run_dir))
    target = run_dir / SUMMARY_FILE
    atomic_write_text(target, summary.to_csv(index=False, float_format="%.6f"))
    return target


def data_key(dataset: str, protocol: str, ref_mode: str) -> str:
    """How the manifest's `plan.data` names one (dataset, protocol, ref_mode) pass's images."""
    return f"{dataset}|{protocol}|{ref_mode}"


def select_current(rows: Sequence[Mapping[str, str]], plan: Mapping[str, object] | None
                   ) -> list[Mapping[str, str]]:
    """The rows a run folder shows: exactly those its latest command asked for.

    `plan` is the manifest's `plan`: `passes` (each: method, dataset, protocol, ref_mode,
    config_id) and `data` (`data_key(...)` -> {image: data_sha256} of the images that command
    saw). A row is shown when its pass, `config_id`, image and `data_sha256` are in the plan; rows
    of other configurations or other data (earlier commands) stay in rows.csv, and are reused when
    asked for again, but are not shown. Plan order. `plan=None` (a folder written before
    identities were recorded): every row.
    """
    if plan is None:
        return list(rows)
    by_id = {row_key(r): r for r in rows}
    data = plan.get("data") or {}
    selected: list[Mapping[str, str]] = []
    for item in plan.get("passes") or []:
        what = tuple(str(item[c]) for c in KEY_COLUMNS[:4])
        images = data.get(data_key(*what[1:])) or {}
        for image, sha in images.items():
            row = by_id.get(what + (str(image), str(item["config_id"]), str(sha)))
            if row is not None:
                selected.append(row)
    return selected


def image_stem(image: str, dataset: str, ref_mode: str) -> str:
    """File stem of a row's saved SR image / attention map: `<image>` under the dataset's main
    reference mode (`protocols.default_ref_mode`), `<image>@<ref_mode>` under the others (Table 4's
    levels, the SISR pass of Urban100/Manga109), so passes of one dataset never overwrite each other."""
    from benchmarks.protocols import default_ref_mode

    return image if ref_mode == default_ref_mode(dataset) else f"{image}@{ref_mode}"
