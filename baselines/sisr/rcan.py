"""RCAN ×4 (Zhang et al., "Image Super-Resolution Using Very Deep Residual Channel Attention
Networks", ECCV 2018); key-compatible with the release's `RCAN_BIX4.pt` (yulunzhang/RCAN) and
BasicSR's `RCAN_BIX4-official.pth`.

Residual in residual: 10 residual groups of 20 RCABs (conv-ReLU-conv, channel attention with
reduction 16, identity; no residual scaling), each group ending with a conv and a group skip;
a trunk conv and a global skip; ×4 upsampler [conv 64→256, PixelShuffle(2)]×2; tail conv 64→3.
RGB in [0, 255], DIV2K mean subtracted and added back (MeanShift, rgb_range 255).
"""
from __future__ import annotations

import torch
from torch import nn

from baselines.registry import WeightsSpec, register
from baselines.sisr.common import (DIV2K_RGB_MEAN, ChannelAttention, MeanShift, SISRMethod, conv,
                                   count_indexed, pixel_shuffle_upsampler, pop_mean_shift)


class RCAB(nn.Module):
    def __init__(self, n_feats: int, reduction: int = 16):
        super().__init__()
        self.conv1 = conv(n_feats, n_feats)
        self.conv2 = conv(n_feats, n_feats)
        self.ca = ChannelAttention(n_feats, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.ca(self.conv2(torch.relu(self.conv1(x))))


class ResidualGroup(nn.Module):
    def __init__(self, n_feats: int, n_blocks: int, reduction: int = 16):
        super().__init__()
        self.blocks = nn.Sequential(*(RCAB(n_feats, reduction) for _ in range(n_blocks)))
        self.conv = conv(n_feats, n_feats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(self.blocks(x))


class RCAN(nn.Module):
    def __init__(self, n_feats: int = 64, n_groups: int = 10, n_blocks: int = 20, reduction: int = 16,
                 scale: int = 4):
        super().__init__()
        self.sub_mean = MeanShift(DIV2K_RGB_MEAN, 255.0, -1)
        self.add_mean = MeanShift(DIV2K_RGB_MEAN, 255.0, +1)
        self.conv_first = conv(3, n_feats)
        self.groups = nn.Sequential(*(ResidualGroup(n_feats, n_blocks, reduction) for _ in range(n_groups)))
        self.conv_after_body = conv(n_feats, n_feats)
        self.upsample = pixel_shuffle_upsampler(n_feats, scale)
        self.conv_last = conv(n_feats, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_first(self.sub_mean(x))
        h = self.conv_after_body(self.groups(h)) + h
        return self.add_mean(self.conv_last(self.upsample(h)))


@register
class RCANMethod(SISRMethod):
    name = "rcan"
    description = "RCAN x4 (Zhang et al., ECCV 2018), official weights"
    convention = "RGB [0,255], DIV2K mean shift inside the model"
    input_range = 255.0
    weights = WeightsSpec(
        files=("RCAN_BIX4.pt", "RCAN_BIX4-official.pth"), trained_on="DIV2K",
        source=("models_ECCV2018RCAN.zip (contains RCAN_BIX4.pt): "
                "https://www.dropbox.com/s/qm9vc0p0w9i4s0n/models_ECCV2018RCAN.zip?dl=0 or Google Drive id "
                "1U0RmWkkacyw0HNC7CBts2LcX1ewAulCn (links in the yulunzhang/RCAN README)"),
        url=None,
        sha256=None,
        formats=("RCAN release state_dict (head/body/tail, sub_mean/add_mean)",
                 "BasicSR conversion {'params': ...} (residual_group/rcab/attention)"),
        note="unzip models_ECCV2018RCAN.zip and use RCAN_BIX4.pt",
    )
    table = (
        # the RCAN release
        (r"^head\.0\.", "conv_first."),
        (r"^body\.(\d+)\.body\.(\d+)\.body\.0\.", r"groups.\1.blocks.\2.conv1."),
        (r"^body\.(\d+)\.body\.(\d+)\.body\.2\.", r"groups.\1.blocks.\2.conv2."),
        (r"^body\.(\d+)\.body\.(\d+)\.body\.3\.conv_du\.", r"groups.\1.blocks.\2.ca.conv_du."),
        (r"^body\.(\d+)\.body\.(\d+)\.(weight|bias)$", r"groups.\1.conv.\3"),
        (r"^body\.(\d+)\.(weight|bias)$", r"conv_after_body.\2"),
        (r"^tail\.0\.(\d+)\.", r"upsample.\1."),
        (r"^tail\.1\.", "conv_last."),
        # BasicSR
        (r"^body\.(\d+)\.residual_group\.(\d+)\.rcab\.0\.", r"groups.\1.blocks.\2.conv1."),
        (r"^body\.(\d+)\.residual_group\.(\d+)\.rcab\.2\.", r"groups.\1.blocks.\2.conv2."),
        (r"^body\.(\d+)\.residual_group\.(\d+)\.rcab\.3\.attention\.1\.", r"groups.\1.blocks.\2.ca.conv_du.0."),
        (r"^body\.(\d+)\.residual_group\.(\d+)\.rcab\.3\.attention\.3\.", r"groups.\1.blocks.\2.ca.conv_du.2."),
        (r"^body\.(\d+)\.conv\.", r"groups.\1.conv."),
    )
    key_signature = ((r"\.body\.3\.conv_du\.0\.weight$",), (r"\.rcab\.3\.attention\.1\.weight$",))

    def checkpoint_filter(self, state_dict):
        state_dict = dict(state_dict)
        pop_mean_shift(state_dict, "sub_mean", mean=DIV2K_RGB_MEAN, rgb_range=255.0, sign=-1)
        pop_mean_shift(state_dict, "add_mean", mean=DIV2K_RGB_MEAN, rgb_range=255.0, sign=+1)
        return super().checkpoint_filter(state_dict)

    def build(self, state_dict=None) -> nn.Module:
        if state_dict is None:
            return RCAN()
        n_groups = count_indexed(state_dict, r"^groups\.(\d+)\.conv\.weight$")
        n_blocks = count_indexed(state_dict, r"^groups\.0\.blocks\.(\d+)\.conv1\.weight$")
        n_feats = state_dict["conv_first.weight"].shape[0]
        reduction = n_feats // state_dict["groups.0.blocks.0.ca.conv_du.0.weight"].shape[0]
        return RCAN(n_feats, n_groups, n_blocks, reduction)
