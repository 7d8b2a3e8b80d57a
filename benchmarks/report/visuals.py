"""Visual comparisons for the report: the same crop from HR, bicubic and every method side by side,
the crop box on the full image, and the reference regions TTSR's hard attention took textures from.

Works on a run folder's saved images (`images/<dataset>/<method>/<stem>.png`, `_hr/`, `_ref/`) and
attention maps (`attention/<dataset>/<method>/<stem>.npz` with `hard_index`, `S`, the LR size and the
reference size). Everything written is a re-encoded thumbnail or crop, never a full-size copy.

Hard attention (TTSR §3.2, release `SearchTransfer`): for every LR position p (the LR grid, i.e.
the lv3 feature grid of LR↑) `hard_index[p]` is the position of the most relevant 3×3 patch in the
reference's lv3 feature grid (the reference at 1/4 of its size, row-major). A crop of the HR image
covers the LR positions `crop / scale`; their indices, as (row, col) = divmod(index, ref_lv3_width),
times 4 are the reference pixels the texture came from.
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from benchmarks.results import image_stem
from benchmarks.views import as_number
from foundation.fileio import atomic_write_bytes
from foundation.imageio import read_image

SCALE = 4
LV3_STRIDE = 4  # the reference's lv3 features are at 1/4 of its size
CROP_COLOUR = (255, 40, 40)
ATTN_COLOUR = (255, 210, 0)
_SIZE_KEYS = {
    "lr": ("lr_size", "lr_hw", "lr_shape", "size_lr", "lr"),
    "ref": ("ref_size", "ref_hw", "ref_shape", "size_ref", "ref"),
}


def save_image(path: Path, image: Image.Image | np.ndarray, *, quality: int = 85) -> Path:
    """Encode by suffix (.jpg → JPEG, else PNG) and write atomically."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(np.ascontiguousarray(image))
    buffer = io.BytesIO()
    if path.suffix.lower() in (".jpg", ".jpeg"):
        image.convert("RGB").save(buffer, format="JPEG", quality=quality, optimize=True)
    else:
        image.save(buffer, format="PNG", optimize=True)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def thumbnail(image: np.ndarray | Image.Image, max_side: int) -> Image.Image:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(np.ascontiguousarray(image))
    image = image.copy()
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def find_image(folder: Path, stem: str) -> Path | None:
    """`<stem>.png` in `folder`, else `<stem>` itself, else any `<stem>.*` (names with extensions)."""
    for candidate in (folder / f"{stem}.png", folder / stem):
        if candidate.is_file():
            return candidate
    if folder.is_dir():
        bare = Path(stem).stem
        for candidate in sorted(folder.glob(f"{bare}.*")):
            if candidate.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp") and candidate.is_file():
                return candidate
    return None


def choose_crop(hr: np.ndarray, baseline: np.ndarray | None, size: int) -> tuple[int, int, int, int]:
    """A `size`×`size` box (x0, y0, x1, y1), aligned to the scale, where super-resolution matters:
    the largest bicubic error (or, without a bicubic image, the most HR texture)."""
    h, w = hr.shape[:2]
    size = max(SCALE, min(size, h, w) // SCALE * SCALE)
    gray = hr.astype(np.float32).mean(axis=2)
    if baseline is not None:
        hh, ww = min(h, baseline.shape[0]), min(w, baseline.shape[1])
        energy = np.zeros_like(gray)
        energy[:hh, :ww] = np.abs(gray[:hh, :ww] - baseline[:hh, :ww].astype(np.float32).mean(axis=2))
    else:
        energy = np.zeros_like(gray)
        energy[:, 1:] += np.abs(np.diff(gray, axis=1))
        energy[1:, :] += np.abs(np.diff(gray, axis=0))
    integral = np.pad(energy, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    step = max(SCALE, size // 4 // SCALE * SCALE)
    best, best_box = -1.0, (0, 0, size, size)
    for y in range(0, h - size + 1, step):
        for x in range(0, w - size + 1, step):
            total = integral[y + size, x + size] - integral[y, x + size] - integral[y + size, x] + integral[y, x]
            if total > best:
                best, best_box = float(total), (x, y, x + size, y + size)
    return best_box


def crop(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    out = np.zeros((y1 - y0, x1 - x0, 3), dtype=np.uint8)  # SR smaller than HR: black margin
    part = image[y0:y1, x0:x1]
    out[: part.shape[0], : part.shape[1]] = part
    return out


def draw_boxes(image: Image.Image, boxes: Sequence[tuple[float, float, float, float]],
               colour: tuple[int, int, int], width: int = 2, fill_alpha: int = 0) -> Image.Image:
    image = image.convert("RGB")
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for box in boxes:
        draw.rectangle(box, outline=colour + (255,), width=width,
                       fill=colour + (fill_alpha,) if fill_alpha else None)
    return Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")


def _size(data: dict, which: str) -> tuple[int, int] | None:
    for key in _SIZE_KEYS[which]:
        if key in data:
            values = np.asarray(data[key]).reshape(-1).tolist()
            if len(values) >= 2:
                return int(values[-2]), int(values[-1])
    return None


def _ref_grid(saved: tuple[int, int] | None, image_hw: tuple[int, int] | None,
              max_index: int) -> tuple[int, int] | None:
    """The reference's lv3 grid: the saved reference image's size / 4 first, then the size stored in
    the npz (as pixels / 4, or already a grid; either order), the first that holds every index."""
    options = []
    if image_hw is not None:
        options.append((image_hw[0] // LV3_STRIDE, image_hw[1] // LV3_STRIDE))
    if saved is not None:
        for hw in (tuple(saved), tuple(saved[::-1])):
            options += [(hw[0] // LV3_STRIDE, hw[1] // LV3_STRIDE), hw]
    for grid in options:
        if grid[1] > 0 and grid[0] * grid[1] > max_index:
            return grid
    return None


@dataclass
class AttentionRegion:
    """Reference pixels (boxes in the reference image) used for the LR positions of a crop."""

    boxes: list[tuple[int, int, int, int]] = field(default_factory=list)
    bounds: tuple[int, int, int, int] | None = None
    positions: int = 0
    distinct: int = 0
    mean_confidence: float | None = None
    note: str = ""


def attention_region(npz_path: Path, crop_box: tuple[int, int, int, int], hr_hw: tuple[int, int],
                     ref_hw: tuple[int, int] | None, scale: int = SCALE) -> AttentionRegion:
    """Map the crop's LR positions through `hard_index` to boxes in the reference image.

    The LR grid is the saved LR size, else HR // scale; the reference lv3 grid is the saved
    reference size // 4, else the `_ref` image's size // 4. Sizes are (height, width); a size
    that only fits the other way round is swapped.
    """
    try:
        with np.load(npz_path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:  # damaged, or holds pickled objects
        return AttentionRegion(note=f"{npz_path.name}: not shown, not a plain attention map "
                                    f"({' '.join(str(err).split())[:120]})")
    if "hard_index" not in data:
        return AttentionRegion(note=f"{npz_path.name}: no hard_index")
    index = np.asarray(data["hard_index"]).reshape(-1).astype(np.int64)
    lr_hw = _size(data, "lr") or (hr_hw[0] // scale, hr_hw[1] // scale)
    if lr_hw[0] * lr_hw[1] != index.size:
        if (hr_hw[0] // scale) * (hr_hw[1] // scale) == index.size:
            lr_hw = (hr_hw[0] // scale, hr_hw[1] // scale)
        else:
            return AttentionRegion(note=f"hard_index has {index.size} entries, LR grid {lr_hw} does not match")
    if lr_hw != (hr_hw[0] // scale, hr_hw[1] // scale) and lr_hw[::-1] == (hr_hw[0] // scale, hr_hw[1] // scale):
        lr_hw = lr_hw[::-1]
    grid = _ref_grid(_size(data, "ref"), ref_hw, int(index.max(initial=0)))
    if grid is None:
        return AttentionRegion(note="reference size unknown or too small for hard_index")
    x0, y0, x1, y1 = crop_box
    ly0, ly1 = y0 // scale, min(lr_hw[0], max(y0 // scale + 1, y1 // scale))
    lx0, lx1 = x0 // scale, min(lr_hw[1], max(x0 // scale + 1, x1 // scale))
    positions = (np.arange(ly0, ly1)[:, None] * lr_hw[1] + np.arange(lx0, lx1)[None, :]).reshape(-1)
    picked = index[positions]
    rows, cols = np.divmod(np.unique(picked), grid[1])
    boxes = [(int(c) * LV3_STRIDE, int(r) * LV3_STRIDE, int(c) * LV3_STRIDE + LV3_STRIDE - 1,
              int(r) * LV3_STRIDE + LV3_STRIDE - 1) for r, c in zip(rows, cols)]
    confidence = None
    if "S" in data:
        s = np.asarray(data["S"], dtype=np.float64).reshape(-1)
        if s.size == index.size:
            confidence = float(s[positions].mean())
    bounds = None
    if boxes:
        bounds = (min(b[0] for b in boxes), min(b[1] for b in boxes),
                  max(b[2] for b in boxes), max(b[3] for b in boxes))
    return AttentionRegion(boxes=boxes, bounds=bounds, positions=int(positions.size),
                           distinct=len(boxes), mean_confidence=confidence)


@dataclass
class Panel:
    label: str
    src: str  # relative to the report folder
    psnr: float | None = None
    ssim: float | None = None


@dataclass
class Comparison:
    run: str
    dataset: str
    image: str
    ref_mode: str
    full: str                      # HR thumbnail with the crop box
    crop_box: tuple[int, int, int, int]
    hr_size: tuple[int, int]
    panels: list[Panel]
    references: list[dict] = field(default_factory=list)  # {method, src, positions, distinct, confidence, note}
    protocol: str = ""


def build_comparison(run_dir: Path, run_name: str, dataset: str, image: str, stem: str, ref_mode: str,
                     methods: Sequence[str], scores: dict[str, tuple[float | None, float | None]],
                     out_dir: Path, rel_prefix: str, crop_size: int = 96, thumb_side: int = 480,
                     ref_side: int = 520, folders: dict[str, str] | None = None) -> Comparison | None:
    """Write the crops and thumbnails of one image into `out_dir`; None when no HR image is saved.

    `folders`: method -> its folder under `images/<dataset>/` and `attention/<dataset>/`
    (`<method>/<config_id>` for runs that record identities; the method's name otherwise)."""
    folders = {m: (folders or {}).get(m, m) for m in methods}
    images = run_dir / "images" / dataset
    hr_path = find_image(images / "_hr", stem) or find_image(images / "_hr", image)
    if hr_path is None:
        return None
    hr = read_image(hr_path)
    h, w = hr.shape[:2]
    sr_paths = {m: find_image(images / folders[m], stem) for m in methods}
    sr_paths = {m: p for m, p in sr_paths.items() if p is not None}
    if not sr_paths:
        return None
    arrays = {m: read_image(p) for m, p in sr_paths.items()}
    box = choose_crop(hr, arrays.get("bicubic"), max(crop_size, min(h, w) // 5 // SCALE * SCALE))
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in f"{run_name}-{dataset}-{stem}")
    out_dir.mkdir(parents=True, exist_ok=True)

    thumb = thumbnail(hr, thumb_side)
    factor = thumb.size[0] / w
    thumb = draw_boxes(thumb, [tuple(v * factor for v in box)], CROP_COLOUR, width=2)
    full_name = f"{safe}-full.jpg"
    save_image(out_dir / full_name, thumb)

    panels = []
    order = ["_hr"] + [m for m in methods if m in arrays]
    for method in order:
        array = hr if method == "_hr" else arrays[method]
        name = f"{safe}-crop-{method.strip('_')}.png"
        save_image(out_dir / name, crop(array, box))
        psnr, ssim = scores.get(method, (None, None)) if method != "_hr" else (None, None)
        panels.append(Panel(label="HR" if method == "_hr" else method, src=f"{rel_prefix}/{name}",
                            psnr=psnr, ssim=ssim))

    references = []
    ref_path = find_image(images / "_ref", stem) or find_image(images / "_ref", image)
    attention_root = run_dir / "attention" / dataset
    for method in methods:
        npz = attention_root / folders[method] / f"{stem}.npz"
        if not npz.is_file():
            continue
        if ref_path is None:
            references.append({"method": method, "src": None, "note": "no reference image saved (_ref)"})
            continue
        ref = read_image(ref_path)
        region = attention_region(npz, box, (h, w), ref.shape[:2])
        ref_thumb = thumbnail(ref, ref_side)
        f = ref_thumb.size[0] / ref.shape[1]
        scaled = [tuple(v * f for v in b) for b in region.boxes]
        ref_thumb = draw_boxes(ref_thumb, scaled, ATTN_COLOUR, width=1, fill_alpha=110 if len(scaled) < 40 else 45)
        if region.bounds:
            ref_thumb = draw_boxes(ref_thumb, [tuple(v * f for v in region.bounds)], CROP_COLOUR, width=2)
        name = f"{safe}-ref-{method}.jpg"
        save_image(out_dir / name, ref_thumb)
        references.append({"method": method, "src": f"{rel_prefix}/{name}", "positions": region.positions,
                           "distinct": region.distinct, "confidence": region.mean_confidence,
                           "note": region.note, "ref_size": (int(ref.shape[1]), int(ref.shape[0]))})
    return Comparison(run=run_name, dataset=dataset, image=image, ref_mode=ref_mode,
                      full=f"{rel_prefix}/{full_name}", crop_box=box, hr_size=(w, h), panels=panels,
                      references=references)




# ------------------------------------------------------------------------------ run folders → comparisons
# RefSR methods whose gain over bicubic picks the images shown, first found first
_REFSR_PREFERENCE = ("ttsr-rec", "ttsr", "srntt-rec", "srntt")


def build_comparisons(runs: Sequence, per_group: int, limit: int, out_dir: Path,
                      rel: str) -> list[Comparison]:
    """For each run with saved images and each pass in it: the images where the RefSR method gains
    most over bicubic (or the first ones), HR / bicubic / every method cropped side by side."""
    found: list[Comparison] = []
    for run in runs:
        if not run.has_images or run.rows.empty:
            continue
        for (protocol, dataset, ref_mode), part in run.rows.groupby(["protocol", "dataset", "ref_mode"], sort=False):
            if len(found) >= limit:
                return found
            methods = list(dict.fromkeys(part["method"]))
            if "bicubic" in methods:
                methods.remove("bicubic")
                methods.insert(0, "bicubic")
            table = part.pivot_table(index="image", columns="method", values="psnr", aggfunc="last")
            lead = next((m for m in _REFSR_PREFERENCE if m in table.columns), None)
            if lead and "bicubic" in table.columns:
                order = (table[lead] - table["bicubic"]).sort_values(ascending=False, na_position="last").index
            else:
                order = table.index
            scores = {(r.image, r.method): (as_number(r.psnr), as_number(r.ssim))
                      for r in part[["image", "method", "psnr", "ssim"]].itertuples(index=False)}
            taken = 0
            for image in order:
                if taken >= per_group or len(found) >= limit:
                    break
                stem = image_stem(str(image), dataset, ref_mode)
                comparison = build_comparison(
                    run.path, run.name, dataset, str(image), stem, ref_mode, methods,
                    {m: scores.get((image, m), (None, None)) for m in methods}, out_dir, rel,
                    folders={m: "/".join(filter(None, (m, run.config_of(m, dataset, protocol, ref_mode))))
                             for m in methods})
                if comparison is not None:
                    comparison.protocol = protocol
                    found.append(comparison)
                    taken += 1
    return found
