"""Texture search and transfer of TTSR (Yang et al., CVPR 2020, §3.2).

Relevance embedding: 3×3 patches of the LR↑ and Ref↓↑ features at ¼ scale (``lv3``), each patch
L2-normalised; relevance ``r_ij = <q_i / |q_i|, k_j / |k_j|>``. Hard attention: ``h_i = argmax_j
r_ij`` selects, for every LR position, the reference patch whose texture is transferred (3×3 at
lv3, 6×6 stride 2 at lv2, 12×12 stride 4 at lv1, folded back and divided by 9). Soft attention:
``S_i = max_j r_ij`` (the caller multiplies it in).

``*_dense`` follow the published release operation by operation (full relevance matrix, full
unfold of the reference) and are the oracle. The bounded versions come later in this file.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "relevance_dense",
    "transfer_dense",
    "SearchTransfer",
]

# (kernel, padding, stride) of the patch grid at each level; lv3 is the search level.
_LEVELS = {"lv3": (3, 1, 1), "lv2": (6, 2, 2), "lv1": (12, 4, 4)}


def relevance_dense(lrsr_lv3: torch.Tensor, refsr_lv3: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Relevance embedding + hard/soft attention with the full relevance matrix (§3.2, oracle).

    ``lrsr_lv3`` [N, C, H, W], ``refsr_lv3`` [N, C, Hr, Wr] → ``S`` [N, 1, H, W] (max relevance)
    and ``index`` [N, H*W] long (flat reference position ``y * Wr + x`` of the max; torch.max's
    tie rule). Memory: the [N, Hr*Wr, H*W] relevance matrix plus two unfolds.
    """
    n, _, h, w = lrsr_lv3.shape
    q = F.normalize(F.unfold(lrsr_lv3, kernel_size=3, padding=1), dim=1)  # [N, K, H*W]
    k = F.normalize(F.unfold(refsr_lv3, kernel_size=3, padding=1).permute(0, 2, 1), dim=2)  # [N, Hr*Wr, K]
    relevance = torch.bmm(k, q)  # [N, Hr*Wr, H*W]
    s, index = torch.max(relevance, dim=1)
    return s.view(n, 1, h, w), index


def transfer_dense(
    index: torch.Tensor,
    ref_lv1: torch.Tensor,
    ref_lv2: torch.Tensor,
    ref_lv3: torch.Tensor,
    lv3_hw: tuple[int, int],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hard-attention texture transfer by full unfold, gather, fold, /9 (§3.2, oracle).

    ``index`` [N, H*W] from the search; ``ref_lv{1,2,3}`` the reference's LTE features at 1×, ½×,
    ¼× (spatial sizes 4·(Hr, Wr), 2·(Hr, Wr), (Hr, Wr)); ``lv3_hw`` = (H, W). Returns
    ``(T_lv3, T_lv2, T_lv1)`` of spatial sizes (H, W), (2H, 2W), (4H, 4W).
    """
    h, w = lv3_hw
    out = []
    for name, ref in (("lv3", ref_lv3), ("lv2", ref_lv2), ("lv1", ref_lv1)):
        k, p, s = _LEVELS[name]
        cols = F.unfold(ref, kernel_size=k, padding=p, stride=s)  # [N, C*k*k, Hr*Wr]
        sel = torch.gather(cols, 2, index.unsqueeze(1).expand(-1, cols.size(1), -1))
        out.append(F.fold(sel, output_size=(h * s, w * s), kernel_size=k, padding=p, stride=s) / 9.0)
    return out[0], out[1], out[2]


class SearchTransfer(nn.Module):
    """Texture search (relevance, hard/soft attention) and transfer of §3.2; no parameters.

    ``forward(lrsr_lv3, refsr_lv3, ref_lv1, ref_lv2, ref_lv3) -> (S, T_lv3, T_lv2, T_lv1,
    hard_index)``. ``mode`` is ``'chunked'`` (memory-bounded, the default) or ``'dense'`` (the
    release's computation, the oracle); ``max_memory`` bounds the chunked working memory in bytes
    (None: chosen from the free memory of the device).
    """

    def __init__(self, mode: str = "chunked", max_memory: int | None = None) -> None:
        super().__init__()
        if mode not in ("chunked", "dense"):
            raise ValueError(f"mode must be 'chunked' or 'dense', not {mode!r}")
        self.mode = mode
        self.max_memory = max_memory

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, max_memory={self.max_memory}"

    def forward(self, lrsr_lv3, refsr_lv3, ref_lv1, ref_lv2, ref_lv3):
        lv3_hw = tuple(lrsr_lv3.shape[-2:])
        # Bounded versions land in the next commit; until then both modes run the oracle.
        s, index = relevance_dense(lrsr_lv3, refsr_lv3)
        t3, t2, t1 = transfer_dense(index, ref_lv1, ref_lv2, ref_lv3, lv3_hw)
        return s, t3, t2, t1, index
