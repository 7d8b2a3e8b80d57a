"""CUFED5 (SRNTT): one folder of 126 groups, `NNN_0.png` (HR) and `NNN_1.png` … `NNN_5.png` (references,
level 1 most similar).

The loader lists each group's HR and its five references in level order; the reference modes
(`benchmarks.datasets.refmodes`: "L1"…"L5", "stitched" for Table 1, "all", "lr", "none") build the
references from that list. A group lacking a file a mode needs is left out with a warning.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.datasets import refmodes
from benchmarks.datasets.files import child_dir, short_list
from foundation.imageio import list_images
from benchmarks.datasets.refmodes import Listed
from benchmarks.datasets.sample import SampleSequence, sequence, warn
from benchmarks.datasets.survey import Survey
from foundation.errors import UserError

LEVELS = (1, 2, 3, 4, 5)
REF_MODES = ("L1", "L2", "L3", "L4", "L5", "stitched", "all", "lr", "none")
EXPECTED_GROUPS = 126
_FILE = re.compile(r"^(?P<group>\d+)_(?P<level>[0-5])$")


@dataclass
class Group:
    name: str
    files: dict[int, Path] = field(default_factory=dict)


def discover(folder: Path) -> tuple[Path, dict[str, Group]] | None:
    """(the folder holding the groups, groups by name), or None when no `NNN_k.png` files are there."""
    for candidate in (folder, child_dir(folder, "CUFED5")):
        if candidate is None:
            continue
        groups: dict[str, Group] = {}
        for path in list_images(candidate):
            match = _FILE.match(path.stem)
            if match:
                group = groups.setdefault(match.group("group"), Group(match.group("group")))
                group.files[int(match.group("level"))] = path
        if groups:
            return candidate, dict(sorted(groups.items()))
    return None


def _lacks(group: Group) -> list[str]:
    return [f"{group.name}_{k}.png" for k in (0,) + LEVELS if k not in group.files]


def _absent_groups(groups: dict[str, Group]) -> list[str]:
    width = max([3] + [len(n) for n in groups])
    return [f"{i:0{width}d}" for i in range(EXPECTED_GROUPS) if f"{i:0{width}d}" not in groups]


def _problems(groups: dict[str, Group]) -> list[str]:
    problems = []
    absent = _absent_groups(groups)
    if absent:
        problems.append(f"groups absent: {short_list(absent)}")
    for group in groups.values():
        lacks = _lacks(group)
        if lacks:
            problems.append(f"group {group.name} lacks {', '.join(lacks)}")
    return problems


def survey(folder: Path, expected: int = EXPECTED_GROUPS) -> Survey:
    found = discover(folder)
    if found is None:
        return Survey(folder, None, 0, "no NNN_k.png files")
    where, groups = found
    complete = sum(1 for g in groups.values() if not _lacks(g))
    files = sum(len(g.files) for g in groups.values())
    layout = "NNN_0.png + NNN_1..5.png" + ("" if where == folder else f" (in {where.name}/)")
    return Survey(where, layout, complete, f"{complete} complete groups, {files} files",
                  _problems(groups))


def load(dataset: str, folder: Path, *, ref_mode="L1", seed: int = 0, skip_bad: bool = False,
         scale: int = 4, names=None, limit: int | None = None, **_ignored) -> SampleSequence:
    """CUFED5 in one reference mode (see the module docstring)."""
    mode = refmodes.get(ref_mode, dataset)
    found = discover(folder)
    if found is None:
        raise UserError(f"{folder}: no CUFED5 files (NNN_0.png … NNN_5.png) found")
    where, groups = found
    listed = [Listed(g.name, g.files[0], tuple(g.files.get(k) for k in LEVELS),
                     meta={"group": g.name, "root": str(where)}) for g in groups.values() if 0 in g.files]
    chosen = refmodes.choose(mode, listed, dataset=dataset, seed=seed, root=where)
    problems = _problems(groups)
    if problems:
        left_out = [g.name for g in groups.values() if g.name not in chosen]
        note = f"; left out for ref_mode {mode.name!r}: {short_list(left_out)}" if left_out else ""
        warn(f"CUFED5 at {where} is incomplete: {'; '.join(problems[:6])}"
             f"{' …' if len(problems) > 6 else ''}{note}; evaluating {len(chosen)} group(s)")
    if not chosen:
        raise UserError(f"{where}: no CUFED5 group has the files ref_mode {mode.name!r} needs "
                        f"(NNN_0.png and {mode.description})")
    missing = [f for g in groups.values() for f in _lacks(g)] + [f"{n}_*.png" for n in _absent_groups(groups)]
    return sequence(dataset, mode, listed, chosen, root=where, layout="NNN_0.png + NNN_1..5.png", seed=seed,
                    scale=scale, skip_bad=skip_bad, names=names, limit=limit, missing=missing)
