"""CARN-M (Ahn, Kang & Sohn, "Fast, Accurate, and Lightweight Super-Resolution with Cascading
Residual Network", ECCV 2018), the mobile variant; key-compatible with the release's `carn_m.pth`
(nmhkahn/CARN-pytorch), one multi-scale file for ×2/×3/×4 of which this adapter runs the ×4 branch.

Network (paper §3, shapes from the checkpoint): mean shift (DIV2K mean, inside the model, input
RGB in [0, 1]), 3×3 entry conv 3→64, three cascading blocks each followed by a 1×1 conv + ReLU on
the concatenation of all earlier outputs (128, 192, 256 → 64). A cascading block repeats this
cascade inside, three times with **one shared** efficient residual unit (CARN-M's recursive
weight sharing): grouped 3×3 conv (4 groups) + ReLU, grouped 3×3 conv + ReLU, 1×1 conv, identity,
ReLU. Upsampling ×4: twice [grouped 3×3 conv 64→256, ReLU, PixelShuffle(2)]; 3×3 exit conv 64→3;
mean added back.
"""
from __future__ import annotations

import torch
from torch import nn

from baselines.registry import WeightsSpec, register
from baselines.sisr.common import (DIV2K_RGB_MEAN, MeanShift, SISRMethod, conv, pixel_shuffle_upsampler,
                                   pop_mean_shift)


def conv_relu(in_ch: int, out_ch: int, kernel: int) -> nn.Sequential:
    """The release's BasicBlock: conv + ReLU, key `body.0`."""
    return nn.Sequential(conv(in_ch, out_ch, kernel), nn.ReLU(inplace=True))


class EfficientResidual(nn.Module):
    def __init__(self, n_feats: int = 64, groups: int = 4):
        super().__init__()
        self.body = nn.Sequential(conv(n_feats, n_feats, 3, groups=groups), nn.ReLU(inplace=True),
                                  conv(n_feats, n_feats, 3, groups=groups), nn.ReLU(inplace=True),
                                  conv(n_feats, n_feats, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + x)


class WithBody(nn.Module):
    """Wrap a Sequential as `.body` so keys read `c1.body.0.weight` like the release."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def cascade(x: torch.Tensor, units, fusions) -> torch.Tensor:
    """The cascading mechanism (paper Fig. 2): o_i = fuse_i(concat(x, b_1, …, b_i)), b_i = unit_i(o_{i-1})."""
    concatenated, out = x, x
    for unit, fuse in zip(units, fusions):
        concatenated = torch.cat([concatenated, unit(out)], dim=1)
        out = fuse(concatenated)
    return out


class CascadingBlock(nn.Module):
    def __init__(self, n_feats: int = 64, groups: int = 4):
        super().__init__()
        self.b1 = EfficientResidual(n_feats, groups)  # shared by the three steps (CARN-M)
        self.c1 = WithBody(conv_relu(2 * n_feats, n_feats, 1))
        self.c2 = WithBody(conv_relu(3 * n_feats, n_feats, 1))
        self.c3 = WithBody(conv_relu(4 * n_feats, n_feats, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cascade(x, (self.b1, self.b1, self.b1), (self.c1, self.c2, self.c3))


class CARNM(nn.Module):
    def __init__(self, n_feats: int = 64, groups: int = 4, scale: int = 4):
        super().__init__()
        self.sub_mean = MeanShift(DIV2K_RGB_MEAN, rgb_range=1.0, sign=-1)
        self.add_mean = MeanShift(DIV2K_RGB_MEAN, rgb_range=1.0, sign=+1)
        self.entry = conv(3, n_feats)
        self.b1, self.b2, self.b3 = (CascadingBlock(n_feats, groups) for _ in range(3))
        self.c1 = WithBody(conv_relu(2 * n_feats, n_feats, 1))
        self.c2 = WithBody(conv_relu(3 * n_feats, n_feats, 1))
        self.c3 = WithBody(conv_relu(4 * n_feats, n_feats, 1))
        self.upsample = pixel_shuffle_upsampler(n_feats, scale, groups=groups, relu=True)
        self.exit = conv(n_feats, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.entry(self.sub_mean(x))
        h = cascade(h, (self.b1, self.b2, self.b3), (self.c1, self.c2, self.c3))
        return self.add_mean(self.exit(self.upsample(h)))


@register
class CARNMMethod(SISRMethod):
    name = "carn-m"
    description = "CARN-M (Ahn et al., ECCV 2018), official multi-scale weights, x4 branch"
    convention = "RGB [0,1], DIV2K mean shift inside the model"
    input_range = 1.0
    weights = WeightsSpec(
        files=("carn_m.pth",), trained_on="DIV2K",
        source="https://github.com/nmhkahn/CARN-pytorch (checkpoint/carn_m.pth)",
        url="https://raw.githubusercontent.com/nmhkahn/CARN-pytorch/master/checkpoint/carn_m.pth",
        sha256="d48a759a84509351facb6b7c6d5bd6edec98b98519b8c464ee4ab44d2ba964ff",
        formats=("multi-scale state_dict of the release (x4 branch used; x2/x3 branches dropped)",),
    )
    table = (
        (r"^upsample\.up4\.body\.", "upsample."),
        (r"^upsample\.up[23]\.", None),  # the ×2 / ×3 branches of the multi-scale file
    )
    key_signature = ((r"^b1\.b1\.body\.0\.weight$", r"^b1\.c1\.body\.0\.weight$"),)

    def checkpoint_filter(self, state_dict):
        state_dict = dict(state_dict)
        pop_mean_shift(state_dict, "sub_mean.shifter", mean=DIV2K_RGB_MEAN, rgb_range=1.0, sign=-1)
        pop_mean_shift(state_dict, "add_mean.shifter", mean=DIV2K_RGB_MEAN, rgb_range=1.0, sign=+1)
        return super().checkpoint_filter(state_dict)

    def build(self, state_dict=None) -> nn.Module:
        return CARNM()
