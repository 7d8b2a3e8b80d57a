"""The report's HTML: `index.html` from the jinja2 template `templates/index.html.j2` (autoescaped;
inline CSS and JS, relative links, no network) rendering the results views (`benchmarks.views`)."""
from __future__ import annotations

from pathlib import Path

from benchmarks.views import PAPER_DIGITS, anchor, fmt, higher_is_better

TEMPLATES = Path(__file__).with_name("templates")


def environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["fmt"] = fmt
    env.globals["higher_is_better"] = higher_is_better
    env.globals["PAPER_DIGITS"] = PAPER_DIGITS  # bold (TableView.best) judged at the paper's precision
    env.globals["run_anchor"] = lambda name: anchor("run", str(name))
    return env


def render_html(context: dict) -> str:
    """index.html of the report `context` (`benchmarks.report.build.render` makes it)."""
    return environment().get_template("index.html.j2").render(**context)
