"""EDSR and MDSR (Lim et al., "Enhanced Deep Residual Networks for Single Image Super-Resolution",
CVPRW 2017); key-compatible with the EDSR-PyTorch releases and BasicSR's conversions.

EDSR: head conv 3→F, R residual blocks (conv-ReLU-conv, ×res_scale, no BN), a trunk conv and a
global skip, ×4 upsampler [conv F→4F, PixelShuffle(2)]×2, tail conv F→3. Full model R32 F256
res_scale 0.1; baseline R16 F64 res_scale 1 (the size is read from the checkpoint's shapes).
MDSR: one network for ×2/×3/×4: a per-scale pre-processing of two 5×5 residual blocks, a shared
body (R residual blocks + trunk conv, global skip), a per-scale upsampler and one tail conv F→3;
this adapter keeps the ×4 branch (index 2 in the release's scale list 2, 3, 4).
Both: RGB in [0, 255], DIV2K mean subtracted (MeanShift, rgb_range 255) and added back.
"""
from __future__ import annotations

import torch
from torch import nn

from baselines.registry import WeightsSpec, register
from baselines.sisr.common import (DIV2K_RGB_MEAN, MeanShift, ResidualBlock, SISRMethod, conv,
                                   count_indexed, pixel_shuffle_upsampler, pop_mean_shift)

CV_SNU = "https://cv.snu.ac.kr/research/EDSR/models/"


class EDSR(nn.Module):
    def __init__(self, n_feats: int = 256, n_blocks: int = 32, res_scale: float = 0.1, scale: int = 4,
                 pre_blocks: int = 0):
        super().__init__()
        self.sub_mean = MeanShift(DIV2K_RGB_MEAN, 255.0, -1)
        self.add_mean = MeanShift(DIV2K_RGB_MEAN, 255.0, +1)
        self.conv_first = conv(3, n_feats)
        # MDSR's scale-specific pre-processing (5×5 blocks); EDSR has none
        self.pre_process = nn.Sequential(*(ResidualBlock(n_feats, 5) for _ in range(pre_blocks)))
        self.body = nn.Sequential(*(ResidualBlock(n_feats, 3, res_scale) for _ in range(n_blocks)))
        self.conv_after_body = conv(n_feats, n_feats)
        self.upsample = pixel_shuffle_upsampler(n_feats, scale)
        self.conv_last = conv(n_feats, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pre_process(self.conv_first(self.sub_mean(x)))
        h = self.conv_after_body(self.body(h)) + h
        return self.add_mean(self.conv_last(self.upsample(h)))


class _EDSRFamily(SISRMethod):
    convention = "RGB [0,255], DIV2K mean shift inside the model"
    input_range = 255.0

    def checkpoint_filter(self, state_dict):
        state_dict = dict(state_dict)
        pop_mean_shift(state_dict, "sub_mean", mean=DIV2K_RGB_MEAN, rgb_range=255.0, sign=-1)
        pop_mean_shift(state_dict, "add_mean", mean=DIV2K_RGB_MEAN, rgb_range=255.0, sign=+1)
        return super().checkpoint_filter(state_dict)


@register
class EDSRMethod(_EDSRFamily):
    name = "edsr"
    description = "EDSR x4 (Lim et al., CVPRW 2017), official weights (full R32F256, or the baseline R16F64)"
    weights = WeightsSpec(
        files=("edsr_x4-4f62e9ef.pt", "EDSR_Lx4_f256b32_DIV2K_official-76ee1c8f.pth",
               "edsr_baseline_x4-6b446fab.pt", "EDSR_Mx4_f64b16_DIV2K_official-0c287733.pth"),
        trained_on="DIV2K",
        source=CV_SNU + "edsr_x4-4f62e9ef.pt (EDSR-PyTorch src/model/edsr.py)",
        url=CV_SNU + "edsr_x4-4f62e9ef.pt",
        sha256=None,
        formats=("EDSR-PyTorch state_dict (head/body/tail, sub_mean/add_mean)",
                 "BasicSR conversion {'params': ...} (conv_first/body.i.conv1/conv_after_body/upsample/conv_last)"),
        note="the 8 hex digits in the file names look like torch.hub sha256 prefixes [unverified]; "
             "the model size (full or baseline) is read from the file",
    )
    # EDSR-PyTorch -> this module (BasicSR names are this module's own)
    table = (
        (r"^head\.0\.", "conv_first."),
        (r"^body\.(\d+)\.body\.0\.", r"body.\1.conv1."),
        (r"^body\.(\d+)\.body\.2\.", r"body.\1.conv2."),
        (r"^body\.(\d+)\.(weight|bias)$", r"conv_after_body.\2"),
        (r"^tail\.0\.(\d+)\.", r"upsample.\1."),
        (r"^tail\.1\.", "conv_last."),
    )
    key_signature = ((r"^tail\.0\.0\.weight$", r"^body\.0\.body\.0\.weight$"),
                     (r"^conv_after_body\.weight$", r"^body\.0\.conv1\.weight$", r"^upsample\.0\.weight$"))

    @classmethod
    def recognises(cls, keys) -> bool:
        keys = list(keys)
        rcan_or_mdsr = any(".body.3.conv_du" in k or ".rcab." in k or k.startswith("pre_process") for k in keys)
        msrresnet = any(k.startswith(("upconv1", "recon_trunk")) for k in keys)
        return not (rcan_or_mdsr or msrresnet) and super().recognises(keys)

    def build(self, state_dict=None) -> nn.Module:
        if state_dict is None:
            return EDSR()
        n_feats = state_dict["conv_first.weight"].shape[0]
        n_blocks = count_indexed(state_dict, r"^body\.(\d+)\.conv1\.weight$")
        return EDSR(n_feats, n_blocks, res_scale=0.1 if n_feats == 256 else 1.0)


@register
class MDSRMethod(_EDSRFamily):
    name = "mdsr"
    description = "MDSR (Lim et al., CVPRW 2017), official multi-scale weights (R80F64 or baseline R16F64), x4 branch"
    weights = WeightsSpec(
        files=("mdsr-4a78bedf.pt", "mdsr_baseline-a00cab12.pt"), trained_on="DIV2K",
        source=CV_SNU + "mdsr-4a78bedf.pt (EDSR-PyTorch src/model/mdsr.py)",
        url=CV_SNU + "mdsr-4a78bedf.pt",
        sha256=None,
        formats=("EDSR-PyTorch multi-scale state_dict (x4 branch used; x2/x3 branches dropped)",),
        note="the model size (R80 or baseline R16) is read from the file",
    )
    table = (
        (r"^head\.0\.", "conv_first."),
        (r"^pre_process\.2\.(\d)\.body\.0\.", r"pre_process.\1.conv1."),
        (r"^pre_process\.2\.(\d)\.body\.2\.", r"pre_process.\1.conv2."),
        (r"^pre_process\.[01]\.", None),
        (r"^body\.(\d+)\.body\.0\.", r"body.\1.conv1."),
        (r"^body\.(\d+)\.body\.2\.", r"body.\1.conv2."),
        (r"^body\.(\d+)\.(weight|bias)$", r"conv_after_body.\2"),
        (r"^upsample\.2\.(\d)\.", r"upsample.\1."),
        (r"^upsample\.[01]\.", None),
        (r"^tail\.0\.", "conv_last."),
    )
    key_signature = ((r"^pre_process\.2\.0\.body\.0\.weight$", r"^upsample\.2\.0\.weight$"),)

    def build(self, state_dict=None) -> nn.Module:
        if state_dict is None:
            return EDSR(64, 80, 1.0, pre_blocks=2)
        n_feats = state_dict["conv_first.weight"].shape[0]
        n_blocks = count_indexed(state_dict, r"^body\.(\d+)\.conv1\.weight$")
        return EDSR(n_feats, n_blocks, 1.0, pre_blocks=2)
