"""The report: `python -m benchmarks.report --runs runs/… --out reports/`.

Reads run folders (the layout of docs/interfaces.md, "Runs") and renders a self-contained folder:
`index.html` (jinja2; inline CSS and JS, relative links, no network), `README.md` and `report.md`
(the same tables in Markdown), `assets/tables.csv` and `assets/tables.tex` (booktabs LaTeX), and
`assets/` (plots and re-encoded thumbnails).

Sections: one per published table in the paper's layout (measured / paper / Δ per cell, coloured
by the table's tolerance, ⚠ on unconfirmed paper values, reasons for what was not measured), other
measured results, the perceptual measures per dataset with a perception–distortion scatter,
visual comparisons with the reference regions hard attention used, per-image tables (sortable),
run manifests, and what was skipped.

The package: `runs` (load and check run folders, combine them), `build` (the views of
`benchmarks.views` built once, the outputs written), `html` and `text` (renderers), `plots`,
`visuals` (comparisons), `cli` (the command).
"""
from __future__ import annotations

from benchmarks.report.build import Report, render
from benchmarks.report.cli import main
from benchmarks.report.runs import Run, combined_rows, load_run

__all__ = ["Report", "Run", "combined_rows", "load_run", "main", "render"]
