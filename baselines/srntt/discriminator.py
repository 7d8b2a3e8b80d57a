"""SRNTT's WGAN-GP critic (release `SRNTT/model.py`, release ZZUTK/SRNTT@195ce3a `SRNTT/model.py` "Discriminator"; training only).

Five stages of [conv3×3 stride 1 → BN → LReLU(0.2), conv3×3 stride 2 → BN → LReLU(0.2)] with
32, 64, 128, 256, 512 channels (convs without bias), then flatten → dense 1024 → LReLU(0.2) →
dense 1. The release's sigmoid output is unused under WGAN-GP, so the raw score is returned.
Initialisation as the release: conv and dense weights N(0, 0.02), BN gamma N(1, 0.02).
Padding is symmetric (PyTorch); TF's "SAME" pads a stride-2 conv on even sizes by 0 before and
1 after, a one-pixel shift of the sampling grid that does not change what the critic can learn.
"""
from __future__ import annotations

import torch
from torch import nn

from baselines.srntt.network import release_init

STAGE_CHANNELS = (32, 64, 128, 256, 512)
FC_WIDTH = 1024
NEGATIVE_SLOPE = 0.2


def _conv_bn_lrelu(in_ch: int, out_ch: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(out_ch),
            nn.LeakyReLU(NEGATIVE_SLOPE)]


class SRNTTDiscriminator(nn.Module):
    """Critic D(x) -> (N, 1) for an (N, 3, in_size, in_size) batch in [-1, 1] (160 → 5×5×512)."""

    def __init__(self, in_size: int = 160):
        super().__init__()
        layers: list[nn.Module] = []
        channels, side = 3, in_size
        for out_ch in STAGE_CHANNELS:
            layers += _conv_bn_lrelu(channels, out_ch, 1) + _conv_bn_lrelu(out_ch, out_ch, 2)
            channels, side = out_ch, (side - 1) // 2 + 1
        self.features = nn.Sequential(*layers)
        self.fc1 = nn.Linear(channels * side * side, FC_WIDTH)
        self.fc2 = nn.Linear(FC_WIDTH, 1)
        self.act = nn.LeakyReLU(NEGATIVE_SLOPE)
        release_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x).contiguous().flatten(1)  # NCHW order whatever the memory format
        return self.fc2(self.act(self.fc1(x)))
