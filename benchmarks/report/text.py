"""Text renderers of the results view (`benchmarks.views`): Markdown tables (README.md / report.md,
tabulate "github"), the plain tables `benchmarks.reproduce` and `benchmarks.run` print, and CSV.
They read `TableView`s (cells of `CellView`s) and `GroupView`s and add nothing to them.

Every text in the Markdown that comes from data (method, image, dataset and run names, reasons,
fixes, paths, the --title) goes through `md_escape`, so a file name cannot inject HTML into a
viewer that renders it, nor break a table or turn into emphasis or a link.
"""
from __future__ import annotations

import csv
import html
import io
import re
import urllib.parse

from tabulate import tabulate

from benchmarks.views import PAPER_DIGITS, TableView, fmt


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md_escape(value) -> str:
    """`value` as literal Markdown text, one rule for every text from data:

    1. every run of whitespace (newlines included) becomes one space: a row stays one line;
    2. ``&``, ``<``, ``>`` become ``&amp;``, ``&lt;``, ``&gt;``: no HTML tag or entity survives;
    3. a backslash goes before each of ``\\ ` * _ [ ] | ~``: CommonMark backslash escapes, so no
       code span, emphasis, link or strikethrough starts, and ``\\|`` keeps a GFM table cell whole.

    Anything else (letters, digits, ``-``, ``.``, ``/``, ``#``, non-ASCII) is unchanged, so common
    names such as ``ttsr-rec`` or ``CUFED5`` read as before. Returns a `str`.
    """
    text = html.escape(" ".join(str(value).split()), quote=False)
    return _MD_SPECIAL.sub(r"\\\1", text)


_STATUS_MD = {"ok": "✓", "off": "⚑ off", "far": "‼ far", "random": "(not judged)", "measured": "",
              "partial": "(part of the set: not judged)",
              "other-training": "(weights not trained on the paper's training set: not judged)",
              "paper-only": "", "empty": ""}


def _md_cell(cell, paper_only: bool = False, best: tuple[bool, bool] = (False, False)) -> str:
    """One cell of `table_markdown`; `best`: whether its measured PSNR, SSIM is the column's best (bold)."""
    if cell.measured is None and cell.paper is None:
        return ""
    parts = []
    if cell.measured is not None:
        figures = [f"**{text}**" if bold else text
                   for text, bold in zip(cell.measured_text().split(" / "), best)]
        parts.append(" / ".join(figures) + (f" ({cell.measured.images}/{cell.measured.expected} img)"
                                            if cell.measured.partial else ""))
        if cell.random:
            parts.append("**RANDOM WEIGHTS**: not a measurement of the method")
        if cell.other_training:
            parts.append(md_escape(cell.other_training))
        if cell.measured.lpips is not None:
            parts.append(f"LPIPS {fmt(cell.measured.lpips, 4)}")
    elif not paper_only:
        parts.append("not measured")
    if cell.paper is not None:
        origin = f" ({md_escape(cell.paper.origin_file)})" if cell.paper.from_user_file else ""
        parts.append((cell.paper_text() if paper_only else f"paper {cell.paper_text()}") + origin)
    delta = cell.delta_text()
    if delta:
        parts.append(f"Δ {delta} {_STATUS_MD.get(cell.status, '')}".rstrip())
    if cell.measured is not None:
        parts.append(f"run {md_escape(cell.measured.run)}" + (f", config {md_escape(cell.measured.config_id)}"
                                                              if cell.measured.config_id else ""))
    return "<br>".join(parts)


def table_markdown(view) -> str:
    """`view` as a GitHub Markdown table: per cell the measured PSNR / SSIM, the paper's cell and Δ. Bold:
    the column's best measured PSNR and SSIM (`TableView.best` at `views.PAPER_DIGITS`, the cells the
    LaTeX export prints in bold and the CSV's `best` names), nothing else."""
    best = {metric: view.best(metric, PAPER_DIGITS[metric]) for metric in ("psnr", "ssim")}
    headers = ["Method"] + [md_escape(f) for f in view.flag_names] + (["Params (suite)", "Params (paper)"] if view.has_params else []) \
        + [md_escape(c.label) for c in view.columns]
    body = []
    for row in view.rows:
        measured = any(c.measured for c in row.cells.values())
        label = md_escape(row.label) + ("" if row.in_paper else " (not in paper)") + (" (RANDOM WEIGHTS)" if row.random and measured else "")
        line = [label] + ["✓" if row.flags.get(f) else "" for f in view.flag_names]
        if view.has_params:
            pp = row.params_paper or {}
            line += [f"{row.params_m:.2f}M ({row.params:,})" + (" ✓" if row.params_match else "") if row.params else "–",
                     (f"{pp['value'] / 1e6:.2f}M" + ("" if pp.get("confirmed") else "⚠")) if pp.get("value") else "–"]
        line += [_md_cell(row.cells[c.key], paper_only=not view.measured_count,
                          best=tuple(row.method in best[metric].get(c.key, ()) for metric in ("psnr", "ssim")))
                 for c in view.columns]
        body.append(line)
    return tabulate(body, headers=headers, tablefmt="github")


def render_markdown(context: dict) -> str:
    tables = context["tables"]
    lines = [f"# {md_escape(context['title'])}", "",
             f"Generated {context['generated']} from {len(context['runs'])} run(s): "
             + ", ".join(md_escape(r.name) for r in context["runs"]) + ". Open `index.html` for the full report "
             "(per-image tables, visual comparisons, manifests); every table cell as CSV: `assets/tables.csv`, as LaTeX: `assets/tables.tex`.", "",
             "Each cell: measured PSNR / SSIM, the paper's value, Δ = measured − paper "
             "(✓ within tolerance, ⚑ outside, ‼ far outside); **bold**: the column's best measured value at the "
             "paper's precision, among cells measured on the whole test set with real weights. "
             "⚠ = paper value not confirmed from a source "
             "(see \"Sources of the paper's numbers\" at the end); check it against the paper PDF.", ""]
    if context["random"]:
        lines += [f"> **Random weights** (not published checkpoints; numbers mean nothing): "
                  f"{', '.join(md_escape(m) for m in context['random'])}", ""]
    for name in context["table_order"]:
        view = tables[name]
        lines += [f"## {view.title}", "", view.note, "",
                  f"Tolerance ±{view.tolerance.psnr} dB / ±{view.tolerance.ssim} SSIM; far: "
                  f"±{view.far.psnr} dB / ±{view.far.ssim}. {view.coverage_text().capitalize()}.", "",
                  table_markdown(view), ""]
        gaps = view.gaps()
        if gaps:
            lines += ["Not measured:", ""] + [f"- {md_escape(r.label)} · {md_escape(c.column)}: {md_escape(c.reason)}"
                                              for r, c in gaps[:40]] + [""]
        for plot in view.plots:
            lines += [_md_image(plot), ""]
    if context["other_groups"]:
        lines += ["## Other measured results", ""]
        for g in context["other_groups"]:
            lines += [f"### {md_escape(g.title)}", "", _group_markdown(g, context), ""]
    if not context["refgain"].empty:
        lines += refgain_markdown(context["refgain"], context["refgain_plots"])
    if context["perceptual_groups"]:
        lines += ["## Perceptual measures", "", "↑ higher is better, ↓ lower is better.", ""]
        for g in context["perceptual_groups"]:
            lines += [f"### {md_escape(g.title)}", "", _group_markdown(g, context), ""]
            for plot in g.plots:
                if plot["kind"] == "perception":
                    lines += [_md_image(plot), ""]
    if context["paper_only_order"]:
        lines += ["## Paper tables not measured in these runs", "",
                  "The paper's numbers (run `python -m benchmarks.reproduce tableN` to measure them).", ""]
        for name in context["paper_only_order"]:
            view = tables[name]
            lines += [f"### {view.title}", "", view.note, "", table_markdown(view), ""]
    if context["skipped"]:
        lines += ["## Skipped", ""]
        rows = [[md_escape(s.get(key, "")) for key in ("run", "what", "reason", "fix")] for s in context["skipped"]]
        lines += [tabulate(rows, headers=["run", "what", "reason", "fix"], tablefmt="github"), ""]
    lines += ["## Runs", ""]
    rows = [[md_escape(m["name"]), md_escape(m["protocol"]), md_escape(m["device"]), md_escape(str(m["commit"])[:12]),
             m["rows"], ", ".join(md_escape(r) for r in m["random"]) or "–"] for m in context["manifests"]]
    lines += [tabulate(rows, headers=["run", "protocol", "device", "commit", "rows", "random weights"],
                       tablefmt="github"), ""]
    lines += _sources_markdown(context)
    return "\n".join(lines).rstrip() + "\n"


REFGAIN_INTRO = (
    "How much each RefSR method gains from its reference (`ttsr-bench refgain`; definitions in `benchmarks/gains.py`). "
    "Gain = the method with the set's reference minus the same method with the LR as its reference (vs lr), or "
    "minus the best SISR method present on the same images (vs sisr:NAME); signed so that positive = the reference "
    "helps (LPIPS: lower is better, so its difference is negated). [low, high]: 95% percentile bootstrap interval of "
    "the mean over images (2000 resamples, seed 0); p: paired t-test and Wilcoxon signed-rank test over images "
    "(a small p: the difference is unlikely to be chance; with few images no p can be small). Curves: the gain vs "
    "LR-as-reference as the reference is perturbed (level 0 = unperturbed), with the attention statistics of "
    "TTSR/SRNTT on the right axis: the fraction of LR positions matched to distinct reference patches and the "
    "mean soft-attention confidence S.")


def refgain_markdown(view, plots: list[dict]) -> list[str]:
    """The report's "Reference gain" section (`benchmarks.gains.RefGainView`): gains per set with intervals
    and p-values per measure, the half-gain severity table, attention statistics, one curve plot each."""
    from benchmarks.gains import format_half, format_p

    def rnd(method: str) -> str:
        return md_escape(method) + (" (RANDOM WEIGHTS)" if method in view.random else "")

    lines = ["## Reference gain", "", REFGAIN_INTRO, ""]
    if view.random:
        lines += [f"> **Random weights**: {', '.join(md_escape(m) for m in sorted(view.random))}: the gains "
                  "of these methods say nothing about the method.", ""]
    for metric in view.metrics:
        digits = 3 if metric == "psnr" else 4
        body = [[md_escape(g.dataset), md_escape(g.ref_mode), rnd(g.method), md_escape(g.vs),
                 f"{fmt(g.mean, digits, signed=True)} [{fmt(g.low, digits, signed=True)}, {fmt(g.high, digits, signed=True)}]",
                 g.n, format_p(g.t_p), format_p(g.wilcoxon_p)] for g in view.gains if g.metric == metric]
        if body:
            lines += [f"### {md_escape(metric)} gain", "",
                      tabulate(body, headers=["dataset", "reference", "method", "vs", "gain [95% CI]", "images",
                                              "t-test p", "Wilcoxon p"], tablefmt="github", disable_numparse=True), ""]
    for metric in view.metrics:
        curves = [c for c in view.curves if c.metric == metric]
        if not curves:
            continue
        names = list(dict.fromkeys(c.perturbation for c in curves))
        units = {c.perturbation: c.unit for c in curves}
        cells: dict[tuple, dict] = {}
        for c in curves:
            cells.setdefault((c.dataset, c.base, c.method), {})[c.perturbation] = format_half(c.half)
        body = [[md_escape(d), md_escape(b), rnd(m)] + [cells[(d, b, m)].get(n, "") for n in names]
                for (d, b, m) in cells]
        lines += [f"### Severity at which half the {md_escape(metric)} gain is lost", "",
                  "Interpolated between the levels around it, in each perturbation's unit (" +
                  "; ".join(f"{md_escape(n)}: {md_escape(units[n])}" for n in names) + "). \"not lost\": the gain "
                  "stays above half at every level; \"no gain\": nothing to lose (unperturbed gain ≤ 0).", "",
                  tabulate(body, headers=["dataset", "reference", "method"] + [md_escape(n) for n in names],
                           tablefmt="github", disable_numparse=True), ""]
    if view.attention:
        body = [[md_escape(d), rnd(m), md_escape(r), fmt(a[0], 3), fmt(a[1], 3)]
                for (d, m, r), a in view.attention.items()]
        lines += ["### Attention statistics", "",
                  tabulate(body, headers=["dataset", "method", "reference", "distinct patches", "mean S"],
                           tablefmt="github", disable_numparse=True), ""]
    for plot in plots:
        lines += [_md_image(plot), ""]
    return lines


def _sources_markdown(context: dict) -> list[str]:
    """The sources of the paper's numbers (id, title, where, commit, URL, file), then the paper cells a
    user's published-numbers file gave."""
    sources = context["sources"]
    user = [(name, row, c, row.cells[c.key].paper) for name, view in context["tables"].items() for row in view.rows
            for c in view.columns if row.cells[c.key].paper is not None and row.cells[c.key].paper.from_user_file]
    files = list(dict.fromkeys([s.origin_file for s in sources.values()] + [p.origin_file for *_, p in user]))
    lines = ["## Sources of the paper's numbers", "",
             "From " + ", ".join(md_escape(f) for f in files) + ". ⚠ marks a figure no source opened here confirmed.", ""]
    for sid, s in sources.items():
        where = ", ".join(x for x in (s.where, f"commit {s.commit}" if s.commit else "") if x)
        lines.append(f"- **{md_escape(sid)}**: {md_escape(s.title)}" + (f" ({md_escape(where)})" if where else "")
                     + f", <{urllib.parse.quote(s.url, safe=':/?#=&%~+@')}> [{md_escape(s.origin_file)}]")
    if user:
        lines += ["", "Paper numbers from your files:", ""]
        lines += [f"- {md_escape(name)} · {md_escape(row.label)} · {md_escape(c.label)}: {md_escape(p.format())} "
                  f"(source {md_escape(p.source)}, {md_escape(p.origin_file)})" for name, row, c, p in user]
    return lines + [""]


def _md_image(plot: dict) -> str:
    """A plot as a Markdown image: escaped caption; the file name made by the report is URL-quoted."""
    return f"![{md_escape(plot['caption'])}]({urllib.parse.quote(plot['src'])})"


def _group_markdown(g, context: dict) -> str:
    arrow = context["metric_arrow"]
    headers = ["Method", "images"] + [f"{md_escape(m)} {arrow(m)}" for m in g.metrics]
    body = []
    for method in g.methods:
        n = g.counts.get(method, 0)
        cells = []
        for metric in g.metrics:
            v = g.means[method][metric]
            digits = 2 if metric == "psnr" else 4
            text = fmt(v, digits)
            text = f"**{text}**" if method in g.best.get(metric, ()) else text
            cells.append(text + (" (RANDOM WEIGHTS)" if method in g.random else ""))
        body.append([md_escape(method) + (" (RANDOM WEIGHTS)" if method in g.random else ""), n] + cells)
    return tabulate(body, headers=headers, tablefmt="github")


def console_table(view) -> str:
    """A plain-text table for the terminal: measured, paper, Δ and status per cell."""
    headers = ["method"] + [c.label for c in view.columns]
    body = []
    for row in view.rows:
        line = [row.label + (" [RANDOM]" if row.random else "")]
        for c in view.columns:
            cell = row.cells[c.key]
            if cell.measured is None and cell.paper is None:
                line.append("")
                continue
            text = cell.measured_text() if cell.measured else "—"
            if cell.random:
                text += "\nRANDOM WEIGHTS"
            if cell.other_training:
                text += "\n" + cell.other_training
            if cell.measured is not None and cell.measured.partial:
                text += f"\n({cell.measured.images} of {cell.measured.expected} images)"
            if cell.paper:
                text += f"\npaper {cell.paper_text()}"
            if cell.delta_text():
                text += f"\nΔ {cell.delta_text()} {_STATUS_MD.get(cell.status, '')}"
            line.append(text)
        body.append(line)
    return tabulate(body, headers=headers, tablefmt="grid")


def group_console_table(g) -> str:
    headers = ["method"] + g.metrics + ["images"]
    body = [[m + (" [RANDOM WEIGHTS]" if m in g.random else "")]
            + [fmt(g.means[m][k], 3 if k == "psnr" else 4) + (" R" if m in g.random else "") for k in g.metrics]
            + [g.counts.get(m, 0)] for m in g.methods]
    return tabulate(body, headers=headers, tablefmt="simple")


_RUN_VERDICT = {"random": " [random weights: not judged]", "partial": " [partial set: not judged]", "ok": ""}


def run_console_table(view: TableView) -> str:
    """The table `python -m benchmarks.run` prints (`views.pass_table`): per cell the means
    PSNR / SSIM[ / LPIPS], the image count, the random-weights label, and the paper's cell with Δ and
    the verdict under it."""
    if not view.rows:
        return "(no rows)"
    body = []
    for row in view.rows:
        line = [f"{row.method} (RANDOM WEIGHTS)" if row.random else row.method]
        for column in view.columns:
            cell = row.cells[column.key]
            m = cell.measured
            if m is None:
                line.append("")
                continue
            text = " / ".join(f"{value:.{digits}f}" for value, digits in ((m.psnr, 2), (m.ssim, 4), (m.lpips, 3))
                              if value is not None) or "–"
            text += f"  (n={m.images}/{m.expected})" if m.partial else f"  (n={m.images})"
            if cell.random:
                text += "\nRANDOM WEIGHTS: not a measurement of the method"
            if cell.paper is not None:
                j = cell.judgement
                delta = ""
                if j is not None:
                    bits = ([f"{j.delta_psnr:+.2f}"] if j.delta_psnr is not None else []) + \
                           ([f"{j.delta_ssim:+.4f}"] if j.delta_ssim is not None else [])
                    delta = " Δ " + " / ".join(bits) + _RUN_VERDICT.get(cell.status, f" [{cell.status}]")
                text += f"\npaper {cell.paper.format()}{delta}"
            line.append(text)
        body.append(line)
    return tabulate(body, headers=["method"] + [c.label for c in view.columns], tablefmt="simple_grid",
                    disable_numparse=True)


CSV_COLUMNS = ("table", "method", "column", "dataset", "ref_mode", "psnr", "ssim", "lpips", "images", "expected",
               "paper_psnr", "paper_ssim", "paper_confirmed", "delta_psnr", "delta_ssim", "status", "random",
               "protocol", "run", "config_id", "reason", "best")


CI_COLUMNS = ("psnr_low", "psnr_high", "ssim_low", "ssim_high", "lpips_low", "lpips_high")


def tables_csv(views) -> str:
    """Every cell of the given `TableView`s that is measured or has a paper number, one CSV line each
    (`CSV_COLUMNS`; numbers at full precision, empty when absent; `status` as `CellView.status`; `best`:
    the measures, space-separated, whose best value of the column the cell holds at the paper's precision,
    `TableView.best` with `views.PAPER_DIGITS`, as the LaTeX export prints it in bold). When the views carry
    intervals (`--ci`), `CI_COLUMNS` follow: each measure's bootstrap interval."""
    views = list(views)
    with_ci = any(c.measured is not None and c.measured.ci for v in views for _, c in v.cells())
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS + (CI_COLUMNS if with_ci else ()))
    for view in views:
        best = {metric: view.best(metric, PAPER_DIGITS[metric]) for metric in ("psnr", "ssim", "lpips")}
        for row, column in ((r, c) for r in view.rows for c in view.columns):
            cell = row.cells[column.key]
            if cell.measured is None and cell.paper is None:
                continue
            m, p, j = cell.measured, cell.paper, cell.judgement
            values = (view.name, row.method, column.label, column.dataset, column.ref_mode,
                      m and m.psnr, m and m.ssim, m and m.lpips, m and m.images, m and m.expected,
                      p and p.psnr, p and p.ssim, p and p.confirmed, j and j.delta_psnr, j and j.delta_ssim,
                      cell.status, cell.random, m and m.protocol, m and m.run, m and m.config_id, cell.reason,
                      " ".join(k for k, winners in best.items() if row.method in winners.get(column.key, ())))
            if with_ci:
                values += tuple((m.ci.get(k) or (None, None))[i] if m else None
                                for k in ("psnr", "ssim", "lpips") for i in (0, 1))
            writer.writerow(["" if v is None else v for v in values])
    return buffer.getvalue()
