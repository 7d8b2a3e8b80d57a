"""The built-in demo set: photos shipped inside scikit-image, with references of graded similarity.

No download and no randomness: every image is a fixed crop / rotation / resize (Pillow, bicubic)
of a bundled photo, 192×144 pixels, so a TTSR evaluation on CPU takes seconds.
- motorcycle_stereo: reference = the other view of the Middlebury stereo pair (high similarity);
- astronaut_warped:  reference = the same photo rotated 12° and shifted (high, misaligned);
- coffee_zoomed:     reference = the same photo, a 1.5× closer, shifted crop (medium, other scale);
- chelsea_unrelated: reference = an unrelated photo, the rocket (low).
Each item lists its HR and its one graded reference; the modes (`benchmarks.datasets.refmodes`:
"graded" = that reference, "lr" = LR as reference, "none" = SISR) build the references.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.datasets import refmodes
from benchmarks.datasets.refmodes import Listed
from benchmarks.datasets.sample import SampleSequence, sequence
from foundation.errors import UserError
from foundation.imageio import read_image

REF_MODES = ("graded", "lr", "none")
SIZE = (192, 144)  # (width, height) of every HR and reference image (LR 48×36 at ×4)


def data_dir() -> Path:
    """Where scikit-image keeps its bundled photos."""
    import skimage.data

    return Path(skimage.data.__file__).parent


@functools.lru_cache(maxsize=8)
def _photo(filename: str) -> Image.Image:
    path = data_dir() / filename
    if not path.is_file():
        raise UserError(f"{path}: scikit-image's bundled photo is missing; reinstall scikit-image")
    return Image.fromarray(read_image(path))


@dataclass(frozen=True)
class View:
    """A photo, optionally rotated about its centre, cropped to `box` and resized to SIZE."""

    source: str
    box: tuple[int, int, int, int]  # left, top, right, bottom in the (rotated) photo
    rotate: float = 0.0  # degrees, counter-clockwise

    def render(self) -> np.ndarray:
        image = _photo(self.source)
        if self.rotate:
            image = image.rotate(self.rotate, resample=Image.Resampling.BICUBIC)
        image = image.crop(self.box).resize(SIZE, Image.Resampling.BICUBIC, reducing_gap=None)
        return np.asarray(image, dtype=np.uint8).copy()

    def describe(self) -> dict:
        return {"source": f"skimage/data/{self.source}", "box": list(self.box), "rotate": self.rotate}


@dataclass(frozen=True)
class DemoItem:
    name: str
    hr: View
    ref: View
    similarity: str  # "high" | "medium" | "low"
    relation: str


ITEMS = (
    DemoItem("motorcycle_stereo", View("motorcycle_left.png", (50, 12, 690, 492)),
             View("motorcycle_right.png", (50, 12, 690, 492)), "high",
             "the other view of the stereo pair"),
    DemoItem("astronaut_warped", View("astronaut.png", (64, 16, 448, 304)),
             View("astronaut.png", (96, 40, 480, 328), rotate=12.0), "high",
             "the same photo rotated 12° and shifted by (32, 24) px"),
    DemoItem("coffee_zoomed", View("coffee.png", (60, 20, 540, 380)),
             View("coffee.png", (180, 60, 500, 300)), "medium",
             "a 1.5× closer crop of the same photo, shifted"),
    DemoItem("chelsea_unrelated", View("chelsea.png", (0, 0, 400, 300)),
             View("rocket.jpg", (36, 0, 605, 427)), "low", "an unrelated photo (rocket)"),
)


def load(dataset: str = "demo", folder=None, *, ref_mode: str = "graded", seed: int = 0, names=None,
         limit: int | None = None, scale: int = 4, **_ignored) -> SampleSequence:
    """The demo set in one reference mode; needs no files beyond scikit-image."""
    mode = refmodes.get(ref_mode, dataset)
    listed = [Listed(item.name, item.hr.render, (item.ref.render,),
                     meta={"hr_source": item.hr.describe(), "source": item.hr.describe()["source"],
                           "ref_source": item.ref.describe(), "similarity": item.similarity,
                           "relation": item.relation}) for item in ITEMS]
    chosen = refmodes.choose(mode, listed, dataset=dataset, seed=seed)
    return sequence(dataset, mode, listed, chosen, root=None, layout="built-in (scikit-image photos)",
                    seed=seed, scale=scale, names=names, limit=limit)
