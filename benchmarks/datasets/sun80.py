"""Sun80 (Sun & Hays, ICCP 2012): 80 HR photos, each with about 20 scene-match references.

Layout: `Sun_Hays_SR_groundtruth/<name>.jpg` + `Sun_Hays_SR_scenematches/<name>/*.jpg`. A folder
of ground-truth images alone (that folder, or a flat folder of `<scene>_sun_<id>.jpg`) is
accepted as an incomplete set: usable with ref_mode "lr" or "none", not with "random".
The loader lists each HR with its scene matches as candidate references; the modes
(`benchmarks.datasets.refmodes`) build the references: "random" (default) takes one scene match
chosen from seed + image name, the same whatever the order or subset of images evaluated.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.datasets import refmodes
from benchmarks.datasets.files import child_dir, short_list
from foundation.imageio import list_images
from benchmarks.datasets.refmodes import Listed
from benchmarks.datasets.sample import SampleSequence, sequence, warn
from benchmarks.datasets.survey import Survey
from foundation.errors import UserError

REF_MODES = ("random", "lr", "none")
GT_DIR = "Sun_Hays_SR_groundtruth"
MATCH_DIR = "Sun_Hays_SR_scenematches"


@dataclass
class Scene:
    name: str
    hr: Path
    matches: list[Path] = field(default_factory=list)


@dataclass
class Found:
    layout: str
    scenes: list[Scene]
    has_match_dir: bool


def discover(folder: Path) -> Found | None:
    """The Sun80 scenes under `folder` (full layout, ground truth only, or flat), or None."""
    if not folder.is_dir():
        return None
    gt = child_dir(folder, GT_DIR)
    matches = child_dir(folder, MATCH_DIR)
    if gt is None:
        flat = list_images(folder)
        if not flat:
            return None
        return Found("flat ground-truth folder (no scene matches)", [Scene(p.stem, p) for p in flat], False)
    scenes = []
    for path in list_images(gt):
        scene = Scene(path.stem, path)
        if matches is not None:
            match_dir = child_dir(matches, path.stem, path.name)
            scene.matches = list_images(match_dir) if match_dir is not None else []
        scenes.append(scene)
    if not scenes:
        return None
    layout = f"{GT_DIR}/ + {MATCH_DIR}/" if matches is not None else f"{GT_DIR}/ only (no scene matches)"
    return Found(layout, scenes, matches is not None)


def survey(folder: Path, expected: int = 80) -> Survey:
    found = discover(folder)
    if found is None:
        return Survey(folder, None, 0, "no images")
    n = len(found.scenes)
    with_refs = [s for s in found.scenes if s.matches]
    problems = []
    if n < expected:
        problems.append(f"{n} of {expected} ground-truth images")
    if not found.has_match_dir:
        problems.append(f"no {MATCH_DIR}/ folder: the scene-match references are missing "
                        "(until added, only ref_mode 'lr' or 'none' can run)")
    else:
        lacking = [s.name for s in found.scenes if not s.matches]
        if lacking:
            problems.append(f"no scene matches for {short_list(lacking)}")
    detail = f"{n} HR, {len(with_refs)} with scene matches"
    return Survey(folder, found.layout, len(with_refs), detail, problems, blocking=not with_refs)


def load(dataset: str, folder: Path, *, ref_mode: str = "random", seed: int = 0, scale: int = 4,
         skip_bad: bool = False, names=None, limit: int | None = None, **_ignored) -> SampleSequence:
    """Sun80 in one reference mode (see the module docstring)."""
    mode = refmodes.get(ref_mode, dataset)
    found = discover(folder)
    if found is None:
        raise UserError(f"{folder}: no Sun80 images found (expected {GT_DIR}/ and {MATCH_DIR}/)")
    info = survey(folder)
    listed = [Listed(s.name, s.hr, tuple(s.matches)) for s in found.scenes]
    chosen = refmodes.choose(mode, listed, dataset=dataset, seed=seed, root=folder)
    if mode.gives != refmodes.NONE and (not found.has_match_dir or not chosen):
        raise UserError(
            f"{folder}: Sun80 has no scene-match references ({MATCH_DIR}/<name>/*.jpg), so "
            f"ref_mode {mode.name!r} cannot run; add them (see `python -m benchmarks.data check`) or "
            "pass ref_mode='lr' (LR as reference, not the published protocol) or 'none' (SISR)")
    if info.problems:
        warn(f"Sun80 at {folder} is incomplete: {'; '.join(info.problems)}; "
             f"evaluating {len(chosen)} image(s)")
    lacking = [s.name for s in found.scenes if not s.matches] if found.has_match_dir else []
    return sequence(dataset, mode, listed, chosen, root=folder, layout=found.layout, seed=seed, scale=scale,
                    skip_bad=skip_bad, names=names, limit=limit, missing=[f"{MATCH_DIR}/{n}/" for n in lacking])
