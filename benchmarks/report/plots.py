"""Plots of the report (matplotlib, Agg backend, PNG): every function takes plain numbers and a target
path, writes the figure atomically and returns the path.

Values that are None, NaN or ±inf (an unmeasured cell, an image too small for a measure, a PSNR
of an exact reproduction in a run made before `metrics.PSNR_MAX_DB`) are left out of
every plot, and axis limits come from the finite values only; a plot with no finite value is
written as empty axes with a note. No input of that kind raises.

- `psnr_vs_level`: Table 4, PSNR against the reference level per method (paper dashed).
- `bars_vs_paper`: one dataset, measured PSNR per method as bars with the paper's value marked.
- `per_image_vs_bicubic`: per-image PSNR of every method against bicubic on the same image.
- `perception_distortion`: PSNR against LPIPS (or DISTS), one colour per method, means large.
- `gain_curve`: a reference gain against a perturbation's severity, interval band, attention statistics
  on a right axis (`plots_for_refgain`: one per curve of `benchmarks.gains.RefGainView`).

`plots_for_tables` / `plots_for_groups` draw these from the report's views (`benchmarks.views`)
and add each plot to its view's `plots`.
"""
from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from benchmarks import gains  # noqa: E402
from benchmarks.views import GroupView, TableView, higher_is_better  # noqa: E402
from foundation.fileio import atomic_write_bytes  # noqa: E402

DPI = 100
_STYLE = {"font.size": 9, "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
          "axes.spines.right": False, "svg.hashsalt": "ttsr-bench"}


def _colour(i: int):
    return plt.get_cmap("tab10")(i % 10)


def _save(fig, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix.lstrip(".") or "png", dpi=DPI,
                metadata={"Software": None} if path.suffix == ".png" else None)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _finite(v) -> bool:
    """Whether `v` can be drawn: a real number, not None, NaN or ±inf (NumPy scalars included)."""
    if v is None or isinstance(v, (bool, str, bytes)):
        return False
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _note_if_empty(ax, drawn: bool) -> None:
    """An empty plot says why instead of showing bare axes."""
    if not drawn:
        ax.text(0.5, 0.5, "no finite values to plot", transform=ax.transAxes, ha="center", va="center",
                color="grey")


def psnr_vs_level(levels: Sequence[str], measured: Mapping[str, Mapping[str, float]],
                  paper: Mapping[str, Mapping[str, float]], path: Path, title: str = "") -> Path:
    """`measured`/`paper`: method -> level label -> PSNR. Solid lines measured, dashed paper."""
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(layout="constrained", figsize=(6.4, 3.6))
        methods = list(dict.fromkeys(list(measured) + list(paper)))
        x = list(range(len(levels)))
        for i, method in enumerate(methods):
            for values, style, suffix in ((measured.get(method, {}), "-o", ""),
                                          (paper.get(method, {}), "--s", " (paper)")):
                pts = [(j, values.get(lv)) for j, lv in enumerate(levels) if _finite(values.get(lv))]
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color=_colour(i),
                            label=method + suffix, markersize=4, alpha=1.0 if not suffix else 0.6)
        ax.set_xticks(x, levels)
        ax.set_xlabel("reference")
        ax.set_ylabel("PSNR (dB)")
        ax.set_title(title or "PSNR against reference similarity level")
        drawn = bool(ax.get_legend_handles_labels()[0])
        _note_if_empty(ax, drawn)
        if drawn:
            ax.legend(fontsize=7, ncols=2, loc="best")
        return _save(fig, path)


def bars_vs_paper(methods: Sequence[str], measured: Sequence[float | None], paper: Sequence[float | None],
                  path: Path, title: str = "", random_methods: Sequence[str] = ()) -> Path:
    """Bars of measured PSNR; a black tick at the paper's value; hatched bars for random weights."""
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(layout="constrained", figsize=(max(4.0, 0.5 * len(methods) + 1.5), 3.4))
        values = [v if _finite(v) else 0.0 for v in measured]
        bars = ax.bar(range(len(methods)), values, color=[_colour(i) for i in range(len(methods))])
        for bar, method, v in zip(bars, methods, measured):
            if method in random_methods:
                bar.set_hatch("//")
                bar.set_alpha(0.5)
            if not _finite(v):
                bar.set_visible(False)
        marked = False
        for i, p in enumerate(paper):
            if _finite(p):
                ax.plot([i - 0.4, i + 0.4], [p, p], color="black", linewidth=2,
                        label=None if marked else "paper")
                marked = True
        finite = [v for v in list(measured) + list(paper) if _finite(v)]
        if finite:
            ax.set_ylim(max(0.0, min(finite) - 2.0), max(finite) + 1.0)
        _note_if_empty(ax, bool(finite))
        ax.set_xticks(range(len(methods)), methods, rotation=45, ha="right")
        ax.set_ylabel("PSNR (dB)")
        ax.set_title(title)
        if marked:
            ax.legend(fontsize=7)
        return _save(fig, path)


def per_image_vs_bicubic(bicubic: Sequence[float], per_method: Mapping[str, Sequence[float]],
                         path: Path, title: str = "") -> Path:
    """Scatter: x = bicubic PSNR of an image, y = the method's PSNR on it; above the diagonal = gain."""
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(layout="constrained", figsize=(4.6, 4.2))
        lo, hi = math.inf, -math.inf
        for i, (method, values) in enumerate(per_method.items()):
            pts = [(b, v) for b, v in zip(bicubic, values) if _finite(b) and _finite(v)]
            if not pts:
                continue
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=10, color=_colour(i), label=method, alpha=0.8)
            lo = min(lo, *(min(p) for p in pts))
            hi = max(hi, *(max(p) for p in pts))
        if math.isfinite(lo):
            ax.plot([lo - 0.5, hi + 0.5], [lo - 0.5, hi + 0.5], color="grey", linewidth=1, linestyle=":")
        _note_if_empty(ax, math.isfinite(lo))
        ax.set_xlabel("bicubic PSNR (dB)")
        ax.set_ylabel("method PSNR (dB)")
        ax.set_title(title)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, ncols=2, loc="upper left")
        return _save(fig, path)


def perception_distortion(points: Mapping[str, tuple[Sequence[float], Sequence[float]]], x_label: str,
                          path: Path, title: str = "", lower_is_better: bool = True) -> Path:
    """`points`: method -> (perceptual values, PSNR values) per image; the mean is the large marker."""
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(layout="constrained", figsize=(5.2, 4.0))
        drawn = False
        for i, (method, (xs, ys)) in enumerate(points.items()):
            pts = [(x, y) for x, y in zip(xs, ys) if _finite(x) and _finite(y)]
            if not pts:
                continue
            drawn = True
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=8, color=_colour(i), alpha=0.35)
            mx = sum(p[0] for p in pts) / len(pts)
            my = sum(p[1] for p in pts) / len(pts)
            ax.scatter([mx], [my], s=60, color=_colour(i), edgecolor="black", zorder=3)
            ax.annotate(method, (mx, my), textcoords="offset points", xytext=(4, 4), fontsize=7)
        arrow = "↓ better" if lower_is_better else "↑ better"
        ax.set_xlabel(f"{x_label} ({arrow})")
        ax.set_ylabel("PSNR (dB, ↑ better)")
        ax.set_title(title or "perception–distortion")
        _note_if_empty(ax, drawn)
        return _save(fig, path)


def gain_curve(levels: Sequence[float], gains: Sequence[float | None], lows: Sequence[float | None],
               highs: Sequence[float | None], path: Path, *, unit: str, metric: str, title: str = "",
               distinct: Sequence[float | None] = (), confidence: Sequence[float | None] = (),
               half: float | None = None) -> Path:
    """Gain against severity (neutral level first): the mean gain with its interval as a band, the zero
    line, a dotted vertical at the half-gain severity; on a right axis in [0, 1] the attention
    statistics when given (distinct-patch fraction, mean S)."""
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(layout="constrained", figsize=(3.4, 2.5))
        pts = [(x, g, lo, hi) for x, g, lo, hi in zip(levels, gains, lows, highs) if _finite(g)]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "-o", color=_colour(0), markersize=3, label="gain")
            band = [p for p in pts if _finite(p[2]) and _finite(p[3])]
            if band:
                ax.fill_between([p[0] for p in band], [p[2] for p in band], [p[3] for p in band],
                                color=_colour(0), alpha=0.2, linewidth=0)
        ax.axhline(0.0, color="grey", linewidth=0.8)
        if _finite(half):
            ax.axvline(float(half), color="black", linestyle=":", linewidth=1)
        _note_if_empty(ax, bool(pts))
        if len(levels) > 1 and levels[-1] < levels[0]:
            ax.invert_xaxis()  # severity grows to the right (JPEG quality, scale-down factor fall)
        ax.set_xlabel(unit)
        ax.set_ylabel(f"{metric} gain")
        ax.set_title(title, fontsize=8)
        stats = [(values, style, label) for values, style, label in
                 ((distinct, "--", "distinct patches"), (confidence, ":", "mean S")) if any(_finite(v) for v in values)]
        if stats:
            right = ax.twinx()
            for values, style, label in stats:
                xy = [(x, v) for x, v in zip(levels, values) if _finite(v)]
                right.plot([p[0] for p in xy], [p[1] for p in xy], style, color=_colour(1), linewidth=1, label=label)
            right.set_ylim(-0.05, 1.05)
            right.set_ylabel("attention", fontsize=7)
            right.legend(fontsize=6, loc="lower left")
        return _save(fig, path)


# ------------------------------------------------------------------------- the report's views → plots
def plots_for_refgain(view, plot_dir: Path, rel: str) -> list[dict]:
    """One small plot per curve of a `benchmarks.gains.RefGainView` (PSNR, else its first measure):
    {"dataset", "method", "perturbation", "src", "caption"} each, in the view's order."""
    from benchmarks.views import anchor

    out = []
    metric = "psnr" if "psnr" in view.metrics else (view.metrics[0] if view.metrics else None)
    for c in view.curves:
        if c.metric != metric:
            continue
        half = c.half
        name = anchor("refgain", c.dataset, c.base, c.method, c.perturbation) + ".png"
        random = " (RANDOM WEIGHTS)" if c.method in view.random else ""
        gain_curve(c.levels, c.gains, c.lows, c.highs, plot_dir / name, unit=c.unit, metric=metric,
                   title=f"{c.method}{random} · {c.dataset}/{c.base} · {c.perturbation}", distinct=c.distinct,
                   confidence=c.confidence, half=None if isinstance(half, str) else half)
        out.append({"dataset": c.dataset, "method": c.method, "perturbation": c.perturbation, "src": f"{rel}/{name}",
                    "caption": f"{c.method}{random}, {c.dataset} ({c.base}): {metric} gain vs LR-as-reference "
                               f"against {c.perturbation} ({c.unit}); band: 95% bootstrap interval; dotted: half "
                               f"the gain lost ({gains.format_half(half)})"})
    return out
def plots_for_tables(tables: dict[str, TableView], plot_dir: Path, rel: str) -> None:
    """Table 4: PSNR against the reference level; Table 1 and SISR: bars per column against the paper."""
    for view in tables.values():
        if view.name == "table4":
            measured, paper = {}, {}
            for row in view.rows:
                for column in view.columns:
                    c = row.cells[column.key]
                    if c.measured and c.measured.psnr is not None:
                        measured.setdefault(row.method, {})[column.label] = c.measured.psnr
                    if c.paper and c.paper.psnr is not None:
                        paper.setdefault(row.method, {})[column.label] = c.paper.psnr
            name = "table4-psnr-vs-level.png"
            psnr_vs_level([c.label for c in view.columns], measured, paper, plot_dir / name,
                                title="Table 4: PSNR against reference level (dashed: paper)")
            view.plots.append({"src": f"{rel}/{name}", "caption": "PSNR against the reference level per method; "
                               "solid measured, dashed the paper (⚠ unconfirmed except TTSR-rec L1)"})
            continue
        if view.name not in ("table1", "sisr"):
            continue
        for column in view.columns:
            rows = [r for r in view.rows if r.cells[column.key].measured is not None
                    or r.cells[column.key].paper is not None]
            if not any(r.cells[column.key].measured for r in rows):
                continue
            name = f"{view.name}-{column.key}-bars.png"
            bars_vs_paper(
                [r.method for r in rows],
                [r.cells[column.key].measured.psnr if r.cells[column.key].measured else None for r in rows],
                [r.cells[column.key].paper.psnr if r.cells[column.key].paper else None for r in rows],
                plot_dir / name, title=f"{column.label}: PSNR (paper ticked)",
                random_methods=[r.method for r in rows if r.random])
            view.plots.append({"src": f"{rel}/{name}",
                               "caption": f"{column.label}: bars measured, black ticks the paper's value; "
                                          "hatched bars are random weights"})


def plots_for_groups(groups: list[GroupView], frame, plot_dir: Path, rel: str) -> None:
    """Per pass: per-image PSNR against bicubic, and the perception–distortion scatter (pandas `frame`: the rows)."""
    for g in groups:
        part = frame[(frame["protocol"] == g.protocol) & (frame["dataset"] == g.dataset)
                     & (frame["ref_mode"] == g.ref_mode)]
        if "bicubic" in g.methods and len(g.methods) > 1:
            images = g.images
            bic = [g.per_image[i].get("bicubic", (None, None))[0] for i in images]
            per_method = {m: [g.per_image[i].get(m, (None, None))[0] for i in images]
                          for m in g.methods if m != "bicubic"}
            name = f"{g.anchor}-vs-bicubic.png"
            per_image_vs_bicubic(bic, per_method, plot_dir / name,
                                       title=f"{g.dataset} ({g.ref_mode}): per image against bicubic")
            g.plots.append({"kind": "vs-bicubic", "src": f"{rel}/{name}",
                            "caption": "PSNR per image against bicubic on the same image (above the line: better)"})
        perceptual = next((m for m in ("lpips", "dists") if m in g.metrics), None)
        if perceptual is None:
            perceptual = next((m for m in g.metrics if m not in ("psnr", "ssim") and higher_is_better(m) is False), None)
        if perceptual is not None:
            points = {}
            for method, sub in part.groupby("method", sort=False):
                points[method] = (sub[perceptual].tolist(), sub["psnr"].tolist())
            name = f"{g.anchor}-perception.png"
            hib = higher_is_better(perceptual)
            perception_distortion(points, perceptual.upper(), plot_dir / name,
                                        title=f"{g.dataset} ({g.ref_mode}): PSNR against {perceptual.upper()}",
                                        lower_is_better=hib is False)
            g.plots.append({"kind": "perception", "src": f"{rel}/{name}",
                            "caption": f"perception–distortion: PSNR against {perceptual.upper()} per image "
                                       "(small) and the mean per method (large)"})
