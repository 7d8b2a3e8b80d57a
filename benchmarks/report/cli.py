"""`python -m benchmarks.report --runs runs/… --out reports/`: render the report (`build.render`)."""
from __future__ import annotations

import sys

from benchmarks import published
from benchmarks.report.build import render
from benchmarks.report.runs import find_run_dirs
from foundation import settings
from foundation.cli_types import OneLineParser, whole_number
from foundation.errors import cli_main
from foundation.fileio import check_not_an_input, check_output_dir, check_output_file


def add_published_options(parser) -> None:
    """`--published FILE…`, `--settings FILE` and `--plugin MODULE`, as every command that reads run
    folders takes them."""
    parser.add_argument("--published", nargs="+", metavar="FILE", help="your published-numbers TOML file(s), applied over benchmarks/published.toml (default: the settings "
                             "file's published, $TTSR_BENCH_PUBLISHED)")
    settings.add_settings_option(parser, "published, plugins")
    settings.add_plugin_option(parser, "needed to read runs holding a plug-in's measure")


def add_ci_option(parser) -> None:
    """`--ci`: measured cells with the 95% bootstrap interval of their means over images, [low, high]
    (`benchmarks.stats.bootstrap_ci`: 2000 resamples, seed 0)."""
    parser.add_argument("--ci", action="store_true",
                        help="show every measured cell's 95%% bootstrap interval over images as [low, high] "
                             "(2000 resamples, seed 0)")


def use_published(args) -> None:
    """Apply the published-numbers files that `--published`, the settings file or the environment name
    (`foundation.settings`), after importing the plug-ins; `UserError` for a bad settings file,
    published file or plug-in."""
    found = settings.resolve(args.settings, data=False, plugins=args.plugins)
    published.use_files(found.get("published", args.published), found.origin("published", args.published, "--published"))


@cli_main
def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(
        prog="python -m benchmarks.report",
        description="Render the HTML/Markdown report of benchmark runs (a self-contained folder).",
        epilog="Each run folder shows what its latest command asked for; when folders share a pass, the newer "
               "folder's rows are shown. Exit status: 0 done; 2 bad input or a damaged run folder (one line).")
    parser.add_argument("--runs", nargs="+", default=["runs"],
                        help="run folders, or folders of run folders (default: runs)")
    parser.add_argument("--out", default="reports", help="report folder (default: reports)")
    parser.add_argument("--visual-images", type=whole_number(0), default=2, metavar="N",
                        help="images per pass shown as visual comparisons, N ≥ 0 (0: none; default 2)")
    parser.add_argument("--visual-limit", type=whole_number(0), default=12, metavar="N",
                        help="at most N ≥ 0 comparisons in all (0: none; default 12)")
    parser.add_argument("--title", default="TTSR reproduction report")
    add_ci_option(parser)
    parser.add_argument("--screenshot", metavar="PNG",
                        help="also save a screenshot of index.html through headless Chromium")
    add_published_options(parser)
    args = parser.parse_args(argv)
    use_published(args)
    check_output_dir(args.out, "--out")
    if args.screenshot:
        check_output_file(args.screenshot, "--screenshot")
    check_not_an_input(args.out, "--out", [("--runs", p) for p in args.runs]
                       + [("run", p) for p in find_run_dirs(args.runs)])
    report = render(args.runs, args.out, visual_images=args.visual_images, visual_limit=args.visual_limit,
                    title=args.title, ci=args.ci)
    print(f"report: {report.index} ({len(report.runs)} run(s), {report.seconds:.1f} s)")
    for name, view in report.tables.items():
        if view.measured_count:
            print(f"  {name}: {view.coverage_text()}; {len(view.flagged_cells())} outside tolerance")
    if args.screenshot:
        from benchmarks.screenshot import screenshot
        screenshot(report.index, args.screenshot)
        print(f"screenshot: {args.screenshot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

