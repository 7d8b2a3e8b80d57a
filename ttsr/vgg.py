"""VGG19 up to relu5_1: the feature space of the perceptual loss (paper §3.4, Eq. 8).

The perceptual loss compares φ_relu5_1(I_SR) and φ_relu5_1(I_HR) of an ImageNet-trained VGG19.
Layers are built here with torchvision's `features.N` numbering (conv1_1 = 0 … relu5_1 = 29), so
torchvision's `vgg19-dcbb9e9c.pth` loads into them without renaming; the classifier (120M
parameters never used by the loss) is not built. Inputs are in [-1, 1] like the network's; they
are mapped to [0, 1] and normalised with the ImageNet mean/std as the release does.

Weights come only from the torch hub cache (`foundation.pretrained`). `random_ok=True` builds a
randomly initialised copy instead — for smoke tests only, and the trainer records it.
"""
from __future__ import annotations

import torch
from torch import nn

from foundation.pretrained import IMAGENET_MEAN, IMAGENET_STD, load_backbone_state_dict

#: torchvision's VGG19 ("E") layer plan up to relu5_1: channel counts, "M" = max-pool.
PLAN = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512)


def vgg19_layers(plan=PLAN) -> nn.Sequential:
    """conv/ReLU/max-pool layers numbered as torchvision's `vgg19().features`."""
    layers: list[nn.Module] = []
    channels = 3
    for item in plan:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, item, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = item
    return nn.Sequential(*layers)


def vgg19_imagenet_state_dict(purpose: str) -> dict[str, torch.Tensor]:
    """torchvision's VGG19 ImageNet state dict from the hub cache, or a UserError saying how to get it."""
    return load_backbone_state_dict("vgg19", purpose)


class VGG19Relu51(nn.Module):
    """Frozen φ(x) = VGG19 relu5_1 features of x ∈ [-1, 1] (N, 3, H, W) -> (N, 512, H/16, W/16)."""

    def __init__(self, random_ok: bool = False, state_dict: dict[str, torch.Tensor] | None = None):
        super().__init__()
        self.features = vgg19_layers()
        self.pretrained = True
        if state_dict is None and not random_ok:
            state_dict = vgg19_imagenet_state_dict("the perceptual loss (VGG19 relu5_1, paper Eq. 8)")
        if state_dict is not None:
            own = {k: v for k, v in state_dict.items() if k.startswith("features.")
                   and int(k.split(".")[1]) < len(self.features)}
            self.load_state_dict(own)
        else:
            self.pretrained = False
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):  # always eval: no dropout/BN here, but keep it explicit
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = ((x + 1.0) * 0.5 - self.mean) / self.std
        return self.features(x)
