"""Sharded evaluation under `torchrun`: which images a rank evaluates, and where its rows go.

`torchrun --nproc_per_node N -m benchmarks.run …` starts N copies of the runner. Each copy
evaluates the images `i` with `i % N == rank` of every (method, dataset) pass and appends its
rows, durably, to its own part file `<out>/parts/rows-rank<K>.csv` (same format and kill safety
as `rows.csv`). After each pass all ranks meet at a barrier and rank 0 moves the part files'
rows into `rows.csv`; part files left behind by a killed run are merged by rank 0 at the start
of the next one. Only rank 0 writes `rows.csv`, `summary.csv`, `manifest.json`, `skipped.json`.

Backend: NCCL when the device is CUDA (each rank on `cuda:<LOCAL_RANK>`), gloo on CPU.
Without `torchrun` (no `WORLD_SIZE` > 1 in the environment) everything is a no-op, world size 1.
"""
from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from benchmarks.results import RowStore

PARTS_DIR = "parts"


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, indices: Sequence[int]) -> list[int]:
        """This rank's images: those whose position in the full set is ≡ rank (mod world size)."""
        return [i for i in indices if i % self.world_size == self.rank]

    def barrier(self) -> None:
        if self.active:
            import torch.distributed as dist

            if self.backend == "nccl":
                dist.barrier(device_ids=[self.local_rank])
            else:
                dist.barrier()

    def broadcast(self, value):
        """Rank 0's `value` on every rank (the value itself without torchrun)."""
        if not self.active:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def close(self) -> None:
        if self.active:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def requested_world_size() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def init(device_type: str) -> Dist:
    """Join the process group started by torchrun (no-op for a single process)."""
    world = requested_world_size()
    if world <= 1:
        return Dist()
    import torch
    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    backend = "nccl" if device_type == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=_dt.timedelta(hours=2))
    return Dist(rank=rank, world_size=world, local_rank=local_rank, backend=backend)


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
