"""SRNTT texture swapping (SRNTT paper §3.2; release ZZUTK/SRNTT@195ce3a `SRNTT/swap.py`).

Matching on relu3_1: 3×3 patches, stride 1, 'VALID'; reference ("condition" = Ref↓↑) patches are
L2-normalised and correlated with the content (LR↑) patches; each content position takes the
argmax reference patch. The weight map is the maximal cosine similarity. Swapping pastes the
"style" (Ref) patch of the argmax at every position — 3×3 on relu3_1, 6×6 stride 2 on relu2_1,
12×12 stride 4 on relu1_1 — and averages where patches overlap. Several references: their
patches are concatenated, so each position takes the single best patch over all of them.

`swap_dense` is the obviously-correct oracle (the full score matrix); `swap` is the
memory-bounded version used for evaluation: TTSR's chunked relevance search with 'VALID'
patches (running max over reference chunks) and a paste that gathers only the selected patches.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ttsr.search_transfer import default_max_memory, gather_patches, relevance_chunked

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


def _best_over_references(content: torch.Tensor, conditions: list[torch.Tensor], max_memory: int
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Running best (cosine, reference id, patch index) over references, 'VALID' 3×3 patches.

    Each reference is searched with TTSR's chunked relevance (padding 0); a later reference
    replaces the running best only when strictly better, so ties keep the earlier patch, as the
    argmax over the concatenated patches does.
    """
    best = ref_id = index = None
    for j, condition in enumerate(conditions):
        value, idx = relevance_chunked(content[None], condition[None], padding=0, max_memory=max_memory)
        value, idx = value.flatten(), idx[0]
        if best is None:
            best, ref_id, index = value, torch.zeros_like(idx), idx
        else:
            better = value > best
            best = torch.where(better, value, best)
            ref_id = torch.where(better, torch.full_like(idx, j), ref_id)
            index = torch.where(better, idx, index)
    return best, ref_id, index


def _paste_level(style_maps: list[torch.Tensor], grids: list[tuple[int, int]], ref_id: torch.Tensor,
                 index: torch.Tensor, height: int, width: int, ratio: int, max_memory: int) -> torch.Tensor:
    """Average-paste the selected style patches at one level, a few LR rows at a time.

    Only the selected patches are gathered (no unfold of the references); the rows of a tile are
    folded into their stripe of the output, and overlaps are divided by the count map at the end.
    """
    size = PATCH * ratio
    channels = style_maps[0].shape[0]
    valid_h, valid_w = height - 2, width - 2
    out = style_maps[0].new_zeros(channels, height * ratio, width * ratio)
    per_row = style_maps[0].element_size() * valid_w * channels * size * size * 3  # gather + fold copies
    rows = int(max(1, min(valid_h, max_memory // max(1, per_row))))
    for y0 in range(0, valid_h, rows):
        y1 = min(y0 + rows, valid_h)
        tile_ref, tile_idx = ref_id[y0 * valid_w:y1 * valid_w], index[y0 * valid_w:y1 * valid_w]
        patches = out.new_zeros(tile_idx.numel(), channels, size, size)
        for j, (style, (_, grid_w)) in enumerate(zip(style_maps, grids)):
            chosen = (tile_ref == j).nonzero().flatten()
            if chosen.numel():
                top, left = tile_idx[chosen] // (grid_w - 2), tile_idx[chosen] % (grid_w - 2)
                centres = (top + 1) * grid_w + (left + 1)  # TTSR's padded-patch grid is centre-indexed
                patches[chosen] = gather_patches(style[None], centres[None], ratio)[0]
        stripe = F.fold(patches.flatten(1).t()[None], ((y1 - y0 + 2) * ratio, width * ratio), size, stride=ratio)
        out[:, y0 * ratio:(y1 + 2) * ratio] += stripe[0]
    ones = out.new_ones(1, size * size, valid_h * valid_w)
    counts = F.fold(ones, (height * ratio, width * ratio), size, stride=ratio)[0]
    return out / counts.clamp_min(1)


def swap(content: torch.Tensor, conditions: list[torch.Tensor], styles: list[list[torch.Tensor]],
         *, max_memory: int | None = None) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """`swap_dense` in bounded memory: same outputs (index into the concatenated patches too)."""
    height, width = content.shape[-2:]
    max_memory = default_max_memory(content.device) if max_memory is None else int(max_memory)
    best, ref_id, index = _best_over_references(content, conditions, max_memory)
    grids = [tuple(c.shape[-2:]) for c in conditions]
    swapped = [_paste_level([style[level] for style in styles], grids, ref_id, index, height, width, ratio, max_memory)
               for level, ratio in enumerate(LEVEL_RATIOS)]
    offsets = torch.tensor([0] + [(h - 2) * (w - 2) for h, w in grids[:-1]], device=index.device).cumsum(0)
    return swapped, weight_map_to_full(best, height, width), index + offsets[ref_id]
