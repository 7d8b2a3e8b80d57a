"""The results store of a run folder: `rows.csv` (append-only), `summary.csv`, and readers.

`rows.csv` holds one row per (method, dataset, protocol, ref_mode, image) with the columns of
`BASE_COLUMNS` plus any extra metric columns a run asked for. Every row is appended as one line,
flushed and fsynced as soon as its image is finished, so a run killed at any moment loses at most
the image in flight. A kill in the middle of a write can leave a torn last line (no newline, or
too few fields); `RowStore` detects it, drops it and truncates the file back to the last whole
row before appending again. When a key appears twice (`--force`), the later row wins.

At the end of a run the runner calls `RowStore.canonicalize(order)`, which rewrites the file
atomically with one row per key in the run's plan order, so an interrupted-and-resumed run, a
distributed run and an uninterrupted run end with the same file (apart from timing columns).

Readers (`read_rows`, `load_frame`) accept files from runs that lack some columns.
"""
from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from ttsr.fileio import atomic_write_text, resolve_output_file

KEY_COLUMNS = ("method", "dataset", "protocol", "ref_mode", "image")
METRIC_COLUMNS = ("psnr", "ssim", "lpips")
TIMING_COLUMNS = ("seconds", "peak_mem_mb")
BASE_COLUMNS = KEY_COLUMNS + METRIC_COLUMNS + TIMING_COLUMNS
ROWS_FILE = "rows.csv"
SUMMARY_FILE = "summary.csv"

Key = tuple[str, str, str, str, str]


def row_key(row: Mapping[str, object]) -> Key:
    return tuple(str(row[c]) for c in KEY_COLUMNS)  # type: ignore[return-value]


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
    return list(KEY_COLUMNS + METRIC_COLUMNS) + extras + list(TIMING_COLUMNS)


def _parse(data: bytes) -> tuple[list[str] | None, list[dict[str, str]], int]:
    """Parse CSV bytes; return (header, rows, number of bytes that hold whole rows).

    A last line without its newline, or a line whose field count differs from the header, ends the
    good part (it can only come from a write cut short; everything before it is kept).
    """
    if not data:
        return None, [], 0
    lines = data.split(b"\n")
    complete = lines[:-1]  # the text after the last newline is a torn (or empty) line
    if not complete:
        return None, [], 0
    header = next(csv.reader([complete[0].decode("utf-8")]))
    good = len(complete[0]) + 1
    rows: list[dict[str, str]] = []
    for line in complete[1:]:
        try:
            fields = next(csv.reader([line.decode("utf-8")]))
        except (UnicodeDecodeError, StopIteration, csv.Error):
            break
        if len(fields) != len(header):
            break
        rows.append(dict(zip(header, fields)))
        good += len(line) + 1
    return header, rows, good


def read_rows(path: str | os.PathLike) -> tuple[list[str], list[dict[str, str]]]:
    """Read a rows file (torn last line dropped); missing base columns come back as empty cells."""
    path = Path(path)
    if not path.exists():
        return list(BASE_COLUMNS), []
    header, rows, _ = _parse(path.read_bytes())
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
            data = self.path.read_bytes()
            header, rows, good = _parse(data)
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
            os.write(fd, line)
            os.fsync(fd)
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


def load_frame(path: str | os.PathLike):
    """rows.csv (or a run folder) as a pandas DataFrame with every base column present."""
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        path = path / ROWS_FILE
    columns, rows = read_rows(path)
    frame = pd.DataFrame(rows, columns=columns)
    for column in frame.columns:
        if column not in KEY_COLUMNS:
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def summarize(frame):
    """Means per (method, dataset, protocol, ref_mode): every metric column, mean seconds, the
    largest peak memory, and the number of images. Columns that no row filled stay empty."""
    import pandas as pd

    group = ["method", "dataset", "protocol", "ref_mode"]
    if frame.empty:
        return pd.DataFrame(columns=group + ["images"] + [c for c in frame.columns if c not in KEY_COLUMNS])
    value_columns = [c for c in frame.columns if c not in KEY_COLUMNS]
    grouped = frame.groupby(group, sort=False, dropna=False)
    out = grouped[[c for c in value_columns if c != "peak_mem_mb"]].mean()
    out["peak_mem_mb"] = grouped["peak_mem_mb"].max()
    out.insert(0, "images", grouped.size())
    return out.reset_index()[group + ["images"] + value_columns]


def write_summary(run_dir: str | os.PathLike) -> Path:
    """Write `summary.csv` (atomically) from the run's rows."""
    run_dir = Path(run_dir)
    summary = summarize(load_frame(run_dir / ROWS_FILE))
    target = run_dir / SUMMARY_FILE
    atomic_write_text(target, summary.to_csv(index=False, float_format="%.6f"))
    return target


def image_stem(image: str, dataset: str, ref_mode: str) -> str:
    """File stem of a row's saved SR image / attention map: `<image>` under the dataset's main
    reference mode (`protocols.default_ref_mode`), `<image>@<ref_mode>` under the others (Table 4's
    levels, the SISR pass of Urban100/Manga109), so passes of one dataset never overwrite each other."""
    from benchmarks.protocols import default_ref_mode

    return image if ref_mode == default_ref_mode(dataset) else f"{image}@{ref_mode}"
