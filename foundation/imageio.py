"""Reading and writing images: the one place where files become RGB uint8 arrays (docs/interfaces.md).

Grayscale, palette and RGBA images are converted to RGB; 16-bit images are scaled to 8 bits.

Size limit (decompression bombs): an image whose header declares more than ``max_pixels`` pixels
(width × height) is refused *before* it is decoded, with a `UserError` naming the file — a 74-byte
PNG may declare 100000×100000 pixels, and a valid 12000×12000 reference makes the methods allocate
tens of GB. The limit is, in order: the ``max_pixels`` argument (``--max-pixels`` of
``python -m ttsr.sr``), ``$TTSR_BENCH_MAX_PIXELS``, else ``DEFAULT_MAX_PIXELS`` = 4096² ≈ 16.8 MP
per image (the largest benchmark images are ≈ 3 MP: DIV2K 2040×1356, Manga109 1654×1170). PIL's
own bomb guard is set aside while a file is opened here: this limit is the one that decides, and
its message names the option that raises it.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from foundation.errors import UserError
from foundation.fileio import atomic_write_bytes
from foundation.settings import ENV

#: the file suffixes read as images (lower-case); every folder listing uses `is_image_file`
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})
MAX_PIXELS_ENV = ENV["max_pixels"]
DEFAULT_MAX_PIXELS = 4096 * 4096  # pixels per image (≈ 16.8 MP); see the module docstring
_READ_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError)


def is_image_file(path: str | os.PathLike) -> bool:
    """Whether `path` is a regular, non-hidden file whose suffix is in `IMAGE_SUFFIXES` (any case)."""
    path = Path(path)
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".") and path.is_file()


def list_images(folder: str | os.PathLike) -> list[Path]:
    """The image files directly inside `folder` (`is_image_file`), sorted by name; [] when `folder`
    is not a folder."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if is_image_file(p)), key=lambda p: p.name)


def parse_pixel_count(text: str, what: str = "--max-pixels") -> int:
    """A pixel count ≥ 1: '16000000', '16M' (10⁶), '4096x4096' (width × height) → int.

    Raises `UserError` naming `what` (an option or environment variable) otherwise.
    """
    value = str(text).strip().lower().replace("×", "x")
    try:
        if "x" in value:
            width, height = value.split("x")
            count = int(width) * int(height)
        elif value.endswith("m"):
            count = int(float(value[:-1]) * 1_000_000)
        else:
            count = int(value)
    except ValueError:
        count = None
    if count is None or count < 1:
        raise UserError(f"{what} {text!r}: expected a pixel count of at least 1, such as 16000000, "
                        f"16M or 4096x4096")
    return count


def pixel_limit(value: int | None = None) -> int:
    """The pixel limit in force: `value` when given, else ``$TTSR_BENCH_MAX_PIXELS``, else the default."""
    if value is not None:
        if int(value) < 1:
            raise UserError(f"max_pixels {value}: must be at least 1")
        return int(value)
    env = os.environ.get(MAX_PIXELS_ENV)
    if env:
        return parse_pixel_count(env, f"${MAX_PIXELS_ENV}")
    return DEFAULT_MAX_PIXELS


def _open(path: Path) -> Image.Image:
    """PIL's lazy open (header only), without PIL's own bomb guard: `pixel_limit` decides."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        return Image.open(path)
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) from the file header, without decoding; `UserError` naming the file otherwise."""
    path = Path(path)
    try:
        with _open(path) as image:
            return image.size
    except _READ_ERRORS as err:
        raise UserError(f"{path}: not a readable image ({err}); re-download or replace the file") from err


def checked_size(path: str | os.PathLike, max_pixels: int | None = None) -> tuple[int, int]:
    """`image_size`, and a `UserError` naming the file when it declares more than `pixel_limit`
    pixels: what `read_image` would refuse, found without decoding."""
    width, height = image_size(path)
    _check_limit(Path(path), width, height, pixel_limit(max_pixels))
    return width, height


def _check_limit(path: Path, width: int, height: int, limit: int) -> None:
    if width * height > limit:
        raise UserError(f"{path}: {width}×{height} is {width * height:,} pixels, over the limit of "
                        f"{limit:,} per image; use a smaller image or raise the limit "
                        f"(--max-pixels or ${MAX_PIXELS_ENV})")


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


def read_image(path: str | os.PathLike, max_pixels: int | None = None) -> np.ndarray:
    """Read an image file as an H×W×3 uint8 RGB array, or raise `UserError` naming the file.

    ``max_pixels``: refuse (`UserError`, before decoding) an image whose header declares more
    pixels; None: ``$TTSR_BENCH_MAX_PIXELS`` or ``DEFAULT_MAX_PIXELS`` (module docstring).
    """
    path = Path(path)
    limit = pixel_limit(max_pixels)
    if not path.exists():
        raise UserError(f"{path}: file not found")
    if path.is_dir():
        raise UserError(f"{path}: is a folder, expected an image file")
    try:
        with _open(path) as image:
            _check_limit(path, *image.size, limit)
            image.load()
            return _to_rgb_uint8(image)
    except _READ_ERRORS as err:
        raise UserError(f"{path}: not a readable image ({err}); re-download or replace the file") from err


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write an H×W×3 uint8 array atomically; the format follows the suffix (PNG when unknown)."""
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format=fmt)
    atomic_write_bytes(path, buffer.getvalue())
