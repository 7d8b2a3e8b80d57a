"""Reproduce one of the paper's tables: run its protocol, render the report, say what is missing.

    python -m benchmarks.reproduce table1 [--data-root DIR] [--weights NAME=PATH …]
                                          [--settings ttsr-bench.toml] [--seed N] [--strict]

What the `tox -e reproduce-table1` … `reproduce-table4` and `tox -e demo` environments run.

1. The protocol runs through the runner in this process (`benchmarks.run.run`, as
   `python -m benchmarks.run --protocol TABLE --out runs/TABLE --save-images …`), which is
   resumable: finished rows are kept.
2. The report is rendered from every run under `runs/` into `reports/`.
3. The table is printed (measured / paper / Δ), then the gap: paper cells that could not be
   measured and why (missing dataset, missing weights with file name and source, method not in
   the suite).

Data, weights, device, methods, metrics, memory budget and published files come from the options,
then the settings file (`--settings FILE`, `$TTSR_BENCH_CONFIG` or `./ttsr-bench.toml`), then the
environment (`$TTSR_BENCH_DATA`, `$TTSR_BENCH_WEIGHTS`, …), then `./data` / `./weights`: the one
rule and table of `foundation.settings`, which also shows an example settings file. `--config FILE`
is the old name of `--settings FILE`.

Which runs the report shows: this table's run folder (`runs/<table>`), or the folders named with
`--runs`; each folder shows what its latest command asked for (rows of earlier commands stay in
rows.csv and are reused, not shown), and when two folders hold the same pass the newer one's rows
are shown (README, "Which results a report shows").

Training the rows first (`--train`, tables 1–3; `benchmarks.sweep`): every training the table needs
is planned (Tables 2/3: the rows' variants of `ttsr.config.VARIANTS` over configs/ttsr-rec.toml;
Table 1: each method's recipe, `training.table1`), trainings already finished (same config and
data → same identity) are skipped, the others run (`--launcher local`: one after another here;
`torchrun`: over `--gpus` GPUs of this machine; `slurm`: submitit jobs), then each export is
evaluated with the table's protocol and the table printed, trained-here rows listed under it.
`--dry-run` prints the plan with the measured step time and the device-hours, and trains nothing.
`--miniature` is a CPU-sized stand-in of the whole pipeline (reduced networks, `--steps` steps each
on the demo photos, a stand-in CUFED5 of other bundled photos; everything under runs/miniature/):
its numbers are NOT comparable with the paper.

Exit status: 0 when the run worked — also when cells are missing (the gap is printed); 1 under
`--strict` when a requested paper cell (one of a method the suite has, of `--methods` when given)
is unmeasured or a measured cell on a complete test set with real weights is far outside the
table's tolerance (always printed loudly); 2 for bad input (one line); 3 when nothing was measured;
130 when interrupted; the runner's status when the runner itself failed.
"""
from __future__ import annotations

import argparse
import sys
import traceback
from collections import Counter
from pathlib import Path
from typing import Sequence

from benchmarks import protocols, published, run, sweep
from benchmarks import report as report_mod
from benchmarks.report import text as report_text
from foundation import settings as settings_mod
from foundation.cli_types import OneLineParser, whole_number
from foundation.budget import parse_memory
from foundation.seeding import SEED_MAX
from foundation.devices import DEVICE_HELP, device_arg
from foundation.errors import (EXIT_INTERRUPTED, EXIT_NOTHING_MEASURED, EXIT_OK, EXIT_STRICT, EXIT_USER_ERROR, UserError,
                         cli_main)
from benchmarks.runner.plan import DEFAULT_METRICS, RunSettings
from foundation.fileio import check_not_an_input, check_output_dir

TABLES = tuple(protocols.tables())


def resolve(args: argparse.Namespace) -> dict:
    """Settings from the command line, the settings file and the environment (`foundation.settings`),
    with where the data root came from; methods, metrics and weights by their registered names."""
    import metrics
    from baselines import registry

    found = settings_mod.resolve(args.settings, args.data_root, args.weights, methods=registry.METHODS,
                                 plugins=getattr(args, "plugins", None))
    max_memory = found.values.get("max_memory")
    return {
        "config": found.file, "data_root": str(found.data_root) if found.data_named else None,
        "data_from": found.data_from if found.data_named else "runner default (./data, else the built-in demo set)",
        "weights": {name: str(path) for name, path in found.weights.items()},
        "device": found.get("device", args.device),
        "metrics": found.names("metrics", args.metrics, metrics.REGISTRY),
        "methods": found.names("methods", args.methods, registry.METHODS),
        "published": found.get("published", getattr(args, "published", None)),
        "published_from": found.origin("published", getattr(args, "published", None), "--published"),
        "seed": getattr(args, "seed", None),
        "plugins": found.plugins,
        # the runner's own parser, so the settings file and --max-memory follow one rule (a bare number is MiB)
        "max_memory": parse_memory(max_memory, f"{found.file}: max_memory") if max_memory is not None else None,
    }


def run_settings(table: str, run_dir: Path, settings: dict, force: bool) -> RunSettings:
    """The runner's settings for `table`: its protocol into `run_dir` with images saved (the report's
    visual comparisons), and the resolved data root, weights, device, metrics, methods and memory
    budget (`resolve`); what is not set is the runner's default."""
    return RunSettings(
        protocol=table, out=run_dir, save_images=True, force=force,
        data_root=Path(settings["data_root"]) if settings["data_root"] else None,
        weights=[f"{name}={path}" for name, path in settings["weights"].items()],
        device=str(settings["device"] or "auto"),
        metrics=list(map(str, settings["metrics"])) if settings["metrics"] else list(DEFAULT_METRICS),
        methods=list(map(str, settings["methods"])) if settings["methods"] else None,
        max_memory=settings["max_memory"], seed=settings.get("seed"),
        published=settings["published"], published_from=settings["published_from"],
        settings=str(settings["config"]) if settings.get("config") else None,
        plugins=list(settings.get("plugins", [])))


def run_protocol(settings: RunSettings) -> int:
    """Run the protocol in this process (`benchmarks.run.run`; its progress bars and messages go to the
    terminal): the runner's exit status. A `UserError` or Ctrl-C passes through (one line, exit 2 /
    130, finished rows kept); a failure of the runner itself prints its traceback and is status 1."""
    try:
        return run.run(settings).status
    except (UserError, KeyboardInterrupt):
        raise
    except Exception:  # noqa: BLE001 - a bug in the runner: the report of the rows it kept still renders
        traceback.print_exc()
        return 1


def _banner(lines: Sequence[str]) -> str:
    width = max(len(line) for line in lines) + 4
    bar = "!" * width
    return "\n".join([bar] + [f"! {line.ljust(width - 4)} !" for line in lines] + [bar])


NOT_IN_SUITE = "method not in the suite"


def requested_gaps(view, methods: Sequence[str] | None) -> list:
    """Paper cells the command asked for that have no measurement: every paper cell of a method the
    suite has (of `methods` when given); cells of methods the suite cannot run are not asked for."""
    return [(r, c) for r, c in view.gaps() if not c.reason.startswith(NOT_IN_SUITE)
            and (not methods or r.method in methods)]


def summarize(table: str, result: report_mod.Report, strict: bool, out=None, err=None,
              methods: Sequence[str] | None = None) -> int:
    """Print the table, the gap and the verdict; the exit status (module docstring, "Exit status")."""
    out, err = out or sys.stdout, err or sys.stderr
    if table == "demo":
        groups = [g for g in result.groups if g.protocol == "demo"]
        for g in groups:
            print(f"\n{g.title}", file=out)
            print(report_text.group_console_table(g), file=out)
        if not groups:
            print("demo: no rows were written (see the runner's messages above)", file=out)
        random = sorted({m for g in groups for m in g.random})
        if random:
            print(f"\nRANDOM WEIGHTS: {', '.join(random)}: numbers mean nothing about the method", file=out)
        print(f"\nreport: {result.index}", file=out)
        return 0

    view = result.tables[table]
    print(f"\n{view.title}", file=out)
    print(report_text.console_table(view), file=out)
    gaps = view.gaps()
    print(f"\n{table}: {view.coverage_text()}.", file=out)
    if gaps:
        print(f"gap: {len(gaps)} paper cell(s) not measured:", file=out)
        by_reason = Counter(c.reason for _, c in gaps)
        for reason, count in by_reason.most_common():
            who = sorted({r.label for r, c in gaps if c.reason == reason})
            print(f"  - {count} cell(s) [{', '.join(who)}]: {reason}", file=out)
    partial = [(r, c) for r, c in view.cells() if c.measured is not None and c.measured.partial]
    if partial:
        print(f"note: {len(partial)} cell(s) measured on part of a test set "
              f"(e.g. {partial[0][1].measured.images} of {partial[0][1].measured.expected} images): "
              f"Δ shown but not judged against the tolerance", file=out)
    random = [(r, c) for r, c in view.cells() if c.status == "random"]
    if random:
        print(f"note: RANDOM WEIGHTS for {', '.join(sorted({r.method for r, _ in random}))}: "
              f"not compared with the paper", file=out)
    off = [(r, c) for r, c in view.cells() if c.status == "off"]
    if off:
        print(f"outside tolerance (±{view.tolerance.psnr} dB / ±{view.tolerance.ssim}): "
              + "; ".join(f"{r.label} {c.column} Δ {c.delta_text()}" for r, c in off), file=out)
    loud = view.loud_cells()
    print(f"\nreport: {result.index}", file=out)
    if loud:
        lines = [f"{table}: {len(loud)} measured cell(s) FAR OUTSIDE the paper's numbers "
                 f"(beyond ±{view.far.psnr} dB / ±{view.far.ssim}):"]
        lines += [f"  {r.label} · {c.column}: measured {c.measured_text()}, paper {c.paper_text()}, Δ {c.delta_text()}"
                  for r, c in loud]
        lines.append("check the protocol, the weights (manifest sha256) and the data before trusting these numbers")
        print(_banner(lines), file=err)
    if not view.measured_count:
        print(f"{table}: nothing measured; exit status {EXIT_NOTHING_MEASURED}", file=err)
        return EXIT_NOTHING_MEASURED
    if strict:
        missing = requested_gaps(view, methods)
        if loud or missing:
            print(f"--strict: exit status {EXIT_STRICT}: {len(loud)} cell(s) far from the paper, "
                  f"{len(missing)} requested paper cell(s) not measured", file=err)
            return EXIT_STRICT
    return EXIT_OK


@cli_main
def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(
        prog="python -m benchmarks.reproduce",
        description="Run a paper table's protocol, render the report, and print measured / paper / Δ "
                    "with what could not be measured.",
        epilog="Data root: --data-root, the settings file's data_root, $TTSR_BENCH_DATA, ./data. Weights: "
               "--weights, the settings file's [weights], $TTSR_BENCH_WEIGHTS, ./weights. Settings file: --settings, "
               f"$TTSR_BENCH_CONFIG, ./ttsr-bench.toml (foundation.settings). Exit status: {EXIT_OK} done; {EXIT_STRICT} --strict and a requested cell "
               f"unmeasured or far from the paper; {EXIT_USER_ERROR} bad input (one line on stderr); "
               f"{EXIT_NOTHING_MEASURED} nothing measured; {EXIT_INTERRUPTED} interrupted (finished rows kept).")
    parser.add_argument("table", type=protocols.PROTOCOLS.canonical, choices=TABLES,
                        help="the paper table (protocol) to reproduce, or demo (any case)")
    parser.add_argument("--data-root", metavar="DIR", help="folder holding the test sets")
    parser.add_argument("--weights", nargs="+", metavar="NAME=PATH", help="checkpoint of a method")
    settings_mod.add_settings_option(parser, "data_root, [weights], device, metrics, methods, max_memory, published, plugins")
    parser.add_argument("--config", dest="settings", help=argparse.SUPPRESS)  # the old name, kept for one release
    settings_mod.add_plugin_option(parser)
    parser.add_argument("--device", type=device_arg, help=DEVICE_HELP)
    parser.add_argument("--seed", type=whole_number(0, SEED_MAX), metavar="N",
                        help="seed of the random draws (Sun80 reference choice; default: the protocol's)")
    parser.add_argument("--methods", nargs="+", metavar="NAME", help="only these methods")
    parser.add_argument("--metrics", nargs="+", metavar="NAME", help="measures (default: the runner's)")
    parser.add_argument("--runs-dir", default="runs", help="where run folders live (default runs/)")
    parser.add_argument("--reports-dir", default="reports", help="where the report is written (default reports/)")
    parser.add_argument("--strict", action="store_true",
                        help=f"exit {EXIT_STRICT} when a requested paper cell is unmeasured or far outside the "
                             "paper's tolerance")
    parser.add_argument("--runs", nargs="+", metavar="DIR",
                        help="run folders the report shows (default: this table's, RUNS_DIR/TABLE); "
                             "name several to put runs side by side")
    parser.add_argument("--force", action="store_true", help="recompute finished rows")
    parser.add_argument("--no-run", action="store_true", help="only render the report from existing runs")
    parser.add_argument("--published", nargs="+", metavar="FILE", help="your published-numbers TOML file(s), applied over benchmarks/published.toml (default: the settings file's published, $TTSR_BENCH_PUBLISHED)")
    train = parser.add_argument_group("training the table's rows first (tables 1-3; benchmarks.sweep)")
    train.add_argument("--train", action="store_true", help="plan, train (skipping finished trainings) and "
                       "evaluate every training the table needs")
    train.add_argument("--dry-run", action="store_true", help="print the training plan with measured step "
                       "time and estimated device-hours; train nothing")
    train.add_argument("--miniature", action="store_true", help="a CPU-sized miniature of --train (reduced "
                       "networks, demo photos, stand-in CUFED5; under runs/miniature/; not the paper's numbers)")
    train.add_argument("--steps", type=whole_number(1), default=300, metavar="N",
                       help="--miniature: steps per training, N ≥ 1 (default 300)")
    train.add_argument("--train-root", metavar="DIR", help="where the trainings' run folders go "
                       "(default RUNS_DIR/train-sweep)")
    train.add_argument("--launcher", choices=sweep.LAUNCHERS, default="local",
                       help="local: one training after another here; torchrun: each over --gpus GPUs; "
                            "slurm: submitit jobs (pip install 'ttsr-bench[slurm]')")
    train.add_argument("--gpus", type=whole_number(1), default=1, metavar="N", help="GPUs per training "
                       "(torchrun, slurm), N ≥ 1")
    train.add_argument("--slurm-partition", metavar="NAME", help="SLURM partition")
    train.add_argument("--slurm-hours", type=whole_number(1), default=72, metavar="H", help="SLURM time limit, hours")
    train.add_argument("--allow-random-vgg", action="store_true", help="train with a random VGG19 when the "
                       "ImageNet weights are absent (smoke tests; every number labelled RANDOM)")
    train.add_argument("--time-steps", type=whole_number(0), default=2, metavar="N",
                       help="--dry-run: steps timed per training, N ≥ 0 (0: no timing)")
    args = parser.parse_args(argv)
    if args.miniature:
        args.train = args.train or not args.dry_run
        args.runs_dir = "runs/miniature" if args.runs_dir == "runs" else args.runs_dir
        args.reports_dir = "runs/miniature/reports" if args.reports_dir == "reports" else args.reports_dir
    check_output_dir(args.runs_dir, "--runs-dir")
    check_output_dir(args.reports_dir, "--reports-dir")
    check_not_an_input(args.reports_dir, "--reports-dir", [("--runs", p) for p in args.runs or []]
                       + [("--runs-dir", args.runs_dir), ("run", Path(args.runs_dir) / args.table)])

    settings = resolve(args)
    published.use_files(settings["published"], settings["published_from"])
    runs_dir = Path(args.runs_dir)
    run_dir = runs_dir / args.table
    print(f"reproduce {args.table}: data root {settings['data_root'] or '(default)'} [{settings['data_from']}]"
          + (f"; settings file {settings['config']}" if settings["config"] else "")
          + (f"; weights given for {', '.join(sorted(settings['weights']))}" if settings["weights"] else ""))
    status = EXIT_OK
    trained: list = []
    if args.train or args.dry_run:
        trained = train_rows(args, settings)
        if trained is None:
            return EXIT_OK  # --dry-run
    if not args.no_run:
        print(f"running protocol {args.table} into {run_dir} (as `python -m benchmarks.run --protocol {args.table} "
              f"--out {run_dir} --save-images` with the settings above)", flush=True)
        status = run_protocol(run_settings(args.table, run_dir, settings, args.force))
        if status == EXIT_NOTHING_MEASURED:
            print(f"reproduce {args.table}: the runner measured nothing (see above); no report written",
                  file=sys.stderr)
            return status
        if status != EXIT_OK:
            print(f"reproduce {args.table}: the runner exited with status {status}", file=sys.stderr)
            if not (run_dir / "rows.csv").is_file():
                return status
    shown = [Path(p) for p in args.runs] if args.runs else [run_dir]
    if not args.runs and not (run_dir / "rows.csv").is_file():
        raise UserError(f"{run_dir}: no run folder with rows.csv; run without --no-run first, or name run "
                        "folders with --runs")
    result = report_mod.render(shown, args.reports_dir)
    print(f"report of {', '.join(str(r.path) for r in result.runs)} (each shows its latest command's results)")
    verdict = summarize(args.table, result, args.strict, methods=settings["methods"])
    if trained:
        print_trained(trained, args.miniature)
    return status or verdict


def train_rows(args: argparse.Namespace, settings: dict) -> list | None:
    """`--train` / `--dry-run`: plan (and run) the table's trainings; the finished ones, whose exports now
    stand in `settings` (weights, methods, and for --miniature the stand-in data root); None after a dry run."""
    from foundation.pretrained import find_backbone

    runs_dir = Path(args.runs_dir)
    train_root = Path(args.train_root) if args.train_root else runs_dir / "train-sweep"
    data_root = Path(settings["data_root"]) if settings["data_root"] else None
    allow_random = args.allow_random_vgg
    if args.miniature:
        data_root = sweep.write_standin_cufed5(runs_dir / "data").parent
        settings.update(data_root=str(data_root), data_from="--miniature stand-in CUFED5 (benchmarks.sweep)")
        if not allow_random and find_backbone("vgg19") is None:
            allow_random = True
            print("miniature: the ImageNet VGG19 is not in the torch hub cache: training with a random VGG19 "
                  "(its rows are labelled RANDOM)", flush=True)
    if args.miniature:
        check_output_dir(train_root, "--train-root")
    trainings = sweep.plan(args.table, train_root, data_root, allow_random_vgg=allow_random,
                           miniature_steps=args.steps if args.miniature else None, methods=settings["methods"])
    print(f"{args.table}: {sum(not t.blocked for t in trainings)} training(s) planned"
          + (" (MINIATURE: reduced networks, demo photos; not the paper's setting)" if args.miniature else ""))
    for training in trainings:
        print(sweep.describe(training, data_root))
    device = settings["device"] if settings["device"] not in (None, "auto") else None
    if args.dry_run:
        for training in trainings:
            if training.blocked or args.time_steps == 0:
                continue
            try:  # the step time does not depend on the weights' values: a missing VGG19 is made random here
                seconds = sweep.estimate(training, device=device, allow_random_vgg=True, steps=args.time_steps)
            except UserError as err:  # e.g. rsrgan without its ranker: this training is not timed, the rest is
                print(f"  {training.name}: not timed ({err})")
                continue
            steps = sweep.total_steps(training.config, sweep.training_pairs(training.config, data_root))
            print(f"  {training.name}: {seconds:.3f} s/step measured on {device or 'the default device'} × {steps} "
                  f"steps = {seconds * steps / 3600:.2f} device-hours")
        return None
    trained = sweep.run_trainings(trainings, data_root=data_root, allow_random_vgg=allow_random, device=device,
                                  launcher=args.launcher, gpus=args.gpus, slurm_partition=args.slurm_partition,
                                  slurm_hours=args.slurm_hours)
    if not trained:
        raise UserError(f"{args.table}: no training finished (see the plan above); nothing to evaluate")
    for training in trained:
        for method in training.methods:
            settings["weights"][method] = str(training.export())
    settings["methods"] = [m for t in trained for m in t.methods]
    return trained


def print_trained(trained: list, miniature: bool) -> None:
    """The trained-here rows under the table: which checkpoint each row's numbers come from."""
    print("\ntrained here (checkpoint metadata: 'trained by ttsr-bench'):"
          + (" MINIATURE — reduced networks, demo photos, stand-in CUFED5; not comparable with the paper"
             if miniature else ""))
    for training in trained:
        print(f"  {', '.join(training.labels)}: {training.export()} (identity {training.identity[:12]})")


if __name__ == "__main__":
    sys.exit(main())
