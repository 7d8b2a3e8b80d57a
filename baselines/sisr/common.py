"""What the SISR networks share: small building blocks, the mean-shift check, and `SISRMethod`.

Each network file (BasicSR-style, one architecture per file) defines its `nn.Module`, a
`checkpoint_filter` (timm-style: an explicit rename table from every published naming to the
module's own keys) and a small registered `SISRMethod` subclass with the weights facts.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import torch
from torch import nn

from baselines.registry import Method
from foundation.checkpoints import StateDict, rename
from foundation.errors import UserError

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)  # EDSR, MDSR, RCAN, CARN: mean of DIV2K, RGB in [0, 1]


# ---------------------------------------------------------------------------------------------
# Building blocks

def conv(in_ch: int, out_ch: int, kernel: int = 3, *, stride: int = 1, groups: int = 1,
         padding: int | None = None) -> nn.Conv2d:
    """k×k conv with bias and 'same' zero padding (k // 2) unless `padding` says otherwise."""
    return nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2 if padding is None else padding,
                     groups=groups, bias=True)


class ResidualBlock(nn.Module):
    """conv-ReLU-conv with identity: x + res_scale * conv2(relu(conv1(x))) (EDSR, MDSR, MSRResNet)."""

    def __init__(self, n_feats: int, kernel: int = 3, res_scale: float = 1.0):
        super().__init__()
        self.conv1 = conv(n_feats, n_feats, kernel)
        self.conv2 = conv(n_feats, n_feats, kernel)
        self.relu = nn.ReLU(inplace=True)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.relu(self.conv1(x))) * self.res_scale


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation over channels: x * sigmoid(W2 relu(W1 pool(x))).

    `contrast=False`: pool = global mean (RCAN's CA). `contrast=True`: pool = per-channel standard
    deviation + mean (IMDN's contrast-aware CCA). The MLP is `conv_du.{0,2}` as in both releases.
    """

    def __init__(self, channels: int, reduction: int = 16, contrast: bool = False):
        super().__init__()
        self.contrast = contrast
        self.conv_du = nn.Sequential(nn.Conv2d(channels, channels // reduction, 1), nn.ReLU(inplace=True),
                                     nn.Conv2d(channels // reduction, channels, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(2, 3), keepdim=True)
        pooled = mean
        if self.contrast:
            pooled = (x - mean).pow(2).mean(dim=(2, 3), keepdim=True).sqrt() + mean
        return x * self.conv_du(pooled)


def pixel_shuffle_upsampler(n_feats: int, scale: int, *, groups: int = 1, relu: bool = False) -> nn.Sequential:
    """log2(scale) × [conv n→4n (, ReLU), PixelShuffle(2)] (EDSR/RCAN: keys 0, 2; CARN: ReLU, keys 0, 3)."""
    if scale & (scale - 1):
        raise ValueError(f"scale {scale}: only powers of two are built here")
    layers: list[nn.Module] = []
    for _ in range(int(math.log2(scale))):
        layers.append(conv(n_feats, 4 * n_feats, 3, groups=groups))
        if relu:
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.PixelShuffle(2))
    return nn.Sequential(*layers)


def pixel_shuffle_head(n_feats: int, out_ch: int, scale: int) -> nn.Sequential:
    """One conv n→out·s² and PixelShuffle(s) (IMDN, RFDN: key `upsampler.0`)."""
    return nn.Sequential(conv(n_feats, out_ch * scale * scale, 3), nn.PixelShuffle(scale))


def count_indexed(keys, pattern: str) -> int:
    """How many distinct integers `pattern` (a regex with one group) captures among `keys`."""
    import re

    compiled = re.compile(pattern)
    return len({int(m.group(1)) for k in keys if (m := compiled.match(k))})


# ---------------------------------------------------------------------------------------------
# Mean shift: published as 1×1 convs in the checkpoint, a fixed buffer here

def pop_mean_shift(state_dict: StateDict, prefix: str, *, mean: Sequence[float], rgb_range: float,
                   sign: int) -> None:
    """Remove `<prefix>.weight/.bias` after checking they are the standard MeanShift.

    The releases store MeanShift as a frozen 1×1 conv: weight = identity (std 1), bias =
    sign·rgb_range·mean. Anything else means a model this adapter does not reproduce.
    """
    weight, bias = state_dict.pop(f"{prefix}.weight", None), state_dict.pop(f"{prefix}.bias", None)
    if weight is None and bias is None:
        return  # BasicSR conversions drop them; the model's buffer holds the same constant
    expected_bias = torch.tensor(mean, dtype=torch.float32) * rgb_range * sign
    ok = (weight is not None and bias is not None and weight.numel() == 9 and bias.numel() == 3
          and torch.allclose(weight.float().reshape(3, 3), torch.eye(3), atol=1e-6)
          and torch.allclose(bias.float().reshape(3), expected_bias, atol=1e-3))
    if not ok:
        raise UserError(f"{prefix}: mean shift is not identity with bias {expected_bias.tolist()} "
                        "(a different colour normalisation than the published model)")


class MeanShift(nn.Module):
    """x + sign·rgb_range·mean, as a non-persistent buffer (not part of the state dict)."""

    def __init__(self, mean: Sequence[float] = DIV2K_RGB_MEAN, rgb_range: float = 255.0, sign: int = -1):
        super().__init__()
        self.register_buffer("shift", torch.tensor(mean).view(1, 3, 1, 1) * rgb_range * sign,
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.shift


# ---------------------------------------------------------------------------------------------
# The method adapter shared by every SISR network

class SISRMethod(Method):
    """A single-image network: builds its module, filters the published checkpoint, runs on `lr`.

    Subclasses set `input_range` (the network takes RGB/255·input_range: 1.0 or 255.0), the
    remap `table` (regex, replacement or None to drop), and `build(state_dict)`.
    """

    kind = "sisr"
    scale = 4
    input_range: float = 1.0
    table: Sequence[tuple[str, str | None]] = ()

    def __init__(self) -> None:
        super().__init__()
        self.model: nn.Module | None = None

    # --- to override -----------------------------------------------------------------------
    def build(self, state_dict: Mapping[str, torch.Tensor] | None = None) -> nn.Module:
        """The network; with a (filtered) state dict, sized from its shapes where the family varies."""
        raise NotImplementedError

    def build_for_training(self) -> nn.Module:
        """The network as a training recipe calls it (`training.table1_recipe`): a module whose
        forward takes the recipe's inputs (e.g. `lr`) in [0, `input_range`] and returns SR in that
        range, differentiably, with the same state-dict keys as `build()` (the export loads as this
        method's checkpoint). Default: `build()`; a method whose inference wraps the network in more
        than a range change (SRCNN's Y channel, CrossNet's padding) returns a subclass that does it."""
        return self.build(None)

    def checkpoint_filter(self, state_dict: StateDict) -> StateDict:
        """Published keys -> this module's keys (explicit table). Override to add checks."""
        return rename(state_dict, self.table)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert self.model is not None
        return self.model(x)

    # --- the Method interface ---------------------------------------------------------------
    def load(self, weights_path, device="cpu") -> "SISRMethod":
        model = self.load_checkpoint(weights_path, self.build, self.checkpoint_filter)
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.weights_path = weights_path
        return self

    @torch.no_grad()
    def __call__(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        if self.model is None:
            raise RuntimeError(f"{self.name}: call load() first")
        self.extras = {}
        x = batch["lr"].to(self.device, torch.float32) * (self.input_range / 255.0)
        return (self.forward(x) * (255.0 / self.input_range)).clamp_(0.0, 255.0)
