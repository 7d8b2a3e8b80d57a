"""The WGAN-GP critic of the TTSR release for 160×160 patches (paper §3.4, adversarial loss).

Ten 3×3 convolutions (channels 32, 32, 64, 64, 128, 128, 256, 256, 512, 512; every second one has
stride 2, so 160 → 5; other sizes work, e.g. 48 → 2) and two linear layers (512·5·5 → 1024 → 1), LeakyReLU(0.2) after every layer
but the last, no normalisation: a WGAN-GP critic must not use batch norm, the gradient penalty is
taken per sample. Parameter names (`conv1` … `conv10`, `fc1`, `fc2`) follow the release's
`loss/discriminator.py`, so a discriminator state dict trained there has the same keys.
"""
from __future__ import annotations

import torch
from torch import nn

#: (out_channels, stride) of conv1 … conv10.
CONV_PLAN = ((32, 1), (32, 2), (64, 1), (64, 2), (128, 1), (128, 2), (256, 1), (256, 2), (512, 1), (512, 2))
FC_WIDTH = 1024
NEGATIVE_SLOPE = 0.2


class Discriminator(nn.Module):
    """Critic D(x) -> (N, 1) score for an (N, 3, in_size, in_size) image batch in [-1, 1]."""

    def __init__(self, in_size: int = 160):
        super().__init__()
        self.in_size = in_size
        side = in_size
        channels = 3
        for number, (out_channels, stride) in enumerate(CONV_PLAN, start=1):
            setattr(self, f"conv{number}", nn.Conv2d(channels, out_channels, 3, stride=stride, padding=1))
            channels = out_channels
            side = (side - 1) // stride + 1  # 3×3, padding 1: 160 → 80 → … → 5
        self.fc1 = nn.Linear(channels * side * side, FC_WIDTH)
        self.fc2 = nn.Linear(FC_WIDTH, 1)
        self.act = nn.LeakyReLU(NEGATIVE_SLOPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for number in range(1, len(CONV_PLAN) + 1):
            x = self.act(getattr(self, f"conv{number}")(x))
        # flatten in NCHW order whatever the memory format, so fc1 sees the release's layout
        x = x.contiguous().flatten(1)
        return self.fc2(self.act(self.fc1(x)))
