"""Texture search and transfer of TTSR (Yang et al., CVPR 2020, §3.2).

Relevance embedding: 3×3 patches of the LR↑ and Ref↓↑ features at ¼ scale (``lv3``), each patch
L2-normalised; relevance ``r_ij = <q_i / |q_i|, k_j / |k_j|>``. Hard attention: ``h_i = argmax_j
r_ij`` selects, for every LR position, the reference patch whose texture is transferred (3×3 at
lv3, 6×6 stride 2 at lv2, 12×12 stride 4 at lv1, folded back and divided by 9). Soft attention:
``S_i = max_j r_ij`` (the caller multiplies it in).

``*_dense`` follow the published release operation by operation (full relevance matrix, full
unfold of the reference) and are the oracle. Their memory grows with (Ref positions × LR
positions): ~10 GB for a CUFED5 image with its five references stitched, ~15 GB for the relevance
matrix alone of a Manga109 page searched against an HR-size page.

``relevance_chunked`` / ``transfer_gather`` give the same result in bounded memory:

* the search multiplies C-channel pixels, not 9·C-channel patches (the dot product of two 3×3
  patches is the sum of 9 pixel dot products, so the Gram matrix of the pixels, shifted and summed,
  gives every patch relevance with 9× fewer multiplications), in fixed-size blocks (``BAND`` rows ×
  ``LR_COLS`` LR positions against ``BAND`` reference rows), keeping a running max/argmax (no
  relevance matrix);
* the transfer gathers, for each of the 3×3 block offsets of a patch, the selected blocks from a
  block-major copy of the reference (made in budget-sized bands when the level is large) and adds
  them into the output (no unfold).

Tie rule: ``index`` is the *first* (smallest flat reference position) maximum, as ``torch.max``
returns on the full matrix: within a block the first position equal to the max, across blocks a
later one replaces the running max only when strictly greater. Every block has the same shape (the
last ones zero-padded, their padding rows masked), so each relevance value comes out of the same
computation whatever the budget and wherever block boundaries fall: the budget cannot change a tie
or a near-tie (tested bitwise). Against the dense oracle (9·C-long dot products, rounded
differently) two relevances equal to float rounding (~1e-7) can still pick different positions.

Memory budget (``max_memory``): bounds the working memory of the transfer (reference bands,
gathered blocks); the search's working set is fixed by its block shape (≈ 55 MB against a
2500-pixel-wide reference, see ``relevance_chunked``). Not counted: the transfer's accumulator,
one output-sized buffer per level. ``SearchTransfer`` halves the budget and retries when an
allocation fails. The budget never changes an output.
Training: with gradients enabled the chunked search recomputes ``S`` differentiably from the
selected patches only (no relevance matrix is kept for backward); the gather's backward keeps
only indices. Gradients equal the dense oracle's (tested).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "relevance_dense",
    "relevance_chunked",
    "transfer_dense",
    "transfer_gather",
    "transfer_bands",
    "gather_patches",
    "default_max_memory",
    "SearchTransfer",
]

DEFAULT_CPU_MAX_MEMORY = 128 << 20  # bytes; CPU default when no budget is given (measured: no slower than 1 GiB on CUFED5)
_MIN_MAX_MEMORY = 1 << 20  # below this the OOM retry gives up
BAND = 8  # grid rows per search block (LR and reference): fixed, so the budget never changes a result
LR_COLS = 128  # LR grid columns per search block (the reference side takes whole rows)

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


def _window_sums(x: torch.Tensor) -> torch.Tensor:
    """Sums over every 3×3 window of a [..., H, W] map ('valid'): [..., H − 2, W − 2], fixed order."""
    h, w = x.shape[-2] - 2, x.shape[-1] - 2
    out = x[..., 0:h, 0:w].clone()
    for dy in range(3):
        for dx in range(3):
            if dy or dx:
                out += x[..., dy:dy + h, dx:dx + w]
    return out


def _rows(feat: torch.Tensor, y0: int, rows: int, x0: int = 0, cols: int | None = None) -> torch.Tensor:
    """``feat`` [C, H, W] rows [y0, y0 + rows) and columns [x0, x0 + cols), zero beyond the map:
    a contiguous [C, rows, cols] block of one fixed shape wherever it starts."""
    c, h, w = feat.shape
    cols = w - x0 if cols is None else cols
    block = feat[:, y0:min(y0 + rows, h), x0:min(x0 + cols, w)]
    return F.pad(block, (0, cols - block.shape[2], 0, rows - block.shape[1])).contiguous()


def relevance_chunked(
    lrsr_lv3: torch.Tensor,
    refsr_lv3: torch.Tensor,
    *,
    max_memory: int | None = None,
    padding: int = 1,
    tile: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``relevance_dense`` without the relevance matrix and 9× fewer multiplications (§3.2).

    ``padding``: 1 for TTSR (a 3×3 patch at every position); 0 gives the 'VALID' patches of
    SRNTT's swap (outputs over the (H−2)×(W−2) grid, index into the (Hr−2)×(Wr−2) grid).

    The dot product of two 3×3×C patches is the sum, over the 9 offsets, of the dot products of
    their C-vectors (pixels): ``<q_(y,x), k_(u,v)> = Σ_(dy,dx) G[(y+dy, x+dx), (u+dy, v+dx)]`` with
    ``G`` the pixel Gram matrix of the (zero-padded) maps. So the search multiplies C-channel pixels
    (one matrix product per block, C·… instead of 9·C·… multiply-adds: the release's product over
    unfolded 9·C patches does every pixel product nine times) and adds the 9 shifted views of the
    block. Patch norms are the 3×3 window sums of the squared pixels (``F.normalize``'s eps);
    ``r = <q, k> / |k|`` is maximised over the reference, ``S = max / |q|``.

    Blocks: ``BAND`` × ``LR_COLS`` LR grid positions against ``BAND`` full rows of the reference
    grid, each (with its 2-pixel halo) zero-padded to one fixed shape, so every relevance value comes
    out of the same computation whatever the budget or the block's place (``max_memory`` is accepted
    for the interface; the working set is fixed: the Gram block
    4·(BAND+2)²·(LR_COLS+2)·(Wr+2) bytes, ≈ 33 MB for a 2500-pixel-wide reference, plus its shifted
    sum, ≈ 60% of that). The relevance block is laid out [Ref, LR], so the max runs over dim 0 across
    contiguous LR columns (vectorised), as the release's max over its [Hr·Wr, H·W] matrix; the index
    is the first maximum (the position of the first value equal to the max); a later reference band
    replaces the running max only when strictly greater. ``tile`` (a test hook) sets the rows per
    band as ``max(1, tile // grid width)`` and the LR columns to ``tile``.
    Against the dense oracle: ``index`` identical except where two relevances are equal to float
    rounding (~1e-7), ``S`` within rounding. Differentiable: when gradients are needed, ``S`` is
    recomputed from the selected patches.
    """
    if padding not in (0, 1):
        raise ValueError(f"padding must be 0 or 1, not {padding}")
    n, c, h, w = lrsr_lv3.shape
    hr, wr = refsr_lv3.shape[-2:]
    h, w, hr, wr = (size + 2 * padding - 2 for size in (h, w, hr, wr))  # patch grids
    band, cols = BAND, LR_COLS
    if tile is not None:
        band, cols = max(1, int(tile) // max(1, wr)), int(tile)
    best = torch.empty(n, h, w, dtype=lrsr_lv3.dtype, device=lrsr_lv3.device)
    index = torch.empty(n, h, w, dtype=torch.long, device=lrsr_lv3.device)
    pad = (padding,) * 4
    with torch.no_grad():
        for b in range(n):
            q = F.pad(lrsr_lv3[b].detach(), pad)  # [C, h + 2, w + 2]
            k = F.pad(refsr_lv3[b].detach(), pad)  # [C, hr + 2, wr + 2]
            q_norm = _window_sums(q.square().sum(0)).sqrt_().clamp_min_(1e-12)  # [h, w]
            k_norm = _window_sums(k.square().sum(0)).sqrt_().clamp_min_(1e-12)  # [hr, wr]
            keys = [_rows(k, u0, band + 2).view(c, -1) for u0 in range(0, hr, band)]
            for y0 in range(0, h, band):
                for x0 in range(0, w, cols):
                    y1, x1 = min(y0 + band, h), min(x0 + cols, w)
                    query = _rows(q, y0, band + 2, x0, cols + 2).view(c, -1)
                    run_v = run_i = None
                    for u0, key in zip(range(0, hr, band), keys):
                        gram = torch.mm(key.t(), query).view(band + 2, wr + 2, band + 2, cols + 2)
                        rel = gram[0:band, 0:wr, 0:band, 0:cols].clone()  # Σ of the 9 shifted views
                        for dy in range(3):
                            for dx in range(3):
                                if dy or dx:
                                    rel += gram[dy:dy + band, dx:dx + wr, dy:dy + band, dx:dx + cols]
                        del gram
                        u1 = min(u0 + band, hr)
                        rel[: u1 - u0].div_(k_norm[u0:u1].view(u1 - u0, wr, 1, 1))
                        rel[u1 - u0:] = float("-inf")  # rows past the reference: never a match
                        rel = rel.view(band * wr, band * cols)
                        v = torch.amax(rel, dim=0)
                        i = torch.argmax((rel == v).to(torch.uint8), dim=0) + u0 * wr  # first maximum
                        del rel
                        if run_v is None:
                            run_v, run_i = v, i
                        else:  # strict: an earlier band wins ties (first maximum)
                            better = v > run_v
                            run_v, run_i = torch.where(better, v, run_v), torch.where(better, i, run_i)
                    run_v = run_v.view(band, cols)[: y1 - y0, : x1 - x0]
                    best[b, y0:y1, x0:x1] = run_v / q_norm[y0:y1, x0:x1]
                    index[b, y0:y1, x0:x1] = run_i.view(band, cols)[: y1 - y0, : x1 - x0]
    best, index = best.view(n, h * w), index.view(n, h * w)
    if torch.is_grad_enabled() and (lrsr_lv3.requires_grad or refsr_lv3.requires_grad):
        if padding != 1:
            raise NotImplementedError("differentiable relevance is TTSR's (padding 1) only")
        best = _selected_relevance(lrsr_lv3, refsr_lv3, index)
    return best.view(n, 1, h, w), index


def _selected_relevance(lrsr_lv3: torch.Tensor, refsr_lv3: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Differentiable r_{i, index_i} = <q_i/|q_i|, k_j/|k_j|> for the selected j only: [N, H*W]."""
    query = F.normalize(F.unfold(lrsr_lv3, kernel_size=3, padding=1), dim=1)  # [N, K, HW]
    sel = gather_patches(refsr_lv3, index, 1)  # [N, HW, C, 3, 3] unnormalised, grad-carrying
    sel = sel.flatten(2).transpose(1, 2)  # [N, K, HW] in unfold's (c, ky, kx) order
    sel = F.normalize(sel, dim=1)
    return (sel * query).sum(dim=1)


def gather_patches(ref: torch.Tensor, index: torch.Tensor, s: int) -> torch.Tensor:
    """The 3s×3s patches (zero padding s, stride s) at ``index`` of ``ref``: [N, P, C, 3s, 3s].

    Used by the differentiable relevance (lv3) and by SRNTT's swap, which gathers the selected
    patches of a few LR rows at a time (``index`` is centre-indexed on the (H/s)×(W/s) grid).
    """
    n, c = ref.shape[:2]
    wr = ref.shape[-1] // s
    padded = F.pad(ref, (s, s, s, s))
    ry, rx = index // wr, index % wr
    off = torch.arange(3 * s, device=ref.device)
    ys = (ry * s).unsqueeze(-1) + off  # [N, P, 3s]
    xs = (rx * s).unsqueeze(-1) + off
    b = torch.arange(n, device=ref.device).view(n, 1, 1, 1)
    out = padded.permute(0, 2, 3, 1)[b, ys.unsqueeze(-1), xs.unsqueeze(-2)]  # [N, P, 3s, 3s, C]
    return out.permute(0, 1, 4, 2, 3)


def transfer_gather(
    index: torch.Tensor,
    ref_lv1: torch.Tensor,
    ref_lv2: torch.Tensor,
    ref_lv3: torch.Tensor,
    lv3_hw: tuple[int, int],
    *,
    max_memory: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``transfer_dense`` without unfolding the reference: gather only the selected patches (§3.2).

    A patch at level scale s (s = 1, 2, 4: kernel 3s, padding s, stride s) is a 3×3 grid of s×s
    blocks, and the fold puts block (ay, ax) of the patch selected for LR position (y, x) onto
    output block (y + ay - 1, x + ax - 1). So for each of the 9 block offsets the selected blocks
    are gathered from a block-major copy of the reference (blocks outside the map are the zero
    padding) and added into the output — the fold's sum, then /9. Positions are processed in chunks
    whose gathered blocks fit ``max_memory``; the reference is re-laid out one band at a time
    (within the budget, where the release's unfold is 9× the reference) and nothing of size 9×
    the output is ever built.
    """
    h, w = lv3_hw
    max_memory = default_max_memory(index.device) if max_memory is None else int(max_memory)
    return (
        _transfer_level(index, ref_lv3, 1, h, w, max_memory),
        _transfer_level(index, ref_lv2, 2, h, w, max_memory),
        _transfer_level(index, ref_lv1, 4, h, w, max_memory),
    )


def _transfer_level(index: torch.Tensor, ref: torch.Tensor, s: int, h: int, w: int, max_memory: int) -> torch.Tensor:
    """One level of ``transfer_gather``: blocks of s×s pixels, 3×3 blocks per patch.

    The reference is laid out block-major (a row of C·s·s values per block, so gathering a block
    is a contiguous row copy): in one piece when that fits half the budget, else one band of
    block-rows at a time. Gathered blocks are added into a block-major accumulator with a ring of
    spare blocks (outside the output: dropped, as the fold drops them).
    Extra memory: a band of the reference, the accumulator (≈ the output) and the gathered rows
    of one chunk of positions (a quarter of the budget).
    """
    n, c, hs, ws = ref.shape
    hr, wr = hs // s, ws // s
    if (hr * s, wr * s) != (hs, ws):
        raise ValueError(f"reference feature {hs}x{ws} is not {s}x the search grid")
    d, es = c * s * s, ref.element_size()
    band = int(max(1, min(hr, max_memory // 2 // max(1, es * d * wr))))  # reference block-rows per band
    step = int(max(1, max_memory // 4 // (es * d + 48)))  # positions gathered at once
    grad = torch.is_grad_enabled() and ref.requires_grad
    out = ref.new_empty(n, c, h * s, w * s)
    pos_y = torch.arange(h * w, device=index.device) // w
    pos_x = torch.arange(h * w, device=index.device) % w
    for b in range(n):
        if band == hr:  # the whole level fits: zero-ringed table, every position, slice adds
            acc = _gather_whole(index[b], ref[b], s, h, w, step)
        else:
            acc = _gather_banded(index[b], ref[b], s, h, w, band, step, pos_y, pos_x)
        view = acc.view(h + 2, w + 2, c, s, s)[1:-1, 1:-1].permute(2, 0, 3, 1, 4)  # [C, h, s, w, s]
        if grad:
            out[b] = view.reshape(c, h * s, w * s) / 9.0
        else:
            out[b].view(c, h, s, w, s).copy_(view)
            out[b].div_(9.0)
        del acc
    return out


def _gather_whole(index: torch.Tensor, ref: torch.Tensor, s: int, h: int, w: int, step: int) -> torch.Tensor:
    """Fold-sum of the selected patches of one image, the reference level laid out in one piece.

    ``table`` holds the reference blocks with a ring of zero blocks (the padding), so a patch's
    block (ay, ax) is row ``base + ay·(Wr + 2) + ax``; rows of LR positions are gathered in
    chunks of about ``step`` positions and slice-added into the (h + 2)×(w + 2) accumulator.
    """
    c, hs, ws = ref.shape
    hr, wr, d = hs // s, ws // s, c * s * s
    table = ref.new_zeros(hr + 2, wr + 2, c, s, s)
    table[1:-1, 1:-1] = ref.view(c, hr, s, wr, s).permute(1, 3, 0, 2, 4)
    table = table.view(-1, d)
    acc = ref.new_zeros(h + 2, w + 2, d)
    rows = max(1, min(h, step // w))
    for y0 in range(0, h, rows):
        y1 = min(y0 + rows, h)
        idx = index[y0 * w : y1 * w]
        base = (idx // wr) * (wr + 2) + idx % wr
        for ay in range(3):
            for ax in range(3):
                g = table.index_select(0, base + (ay * (wr + 2) + ax))
                acc[y0 + ay : y1 + ay, ax : ax + w] += g.view(y1 - y0, w, d)
    return acc.view(-1, d)


def _gather_banded(index: torch.Tensor, ref: torch.Tensor, s: int, h: int, w: int, band: int, step: int,
                   pos_y: torch.Tensor, pos_x: torch.Tensor) -> torch.Tensor:
    """As ``_gather_whole`` with the reference laid out ``band`` block-rows at a time: for each
    band and block offset, only the LR positions whose block lies in the band gather it, and
    ``index_add_`` puts it in place (each position once per offset: no collisions)."""
    c, hs, ws = ref.shape
    hr, d = hs // s, c * s * s
    acc = ref.new_zeros((h + 2) * (w + 2), d)
    for y0 in range(0, hr, band):
        y1 = min(y0 + band, hr)
        _gather_band(acc, index, ref[:, y0 * s : y1 * s], s, y0, w, step, pos_y, pos_x)
    return acc


def _gather_band(acc: torch.Tensor, index: torch.Tensor, rows: torch.Tensor, s: int, y0: int, w: int, step: int,
                 pos_y: torch.Tensor, pos_x: torch.Tensor) -> None:
    """Add into ``acc`` the blocks that lie in ``rows`` [C, (y1 − y0)·s, Wr·s] (reference block-rows
    [y0, y1) of one image) for every LR position and block offset that selects them."""
    c, hs, ws = rows.shape
    y1, wr, d = y0 + hs // s, ws // s, c * s * s
    table = rows.reshape(c, y1 - y0, s, wr, s).permute(1, 3, 0, 2, 4).reshape(-1, d)  # [(y1 - y0) * wr, d]
    ry, rx = index // wr, index % wr
    for ay in range(3):
        ty = ry + (ay - 1)
        in_band = (ty >= y0) & (ty < y1)
        for ax in range(3):
            tx = rx + (ax - 1)
            pos = torch.nonzero(in_band & (tx >= 0) & (tx < wr)).squeeze(1)
            for p0 in range(0, pos.numel(), step):
                p = pos[p0 : p0 + step]
                g = table.index_select(0, (ty[p] - y0) * wr + tx[p])
                acc.index_add_(0, (pos_y[p] + ay) * (w + 2) + pos_x[p] + ax, g)


def transfer_bands(index: torch.Tensor, bands, lv3_hw: tuple[int, int], *,
                   max_memory: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``transfer_gather`` from reference features that arrive band by band (inference only).

    ``bands`` yields ``(y0, y1, (lv1, lv2, lv3))`` for reference image rows [y0, y1) (multiples of 4;
    `ttsr.lte.LTE.bands`): the reference's three levels never exist whole (lv1 of a 2500×500
    reference alone is 320 MB). Each band's blocks are added into per-level accumulators as in
    ``_gather_banded``; same result as ``transfer_gather`` up to the order of the fold's float sums.
    """
    h, w = lv3_hw
    max_memory = default_max_memory(index.device) if max_memory is None else int(max_memory)
    pos_y = torch.arange(h * w, device=index.device) // w
    pos_x = torch.arange(h * w, device=index.device) % w
    accs = None
    for y0, _y1, levels in bands:
        n = levels[0].shape[0]
        if accs is None:
            accs = [[lv.new_zeros((h + 2) * (w + 2), lv.shape[1] * s * s) for _ in range(n)]
                    for lv, s in zip(levels, (4, 2, 1))]
        for level, s, acc in zip(levels, (4, 2, 1), accs):
            step = int(max(1, max_memory // 4 // (level.element_size() * level.shape[1] * s * s + 48)))
            for b in range(n):
                _gather_band(acc[b], index[b], level[b], s, y0 // 4, w, step, pos_y, pos_x)
        del levels
    outs = []
    for acc, s in zip(accs, (4, 2, 1)):
        d = acc[0].shape[1]
        c = d // (s * s)
        out = acc[0].new_empty(len(acc), c, h * s, w * s)
        for b, a in enumerate(acc):
            out[b].view(c, h, s, w, s).copy_(a.view(h + 2, w + 2, c, s, s)[1:-1, 1:-1].permute(2, 0, 3, 1, 4))
        acc.clear()
        outs.append(out.div_(9.0))
    return outs[2], outs[1], outs[0]


def default_max_memory(device: torch.device | str | None = None) -> int:
    """Working-memory budget when none is given: half the free CUDA memory, else 128 MiB on CPU."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return max(_MIN_MAX_MEMORY, int(free * 0.5))
    return DEFAULT_CPU_MAX_MEMORY


def _is_oom(err: BaseException) -> bool:
    if isinstance(err, torch.OutOfMemoryError):
        return True
    msg = str(err)
    return isinstance(err, RuntimeError) and ("can't allocate memory" in msg or "out of memory" in msg)


def _retry_halving(fn, max_memory: int, device: torch.device):
    """Run ``fn(max_memory)``; on an out-of-memory error halve the max_memory (so the chunks) and retry."""
    while True:
        try:
            return fn(max_memory)
        except (RuntimeError, torch.OutOfMemoryError) as err:
            if not _is_oom(err) or max_memory // 2 < _MIN_MAX_MEMORY:
                raise
            max_memory //= 2
            if device.type == "cuda":
                torch.cuda.empty_cache()


class SearchTransfer(nn.Module):
    """Texture search (relevance, hard/soft attention) and transfer of §3.2; no parameters.

    ``forward(lrsr_lv3, refsr_lv3, ref_lv1, ref_lv2, ref_lv3) -> (S, T_lv3, T_lv2, T_lv1,
    hard_index)``. ``mode`` is ``'chunked'`` (memory-bounded, the default) or ``'dense'`` (the
    release's computation, the oracle); ``max_memory`` bounds the chunked working memory in bytes
    (None: half the free CUDA memory, or 128 MiB on CPU). An out-of-memory error halves the budget
    and retries, down to 1 MiB.
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
        s, index = self.search(lrsr_lv3, refsr_lv3)
        t3, t2, t1 = self.transfer(index, ref_lv1, ref_lv2, ref_lv3, tuple(lrsr_lv3.shape[-2:]))
        return s, t3, t2, t1, index

    def _max_memory(self, device: torch.device) -> int:
        return int(self.max_memory if self.max_memory is not None else default_max_memory(device))

    def search(self, lrsr_lv3: torch.Tensor, refsr_lv3: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Relevance embedding and hard/soft attention: (S, hard_index)."""
        if self.mode == "dense":
            return relevance_dense(lrsr_lv3, refsr_lv3)
        device = lrsr_lv3.device
        return _retry_halving(lambda b: relevance_chunked(lrsr_lv3, refsr_lv3, max_memory=b),
                              self._max_memory(device), device)

    def transfer(self, index: torch.Tensor, ref_lv1: torch.Tensor, ref_lv2: torch.Tensor, ref_lv3: torch.Tensor,
                 lv3_hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Hard-attention texture transfer at the three levels: (T_lv3, T_lv2, T_lv1)."""
        lv3_hw = (int(lv3_hw[0]), int(lv3_hw[1]))
        if self.mode == "dense":
            return transfer_dense(index, ref_lv1, ref_lv2, ref_lv3, lv3_hw)
        device = index.device
        return _retry_halving(
            lambda b: transfer_gather(index, ref_lv1, ref_lv2, ref_lv3, lv3_hw, max_memory=b),
            self._max_memory(device), device)
