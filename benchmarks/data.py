"""`python -m benchmarks.data check --data-root DIR`: which test sets are present, complete, and where to get the rest.

`python -m benchmarks.data sources` says where each set is published and how to lay it out;
`python -m benchmarks.data demo --out DIR` writes the built-in demo set as PNG files to look at.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tabulate import tabulate

from benchmarks.datasets import DATASETS, check_root, load, locate, survey
from foundation import settings
from foundation.cli_types import OneLineParser
from foundation.errors import cli_main
from foundation.fileio import check_output_dir
from foundation.imageio import write_image


def status_rows(root: Path) -> list[dict]:
    """One dict per set: name, status (found / incomplete / missing / built-in), counts, layout, notes."""
    rows = []
    for name, info in DATASETS.items():
        if name == "demo":
            rows.append({"set": name, "status": "built-in", "found": info.expected,
                         "expected": info.expected, "layout": "scikit-image photos", "detail": "",
                         "folder": "", "problems": []})
            continue
        found = survey(name, root)
        if found is None or found.layout is None:
            rows.append({"set": name, "status": "missing", "found": 0, "expected": info.expected,
                         "layout": "", "detail": found.detail if found else "",
                         "folder": str(found.path) if found else "", "problems": []})
            continue
        complete = found.found >= info.expected and not found.problems
        rows.append({"set": name, "status": "found" if complete else "incomplete", "found": found.found,
                     "expected": info.expected, "layout": found.layout, "detail": found.detail,
                     "folder": str(found.path), "problems": list(found.problems)})
    return rows


def other_folders(root: Path) -> list[str]:
    """Entries of `root` that are not the folder of any known set ([] when `root` does not exist)."""
    if not root.is_dir():
        return []
    used = {locate(name, root) for name in DATASETS if name != "demo"}
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".") and p not in used)


def describe_source(info, root: Path | None = None) -> list[str]:
    """Where a set is published and how to lay it out, as indented lines."""
    under = f" (under {root})" if root is not None else " (under the data folder)"
    return ["  get it from: " + "\n               ".join(info.sources),
            f"  lay it out{under}: {info.layout}"]


def render_sources() -> str:
    """The `sources` report: every set, where it is published, how to lay it out."""
    lines = []
    for name, info in DATASETS.items():
        if name == "demo":
            continue
        lines += [f"{name}: {info.folder}/, {info.expected} {info.unit}; {info.citation}."]
        lines += describe_source(info) + [""]
    return "\n".join(lines).rstrip()


def render(root: Path) -> str:
    """The `check` report as printed."""
    rows = status_rows(root)
    table = tabulate(
        [[r["set"], r["status"], f"{r['found']}/{r['expected']}", r["detail"], r["layout"]] for r in rows],
        headers=["set", "status", "found/expected", "contents", "layout"], tablefmt="simple")
    absent = "" if root.is_dir() else " (absent: create it and put the test sets in it, as below)"
    lines = [f"data root: {root}{absent}", "", table]
    for row in rows:
        info = DATASETS[row["set"]]
        if row["status"] == "incomplete":
            lines += ["", f"{info.folder} is incomplete ({row['folder']}):"]
            lines += [f"  - {problem}" for problem in row["problems"]]
            lines += [f"  complete it from: {info.sources[0]}"]
            if info.note:
                lines += [f"  note: {info.note}"]
        elif row["status"] == "missing":
            lines += ["", f"{info.folder} is missing ({info.expected} {info.unit}); {info.citation}."]
            lines += describe_source(info, root)
            if info.note:
                lines += [f"  note: {info.note}"]
    others = other_folders(root)
    if others:
        lines += ["", "not a known set (ignored): " + ", ".join(others)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m benchmarks.data", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="list the test sets under a data folder")
    check.add_argument("--data-root", type=Path, default=None, metavar="DIR",
                       help="data folder holding CUFED5/, Sun80/, Urban100/, … (default: the settings file's "
                            "data_root, $TTSR_BENCH_DATA, else ./data)")
    check.add_argument("--root", dest="data_root", type=Path, help=argparse.SUPPRESS)  # old name, for one release
    settings.add_settings_option(check, "data_root")
    commands.add_parser("sources", help="where each test set is published and how to lay it out")
    demo = commands.add_parser("demo", help="write the built-in demo set (HR and reference PNGs)")
    demo.add_argument("--out", type=Path, required=True, help="folder to write into")
    args = parser.parse_args(argv)
    if args.command == "check":
        found = settings.resolve(args.settings, args.data_root)
        if found.data_named:  # a folder the user named must hold test sets
            root = check_root(found.data_root)
        else:  # the default ./data, present or not: the table says what is missing and where to get it
            root = found.data_root or settings.DEFAULT_DATA_ROOT
        print(render(root))
        return 0
    if args.command == "sources":
        print(render_sources())
        return 0
    check_output_dir(args.out, "--out")
    for sample in load("demo", None):
        write_image(args.out / "hr" / f"{sample.name}.png", sample.hr)
        write_image(args.out / "ref" / f"{sample.name}.png", sample.refs[0])
    print(f"wrote {len(load('demo', None))} HR/reference pairs to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(cli_main(main)())
