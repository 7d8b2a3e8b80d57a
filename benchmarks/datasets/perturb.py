"""Reference perturbations as data: what is done to a reference image, with a severity axis.

One table, `PERTURBATIONS` (a `foundation.registry.Registry`), of `Perturbation` specs. Each has a
unit, a `neutral` level (the reference unchanged: `apply(image, spec, neutral, rng)` returns the
input array itself) and `levels`, its severity axis from mild to severe. A perturbation touches the
**reference only**: the degradation then makes Ref↓↑ from the perturbed reference the usual way
(`benchmarks.degrade.refsr_inputs`), and the HR/LR are those of the unperturbed pass.

=============  ==============  =========================================================================
name           unit (neutral)  what is done (random draws seeded, see below)
=============  ==============  =========================================================================
translate      fraction (0)    shifted by that fraction of its width and height along a random
                               direction; the uncovered part filled with the reference's mean colour
scale-down     factor (1)      resized by the factor (< 1) with PIL bicubic (the reference shrinks)
scale-up       factor (1)      resized by the factor (> 1) with PIL bicubic (the reference grows)
rotate         degrees (0)     rotated about its centre by ± that angle (random sign), same size,
                               corners filled with the mean colour (PIL bicubic)
blur           σ in px (0)     Gaussian blur of each channel (`scipy.ndimage.gaussian_filter`, σ in
                               reference pixels, reflected edges)
jpeg           quality (100)   JPEG round trip at that quality (Pillow, 4:2:0); 100 stands for the
                               reference unchanged (no round trip)
gamma          γ factor (1)    255·(x/255)^γ with γ = factor or 1/factor (random)
colour         shift (0)       each channel multiplied by 1 + u, u uniform in [−shift, shift] per channel
occlude        area fraction   a rectangle of that fraction of the area (the image's aspect, random
               (0)             position) filled with the reference's mean colour
other          area fraction   the same rectangle filled with another image's reference of the same set
               (0)             (seeded choice, resized to this reference's size); 1 = the whole
                               reference is another image's
=============  ==============  =========================================================================

Determinism: the random draws of one reference (direction, sign, position, gains, the other image)
come from a generator seeded by (seed, "<set>/<image>", perturbation), the same at every level of
the perturbation, so along one curve only the severity changes (a larger occlusion covers the
smaller one; a longer shift goes the same way). The level and the seed are in the reference
mode's name (`<base>+<perturbation>=<level>`, e.g. `L1+blur=2`) and so in every row's identity.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

from foundation.registry import Registry


@dataclass(frozen=True)
class Perturbation:
    """One perturbation: `name`, `unit`, `neutral` level, severity `levels` (mild → severe), `describe`."""

    name: str
    unit: str
    neutral: float
    levels: tuple[float, ...]
    description: str
    function: Callable[[np.ndarray, float, np.random.Generator, np.ndarray | None], np.ndarray]
    bounds: tuple[float, float] = (0.0, 1.0)  # the levels a mode name may ask for (inclusive)
    needs_other: bool = False  # takes another image's reference (`other`)


def _mean_colour(image: np.ndarray) -> np.ndarray:
    return np.round(image.reshape(-1, 3).mean(axis=0)).astype(np.uint8)


def _translate(image, level, rng, other=None):
    h, w = image.shape[:2]
    angle = rng.uniform(0, 2 * np.pi)
    dy, dx = int(round(level * h * np.sin(angle))), int(round(level * w * np.cos(angle)))
    out = np.empty_like(image)
    out[:] = _mean_colour(image)
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = image[ys, xs]
    return out


def _scale(image, level, rng, other=None):
    h, w = image.shape[:2]
    size = (max(1, int(round(w * level))), max(1, int(round(h * level))))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC), dtype=np.uint8).copy()


def _rotate(image, level, rng, other=None):
    sign = 1.0 if rng.random() < 0.5 else -1.0
    fill = tuple(int(v) for v in _mean_colour(image))
    rotated = Image.fromarray(image).rotate(sign * level, resample=Image.Resampling.BICUBIC, fillcolor=fill)
    return np.asarray(rotated, dtype=np.uint8).copy()


def _blur(image, level, rng, other=None):
    from scipy.ndimage import gaussian_filter

    out = gaussian_filter(image.astype(np.float64), sigma=(level, level, 0), mode="reflect")
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _jpeg(image, level, rng, other=None):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=int(level))
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"), dtype=np.uint8).copy()


def _gamma(image, level, rng, other=None):
    gamma = level if rng.random() < 0.5 else 1.0 / level
    out = 255.0 * (image.astype(np.float64) / 255.0) ** gamma
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _colour(image, level, rng, other=None):
    gains = 1.0 + rng.uniform(-1.0, 1.0, size=3) * level
    return np.clip(np.round(image.astype(np.float64) * gains), 0, 255).astype(np.uint8)


def _box(shape, fraction, rng) -> tuple[slice, slice]:
    """A rectangle of `fraction` of the area, the image's aspect, its centre drawn from `rng` (the same
    draw at every fraction: larger boxes cover smaller ones where the borders allow)."""
    h, w = shape[:2]
    side = float(np.sqrt(fraction))
    bh, bw = min(h, int(round(side * h))), min(w, int(round(side * w)))
    cy, cx = rng.random(), rng.random()
    top, left = int(round(cy * (h - bh))), int(round(cx * (w - bw)))
    return slice(top, top + bh), slice(left, left + bw)


def _occlude(image, level, rng, other=None):
    out = image.copy()
    out[_box(image.shape, level, rng)] = _mean_colour(image)
    return out


def _other(image, level, rng, other=None):
    if other is None:
        raise ValueError("perturbation 'other' needs another image's reference")
    h, w = image.shape[:2]
    donor = np.asarray(Image.fromarray(other).resize((w, h), Image.Resampling.BICUBIC), dtype=np.uint8)
    out = image.copy()
    box = _box(image.shape, level, rng)
    out[box] = donor[box]
    return out


PERTURBATIONS = Registry("perturbation", case_sensitive=False)
for _spec in (
    Perturbation("translate", "fraction of the side", 0.0, (0.0625, 0.125, 0.25, 0.5),
                 "shift along a random direction, uncovered part filled with the mean colour", _translate,
                 (0.0, 0.95)),
    Perturbation("scale-down", "factor", 1.0, (0.84, 0.71, 0.59, 0.5), "resized smaller (PIL bicubic)", _scale,
                 (0.1, 1.0)),
    Perturbation("scale-up", "factor", 1.0, (1.19, 1.41, 1.68, 2.0), "resized larger (PIL bicubic)", _scale,
                 (1.0, 4.0)),
    Perturbation("rotate", "degrees", 0.0, (5.0, 15.0, 30.0, 45.0, 90.0),
                 "rotated about the centre (random sign), corners filled with the mean colour", _rotate,
                 (0.0, 180.0)),
    Perturbation("blur", "sigma (px)", 0.0, (0.5, 1.0, 2.0, 4.0, 8.0), "Gaussian blur", _blur, (0.0, 64.0)),
    Perturbation("jpeg", "quality", 100.0, (90.0, 70.0, 50.0, 30.0, 10.0),
                 "JPEG round trip (100: unchanged)", _jpeg, (1.0, 100.0)),
    Perturbation("gamma", "gamma factor", 1.0, (1.25, 1.5, 2.0, 3.0), "gamma curve, γ or 1/γ (random)", _gamma,
                 (1.0, 10.0)),
    Perturbation("colour", "gain shift", 0.0, (0.05, 0.1, 0.2, 0.4), "per-channel gains 1 ± shift (random)",
                 _colour),
    Perturbation("occlude", "area fraction", 0.0, (0.1, 0.25, 0.5, 0.75, 0.9),
                 "a rectangle filled with the mean colour (random position)", _occlude),
    Perturbation("other", "area fraction", 0.0, (0.25, 0.5, 0.75, 1.0),
                 "a rectangle taken from another image's reference (1: all of it)", _other, needs_other=True),
):
    PERTURBATIONS.register(_spec)


def get(name: str) -> Perturbation:
    """The perturbation `name` (any case); `UserError` naming the valid ones."""
    return PERTURBATIONS.get(name)


def level_text(level: float) -> str:
    """How a level is spelled in a mode name and a row label: `2`, `0.5`, `0.0625` (Python's `g`)."""
    return f"{float(level):g}"


def apply(image: np.ndarray, spec: Perturbation, level: float, rng: np.random.Generator,
          other: np.ndarray | None = None) -> np.ndarray:
    """`image` (uint8 H×W×3 RGB) perturbed by `spec` at `level`; uint8 H'×W'×3 (only the scale
    perturbations change the size). At `spec.neutral` the input itself comes back, unchanged.
    `rng`: the generator of this image and perturbation (module docstring); `other`: another image's
    reference (uint8 H×W×3, any size) for `other`."""
    if float(level) == float(spec.neutral):
        return image
    return spec.function(image, float(level), rng, other)
