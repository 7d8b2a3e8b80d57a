"""IMDN ×4 (Hui et al., ACM MM 2019, "Lightweight Image Super-Resolution with Information
Multi-distillation Network"); key-compatible with the release's `IMDN_x4.pth` (Zheng222/IMDN).

Network (paper §3, shapes from the checkpoint): a 3×3 feature conv (3→64), six information
multi-distillation blocks (IMDB), a 1×1 fusion of their concatenated outputs (384→64, LeakyReLU
0.05), a 3×3 conv with a global skip from the features, and one 3×3 conv 64→48 + PixelShuffle(4).
IMDB: three progressive refinement steps (3×3 conv + LeakyReLU 0.05, split 16 distilled / 48 kept),
a last 3×3 conv 48→16, concat of the four 16-channel slices, contrast-aware channel attention, a
1×1 conv 64→64, and the block's input added. Input/output: RGB in [0, 1].
"""
from __future__ import annotations

import torch
from torch import nn

from baselines.registry import WeightsSpec, register
from baselines.sisr.common import ChannelAttention, SISRMethod, conv, pixel_shuffle_head


class IMDB(nn.Module):
    def __init__(self, n_feats: int = 64, distillation_rate: float = 0.25):
        super().__init__()
        self.distilled = int(n_feats * distillation_rate)
        self.remaining = n_feats - self.distilled
        self.c1 = conv(n_feats, n_feats)
        self.c2 = conv(self.remaining, n_feats)
        self.c3 = conv(self.remaining, n_feats)
        self.c4 = conv(self.remaining, self.distilled)
        self.act = nn.LeakyReLU(0.05, inplace=True)
        self.cca = ChannelAttention(self.distilled * 4, reduction=16, contrast=True)
        self.c5 = conv(self.distilled * 4, n_feats, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept, slices = x, []
        for step in (self.c1, self.c2, self.c3):
            distilled, kept = torch.split(self.act(step(kept)), (self.distilled, self.remaining), dim=1)
            slices.append(distilled)
        slices.append(self.c4(kept))
        return self.c5(self.cca(torch.cat(slices, dim=1))) + x


class DistillationNetwork(nn.Module):
    """The IMDN/RFDN trunk: conv → n distillation blocks → 1×1 fusion of all block outputs
    (LeakyReLU 0.05) → conv + long skip → pixel-shuffle upsampler. Blocks are named
    `<prefix>1 … <prefix>n` as in the releases (IMDB1…, B1…)."""

    def __init__(self, block: type[nn.Module], prefix: str, n_feats: int, n_blocks: int, scale: int):
        super().__init__()
        self.fea_conv = conv(3, n_feats)
        self.blocks = [f"{prefix}{i + 1}" for i in range(n_blocks)]
        for name in self.blocks:
            self.add_module(name, block(n_feats))
        self.c = nn.Sequential(conv(n_feats * n_blocks, n_feats, 1), nn.LeakyReLU(0.05, inplace=True))
        self.LR_conv = conv(n_feats, n_feats)
        self.upsampler = pixel_shuffle_head(n_feats, 3, scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.fea_conv(x)
        outputs, h = [], features
        for name in self.blocks:
            h = getattr(self, name)(h)
            outputs.append(h)
        fused = self.LR_conv(self.c(torch.cat(outputs, dim=1))) + features
        return self.upsampler(fused)


class IMDN(DistillationNetwork):
    def __init__(self, n_feats: int = 64, n_blocks: int = 6, scale: int = 4):
        super().__init__(IMDB, "IMDB", n_feats, n_blocks, scale)  # release names: IMDB1 … IMDB6


@register
class IMDNMethod(SISRMethod):
    name = "imdn"
    description = "IMDN x4 (Hui et al., ACM MM 2019), official weights"
    convention = "RGB [0,1]"
    input_range = 1.0
    weights = WeightsSpec(
        files=("IMDN_x4.pth",), trained_on="DIV2K",
        source="https://github.com/Zheng222/IMDN (checkpoints/IMDN_x4.pth)",
        url="https://raw.githubusercontent.com/Zheng222/IMDN/master/checkpoints/IMDN_x4.pth",
        sha256="e660c38221147217a136debeb99eb304d62d9c0f73ac421ed66281b619719714",
        formats=("state_dict with `module.` prefix (the release)", "plain state_dict",
                 "BasicSR-style {'params': ...}"),
    )
    table = ()  # the module keeps the release's names; only `module.` goes (done by unwrap)
    key_signature = ((r"^IMDB1\.c1\.weight$", r"^upsampler\.0\.weight$"),)

    def build(self, state_dict=None) -> nn.Module:
        return IMDN()
