"""CrossNet's flow estimator: a FlowNetS-style multiscale flow network (Zheng et al., ECCV 2018).

Port of `Model/FlowNet_model.py` (class `FlowNet(6)`) with the blocks of `Model/net_utils.py` of the
authors' PyTorch release, https://github.com/htzheng/ECCV2018_CrossNet_RefSR at commit
03959f2dd45b09820115075afd83af50fe8d0814. Facts, shapes and key names carried over; code written here.

Input: two images N×3×H×W (the release: RGB in [0, 1]), concatenated to 6 channels; H and W must be
multiples of 64 (six stride-2 convs down, six ×2 transposed convs up). Encoder: `conv1` 7×7/2 (64),
`conv2` 5×5/2 (128), `conv3` 5×5/2 (256) + `conv3_1`, `conv4` 3×3/2 (512) + `conv4_1`, `conv5` 3×3/2
(512) + `conv5_1`, `conv6` 3×3/2 (1024) + `conv6_1`, each conv + LeakyReLU(0.1). Refinement, from 1/64
up: at each level a 3×3 `flowK` conv (2 channels, linear) predicts a flow, `flowK_up` (4×4/2 transposed
conv 2→2) upsamples it, `deconvK` (4×4/2 transposed conv + LeakyReLU(0.1)) upsamples the features, and
the next level concatenates (skip features, deconv features, upsampled flow). The last level
concatenates the SECOND image (the reference) itself with `deconv0` and `flow1_up`, then two 7×7
conv + SELU (`concat0_conv1/2`, 16 channels) and `flow_12` predict the full-resolution flow.

Output (`FlowPyramid`): flows N×2×h×w, channel 0 = x (width), 1 = y (height), in pixels OF THAT
LEVEL (not rescaled between levels), as the release's dict: `flow_12_1` full size (`flow_12`),
`flow_12_2` ½ (`flow1`), `flow_12_3` ¼ (`flow2`), `flow_12_4` ⅛ (`flow3`). They are backward flows:
the second image sampled at (x + u, y + v) lines up with the first at (x, y).

State-dict keys are the release's: `conv1.0.weight`, …, `flow6.0.weight`, `flow6_up.weight`,
`deconv5.0.weight`, …, `concat0_conv1.0.weight`, `flow_12.0.bias` (a `Sequential(conv, act)` is
`.0.`; the transposed-conv `flowK_up` is bare).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

#: Every spatial size must be a multiple of this (six stride-2 levels).
MULTIPLE = 64
LEAKY_SLOPE = 0.1  # net_utils.py: nn.LeakyReLU(negative_slope=0.1)


def conv_act(in_ch: int, out_ch: int, kernel: int, stride: int, act: nn.Module | None) -> nn.Sequential:
    """`net_utils.conv_activation`: Sequential(Conv2d(k, stride, padding k//2) [, act]); keys `.0.*`."""
    layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2)]
    if act is not None:
        layers.append(act)
    return nn.Sequential(*layers)


def leaky() -> nn.LeakyReLU:
    return nn.LeakyReLU(LEAKY_SLOPE, inplace=True)


def up2(in_ch: int, out_ch: int) -> nn.ConvTranspose2d:
    """`net_utils.upsample`: ConvTranspose2d(4, stride 2, padding 1) with bias, ×2 exactly."""
    return nn.ConvTranspose2d(in_ch, out_ch, 4, 2, 1, bias=True)


class FlowPyramid(NamedTuple):
    """Backward flows N×2×h×w (x, y) at full, ½, ¼ and ⅛ size (the release's flow_12_1…flow_12_4)."""

    full: torch.Tensor
    half: torch.Tensor
    quarter: torch.Tensor
    eighth: torch.Tensor


class FlowNet(nn.Module):
    """FlowNetS-style flow of `image1` → `image2` (module and key names as the release's `FlowNet(6)`)."""

    #: (name, in, out, kernel, stride) of the contracting part
    ENCODER = (("conv1", 6, 64, 7, 2), ("conv2", 64, 128, 5, 2), ("conv3", 128, 256, 5, 2),
               ("conv3_1", 256, 256, 3, 1), ("conv4", 256, 512, 3, 2), ("conv4_1", 512, 512, 3, 1),
               ("conv5", 512, 512, 3, 2), ("conv5_1", 512, 512, 3, 1), ("conv6", 512, 1024, 3, 2),
               ("conv6_1", 1024, 1024, 3, 1))
    #: (level, input channels, deconv output channels) of the refinement, coarse to fine:
    #: level K reads concat(skip, deconv, flow_up) and predicts flowK, flowK_up and deconv(K-1)
    REFINE = ((6, 1024, 256), (5, 770, 256), (4, 770, 128), (3, 386, 64), (2, 194, 64), (1, 130, 64))

    def __init__(self) -> None:
        super().__init__()
        for name, cin, cout, k, s in self.ENCODER:
            self.add_module(name, conv_act(cin, cout, k, s, leaky()))
        for level, cin, cdeconv in self.REFINE:
            self.add_module(f"flow{level}", conv_act(cin, 2, 3, 1, None))
            self.add_module(f"flow{level}_up", up2(2, 2))
            self.add_module(f"deconv{level - 1}", nn.Sequential(up2(cin, cdeconv), leaky()))
        # 3 (the second image) + 64 (deconv0) + 2 (flow1_up) = 69
        self.concat0_conv1 = conv_act(69, 16, 7, 1, nn.SELU(inplace=True))
        self.concat0_conv2 = conv_act(16, 16, 7, 1, nn.SELU(inplace=True))
        self.flow_12 = conv_act(16, 2, 3, 1, None)

    def forward(self, image1: torch.Tensor, image2: torch.Tensor) -> FlowPyramid:
        """`image1`, `image2`: N×3×H×W, H and W multiples of 64 (`ValueError` otherwise)."""
        h, w = image1.shape[-2:]
        if h % MULTIPLE or w % MULTIPLE or image2.shape[-2:] != image1.shape[-2:]:
            raise ValueError(f"FlowNet: inputs {tuple(image1.shape)} and {tuple(image2.shape)} must be the same "
                             f"size, a multiple of {MULTIPLE}")
        x = torch.cat((image1, image2), 1)
        skips = {}
        for name, *_ in self.ENCODER:
            x = getattr(self, name)(x)
            skips[name] = x
        # skip feature of each refinement level's output (the encoder's last conv at that size)
        skip_of = {5: "conv5_1", 4: "conv4_1", 3: "conv3_1", 2: "conv2", 1: "conv1"}
        flows: dict[int, torch.Tensor] = {}
        features = skips["conv6_1"]
        for level, _, _ in self.REFINE:
            flows[level] = getattr(self, f"flow{level}")(features)
            flow_up = getattr(self, f"flow{level}_up")(flows[level])
            deconv = getattr(self, f"deconv{level - 1}")(features)
            skip = skips[skip_of[level - 1]] if level > 1 else image2
            features = torch.cat((skip, deconv, flow_up), 1)
        full = self.flow_12(self.concat0_conv2(self.concat0_conv1(features)))
        return FlowPyramid(full, flows[1], flows[2], flows[3])
