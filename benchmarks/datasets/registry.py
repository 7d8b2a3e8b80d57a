"""The test sets by name: where each is published, how to lay it out, and `load` / `find` / `survey`."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from benchmarks.datasets import cufed5, demo, refmodes, sisr_sets, sun80
from benchmarks.datasets.files import child_dir
from benchmarks.datasets.sample import SampleSequence
from benchmarks.datasets.survey import Survey
from foundation.errors import UserError

DATA_ENV = "TTSR_BENCH_DATA"
OPTIONS = frozenset({"ref_mode", "seed", "scale", "skip_bad", "names", "limit", "given_lr"})


@dataclass(frozen=True)
class DatasetInfo:
    """What the suite knows about one test set."""

    name: str
    folder: str  # usual folder name under a data root (matched case-insensitively)
    expected: int  # images (CUFED5: groups of 6; Sun80: images with references)
    unit: str
    ref_modes: tuple[str, ...]  # the reference modes it offers (names in benchmarks.datasets.refmodes)
    default_ref_mode: str
    citation: str
    sources: tuple[str, ...]  # where it is published
    layout: str  # how to lay it out under <root>/<folder>/
    aliases: tuple[str, ...] = ()
    note: str = ""

    @property
    def folder_names(self) -> tuple[str, ...]:
        return (self.folder,) + self.aliases


_SISR_LAYOUT = ("{f}/image_SRF_4/img_NNN_SRF_4_HR.png + img_NNN_SRF_4_LR.png (as in the SelfExSR zip), "
                "or {f}/HR/<name>.png + {f}/LR_bicubic/X4/<name>x4.png, or {f}/<name>.png (HR only)")
_SISR_MODES = sisr_sets.REF_MODES

DATASETS: dict[str, DatasetInfo] = {info.name: info for info in (
    DatasetInfo(
        "cufed5", "CUFED5", 126, "groups of 6 files: NNN_0 HR + 5 references", cufed5.REF_MODES, "L1",
        "Zhang et al., Image Super-Resolution by Neural Texture Transfer (SRNTT), CVPR 2019",
        ("http://web.eecs.utk.edu/~zzhang61/project_page/SRNTT/SRNTT.html",
         "https://github.com/ZZUTK/SRNTT (download_dataset.py)",
         "https://drive.google.com/file/d/1Fa1mopExA9YGG1RxrCZZn7QFTYXLx6ph (CUFED5.zip)"),
        "CUFED5/000_0.png … 125_5.png: one folder, NNN_0.png = HR, NNN_1..5.png = references "
        "(level 1 most similar); 756 files",
        note="Table 1 uses ref_mode 'stitched'; the release and Table 4 use single levels"),
    DatasetInfo(
        "sun80", "Sun80", 80, "images with ~20 scene-match references each", sun80.REF_MODES, "random",
        "Sun & Hays, Super-resolution from Internet-scale Scene Matching, ICCP 2012",
        ("http://cs.brown.edu/~lbsun/SRproj2012/SR_iccp2012.html",),
        "Sun80/Sun_Hays_SR_groundtruth/<name>.jpg + Sun80/Sun_Hays_SR_scenematches/<name>/*.jpg",
        aliases=("Sun_Hays", "SunHays80", "Sun-Hays80"),
        note="one scene match per image, chosen from seed (default 0) + image name"),
    DatasetInfo(
        "urban100", "Urban100", 100, "images", _SISR_MODES, "lr",
        "Huang et al., Single Image Super-Resolution from Transformed Self-Exemplars, CVPR 2015",
        ("https://github.com/jbhuang0604/SelfExSR (Urban100 zip)",
         "https://cv.snu.ac.kr/research/VDSR/ (test sets)"),
        _SISR_LAYOUT.format(f="Urban100"),
        note="TTSR: reference = the LR itself; 'random-hr' as in later papers. The HR images of the "
             "SelfExSR zip are reported to be bicubic upscalings (SelfExSR issue #8); prefer the VDSR "
             "page's HR"),
    DatasetInfo(
        "manga109", "Manga109", 109, "pages", _SISR_MODES, "lr",
        "Matsui et al., Sketch-based Manga Retrieval using Manga109 Dataset, MTAP 2017",
        ("http://www.manga109.org/en/ (request access; academic use)",),
        "Manga109/<Title>.png (flat folder of 109 pages), or the HR/ + LR_bicubic/X4/ layout",
        note="TTSR: reference = the LR itself; 'random-hr' as in later papers"),
    DatasetInfo(
        "set5", "Set5", 5, "images", _SISR_MODES, "none",
        "Bevilacqua et al., Low-Complexity Single-Image Super-Resolution based on Nonnegative "
        "Neighbor Embedding, BMVC 2012",
        ("http://people.rennes.inria.fr/Aline.Roumy/results/SR_BMVC12.html",
         "https://github.com/jbhuang0604/SelfExSR (Set5 zip)",
         "https://cv.snu.ac.kr/research/VDSR/ (test sets)"),
        _SISR_LAYOUT.format(f="Set5")),
    DatasetInfo(
        "set14", "Set14", 14, "images", _SISR_MODES, "none",
        "Zeyde et al., On Single Image Scale-Up using Sparse-Representations, Curves and Surfaces 2010",
        ("https://sites.google.com/site/romanzeyde/research-interests",
         "https://github.com/jbhuang0604/SelfExSR (Set14 zip)",
         "https://cv.snu.ac.kr/research/VDSR/ (test sets)"),
        _SISR_LAYOUT.format(f="Set14")),
    DatasetInfo(
        "bsd100", "BSD100", 100, "images", _SISR_MODES, "none",
        "Martin et al., A Database of Human Segmented Natural Images, ICCV 2001 (BSD300 test split)",
        ("https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/bsds/",
         "https://github.com/jbhuang0604/SelfExSR (BSD100 zip)",
         "https://cv.snu.ac.kr/research/VDSR/ (test sets)"),
        _SISR_LAYOUT.format(f="BSD100"), aliases=("B100", "BSDS100")),
    DatasetInfo(
        "demo", "", 4, "built-in pairs", demo.REF_MODES, "graded",
        "photos bundled with scikit-image (skimage/data)", ("built in: no download",),
        "nothing to lay out", note="references of graded similarity: stereo view, warped, zoomed, unrelated"),
)}

#: which module reads each set
_MODULES = {"cufed5": cufed5, "sun80": sun80, "demo": demo, **{n: sisr_sets for n in
            ("urban100", "manga109", "set5", "set14", "bsd100")}}


def default_root() -> Path:
    """$TTSR_BENCH_DATA when set, else ./data."""
    return Path(os.environ.get(DATA_ENV) or "data")


def _info(name: str) -> DatasetInfo:
    key = str(name).strip().lower()
    if key not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[key]


def check_root(root) -> Path:
    """The data root as a Path; UserError when it is missing, not a folder, or empty."""
    root = Path(root)
    if not root.exists():
        raise UserError(f"{root}: data folder not found; create it and put the test sets in it "
                        "(`python -m benchmarks.data sources` says where to get each and how to lay it out)")
    if not root.is_dir():
        raise UserError(f"{root}: is a file, expected the data folder holding the test sets")
    if not any(p for p in root.iterdir() if not p.name.startswith(".")):
        raise UserError(f"{root}: data folder is empty; put the test sets in it "
                        "(`python -m benchmarks.data sources` says where to get each and how to lay it out)")
    return root


def _survey(name: str, folder: Path) -> Survey:
    info = DATASETS[name]
    module = _MODULES[name]
    if module is sisr_sets:
        return sisr_sets.survey(folder, info.expected)
    return module.survey(folder, info.expected)


def _known_folder_names() -> set[str]:
    return {n.lower() for info in DATASETS.values() for n in info.folder_names if n}


def locate(name: str, root) -> Path | None:
    """The folder of set `name`: `<root>/<Folder>` (any case, or an alias), or `root` itself when it
    holds the set's layout directly (and is not a data root holding other sets)."""
    info = _info(name)
    root = Path(root)
    folder = child_dir(root, *info.folder_names)
    if folder is not None:
        return folder
    if not root.is_dir():
        return None
    holds_sets = any(p.is_dir() and p.name.lower() in _known_folder_names() for p in root.iterdir())
    if holds_sets:
        return None
    survey = _survey(info.name, root)
    if survey.layout is None:
        return None
    if survey.layout.startswith("flat") and root.name.lower() not in {n.lower() for n in info.folder_names}:
        return None  # a flat folder of images is only taken for this set when named like it
    return root


def find(root) -> dict[str, Path]:
    """{name: folder} for every set found under `root` (complete or not)."""
    root = check_root(root)
    out = {}
    for name in DATASETS:
        if name == "demo":
            continue
        folder = locate(name, root)
        if folder is not None and _survey(name, folder).layout is not None:
            out[name] = folder
    return out


def survey(name: str, root) -> Survey | None:
    """What `root` holds of set `name` (None when its folder is absent)."""
    folder = locate(name, root)
    return None if folder is None else _survey(_info(name).name, folder)


def normalize_ref_mode(name: str, ref_mode=None) -> str:
    """The canonical name of a reference mode for set `name` (its default when None); any spelling
    `benchmarks.datasets.refmodes` knows (1, "l1", "L1" → "L1"); `UserError` for a mode the set lacks."""
    info = _info(name)
    if ref_mode is None:
        return info.default_ref_mode
    return refmodes.get(ref_mode, info.name, info.ref_modes).name


def load(name: str, root=None, **options) -> SampleSequence:
    """The test set `name` under data root `root` (or the set's own folder), read lazily.

    Options: ref_mode (per set, see DATASETS[name].ref_modes), seed (random modes, default 0),
    scale (4), skip_bad (skip and record unreadable images), names / limit (a subset),
    given_lr (use the LR shipped with the set; default: only in SISR mode "none").
    `root` None: $TTSR_BENCH_DATA or ./data; not needed for "demo".
    """
    info = _info(name)
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise UserError(f"{info.name}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(OPTIONS))}")
    options["ref_mode"] = normalize_ref_mode(info.name, options.get("ref_mode"))
    options.setdefault("seed", 0)
    options["seed"] = int(options["seed"])
    options.setdefault("scale", 4)
    if info.name == "demo":
        return demo.load("demo", None, **options)
    root = check_root(default_root() if root is None else root)
    folder = locate(info.name, root)
    if folder is None:
        raise UserError(f"{root}: no {info.folder} folder found; get it from {info.sources[0]} and lay it "
                        f"out as {info.layout}")
    loader: Callable[..., SampleSequence] = _MODULES[info.name].load
    if loader is sisr_sets.load:
        return sisr_sets.load(info.name, folder, expected=info.expected, **options)
    options.pop("given_lr", None)
    return loader(info.name, folder, **options)
