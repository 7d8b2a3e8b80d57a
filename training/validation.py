"""Validation during training: the evaluation protocol's PSNR/SSIM of a recipe's predictions.

The inputs are made by the caller (the training command builds them from a dataset with the
evaluation's degradation), so the trainer never reads datasets:
each item has `lr`, `lr_up`, `ref`, `ref_down_up` and `hr`, uint8 H×W×3 arrays (LR, bicubic LR↑,
Ref, Ref↓↑, HR). The prediction (a tensor in [-1, 1]) is rounded to uint8 like a saved image and
scored with `metrics.psnr` / `metrics.ssim` (Y channel, the release's protocol).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from foundation.tensors import image_to_tensor, tensor_to_image


def make_validator(items: Sequence, device: torch.device) -> Callable[[Callable[..., torch.Tensor]], dict]:
    """The trainer's `validator`: given `predict(lr, lr_up, ref, ref_down_up) -> SR`, returns
    {"val_psnr" (dB), "val_ssim", "val_bicubic_psnr" (dB, LR↑ against HR), "val_images"}."""
    from metrics import psnr, ssim

    bicubic = float(np.mean([psnr(x.lr_up, x.hr) for x in items]))

    def tensor(array: np.ndarray) -> torch.Tensor:
        return image_to_tensor(array, device, signed=True)

    def validate(predict: Callable[..., torch.Tensor]) -> dict[str, float]:
        scores, structure = [], []
        for x in items:
            sr = predict(tensor(x.lr), tensor(x.lr_up), tensor(x.ref), tensor(x.ref_down_up))
            sr = tensor_to_image(sr, signed=True)
            scores.append(psnr(sr, x.hr))
            structure.append(ssim(sr, x.hr))
        return {"val_psnr": float(np.mean(scores)), "val_ssim": float(np.mean(structure)),
                "val_bicubic_psnr": bicubic, "val_images": len(items)}

    return validate
