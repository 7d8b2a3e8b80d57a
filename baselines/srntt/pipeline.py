"""SRNTT inference as the release runs it (release ZZUTK/SRNTT@195ce3a `SRNTT/model.py` test): VGG maps → swap → network.

Inputs are float tensors in [0, 255] (the harness convention): LR, LR↑ (bicubic ×4), the
reference(s) Ref (cropped to a multiple of 4) and Ref↓↑. The network sees LR/127.5 − 1 and its
tanh output is mapped back to [0, 255].
"""
from __future__ import annotations

import torch
from torch import nn

from baselines.srntt.network import SRNTT
from baselines.srntt.swap import swap, swap_dense
from baselines.srntt.vgg import MatConvNetVGG19

SWAP_LAYERS = ("relu3_1", "relu2_1", "relu1_1")


class SRNTTPipeline(nn.Module):
    """The SRNTT network plus the MatConvNet VGG19 whose features are swapped."""

    def __init__(self, mode: str = "chunked", max_memory: int | None = None):
        super().__init__()
        self.network = SRNTT()
        self.vgg = MatConvNetVGG19()
        self.mode = mode  # "chunked" (memory-bounded, default) or "dense" (the oracle)
        self.max_memory = max_memory  # bytes for the chunked swap; None: from free memory
        self.extras: dict[str, torch.Tensor] = {}

    def swapped_maps(self, lr_up: torch.Tensor, refs: list[torch.Tensor], refs_down_up: list[torch.Tensor]
                     ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Swapped relu3_1/relu2_1/relu1_1 maps (batch of 1 LR) and the weight map."""
        content = self.vgg(lr_up, ("relu3_1",))["relu3_1"][0]
        conditions = [self.vgg(r, ("relu3_1",))["relu3_1"][0] for r in refs_down_up]
        styles = []
        for ref in refs:
            features = self.vgg(ref, SWAP_LAYERS)
            styles.append([features[name][0] for name in SWAP_LAYERS])
        if self.mode == "dense":
            maps, weights, index = swap_dense(content, conditions, styles)
        else:
            maps, weights, index = swap(content, conditions, styles, max_memory=self.max_memory)
        self.extras = {"hard_index": index.cpu(), "S": weights.cpu()}
        return [m[None] for m in maps], weights

    @torch.no_grad()
    def forward(self, lr: torch.Tensor, lr_up: torch.Tensor, refs: list[torch.Tensor],
                refs_down_up: list[torch.Tensor]) -> torch.Tensor:
        """SR in [0, 255] for a batch of one LR (N=1) and any number of references."""
        maps, _ = self.swapped_maps(lr_up, refs, refs_down_up)
        sr = self.network(lr / 127.5 - 1.0, maps)
        return (sr + 1.0) * 127.5
