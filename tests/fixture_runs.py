"""Fixture run folders in the layout of docs/interfaces.md ("Runs"), made without the runner.

`make_run` writes rows.csv (with optional extra metric columns, or with some base columns left
out), summary.csv, manifest.json, skipped.json, and optionally saved images and attention maps,
from synthetic images whose PSNR values sit near the paper's numbers so every status shows.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image

DEFAULT_PASSES = (("cufed5", "stitched"), ("sun80", "random"), ("urban100", "lr"), ("manga109", "lr"),
                  ("cufed5", "l1"))
# offsets from the paper's PSNR (dB): ok, off, far
OFFSETS = {"ttsr-rec": 0.01, "ttsr": -0.2, "rcan": 1.5, "srntt": -0.01, "srntt-rec": 0.02, "mdsr": 0.0}


def _hr(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([128 + 90 * np.sin(x / 7.0 + c) * np.cos(y / 9.0 - c) for c in range(3)], axis=2)
    texture = rng.normal(0, 25, (h // 4, w // 4, 3)).repeat(4, 0).repeat(4, 1)
    return np.clip(base + texture, 0, 255).astype(np.uint8)


def _save(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def make_run(root: Path, name: str = "fixture", *, protocol: str = "table1",
             methods: Sequence[str] = ("bicubic", "rcan", "srntt", "ttsr", "ttsr-rec"),
             passes: Sequence[tuple[str, str]] = DEFAULT_PASSES, n_images: int = 3,
             images: bool = True, attention: bool = True, extra_metrics: Iterable[str] = ("dists",),
             drop_columns: Iterable[str] = (), random_methods: Sequence[str] = ("ttsr",),
             skipped: Sequence[dict] | None = None, size: tuple[int, int] = (64, 48), seed: int = 0,
             image_stem=None, weight_origins: dict[str, tuple[str, str]] | None = None) -> Path:
    """Write a run folder `root/name`; returns its path. `weight_origins`: {method: (weights_origin,
    trained_on)} written into the manifest's weights records (as the runner's `Method.weights_facts`)."""
    from benchmarks import published

    rng = np.random.default_rng(seed)
    run = root / name
    run.mkdir(parents=True, exist_ok=True)
    extra = list(extra_metrics)
    drop = set(drop_columns)
    columns = [c for c in ["method", "dataset", "protocol", "ref_mode", "image", "psnr", "ssim", "lpips", *extra,
                           "seconds", "peak_mem_mb"] if c not in drop]
    rows = []
    w, h = size
    for dataset, ref_mode in passes:
        for i in range(n_images):
            image = f"{i:03d}_0" if dataset == "cufed5" else f"img_{i + 1:03d}"
            stem = image_stem(image, dataset, ref_mode) if image_stem else (
                image if ref_mode in ("stitched", "random", "lr", "demo", "none") else f"{image}@{ref_mode}")
            hr = _hr(rng, h, w)
            ref = _hr(rng, h * 2, w) if dataset != "demo" else hr
            if images:
                _save(run / "images" / dataset / "_hr" / f"{stem}.png", hr)
                _save(run / "images" / dataset / "_ref" / f"{stem}.png", ref)
            for method in methods:
                cell = published.lookup(protocol, method, dataset, ref_mode)
                base = cell.psnr if cell else 24.0 + 0.3 * len(method) % 3
                psnr = base + OFFSETS.get(method, 0.5) + rng.normal(0, 0.01) + (0.0 if method != "bicubic" else -1.5)
                ssim = (cell.ssim if cell else 0.7) + rng.normal(0, 0.0002)
                row = {"method": method, "dataset": dataset, "protocol": protocol, "ref_mode": ref_mode,
                       "image": image, "psnr": psnr, "ssim": ssim, "lpips": 0.1 + 0.2 * rng.random(),
                       "seconds": 0.01, "peak_mem_mb": 12.5}
                for metric in extra:
                    row[metric] = 0.05 + 0.1 * rng.random()
                rows.append({c: row.get(c, "") for c in columns})
                if images:
                    noise = rng.normal(0, 6 if method != "bicubic" else 14, hr.shape)
                    _save(run / "images" / dataset / method / f"{stem}.png",
                          np.clip(hr + noise, 0, 255).astype(np.uint8))
                if attention and method.startswith("ttsr"):
                    lr_hw = (h // 4, w // 4)
                    grid = (ref.shape[0] // 4, ref.shape[1] // 4)
                    index = rng.integers(0, grid[0] * grid[1], size=lr_hw[0] * lr_hw[1])
                    target = run / "attention" / dataset / method / f"{stem}.npz"
                    target.parent.mkdir(parents=True, exist_ok=True)
                    np.savez(target, hard_index=index.reshape(1, -1), S=rng.random((1, 1) + lr_hw).astype(np.float32),
                             lr_size=np.array(lr_hw), ref_size=np.array(ref.shape[:2]))
    with open(run / "rows.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    weights = {m: {"path": f"/weights/{m}.pt", "sha256": f"{abs(hash(m)):064x}"[:64], "found_in": "--weights",
                   "random": m in random_methods,
                   "origin": "RANDOM WEIGHTS (test-made)" if m in random_methods else "as found"}
               for m in methods if m != "bicubic"}
    for m, (origin, trained_on) in (weight_origins or {}).items():
        weights[m].update(weights_origin=origin, trained_on=trained_on)
    manifest = {"created": "2026-01-01T00:00:00+00:00", "argv": ["-m", "benchmarks.run", "--protocol", protocol],
                "protocol": {"name": protocol}, "device": {"device": "cpu", "platform": "fixture"},
                "seeds": {"sun80": 0}, "weights": weights, "random_weights": sorted(random_methods),
                "versions": {"python": "3.11", "torch": "fixture"}, "git": {"commit": "f" * 40, "dirty": False},
                "world_size": 1}
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    if skipped is None:
        skipped = [{"what": "esrgan", "reason": "weights RRDB_ESRGAN_x4.pth not found",
                    "fix": "python -m benchmarks.weights fetch esrgan"},
                   {"what": "dataset manga109", "reason": "only 3 of 109 pages found", "fix": "see DATASETS.md"}]
    (run / "skipped.json").write_text(json.dumps(list(skipped)), encoding="utf-8")
    return run


def random_ttsr(path: Path, seed: int = 0) -> Path:
    """A tiny TTSR checkpoint (8 channels) from random weights, labelled so in its metadata."""
    import torch

    from ttsr.checkpoint import save_ttsr
    from ttsr.config import TTSRConfig
    from ttsr.model import TTSR

    torch.manual_seed(seed)
    save_ttsr(TTSR(TTSRConfig(n_feats=8, num_res_blocks=(1, 1, 1, 1))), path,
              metadata={"origin": f"random weights (made by the tests, seed {seed})"})
    return path


def make_data_root(root: Path, seed: int = 1, size: tuple[int, int] = (96, 64)) -> Path:
    """A tiny data root in the published layouts: CUFED5 (2 groups of HR + 5 refs), Sun80 (1 image,
    2 scene matches), Urban100 (SelfExSR `image_SRF_4` layout, 2 images), Manga109 (1 flat page)."""
    rng = np.random.default_rng(seed)
    w, h = size
    for g in range(2):
        for k in range(6):
            _save(root / "CUFED5" / f"{g:03d}_{k}.png", _hr(rng, h, w))
    _save(root / "Sun80" / "Sun_Hays_SR_groundtruth" / "scene_sun_a.jpg", _hr(rng, h, w))
    for k in range(2):
        _save(root / "Sun80" / "Sun_Hays_SR_scenematches" / "scene_sun_a" / f"m{k}.jpg", _hr(rng, h, w))
    for i in range(1, 3):
        hr = _hr(rng, h, w)
        _save(root / "Urban100" / "image_SRF_4" / f"img_{i:03d}_SRF_4_HR.png", hr)
        _save(root / "Urban100" / "image_SRF_4" / f"img_{i:03d}_SRF_4_LR.png",
              np.asarray(Image.fromarray(hr).resize((w // 4, h // 4), Image.Resampling.BICUBIC)))
    _save(root / "Manga109" / "SomeTitle.png", _hr(rng, h, w))
    return root
