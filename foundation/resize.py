"""PIL bicubic resizing as the TTSR release does it (its `dataset/cufed.py`; paper §4.1).

LR↑ = PIL BICUBIC ×scale of the LR; the reference is cropped top-left to a multiple of the
scale and Ref↓↑ = PIL BICUBIC down by the scale, then up again. All on uint8 images.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from foundation.errors import UserError


def pil_bicubic(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a uint8 H×W×3 array to `size = (width, height)` (PIL's order) with PIL BICUBIC."""
    width, height = size
    resized = Image.fromarray(np.ascontiguousarray(image)).resize((int(width), int(height)), Image.BICUBIC)
    return np.asarray(resized, dtype=np.uint8).copy()


def crop_to_multiple(image: np.ndarray, multiple: int) -> np.ndarray:
    """Top-left crop so that height and width are multiples of `multiple`."""
    height, width = image.shape[0] // multiple * multiple, image.shape[1] // multiple * multiple
    return image[:height, :width]


def upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """LR↑: the LR enlarged by `scale` with PIL bicubic."""
    return pil_bicubic(lr, (lr.shape[1] * scale, lr.shape[0] * scale))


def reference_pair(ref: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(Ref, Ref↓↑): the reference cropped to a multiple of `scale`, and its bicubic down-up copy."""
    ref = crop_to_multiple(ref, scale)
    height, width = ref.shape[:2]
    ref_down = pil_bicubic(ref, (width // scale, height // scale))
    return ref, pil_bicubic(ref_down, (width, height))


def check_lr_hr(lr_size: tuple[int, int], hr_size: tuple[int, int], scale: int, *,
                lr_name: object = "LR", hr_name: object = "HR") -> None:
    """Raise `UserError` unless an HR of ``hr_size`` belongs to an LR of ``lr_size`` at ×``scale``.

    Sizes are (height, width) — ``array.shape[:2]`` — in pixels. The protocols crop the HR top-left
    to a multiple of the scale, so each HR side must lie in [scale·lr, scale·lr + scale − 1]
    (for ×4: up to 3 extra pixels), i.e. ``hr // scale == lr``. The message names both files.
    """
    lr_h, lr_w = (int(v) for v in lr_size[:2])
    hr_h, hr_w = (int(v) for v in hr_size[:2])
    if (hr_h // scale, hr_w // scale) != (lr_h, lr_w):
        raise UserError(
            f"{lr_name} ({lr_w}×{lr_h}) and {hr_name} ({hr_w}×{hr_h}) are not a ×{scale} LR/HR pair: the HR "
            f"must be {scale * lr_w}–{scale * lr_w + scale - 1} × {scale * lr_h}–{scale * lr_h + scale - 1} "
            f"pixels (×{scale} the LR, plus up to {scale - 1} cropped by the protocol); use the matching files")
