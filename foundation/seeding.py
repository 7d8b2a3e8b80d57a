"""Seeding: the one function that seeds every global random number generator a run uses.

Python's `random`, NumPy's legacy global generator (`np.random.seed` takes 0 … 2³² − 1, so the
seed is taken modulo 2³²) and torch's generators (CPU and every CUDA device, `torch.manual_seed`).
Code that must not depend on the order of draws (training samples, dataset choices) draws from
its own generator seeded from (seed, …) instead (`training.data`, `benchmarks.datasets.files`).
"""
from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators with the integer `seed` (≥ 0)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
