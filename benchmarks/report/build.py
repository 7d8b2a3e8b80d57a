"""The report of run folders: the results views built once from their rows and the paper's tables,
rendered into a self-contained folder (`render`).

Outputs: `index.html` (`report.html`), `README.md` and `report.md` (the same tables in Markdown,
`report.text`), `assets/tables.csv` (every cell of the measured paper tables: measured, paper, Δ,
status), `assets/tables.tex` (the same tables as booktabs LaTeX, `report.latex`), and `assets/` plots (`report.plots`) and re-encoded thumbnails (`report.visuals`).
"""
from __future__ import annotations

import datetime as _dt
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import pandas as pd

from benchmarks import published
from benchmarks import gains
from benchmarks.report.plots import plots_for_groups, plots_for_refgain, plots_for_tables
from benchmarks.report.html import render_html
from benchmarks.report.runs import Run, combined_rows, current_skips, find_run_dirs, load_run, manifest_view
from benchmarks.report.latex import tables_latex
from benchmarks.report.text import render_markdown, tables_csv
from benchmarks.report.visuals import build_comparisons
from benchmarks.views import (CellView, GroupView, RowView, TableView, build_groups, build_table, higher_is_better,
                              pass_table, suite_methods, summarize)
from foundation.errors import UserError
from foundation.fileio import atomic_write_text

MARKER = ".ttsr-bench-report"
TABLES_CSV = "assets/tables.csv"
TABLES_TEX = "assets/tables.tex"
REFGAIN_GAINS, REFGAIN_CURVES = "assets/refgain-gains.csv", "assets/refgain-curves.csv"


@dataclass
class Report:
    """What `render` wrote: the folder, index.html, the table views by name, the pass groups and runs,
    and the seconds it took."""

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


@dataclass
class Shown:
    """What the views of run folders show (`build_views`): the runs, their combined current rows (with a
    `run` column: `runs.combined_rows`), the methods with random weights among them, the skip records
    that still hold, and every paper table's `TableView` by name (published.toml's order)."""

    runs: list[Run]
    frame: pd.DataFrame
    random: set[str]
    skipped: list[dict]
    tables: dict[str, TableView]

    ci: bool = False  # measured cells carry bootstrap intervals (`--ci`)

    def passes_view(self) -> TableView:
        """Every pass the runs show as one table (`views.pass_table`, named "runs"): a row per method, a column
        per (dataset, protocol, ref_mode), each measured cell with its run folder and config_id, and the
        paper's cell where the pass's protocol compares with a published table. Demo and other passes
        no paper table holds are shown here too."""
        from benchmarks.protocols import PROTOCOLS

        rows = self.frame.drop(columns=["run"], errors="ignore").to_dict("records")
        runs = {key: run for key, run in zip(
            self.frame[["method", "dataset", "protocol", "ref_mode"]].itertuples(index=False, name=None),
            self.frame["run"])} if not self.frame.empty else {}
        evaluations = [e for name in PROTOCOLS for e in PROTOCOLS[name].evaluations]
        view = pass_table(rows, evaluations, self.random, runs=runs, ci=self.ci)
        names = ", ".join(r.name for r in self.runs)
        columns = [replace(c, label=", ".join(c.label.splitlines())) for c in view.columns]  # one line each
        return replace(view, name="runs", title=f"Measured passes of {names}", columns=columns)


def build_views(run_paths: Sequence[str | Path], ci: bool = False) -> Shown:
    """Read the run folders under `run_paths` (`UserError` for a missing or damaged one) and build the
    paper tables' views once: what the report and `ttsr-bench table` render. `ci`: every measured cell
    with the 95% bootstrap interval of its means over images (`benchmarks.stats`; `--ci`)."""
    runs = [load_run(p) for p in find_run_dirs(run_paths)]
    frame = combined_rows(runs)
    shown = set(zip(frame["run"], frame["method"])) if not frame.empty else set()  # (run, method) with rows
    random = {m for r in runs for m in r.random_methods if (r.name, m) in shown}
    skipped = current_skips(runs, frame)
    summary = summarize(frame, ci=ci)
    suite = suite_methods()
    origins = {m: o for r in runs for m, o in r.weight_origins.items() if (r.name, m) in shown}
    tables = {name: build_table(pub, summary, random, skipped, suite, origins)
              for name, pub in published.tables().items()}
    return Shown(runs=runs, frame=frame, random=random, skipped=skipped, tables=tables, ci=ci)


def render(run_paths: Sequence[str | Path], out: str | Path, *, visual_images: int = 2,
           visual_limit: int = 12, title: str = "TTSR reproduction report", ci: bool = False) -> Report:
    """Render the report of the runs under `run_paths` into `out` (`ci`: intervals in the tables' measured
    cells); returns the view model."""
    started = time.perf_counter()
    shown = build_views(run_paths, ci=ci)
    runs, frame, random, skipped, tables = shown.runs, shown.frame, shown.random, shown.skipped, shown.tables
    out = Path(out)
    _prepare_out(out)
    plot_dir, img_dir = out / "assets" / "plots", out / "assets" / "img"
    plot_dir.mkdir(parents=True, exist_ok=True)
    img_dir.mkdir(parents=True, exist_ok=True)

    paper_protocols = set(tables) | {"default"}
    refgain = gains.build(frame, random)  # the refgain protocols' passes: their own section, not groups
    plain = frame[~frame["protocol"].astype(str).str.startswith(gains.PROTOCOL_PREFIX)] if not frame.empty else frame
    groups = build_groups(plain, random)
    other_groups = [g for g in groups if g.protocol not in paper_protocols
                    or not any(g.dataset == c.dataset for t in tables.values() for c in t.columns)]
    plots_for_tables(tables, plot_dir, "assets/plots")
    plots_for_groups(groups, frame, plot_dir, "assets/plots")
    comparisons = build_comparisons(runs, visual_images, visual_limit, img_dir, "assets/img")
    refgain_plots = plots_for_refgain(refgain, plot_dir, "assets/plots")
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
        "refgain": refgain, "refgain_plots": refgain_plots, "format_p": gains.format_p,
        "format_half": gains.format_half,
    }
    index = out / "index.html"
    atomic_write_text(index, render_html(context))
    atomic_write_text(out / TABLES_CSV, tables_csv(tables[n] for n in context["table_order"]))
    atomic_write_text(out / TABLES_TEX, tables_latex((tables[n] for n in context["table_order"]), context["sources"]))
    if not refgain.empty:
        atomic_write_text(out / REFGAIN_GAINS, gains.gains_csv(refgain))
        atomic_write_text(out / REFGAIN_CURVES, gains.curves_csv(refgain))
    markdown = render_markdown(context)
    atomic_write_text(out / "report.md", markdown)
    readme = out / "README.md"
    if not readme.exists() or readme.read_text(encoding="utf-8").startswith(markdown.split("\n", 1)[0]):
        atomic_write_text(readme, markdown)  # a README.md of someone else's (the repo's reports/README.md) stays
    return Report(out=out, index=index, tables=tables, groups=groups, runs=runs,
                  seconds=time.perf_counter() - started)


