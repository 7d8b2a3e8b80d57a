"""SRNTT texture swapping (SRNTT paper §3.2; release `SRNTT/swap.py`, baselines.md §1.4).

Matching on relu3_1: 3×3 patches, stride 1, 'VALID'; reference ("condition" = Ref↓↑) patches are
L2-normalised and correlated with the content (LR↑) patches; each content position takes the
argmax reference patch. The weight map is the maximal cosine similarity. Swapping pastes the
"style" (Ref) patch of the argmax at every position — 3×3 on relu3_1, 6×6 stride 2 on relu2_1,
12×12 stride 4 on relu1_1 — and averages where patches overlap. Several references: their
patches are concatenated, so each position takes the single best patch over all of them.

`swap_dense` is the obviously-correct oracle (the full score matrix); `swap` is the
memory-bounded version used for evaluation.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

PATCH = 3
LEVEL_RATIOS = (1, 2, 4)  # relu3_1, relu2_1, relu1_1


def _valid_patches(feature: torch.Tensor, ratio: int = 1) -> torch.Tensor:
    """[C, H, W] → [P, C·k·k] patches of size 3·ratio, stride ratio, no padding."""
    size = PATCH * ratio
    return F.unfold(feature[None], size, stride=ratio)[0].t()


def _average_paste(patches: torch.Tensor, channels: int, out_hw: tuple[int, int], ratio: int) -> torch.Tensor:
    """Paste [L, C·k·k] patches at their 'VALID' positions, averaging overlaps (count map)."""
    size = PATCH * ratio
    summed = F.fold(patches.t()[None], out_hw, size, stride=ratio)
    ones = torch.ones(1, size * size, patches.shape[0], dtype=patches.dtype, device=patches.device)
    counts = F.fold(ones, out_hw, size, stride=ratio)
    return (summed / counts.clamp_min(1))[0]


def weight_map_to_full(weights: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The (H−2)×(W−2) similarity map edge-padded by 1 to H×W (release behaviour)."""
    return F.pad(weights.view(1, 1, height - 2, width - 2), (1, 1, 1, 1), mode="replicate")[0, 0]


def swap_dense(content: torch.Tensor, conditions: list[torch.Tensor], styles: list[list[torch.Tensor]]
               ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """Oracle swap for one image.

    content: [C, H, W] relu3_1 of LR↑; conditions: per reference [C, Hr, Wr] relu3_1 of Ref↓↑;
    styles: per reference [relu3_1, relu2_1, relu1_1] of Ref. Returns (swapped maps at the three
    levels, weight map [H, W], argmax index [(H−2)·(W−2)] into the concatenated patches).
    """
    height, width = content.shape[-2:]
    query = _valid_patches(content)  # [L, C9]
    keys = torch.cat([_valid_patches(c) for c in conditions])  # [P, C9]
    scores = F.normalize(keys, dim=1) @ F.normalize(query, dim=1).t()  # [P, L] cosine
    best, index = scores.max(dim=0)
    swapped = []
    for level, ratio in enumerate(LEVEL_RATIOS):
        patches = torch.cat([_valid_patches(style[level], ratio) for style in styles])
        channels = styles[0][level].shape[0]
        swapped.append(_average_paste(patches[index], channels, (height * ratio, width * ratio), ratio))
    return swapped, weight_map_to_full(best, height, width), index
