"""Shared test fixtures: the ../shared reference folder (skip with a reason when absent)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ../shared folder beside the checkout; tests that need it skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (reference data lives beside the checkout, not in it)")
    return SHARED


def shared_path(*parts: str) -> Path:
    """A path under ../shared, skipping the calling test when it is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (reference data beside the checkout)")
    return path


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Every test runs torch on one intra-op thread, restored afterwards.

    On a 2-core machine shared with other jobs, spin-waiting threads cost several times the work
    itself on small tensors (IMDN on Set14 ~4× slower, tiny TTSR convs 10×). Subprocess tests
    (torchrun, CLIs) choose their own threads.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    """A fresh machine for the runner: an empty working directory, no data or weights variables."""
    for name in ("TTSR_BENCH_DATA", "TTSR_BENCH_WEIGHTS", "TTSR_BENCH_CONFIG", "TTSR_BENCH_TEST_ROW_DELAY"):
        monkeypatch.delenv(name, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work
