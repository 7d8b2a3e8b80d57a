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
(the report's Markdown table). In every format the same cells are best (bold in LaTeX and Markdown,
the CSV's `best`): `TableView.best`, among cells measured on the column's whole image set with real
weights. Without `--table`: every paper table with a measured cell, else `runs`.
Without `--format`: from the suffix of `--out` (.tex, .csv, .md; another suffix is refused), else latex;
`--format` and a suffix of another format (x.csv --format latex), or `--out x.pdf` (this writes LaTeX
source, not a PDF) are refused. Without `--out`: stdout.
Exit status: 0 done; 2 bad input (unknown table, missing or damaged run folder, --out suffix: one line);
3 nothing measured in the run folders for a table asked for (one line; nothing written).
"""
from __future__ import annotations

import sys
from pathlib import Path

from benchmarks.report.build import build_views
from benchmarks.report.cli import add_ci_option, add_published_options, use_published
from benchmarks.report.runs import find_run_dirs
from benchmarks.report.latex import tables_latex
from benchmarks.report.text import md_escape, table_markdown, tables_csv
from foundation.cli_types import OneLineParser
from foundation.errors import EXIT_NOTHING_MEASURED, UserError, cli_main
from foundation.fileio import atomic_write_text, check_not_an_input, check_output_file

FORMATS = {".tex": "latex", ".csv": "csv", ".md": "md"}
PASSES = "runs"


class NothingMeasured(Exception):
    """A table asked for has no measured cell in the run folders (`main`: one line, exit 3)."""


def out_format(out: str | None, fmt: str | None) -> str:
    """The format to write: `fmt` (--format) if given, else from the suffix of `out` (--out; `FORMATS`), else
    "latex". `UserError` for an --out suffix that is not .tex/.csv/.md without --format, a suffix of
    another format than --format, or .pdf (the export is LaTeX source: write .tex and compile it)."""
    if not out:
        return fmt or "latex"
    suffix = Path(out).suffix.lower()
    if suffix == ".pdf":
        raise UserError(f"--out {out}: this writes LaTeX source, not a PDF; write a .tex file "
                        f"(--out {Path(out).with_suffix('.tex')}) and compile it with pdflatex")
    implied = FORMATS.get(suffix)
    if fmt is None and implied is None:
        raise UserError(f"--out {out}: unknown suffix {suffix or '(none)'}; use .tex, .csv or .md, "
                        f"or name the format with --format latex|csv|md")
    if fmt is not None and implied is not None and implied != fmt:
        raise UserError(f"--out {out}: a {suffix} file but --format {fmt}; use a matching suffix "
                        f"({', '.join(k for k, v in FORMATS.items() if v == fmt)}) or --format {implied}")
    return fmt or implied


def export(run_paths, tables: list[str] | None = None, fmt: str = "latex", ci: bool = False) -> str:
    """The text of the tables `tables` (paper table names or "runs"; None: every paper table with a
    measured cell, else "runs") of the run folders under `run_paths`, as `fmt` ("latex", "csv" or "md");
    `ci`: measured values with their bootstrap intervals [low, high] (`build_views`).
    `UserError` for an unknown table name or a missing or damaged run folder; `NothingMeasured` when a
    table asked for (or, without `tables`, the runs view) has no measured cell."""
    shown = build_views(run_paths, ci=ci)
    asked = bool(tables)
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
    empty = [view.name for view in views if not view.measured_count]
    if empty:
        folders = ", ".join(str(p) for p in run_paths)
        what = f"--table {' '.join(empty)}" if asked else "any table"
        raise NothingMeasured(f"table: nothing was measured in {folders} for {what}; nothing written "
                              f"(measure with ttsr-bench run or reproduce into these folders first)")
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
        epilog=f"Exit status: 0 done; 2 bad input (one line); {EXIT_NOTHING_MEASURED} nothing measured in the run "
               "folders for a table asked for (one line; nothing written).")
    parser.add_argument("--runs", nargs="+", default=["runs"],
                        help="run folders, or folders of run folders (default: runs)")
    parser.add_argument("--table", nargs="+", metavar="NAME",
                        help="paper table(s) (table1 … table4, sisr, your published files' tables) or 'runs' "
                             "(every pass of the runs, demo included); default: every paper table with a "
                             "measured cell, else runs")
    parser.add_argument("--format", choices=["latex", "csv", "md"],
                        help="output format (default: from the --out suffix .tex/.csv/.md, else latex; "
                             "another --out suffix needs --format; .pdf is refused: this writes LaTeX source)")
    parser.add_argument("--out", metavar="FILE", help="write the table to FILE (atomically; default: stdout)")
    add_ci_option(parser)
    add_published_options(parser)
    args = parser.parse_args(argv)
    use_published(args)
    fmt = out_format(args.out, args.format)
    if args.out:
        check_output_file(args.out, "--out")
        check_not_an_input(args.out, "--out", [("--runs", p) for p in args.runs],
                           holders=[("the run folder", p) for p in find_run_dirs(args.runs)])
    try:
        text = export(args.runs, args.table, fmt, ci=args.ci)
    except NothingMeasured as err:
        print(str(err), file=sys.stderr)
        return EXIT_NOTHING_MEASURED
    if args.out:
        atomic_write_text(args.out, text)
        print(f"table: {args.out} ({fmt})")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
