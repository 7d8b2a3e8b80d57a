"""CrossNet (Zheng et al., "CrossNet: An End-to-end Reference-based Super Resolution Network using
Cross-scale Warping", ECCV 2018): encoders, cross-scale warping, fusion decoder.

Port of `Model/MultiscaleWarpingNet.py` (`MultiscaleWarpingNet`), `Model/Backward_warp_layer.py`
(`Backward_warp`) and `Model/net_utils.py` (`Encoder`, `UNet_decoder_2`) of the authors' PyTorch
release, https://github.com/htzheng/ECCV2018_CrossNet_RefSR at commit
03959f2dd45b09820115075afd83af50fe8d0814. Facts, shapes and key names carried over; code written here.

Pipeline (all tensors N×C×H×W float, images RGB in [0, 1] as the release's data loader divides by
255; H, W multiples of 64):
1. `FlowNet(lr_up, ref)` (`baselines.crossnet.flownet`): backward flows at full, ½, ¼, ⅛ size.
2. One shared `Encoder` on the SISR-upsampled LR image and on the reference: a 5×5 conv (`layer_f`)
   and `conv1` (5×5/1), `conv2`, `conv3`, `conv4` (5×5/2), 64 channels, SELU after each; its
   features at full, ½, ¼, ⅛ size.
3. `backward_warp`: each reference feature map is bilinearly sampled at (x + u, y + v) with the
   flow of its size (coordinates clamped to the image, the release's `Backward_warp`).
4. `FusionDecoder` (the release's `UNet_decoder_2`): ⅛: cat(LR, warped) → 4×4/2 transposed conv +
   SELU (`warp_deconv4`, 128→64); ¼ and ½: cat(up, LR, warped) → `warp_deconv3`, `warp_deconv2`
   (192→64); full: cat(up, LR, warped) → `post_fusion1` (5×5, 192→64, SELU) → `final` (5×5, 64→3,
   linear). As in the release, `final` reads `post_fusion1`: `post_fusion2` (5×5, 64→64, SELU)
   is built (its weights are in every checkpoint) but its output is never used, so it is not run
   here and is frozen (`requires_grad=False`: no gradient reaches it in the release either).

The output is the SR image in the input's range (no clamp, no residual). Keys are the release's
(`FlowNet.*`, `Encoder.*`, `UNet_decoder_2.*`; `Backward_warp` has none), so a `torch.save(net.
state_dict())` of the release's `MultiscaleWarpingNet` loads as is (`RELEASE_REMAP` is the identity).

Inputs the release feeds (FlowerDataset.nextBatch_new): flow on (LR bicubic-upsampled, reference) at
test time (`mode='input_img2_HR'`, the default of `MultiscaleWarpingNet.forward`), encoder on the MDSR
output (`input_img1_SR`) and the reference. `CrossNet.forward` takes the encoder's SISR input
separately (`sisr`, default: `lr_up`).
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from baselines.crossnet.flownet import MULTIPLE, FlowNet, FlowPyramid, conv_act, up2

#: Published key names → this module's: identical (the release's own names are kept).
RELEASE_REMAP: tuple[tuple[str, str | None], ...] = ()
FEATS = 64


def backward_warp(features: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """`features` N×C×H×W sampled at (x + flow[:, 0], y + flow[:, 1]) for every pixel (x, y).

    The release's `Backward_warp` arithmetic: sample coordinates clamped to [0, W−1] × [0, H−1],
    x0 = floor(x), x1 = min(x0 + 1, W − 1) (same for y), bilinear weights from the UNclamped x0 + 1
    (so a coordinate on the last row/column takes that row/column), output = wa·I(x0,y0) + wb·I(x0,y1)
    + wc·I(x1,y0) + wd·I(x1,y1). Differentiable in `features` and `flow` (zero flow gradient where
    clamped). `flow`: N×2×H×W in pixels of this size. Returns N×C×H×W.
    """
    n, c, h, w = features.shape
    if flow.shape != (n, 2, h, w):
        raise ValueError(f"backward_warp: flow {tuple(flow.shape)} does not fit features {tuple(features.shape)}")
    dtype, device = flow.dtype, flow.device
    gx = torch.arange(w, dtype=dtype, device=device).view(1, w)
    gy = torch.arange(h, dtype=dtype, device=device).view(h, 1)
    x = torch.clamp(gx + flow[:, 0], 0, w - 1)  # N×H×W
    y = torch.clamp(gy + flow[:, 1], 0, h - 1)
    x0_f, y0_f = x.floor(), y.floor()
    x1_f, y1_f = x0_f + 1.0, y0_f + 1.0
    x0, y0 = x0_f.long(), y0_f.long()
    x1 = torch.clamp(x1_f, 0, w - 1).long()
    y1 = torch.clamp(y1_f, 0, h - 1).long()
    flat = features.reshape(n, c, h * w)

    def pick(yi: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        index = (yi * w + xi).reshape(n, 1, h * w).expand(n, c, h * w)
        return torch.gather(flat, 2, index).reshape(n, c, h, w)

    wa = ((x1_f - x) * (y1_f - y)).unsqueeze(1)
    wb = ((x1_f - x) * (y - y0_f)).unsqueeze(1)
    wc = ((x - x0_f) * (y1_f - y)).unsqueeze(1)
    wd = ((x - x0_f) * (y - y0_f)).unsqueeze(1)
    return wa * pick(y0, x0) + wb * pick(y1, x0) + wc * pick(y0, x1) + wd * pick(y1, x1)


def selu() -> nn.SELU:
    return nn.SELU(inplace=True)


class Encoder(nn.Module):
    """The release's `Encoder(3)`: features at full, ½, ¼, ⅛ size, 64 channels each."""

    def __init__(self, in_ch: int = 3, feats: int = FEATS) -> None:
        super().__init__()
        self.layer_f = conv_act(in_ch, feats, 5, 1, selu())
        self.conv1 = conv_act(feats, feats, 5, 1, selu())
        self.conv2 = conv_act(feats, feats, 5, 2, selu())
        self.conv3 = conv_act(feats, feats, 5, 2, selu())
        self.conv4 = conv_act(feats, feats, 5, 2, selu())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        c1 = self.conv1(self.layer_f(x))
        c2 = self.conv2(c1)
        c3 = self.conv3(c2)
        return c1, c2, c3, self.conv4(c3)


class FusionDecoder(nn.Module):
    """The release's `UNet_decoder_2` (module names kept for the keys)."""

    def __init__(self, feats: int = FEATS, out_ch: int = 3) -> None:
        super().__init__()
        self.warp_deconv4 = nn.Sequential(up2(2 * feats, feats), selu())
        self.warp_deconv3 = nn.Sequential(up2(3 * feats, feats), selu())
        self.warp_deconv2 = nn.Sequential(up2(3 * feats, feats), selu())
        self.post_fusion1 = conv_act(3 * feats, feats, 5, 1, selu())
        self.post_fusion2 = conv_act(feats, feats, 5, 1, selu())  # in every checkpoint; output unused (release)
        self.final = conv_act(feats, out_ch, 5, 1, None)

    def forward(self, lr_feats: Sequence[torch.Tensor], warped: Sequence[torch.Tensor]) -> torch.Tensor:
        """`lr_feats`, `warped`: the four levels (full … ⅛) of the LR encoder and the warped reference."""
        up = self.warp_deconv4(torch.cat((lr_feats[3], warped[3]), 1))
        up = self.warp_deconv3(torch.cat((up, lr_feats[2], warped[2]), 1))
        up = self.warp_deconv2(torch.cat((up, lr_feats[1], warped[1]), 1))
        return self.final(self.post_fusion1(torch.cat((up, lr_feats[0], warped[0]), 1)))


class CrossNetOutput(NamedTuple):
    """`sr` N×3×H×W (the input's range), and the flows (`FlowPyramid`) used to warp the reference."""

    sr: torch.Tensor
    flows: FlowPyramid


class CrossNet(nn.Module):
    """The release's `MultiscaleWarpingNet` as a module on tensors (no numpy buffer, no `.cuda()`)."""

    def __init__(self) -> None:
        super().__init__()
        self.FlowNet = FlowNet()
        self.Encoder = Encoder(3)
        self.UNet_decoder_2 = FusionDecoder()
        # its output is unused (release): frozen, so DistributedDataParallel does not wait for its gradient
        self.UNet_decoder_2.post_fusion2.requires_grad_(False)

    def forward(self, lr_up: torch.Tensor, ref: torch.Tensor, sisr: torch.Tensor | None = None) -> CrossNetOutput:
        """`lr_up` (LR upsampled to the HR size), `ref` (the reference, same size), `sisr` (the encoder's
        SISR input; default `lr_up`): N×3×H×W, RGB in [0, 1], H and W multiples of 64 (`ValueError`)."""
        flows = self.FlowNet(lr_up, ref)
        lr_feats = self.Encoder(lr_up if sisr is None else sisr)
        ref_feats = self.Encoder(ref)
        warped = [backward_warp(f, flow) for f, flow in zip(ref_feats, flows)]
        return CrossNetOutput(self.UNet_decoder_2(lr_feats, warped), flows)

    def super_resolve(self, lr_up: torch.Tensor, ref: torch.Tensor, *, value_range: float = 255.0) -> torch.Tensor:
        """SR of any size: `lr_up` N×3×H×W and `ref` N×3×h×w in [0, `value_range`]; returns N×3×H×W in
        the same range, unclamped and differentiable (training). `fit_reference` brings the reference
        to H×W, `pad_to_multiple` both to multiples of 64 (replicate padding, cropped back)."""
        scale = 1.0 / value_range
        return self.sr_any_size(lr_up * scale, ref * scale) * value_range

    def sr_any_size(self, lr_up: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """`super_resolve` in [0, 1]: the reference fitted to LR↑'s size, both padded, cropped back."""
        h, w = lr_up.shape[-2:]
        out = CrossNet.forward(self, pad_to_multiple(lr_up), pad_to_multiple(fit_reference(ref, h, w)))
        return out.sr[..., :h, :w]


class CrossNetSR(CrossNet):
    """CrossNet as training calls it (`SISRMethod.build_for_training`): `forward(lr_up, ref)` of any
    size, RGB in [0, 1], → SR N×3×H×W in [0, 1] (`CrossNet.super_resolve`'s rules: the reference
    fitted to LR↑'s size, both padded to multiples of 64, cropped back), differentiable. Same
    parameters and keys as `CrossNet`."""

    def forward(self, lr_up: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.sr_any_size(lr_up, ref)


def pad_to_multiple(x: torch.Tensor, multiple: int = MULTIPLE) -> torch.Tensor:
    """`x` N×C×H×W replicate-padded at the bottom/right to the next multiples of `multiple`."""
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


def fit_reference(ref: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """The reference brought to the LR↑ size H×W without rescaling: cropped top-left where it is
    larger, replicate-padded at the bottom/right where it is smaller (the release sees views of one
    size, cropped top-left to 320×512: FlowerDataset.nextBatch_new, crop offset 0)."""
    rh, rw = ref.shape[-2:]
    ref = ref[..., :min(rh, h), :min(rw, w)]
    ph, pw = h - ref.shape[-2], w - ref.shape[-1]
    return F.pad(ref, (0, pw, 0, ph), mode="replicate") if ph or pw else ref
