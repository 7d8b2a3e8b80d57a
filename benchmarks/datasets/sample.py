"""`Sample` (one test image with its references), `SampleSequence` (a lazy, registered test set) and
`sequence` (the set a loader's listing gives under one reference mode)."""
from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from benchmarks.datasets import refmodes
from benchmarks.datasets.files import probe_size, short_list
from benchmarks.datasets.refmodes import Listed, RefMode
from foundation.errors import UserError
from foundation.resize import check_lr_hr

#: reference modes with no reference image in `Sample.refs`
NO_REF_MODES = refmodes.no_ref_modes()


class DatasetWarning(UserWarning):
    """A test set is incomplete or was adjusted (missing files, cropped references); the rest is used."""


class SampleSkipped(UserError):
    """Raised by `SampleSequence[i]` for an image skipped under `skip_bad=True` (already recorded)."""


def _check_image(what: str, image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = getattr(image, "shape", type(image).__name__), getattr(image, "dtype", "")
        raise ValueError(f"{what} must be a uint8 H×W×3 RGB array, got {got}")


@dataclass(eq=False)
class Sample:
    """One evaluation item: HR image, reference images, optional given LR, all uint8 H×W×3 RGB.

    `ref_mode` says how `refs` was chosen; "lr" means the reference is the LR image itself and
    "none" means no reference (SISR) — in both cases `refs` is empty.
    """

    name: str
    hr: np.ndarray
    refs: list[np.ndarray] = field(default_factory=list)
    lr: np.ndarray | None = None
    ref_mode: str = "given"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_image(f"{self.name}: hr", self.hr)
        self.refs = list(self.refs)
        for i, ref in enumerate(self.refs):
            _check_image(f"{self.name}: refs[{i}]", ref)
        if self.lr is not None:
            _check_image(f"{self.name}: lr", self.lr)
        if self.ref_mode in NO_REF_MODES and self.refs:
            raise ValueError(f"{self.name}: ref_mode {self.ref_mode!r} takes no reference images")

    @property
    def ref(self) -> np.ndarray | None:
        """The single reference, or None for "lr"/"none" (multi-reference modes: use `refs`)."""
        return self.refs[0] if len(self.refs) == 1 else None


@dataclass
class Entry:
    """A not-yet-read sample: its name, what it is made of, and how to read it."""

    name: str
    build: Callable[[], Sample]
    files: tuple[Path, ...] = ()


def skip_record(dataset: str, name: str, reason: str, fix: str) -> dict:
    """One item of `SampleSequence.skipped` (the shape of the runner's skipped.json)."""
    return {"what": f"{dataset}/{name}", "reason": reason, "fix": fix}


class SampleSequence(Sequence):
    """A lazily read test set: `len()`, `.names`, indexing and slicing; images are read on access.

    With `skip_bad=True` an unreadable image is recorded in `.skipped` and left out by iteration
    (indexing it raises `SampleSkipped`); otherwise the `UserError` naming the file propagates.
    """

    def __init__(self, dataset: str, ref_mode: str, entries: list[Entry], *, root: Path | None,
                 layout: str, seed: int | None = None, scale: int = 4, skip_bad: bool = False,
                 skipped: list[dict] | None = None, missing: list[str] | None = None,
                 options: dict | None = None) -> None:
        self.dataset = dataset
        self.ref_mode = ref_mode
        self.root = root
        self.layout = layout
        self.seed = seed
        self.scale = scale
        self.skip_bad = skip_bad
        self.skipped: list[dict] = list(skipped or [])
        self.missing: list[str] = list(missing or [])
        self.options = dict(options or {})
        self._entries = list(entries)

    @property
    def names(self) -> list[str]:
        return [entry.name for entry in self._entries]

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self.subset(range(len(self))[index])
        entry = self._entries[index]
        try:
            return entry.build()
        except SampleSkipped:
            raise
        except UserError as err:
            if not self.skip_bad:
                raise
            self._record(entry.name, str(err))
            raise SampleSkipped(f"{self.dataset}/{entry.name} skipped: {err}") from err

    def digest(self, index: int) -> str:
        """`data_sha256` of image `index` (`benchmarks.identity.sample_digest`): its row's data
        identity. Raises `UserError` naming the file when the image cannot be read."""
        from benchmarks.identity import sample_digest

        entry = self._entries[index]
        try:
            for path in entry.files:  # what a read would refuse is refused here too (run and resume agree)
                probe_size(path)
            return sample_digest(entry)
        except OSError as err:
            raise UserError(f"{err.filename or entry.name}: cannot be read ({err.strerror or err})") from err

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            try:
                yield self[i]
            except SampleSkipped:
                continue

    def _record(self, name: str, reason: str) -> None:
        what = f"{self.dataset}/{name}"
        if not any(item["what"] == what for item in self.skipped):
            self.skipped.append(skip_record(self.dataset, name, reason, "replace or re-download the file"))

    def subset(self, indices) -> "SampleSequence":
        """The same set restricted to `indices` (e.g. one shard); `skipped` is shared."""
        out = SampleSequence(self.dataset, self.ref_mode, [self._entries[i] for i in indices],
                             root=self.root, layout=self.layout, seed=self.seed, scale=self.scale,
                             skip_bad=self.skip_bad, missing=self.missing, options=self.options)
        out.skipped = self.skipped
        return out

    def describe(self) -> dict:
        """What a run manifest records about this set."""
        return {"dataset": self.dataset, "ref_mode": self.ref_mode, "seed": self.seed,
                "scale": self.scale, "root": str(self.root) if self.root else None,
                "layout": self.layout, "count": len(self), "options": self.options,
                "skipped": list(self.skipped), "missing": list(self.missing)}

    def __repr__(self) -> str:
        return (f"SampleSequence({self.dataset!r}, ref_mode={self.ref_mode!r}, n={len(self)}, "
                f"seed={self.seed}, layout={self.layout!r})")


def screen_hr(dataset: str, candidates: list[tuple[str, Path]], *, scale: int,
              skip_bad: bool) -> tuple[set[str], list[dict]]:
    """Check HR headers: unreadable → UserError (or skipped with `skip_bad`); too small → skipped.

    An HR smaller than 3·scale pixels on a side leaves an LR under 3 pixels, too small for a 3×3
    patch search, so it is skipped with the reason recorded. Returns (names to keep, skipped).
    """
    keep: set[str] = set()
    skipped: list[dict] = []
    minimum = 3 * scale
    for name, path in candidates:
        try:
            width, height = probe_size(path)
        except UserError as err:
            if not skip_bad:
                raise
            skipped.append(skip_record(dataset, name, str(err), "replace or re-download the file"))
            continue
        if min(width, height) < minimum:
            skipped.append(skip_record(
                dataset, name, f"{path}: {width}×{height} is too small for ×{scale} "
                f"(needs at least {minimum} px per side)", "use a larger image or leave it out"))
            continue
        keep.add(name)
    return keep, skipped


def warn(message: str) -> None:
    """One `DatasetWarning` (shown once per message by default)."""
    warnings.warn(message, DatasetWarning, stacklevel=4)


def select(dataset: str, items: list, names=None, limit: int | None = None) -> list:
    """Keep the items (anything with `.name`) listed in `names`, in that order, then the first `limit`."""
    if names is not None:
        by_name = {item.name: item for item in items}
        wanted = [names] if isinstance(names, str) else list(names)
        unknown = [n for n in wanted if n not in by_name]
        if unknown:
            raise UserError(f"{dataset}: no image named {short_list(unknown)}; "
                            f"available: {short_list(sorted(by_name))}")
        items = [by_name[n] for n in wanted]
    return items[:limit] if limit is not None else items


def sequence(dataset: str, mode: RefMode, listed: list[Listed], chosen: dict[str, tuple], *,
             root: Path | None, layout: str, seed: int = 0, scale: int = 4, skip_bad: bool = False,
             names=None, limit: int | None = None, missing: list[str] | None = None,
             options: dict | None = None) -> SampleSequence:
    """The lazy test set of the listed HR images `mode` can use (`chosen`: `refmodes.choose`).

    Selects `names` / `limit`, screens the HR headers (`screen_hr`), warns once with the mode's
    note (e.g. stitched references larger than a tile) and makes one `Entry` per image; its files
    (HR, given LR, chosen references, in that order) are the row's data identity.
    """
    usable = [item for item in listed if item.name in chosen]
    picked = select(dataset, usable, names, limit)
    keep, skipped = screen_hr(dataset, [(item.name, item.hr) for item in picked if isinstance(item.hr, Path)],
                              scale=scale, skip_bad=skip_bad)
    picked = [item for item in picked if item.name in keep or not isinstance(item.hr, Path)]
    note = mode.note([chosen[item.name] for item in picked]) if mode.note else None
    if note:
        warn(f"{dataset} {mode.name}: {note}")
    seed = seed if mode.seeded else None
    entries = []
    for item in picked:
        refs = chosen[item.name]
        meta = {"dataset": dataset, **({"hr_path": str(item.hr)} if isinstance(item.hr, Path) else {}),
                **item.meta, "lr_path": str(item.lr) if item.lr else None,
                "ref_paths": [str(p) for r in refs for p in refmodes.source_files(r)],
                "ref_choice": [item.candidates.index(r) + 1 for r in refs if r in item.candidates],
                "candidates": len(item.candidates), "seed": seed}
        files = tuple(p for source in (item.hr, item.lr, *refs) for p in refmodes.source_files(source))
        entries.append(Entry(item.name, functools.partial(_build, item, refs, mode.name, scale, meta), files))
    return SampleSequence(dataset, mode.name, entries, root=root, layout=layout, seed=seed, scale=scale,
                          skip_bad=skip_bad, skipped=skipped, missing=missing, options=options)


def _build(item: Listed, refs: tuple, mode_name: str, scale: int, meta: dict) -> Sample:
    """Read one sample: HR, the given LR (checked against the HR), the references, assembled by the mode."""
    hr = refmodes.read_source(item.hr)
    lr = None
    if item.lr is not None:
        lr = refmodes.read_source(item.lr)
        check_lr_hr(lr.shape, hr.shape, scale, lr_name=item.lr, hr_name=item.hr)
    images = [refmodes.read_source(ref) for ref in refs]
    meta = dict(meta)
    mode = refmodes.get(mode_name)
    if mode.combine is not None:
        images, extra = mode.combine(images)
        meta.update(extra)
    return Sample(item.name, hr, images, lr=lr, ref_mode=mode.name, meta=meta)
