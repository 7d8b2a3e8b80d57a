"""LaTeX (booktabs) renderer of the results view (`benchmarks.views.TableView`): the tables as a paper
prints them, measured beside the paper's numbers.

`table_latex(view)` writes one `table*` float: a row per method (the view's rows, in its order), and
per view column three columns (after the paper's flag columns and, for Table 3, the parameter counts
in the paper's unit M = 2^20, `RowView.params_m`), **Paper**, **Measured** and **Δ** (measured − paper), each cell
"PSNR / SSIM" at the paper's precision (`views.PAPER_DIGITS`: PSNR 2 decimals, in dB; SSIM 3). The best
measured PSNR and the best measured SSIM of each column are bold (`TableView.best`: direction from
`metrics.REGISTRY`, compared at the printed precision, ties all bold; only cells measured on the column's
whole image set compete, so a § cell or random weights are never bold).
Footnote marks: † a method with random or test-made weights (not a measurement of the method), ‡ a
paper figure no source confirmed (every ⚠ of the view), § a cell measured on part of its test set.
The caption names the run folder(s) and the notes under the table every measured cell's
configuration id (`benchmarks.identity`) and the sources of the paper's numbers.

Needs `\\usepackage{booktabs, graphicx, amssymb}` (`PREAMBLE`). Every text from data goes through
`latex_escape`. Adds nothing to the views.
"""
from __future__ import annotations

import re
from typing import Iterable, Mapping

from benchmarks import published
from benchmarks.views import PAPER_DIGITS, TableView, ci_text, fmt

PREAMBLE = r"\usepackage{booktabs}\usepackage{graphicx}\usepackage{amssymb}"
RANDOM_MARK = r"\textsuperscript{\dag}"
UNCONFIRMED_MARK = r"\textsuperscript{\ddag}"
PARTIAL_MARK = r"\textsuperscript{\S}"

_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
    "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
    "|": r"\textbar{}", published.UNCONFIRMED_MARK: UNCONFIRMED_MARK, "Δ": r"$\Delta$", "−": "-", "±": r"$\pm$",
    "×": r"$\times$", "·": r"$\cdot$", "→": r"$\rightarrow$", "↑": r"$\uparrow$", "↓": r"$\downarrow$",
    "✓": r"\checkmark{}", "–": "--", "—": "---", "…": r"\ldots{}", "\u00a0": "~",
}
_SPECIAL_RE = re.compile("|".join(re.escape(k) for k in _SPECIAL))


def latex_escape(value) -> str:
    """`value` as literal LaTeX text: whitespace runs (newlines included) become one space; the ten
    characters LaTeX reserves (``\\ & % $ # _ { } ~ ^``) and ``< > |`` are escaped; ⚠ (an unconfirmed
    paper figure) becomes the ‡ footnote mark; Δ − ± × · → ↑ ↓ ✓ – — … become their LaTeX commands.
    Other characters are kept (UTF-8; pdflatex reads Latin letters, xelatex/lualatex any). Returns `str`."""
    text = " ".join(str(value).split())
    return _SPECIAL_RE.sub(lambda m: _SPECIAL[m.group(0)], text)


def _figure(value, digits: int, signed: bool = False) -> str:
    text = fmt(value, digits, signed).replace("−", "-")
    if text == "–":
        return "--"
    return f"${text}$" if signed else text


def _pair(psnr: str, ssim: str) -> str:
    return "--" if psnr == ssim == "--" else f"{psnr} / {ssim}"


def _column_label(label: str) -> str:
    return latex_escape(", ".join(part.strip() for part in str(label).splitlines() if part.strip()))


def table_latex(view: TableView, sources: Mapping[str, published.Source] | None = None) -> str:
    """`view` as one booktabs `table*` float (see the module docstring); `sources` (default
    `published.sources()`) name where the paper's numbers come from. Returns LaTeX source text."""
    sources = published.sources() if sources is None else sources
    digits_p, digits_s = PAPER_DIGITS["psnr"], PAPER_DIGITS["ssim"]
    best = {metric: view.best(metric, PAPER_DIGITS[metric]) for metric in ("psnr", "ssim")}
    flags = list(view.flag_names)
    params = ["Params (paper)", "Params (suite)"] if view.has_params else []
    lead = 1 + len(flags) + len(params)
    spec = "l" + "c" * len(flags) + "r" * len(params) + "".join(" rrr" for _ in view.columns)
    groups = " & ".join(fr"\multicolumn{{3}}{{c}}{{{_column_label(c.label)}}}" for c in view.columns)
    rules = " ".join(fr"\cmidrule(lr){{{lead + 1 + 3 * i}-{lead + 3 + 3 * i}}}" for i in range(len(view.columns)))
    head2 = " & ".join(["Method"] + [latex_escape(f) for f in flags + params]
                       + [r"Paper & Measured & $\Delta$"] * len(view.columns))
    body, marks, runs, configs = [], set(), [], []
    for row in view.rows:
        measured_row = any(c.measured for c in row.cells.values())
        label = latex_escape(row.label) + (RANDOM_MARK if row.random and measured_row else "")
        marks |= {"random"} if row.random and measured_row else set()
        line = [label] + [r"\checkmark" if row.flags.get(f) else "" for f in flags]
        if params:
            pp = row.params_paper or {}
            line.append(f"{pp['value'] / 1e6:.2f}M" + ("" if pp.get("confirmed") else UNCONFIRMED_MARK)
                        if pp.get("value") else "--")
            line.append(f"{row.params_m:.2f}M" if row.params else "--")
            marks |= {"unconfirmed"} if pp.get("value") and not pp.get("confirmed") else set()
        ids = []
        for column in view.columns:
            cell = row.cells[column.key]
            paper = latex_escape(cell.paper.format(digits_p, digits_s)) if cell.paper else "--"
            marks |= {"unconfirmed"} if cell.paper is not None and not cell.paper.confirmed else set()
            m = cell.measured
            if m is None:
                measured, delta = "--", "--"
            else:
                figures = []
                for metric, digits in (("psnr", digits_p), ("ssim", digits_s)):
                    text = _figure(getattr(m, metric), digits)
                    winner = row.method in best[metric].get(column.key, ()) and text != "--"
                    interval = ci_text(m, metric, digits).replace("−", "-")  # --ci: " [low, high]"
                    figures.append((fr"\textbf{{{text}}}" if winner else text) + (r"\,{\footnotesize" + interval + "}"
                                                                                 if interval else ""))
                measured = _pair(*figures) + (PARTIAL_MARK if m.partial else "")
                marks |= {"partial"} if m.partial else set()
                j = cell.judgement
                delta = "--" if j is None else _pair(_figure(j.delta_psnr, digits_p, True),
                                                     _figure(j.delta_ssim, digits_s, True))
                if m.run and m.run not in runs:
                    runs.append(m.run)
                if m.config_id:
                    ids.append(f"{_column_label(column.label)} {latex_escape(m.config_id)}")
            line += [paper, measured, delta]
        body.append(" & ".join(line) + r" \\")
        if ids:
            configs.append(f"{latex_escape(row.label)}: " + ", ".join(ids))
    where = ("measured in run folder(s) " + ", ".join(r"\texttt{" + latex_escape(r) + "}" for r in runs)
             if runs else "nothing measured: paper numbers only")
    # "Table 1: PSNR/SSIM …" → "PSNR/SSIM … (the paper's Table 1)": LaTeX numbers the float itself
    title = re.sub(r"^((?:Table|Fig\.|Figure)\s*\w+):\s*(.+)$", r"\2 (the paper's \1)", view.title.strip().rstrip("."))
    caption = (f"{latex_escape(title[:1].upper() + title[1:])}. PSNR (dB) / SSIM: paper, {where}, "
               r"$\Delta$ = measured $-$ paper; best measured value per column in bold (among cells measured on "
               "the whole test set with real weights).")
    notes = []
    if "random" in marks:
        notes.append(RANDOM_MARK + " random or test-made weights: not a measurement of the method "
                     "(never bold, not judged).")
    if "unconfirmed" in marks:
        notes.append(UNCONFIRMED_MARK + " paper figure not confirmed by a source; check it against the paper.")
    if "partial" in marks:
        notes.append(PARTIAL_MARK + " measured on part of the test set (never bold: not compared).")
    if configs:
        notes.append("Configuration ids (\\texttt{config\\_id} in the runs' rows.csv and manifest.json): "
                     + "; ".join(configs) + ".")
    used = [sources[s] for s in view.sources if s in sources]
    if used:
        notes.append("Paper numbers: " + "; ".join(
            latex_escape(", ".join(x for x in (s.title, s.where, f"commit {s.commit}" if s.commit else "") if x))
            for s in used) + ".")
    lines = [
        f"% ttsr-bench table {view.name}: {view.coverage_text()}",
        f"% needs {PREAMBLE}",
        r"\begin{table*}[t]",
        r"\centering",
        r"\caption{" + caption + "}",
        r"\label{tab:ttsr-bench-" + re.sub(r"[^A-Za-z0-9-]", "-", view.name) + "}",
        r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",  # shrink a wide table only
        r"\begin{tabular}{" + spec + "}",
        r"\toprule",
        " & " * lead + groups + r" \\",
        rules,
        head2 + r" \\",
        r"\midrule",
        *body,
        r"\bottomrule",
        r"\end{tabular}}",
    ]
    if notes:
        lines += [r"\par\smallskip", r"{\footnotesize\raggedright " + " ".join(notes) + r"\par}"]
    lines.append(r"\end{table*}")
    return "\n".join(lines) + "\n"


def tables_latex(views: Iterable[TableView], sources: Mapping[str, published.Source] | None = None) -> str:
    """The given views as LaTeX, one `table*` float each (`table_latex`), or a comment saying there was
    nothing to show. Returns LaTeX source text."""
    parts = [table_latex(view, sources) for view in views]
    return "\n".join(parts) if parts else "% no table was measured in these runs (ttsr-bench table --table runs)\n"
