"""Set5, Set14, BSD100, Urban100, Manga109: HR images, optionally with the LR shipped beside them.

Layouts (first match wins):
- `image_SRF_<s>/img_NNN_SRF_<s>_HR.png` + `_LR.png` (SelfExSR zips; other files there ignored);
- `HR/` + `LR_bicubic/X<s>/<name>x<s>.<ext>` (EDSR/DIV2K style; `GTmod12/` + `LRbicx<s>/` too);
- a flat folder of HR images (LR then made by the degradation step).
The loader lists the HR images (and the given LR, used by default only in SISR mode "none"); the
reference modes (`benchmarks.datasets.refmodes`: "none", "lr" = the LR itself as in TTSR's
Urban100/Manga109 protocol, "random-hr" = another HR of the set) build the references.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from benchmarks.datasets import refmodes
from benchmarks.datasets.files import child_dir, short_list
from foundation.imageio import list_images
from benchmarks.datasets.refmodes import Listed
from benchmarks.datasets.sample import SampleSequence, sequence, warn
from benchmarks.datasets.survey import Survey
from foundation.errors import UserError

REF_MODES = ("none", "lr", "random-hr")
_HR_DIRS = ("HR", "GTmod12", "GT")


@dataclass
class Pair:
    name: str
    hr: Path
    lr: Path | None


@dataclass
class Found:
    layout: str
    pairs: list[Pair]
    lr_missing: list[str]
    ships_lr: bool


def _srf_pairs(folder: Path, scale: int) -> list[Pair]:
    pattern = re.compile(rf"^(?P<name>.+)_SRF_{scale}_HR$", re.IGNORECASE)
    pairs = []
    files = {p.stem.lower(): p for p in list_images(folder)}
    for path in list_images(folder):
        match = pattern.match(path.stem)
        if match:
            name = match.group("name")
            lr = files.get(f"{name}_SRF_{scale}_LR".lower())
            pairs.append(Pair(name, path, lr))
    return pairs


def _lr_dir(folder: Path, scale: int) -> Path | None:
    bicubic = child_dir(folder, "LR_bicubic")
    if bicubic is not None:
        found = child_dir(bicubic, f"X{scale}")
        if found is not None:
            return found
    return child_dir(folder, f"LRbicx{scale}")


def _lr_for(lr_files: dict[str, Path], stem: str, scale: int) -> Path | None:
    """The LR of HR `stem`: `<stem>x<scale>.*` (EDSR naming) or `<stem>.*` (BasicSR naming)."""
    return lr_files.get(f"{stem}x{scale}".lower()) or lr_files.get(stem.lower())


def _named(paths: list[Path]) -> list[tuple[str, Path]]:
    """Image names: the file stem, or the whole file name where two files share a stem."""
    stems = [p.stem for p in paths]
    return [(p.stem if stems.count(p.stem) == 1 else p.name, p) for p in paths]


def discover(folder: Path, scale: int = 4) -> Found | None:
    """The layout of a SISR-set folder and its (HR, LR) pairs, or None when nothing is recognised."""
    if not folder.is_dir():
        return None
    srf = child_dir(folder, f"image_SRF_{scale}")
    for candidate in ([srf] if srf else []) + [folder]:
        pairs = _srf_pairs(candidate, scale)
        if pairs:
            missing = [p.name for p in pairs if p.lr is None]
            return Found(f"image_SRF_{scale}/*_HR+_LR", pairs, missing, True)
    hr_dir = child_dir(folder, *_HR_DIRS)
    if hr_dir is not None and list_images(hr_dir):
        lr_dir = _lr_dir(folder, scale)
        lr_files = {p.stem.lower(): p for p in list_images(lr_dir)} if lr_dir is not None else {}
        pairs = [Pair(name, p, _lr_for(lr_files, p.stem, scale)) for name, p in _named(list_images(hr_dir))]
        lr_name = lr_dir.relative_to(folder).as_posix() if lr_dir is not None else None
        layout = f"{hr_dir.name}/ + {lr_name}/" if lr_name else f"{hr_dir.name}/ (no LR)"
        missing = [p.name for p in pairs if p.lr is None] if lr_dir is not None else []
        return Found(layout, pairs, missing, lr_dir is not None)
    images = list_images(folder)
    if images:
        return Found("flat HR folder", [Pair(name, p, None) for name, p in _named(images)], [], False)
    return None


def expected_names(count: int) -> list[str]:
    """SelfExSR names: img_001 … img_<count>."""
    return [f"img_{i:03d}" for i in range(1, count + 1)]


def _missing_names(found: Found, count: int) -> list[str]:
    names = {p.name for p in found.pairs}
    if names and all(re.fullmatch(r"img_\d{3}", n) for n in names):
        return [n for n in expected_names(count) if n not in names]
    return []


def survey(folder: Path, expected: int, scale: int = 4) -> Survey:
    found = discover(folder, scale)
    if found is None:
        return Survey(folder, None, 0, "no images")
    n = len(found.pairs)
    if found.ships_lr:
        detail = f"{n} HR, {n - len(found.lr_missing)} with given LR"
    else:
        detail = f"{n} HR, LR to be made by matlab_imresize"
    problems = []
    if n < expected:
        missing = _missing_names(found, expected)
        problems.append(f"{n} of {expected} images" + (f"; missing {short_list(missing)}" if missing else ""))
    if found.lr_missing:
        problems.append(f"no given LR for {short_list(found.lr_missing)} (made by matlab_imresize instead)")
    return Survey(folder, found.layout, n, detail, problems)


def load(dataset: str, folder: Path, *, expected: int, ref_mode: str, seed: int = 0, scale: int = 4,
         given_lr: bool | None = None, skip_bad: bool = False, names=None, limit: int | None = None,
         ) -> SampleSequence:
    """A SISR set in any accepted layout; see the module docstring for the reference modes."""
    mode = refmodes.get(ref_mode, dataset)
    found = discover(folder, scale)
    if found is None:
        raise UserError(f"{folder}: no {dataset} images found (expected image_SRF_{scale}/*_HR.png, "
                        f"HR/ + LR_bicubic/X{scale}/, or a flat folder of HR images)")
    use_lr = (mode.name == "none") if given_lr is None else bool(given_lr)
    problems = survey(folder, expected, scale).problems
    if problems:
        warn(f"{dataset} at {folder} is incomplete: {'; '.join(problems)}; evaluating the "
             f"{len(found.pairs)} image(s) present")
    listed = [Listed(p.name, p.hr, lr=p.lr if use_lr else None,
                     meta={"layout": found.layout, "scale": scale, "given_lr_path": str(p.lr) if p.lr else None})
              for p in found.pairs]
    chosen = refmodes.choose(mode, listed, dataset=dataset, seed=seed, root=folder)
    return sequence(dataset, mode, listed, chosen, root=folder, layout=found.layout, seed=seed, scale=scale,
                    skip_bad=skip_bad, names=names, limit=limit, missing=_missing_names(found, expected),
                    options={"given_lr": use_lr})
