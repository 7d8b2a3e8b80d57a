"""Pretrained backbone weights from torchvision's hub cache — found, never fetched silently.

The LTE initialisation and the perceptual loss (paper §3.1, §3.4) use ImageNet VGG19; LPIPS uses
AlexNet; DISTS uses VGG16. These files live in `$TORCH_HOME/hub/checkpoints` under torchvision's
names. When one is absent the caller gets a `UserError` saying where to put it (or how to fetch
it with `python -m benchmarks.weights fetch NAME`); nothing is ever replaced by random weights.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from foundation.errors import UserError
from foundation.safeload import load_torch_file

#: RGB mean and standard deviation of ImageNet for inputs in [0, 1], the normalisation every
#: torchvision ImageNet backbone expects (torchvision's `models/vgg.py` weights transforms)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class BackboneWeights:
    name: str
    filename: str
    url: str
    sha256_prefix: str  # torchvision puts the first hex digits of the sha256 in the file name


BACKBONES = {
    "vgg19": BackboneWeights("vgg19", "vgg19-dcbb9e9c.pth",
                             "https://download.pytorch.org/models/vgg19-dcbb9e9c.pth", "dcbb9e9c"),
    "vgg16": BackboneWeights("vgg16", "vgg16-397923af.pth",
                             "https://download.pytorch.org/models/vgg16-397923af.pth", "397923af"),
    "alexnet": BackboneWeights("alexnet", "alexnet-owt-7be5be79.pth",
                               "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", "7be5be79"),
}


def hub_checkpoint_dir() -> Path:
    """`$TORCH_HOME/hub/checkpoints` (torchvision's cache), read at call time."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def find_backbone(name: str) -> Path | None:
    """The cached weights file of backbone `name`, or None when it is not in the hub cache."""
    path = hub_checkpoint_dir() / BACKBONES[name].filename
    return path if path.is_file() else None


def missing_backbone_message(name: str, purpose: str) -> str:
    spec = BACKBONES[name]
    return (f"{spec.filename} (torchvision ImageNet {name}) is not in {hub_checkpoint_dir()}; "
            f"{purpose} needs it: run `python -m benchmarks.weights fetch {name}` or download "
            f"{spec.url} into that folder (TORCH_HOME moves it)")


def require_backbone(name: str, purpose: str) -> Path:
    """The cached weights path, or a `UserError` naming the file, its source and its place."""
    path = find_backbone(name)
    if path is None:
        raise UserError(missing_backbone_message(name, purpose))
    return path


def load_backbone_state_dict(name: str, purpose: str) -> dict[str, torch.Tensor]:
    path = require_backbone(name, purpose)
    return load_torch_file(path, f"a readable {name} state dict", "delete it and fetch it again")
