"""`ttsr-bench refgain` (= `python -m benchmarks.refgain`): how much each RefSR method gains from its
reference, and how robust that gain is when the reference is perturbed.

    python -m benchmarks.refgain                                   # every set with references found (demo otherwise)
    python -m benchmarks.refgain --datasets cufed5 --methods ttsr srntt imdn
    python -m benchmarks.refgain --ref-mode random-hr --datasets urban100   # another HR image as reference
    python -m benchmarks.refgain --perturbations blur occlude --limit 2 --report reports/refgain

Runs protocol `refgain` (CUFED5 levels 1-5, Sun80's random scene match, the demo set's graded
references; `--ref-mode random-hr`: protocol `refgain-random-hr`, the SISR sets with another HR image
of the set as reference) through the runner (`benchmarks.run.run`: the same resumable run folder,
identities, manifest; a perturbed pass's reference mode `<base>+<perturbation>=<level>` and its seed
are in every row's identity), with the attention statistics of TTSR/SRNTT recorded per image
(`results.ATTENTION_COLUMNS`). Then it builds the reference-gain view (`benchmarks.gains`) and writes
into the run folder `refgain-gains.csv` (per set: gain vs LR-as-reference and vs the best SISR
method, bootstrap interval, paired t-test and Wilcoxon p) and `refgain-curves.csv` (gain per
perturbation level, half-gain severity, attention statistics), prints the gains and the half-gain
table, and with `--report DIR` renders the report (`benchmarks.report`), whose "Reference gain" section
shows the curves. Exit status as `benchmarks.run`'s.
"""
from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Sequence

from tabulate import tabulate

from benchmarks import gains as gains_mod
from benchmarks import results, run as run_mod
from benchmarks.datasets import perturb
from benchmarks.runner.plan import RunSettings
from foundation.errors import EXIT_NOTHING_MEASURED, UserError, cli_main
from foundation.fileio import atomic_write_text

PROTOCOLS = {None: "refgain", "random-hr": "refgain-random-hr"}
GAINS_FILE, CURVES_FILE = "refgain-gains.csv", "refgain-curves.csv"


def build_parser():
    parser = run_mod.build_parser()
    parser.prog = "python -m benchmarks.refgain"
    parser.description = ("Reference gain and its robustness: RefSR methods with the set's reference, with the LR "
                          "as reference and with perturbed references (benchmarks/datasets/perturb.py), against "
                          "the best SISR method present; bootstrap intervals and paired tests over images.")
    parser.set_defaults(protocol=None)
    for action in parser._actions:  # the runner's options, said for this command
        if action.dest == "protocol":
            action.help = f"{PROTOCOLS[None]} or {PROTOCOLS['random-hr']} (what --ref-mode picks; others are refused)"
        elif action.dest == "out":
            action.help = "run folder (default: runs/<protocol>, i.e. runs/refgain or runs/refgain-random-hr)"
    parser.add_argument("--ref-mode", choices=["random-hr"], default=None,
                        help="random-hr: another HR image of the set as the reference (protocol refgain-random-hr: "
                             "Urban100, Manga109, Set5, Set14, BSD100); default: the sets' own references "
                             "(protocol refgain: CUFED5 levels 1-5, Sun80, the demo set)")
    parser.add_argument("--perturbations", nargs="+", metavar="NAME",
                        help=f"only these perturbations (default: all: {', '.join(perturb.PERTURBATIONS)})")
    parser.add_argument("--report", type=Path, metavar="DIR", help="also render the report of the run folder into DIR")
    return parser


def settings_from(args) -> RunSettings:
    """The runner's settings of a refgain command (`UserError` for --protocol other than refgain's)."""
    protocol = PROTOCOLS[args.ref_mode]
    if args.protocol is not None and args.protocol.lower() != protocol:
        raise UserError(f"--protocol {args.protocol}: refgain runs protocol {protocol} "
                        f"(--ref-mode random-hr: {PROTOCOLS['random-hr']}); leave --protocol out")
    options = {k: v for k, v in vars(args).items() if k not in ("ref_mode", "perturbations", "report")}
    options["protocol"] = protocol
    settings = RunSettings(**options, attention=True)
    if args.perturbations:
        from benchmarks import protocols

        names = perturb.PERTURBATIONS.canonical_names(args.perturbations, "--perturbations")
        keep = [e.ref_mode for e in protocols.get(protocol).evaluations
                if (parsed := gains_mod.parse_label(e.ref_mode)) is None or parsed[1] in names]
        settings.ref_modes = list(dict.fromkeys(keep))
    if settings.out is None:
        settings.out = Path("runs") / protocol
    return settings


def gains_table(view: gains_mod.RefGainView, metric: str = "psnr") -> str:
    """The per-set gains of `metric` as a plain table: mean [low, high], n, p-values, per baseline."""
    digits = 3 if metric == "psnr" else 4
    body = [[g.dataset, g.ref_mode, g.method + (" (RANDOM WEIGHTS)" if g.method in view.random else ""), g.vs,
             f"{g.mean:+.{digits}f} [{g.low:+.{digits}f}, {g.high:+.{digits}f}]", g.n,
             gains_mod.format_p(g.t_p), gains_mod.format_p(g.wilcoxon_p)]
            for g in view.gains if g.metric == metric]
    return tabulate(body, headers=["dataset", "reference", "method", "vs", f"{metric} gain [95% CI]", "n",
                                   "t-test p", "Wilcoxon p"], tablefmt="simple", disable_numparse=True)


def half_table(view: gains_mod.RefGainView, metric: str = "psnr") -> str:
    """Half-gain severity per (dataset, method) × perturbation."""
    curves = [c for c in view.curves if c.metric == metric]
    names = list(dict.fromkeys(c.perturbation for c in curves))
    rows: dict[tuple, dict] = {}
    for c in curves:
        rows.setdefault((c.dataset, c.base, c.method), {})[c.perturbation] = gains_mod.format_half(c.half)
    body = [[d, b, m + (" (RANDOM WEIGHTS)" if m in view.random else "")] + [cells.get(n, "") for n in names]
            for (d, b, m), cells in rows.items()]
    return tabulate(body, headers=["dataset", "base", "method"] + names, tablefmt="simple", disable_numparse=True)


def write_files(view: gains_mod.RefGainView, out: Path) -> list[Path]:
    """`refgain-gains.csv` and `refgain-curves.csv` in `out` (atomically)."""
    paths = [out / GAINS_FILE, out / CURVES_FILE]
    atomic_write_text(paths[0], gains_mod.gains_csv(view))
    atomic_write_text(paths[1], gains_mod.curves_csv(view))
    return paths


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = settings_from(args)
    if args.report is not None:
        from foundation.fileio import check_not_an_input, check_output_dir

        check_output_dir(args.report, "--report")
        check_not_an_input(args.report, "--report", [("--out", settings.out)])
    buffer = io.StringIO()  # the runner's one-column-per-pass table is too wide here: its notes are kept
    result = run_mod.run(settings, out=buffer)
    printed = buffer.getvalue().splitlines()
    for line in printed:
        if line.startswith(("protocol ", "device ", "method ", "WARNING ", "no test set")):
            print(line)
    run_mod.print_skipped(result.skipped, sys.stdout, result.out)
    for line in printed:  # after the skipped list it refers to
        if line.startswith("nothing measured"):
            print(line)
    if result.status == EXIT_NOTHING_MEASURED:
        return result.status
    frame = results.load_frame("", result.rows)
    random = {m for m, w in result.weights.items() if w.get("random")}
    view = gains_mod.build(frame, random)
    if not view.gains:
        print("nothing measured: no reference gain — no RefSR method ran with a reference and with the LR as "
              "reference (a gain needs one: --methods ttsr srntt … with their weights, see `python -m "
              f"benchmarks.weights list`); exit status {EXIT_NOTHING_MEASURED}")
        return EXIT_NOTHING_MEASURED
    for metric in view.metrics:
        print(f"\nreference gain, {metric} (positive: the reference helps; 95% bootstrap interval over images):")
        print(gains_table(view, metric))
    if view.curves:
        metric = view.metrics[0]
        print(f"\nseverity at which half the {metric} gain vs LR-as-reference is lost "
              "(interpolated, in each perturbation's unit):")
        print(half_table(view, metric))
    paths = write_files(view, Path(result.out))
    print("\nwritten: " + ", ".join(str(p) for p in paths))
    if args.report is not None:
        from benchmarks.report.build import render

        report = render([result.out], args.report)
        print(f"report: {report.index}")
    return result.status


if __name__ == "__main__":
    sys.exit(main())
