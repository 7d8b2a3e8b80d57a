"""Seeding: the one function that seeds every global random number generator a run uses.

A seed is a whole number in 0 … `SEED_MAX` = 2³² − 1 (what NumPy's legacy generator takes; every
`--seed` and config `seed` is checked against it). Seeded: Python's `random`, NumPy's legacy
global generator and torch's generators (CPU and every CUDA device, `torch.manual_seed`).
Code that must not depend on the order of draws (training samples, dataset choices) draws from
its own generator seeded from (seed, …) instead (`training.data`, `benchmarks.datasets.files`).
"""
from __future__ import annotations

import random

import numpy as np
import torch


SEED_MAX = 2**32 - 1


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators with `seed` (0 … SEED_MAX; `ValueError`
    outside: the command-line and config checks keep users inside)."""
    if not 0 <= seed <= SEED_MAX:
        raise ValueError(f"seed {seed} outside 0…{SEED_MAX}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
