"""`bicubic`: PIL bicubic ×4 of the LR, the RefSR protocol's baseline (TTSR `dataset/cufed.py`).

Needs no weights, so it is always available. The LR (float in [0, 255], integral in practice) is
rounded to uint8 and enlarged with the same `foundation.resize.upscale` the degradation uses for LR↑.
"""
from __future__ import annotations

from typing import Mapping

import torch

from baselines.registry import Method, register
from foundation.resize import upscale
from foundation.tensors import image_to_tensor, tensor_to_image


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
        return torch.cat([image_to_tensor(upscale(tensor_to_image(image), self.scale), lr.device) for image in lr])
