"""RFDN (Liu, Tang & Wu, "Residual Feature Distillation Network for Lightweight Image
Super-Resolution", ECCV 2020 workshops / AIM 2020 efficient-SR winner); key-compatible with the
release's `RFDN_AIM.pth` (njulj/RFDN): 50 channels, 4 blocks, ×4.

RFDB (residual feature distillation block): three steps, each a 1×1 "distilled" conv (50→25,
LeakyReLU 0.05) beside a shallow residual unit (3×3 conv 50→50 + identity, then LeakyReLU); a last
3×3 conv 50→25; concat 4×25 → 1×1 conv to 50 → enhanced spatial attention (ESA). No block skip.
ESA: 1×1 reduce to 12 ch; strided 3×3 conv (stride 2, no padding); max-pool 7/3; 3×3 conv + ReLU,
3×3 conv + ReLU, 3×3 conv; bilinear back to the input size; plus a 1×1 conv of the reduced map;
1×1 to 50 ch; sigmoid; multiply. Top level as IMDN: feature conv, blocks, 1×1 fusion + LeakyReLU,
3×3 conv + global skip, conv 50→48 + PixelShuffle(4).

Input/output: RGB in [0, 255], not [0, 1]: the release's test script converts uint8 images with
`uint2tensor4` (`.div(1.0)`) and clamps the output to [0, 255]; with [0, 1] input the weights give
26.0 dB on Set5 instead of 32.2.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from baselines.registry import WeightsSpec, register
from baselines.sisr.common import SISRMethod, conv
from baselines.sisr.imdn import DistillationNetwork
from foundation.errors import UserError


class ESA(nn.Module):
    def __init__(self, n_feats: int):
        super().__init__()
        f = n_feats // 4
        self.conv1 = conv(n_feats, f, 1)
        self.conv_f = conv(f, f, 1)
        self.conv2 = conv(f, f, 3, stride=2, padding=0)
        self.conv_max = conv(f, f, 3)
        self.conv3 = conv(f, f, 3)
        self.conv3_ = conv(f, f, 3)
        self.conv4 = conv(f, n_feats, 1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reduced = self.conv1(x)
        pooled = F.max_pool2d(self.conv2(reduced), kernel_size=7, stride=3)
        h = self.relu(self.conv_max(pooled))
        h = self.conv3_(self.relu(self.conv3(h)))
        h = F.interpolate(h, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return x * torch.sigmoid(self.conv4(h + self.conv_f(reduced)))


class RFDB(nn.Module):
    def __init__(self, n_feats: int = 50):
        super().__init__()
        distilled = n_feats // 2
        for i in (1, 2, 3):
            self.add_module(f"c{i}_d", conv(n_feats, distilled, 1))
            self.add_module(f"c{i}_r", conv(n_feats, n_feats, 3))
        self.c4 = conv(n_feats, distilled, 3)
        self.c5 = conv(distilled * 4, n_feats, 1)
        self.act = nn.LeakyReLU(0.05, inplace=True)
        self.esa = ESA(n_feats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        slices, h = [], x
        for i in (1, 2, 3):
            slices.append(self.act(getattr(self, f"c{i}_d")(h)))
            h = self.act(getattr(self, f"c{i}_r")(h) + h)
        slices.append(self.act(self.c4(h)))
        return self.esa(self.c5(torch.cat(slices, dim=1)))


class RFDN(DistillationNetwork):
    def __init__(self, n_feats: int = 50, n_blocks: int = 4, scale: int = 4):
        super().__init__(RFDB, "B", n_feats, n_blocks, scale)  # release names: B1 … B4


@register
class RFDNMethod(SISRMethod):
    name = "rfdn"
    description = "RFDN x4, AIM 2020 efficient-SR entry (50 ch, 4 blocks), official weights"
    convention = "RGB [0,255] (the release feeds uint8 values unscaled: utils_image.uint2tensor4 divides by 1.0)"
    input_range = 255.0
    weights = WeightsSpec(
        files=("RFDN_AIM.pth",),
        source="https://github.com/njulj/RFDN (trained_model/RFDN_AIM.pth)",
        url="https://raw.githubusercontent.com/njulj/RFDN/master/trained_model/RFDN_AIM.pth",
        sha256="11af8ec8ebd68689e90ef1e29044f9804c72d3bd9f7573820b7b26035782760c",
        formats=("plain state_dict (the release)", "`module.`-prefixed / {'params': ...} wrappers"),
        note="ESA needs LR inputs of at least 15×15 pixels",
    )
    table = ()
    key_signature = ((r"^B1\.c1_d\.weight$", r"^B1\.esa\.conv_max\.weight$"),)

    def build(self, state_dict=None) -> nn.Module:
        return RFDN()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) < 15:  # ESA: stride-2 conv then a 7×7 max-pool
            raise UserError(f"rfdn: the LR image is {x.shape[-1]}×{x.shape[-2]}; RFDN's attention needs at least 15×15")
        return super().forward(x)
