"""Memory budgets given by the user: one parser for ``--max-memory`` and config ``max_memory``.

``parse_memory("4G")`` → bytes. Accepted: a number with an optional binary unit, case-insensitive:
``B``; ``K``/``KB``/``KiB`` (2¹⁰); ``M``/``MB``/``MiB`` (2²⁰); ``G``/``GB``/``GiB`` (2³⁰);
``T``/``TB``/``TiB`` (2⁴⁰). **A bare number means MiB** (``--max-memory 512`` is 512 MiB), so a
forgotten unit cannot ask for a few bytes. Fractions are allowed (``1.5G``).

Floor: ``MIN_MEMORY`` = 16 MiB, the smallest budget the texture search can honour: its fixed
search blocks (`ttsr.search_transfer.BAND` grid rows × `LR_COLS` LR columns against whole reference
rows) need a few MB for one image with TTSR's 256 channels; below the floor the budget could not be
kept, so it is a one-line `UserError`. (Measured with the earlier patch-product search: at the floor
a CUFED5-sized search took 72 s against 44 s at the 128 MiB CPU default, 2 shared CPU cores.)
The budget never changes a result, only memory and time (`ttsr.search_transfer`).

The one name of a memory bound across the code is ``max_memory``: bytes (int), or None for the
method's default (`ttsr.search_transfer.default_max_memory`). Config files give it as
`ConfigSize` (a size string, or an integer of MiB), turned into bytes by `parse_memory`.
"""
from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field

from foundation.errors import UserError

MIN_MEMORY = 16 << 20  # bytes: the smallest budget accepted from a user
#: a memory size in a TOML config, checked by pydantic before `parse_memory` reads it
ConfigSize = str | Annotated[int, Field(ge=1)] | None  # the floor: parse_memory's message
CONFIG_SIZE_HELP = 'a size such as "8GiB" (a string) or MiB (an integer ≥ 16; foundation.budget)'

_UNITS = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:([kmgt])(?:i?b)?|(b))?\s*", re.IGNORECASE)


def parse_memory(text: str | int | float, what: str = "--max-memory") -> int:
    """A memory size → bytes (int ≥ ``MIN_MEMORY``); see the module docstring for the syntax.

    ``what`` names the option or config key in the error. Raises `UserError` (one line) for text
    that is not a size and for a size below ``MIN_MEMORY``.
    """
    if isinstance(text, bool):
        text = "invalid"
    match = _SIZE.fullmatch(str(text))
    if not match:
        raise UserError(f"{what} {text!r}: expected a size such as 4G, 512M or 512 (a bare number is MiB)")
    unit = (match.group(2) or match.group(3) or "m").lower()
    value = int(float(match.group(1)) * _UNITS[unit])
    if value < MIN_MEMORY:
        raise UserError(f"{what} {text!r}: {describe(value)} is below the {describe(MIN_MEMORY)} the texture "
                        f"search needs to finish in sensible time; give at least {MIN_MEMORY >> 20}M")
    return value


def describe(size: int) -> str:
    """Bytes as a short human size: '512 B', '16 MiB', '1.5 GiB'."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor:
            return f"{size / factor:g} {unit}"
    return f"{size} B"
