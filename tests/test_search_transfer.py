"""Texture search and transfer (§3.2): dense oracle vs the memory-bounded versions."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ttsr import search_transfer as st
from ttsr.search_transfer import (
    SearchTransfer,
    relevance_chunked,
    relevance_dense,
    transfer_dense,
    transfer_gather,
)


def _feats(seed, n, c, h, w, hr, wr, c1=3, c2=5, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=dtype)  # noqa: E731
    return dict(
        lrsr_lv3=r(n, c, h, w), refsr_lv3=r(n, c, hr, wr),
        ref_lv1=r(n, c1, 4 * hr, 4 * wr), ref_lv2=r(n, c2, 2 * hr, 2 * wr), ref_lv3=r(n, c, hr, wr),
    )


def _assert_same_search(lrsr, refsr, s_ref, i_ref, s, i):
    """Identical indices except where the two picks are a tie to float rounding; S within 1e-5."""
    assert i.shape == i_ref.shape and i.dtype == torch.long
    assert (s - s_ref).abs().max().item() <= 1e-5
    differ = i != i_ref
    if differ.any():  # then both picks must be maxima up to rounding
        q = F.normalize(F.unfold(lrsr.double(), 3, padding=1), dim=1)
        k = F.normalize(F.unfold(refsr.double(), 3, padding=1), dim=1)
        rel = torch.bmm(k.transpose(1, 2), q)
        a = rel.gather(1, i.unsqueeze(1)).squeeze(1)
        b = rel.gather(1, i_ref.unsqueeze(1)).squeeze(1)
        assert (a - b).abs()[differ].max().item() <= 1e-5
        assert differ.float().mean().item() < 0.01


def test_dense_matches_definition():
    """Relevance = cosine of 3×3 zero-padded patches; S = max, index = argmax over the reference."""
    f = _feats(0, 1, 4, 4, 5, 3, 4)
    lr, ref = f["lrsr_lv3"].double(), f["refsr_lv3"].double()
    s, idx = relevance_dense(lr, ref)
    lp, rp = F.pad(lr, (1, 1, 1, 1)), F.pad(ref, (1, 1, 1, 1))
    for y in range(4):
        for x in range(5):
            q = lp[0, :, y:y + 3, x:x + 3].flatten()
            rel = torch.stack([
                torch.dot(q, rp[0, :, ry:ry + 3, rx:rx + 3].flatten())
                / (q.norm() * rp[0, :, ry:ry + 3, rx:rx + 3].flatten().norm())
                for ry in range(3) for rx in range(4)
            ])
            assert idx[0, y * 5 + x].item() == int(rel.argmax())
            assert abs(s[0, 0, y, x].item() - rel.max().item()) < 1e-12


def test_dense_transfer_copies_selected_patch_centres():
    """With index = identity on equal grids, the transfer gives back the reference (fold of its own
    patches / 9 reproduces interior values exactly: every pixel is covered by 9 patches)."""
    f = _feats(1, 1, 2, 6, 7, 6, 7)
    idx = torch.arange(42).unsqueeze(0)
    t3, t2, t1 = transfer_dense(idx, f["ref_lv1"], f["ref_lv2"], f["ref_lv3"], (6, 7))
    torch.testing.assert_close(t3[..., 1:-1, 1:-1], f["ref_lv3"][..., 1:-1, 1:-1])
    torch.testing.assert_close(t2[..., 2:-2, 2:-2], f["ref_lv2"][..., 2:-2, 2:-2])
    torch.testing.assert_close(t1[..., 4:-4, 4:-4], f["ref_lv1"][..., 4:-4, 4:-4])
    t3g, t2g, t1g = transfer_gather(idx, f["ref_lv1"], f["ref_lv2"], f["ref_lv3"], (6, 7))
    torch.testing.assert_close(t1g, t1)


CASES = [
    # n, c, h, w, hr, wr
    (1, 8, 9, 12, 10, 14),
    (2, 6, 7, 5, 11, 9),  # odd sizes, batch of 2
    (2, 16, 13, 17, 5, 23),
    (1, 4, 1, 1, 1, 1),  # single positions
    (1, 4, 3, 1, 1, 7),  # one-column LR, one-row reference
    (2, 5, 6, 6, 2, 3),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("tile", [None, 1, 3, 7, 50])
def test_chunked_equals_dense(case, tile):
    """Tiles of 1, 3, 7 split rows mid-way; 50 spans several rows."""
    f = _feats(hash(case) % 1000, *case)
    s0, i0 = relevance_dense(f["lrsr_lv3"], f["refsr_lv3"])
    s1, i1 = relevance_chunked(f["lrsr_lv3"], f["refsr_lv3"], tile=tile)
    _assert_same_search(f["lrsr_lv3"], f["refsr_lv3"], s0, i0, s1, i1)
    assert s1.shape == s0.shape == (case[0], 1, case[2], case[3])


@pytest.mark.parametrize("budget", [5_000, 50_000, 500_000])
def test_small_budgets_give_same_search(budget):
    """Budgets far below the dense size force many LR tiles and reference chunks."""
    f = _feats(3, 2, 12, 11, 13, 14, 9)
    s0, i0 = relevance_dense(f["lrsr_lv3"], f["refsr_lv3"])
    s1, i1 = relevance_chunked(f["lrsr_lv3"], f["refsr_lv3"], max_memory=budget)
    _assert_same_search(f["lrsr_lv3"], f["refsr_lv3"], s0, i0, s1, i1)


def test_relevance_blocks_have_one_fixed_shape(monkeypatch):
    """Every relevance product is one Gram block of the same shape — C-channel pixels, not 9·C
    patches (the budget-independent computation) — and at TTSR's 256 channels on a 2500-pixel-wide
    reference its working set stays far below the 128 MiB CPU default."""
    f = _feats(4, 2, 8, 16, 24, 20, 30)
    shapes, real_mm = set(), torch.mm

    def spy(a, b):
        shapes.add((tuple(a.shape), tuple(b.shape)))
        return real_mm(a, b)

    monkeypatch.setattr(torch, "mm", spy)
    s1, i1 = relevance_chunked(f["lrsr_lv3"], f["refsr_lv3"], max_memory=64_000, tile=64)
    monkeypatch.undo()
    band, cols, wr = 64 // 30, 64, 30  # rows per band from the tile hook, reference grid width
    assert shapes == {(((band + 2) * (wr + 2), 8), (8, (band + 2) * (cols + 2)))}  # K = 8 channels
    s0, i0 = relevance_dense(f["lrsr_lv3"], f["refsr_lv3"])
    _assert_same_search(f["lrsr_lv3"], f["refsr_lv3"], s0, i0, s1, i1)
    b, c, w = st.BAND, st.LR_COLS, 625  # one TTSR image against a 2500×500 reference
    gram, rel = 4 * (b + 2) ** 2 * (c + 2) * (w + 2), 4 * b * b * c * w
    assert gram + 2 * rel < 128 << 20


BUDGETS = [16 << 20, 64_000, 1_000, 1 << 30]  # keeps or rebuilds the reference tiles


def _search_at_budgets(lr, ref, **kw):
    return [relevance_chunked(lr, ref, max_memory=b, **kw) for b in BUDGETS]


def test_budget_never_changes_the_search_bitwise():
    """S and index are bitwise identical at every budget (the row identity has no budget)."""
    f = _feats(13, 2, 16, 19, 23, 21, 25)
    outs = _search_at_budgets(f["lrsr_lv3"], f["refsr_lv3"], tile=64)
    for s, i in outs[1:]:
        assert torch.equal(s, outs[0][0]) and torch.equal(i, outs[0][1])


def _tie_case(nudged: int | None):
    """LR 5×5 and a 12×12 reference holding the same patch r (the LR's centre patch plus noise,
    relevance ≈ 0.9 to it) at flat positions 50 and 80, on the two sides of a 64-position tile
    boundary. The copy at ``nudged`` gets 1e-4 × the LR patch added, which raises its relevance by
    ~1e-5 (a near tie, a few hundred float32 steps); None: an exact tie."""
    g = torch.Generator().manual_seed(21)
    lr = torch.randn(1, 8, 5, 5, generator=g)
    ref = torch.randn(1, 8, 12, 12, generator=g) * 0.1  # other patches far from the query
    q = lr[0, :, 1:4, 1:4]
    r = q + 0.5 * torch.randn(q.shape, generator=g)
    for pos in (50, 80):
        y, x = divmod(pos, 12)
        ref[0, :, y - 1:y + 2, x - 1:x + 2] = r + (1e-4 * q if pos == nudged else 0)
    return lr, ref


@pytest.mark.parametrize("nudged,want", [(None, 50), (80, 80), (50, 50)])
def test_exact_and_near_tie_across_a_tile_boundary(nudged, want):
    """The centre LR position (flat 12) finds its patch at 50 and at 80 (a tile boundary at 64 between
    them): the exact tie resolves to the first (50), a near tie to the larger, as the dense search
    does, at every budget and with tile boundaries elsewhere (tile 64, 7, 256)."""
    lr, ref = _tie_case(nudged)
    s0, i0 = relevance_dense(lr, ref)
    assert i0[0, 12].item() == want
    if nudged is not None:  # a near tie indeed: the two copies within 1e-4 in relevance (double)
        rel = torch.bmm(F.normalize(F.unfold(ref.double(), 3, padding=1), dim=1).transpose(1, 2),
                        F.normalize(F.unfold(lr.double(), 3, padding=1), dim=1))[0, :, 12]
        assert 1e-6 < abs(rel[50] - rel[80]).item() < 1e-4 and rel.argmax().item() == want
    for tile in (64, 7, None):
        for s, i in _search_at_budgets(lr, ref, tile=tile):
            assert i[0, 12].item() == want
            assert torch.equal(i, i0)
            assert (s - s0).abs().max().item() <= 1e-6


def _one_hot_sparse(n, c, h, w, seed):
    """Features whose every 3×3 patch holds at most one non-zero pixel (value 1 in one channel):
    normalised patches are unit vectors, so relevances are exactly 0 or 1 and ties are exact."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, c, h, w)
    ch = torch.randint(0, c, (n, h, w), generator=g)
    for b in range(n):
        for y in range(0, h, 3):
            for xx in range(0, w, 3):
                x[b, ch[b, y, xx], y, xx] = 1.0
    return x


@pytest.mark.parametrize("tile", [None, 1, 4, 13])
def test_exact_ties_pick_first_maximum(tile):
    lr = _one_hot_sparse(2, 2, 8, 10, 5)
    ref = _one_hot_sparse(2, 2, 11, 13, 6)
    s0, i0 = relevance_dense(lr, ref)
    s1, i1 = relevance_chunked(lr, ref, tile=tile)
    # many exact ties exist, and the dense oracle (torch.max) takes the first of them
    k = F.normalize(F.unfold(ref, 3, padding=1), dim=1)
    q = F.normalize(F.unfold(lr, 3, padding=1), dim=1)
    rel = torch.bmm(k.transpose(1, 2), q)
    n_max = (rel == rel.max(dim=1, keepdim=True).values).sum(dim=1)
    assert (n_max > 1).float().mean() > 0.5
    first = (rel == rel.max(dim=1, keepdim=True).values).float().argmax(dim=1)
    assert torch.equal(i0, first)
    assert torch.equal(i1, i0)
    assert torch.equal(s1, s0)


def test_all_zero_reference_gives_index_zero():
    f = _feats(7, 1, 4, 5, 6, 4, 7)
    ref = torch.zeros_like(f["refsr_lv3"])
    s0, i0 = relevance_dense(f["lrsr_lv3"], ref)
    s1, i1 = relevance_chunked(f["lrsr_lv3"], ref, tile=3)
    assert torch.equal(i0, torch.zeros_like(i0)) and torch.equal(i1, i0)
    assert torch.equal(s1, s0)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("budget", [None, 5_000, 50_000])
def test_transfer_gather_equals_dense(case, budget):
    f = _feats(hash(case) % 997, *case)
    n, _, h, w, hr, wr = case
    g = torch.Generator().manual_seed(11)
    idx = torch.randint(0, hr * wr, (n, h * w), generator=g)
    dense = transfer_dense(idx, f["ref_lv1"], f["ref_lv2"], f["ref_lv3"], (h, w))
    fast = transfer_gather(idx, f["ref_lv1"], f["ref_lv2"], f["ref_lv3"], (h, w), max_memory=budget)
    for a, b, s in zip(dense, fast, (1, 2, 4)):
        assert b.shape == a.shape == (n, a.shape[1], h * s, w * s)
        assert (a - b).abs().max().item() <= 1e-5


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("rows", [4, 8, 12])
def test_transfer_from_bands_equals_dense(case, rows):
    """The reference's levels handed over in bands of `rows` image rows (as `LTE.bands` does in
    inference) give the dense transfer."""
    f = _feats(hash(case) % 991, *case)
    n, _, h, w, hr, wr = case
    idx = torch.randint(0, hr * wr, (n, h * w), generator=torch.Generator().manual_seed(5))
    dense = transfer_dense(idx, f["ref_lv1"], f["ref_lv2"], f["ref_lv3"], (h, w))
    height = 4 * hr
    bands = ((y0, min(y0 + rows, height), (f["ref_lv1"][..., y0:y0 + rows, :], f["ref_lv2"][..., y0 // 2:(y0 + rows) // 2, :],
                                           f["ref_lv3"][..., y0 // 4:(y0 + rows) // 4, :]))
             for y0 in range(0, height, rows))
    fast = st.transfer_bands(idx, bands, (h, w), max_memory=50_000)
    for a, b in zip(dense, fast):
        assert b.shape == a.shape and (a - b).abs().max().item() <= 1e-5


def test_module_has_no_state_and_modes_agree():
    f = _feats(8, 2, 8, 9, 7, 10, 11)
    dense = SearchTransfer(mode="dense")
    chunked = SearchTransfer(max_memory=10_000)
    assert chunked.mode == "chunked" and dense.state_dict() == {} and list(chunked.parameters()) == []
    a, b = dense(**f), chunked(**f)
    assert torch.equal(a[4], b[4])
    for x, y in zip(a[:4], b[:4]):
        assert x.shape == y.shape and (x - y).abs().max().item() <= 1e-5
    with pytest.raises(ValueError):
        SearchTransfer(mode="sparse")


def test_gradients_agree_with_dense():
    """Training goes through the chunked path: gradients equal the oracle's (float64)."""
    grads = []
    for mode in ("dense", "chunked"):
        f = {k: v.requires_grad_() for k, v in _feats(9, 2, 6, 5, 7, 6, 9, dtype=torch.float64).items()}
        out = SearchTransfer(mode=mode, max_memory=3_000)(**f)
        g = torch.Generator().manual_seed(1)
        loss = sum((o * torch.randn(o.shape, generator=g, dtype=o.dtype)).sum() for o in out[:4])
        grads.append(torch.autograd.grad(loss, list(f.values())))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_oom_halves_the_budget_and_retries(monkeypatch):
    f = _feats(10, 1, 6, 7, 6, 8, 9)
    seen, real = [], st.relevance_chunked

    def flaky(*args, max_memory=None, **kw):
        seen.append(max_memory)
        if max_memory > 4 << 20:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(*args, max_memory=max_memory, **kw)

    monkeypatch.setattr(st, "relevance_chunked", flaky)
    out = SearchTransfer(max_memory=32 << 20)(**f)
    assert seen == [32 << 20, 16 << 20, 8 << 20, 4 << 20]
    s0, i0 = relevance_dense(f["lrsr_lv3"], f["refsr_lv3"])
    assert torch.equal(out[4], i0)

    def always(*args, **kw):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(st, "relevance_chunked", always)
    with pytest.raises(torch.OutOfMemoryError):
        SearchTransfer(max_memory=8 << 20)(**f)


def test_other_errors_are_not_retried(monkeypatch):
    calls = []

    def broken(*args, **kw):
        calls.append(1)
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(st, "relevance_chunked", broken)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        SearchTransfer(max_memory=64 << 20)(**_feats(0, 1, 4, 3, 3, 3, 3))
    assert len(calls) == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_chunked_uses_less_memory_than_dense():
    f = {k: v.cuda() for k, v in _feats(12, 1, 64, 40, 30, 60, 80).items()}
    torch.cuda.synchronize()
    peaks, outs = [], []
    for mode, budget in (("dense", None), ("chunked", 8 << 20)):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        outs.append(SearchTransfer(mode=mode, max_memory=budget)(**f))
        peaks.append(torch.cuda.max_memory_allocated() - base)
    assert torch.equal(outs[0][4], outs[1][4])
    assert peaks[1] < peaks[0] / 4
