"""Processes under torchrun: who this process is, and joining / leaving the process group.

`torchrun --nproc_per_node N -m …` starts N copies of a command and tells each, in its
environment, ``WORLD_SIZE`` (N × nodes), ``RANK`` (0 … WORLD_SIZE − 1) and ``LOCAL_RANK`` (its
index on this node, which picks its GPU: `foundation.devices.resolve_device`). Without torchrun
(no ``WORLD_SIZE`` > 1) everything here is a no-op for one process of rank 0.

`init_distributed(device)` joins the group: NCCL on CUDA (after `torch.cuda.set_device`), gloo
on CPU. `Dist` carries the ranks and the few collective steps both the evaluation
(`benchmarks.distributed`: sharding images, merging per-rank rows) and the trainer
(`training.trainer`: DDP) need. Source: PyTorch's torchrun documentation (environment variables).
"""
from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass
from typing import Mapping

from foundation.errors import UserError

#: how long a rank waits for the others at a collective step (a slow pass or validation)
TIMEOUT = _dt.timedelta(hours=2)


@dataclass(frozen=True)
class Dist:
    """This process's place: `rank` of `world_size` processes, `local_rank` on its node, and the
    process-group `backend` ("nccl", "gloo"; None when not joined)."""
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def active(self) -> bool:
        """Whether there is more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the one process that writes shared files and prints."""
        return self.rank == 0

    def barrier(self) -> None:
        """Wait for every rank (no-op for one process)."""
        if self.active:
            import torch.distributed as dist

            if self.backend == "nccl":
                dist.barrier(device_ids=[self.local_rank])
            else:
                dist.barrier()

    def broadcast(self, value):
        """Rank 0's `value` (any picklable object) on every rank; the value itself for one process."""
        if not self.active:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def close(self) -> None:
        """Leave the process group, when one was joined."""
        if self.active:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def _env_int(environ: Mapping[str, str], name: str, default: int, low: int) -> int:
    text = environ.get(name)
    if text is None or not text.strip():
        return default
    try:
        value = int(text.strip())
    except ValueError:
        value = low - 1
    if value < low:
        raise UserError(f"${name} {text!r}: expected a whole number ≥ {low} (torchrun sets it); "
                        f"unset it to run one process")
    return value


def from_env(environ: Mapping[str, str] | None = None) -> Dist:
    """The ranks torchrun gave this process (`environ`: default `os.environ`), without joining the
    group: WORLD_SIZE (default 1), RANK (default 0), LOCAL_RANK (default RANK). A value that is not
    a whole number in range is a `UserError` naming the variable."""
    environ = os.environ if environ is None else environ
    world = _env_int(environ, "WORLD_SIZE", 1, 1)
    if world == 1:
        return Dist()
    rank = _env_int(environ, "RANK", 0, 0)
    if rank >= world:
        raise UserError(f"$RANK {rank}: must be below $WORLD_SIZE {world} (torchrun sets both)")
    return Dist(rank=rank, world_size=world, local_rank=_env_int(environ, "LOCAL_RANK", rank, 0))


def init_distributed(device) -> Dist:
    """Join the process group torchrun started (a no-op `Dist` for one process): NCCL when `device`
    (a `torch.device` or its name) is CUDA, each rank on its own GPU, else gloo."""
    import torch
    import torch.distributed as dist

    env = from_env()
    if not env.active:
        return env
    device = torch.device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(device if device.index is not None else env.local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=TIMEOUT)
    return Dist(rank=env.rank, world_size=env.world_size, local_rank=env.local_rank, backend=backend)
