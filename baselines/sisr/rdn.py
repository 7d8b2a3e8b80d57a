"""RDN ×4 (Zhang et al., "Residual Dense Network for Image Super-Resolution", CVPR 2018), config B:
D = 16 residual dense blocks of C = 8 convs, growth G = 64, G0 = 64 features, 3×3 kernels.

Network (keys as in EDSR-PyTorch `src/model/rdn.py`, sanghyun-son/EDSR-PyTorch@9d3bb0ec, the
file last changed in 4f5e2ce; this module's own names): `SFENet1` conv 3→G0, `SFENet2` conv
G0→G0; D blocks `RDBs.{d}`: C dense layers `convs.{c}.conv.0` (conv G0+c·G → G, ReLU, output
concatenated to the input), `LFF` 1×1 G0+C·G → G0, plus the block input; `GFF.0` 1×1 D·G0 → G0
over the D block outputs concatenated, `GFF.1` 3×3, plus the SFENet1 output (global skip);
`UPNet.0` conv G0→4G, PixelShuffle(2), `UPNet.2` conv G→4G, PixelShuffle(2), `UPNet.4` conv G→3.
Zero 'same' padding, biases everywhere.

Three weights releases, one network, the same SR from each (`input_range` follows the file):

| file | naming | input / output | origin |
|---|---|---|---|
| `RDN_BIX4.t7` (yulunzhang/RDN@83b0a43, Torch7; model `RDN_TrainCode/code/model/RDN.lua`, test `RDN_TestCode/TestRDN.lua`) | a Lua module tree, no names: convs mapped by order, `t7_order` | RGB [0, 255] (`-mulImg 255`), DIV2K mean subtracted / added by 1×1 convs | official |
| EDSR-PyTorch `rdn.py` state dict (no URL is published) | the names above, unchanged | RGB [0, 255], no mean shift | (a file someone trained) |
| `rdn_x4.pth` (yjn870/RDN-pytorch@f2641c0 `models.py`), `rdn_x4.pt` (Coloquinte/torchSR@64321b8 release v1.0.3, converted from it) | `YJN870_TABLE` | RGB [0, 1] (`test.py` divides by 255) | third-party |

The Torch7 tree of `RDN.lua` (the printed model in `RDN_TrainCode/experiment/model/*.txt` shows it):
Sequential[conv 3→nFeat (SFENet1), Sequential[ConcatTable[body, Identity], CAddTable] (global
skip), Sequential[conv, PixelShuffle(2), conv, PixelShuffle(2)], conv nFeat→3], body =
Sequential[conv (SFENet2), the blocks, 1×1 conv (GFF.0), conv (GFF.1)]; the blocks nest as
Sequential[RDB₁, Concat(2)[Identity, Sequential[RDB₂, Concat(2)[Identity, … RDB_D]]]], so their
outputs are concatenated in the order they run, and each RDB = Sequential[ConcatTable[Sequential[C
× Sequential[Concat(2)[Identity, Sequential[conv, ReLU]]], 1×1 conv (LFF)], Identity], CAddTable].
`model/init.lua` (`-subMean true`, the default) puts a frozen 1×1 conv 3→3 (identity weight, bias
−255·mean) first and its inverse last; the ×4 model is the ×2 one with its upsampler replaced
(`model/resnet_cu.lua`), so it keeps them. Read depth first, the convs come in the order they run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from baselines.registry import THIRD_PARTY, WeightsSpec, register
from baselines.sisr.common import MeanShift, SISRMethod, count_indexed
from foundation.checkpoints import Checkpoint, StateDict, load_into, rename
from foundation.errors import UserError
from foundation.torch7 import TorchObject, is_t7, modules_in_order, read_t7

RELEASE_LINKS = ("Dropbox https://www.dropbox.com/sh/ngcvqdas167gol2/AAAdJe9w6s2fpo_KEGZe7d4Ra?dl=0 or Baidu "
                 "https://pan.baidu.com/s/116FAzKnaJnAdxY_B6ENp_A (yulunzhang/RDN, RDN_TestCode/model/Readme.md)")
YJN870_URL = "https://www.dropbox.com/s/yphiyivb1v7jya2/rdn_x4.pth?dl=0"
TORCHSR_URL = "https://github.com/Coloquinte/torchSR/releases/download/v1.0.3/rdn_x4.pt"

#: yjn870/RDN-pytorch and torchSR names → this module's (EDSR-PyTorch's) names.
YJN870_TABLE = (
    (r"^sfe1\.", "SFENet1."),
    (r"^sfe2\.", "SFENet2."),
    (r"^rdbs\.(\d+)\.layers\.(\d+)\.conv\.", r"RDBs.\1.convs.\2.conv.0."),
    (r"^rdbs\.(\d+)\.lff\.", r"RDBs.\1.LFF."),
    (r"^gff\.([01])\.", r"GFF.\1."),
    (r"^upscale\.([02])\.", r"UPNet.\1."),
    (r"^output\.", "UPNet.4."),
)
#: Torch7 module classes the RDN release's tree is made of (anything else: not that model).
T7_CLASSES = frozenset({"nn.Sequential", "nn.Concat", "nn.ConcatTable", "nn.CAddTable", "nn.Identity", "nn.ReLU",
                        "cudnn.ReLU", "nn.PixelShuffle", "nn.SpatialConvolution", "cudnn.SpatialConvolution"})
T7_CONV_CLASSES = ("nn.SpatialConvolution", "cudnn.SpatialConvolution")


def t7_order(blocks: int, convs: int) -> list[str]:
    """The remap table of the `.t7` format: this module's conv names in the order of the release tree's convs (depth first),
    mean-shift convs removed: SFENet1, SFENet2, then per block its `convs` dense convs and LFF,
    then GFF.0, GFF.1, UPNet.0, UPNet.2, UPNet.4."""
    names = ["SFENet1", "SFENet2"]
    for d in range(blocks):
        names += [f"RDBs.{d}.convs.{c}.conv.0" for c in range(convs)] + [f"RDBs.{d}.LFF"]
    return names + ["GFF.0", "GFF.1", "UPNet.0", "UPNet.2", "UPNet.4"]


class DenseLayer(nn.Module):
    """conv in→G + ReLU, output concatenated after the input (`conv.0` as in EDSR-PyTorch)."""

    def __init__(self, in_ch: int, growth: int):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(in_ch, growth, 3, padding=1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((x, self.conv(x)), 1)


class ResidualDenseBlock(nn.Module):
    def __init__(self, n_feats: int, growth: int, n_convs: int):
        super().__init__()
        self.convs = nn.Sequential(*(DenseLayer(n_feats + c * growth, growth) for c in range(n_convs)))
        self.LFF = nn.Conv2d(n_feats + n_convs * growth, n_feats, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.LFF(self.convs(x))


class RDN(nn.Module):
    """RDN ×4 on RGB; `rgb_mean` (per channel, in the input's units) is subtracted first and added
    last when given (the Torch7 release's frozen mean-shift layers; a non-persistent buffer)."""

    def __init__(self, n_feats: int = 64, n_blocks: int = 16, n_convs: int = 8, growth: int = 64,
                 rgb_mean: Sequence[float] | None = None):
        super().__init__()
        self.rgb_mean = tuple(float(v) for v in rgb_mean) if rgb_mean is not None else None
        self.sub_mean = MeanShift(self.rgb_mean, 1.0, -1) if rgb_mean is not None else nn.Identity()
        self.add_mean = MeanShift(self.rgb_mean, 1.0, +1) if rgb_mean is not None else nn.Identity()
        self.SFENet1 = nn.Conv2d(3, n_feats, 3, padding=1)
        self.SFENet2 = nn.Conv2d(n_feats, n_feats, 3, padding=1)
        self.RDBs = nn.ModuleList(ResidualDenseBlock(n_feats, growth, n_convs) for _ in range(n_blocks))
        self.GFF = nn.Sequential(nn.Conv2d(n_blocks * n_feats, n_feats, 1), nn.Conv2d(n_feats, n_feats, 3, padding=1))
        self.UPNet = nn.Sequential(nn.Conv2d(n_feats, 4 * growth, 3, padding=1), nn.PixelShuffle(2),
                                   nn.Conv2d(growth, 4 * growth, 3, padding=1), nn.PixelShuffle(2),
                                   nn.Conv2d(growth, 3, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shallow = self.SFENet1(self.sub_mean(x))
        h = self.SFENet2(shallow)
        outputs = []
        for block in self.RDBs:
            h = block(h)
            outputs.append(h)
        h = self.GFF(torch.cat(outputs, 1)) + shallow
        return self.add_mean(self.UPNet(h))


def build_rdn(state_dict: StateDict | None = None, rgb_mean: Sequence[float] | None = None) -> RDN:
    """The network sized from a state dict in this module's names (config B when None)."""
    if state_dict is None:
        return RDN(rgb_mean=rgb_mean)
    return RDN(state_dict["SFENet1.weight"].shape[0], count_indexed(state_dict, r"^RDBs\.(\d+)\.LFF\.weight$"),
               count_indexed(state_dict, r"^RDBs\.0\.convs\.(\d+)\.conv\.0\.weight$"),
               state_dict["RDBs.0.convs.0.conv.0.weight"].shape[0], rgb_mean)


# --------------------------------------------------------------------------- the Torch7 release

def _conv_tensors(path: Path, index: int, module: TorchObject) -> tuple[np.ndarray, np.ndarray]:
    """(weight out×in×kH×kW, bias) of a Torch7 conv module; `UserError` for anything but a stride-1,
    'same'-padded, ungrouped conv with a bias."""
    try:
        out_ch, in_ch, kh, kw = (int(module[k]) for k in ("nOutputPlane", "nInputPlane", "kH", "kW"))
        weight, bias = np.asarray(module["weight"], np.float32), np.asarray(module["bias"], np.float32)
    except (KeyError, TypeError, ValueError) as err:
        raise UserError(f"{path}: conv {index} ({module.class_name}) lacks its field {err}; "
                        "not the RDN release's model") from None
    geometry = (module.get("dW", 1), module.get("dH", 1), module.get("padW", 0), module.get("padH", 0),
                module.get("groups", 1))
    if geometry != (1, 1, kw // 2, kh // 2, 1) or weight.size != out_ch * in_ch * kh * kw or bias.size != out_ch:
        raise UserError(f"{path}: conv {index} is {out_ch}←{in_ch} {kh}×{kw} with stride/padding/groups {geometry} "
                        f"and {weight.size} weights; not the RDN release's model")
    return weight.reshape(out_ch, in_ch, kh, kw), bias.reshape(out_ch)


def _mean_shift(weight: np.ndarray, bias: np.ndarray, sign: int) -> np.ndarray | None:
    """The mean of a frozen mean-shift conv (1×1 3→3, identity weight, bias sign·mean), else None."""
    if weight.shape != (3, 3, 1, 1) or not np.allclose(weight.reshape(3, 3), np.eye(3), atol=1e-6):
        return None
    return sign * bias


def state_dict_from_t7(path: str | Path) -> tuple[StateDict, tuple[float, float, float] | None]:
    """The RDN release's `.t7` → (state dict in this module's names, RGB mean of its mean-shift
    layers in [0, 255] units or None). Convs are read depth first (`modules_in_order`) and named by
    `t7_order`; D and C are read from the tree (C = 3×3 convs before the first 1×1). `UserError`
    (one line, naming the file) for a tree with other module classes, a conv count that is no
    ×4 RDN, or a conv whose shape is not the one its place needs."""
    path = Path(path)
    root = read_t7(path)
    if isinstance(root, TorchObject) and root.class_name == "nn.DataParallelTable":
        root = root.get("modules", {}).get(1)
    modules = modules_in_order(root)
    if not modules:
        raise UserError(f"{path}: holds a {type(root).__name__}, not a Torch7 module tree; expected RDN_BIX4.t7")
    foreign = sorted({m.class_name for m in modules} - T7_CLASSES)
    if foreign:
        raise UserError(f"{path}: holds {', '.join(foreign[:3])}, which the RDN release's model has not; "
                        "expected RDN_BIX4.t7 (yulunzhang/RDN)")
    convs = [_conv_tensors(path, i, m) for i, m in enumerate(m for m in modules if m.class_name in T7_CONV_CLASSES)]
    mean = None
    if len(convs) >= 2 and (first := _mean_shift(*convs[0], -1)) is not None:
        last = _mean_shift(*convs[-1], +1)
        if last is None or not np.allclose(first, last, atol=1e-4):
            raise UserError(f"{path}: the first conv is a mean subtraction but the last conv does not add the same "
                            "mean back; not the RDN release's model")
        mean, convs = tuple(float(v) for v in first), convs[1:-1]
    one_by_one = [i for i, (w, _) in enumerate(convs) if w.shape[2:] == (1, 1)]
    if len(convs) < 8 or not one_by_one:
        raise UserError(f"{path}: {len(convs)} convs, no residual dense block; expected RDN_BIX4.t7")
    n_convs = one_by_one[0] - 2
    n_blocks, extra = divmod(len(convs) - 7, n_convs + 1)
    if n_convs < 1 or extra:
        raise UserError(f"{path}: {len(convs)} convs do not make an RDN ×4 with {n_convs} convs per block "
                        "(2 + D·(C+1) + 2 + 3); is it a ×2/×3 model? expected RDN_BIX4.t7")
    state: StateDict = {}
    for name, (weight, bias) in zip(t7_order(n_blocks, n_convs), convs):
        state[f"{name}.weight"] = torch.from_numpy(np.ascontiguousarray(weight))
        state[f"{name}.bias"] = torch.from_numpy(np.ascontiguousarray(bias))
    return state, mean


@register
class RDNMethod(SISRMethod):
    name = "rdn"
    description = "RDN x4 (Zhang et al., CVPR 2018), D16 C8 G64"
    convention = ("RGB; [0,255] for the official .t7 (DIV2K mean shift inside) and EDSR-PyTorch files, "
                  "[0,1] for yjn870/torchSR files (chosen by the file)")
    input_range = 255.0
    weights = WeightsSpec(
        files=("RDN_BIX4.t7", "rdn_x4.pth", "rdn_x4.pt"), trained_on="DIV2K",
        source=(f"official RDN_BIX4.t7 (Torch7): {RELEASE_LINKS}; third-party PyTorch ports: rdn_x4.pth "
                f"(yjn870/RDN-pytorch README) {YJN870_URL}, rdn_x4.pt (torchSR, converted from it) {TORCHSR_URL}"),
        formats=("RDN release Torch7 .t7 module tree (read here, convs mapped by order)",
                 "EDSR-PyTorch rdn.py state_dict (SFENet1, RDBs.i.convs.c.conv.0, LFF, GFF, UPNet)",
                 "yjn870/RDN-pytorch and torchSR state_dict (sfe1, rdbs.i.layers.c.conv, lff, gff, upscale, output)"),
        note="all three files are BI ×4 models trained on DIV2K",
        origins=(("rdn_x4.pth", THIRD_PARTY), ("rdn_x4.pt", THIRD_PARTY)),
    )
    table = YJN870_TABLE
    key_signature = ((r"^SFENet1\.weight$", r"^RDBs\.0\.convs\.0\.conv\.0\.weight$"),
                     (r"^sfe1\.weight$", r"^rdbs\.0\.layers\.0\.conv\.weight$"))

    def checkpoint_filter(self, state_dict: StateDict) -> StateDict:
        """yjn870/torchSR names → ours (and their [0, 1] range); EDSR-PyTorch names pass unchanged."""
        self.input_range = 1.0 if "sfe1.weight" in state_dict else 255.0
        return rename(state_dict, self.table)

    def build(self, state_dict=None) -> nn.Module:
        return build_rdn(state_dict)

    def load_checkpoint(self, weights_path, build, remap_with=None) -> nn.Module:
        """A `.t7` (the official release, read by `state_dict_from_t7`; [0, 255]) or a PyTorch state dict."""
        if weights_path is None or not is_t7(weights_path):
            return super().load_checkpoint(weights_path, build, remap_with)
        state, mean = state_dict_from_t7(weights_path)
        self.input_range = 255.0
        return load_into(build_rdn(state, mean), state, Checkpoint(Path(weights_path), state), what=self.name,
                         hint=self.weights_hint)
