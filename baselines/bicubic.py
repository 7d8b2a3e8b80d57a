"""`bicubic`: PIL bicubic ×4 of the LR, the RefSR protocol's baseline (TTSR `dataset/cufed.py`).

Needs no weights, so it is always available. The LR (float in [0, 255], integral in practice) is
rounded to uint8 and enlarged with the same `foundation.resize.upscale` the degradation uses for LR↑.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import torch

from baselines.registry import Method, register
from foundation.resize import upscale


def to_uint8_images(batch: torch.Tensor) -> list[np.ndarray]:
    """NCHW float [0, 255] -> list of H×W×3 uint8 arrays (rounded, clamped)."""
    arrays = batch.detach().round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return list(arrays)


def from_uint8_images(images: list[np.ndarray], device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).to(device=device, dtype=torch.float32)


@register
class Bicubic(Method):
    name = "bicubic"
    kind = "sisr"
    scale = 4
    convention = "RGB uint8 (PIL BICUBIC on rounded [0,255])"
    description = "PIL bicubic x4 of the LR (the RefSR protocol's LR-up)"
    weights = None

    def load(self, weights_path=None, device="cpu") -> "Bicubic":
        self.device = torch.device(device)
        return self

    @torch.no_grad()
    def __call__(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        self.extras = {}
        lr = batch["lr"]
        return from_uint8_images([upscale(img, self.scale) for img in to_uint8_images(lr)], lr.device)
