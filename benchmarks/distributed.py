"""Sharded evaluation under `torchrun`: which images a rank evaluates, and where its rows go.

`torchrun --nproc_per_node N -m benchmarks.run …` starts N copies of the runner. Each copy
evaluates the images `i` with `i % N == rank` of every (method, dataset) pass and appends its
rows, durably, to its own part file `<out>/parts/rows-rank<K>.csv` (same format and kill safety
as `rows.csv`). After each pass all ranks meet at a barrier and rank 0 moves the part files'
rows into `rows.csv`; part files left behind by a killed run are merged by rank 0 at the start
of the next one. Only rank 0 writes `rows.csv`, `summary.csv`, `manifest.json`, `skipped.json`.

Ranks, backend (NCCL on CUDA, each rank on `cuda:<LOCAL_RANK>`; gloo on CPU), barrier and
broadcast: `foundation.distributed`. Without `torchrun` everything is a no-op, world size 1.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from benchmarks.results import RowStore
from foundation.distributed import Dist

PARTS_DIR = "parts"


def shard(dist: Dist, indices: Sequence[int]) -> list[int]:
    """This rank's images: those whose position in the full set is ≡ rank (mod world size)."""
    return [i for i in indices if i % dist.world_size == dist.rank]


def part_path(out: Path, rank: int) -> Path:
    return Path(out) / PARTS_DIR / f"rows-rank{rank}.csv"


def merge_parts(out: Path, store: RowStore) -> int:
    """Rank 0: move every part file's rows into the main store (rank order), then delete them."""
    parts_dir = Path(out) / PARTS_DIR
    if not parts_dir.is_dir():
        return 0
    moved = 0
    parts = sorted(parts_dir.glob("rows-rank*.csv"), key=lambda p: int(p.stem.removeprefix("rows-rank") or 0))
    for part in parts:
        moved += store.merge_from(RowStore(part, store.columns))
        part.unlink()
    try:
        parts_dir.rmdir()
    except OSError:
        pass
    return moved
