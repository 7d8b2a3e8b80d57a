"""`ttsr-bench <command> [options]`: one entry point for every command of the suite.

    ttsr-bench run --protocol table1         = python -m benchmarks.run --protocol table1
    ttsr-bench reproduce table1              = python -m benchmarks.reproduce table1
    ttsr-bench <command> --help              the command's own options

Each command is the `main(argv)` of its module (the table `COMMANDS`), which `python -m MODULE`
runs too; this module only picks it. The console script is declared in pyproject.toml
(`[project.scripts]`); `python -m benchmarks.cli` works without installing. Exit status: the
command's; 2 for an unknown command (one line on stderr).

The options every command shares have one name and meaning: `--data-root DIR` (where test sets
are read), `--out` (the output folder, or the file for a command that writes one), `--device
auto|cpu|cuda|cuda:N|mps`, `--seed N` (commands that draw random numbers), `--weights NAME=PATH`,
`--settings FILE`; data root, weights and the settings file resolve as `foundation.settings` says.
"""
from __future__ import annotations

import importlib
import sys
from typing import Sequence

from foundation import settings
from foundation.errors import UserError, cli_main

PROG = "ttsr-bench"
#: command -> (module whose `main(argv)` runs it, one line of help)
COMMANDS = {
    "run": ("benchmarks.run", "evaluate methods on test sets under a protocol (resumable run folder)"),
    "reproduce": ("benchmarks.reproduce", "run a paper table's protocol, render the report, print the gap"),
    "score": ("benchmarks.score", "score a folder of ready-made SR images under a protocol's pass (same rows, views)"),
    "report": ("benchmarks.report", "render the HTML/Markdown report of run folders"),
    "refgain": ("benchmarks.refgain", "how much RefSR methods gain from their reference, and how robust that gain is to perturbed references"),
    "table": ("benchmarks.table", "export a results table of run folders as LaTeX (booktabs), CSV or Markdown"),
    "data": ("benchmarks.data", "check the test sets under the data root, where to get them, the demo set"),
    "weights": ("benchmarks.weights", "list or fetch the methods' weights files"),
    "train": ("benchmarks.train", "train a method (TTSR, SRNTT: the config's method) from a training config (configs/*.toml)"),
    "sr": ("ttsr.sr", "super-resolve an LR image, or a folder of them, with references (TTSR)"),
    "convert-srntt": ("baselines.srntt.convert", "convert SRNTT's released TensorFlow weights to safetensors"),
    "parameters": ("benchmarks.parameters", "parameter counts of the TTSR variants beside the paper's Table 3"),
    "plot-log": ("training.plot_log", "plot the curves of a training run's log.csv"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"usage: {PROG} <command> [options]   ({PROG} <command> --help: the command's options)", "",
             "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    table = settings.__doc__.split("One precedence rule for every setting, first found wins:", 1)[1]
    lines += ["", "settings, first found wins:" + table.split("\n(1)", 1)[0].rstrip()]
    return "\n".join(lines)


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    """Run `ttsr-bench COMMAND ARGS…`: the command's `main(ARGS)`; its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        raise UserError(f"{PROG}: unknown command {name!r}; commands: {', '.join(COMMANDS)} (see {PROG} --help)")
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
