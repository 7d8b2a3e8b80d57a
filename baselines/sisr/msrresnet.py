"""MSRResNet / MSRGAN / RankSRGAN ×4: the modified SRResNet of MMSR/BasicSR (Wang et al.), the usual
stand-in for SRGAN (Ledig et al. published no weights), and the generator of RankSRGAN (Zhang et al.,
ICCV 2019; TTSR's "RSRGAN" row).

Registered here: `msrresnet`, `msrgan`, `rsrgan` (alias `ranksrgan`: the `_NIQE` model of
XPixelGroup/RankSRGAN, the one TTSR's row uses) and `srgan` (an explicitly labelled substitute: the
MSRGAN file under Table 1's SRGAN row, origin "substitute" in its weights record).
Source of the network: XPixelGroup/RankSRGAN@b313c24a25c9844d1d0c7ea8fd1e35da00ad8975
`codes/models/archs/SRResNet_arch.py` (`MSRResNet`, nf 64, nb 16, upscale 4) and
`codes/models/archs/arch_util.py` (`ResidualBlock_noBN`); the same network as BasicSR's
`basicsr/archs/srresnet_arch.py`. Exactness: `tests/golden/msrresnet_release_small.pt`
(`tests/golden/make_msrresnet_release_small.py`).
Key-compatible with MMSR/RankSRGAN naming (`recon_trunk`, `HRconv`) and BasicSR's (`body`,
`conv_hr`, `{'params': ...}`) — this module uses BasicSR's names.

Network: conv 3→64 + LeakyReLU 0.1; 16 residual blocks (conv-ReLU-conv + identity, no BN); twice
[conv 64→256, PixelShuffle(2), LeakyReLU 0.1]; conv + LeakyReLU 0.1; conv 64→3; plus the LR
enlarged ×4 bilinearly (align_corners False). No global skip around the body. RGB in [0, 1].
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from baselines.registry import SUBSTITUTE, WeightsSpec, register
from baselines.sisr.common import ResidualBlock, SISRMethod, conv, count_indexed

MMSR_DRIVE = ("BasicSR/MMSR ModelZoo, Google Drive folder 15DgDtfaLASQ3iAPJEVHQF49g9msexECG; "
              "RankSRGAN's Google Drive folder 1_KhEc_zBRW7iLeEJITU3i923DC6wv51T")


class MSRResNet(nn.Module):
    def __init__(self, n_feats: int = 64, n_blocks: int = 16, scale: int = 4):
        super().__init__()
        self.scale = scale
        self.conv_first = conv(3, n_feats)
        self.body = nn.Sequential(*(ResidualBlock(n_feats) for _ in range(n_blocks)))
        self.upconv1 = conv(n_feats, 4 * n_feats)
        self.upconv2 = conv(n_feats, 4 * n_feats)
        self.pixel_shuffle = nn.PixelShuffle(2)
        self.conv_hr = conv(n_feats, n_feats)
        self.conv_last = conv(n_feats, 3)
        self.lrelu = nn.LeakyReLU(0.1, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(self.lrelu(self.conv_first(x)))
        for up in (self.upconv1, self.upconv2):
            h = self.lrelu(self.pixel_shuffle(up(h)))
        base = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return self.conv_last(self.lrelu(self.conv_hr(h))) + base


class _MSRResNetFamily(SISRMethod):
    convention = "RGB [0,1]"
    input_range = 1.0
    table = (
        (r"^recon_trunk\.(\d+)\.", r"body.\1."),  # MMSR / RankSRGAN
        (r"^HRconv\.", "conv_hr."),
    )
    key_signature = ((r"^upconv1\.weight$", r"^(recon_trunk|body)\.0\.conv1\.weight$"),)
    formats = ("MMSR / RankSRGAN state_dict (recon_trunk, HRconv)",
               "BasicSR {'params': ...} (body, conv_hr)")

    def build(self, state_dict=None) -> nn.Module:
        if state_dict is None:
            return MSRResNet()
        return MSRResNet(state_dict["conv_first.weight"].shape[0],
                         count_indexed(state_dict, r"^body\.(\d+)\.conv1\.weight$"))


@register
class MSRResNetMethod(_MSRResNetFamily):
    name = "msrresnet"
    description = "MSRResNet x4 (MMSR/BasicSR modified SRResNet, PSNR-oriented)"
    weights = WeightsSpec(files=("MSRResNetx4.pth", "mmsr_SRResNet_pretrain.pth"), source=MMSR_DRIVE, trained_on="DIV2K",
                          formats=_MSRResNetFamily.formats,
                          note="stand-in for SRResNet: Ledig et al. released no weights")


@register
class MSRGANMethod(_MSRResNetFamily):
    name = "msrgan"
    description = "MSRGAN x4 (MMSR/BasicSR SRGAN generator), stand-in for SRGAN"
    weights = WeightsSpec(files=("MSRGANx4.pth",), trained_on="DIV2K", source=MMSR_DRIVE + " (file id 1c0YNygNMfTLynR-C3y7nsZgaWbczbW5j)",
                          drive="https://drive.google.com/file/d/1c0YNygNMfTLynR-C3y7nsZgaWbczbW5j/view",
                          formats=_MSRResNetFamily.formats,
                          note="stand-in for SRGAN: Ledig et al. released no weights")


RANKSRGAN_DRIVE = "https://drive.google.com/drive/folders/1_KhEc_zBRW7iLeEJITU3i923DC6wv51T"


@register(aliases=("ranksrgan",))
class RankSRGANMethod(_MSRResNetFamily):
    """RankSRGAN ×4, NIQE-oriented (`mmsr_RankSRGAN_NIQE.pth`): TTSR's "RSRGAN" row.

    The generator is MMSR's MSRResNet (nf 64, nb 16) in MMSR naming (`recon_trunk`, `HRconv`), read
    through the family's remap table. Release: XPixelGroup/RankSRGAN@b313c24 (README "Download
    pretrained models", `codes/options/test/test_RankSRGAN.yml`: `pretrain_model_G:
    mmsr_RankSRGAN_NIQE.pth`, `which_model_G: SRResNet`). Input and output RGB [0, 1]; trained on
    MATLAB-bicubic LR (the release's `experiments/pretrained_models/readme.md`).
    """

    name = "rsrgan"
    description = "RankSRGAN x4, NIQE model (Zhang et al. ICCV 2019; MMSR MSRResNet generator)"
    key_signature = ()  # the family's files are recognised as msrgan's; the same network
    weights = WeightsSpec(
        files=("mmsr_RankSRGAN_NIQE.pth",),
        source=("XPixelGroup/RankSRGAN README: Google Drive folder 1_KhEc_zBRW7iLeEJITU3i923DC6wv51T "
                "(mmsr_RankSRGAN_NIQE.pth; the _Ma / _PI files are other models)"),
        drive=RANKSRGAN_DRIVE, formats=("MMSR / RankSRGAN state_dict (recon_trunk, HRconv)",),
        trained_on="DIV2K",  # codes/options/train/train_RankSRGAN.yml: DIV2K_train_HR
        note="official RankSRGAN weights (trained on DIV2K, not the CUFED retraining of TTSR's Table 1)")


SRGAN_SUBSTITUTE = "substitute: MSRGAN (MMSR/BasicSR), not Ledig et al.'s SRGAN"


@register
class SRGANSubstituteMethod(_MSRResNetFamily):
    """Table 1's "SRGAN" row, measured with a substitute: the MSRGAN network and file of `msrgan`.

    Ledig et al. (CVPR 2017) released no weights; this entry runs MMSR/BasicSR's MSRGAN (a modified
    SRResNet generator trained with the SRGAN losses) under the name the paper's table uses, and its
    weights record says so (`origins`: "substitute"), so that the manifest and the report cell carry
    the label. The file is the same `MSRGANx4.pth` as `msrgan`'s (found under either name's folder).
    """

    name = "srgan"
    description = f"SRGAN row x4 ({SRGAN_SUBSTITUTE})"
    key_signature = ()  # msrgan's files: the same network
    weights = WeightsSpec(files=MSRGANMethod.weights.files, source=MSRGANMethod.weights.source,
                          drive=MSRGANMethod.weights.drive, formats=_MSRResNetFamily.formats,
                          origins=((MSRGANMethod.weights.filename, SUBSTITUTE),),
                          trained_on="DIV2K",  # BasicSR options/train/SRResNet_SRGAN/train_MSRGAN_x4.yml
                          note=f"{SRGAN_SUBSTITUTE}: Ledig et al. released no weights")
