"""CUFED5 (SRNTT): one folder of 126 groups, `NNN_0.png` (HR) and `NNN_1.png` … `NNN_5.png` (references,
level 1 most similar).

Reference modes: "L1"…"L5" (one level; the release's evaluation uses L1, Table 4), "stitched"
(all five, each top-left on a 500×500 black canvas, stacked vertically into one 2500×500 image —
the author's setting for Table 1), "all" (the five as a list, for multi-reference methods), "lr"
(the LR itself, Table 4's last row) and "none" (SISR).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.datasets.files import child_dir, probe_size, short_list
from foundation.imageio import list_images
from benchmarks.datasets.sample import Entry, Sample, SampleSequence, screen_hr, select, warn
from benchmarks.datasets.survey import Survey
from foundation.errors import UserError
from foundation.imageio import read_image

LEVELS = (1, 2, 3, 4, 5)
REF_MODES = ("L1", "L2", "L3", "L4", "L5", "stitched", "all", "lr", "none")
CANVAS = 500  # side of each black tile in the stitched reference
EXPECTED_GROUPS = 126
_FILE = re.compile(r"^(?P<group>\d+)_(?P<level>[0-5])$")


def normalize_ref_mode(ref_mode) -> str:
    """1, "1", "l1", "L1" → "L1"; the other modes by name (case-insensitive)."""
    text = str(ref_mode).strip()
    if re.fullmatch(r"[lL]?[1-5]", text):
        return "L" + text[-1]
    lowered = text.lower()
    if lowered in {m.lower() for m in REF_MODES}:
        return lowered
    raise UserError(f"cufed5: unknown ref_mode {ref_mode!r}; choose 1–5 (a single level), "
                    "'stitched', 'all', 'lr' or 'none'")


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


def _needed(ref_mode: str) -> tuple[int, ...]:
    if ref_mode.startswith("L"):
        return (int(ref_mode[1]),)
    return LEVELS if ref_mode in ("stitched", "all") else ()


def load(dataset: str, folder: Path, *, ref_mode="L1", skip_bad: bool = False, scale: int = 4,
         names=None, limit: int | None = None, **_ignored) -> SampleSequence:
    """CUFED5 in one reference mode (see the module docstring)."""
    ref_mode = normalize_ref_mode(ref_mode)
    found = discover(folder)
    if found is None:
        raise UserError(f"{folder}: no CUFED5 files (NNN_0.png … NNN_5.png) found")
    where, groups = found
    needed = (0,) + _needed(ref_mode)
    usable = [g for g in groups.values() if all(k in g.files for k in needed)]
    problems = _problems(groups)
    if problems:
        left_out = [g.name for g in groups.values() if g not in usable]
        note = f"; left out for ref_mode {ref_mode!r}: {short_list(left_out)}" if left_out else ""
        warn(f"CUFED5 at {where} is incomplete: {'; '.join(problems[:6])}"
             f"{' …' if len(problems) > 6 else ''}{note}; evaluating {len(usable)} group(s)")
    if not usable:
        raise UserError(f"{where}: no CUFED5 group has the files ref_mode {ref_mode!r} needs "
                        f"({', '.join(f'NNN_{k}.png' for k in needed)})")
    chosen = select(dataset, usable, names, limit)
    keep, skipped = screen_hr(dataset, [(g.name, g.files[0]) for g in chosen], scale=scale,
                              skip_bad=skip_bad)
    chosen = [g for g in chosen if g.name in keep]
    if ref_mode == "stitched":
        _warn_large_refs(chosen)
    entries = [Entry(g.name, _reader(dataset, g, ref_mode, where),
                     tuple(g.files[k] for k in needed)) for g in chosen]
    missing = [f for g in groups.values() for f in _lacks(g)] + [f"{n}_*.png" for n in _absent_groups(groups)]
    return SampleSequence(dataset, ref_mode, entries, root=where, layout="NNN_0.png + NNN_1..5.png",
                          scale=scale, skip_bad=skip_bad, skipped=skipped, missing=missing)


def _warn_large_refs(groups: list[Group]) -> None:
    large = []
    for group in groups:
        for level in LEVELS:
            try:
                width, height = probe_size(group.files[level])
            except UserError:  # unreadable: reported (or skipped) when the sample is read
                continue
            if width > CANVAS or height > CANVAS:
                large.append(f"{group.files[level].name} ({width}×{height})")
    if large:
        warn(f"CUFED5 stitched: {short_list(large)} larger than {CANVAS}×{CANVAS}; "
             f"cropped top-left to fit its {CANVAS}×{CANVAS} tile")


def stitch(refs: list[np.ndarray], canvas: int = CANVAS) -> tuple[np.ndarray, list[str]]:
    """Each ref top-left on a canvas×canvas black tile, tiles stacked vertically; (image, cropped notes)."""
    out = np.zeros((canvas * len(refs), canvas, 3), dtype=np.uint8)
    cropped = []
    for i, ref in enumerate(refs):
        h, w = min(ref.shape[0], canvas), min(ref.shape[1], canvas)
        if (h, w) != ref.shape[:2]:
            cropped.append(f"ref {i + 1}: {ref.shape[1]}×{ref.shape[0]} cropped to {w}×{h}")
        out[i * canvas:i * canvas + h, :w] = ref[:h, :w]
    return out, cropped


def _reader(dataset: str, group: Group, ref_mode: str, where: Path):
    return functools.partial(_build, dataset, group, ref_mode, where)


def _build(dataset: str, group: Group, ref_mode: str, where: Path) -> Sample:
    hr = read_image(group.files[0])
    levels = _needed(ref_mode)
    refs = [read_image(group.files[k]) for k in levels]
    meta = {"dataset": dataset, "group": group.name, "hr_path": str(group.files[0]),
            "ref_paths": [str(group.files[k]) for k in levels], "ref_levels": list(levels),
            "root": str(where)}
    if ref_mode == "stitched":
        meta["ref_sizes"] = [list(r.shape[:2]) for r in refs]
        stitched, cropped = stitch(refs)
        refs = [stitched]
        meta["cropped"] = cropped
    return Sample(group.name, hr, refs, ref_mode=ref_mode, meta=meta)
