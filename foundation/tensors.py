"""Images ↔ tensors: the one conversion pair between `foundation.imageio` arrays and networks.

An image is an H×W×3 uint8 RGB array (`foundation.imageio.read_image`); a network takes a float32
1×3×H×W tensor. Two value ranges are in use:
- ``signed=False``: [0, 255], the harness's convention (`benchmarks.run`: every method gets
  float values in [0, 255] and returns the SR in [0, 255]);
- ``signed=True``: [-1, 1] as x / 127.5 − 1, the TTSR release's scaling (its `dataset/cufed.py`
  and `trainer.test`), used by `ttsr.sr` and the training data (`training.data`).
Back to an image, values are mapped back ((x + 1) · 127.5 when signed), clamped to [0, 255] and
rounded half to even (`torch.round`), as the release saves its SR images.
"""
from __future__ import annotations

import numpy as np
import torch


def image_to_tensor(image: np.ndarray, device: torch.device | str | None = None, *,
                    signed: bool = False) -> torch.Tensor:
    """uint8 H×W×3 → float32 1×3×H×W on `device` (default CPU), in [0, 255], or in [-1, 1]
    (x / 127.5 − 1) when `signed`."""
    tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float()
    if signed:
        tensor = tensor.div_(127.5).sub_(1.0)
    return tensor[None].to(device) if device is not None else tensor[None]


def tensor_to_image(tensor: torch.Tensor, *, signed: bool = False) -> np.ndarray:
    """Float N×3×H×W (the first image is taken) or 3×H×W, in [0, 255] (or [-1, 1] when `signed`)
    → uint8 H×W×3: mapped back, clamped to [0, 255], rounded half to even."""
    values = tensor.detach()
    values = values[0] if values.dim() == 4 else values
    values = values.float()
    if signed:
        values = (values + 1.0) * 127.5
    image = values.clamp(0, 255).round().to("cpu")
    return image.permute(1, 2, 0).numpy().astype(np.uint8)
