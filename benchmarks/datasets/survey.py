"""`Survey`: what a set's folder holds (layout, usable count, problems), for `data check` and loaders."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Survey:
    """The result of looking at one set's folder without decoding any image."""

    path: Path | None
    layout: str | None  # None: no layout recognised
    found: int = 0  # usable items (images, CUFED5 groups, Sun80 images with references)
    detail: str = ""  # e.g. "5 HR, 0 with scene matches"
    problems: list[str] = field(default_factory=list)
    blocking: bool = False  # the default reference mode cannot run (e.g. Sun80 without references)
