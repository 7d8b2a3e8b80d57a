"""The loss terms of the Table 1 recipes that TTSR's trainer does not own (`training.table1`).

Images are N×3×H×W float tensors in [-1, 1] (the trainer's range); every loss returns a 0-d tensor.

- `charbonnier(sr, hr)`: Σ sqrt((sr − hr)² + ε²) / N with ε = 1e-3 on [0, 1] images (CrossNet
  release htzheng/ECCV2018_CrossNet_RefSR@03959f2 `ref_utils/CustomLoss.py`: a sum over pixels
  divided by the batch size, not a mean).
- `VGGFeatures(layers)`: frozen ImageNet VGG19 (torchvision numbering, `ttsr.vgg.vgg19_layers`),
  returning the named layers: "conv5_4" (before ReLU: ESRGAN, MMSR's VGG54, index 34),
  "relu5_4" (SRGAN's φ5,4 after activation), "pool2", "pool5" (EnhanceNet's L_P), "relu1_1",
  "relu2_1", "relu3_1" (EnhanceNet's L_T). Inputs are mapped to [0, 1] and ImageNet-normalised.
- `feature_loss`: Σ_l w_l · criterion(φ_l(SR), φ_l(HR)), criterion "l1" or "mse" (means).
- `texture_loss`: EnhanceNet's L_T: Gram matrices of each `patch`×`patch` tile of the feature map
  (G = FᵀF / (C·h·w) of the tile), mean squared difference between SR and HR, weighted per layer.
- `VGGCritic(patch)`: the SRGAN/ESRGAN discriminator layout (MMSR `Discriminator_VGG_128`:
  conv-BN-LeakyReLU(0.2) pairs 64→512 with five stride-2 halvings, dense 100, dense 1), its
  dense input sized for `patch` (≥ 32).
- GAN losses on raw critic outputs (logits): `vanilla_*` (SRGAN: BCE, real → 1, fake → 0, the
  generator's fake → 1) and `relativistic_*` (ESRGAN's RaGAN: D_Ra(a, b) = σ(C(a) − E[C(b)]);
  critic: BCE(D_Ra(real, fake), 1) + BCE(D_Ra(fake, real), 0), halved as the ESRGAN release;
  generator: the labels swapped).
"""
from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from foundation.pretrained import IMAGENET_MEAN, IMAGENET_STD
from metrics.release_psnr_ssim import Y_COEFFS, Y_OFFSET

#: torchvision VGG19 `features` index of each named layer.
VGG_LAYERS = {"relu1_1": 1, "relu2_1": 6, "pool2": 9, "relu3_1": 11, "conv5_4": 34, "relu5_4": 35, "pool5": 36}
_FULL_PLAN = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M")


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] → [0, 1]."""
    return (x + 1.0) * 0.5


def luma(x: torch.Tensor) -> torch.Tensor:
    """N×3×H×W RGB in [-1, 1] → N×1×H×W BT.601 Y/255 in [16/255, 235/255] (the Y of the metrics,
    `metrics.release_psnr_ssim.Y_COEFFS`, not rounded): SRCNN's training target (Dong et al. §4.1)."""
    coeffs = torch.tensor(Y_COEFFS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return ((x + 1.0) * 127.5 * coeffs).sum(1, keepdim=True).add(Y_OFFSET).div(255.0)


def charbonnier(sr: torch.Tensor, hr: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    diff = to_unit(sr.float()) - to_unit(hr.float())
    return torch.sqrt(diff * diff + eps * eps).sum() / sr.shape[0]


class VGGFeatures(nn.Module):
    """Frozen VGG19 features at `layers` (names of `VGG_LAYERS`) of x ∈ [-1, 1]; `random_ok` builds
    a random copy when the ImageNet weights are absent (smoke tests only)."""

    def __init__(self, layers, random_ok: bool = False):
        super().__init__()
        from ttsr.vgg import vgg19_imagenet_state_dict, vgg19_layers

        unknown = sorted(set(layers) - set(VGG_LAYERS))
        if unknown:
            raise ValueError(f"unknown VGG layers {unknown}; known: {', '.join(VGG_LAYERS)}")
        self.layers = tuple(layers)
        last = max(VGG_LAYERS[name] for name in self.layers)
        self.features = vgg19_layers(_FULL_PLAN)[:last + 1]
        self.pretrained = not random_ok
        if not random_ok:
            state = vgg19_imagenet_state_dict("the perceptual loss of a Table 1 recipe (VGG19)")
            self.load_state_dict({k: v for k, v in state.items() if k.startswith("features.")
                                  and int(k.split(".")[1]) <= last and k.endswith(("weight", "bias"))})
        for module in self.features:  # a ReLU in place would overwrite a conv output we return
            if isinstance(module, nn.ReLU):
                module.inplace = False
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "VGGFeatures":
        return super().train(False)  # always frozen

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = (to_unit(x) - self.mean) / self.std
        wanted = {VGG_LAYERS[name]: name for name in self.layers}
        out: dict[str, torch.Tensor] = {}
        for index, module in enumerate(self.features):
            h = module(h)
            if index in wanted:
                out[wanted[index]] = h
        return out


def feature_loss(sr_features: Mapping[str, torch.Tensor], hr_features: Mapping[str, torch.Tensor],
                 weights: Mapping[str, float], criterion: str) -> torch.Tensor:
    fn = F.l1_loss if criterion == "l1" else F.mse_loss
    return sum(w * fn(sr_features[name].float(), hr_features[name].float()) for name, w in weights.items())


def tile_gram(features: torch.Tensor, patch: int) -> torch.Tensor:
    """Gram matrices of the `patch`×`patch` tiles of N×C×H×W features → (N·tiles)×C×C."""
    n, c, h, w = features.shape
    p = max(1, min(patch, h, w))
    tiles = features[:, :, :h - h % p, :w - w % p].unfold(2, p, p).unfold(3, p, p)  # N C th tw p p
    tiles = tiles.permute(0, 2, 3, 1, 4, 5).reshape(-1, c, p * p)
    return tiles @ tiles.transpose(1, 2) / (c * p * p)


def texture_loss(sr_features: Mapping[str, torch.Tensor], hr_features: Mapping[str, torch.Tensor],
                 weights: Mapping[str, float], patch: int) -> torch.Tensor:
    return sum(w * F.mse_loss(tile_gram(sr_features[name].float(), patch), tile_gram(hr_features[name].float(), patch))
               for name, w in weights.items())


class VGGCritic(nn.Module):
    """SRGAN/ESRGAN discriminator (MMSR `Discriminator_VGG_128` layout) for `patch`×`patch` inputs."""

    def __init__(self, patch: int, nf: int = 64):
        super().__init__()
        side = patch
        for _ in range(5):  # five 4×4 stride-2 convolutions with padding 1
            side = (side - 2) // 2 + 1
        if side < 1:
            raise ValueError(f"patch {patch}: too small for the VGG critic (five halvings); use at least 32")
        widths = (nf, nf * 2, nf * 4, nf * 8, nf * 8)
        layers: list[nn.Module] = [nn.Conv2d(3, nf, 3, 1, 1), nn.LeakyReLU(0.2)]
        channels = nf
        for i, width in enumerate(widths):
            if i:
                layers += [nn.Conv2d(channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.LeakyReLU(0.2)]
            layers += [nn.Conv2d(width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.LeakyReLU(0.2)]
            channels = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(channels * side * side, 100), nn.LeakyReLU(0.2),
                                        nn.Linear(100, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits.float(), torch.full_like(logits.float(), target))


def vanilla_critic_loss(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor):
    real_logits, fake_logits = critic(real), critic(fake)
    loss = _bce(real_logits, 1.0) + _bce(fake_logits, 0.0)
    return loss, {"d_real": real_logits.detach().mean(), "d_fake": fake_logits.detach().mean()}


def vanilla_adversarial_loss(critic: nn.Module, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    return _bce(critic(sr), 1.0)


def relativistic_critic_loss(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor):
    real_logits, fake_logits = critic(real), critic(fake)
    loss = 0.5 * (_bce(real_logits - fake_logits.mean(), 1.0) + _bce(fake_logits - real_logits.mean(), 0.0))
    return loss, {"d_real": real_logits.detach().mean(), "d_fake": fake_logits.detach().mean()}


def relativistic_adversarial_loss(critic: nn.Module, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    real_logits = critic(hr).detach()
    fake_logits = critic(sr)
    return 0.5 * (_bce(real_logits - fake_logits.mean(), 0.0) + _bce(fake_logits - real_logits.mean(), 1.0))
