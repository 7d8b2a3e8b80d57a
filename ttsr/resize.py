"""PIL bicubic resizing as the TTSR release does it (its `dataset/cufed.py`; paper §4.1).

LR↑ = PIL BICUBIC ×scale of the LR; the reference is cropped top-left to a multiple of the
scale and Ref↓↑ = PIL BICUBIC down by the scale, then up again. All on uint8 images.
"""
from __future__ import annotations

import numpy as np
from PIL import Image


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
