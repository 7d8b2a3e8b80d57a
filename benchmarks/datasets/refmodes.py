"""Reference modes: ONE table of how the reference(s) of each HR image are built from what a set lists.

A loader lists, per HR image, its candidate references in the set's own order (`Listed.candidates`:
CUFED5's five similarity levels, level 1 first; Sun80's scene matches; the demo's graded reference)
and, for "random-hr", the set as a whole. The mode named by `ref_mode` chooses from that list and,
for "stitched", assembles the chosen images into one. Every spelling, row label and published
column of a mode is here, so a new mode is one `RefMode` entry in `MODES` plus its name in the
`ref_modes` of the sets that offer it (`benchmarks.datasets.registry.DATASETS`).

=========  ======  ======================================================================
name       label   references built
=========  ======  ======================================================================
L1 … L5    l1…l5   candidate k alone (CUFED5 level k, 1 = most similar; TTSR Table 4; the
                   release's `eval.sh` uses level 1)
stitched   =       all five candidates, each top-left on a 500×500 black tile, tiles stacked
                   vertically into one 2500×500 image (the TTSR authors' CUFED5 setting for
                   Table 1; sources in `benchmarks/protocols.py`)
all        =       every candidate, as a list (for methods that match several references,
                   `Method.takes_multiple_refs`, e.g. SRNTT §3.2); judged against the same
                   published column as "stitched" (the same five references)
random     =       one candidate, chosen from seed + "<set>/<image>" (Sun80's scene matches)
random-hr  =       another HR image of the same set, chosen from seed + "<set>/<image>"
graded     =       the one listed reference (the built-in demo set)
lr         =       none given: the degradation makes Ref = LR (TTSR's Urban100/Manga109)
none       =       none: SISR
=========  ======  ======================================================================

A perturbed mode is spelled `<mode>+<perturbation>=<level>` (`L1+blur=2`, `graded+occlude=0.5`,
`random-hr+rotate=30`): the references of `<mode>`, each perturbed by one entry of
`benchmarks.datasets.perturb.PERTURBATIONS` at that level, seeded by seed + "<set>/<image>" +
perturbation (`derived`; made on first use, not listed in `MODES`; offered where `<mode>` is). Its
row label is `<label>+<perturbation>=<level>`, so the perturbation, the level and (the mode being
seeded) the seed are in every row's identity.

`name` is the spelling a loaded set reports (`SampleSequence.ref_mode`, `Sample.ref_mode`); `label`
is the row label in rows.csv and `benchmarks.protocols`; `column` is the published column
(`benchmarks/published.toml`) a row of the mode is judged against ("*" = the dataset's only column).
Aliases are matched case-insensitively (`1`, `"L1"`, `"level-1"`, `"stitch"`, `"sisr"`, ...).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence, Union

import numpy as np

from benchmarks.datasets.files import probe_size, short_list
from foundation.errors import UserError
from foundation.imageio import read_image
from foundation.registry import Registry

#: an image a loader lists: a file, or a zero-argument callable returning uint8 H×W×3 (built-in sets)
Source = Union[Path, Callable[[], np.ndarray]]

CANVAS = 500  # side of each black tile of the stitched reference
NONE, ONE, SEVERAL = "none", "one", "several"  # how many reference images a mode gives


@dataclass(frozen=True)
class Listed:
    """One HR image of a set as its loader lists it.

    `candidates`: candidate references in the set's order (None where a file is missing);
    `lr`: the LR shipped with the set, when the loader decided to use it; `meta`: the loader's own
    fields, copied into `Sample.meta`.
    """

    name: str
    hr: Source
    candidates: tuple[Source | None, ...] = ()
    lr: Path | None = None
    meta: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Context:
    """What a mode may use besides the one HR's candidates: the set's name, the seed, every HR listed."""

    dataset: str
    seed: int
    listed: Sequence[Listed]
    root: Path | None = None


def _seed_digest(seed: int, key: str) -> bytes:
    return hashlib.sha256(f"{int(seed)}\0{key}".encode()).digest()


def seeded_index(seed: int, key: str, n: int) -> int:
    """A choice in range(n) that depends only on (seed, key): repeatable whatever the order or subset."""
    if n <= 0:
        raise ValueError("nothing to choose from")
    return int.from_bytes(_seed_digest(seed, key)[:8], "little") % n


def seeded_generator(seed: int, key: str) -> np.random.Generator:
    """A NumPy generator that depends only on (seed, key) (the same digest as `seeded_index`)."""
    return np.random.default_rng(int.from_bytes(_seed_digest(seed, key)[:16], "little"))


def stitch(refs: list[np.ndarray], canvas: int = CANVAS) -> tuple[np.ndarray, list[str]]:
    """Each ref top-left on a canvas×canvas black tile, tiles stacked vertically; (image, cropped notes).

    uint8 H×W×3 in, uint8 (canvas·len(refs))×canvas×3 out; a ref larger than the tile is cropped top-left.
    """
    out = np.zeros((canvas * len(refs), canvas, 3), dtype=np.uint8)
    cropped = []
    for i, ref in enumerate(refs):
        h, w = min(ref.shape[0], canvas), min(ref.shape[1], canvas)
        if (h, w) != ref.shape[:2]:
            cropped.append(f"ref {i + 1}: {ref.shape[1]}×{ref.shape[0]} cropped to {w}×{h}")
        out[i * canvas:i * canvas + h, :w] = ref[:h, :w]
    return out, cropped


def _stitched(refs: list[np.ndarray]) -> tuple[list[np.ndarray], dict]:
    image, cropped = stitch(refs)
    return [image], {"ref_sizes": [list(r.shape[:2]) for r in refs], "cropped": cropped}


def _large_refs(chosen: Sequence[tuple[Source, ...]]) -> str | None:
    """The stitched mode's load-time note: references larger than a tile (cropped when read)."""
    large = []
    for refs in chosen:
        for ref in refs:
            if not isinstance(ref, Path):
                continue
            try:
                width, height = probe_size(ref)
            except UserError:  # unreadable: reported (or skipped) when the sample is read
                continue
            if width > CANVAS or height > CANVAS:
                large.append(f"{ref.name} ({width}×{height})")
    if not large:
        return None
    return f"{short_list(large)} larger than {CANVAS}×{CANVAS}; cropped top-left to fit its {CANVAS}×{CANVAS} tile"


# --------------------------------------------------------------------------- how each mode chooses
# Each returns the chosen references of one HR, or None when that HR cannot be used in the mode.

def _level(k: int) -> Callable[[Listed, Context], tuple | None]:
    def choose(item: Listed, context: Context) -> tuple | None:
        ref = item.candidates[k - 1] if len(item.candidates) >= k else None
        return None if ref is None else (ref,)
    return choose


def _every(item: Listed, context: Context) -> tuple | None:
    if not item.candidates or any(ref is None for ref in item.candidates):
        return None
    return tuple(item.candidates)


def _random(item: Listed, context: Context) -> tuple | None:
    present = [ref for ref in item.candidates if ref is not None]
    if not present:
        return None
    return (present[seeded_index(context.seed, f"{context.dataset}/{item.name}", len(present))],)


def _random_hr(item: Listed, context: Context) -> tuple:
    others = [other.hr for other in context.listed if other.name != item.name]
    if not others:
        where = f"{context.root}: " if context.root else f"{context.dataset}: "
        raise UserError(f"{where}ref_mode 'random-hr' needs at least two images in the set")
    return (others[seeded_index(context.seed, f"{context.dataset}/{item.name}", len(others))],)


def _nothing(item: Listed, context: Context) -> tuple:
    return ()


@dataclass(frozen=True)
class RefMode:
    """One reference mode: its names, what it needs and how it builds the references (module docstring)."""

    name: str
    description: str
    choose: Callable[[Listed, Context], tuple | None]
    gives: str = ONE  # NONE | ONE | SEVERAL reference images per HR
    aliases: tuple[str, ...] = ()
    label: str = ""  # row label; default: name in lower case
    column: str = ""  # published column; default: the label
    seeded: bool = False  # the choice depends on the seed (recorded in the manifest)
    combine: Callable[[list[np.ndarray]], tuple[list[np.ndarray], dict]] | None = None
    note: Callable[[Sequence[tuple]], str | None] | None = None  # a load-time warning about the choice
    base: str = ""  # a perturbed mode (`derived`): the mode whose references it perturbs

    def __post_init__(self) -> None:
        object.__setattr__(self, "label", self.label or self.name.lower())
        object.__setattr__(self, "column", self.column or self.label)

    @property
    def multiple(self) -> bool:
        """True when the mode gives several reference images (a list) per HR."""
        return self.gives == SEVERAL

    def spellings(self) -> tuple[str, ...]:
        return (self.name, self.label, *self.aliases)


_LEVEL_SPELLINGS = ("{k}", "l{k}", "level{k}", "level-{k}", "level_{k}", "ref{k}", "lv{k}")

MODES = Registry("mode", case_sensitive=False)


def register(mode: RefMode) -> RefMode:
    """Add `mode` to the table; its name, label and aliases must not be another mode's (`ValueError`)."""
    return MODES.register(mode, aliases=mode.spellings()[1:])


for _k in range(1, 6):
    register(RefMode(f"L{_k}", f"CUFED5 reference level {_k} alone (1 = most similar; TTSR Table 4)",
                     _level(_k), aliases=tuple(s.format(k=_k) for s in _LEVEL_SPELLINGS)))
register(RefMode("stitched", f"all five references, each top-left on a {CANVAS}×{CANVAS} black tile, "
                 f"stacked into one {5 * CANVAS}×{CANVAS} image (TTSR Table 1, CUFED5)", _every,
                 aliases=("stitch", "stitched5", "5refs", "multi", "concat"), combine=_stitched,
                 note=_large_refs))
register(RefMode("all", "every candidate reference as a list, for methods that take several (SRNTT)",
                 _every, gives=SEVERAL, column="stitched"))
register(RefMode("random", "one candidate reference, chosen from seed + image name (Sun80 scene matches)",
                 _random, aliases=("random1", "seeded", "random-seeded", "scene-match"), seeded=True))
register(RefMode("random-hr", "another HR image of the same set, chosen from seed + image name",
                 _random_hr, seeded=True))
register(RefMode("graded", "the one listed reference (built-in demo set: graded similarity)", _level(1)))
register(RefMode("lr", "no reference given: the degradation uses the LR itself as Ref (TTSR "
                 "Urban100/Manga109)", _nothing, gives=NONE, aliases=("lr-as-ref", "lr_as_ref", "self")))
register(RefMode("none", "no reference: SISR", _nothing, gives=NONE, aliases=("sisr", ""), column="*"))


# --------------------------------------------------------------------------- perturbed references

@dataclass(frozen=True)
class Perturbed:
    """A listed reference perturbed (a `Source`: call it for the uint8 H×W×3 image). `files`: the
    files it is made of (the reference, and another image's for `other`), the row's data identity."""

    source: Source
    perturbation: str
    level: float
    seed: int
    key: str  # "<set>/<image>" (+ "#k" for the k-th of several references)
    other: Source | None = None

    @property
    def files(self) -> tuple[Path, ...]:
        return tuple(p for s in (self.source, self.other) for p in source_files(s))

    def __call__(self) -> np.ndarray:
        from benchmarks.datasets import perturb

        spec = perturb.get(self.perturbation)
        rng = seeded_generator(self.seed, f"{self.key}\0{spec.name}")
        other = read_source(self.other) if self.other is not None else None
        return perturb.apply(read_source(self.source), spec, self.level, rng, other)


def source_files(source: Source | None) -> tuple[Path, ...]:
    """The files a listed image is read from (none for a built-in image)."""
    if isinstance(source, Path):
        return (source,)
    return tuple(getattr(source, "files", ()))


_DERIVED: dict[str, RefMode] = {}


def derived(base: RefMode, perturbation: str, level: float) -> RefMode:
    """The mode `<base>+<perturbation>=<level>` (module docstring); `UserError` for a base without
    references, an unknown perturbation or a level outside its bounds."""
    from benchmarks.datasets import perturb

    try:
        spec = perturb.get(perturbation)
    except UserError as err:
        raise UserError(f"ref_mode {base.name}+{perturbation}={level:g}: {err}") from None
    low, high = spec.bounds
    if not low <= float(level) <= high:
        raise UserError(f"ref_mode {base.name}+{spec.name}={level}: level outside [{low:g}, {high:g}] ({spec.unit})")
    if base.gives == NONE or base.base:
        raise UserError(f"ref_mode {base.name}+{spec.name}: {base.name!r} gives no reference image to perturb"
                        if base.gives == NONE else f"ref_mode {base.name}+{spec.name}: perturb one mode once")
    text = perturb.level_text(level)
    name = f"{base.name}+{spec.name}={text}"
    if name in _DERIVED:
        return _DERIVED[name]

    def choose(item: Listed, context: Context) -> tuple | None:
        refs = base.choose(item, context)
        if refs is None:
            return None
        key = f"{context.dataset}/{item.name}"
        donors: tuple = (None,) * len(refs)
        if spec.needs_other:
            others = [o.name for o in context.listed if o.name != item.name]
            picks = [base.choose(o, context) for o in context.listed if o.name != item.name]
            usable = [(n, p) for n, p in zip(others, picks) if p and len(p) == len(refs)]
            if not usable:
                return None
            donors = usable[seeded_index(context.seed, f"{key}\0{spec.name}", len(usable))][1]
        return tuple(Perturbed(ref, spec.name, float(level), context.seed, key + (f"#{i}" if i else ""), donor)
                     for i, (ref, donor) in enumerate(zip(refs, donors)))

    mode = RefMode(name, f"{base.description}; perturbed: {spec.name} {text} ({spec.unit})", choose,
                   gives=base.gives, label=f"{base.label}+{spec.name}={text}",
                   column=f"{base.column}+{spec.name}={text}", seeded=True, combine=base.combine, base=base.name)
    _DERIVED[name] = mode
    return mode


def _find_derived(text: str) -> RefMode | None:
    base_text, _, rest = text.partition("+")
    name, _, level = rest.partition("=")
    base = MODES.get(base_text.strip(), None)
    if base is None or not name or not level:
        return None
    try:
        value = float(level)
    except ValueError:
        return None
    return derived(base, name.strip(), value)


def find(ref_mode) -> RefMode | None:
    """The mode spelled `ref_mode` (any case, any alias; a perturbed mode `<mode>+<name>=<level>`), or None."""
    text = str(ref_mode)
    mode = MODES.get(text, None)
    if mode is None and "+" in text:
        try:
            mode = _find_derived(text)
        except UserError:  # a spelling that is no mode (a user file's own column): `get` says why
            return None
    return mode


def get(ref_mode, dataset: str | None = None, offered: Sequence[str] | None = None) -> RefMode:
    """The mode spelled `ref_mode`; `UserError` naming `dataset` when unknown or not in `offered` (a
    perturbed mode is offered where its base mode is)."""
    mode = find(ref_mode)
    if mode is None and "+" in str(ref_mode):
        _find_derived(str(ref_mode))  # a perturbed mode asked wrongly: its own one-line reason
    if mode is None or (offered is not None and (mode.base or mode.name) not in offered):
        choices = ", ".join(offered if offered is not None else MODES)
        why = f" ({mode.name!r} is not offered by this set)" if mode is not None else ""
        raise UserError(f"{dataset + ': ' if dataset else ''}unknown ref_mode {ref_mode!r}{why}; choose one of "
                        f"{choices}")
    return mode


def column_key(ref_mode) -> str | None:
    """The published column a reference mode is judged against (`stitched`, `l1`…`l5`, `random`,
    `lr`, `*`, ...); a spelling no mode has comes back lower-cased (a user file's own column)."""
    if ref_mode is None:
        return None
    mode = find(ref_mode)
    return mode.column if mode is not None else str(ref_mode).strip().lower()


def label(ref_mode) -> str:
    """The row label of a mode (`"L1"` → `"l1"`); `UserError` for an unknown spelling."""
    return get(ref_mode).label


def no_ref_modes() -> tuple[str, ...]:
    """Names of the modes that give no reference image (the degradation or SISR decides)."""
    return tuple(m.name for m in MODES.values() if m.gives == NONE)


def choose(mode: RefMode, listed: Sequence[Listed], *, dataset: str, seed: int = 0,
           root: Path | None = None) -> dict[str, tuple[Source, ...]]:
    """{image name: its references} for every listed HR that `mode` can use, in listing order."""
    context = Context(dataset, int(seed), listed, root)
    out = {}
    for item in listed:
        refs = mode.choose(item, context)
        if refs is not None:
            out[item.name] = refs
    return out


def read_source(source: Source) -> np.ndarray:
    """uint8 H×W×3 RGB of a listed image (`foundation.imageio.read_image` for a file)."""
    return source() if callable(source) else read_image(source)
