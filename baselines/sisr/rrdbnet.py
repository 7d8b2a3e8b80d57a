"""RRDBNet ×4 (Wang et al., "ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks",
ECCVW 2018): `esrgan` (RRDB_ESRGAN_x4, perceptual) and `rrdb-psnr` (RRDB_PSNR_x4, PSNR-oriented).
Key-compatible with all three published namings: the old sequential one (`model.1.sub.…`), the
current xinntao/ESRGAN one (`RRDB_trunk`, `trunk_conv`, `HRconv`) and BasicSR's (`body.i.rdb1`,
`conv_body`, `conv_hr`, `{'params': ...}`) — this module uses BasicSR's names.

Network: conv 3→64; 23 RRDBs (three residual dense blocks, each of five 3×3 convs with growth 32
and LeakyReLU 0.2 after the first four, output 0.2·conv5 + x; RRDB output 0.2·out + x); trunk
conv and a global skip; twice [nearest ×2, conv, LeakyReLU 0.2]; conv + LeakyReLU; conv 64→3.
RGB in [0, 1]; no mean shift.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from baselines.registry import WeightsSpec, register
from baselines.sisr.common import SISRMethod, conv, count_indexed

#: The ESRGAN release's Google Drive folder (xinntao/ESRGAN README, "Quick Test"; models/README.md names
#: its two files RRDB_ESRGAN_x4.pth and RRDB_PSNR_x4.pth).
ESRGAN_DRIVE_FOLDER = "https://drive.google.com/drive/folders/17VYV_SoZZesU6mbxz2dMAIccSSlqLecY"
ESRGAN_DRIVE = f"{ESRGAN_DRIVE_FOLDER} (xinntao/ESRGAN README)"


class ResidualDenseBlock(nn.Module):
    def __init__(self, n_feats: int = 64, growth: int = 32):
        super().__init__()
        for i in range(5):
            self.add_module(f"conv{i + 1}", conv(n_feats + i * growth, growth if i < 4 else n_feats))
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for i in range(1, 5):
            features.append(self.lrelu(getattr(self, f"conv{i}")(torch.cat(features, dim=1))))
        return x + 0.2 * self.conv5(torch.cat(features, dim=1))


class RRDB(nn.Module):
    def __init__(self, n_feats: int = 64, growth: int = 32):
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = (ResidualDenseBlock(n_feats, growth) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.rdb3(self.rdb2(self.rdb1(x)))


class RRDBNet(nn.Module):
    def __init__(self, n_feats: int = 64, n_blocks: int = 23, growth: int = 32):
        super().__init__()
        self.conv_first = conv(3, n_feats)
        self.body = nn.Sequential(*(RRDB(n_feats, growth) for _ in range(n_blocks)))
        self.conv_body = conv(n_feats, n_feats)
        self.conv_up1 = conv(n_feats, n_feats)
        self.conv_up2 = conv(n_feats, n_feats)
        self.conv_hr = conv(n_feats, n_feats)
        self.conv_last = conv(n_feats, 3)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_first(x)
        h = h + self.conv_body(self.body(h))
        for up in (self.conv_up1, self.conv_up2):
            h = self.lrelu(up(F.interpolate(h, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(h)))


# Every published naming -> BasicSR's (this module's). Old sequential: model.0 first conv,
# model.1.sub.{i} RRDBs and model.1.sub.{N} the trunk conv, model.3/6 up convs, model.8 HR conv,
# model.10 last conv; old RDB convs carry a `.0` (conv inside a Sequential with its activation).
RRDB_TABLE = (
    # current xinntao/ESRGAN
    (r"^RRDB_trunk\.(\d+)\.RDB(\d)\.", r"body.\1.rdb\2."),
    (r"^trunk_conv\.", "conv_body."),
    (r"^upconv1\.", "conv_up1."),
    (r"^upconv2\.", "conv_up2."),
    (r"^HRconv\.", "conv_hr."),
    # old sequential
    (r"^model\.0\.", "conv_first."),
    (r"^model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.", r"body.\1.rdb\2.conv\3."),
    (r"^model\.1\.sub\.\d+\.(weight|bias)$", r"conv_body.\1"),
    (r"^model\.3\.", "conv_up1."),
    (r"^model\.6\.", "conv_up2."),
    (r"^model\.8\.", "conv_hr."),
    (r"^model\.10\.", "conv_last."),
)


class _RRDBMethod(SISRMethod):
    convention = "RGB [0,1]"
    input_range = 1.0
    table = RRDB_TABLE
    key_signature = ((r"^RRDB_trunk\.0\.RDB1\.conv1\.weight$",), (r"^model\.1\.sub\.0\.RDB1\.conv1\.0\.weight$",),
                     (r"^body\.0\.rdb1\.conv1\.weight$",))
    formats = ("xinntao/ESRGAN state_dict (RRDB_trunk/trunk_conv/HRconv)",
               "old sequential ESRGAN state_dict (model.1.sub.*)",
               "BasicSR {'params': ...} / {'params_ema': ...} (body.i.rdb1/conv_body/conv_hr)")

    def build(self, state_dict=None) -> nn.Module:
        if state_dict is None:
            return RRDBNet()
        n_blocks = count_indexed(state_dict, r"^body\.(\d+)\.rdb1\.conv1\.weight$")
        growth = state_dict["body.0.rdb1.conv1.weight"].shape[0]
        return RRDBNet(state_dict["conv_first.weight"].shape[0], n_blocks, growth)


@register
class ESRGANMethod(_RRDBMethod):
    name = "esrgan"
    description = "ESRGAN x4 (RRDB_ESRGAN_x4, Wang et al., ECCVW 2018), official weights"
    weights = WeightsSpec(
        files=("RRDB_ESRGAN_x4.pth", "ESRGAN_SRx4_DF2KOST_official-ff704c30.pth"), trained_on="DF2K+OST",
        source=ESRGAN_DRIVE + "; BasicSR conversion ESRGAN_SRx4_DF2KOST_official-ff704c30.pth in the BasicSR ModelZoo",
        url=None, drive=ESRGAN_DRIVE_FOLDER, sha256=None, formats=_RRDBMethod.formats)


@register
class RRDBPSNRMethod(_RRDBMethod):
    name = "rrdb-psnr"
    description = "RRDB_PSNR x4 (the PSNR-oriented ESRGAN generator), official weights"
    weights = WeightsSpec(
        files=("RRDB_PSNR_x4.pth", "ESRGAN_PSNR_SRx4_DF2K_official-150ff491.pth"), trained_on="DF2K",
        source=ESRGAN_DRIVE + "; BasicSR conversion ESRGAN_PSNR_SRx4_DF2K_official-150ff491.pth in the BasicSR ModelZoo",
        url=None, drive=ESRGAN_DRIVE_FOLDER, sha256=None, formats=_RRDBMethod.formats)
