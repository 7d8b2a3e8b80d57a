"""The MatConvNet VGG19 that SRNTT's swapped maps come from (release ZZUTK/SRNTT@195ce3a `SRNTT/vgg19.py`, MatConvNet imagenet-vgg-verydeep-19.mat).

SRNTT matches and swaps on features of `imagenet-vgg-verydeep-19.mat`, not torchvision's VGG19:
input RGB in [0, 255] minus the per-channel ImageNet mean, no division by a standard deviation.
The texture-transfer weights expect features on that scale, so the converter reads the `.mat`.
"""
from __future__ import annotations

import torch
from torch import nn

# The per-channel mean the release subtracts (RGB, [0, 255] scale).
MATCONVNET_MEAN = (123.68, 116.779, 103.939)
# VGG19 convolutions up to relu5_1 (what SRNTT uses: relu1_1, relu2_1, relu3_1; relu5_1 for the
# perceptual loss); a pool follows the last conv of each block.
VGG19_BLOCKS = (("conv1_1", "conv1_2"), ("conv2_1", "conv2_2"),
                ("conv3_1", "conv3_2", "conv3_3", "conv3_4"),
                ("conv4_1", "conv4_2", "conv4_3", "conv4_4"), ("conv5_1",))
VGG19_CHANNELS = (64, 128, 256, 512, 512)
CONV_NAMES = tuple(name for block in VGG19_BLOCKS for name in block)


class MatConvNetVGG19(nn.Module):
    """VGG19 conv1_1 … relu5_1 with MatConvNet preprocessing; returns the requested relu outputs."""

    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleDict()
        in_ch = 3
        for block, out_ch in zip(VGG19_BLOCKS, VGG19_CHANNELS):
            for name in block:
                self.convs[name] = nn.Conv2d(in_ch, out_ch, 3, padding=1)
                in_ch = out_ch
        self.register_buffer("mean", torch.tensor(MATCONVNET_MEAN).view(1, 3, 1, 1), persistent=False)
        for parameter in self.parameters():
            parameter.requires_grad_(False)

    def forward(self, image_255: torch.Tensor, layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1")
                ) -> dict[str, torch.Tensor]:
        """`image_255`: RGB in [0, 255]. Returns {"reluX_Y": features} for each requested layer."""
        wanted = set(layers)
        deepest = max(CONV_NAMES.index("conv" + name[4:]) for name in wanted)
        x = image_255 - self.mean
        out: dict[str, torch.Tensor] = {}
        for index, name in enumerate(CONV_NAMES[: deepest + 1]):
            if index > 0 and name.endswith("_1"):
                x = nn.functional.max_pool2d(x, 2, 2, ceil_mode=True)  # 2×2 s2 "SAME"
            x = torch.relu(self.convs[name](x))
            relu_name = "relu" + name[4:]
            if relu_name in wanted:
                out[relu_name] = x
        return out
