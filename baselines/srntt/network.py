"""SRNTT (Zhang et al., CVPR 2019), as in the official TensorFlow release (`SRNTT/model.py`).

Two parts (SRNTT paper §3, https://arxiv.org/abs/1903.00834; release github.com/ZZUTK/SRNTT `SRNTT/model.py`):
- the content extractor: a pre-trained SRGAN-style generator (`upscale.npz`) whose 64-channel
  LR feature is the content feature (its own ×4 output is the "Upscale" image);
- the conditional texture transfer (`srntt.npz` / `srntt_init.npz`): three scales that
  concatenate [network features, swapped VGG map] (relu3_1 at 1×, relu2_1 at 2×, relu1_1 at 4×).

Conventions of the release: ReLU and BatchNorm (inference statistics) in every residual block,
convs without bias where the release builds them with `b_init=None`, output through tanh in
[-1, 1]; input LR in [-1, 1].
"""
from __future__ import annotations

import torch
from torch import nn

N_FEATS = 64
# TensorLayer 1.x BatchNormLayer default epsilon (release ZZUTK/SRNTT@195ce3a `SRNTT/model.py` (TensorLayer npz files): "1e-5 [verify]").
BN_EPSILON = 1e-5
# Residual blocks per texture-transfer scale: 16, 16/2, 16/4 (release ZZUTK/SRNTT@195ce3a `SRNTT/model.py`).
TEXTURE_BLOCKS = (16, 8, 4)
# Channels of the swapped map concatenated at each scale: relu3_1, relu2_1, relu1_1.
SWAPPED_CHANNELS = (256, 128, 64)


INIT_STD = 0.02  # the release's initialisation: weights N(0, 0.02), BN gamma N(1, 0.02)


def release_init(module: nn.Module) -> None:
    """The release's initialisation (release ZZUTK/SRNTT@195ce3a `SRNTT/model.py`): conv and dense weights ~ N(0, 0.02),
    biases 0, BatchNorm gamma ~ N(1, 0.02) and beta 0; layers in registration order."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, INIT_STD)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, INIT_STD)
            nn.init.zeros_(layer.bias)


def conv3x3(in_ch: int, out_ch: int, bias: bool) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=bias)


class ConvBN(nn.Module):
    """conv3×3 without bias followed by BatchNorm (the release's `conv2d(b_init=None)` + `BatchNormLayer`)."""

    def __init__(self, channels: int = N_FEATS):
        super().__init__()
        self.conv = conv3x3(channels, channels, bias=False)
        self.bn = nn.BatchNorm2d(channels, eps=BN_EPSILON)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class ResidualBlock(nn.Module):
    """SRGAN residual block: conv-BN-ReLU-conv-BN, plus the block input."""

    def __init__(self, channels: int = N_FEATS):
        super().__init__()
        self.first = ConvBN(channels)
        self.second = ConvBN(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.second(torch.relu(self.first(x)))


class ResidualTrunk(nn.Module):
    """`n` residual blocks, then conv+BN, plus the trunk input (the SRGAN global skip)."""

    def __init__(self, n_blocks: int, channels: int = N_FEATS):
        super().__init__()
        self.blocks = nn.Sequential(*[ResidualBlock(channels) for _ in range(n_blocks)])
        self.tail = ConvBN(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.tail(self.blocks(x))


class Upsample2x(nn.Module):
    """conv3×3 64→256 (bias) → pixel shuffle ×2 → ReLU."""

    def __init__(self, channels: int = N_FEATS):
        super().__init__()
        self.conv = conv3x3(channels, channels * 4, bias=True)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.shuffle(self.conv(x)))


class ContentExtractor(nn.Module):
    """The SRGAN generator of `upscale.npz`: returns (content feature at LR size, ×4 image in [-1, 1])."""

    def __init__(self, n_blocks: int = 16):
        super().__init__()
        self.head = conv3x3(3, N_FEATS, bias=True)
        self.trunk = ResidualTrunk(n_blocks)
        self.up1 = Upsample2x()
        self.up2 = Upsample2x()
        self.out = nn.Conv2d(N_FEATS, 3, 1, bias=True)

    def forward(self, lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        content = self.trunk(torch.relu(self.head(lr)))
        upscaled = torch.tanh(self.out(self.up2(self.up1(content))))
        return content, upscaled


class TextureScale(nn.Module):
    """One scale of the conditional texture transfer (SRNTT §3.3, Fig. 4).

    concat[features, swapped map] → conv (bias) + ReLU → residual blocks → conv+BN, plus the
    64-channel features from before the concatenation (the release's `add2`) → tail: ×2
    upsampling at the first two scales; conv 64→32 → conv1×1 32→3 → tanh at the last.
    """

    def __init__(self, swapped_channels: int, n_blocks: int, last: bool):
        super().__init__()
        self.head = conv3x3(N_FEATS + swapped_channels, N_FEATS, bias=True)
        self.blocks = nn.Sequential(*[ResidualBlock() for _ in range(n_blocks)])
        self.fuse = ConvBN()
        self.last = last
        if last:
            self.tail = nn.Sequential(conv3x3(N_FEATS, 32, bias=True), nn.Conv2d(32, 3, 1, bias=True))
        else:
            self.tail = Upsample2x()

    def forward(self, features: torch.Tensor, swapped: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.head(torch.cat([features, swapped], dim=1)))
        x = features + self.fuse(self.blocks(x))
        x = self.tail(x)
        return torch.tanh(x) if self.last else x


class TextureTransfer(nn.Module):
    """The three scales (relu3_1 at LR size, relu2_1 at 2×, relu1_1 at 4×)."""

    def __init__(self):
        super().__init__()
        last = len(TEXTURE_BLOCKS) - 1
        self.scales = nn.ModuleList(
            TextureScale(channels, blocks, last=(i == last))
            for i, (channels, blocks) in enumerate(zip(SWAPPED_CHANNELS, TEXTURE_BLOCKS)))

    def forward(self, content: torch.Tensor, swapped_maps: list[torch.Tensor]) -> torch.Tensor:
        x = content
        for scale, swapped in zip(self.scales, swapped_maps):
            x = scale(x, swapped)
        return x


class SRNTT(nn.Module):
    """Content extractor + conditional texture transfer; `swapped_maps` = [relu3_1, relu2_1, relu1_1]."""

    def __init__(self):
        super().__init__()
        self.content_extractor = ContentExtractor()
        self.texture_transfer = TextureTransfer()

    def forward(self, lr: torch.Tensor, swapped_maps: list[torch.Tensor]) -> torch.Tensor:
        content, _ = self.content_extractor(lr)
        return self.texture_transfer(content, swapped_maps)
