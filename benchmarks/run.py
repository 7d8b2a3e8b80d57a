"""`python -m benchmarks.run`: evaluate methods on datasets under a protocol, resumably.

    python -m benchmarks.run [--methods ttsr bicubic …] [--datasets cufed5 …]
        [--protocol table1|table2|table3|table4|sisr|demo|default] [--data-root DIR]
        [--weights NAME=PATH …] [--device auto|cpu|cuda|cuda:N] [--out runs/NAME] [--force]
        [--save-images] [--metrics psnr ssim lpips …] [--max-memory 4G] [--seed N] [--settings FILE]
        [--plugin my_pkg.my_methods …]

With no arguments: every registered method whose weights are found, on every dataset found under
the data root (`--data-root`, the settings file, `$TTSR_BENCH_DATA`, `./data`: `foundation.settings`) with the passes of Table 1
and the SISR calibration (protocol `default`); with no dataset found, the built-in demo set.
What is skipped, and why, is printed and written to `<out>/skipped.json`.

This module is the command line and `run(settings)`, the Python entry that `benchmarks.reproduce`
calls in-process; the work is done by `benchmarks.runner`:

- PLAN (`runner.plan`): before computing anything the runner works out every pass's `config_id`
  and every image's `data_sha256` (`benchmarks.identity`); a finished row is reused only when both
  match, and the manifest's `plan` records exactly what this command asked for, which is what
  `summary.csv`, the printed table and the report show (earlier commands' rows stay in rows.csv).
  An unreadable or too-large file is skipped when the plan is made.
- EXECUTE (`runner.execute`): one evaluation, Sample → degradation (protocol) → method → SR clipped
  to [0, 255] and rounded to uint8 → metrics (protocol settings) → one row; `seconds` and
  `peak_mem_mb` as its docstring says. A method that cannot take an image skips it with the reason.
  Under `torchrun` the images of every (method, dataset) pass are split across ranks
  (`benchmarks.distributed`).
- STORE (`runner.store`): each row appended durably to `<out>/rows.csv`; one command at a time per
  run folder (`benchmarks.runlock`). Run folder layout: docs/interfaces.md, "Runs".

The printed table is the results view of this command's rows (`benchmarks.views`).
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from benchmarks import protocols, published, results
from benchmarks.protocols import Evaluation
from benchmarks.runner import Runner
from benchmarks.runner.execute import SLOW_ENV  # noqa: F401  (the test hook's name, used by tests)
from benchmarks.runner.execute import SEED
from benchmarks.runner.plan import RunSettings, make_plan
from foundation import settings as settings_mod
from benchmarks import manifest
from foundation.budget import parse_memory
from foundation.seeding import SEED_MAX
from foundation.devices import DEVICE_HELP, device_arg, resolve_device
from foundation.distributed import init_distributed
from foundation.cli_types import OneLineParser, whole_number
from foundation.errors import EXIT_NOTHING_MEASURED, cli_main
from foundation.fileio import check_not_an_input, check_output_dir
from foundation.imageio import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV, parse_pixel_count

EXIT_HELP = ("A row is reused only when its identity (method, weights sha256, options, protocol, data, seed, "
             "metric settings) matches; the folder's views show its latest command's results. Exit status: 0 done; "
             "2 bad input (one line on stderr; finished rows kept) or the run folder in use by another run; "
             "3 nothing measured (no method, dataset or image usable); 130 interrupted (finished rows kept).")


# ------------------------------------------------------------------------------------------ CLI
def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m benchmarks.run",
        description="Evaluate super-resolution methods on test sets under a named protocol; "
                    "results go to a resumable run folder (rows.csv, summary.csv, manifest.json).",
        epilog=EXIT_HELP)
    parser.add_argument("--methods", nargs="+", metavar="NAME",
                        help="methods to run (default: every registered method whose weights are found)")
    parser.add_argument("--datasets", nargs="+", metavar="NAME",
                        help="datasets to run (default: every dataset of the protocol found under the data root)")
    parser.add_argument("--protocol", default=None, metavar="NAME",
                        help=f"one of {', '.join(protocols.names())} (default: default)")
    parser.add_argument("--data-root", type=Path, default=None, metavar="DIR",
                        help="folder holding the test sets (default: the settings file's data_root, "
                             f"${settings_mod.ENV['data_root']}, else ./data)")
    parser.add_argument("--weights", nargs="+", action="extend", default=[], metavar="NAME=PATH",
                        help="checkpoint of a method (else the settings file's [weights], "
                             f"${settings_mod.ENV['weights']}, ./weights)")
    settings_mod.add_settings_option(parser, "data_root, [weights], device, metrics, methods, max_memory, published, plugins")
    settings_mod.add_plugin_option(parser)
    parser.add_argument("--device", type=device_arg, default=None,
                        help=f"{DEVICE_HELP}; when not given, the settings file's device")
    parser.add_argument("--seed", type=whole_number(0, SEED_MAX), default=None, metavar="N",
                        help=f"seed of the random draws: Sun80's reference choice, torch/numpy (default: the "
                             f"protocol's, {SEED}); part of each row's identity, recorded in the manifest")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="run folder (default: runs/<protocol>)")
    parser.add_argument("--published", nargs="+", metavar="FILE",
                        help="your published-numbers TOML file(s), applied over benchmarks/published.toml for "
                             "the paper column (default: the settings file's published, "
                             f"${settings_mod.ENV['published']})")
    parser.add_argument("--force", action="store_true", help="recompute rows that are already finished")
    parser.add_argument("--save-images", action="store_true",
                        help="also write SR images, HR/refs and TTSR attention maps into the run folder")
    parser.add_argument("--metrics", nargs="+", default=None, metavar="NAME",
                        help="measures to compute (default: the settings file's metrics, else psnr ssim lpips)")
    parser.add_argument("--limit", type=whole_number(1), default=None, metavar="N",
                        help="only the first N ≥ 1 images of each dataset (a quick look; recorded in the manifest)")
    parser.add_argument("--max-memory", type=parse_memory, default=None, metavar="SIZE",
                        help="memory budget for methods that can bound it (TTSR texture search), e.g. 4G or "
                             "512M; a bare number is MiB; at least 16M; it never changes a result")
    parser.add_argument("--max-pixels", type=parse_pixel_count, default=None, metavar="N",
                        help=f"largest image (pixels, e.g. 16M or 4096x4096) read; larger files are skipped "
                             f"with the reason before decoding (default ${MAX_PIXELS_ENV}, else "
                             f"{DEFAULT_MAX_PIXELS:,})")
    return parser


# ------------------------------------------------------------------------------------- output
def summary_table(rows: Sequence[dict], evaluations: Sequence[Evaluation], random_methods: Iterable[str]) -> str:
    """method × (dataset/ref mode) of this command's rows: PSNR/SSIM[/LPIPS], with the paper's cell
    and Δ under it; every cell of a method with random or test-made weights says so
    (`views.pass_table` rendered by `report.text.run_console_table`)."""
    from benchmarks.report.text import run_console_table
    from benchmarks.views import pass_table

    return run_console_table(pass_table(rows, evaluations, random_methods))


def print_skipped(records: list[dict], stream, run_dir: Path | None = None) -> None:
    """What did not run, one line each; datasets and weights grouped with where to get them."""
    if not records:
        return
    datasets_ = [r for r in records if r.get("kind") == "dataset"]
    weights = [r for r in records if r.get("kind") == "weights"]
    incomplete = [r for r in records if r.get("kind") == "incomplete"]
    others = [r for r in records if r.get("kind") not in ("dataset", "weights", "incomplete")]
    if datasets_:
        print(f"skipped {len(datasets_)} dataset(s), {datasets_[0]['reason']}:", file=stream)
        for r in datasets_:
            print(f"  {r['name']:<10} {r['short']}", file=stream)
    if weights:
        print(f"skipped {len(weights)} method(s), weights not found (put the file in ./weights/ or "
              f"${settings_mod.ENV['weights']}, or pass --weights NAME=PATH):", file=stream)
        unpublished = [r for r in weights if ": no published weights" in r["short"]]
        listed = [r for r in weights if r not in unpublished]
        width = max([len(r["name"]) for r in listed] + [1])
        for r in listed:
            print(f"  {r['name']:<{width}} {r['short']}", file=stream)
        if unpublished:
            print(f"  {', '.join(r['name'] for r in unpublished)}: no published weights; train them with "
                  "`python -m benchmarks.train` and pass --weights NAME=PATH", file=stream)
    for r in others:
        print(f"skipped {r['what']}: {r['reason']}", file=stream)
    for r in incomplete:
        print(f"partial: {r['reason']}", file=stream)
    if run_dir is not None:
        print(f"(reasons and fixes in full: {run_dir / 'skipped.json'})", file=stream)


@dataclass
class RunResult:
    """What one command did: `status` (0, or `EXIT_NOTHING_MEASURED`), the run folder, the rows its
    views show, the weights records per method and what was skipped."""

    status: int
    out: Path
    rows: list[dict] = field(default_factory=list)
    weights: dict[str, dict] = field(default_factory=dict)
    skipped: list[dict] = field(default_factory=list)


def run(settings: RunSettings, out=None) -> RunResult:
    """Run one command (`RunSettings`: the options of the command line), printing progress to `out`
    (stdout). `UserError` for bad input (nothing computed, or finished rows kept); KeyboardInterrupt
    passes through after the run folder's views are written. `settings.out` is set when None."""
    out = out or sys.stdout
    settings.apply_file()
    if settings.max_pixels is not None:  # every image read of this process (and its loaders) uses it
        os.environ[MAX_PIXELS_ENV] = str(settings.max_pixels)
    elif os.environ.get(MAX_PIXELS_ENV):
        parse_pixel_count(os.environ[MAX_PIXELS_ENV], f"${MAX_PIXELS_ENV}")  # a bad setting is one line, now
    device = resolve_device(settings.device, settings.device_from)
    published.use_files(settings.published, settings.published_from)  # the paper numbers printed beside cells
    plan = make_plan(settings)
    if settings.out is None:
        settings.out = Path("runs") / plan.protocol.name
    settings.out = Path(settings.out)
    check_output_dir(settings.out, "--out")
    check_not_an_input(settings.out, "--out", [("data root", plan.data_root)])
    dist = init_distributed(device)
    try:
        if dist.is_main:
            for note in plan.notes:
                print(note, file=out)
            print(f"protocol {plan.protocol.name}: {plan.protocol.description}", file=out)
            print(f"device {device}" + (f", {dist.world_size} ranks ({dist.backend})" if dist.active else "")
                  + f"; run folder {settings.out}", file=out)
        if not plan.evaluations or not plan.methods:
            # the run folder (its rows, manifest and views) is left as it was
            skipped: list[dict] = []
            if dist.is_main:
                skipped = Runner(settings, plan, dist, device).skipped_records()
                print_skipped(skipped, out)
                what = "dataset" if not plan.evaluations else "method"
                print(f"nothing measured: no {what} available (see skipped above); exit status "
                      f"{EXIT_NOTHING_MEASURED}", file=out)
            return RunResult(EXIT_NOTHING_MEASURED, settings.out, skipped=skipped)
        runner = Runner(settings, plan, dist, device)
        if dist.is_main:
            for name in plan.methods:
                path, found_in = runner.weights_for(name)
                source = f"{path} ({found_in})" if path else "no weights needed"
                print(f"method {name}: {source}", file=out)
        try:
            runner.run()
        finally:
            try:
                runner.finalize()
            finally:
                runner.release()
        result = RunResult(0, settings.out, runner.shown, dict(runner.weights), runner.skipped_records())
        if dist.is_main:
            randoms = [m for m, w in runner.weights.items() if w.get("random")]
            for name in randoms:
                print(f"WARNING {name}: {manifest.RANDOM_LABEL}", file=out)
            for name, record in runner.weights.items():
                if record.get("published") is False and not record.get("random"):
                    print(f"WARNING {name}: {record['path']}: sha256 differs from the published file; its numbers "
                          "are not the published weights' (the manifest records both hashes)", file=out)
            print(summary_table(result.rows, plan.evaluations, randoms), file=out)
            print_skipped(result.skipped, out, settings.out)
            print(f"rows: {settings.out / results.ROWS_FILE}  summary: {settings.out / results.SUMMARY_FILE}  "
                  f"manifest: {settings.out / manifest.MANIFEST_FILE}", file=out)
            if not result.rows:
                print(f"nothing measured: every image was skipped (see above); exit status "
                      f"{EXIT_NOTHING_MEASURED}", file=out)
                result.status = EXIT_NOTHING_MEASURED
        return result
    finally:
        dist.close()


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run(RunSettings(**vars(args))).status


if __name__ == "__main__":
    sys.exit(main())
