"""Learnable texture extractor, LTE (paper §3.1).

The LTE is VGG19 up to ``relu3_1`` (layers conv1_1 … relu3_1), fed with RGB in [0, 1] shifted by
the ImageNet mean/std, and gives texture features at three levels: ``lv1`` = relu1_1 (1×, 64
channels), ``lv2`` = relu2_1 (½×, 128), ``lv3`` = relu3_1 (¼×, 256). It starts from the ImageNet
VGG19 weights and is trained with the network ("learnable"); the ablation without LTE keeps those
weights frozen (Table 2).

Submodule names follow the release (``slice1`` … ``slice3`` hold the torchvision
``vgg19().features`` layers under their original indices, ``sub_mean`` is the mean shift), so
state-dict keys read ``LTE.slice2.5.weight`` etc.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from foundation.errors import UserError
from foundation.pretrained import (IMAGENET_MEAN, IMAGENET_STD, find_backbone, load_backbone_state_dict,
                                   missing_backbone_message)

#: torchvision ``vgg19().features`` up to relu3_1: index → (kind, in, out).
VGG19_LAYERS: dict[int, tuple] = {
    0: ("conv", 3, 64), 1: ("relu",),            # conv1_1, relu1_1
    2: ("conv", 64, 64), 3: ("relu",),           # conv1_2
    4: ("pool",),
    5: ("conv", 64, 128), 6: ("relu",),          # conv2_1, relu2_1
    7: ("conv", 128, 128), 8: ("relu",),         # conv2_2
    9: ("pool",),
    10: ("conv", 128, 256), 11: ("relu",),       # conv3_1, relu3_1
}
#: The three slices whose outputs are the texture levels lv1, lv2, lv3.
SLICES = {"slice1": range(0, 2), "slice2": range(2, 7), "slice3": range(7, 12)}
#: Channels of lv1, lv2, lv3.
LEVEL_CHANNELS = {"lv1": 64, "lv2": 128, "lv3": 256}


def _layer(spec: tuple) -> nn.Module:
    kind = spec[0]
    if kind == "conv":
        return nn.Conv2d(spec[1], spec[2], kernel_size=3, padding=1)
    if kind == "relu":
        return nn.ReLU()
    return nn.MaxPool2d(kernel_size=2, stride=2)


class MeanShift(nn.Conv2d):
    """1×1 convolution computing ``(x - mean) / std`` per channel (the VGG input normalisation).

    Kept as a convolution so the release's ``LTE.sub_mean.{weight,bias}`` keys exist; its
    parameters are fixed (the release meant them frozen but its flag did not freeze them).
    """

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> None:
        super().__init__(3, 3, kernel_size=1)
        std_t = torch.tensor(std, dtype=torch.float32)
        with torch.no_grad():
            self.weight.copy_(torch.eye(3).view(3, 3, 1, 1) / std_t.view(3, 1, 1, 1))
            self.bias.copy_(-torch.tensor(mean, dtype=torch.float32) / std_t)
        self.requires_grad_(False)


class LTE(nn.Module):
    """VGG19 conv1_1…relu3_1 texture extractor: [0, 1] RGB → (lv1, lv2, lv3) (§3.1)."""

    def __init__(self, learnable: bool = True) -> None:
        super().__init__()
        for name, indices in SLICES.items():
            self.add_module(name, nn.Sequential(OrderedDict(
                (str(i), _layer(VGG19_LAYERS[i])) for i in indices)))
        self.sub_mean = MeanShift()
        self.learnable = learnable
        if not learnable:
            for name in SLICES:
                getattr(self, name).requires_grad_(False)

    #: Inference on large images runs in bands of this many rows (a multiple of 4) …
    band_rows = 128
    #: … with this much context above and below (a multiple of 4, beyond relu3_1's receptive radius
    #: of 13 px, so the kept rows see exactly the image rows the whole-image pass sees) …
    band_halo = 16
    #: … when the image has at least this many pixels.
    band_min_pixels = 512 * 512

    def forward(self, x: torch.Tensor, lv3_only: bool = False) -> tuple:
        """(lv1, lv2, lv3); ``lv3_only``: (None, None, lv3) where that saves memory (the banded
        inference pass then allocates no full-size lv1/lv2: 480 MB on a 2500×500 reference)."""
        height, width = x.shape[-2:]
        if (torch.is_grad_enabled() or height % 4 or height * width < self.band_min_pixels
                or height <= self.band_rows + 2 * self.band_halo):
            levels = self._levels(x)
            return (None, None, levels[2]) if lv3_only else levels
        return self._levels_in_bands(x, lv3_only)

    def _levels(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.sub_mean(x)
        levels = []
        for name in SLICES:
            x = getattr(self, name)(x)
            levels.append(x)
        return levels[0], levels[1], levels[2]

    def _levels_in_bands(self, x: torch.Tensor, lv3_only: bool = False) -> tuple:
        """The three levels of a large image, computed band by band (inference only).

        Only the outputs are full-size; the conv1_x/conv2_x intermediates exist for one band at a
        time (on a 2500×500 reference they are two 64-channel full-resolution maps otherwise).
        Values equal the whole-image pass up to float rounding of the convolutions.
        """
        n, _, height, width = x.shape
        scales = (1, 2, 4)
        outs = [None if lv3_only and lv != "lv3" else x.new_empty(n, LEVEL_CHANNELS[lv], height // s, width // s)
                for lv, s in zip(LEVEL_CHANNELS, scales)]
        for y0, y1, levels in self.bands(x):
            for out, level, s in zip(outs, levels, scales):
                if out is not None:
                    out[..., y0 // s:y1 // s, :] = level
        return outs[0], outs[1], outs[2]

    def bands(self, x: torch.Tensor):
        """Yield ``(y0, y1, (lv1, lv2, lv3))``: the levels of image rows [y0, y1) (multiples of 4 but
        the last), ``band_rows`` at a time, each computed with ``band_halo`` rows of context (inference;
        the same values as the whole-image pass up to float rounding). For a consumer that needs the
        levels of a large image one band at a time (`ttsr.search_transfer.transfer_bands`)."""
        height = x.shape[-2]
        for y0 in range(0, height, self.band_rows):
            y1 = min(y0 + self.band_rows, height)
            top, bottom = max(0, y0 - self.band_halo), min(height, y1 + self.band_halo)
            levels = self._levels(x[..., top:bottom, :])
            yield y0, y1, tuple(level[..., (y0 - top) // s:(y1 - top) // s, :]
                                for level, s in zip(levels, (1, 2, 4)))


def imagenet_init_status() -> tuple[bool, str]:
    """(available, message) for initialising the LTE from torchvision's ImageNet VGG19.

    Training needs these weights; inference from a full TTSR checkpoint does not (the checkpoint
    holds the trained LTE).
    """
    path = find_backbone("vgg19")
    if path is not None:
        return True, f"LTE initialised from ImageNet VGG19 ({path})"
    return False, missing_backbone_message(
        "vgg19", "training TTSR (LTE initialisation, paper §3.1; inference from a full TTSR checkpoint does not)")


def load_imagenet_vgg19(lte: LTE) -> None:
    """Copy torchvision's ImageNet VGG19 ``features.*`` weights into the LTE slices.

    Raises `UserError` when the weights are not in the torch hub cache; never downloads.
    """
    available, message = imagenet_init_status()
    if not available:
        raise UserError(message)
    source = load_backbone_state_dict(
        "vgg19", "training TTSR (LTE initialisation, paper §3.1)")
    with torch.no_grad():
        for name, indices in SLICES.items():
            for i in indices:
                if VGG19_LAYERS[i][0] != "conv":
                    continue
                conv = getattr(getattr(lte, name), str(i))
                for param in ("weight", "bias"):
                    key = f"features.{i}.{param}"
                    if key not in source or source[key].shape != getattr(conv, param).shape:
                        raise UserError(f"the cached VGG19 weights lack {key} of the expected shape; "
                                        "delete the file and fetch it again")
                    getattr(conv, param).copy_(source[key])
