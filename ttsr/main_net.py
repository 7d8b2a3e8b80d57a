"""The main network of TTSR: backbone, texture fusion and cross-scale feature integration (§3.3).

Stage ``s`` (1, 2, 3) works at magnification 2^(s-1) on the LR grid. With CSFI it holds the
branches ``s1 … ss`` (one per scale reached so far, coarsest first); a new branch is made by
sub-pixel upsampling (conv → PixelShuffle(2) → ReLU) of the previous finest one. On the newest
branch the texture transformer output is fused (§3.2, soft-attention module):

    F_out = F + Conv(Concat(F, T)) ⊙ S    (S bicubically upsampled to the branch's scale)

then the branches exchange features (CSFI), go through their residual blocks and a tail conv with
a long skip. The merge tail integrates the three branches once more at 4× and maps to RGB,
clamped to [-1, 1].

Module names are the release's (``conv22_head``, ``RB31``, ``ex123.conv31_2``, …) so checkpoints
load unchanged; they are generated from the stage/branch numbers rather than written out per scale.
"""
from __future__ import annotations

import itertools
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

#: Channels of the transferred texture fused at stages 1, 2, 3 (LTE lv3, lv2, lv1; §3.1).
TEXTURE_CHANNELS = (256, 128, 64)
STAGES = (1, 2, 3)


def conv3x3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1)


def conv1x1(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel_size=1)


def upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Bicubic upsampling by an integer factor (PyTorch's, align_corners=False), as the release."""
    return x if factor == 1 else F.interpolate(x, scale_factor=factor, mode="bicubic")


def conv_concat(conv: nn.Conv2d, parts: Iterable[torch.Tensor]) -> torch.Tensor:
    """``conv(torch.cat(parts, dim=1))`` without building the concatenation.

    A convolution is linear in its input channels, so it equals the sum of convolutions of each
    part with its slice of the weight. Parts may come from a generator and are dropped as soon as
    they are used: at 4× on a full page this saves the 3·C-channel concatenation of CSFI and the
    merge tail (the dominant activations of a CPU forward). Sums differ from the single conv by
    float rounding only.
    """
    out, start = None, 0
    for part in parts:
        stop = start + part.shape[1]
        y = F.conv2d(part, conv.weight[:, start:stop], conv.bias if out is None else None,
                     conv.stride, conv.padding)
        out = y if out is None else out.add_(y)
        start = stop
    if out is None or start != conv.in_channels:
        raise ValueError(f"parts have {start} channels, the conv takes {conv.in_channels}")
    return out


class ResBlock(nn.Module):
    """conv3×3 → ReLU → conv3×3, scaled by `res_scale`, plus the input (EDSR block, no BN)."""

    def __init__(self, n_feats: int, res_scale: float = 1.0) -> None:
        super().__init__()
        self.conv1 = conv3x3(n_feats, n_feats)
        self.conv2 = conv3x3(n_feats, n_feats)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.conv1(x))) * self.res_scale + x


def res_blocks(count: int, n_feats: int, res_scale: float) -> nn.ModuleList:
    return nn.ModuleList(ResBlock(n_feats, res_scale) for _ in range(count))


def run_blocks(blocks: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
    for block in blocks:
        x = block(x)
    return x


class SFE(nn.Module):
    """Shallow feature extraction from the LR image: conv+ReLU, residual blocks, conv, long skip."""

    def __init__(self, num_blocks: int, n_feats: int, res_scale: float) -> None:
        super().__init__()
        self.conv_head = conv3x3(3, n_feats)
        self.RBs = res_blocks(num_blocks, n_feats, res_scale)
        self.conv_tail = conv3x3(n_feats, n_feats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv_head(x))
        return self.conv_tail(run_blocks(self.RBs, x)) + x


class CrossScaleFusion(nn.Module):
    """Cross-scale feature integration (CSFI, §3.3) among branches 1…n (branch k at 2^(k-1)×).

    For each target branch ``t`` every other branch ``s`` is brought to t's scale: a coarser one
    by bicubic upsampling and a 1×1 conv + ReLU (``conv{s}{t}``), a finer one by stride-2 3×3
    convs + ReLU, one per halving (``conv{s}{t}`` or ``conv{s}{t}_1``, ``_2``). The target and the
    moved features, in branch order, are concatenated and merged by a 3×3 conv + ReLU
    (``conv_merge{t}``, or ``conv_merge`` when there is a single target).
    """

    def __init__(self, n_feats: int, n_branches: int, targets: Sequence[int] | None = None) -> None:
        super().__init__()
        self.n_branches = n_branches
        self.targets = tuple(range(1, n_branches + 1) if targets is None else targets)
        pairs = sorted((s, t) for t in self.targets for s in self._sources(t))  # release order
        for s, t in pairs:
            steps = s - t
            if steps <= 0:
                self.add_module(f"conv{s}{t}", conv1x1(n_feats, n_feats))
            elif steps == 1:
                self.add_module(f"conv{s}{t}", conv3x3(n_feats, n_feats, stride=2))
            else:
                for k in range(1, steps + 1):
                    self.add_module(f"conv{s}{t}_{k}", conv3x3(n_feats, n_feats, stride=2))
        for t in self.targets:
            self.add_module(self._merge_name(t), conv3x3(n_feats * n_branches, n_feats))

    def _sources(self, t: int) -> list[int]:
        return [s for s in range(1, self.n_branches + 1) if s != t]

    def _merge_name(self, t: int) -> str:
        return f"conv_merge{t}" if len(self.targets) > 1 else "conv_merge"

    def _move(self, x: torch.Tensor, s: int, t: int) -> torch.Tensor:
        """Bring branch s's features to branch t's scale."""
        if s < t:
            return F.relu(getattr(self, f"conv{s}{t}")(upsample(x, 2 ** (t - s))))
        if s - t == 1:
            return F.relu(getattr(self, f"conv{s}{t}")(x))
        for k in range(1, s - t + 1):
            x = F.relu(getattr(self, f"conv{s}{t}_{k}")(x))
        return x

    def forward(self, branches: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        out = []
        for t in self.targets:
            # the moved branches are made one at a time, each dropped once its conv slice is applied
            parts = itertools.chain([branches[t - 1]], (self._move(branches[s - 1], s, t) for s in self._sources(t)))
            out.append(F.relu(conv_concat(getattr(self, self._merge_name(t)), parts)))
        return out


class MergeTail(CrossScaleFusion):
    """Final integration of all branches at the finest scale, then conv3×3 → conv1×1 to RGB, clamp.

    Without CSFI there is one branch and nothing to merge: only the two tail convs remain.
    """

    def __init__(self, n_feats: int, n_branches: int) -> None:
        super().__init__(n_feats, n_branches, targets=[n_branches] if n_branches > 1 else [])
        self.conv_tail1 = conv3x3(n_feats, n_feats // 2)
        self.conv_tail2 = conv1x1(n_feats // 2, 3)

    def forward(self, branches: Sequence[torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        x = super().forward(branches)[0] if self.targets else branches[-1]
        return torch.clamp(self.conv_tail2(self.conv_tail1(x)), -1.0, 1.0)


class MainNet(nn.Module):
    """LR image + texture (S, T_lv3, T_lv2, T_lv1) → SR image at 4×, in [-1, 1] (§3.3, Fig. 3).

    ``texture=False`` builds the "Base" network of Table 2 (no fusion heads, S and T unused);
    ``soft_attention=False`` fuses textures without the S weighting; ``csfi=False`` keeps one
    branch per stage (see `ttsr.config`).
    """

    def __init__(self, n_feats: int = 64, num_res_blocks: Sequence[int] = (16, 16, 8, 4),
                 res_scale: float = 1.0, texture: bool = True, soft_attention: bool = True,
                 csfi: bool = True) -> None:
        super().__init__()
        self.texture, self.soft_attention, self.csfi = texture, soft_attention, csfi
        self.SFE = SFE(num_res_blocks[0], n_feats, res_scale)
        for stage in STAGES:
            if stage > 1:  # sub-pixel upsampling from the previous stage's finest branch
                self.add_module(f"conv{stage - 1}{stage}", conv3x3(n_feats, n_feats * 4))
                self.add_module(f"ps{stage - 1}{stage}", nn.PixelShuffle(2))
            if texture:
                self.add_module(f"conv{stage}{stage}_head",
                                conv3x3(TEXTURE_CHANNELS[stage - 1] + n_feats, n_feats))
            branches = self.branches(stage)
            if len(branches) > 1:
                self.add_module("ex" + "".join(map(str, branches)), CrossScaleFusion(n_feats, stage))
            for b in branches:
                self.add_module(f"RB{stage}{b}", res_blocks(num_res_blocks[stage], n_feats, res_scale))
            for b in branches:
                self.add_module(f"conv{stage}{b}_tail", conv3x3(n_feats, n_feats))
        self.merge_tail = MergeTail(n_feats, len(self.branches(STAGES[-1])))

    def branches(self, stage: int) -> list[int]:
        """Branch numbers alive in `stage` (2^(b-1)× each): all scales so far with CSFI, else the newest."""
        return list(range(1, stage + 1)) if self.csfi else [stage]

    def forward(self, lr: torch.Tensor, S: torch.Tensor | None = None, T_lv3: torch.Tensor | None = None,
                T_lv2: torch.Tensor | None = None, T_lv1: torch.Tensor | None = None) -> torch.Tensor:
        textures = (T_lv3, T_lv2, T_lv1)
        feats = [self.SFE(lr)]
        for stage in STAGES:
            if stage > 1:
                up = getattr(self, f"ps{stage - 1}{stage}")(getattr(self, f"conv{stage - 1}{stage}")(feats[-1]))
                feats = feats + [F.relu(up)] if self.csfi else [F.relu(up)]
            if self.texture:  # texture transformer output fused into the newest branch (§3.2)
                newest = feats[-1]
                res = conv_concat(getattr(self, f"conv{stage}{stage}_head"), (newest, textures[stage - 1]))
                if self.soft_attention:
                    res = res * upsample(S, 2 ** (stage - 1))
                feats[-1] = newest + res
            branches = self.branches(stage)
            inputs = getattr(self, "ex" + "".join(map(str, branches)))(feats) if len(branches) > 1 else feats
            feats = [x + getattr(self, f"conv{stage}{b}_tail")(run_blocks(getattr(self, f"RB{stage}{b}"), y))
                     for b, x, y in zip(branches, feats, inputs)]
        return self.merge_tail(feats)
