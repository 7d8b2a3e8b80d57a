"""Small file-system helpers shared by the loaders: folder lookup, header probes (image listing:
`foundation.imageio.list_images`)."""
from __future__ import annotations

from pathlib import Path

from foundation.imageio import checked_size


def child_dir(folder: Path, *names: str) -> Path | None:
    """The sub-folder of `folder` whose name equals one of `names`, ignoring case (first match)."""
    if not folder.is_dir():
        return None
    wanted = [n.lower() for n in names]
    children = {p.name.lower(): p for p in sorted(folder.iterdir()) if p.is_dir()}
    for name in wanted:
        if name in children:
            return children[name]
    return None


def probe_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file header, without decoding; UserError naming the file otherwise,
    and for an image over the pixel limit (`foundation.imageio.checked_size`: a decompression bomb)."""
    return checked_size(path)


def short_list(items: list[str], limit: int = 8) -> str:
    """'a, b, c' or 'a, b, … (N in all)' for messages that must stay one line."""
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f", … ({len(items)} in all)"
