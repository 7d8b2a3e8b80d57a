"""`ttsr-bench table --runs DIR … --table table1 --format latex|csv|md [--out FILE]`: a results table
as it goes into a paper.

Exports any table view (`benchmarks.views.TableView`, built by `benchmarks.report.build.build_views`
exactly as the report builds it) of the given run folders:

- a paper table by name (`table1` … `table4`, `sisr`, and tables of your published-numbers files):
  the paper's rows and columns, measured / paper / Δ per cell;
- `runs`: every pass the run folders show (demo and other passes no paper table holds included),
  a column per (dataset, protocol, reference mode).

Formats: `latex` (booktabs `table*`, `benchmarks.report.latex`: best measured value per column in bold,
† random weights, ‡ unconfirmed paper figure, § part of a test set, caption and notes naming the run
folders and config ids), `csv` (the report's `tables.csv` lines, `report.text.tables_csv`) and `md`
(the report's Markdown table). Without `--table`: every paper table with a measured cell, else `runs`.
Without `--format`: from the suffix of `--out` (.tex, .csv, .md), else latex. Without `--out`: stdout.
Exit status: 0 done; 2 bad input (unknown table, missing or damaged run folder: one line).
"""
from __future__ import annotations

import sys
from pathlib import Path

from benchmarks.report.build import build_views
from benchmarks.report.cli import add_published_options, use_published
from benchmarks.report.runs import find_run_dirs
from benchmarks.report.latex import tables_latex
from benchmarks.report.text import md_escape, table_markdown, tables_csv
from foundation.cli_types import OneLineParser
from foundation.errors import UserError, cli_main
from foundation.fileio import atomic_write_text, check_not_an_input, check_output_file

FORMATS = {".tex": "latex", ".csv": "csv", ".md": "md"}
PASSES = "runs"


def export(run_paths, tables: list[str] | None = None, fmt: str = "latex") -> str:
    """The text of the tables `tables` (paper table names or "runs"; None: every paper table with a
    measured cell, else "runs") of the run folders under `run_paths`, as `fmt` ("latex", "csv" or "md").
    `UserError` for an unknown table name or a missing or damaged run folder."""
    shown = build_views(run_paths)
    if not tables:
        tables = [name for name, view in shown.tables.items() if view.measured_count] or [PASSES]
    known = {name.lower(): name for name in shown.tables}
    views = []
    for name in tables:
        if name.lower() == PASSES:
            views.append(shown.passes_view())
        elif name.lower() in known:
            views.append(shown.tables[known[name.lower()]])
        else:
            raise UserError(f"--table {name}: no such table; choose from {', '.join([*shown.tables, PASSES])}")
    if fmt == "latex":
        return tables_latex(views)
    if fmt == "csv":
        return tables_csv(views)
    return "\n".join(f"## {md_escape(v.title)}\n\n{table_markdown(v)}\n\n{md_escape(v.coverage_text())}; runs: "
                     + ", ".join(md_escape(r.name) for r in shown.runs) + "\n" for v in views)


@cli_main
def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(
        prog="ttsr-bench table",
        description="Export a results table of run folders as LaTeX (booktabs), CSV or Markdown: paper / "
                    "measured / Δ per cell, best measured value per column in bold.",
        epilog="Exit status: 0 done; 2 bad input (one line).")
    parser.add_argument("--runs", nargs="+", default=["runs"],
                        help="run folders, or folders of run folders (default: runs)")
    parser.add_argument("--table", nargs="+", metavar="NAME",
                        help="paper table(s) (table1 … table4, sisr, your published files' tables) or 'runs' "
                             "(every pass of the runs, demo included); default: every paper table with a "
                             "measured cell, else runs")
    parser.add_argument("--format", choices=["latex", "csv", "md"],
                        help="output format (default: from the --out suffix .tex/.csv/.md, else latex)")
    parser.add_argument("--out", metavar="FILE", help="write the table to FILE (atomically; default: stdout)")
    add_published_options(parser)
    args = parser.parse_args(argv)
    use_published(args)
    if args.out:
        check_output_file(args.out, "--out")
        check_not_an_input(args.out, "--out", [("--runs", p) for p in args.runs],
                           holders=[("the run folder", p) for p in find_run_dirs(args.runs)])
    fmt = args.format or (FORMATS.get(Path(args.out).suffix.lower(), "latex") if args.out else "latex")
    text = export(args.runs, args.table, fmt)
    if args.out:
        atomic_write_text(args.out, text)
        print(f"table: {args.out} ({fmt})")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
