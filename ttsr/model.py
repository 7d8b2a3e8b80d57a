"""TTSR: texture transformer + main network (Yang et al., CVPR 2020, §3, Fig. 2–3).

Q = LTE(LR↑), K = LTE(Ref↓↑), V = LTE(Ref) (§3.1); relevance embedding, hard attention and soft
attention search the reference and transfer its textures at three scales (§3.2,
`ttsr.search_transfer`); the main network fuses them into the LR features and integrates scales
(§3.3, `ttsr.main_net`). Images are NCHW float32 in [-1, 1]; the LTE sees them mapped to [0, 1].

Submodules are named as in the release (``LTE``, ``MainNet``, ``SearchTransfer``; the release's
``LTE_copy`` is not a submodule here, see `TTSR.texture_features`), so ``state_dict()`` has the
keys of the published ``TTSR.pt``.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.func import functional_call

from ttsr.config import TTSRConfig
from ttsr.lte import LTE, load_imagenet_vgg19
from ttsr.main_net import MainNet
from ttsr.search_transfer import SearchTransfer, transfer_bands


class TTSROutput(NamedTuple):
    """SR image, soft-attention map S (N×1×h×w at the LR size), transferred textures at 1×, 2×,
    4× of the LR size, and the hard-attention index (N×h·w, flat reference position at ¼ scale).

    Everything but ``sr`` is None for a model without texture transfer ("Base")."""

    sr: torch.Tensor
    S: torch.Tensor | None
    T_lv3: torch.Tensor | None
    T_lv2: torch.Tensor | None
    T_lv1: torch.Tensor | None
    hard_index: torch.Tensor | None


def _to_unit(x: torch.Tensor) -> torch.Tensor:
    return (x + 1.0) / 2.0


class TTSR(nn.Module):
    """The texture transformer network for reference-based ×4 super-resolution.

    ``pretrained_lte=True`` initialises the LTE from torchvision's ImageNet VGG19 (needed for
    training; a `UserError` says where to put the file when it is absent). Otherwise the LTE is
    randomly initialised, which is right when a full checkpoint is loaded next.
    """

    def __init__(self, config: TTSRConfig | None = None, *, pretrained_lte: bool = False) -> None:
        super().__init__()
        self.config = config = config or TTSRConfig()
        self.MainNet = MainNet(config.n_feats, config.num_res_blocks, config.res_scale,
                               texture=config.uses_reference, soft_attention=config.soft_attention,
                               csfi=config.csfi)
        # "Base" (no texture transformer) has no extractor at all: nothing unused to train.
        self.LTE = LTE(learnable=config.learnable_lte) if config.uses_reference else None
        self.SearchTransfer = SearchTransfer()
        if pretrained_lte and self.LTE is not None:
            load_imagenet_vgg19(self.LTE)

    def set_max_memory(self, max_memory: int | None) -> None:
        """Bound the working memory of the texture search (None: chosen from the free memory)."""
        self.SearchTransfer.max_memory = None if max_memory is None else int(max_memory)

    def forward(self, lr: torch.Tensor, lrsr: torch.Tensor | None = None, ref: torch.Tensor | None = None,
                refsr: torch.Tensor | None = None) -> TTSROutput:
        """lr N×3×h×w, lrsr (LR↑) N×3×4h×4w, ref / refsr (Ref, Ref↓↑) N×3×H×W with H, W multiples of 4."""
        if self.LTE is None:
            return TTSROutput(self.MainNet(lr), None, None, None, None, None)
        if lrsr is None or ref is None or refsr is None:
            raise ValueError("TTSR with texture transfer needs lr, lrsr, ref and refsr")
        S, T_lv3, T_lv2, T_lv1, index = self._search_and_transfer(lrsr, ref, refsr)
        sr = self.MainNet(lr, S, T_lv3, T_lv2, T_lv1)
        return TTSROutput(sr, S, T_lv3, T_lv2, T_lv1, index)

    def _search_and_transfer(self, lrsr: torch.Tensor, ref: torch.Tensor, refsr: torch.Tensor):
        """LTE features (§3.1) → relevance search → texture transfer (§3.2).

        Ordered for memory: the search needs only the lv3 features of LR↑ and Ref↓↑, which are
        dropped before the reference's three levels are extracted for the transfer; and all of them
        are freed before the main network runs (a function of its own for that reason). In
        inference (chunked mode, no gradient) the reference's levels are made and used one row band
        at a time (`LTE.bands` → `transfer_bands`) and never exist whole.
        """
        S, index, lv3_hw = self._search(lrsr, refsr)
        st = self.SearchTransfer
        if st.mode == "chunked" and not torch.is_grad_enabled():  # the reference's levels band by band
            T_lv3, T_lv2, T_lv1 = transfer_bands(index, self.LTE.bands(_to_unit(ref.detach())), lv3_hw,
                                                 max_memory=st._max_memory(index.device))
            return S, T_lv3, T_lv2, T_lv1, index
        ref_lv1, ref_lv2, ref_lv3 = self.LTE(_to_unit(ref.detach()))
        T_lv3, T_lv2, T_lv1 = self.SearchTransfer.transfer(index, ref_lv1, ref_lv2, ref_lv3, lv3_hw)
        return S, T_lv3, T_lv2, T_lv1, index

    def _search(self, lrsr: torch.Tensor, refsr: torch.Tensor):
        _, _, lrsr_lv3 = self.LTE(_to_unit(lrsr.detach()), lv3_only=True)
        _, _, refsr_lv3 = self.LTE(_to_unit(refsr.detach()), lv3_only=True)
        S, index = self.SearchTransfer.search(lrsr_lv3, refsr_lv3)
        return S, index, tuple(lrsr_lv3.shape[-2:])

    def texture_features(self, sr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """LTE features (lv1, lv2, lv3) of an SR image for the transferal perceptual loss (§3.4).

        As the release's frozen ``LTE_copy``: the current LTE weights, but no gradient reaches
        them (only `sr` gets one). Done with detached parameters, not by copying the state dict.
        """
        if self.LTE is None:
            raise ValueError("this TTSR configuration has no texture extractor (no texture transfer)")
        frozen = {name: p.detach() for name, p in self.LTE.named_parameters()}
        return functional_call(self.LTE, frozen, (_to_unit(sr),))


def parameter_count(network: nn.Module | TTSRConfig, part: str | None = None) -> int:
    """Number of parameters of a network, or of `TTSR(config)` for a `TTSRConfig`.

    `part` names a submodule ("MainNet", "LTE"); one the network lacks (the LTE of "Base") counts 0.
    A configuration is built on the meta device: instant, nothing allocated. Table 3 of the paper
    prints these counts (LTE included) in units of 2^20 (see `ttsr.config`).
    """
    if isinstance(network, TTSRConfig):
        with torch.device("meta"):
            network = TTSR(network)
    module = network if part is None else getattr(network, part, None)
    return 0 if module is None else sum(p.numel() for p in module.parameters())
