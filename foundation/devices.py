"""Devices: the one parser and resolver behind every command's ``--device``.

Accepted names (case-insensitive): ``auto`` (CUDA when PyTorch sees a GPU, else CPU), ``cpu``,
``cuda`` (the current GPU; under torchrun ``cuda:$LOCAL_RANK``), ``cuda:N`` (GPU N of those
visible, N < `torch.cuda.device_count()`), ``mps`` (Apple GPU, where PyTorch has it).

- `device_arg` is the ``type=`` function of ``--device``: it checks the name and that the device
  exists here, so a typo or a missing GPU is one line before anything is built (argparse, exit 2).
- `resolve_device` turns a name (or None = ``auto``, or a `torch.device`) into a `torch.device`,
  raising `UserError` (one line) for a name that is not a device or a device this machine lacks.
  Under torchrun (``$WORLD_SIZE`` > 1, `foundation.distributed`) each rank takes
  ``cuda:$LOCAL_RANK``; an explicit ``cuda:N`` other than that is refused.
"""
from __future__ import annotations

import argparse

import torch

from foundation.errors import UserError

DEVICE_NAMES = "auto, cpu, cuda, cuda:N or mps"
DEVICE_HELP = f"{DEVICE_NAMES} (default auto: cuda when present, else cpu; under torchrun cuda:$LOCAL_RANK)"


def _cuda_count() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def _problem(value: str) -> str | None:
    """Why device name `value` (lower-case) cannot be used here, or None when it can."""
    kind, colon, index = value.partition(":")
    if value in ("auto", "cpu"):
        return None
    if value == "mps":
        return None if _mps_available() else "no MPS (Apple GPU) device here; use cpu"
    if kind != "cuda" or (colon and not index.isdigit()):
        return f"expected {DEVICE_NAMES}"
    count = _cuda_count()
    if count == 0:
        return "no CUDA device is visible here; use cpu or auto"
    if colon and int(index) >= count:
        return f"only {count} CUDA device(s) here (cuda:0…cuda:{count - 1})"
    return None


def device_arg(text: str) -> str:
    """``type=`` function of ``--device``: the name, lower-case, when it is a device of this machine;
    else `argparse.ArgumentTypeError` (one line through `foundation.cli_types.OneLineParser`)."""
    value = str(text).strip().lower()
    problem = _problem(value)
    if problem:
        raise argparse.ArgumentTypeError(f"{text!r}: {problem}")
    return value


def resolve_device(choice: str | torch.device | None = None, what: str = "--device",
                   local_rank: int | None = None) -> torch.device:
    """The `torch.device` for `choice` (None: ``auto``); see the module docstring.

    `local_rank`: this process's GPU under torchrun (None: `foundation.distributed.from_env`).
    Raises `UserError` naming `what` (the option or config key) when the device is not usable here.
    """
    from foundation.distributed import from_env

    text = "auto" if choice is None else str(choice)
    value = text.strip().lower()
    problem = _problem(value)
    if problem:
        raise UserError(f"{what} {text!r}: {problem}")
    if value == "auto":
        value = "cuda" if _cuda_count() else "cpu"
    device = torch.device(value)
    if device.type != "cuda":
        return device
    env = from_env()
    if local_rank is None and env.active:
        local_rank = env.local_rank
    if local_rank is None:
        return device
    if device.index is not None and device.index != local_rank:
        raise UserError(f"{what} {text!r}: under torchrun each rank uses cuda:$LOCAL_RANK (here cuda:{local_rank}); "
                        "give cuda or auto, and choose GPUs with CUDA_VISIBLE_DEVICES")
    if local_rank >= _cuda_count():
        raise UserError(f"{what} {text!r}: LOCAL_RANK {local_rank} but only {_cuda_count()} CUDA device(s) here; "
                        "start at most that many processes per node")
    return torch.device("cuda", local_rank)
