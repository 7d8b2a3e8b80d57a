"""Reading and writing images: the one place where files become RGB uint8 arrays (DESIGN.md).

Grayscale, palette and RGBA images are converted to RGB; 16-bit images are scaled to 8 bits.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ttsr.errors import UserError
from ttsr.fileio import atomic_write_bytes


def _to_rgb_uint8(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image).astype(np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        gray = np.clip(np.round(array * 255.0 / peak), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if image.mode == "F":
        array = np.asarray(image).astype(np.float64)
        gray = np.clip(np.round(array * (255.0 if array.max() <= 1.0 else 1.0)), 0, 255)
        return np.repeat(gray.astype(np.uint8)[..., None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, image)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as an H×W×3 uint8 RGB array, or raise `UserError` naming the file."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: file not found")
    if path.is_dir():
        raise UserError(f"{path}: is a folder, expected an image file")
    try:
        with Image.open(path) as image:
            image.load()
            return _to_rgb_uint8(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise UserError(f"{path}: not a readable image ({err}); re-download or replace the file") from err


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write an H×W×3 uint8 array atomically; the format follows the suffix (PNG when unknown)."""
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format=fmt)
    atomic_write_bytes(path, buffer.getvalue())
