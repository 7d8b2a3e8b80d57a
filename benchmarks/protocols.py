"""Evaluation protocols as data: which dataset, with which reference, degraded how, measured how.

A protocol is a named list of `Evaluation` entries. Each entry says: the dataset and the options
its loader takes (`benchmarks.datasets.load(name, root, **load_options)`), the reference mode
written into the rows, the degradation (`refsr`: PIL bicubic LR from the HR as the RefSR papers
do, with Ref and Ref↓↑; `sisr`: the LR shipped with the set, else MATLAB imresize), the metric
settings (Y channel, border crop, whether Y is rounded) and which kinds of method it runs.
The runner (`benchmarks.run`) executes entries; it has no per-table code paths.

Sources for every setting: the TTSR release (researchmm/TTSR at 550e4c9e525b5860083a00c5f936e4bfe2428da2: `dataset/cufed.py`, `utils.py`,
`eval.sh`), the authors' comments in its issues (https://github.com/researchmm/TTSR/issues/3,
/issues/43), and the SISR literature's convention (Y, border = scale).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping

from foundation.registry import Registry

SCALE = 4
REFSR_KINDS = ("refsr", "sisr")  # SISR methods take the same LR and ignore the reference
SISR_KINDS = ("sisr",)


@dataclass(frozen=True)
class Evaluation:
    """One (dataset, reference mode) pass of a protocol."""

    dataset: str
    ref_mode: str                      # label in rows.csv; also what `published.lookup` is asked
    degradation: str = "refsr"         # "refsr" | "sisr"
    load_options: Mapping[str, object] = field(default_factory=dict)
    crop_border: int = 0
    y_channel: bool = True
    round_y: bool = False
    kinds: tuple[str, ...] = REFSR_KINDS
    scale: int = SCALE
    seed: int | None = None            # recorded in the manifest (random reference draws)
    table: str | None = None           # published table the cells are compared with
    protocol: str = ""                 # the protocol this pass belongs to (rows.csv `protocol`)

    def metric_settings(self) -> dict:
        return {"crop_border": self.crop_border, "y_channel": self.y_channel, "round_y": self.round_y}

    def describe(self) -> str:
        bits = [f"{self.dataset}/{self.ref_mode}", f"{self.degradation} degradation x{self.scale}",
                "Y" if self.y_channel else "RGB", f"border {self.crop_border}"]
        if self.round_y:
            bits.append("Y rounded")
        return ", ".join(bits)


@dataclass(frozen=True)
class Protocol:
    name: str
    description: str
    evaluations: tuple[Evaluation, ...]

    def datasets(self) -> list[str]:
        return list(dict.fromkeys(e.dataset for e in self.evaluations))


def _refsr(dataset: str, label: str, table: str | None, seed: int | None = None,
           kinds: tuple[str, ...] = REFSR_KINDS, **load_options) -> Evaluation:
    """TTSR release convention: PIL bicubic, Y (65.738/129.057/25.064 over 256), no border crop."""
    options = {"ref_mode": label, **load_options}  # the loader's own spelling may differ (L1 vs l1)
    if seed is not None:
        options["seed"] = seed
    return Evaluation(dataset=dataset, ref_mode=label, degradation="refsr", load_options=options,
                      crop_border=0, kinds=kinds, seed=seed, table=table)


def _sisr(dataset: str, table: str | None = "sisr") -> Evaluation:
    """SISR convention: the LR shipped with the set (else MATLAB imresize), Y, border = scale."""
    return Evaluation(dataset=dataset, ref_mode="none", degradation="sisr",
                      load_options={"ref_mode": "none"}, crop_border=SCALE, kinds=SISR_KINDS, table=table)


_TABLE1 = (
    _refsr("cufed5", "stitched", "table1"),      # 5 refs on 500×500 black canvases, 2500×500 (27.09)
    _refsr("sun80", "random", "table1", seed=0),  # one scene match drawn per image, seed recorded
    _refsr("urban100", "lr", "table1"),           # the LR itself as reference (author, TTSR #18)
    _refsr("manga109", "lr", "table1"),
    _refsr("cufed5", "l1", "table1", ref_mode="L1"),  # release eval.sh: *_1.png only (26.99 / 0.800)
)
_CUFED5_STITCHED = (_refsr("cufed5", "stitched", None, kinds=("refsr",)),)
_TABLE4 = tuple(_refsr("cufed5", f"l{k}", "table4", kinds=("refsr",), ref_mode=f"L{k}") for k in range(1, 6)) + (
    _refsr("cufed5", "lr", "table4", kinds=("refsr",)),
)
_SISR = tuple(_sisr(name) for name in ("set5", "set14", "bsd100", "urban100", "manga109"))
_DEMO = (_refsr("demo", "graded", None),           # references of graded similarity, RefSR inputs
         Evaluation(dataset="demo", ref_mode="none", degradation="sisr", load_options={"ref_mode": "none"},
                    crop_border=SCALE, kinds=SISR_KINDS))  # SISR pass: MATLAB-imresize LR, border 4

def _tag(name: str, evaluations: tuple[Evaluation, ...]) -> tuple[Evaluation, ...]:
    return tuple(replace(e, protocol=name) for e in evaluations)


def refgain_evaluations(dataset: str, references: tuple[str, ...], base: str, seed: int | None = None
                        ) -> tuple[Evaluation, ...]:
    """The reference-gain passes of one set (`benchmarks.refgain`): each informative reference mode of
    `references` (mode names, e.g. CUFED5's L1…L5) and "lr" (the uninformative reference) with every
    method, SISR methods included (the best SISR method is a baseline); then `base` perturbed by every
    entry of `benchmarks.datasets.perturb.PERTURBATIONS` at every level of its severity axis, RefSR
    methods only, each seeded (`seed`, default 0: `--seed` replaces it) and labelled
    `<base label>+<perturbation>=<level>` (`benchmarks.datasets.refmodes.derived`)."""
    from benchmarks.datasets import perturb, refmodes

    def one(mode: str, kinds: tuple[str, ...], draw: int | None) -> Evaluation:
        return _refsr(dataset, refmodes.get(mode).label, None, seed=draw, kinds=kinds, ref_mode=mode)

    passes = [one(mode, REFSR_KINDS, seed if refmodes.get(mode).seeded else None) for mode in (*references, "lr")]
    for spec in perturb.PERTURBATIONS.values():
        passes += [one(f"{base}+{spec.name}={perturb.level_text(level)}", ("refsr",), 0 if seed is None else seed)
                   for level in spec.levels]
    return tuple(passes)


_REFGAIN = _tag("refgain", refgain_evaluations("cufed5", tuple(f"L{k}" for k in range(1, 6)), "L1")
                + refgain_evaluations("sun80", ("random",), "random", seed=0)
                + refgain_evaluations("demo", ("graded",), "graded"))
_REFGAIN_RANDOM_HR = _tag("refgain-random-hr", tuple(
    e for name in ("urban100", "manga109", "set5", "set14", "bsd100")
    for e in refgain_evaluations(name, ("random-hr",), "random-hr", seed=0)))


_TABLE1, _TABLE4, _SISR, _DEMO = _tag("table1", _TABLE1), _tag("table4", _TABLE4), _tag("sisr", _SISR), _tag("demo", _DEMO)

PROTOCOLS = Registry("protocol", case_sensitive=False)
for _protocol in (
        Protocol("table1", "TTSR Table 1: CUFED5 (5 refs stitched), Sun80 (random ref, seed 0), "
                 "Urban100 and Manga109 (LR as ref); plus the release-style CUFED5 level-1 run",
                 _TABLE1),
        Protocol("table2", "TTSR Table 2: texture-transformer ablation variants on CUFED5 (stitched)",
                 tuple(replace(e, table="table2", protocol="table2") for e in _CUFED5_STITCHED)),
        Protocol("table3", "TTSR Table 3: CSFI / channel ablation variants on CUFED5 (stitched)",
                 tuple(replace(e, table="table3", protocol="table3") for e in _CUFED5_STITCHED)),
        Protocol("table4", "TTSR Table 4: CUFED5 reference levels 1-5 and LR as reference (RefSR methods)",
                 _TABLE4),
        Protocol("sisr", "SISR calibration: Set5/Set14/BSD100/Urban100/Manga109, given LR "
                 "(else MATLAB imresize), Y, border = scale", _SISR),
        Protocol("demo", "built-in demo set (no files needed): RefSR pass with graded references "
                 "(all methods) and SISR pass (SISR methods)", _DEMO),
        Protocol("refgain", "reference gain and robustness (benchmarks.refgain): CUFED5 levels 1-5, Sun80 "
                 "(random scene match, seed 0), demo (graded) and LR as reference; the first reference "
                 "perturbed along every severity axis of benchmarks/datasets/perturb.py", _REFGAIN),
        Protocol("refgain-random-hr", "reference gain and robustness with another HR image of the set as "
                 "reference (seed 0): Urban100, Manga109, Set5, Set14, BSD100", _REFGAIN_RANDOM_HR),
        # What `python -m benchmarks.run` runs without --protocol: Table 1's passes and the SISR
        # calibration on whatever is found, the demo set when nothing is. Its passes keep the
        # name of the protocol they come from, so its rows are the same as those of table1/sisr.
        Protocol("default", "Table 1 passes + SISR calibration on every test set found; the built-in "
                 "demo set when no test set is found", _TABLE1 + _SISR + _DEMO),
):
    PROTOCOLS.register(_protocol)


def default_ref_mode(dataset: str) -> str | None:
    """The main reference mode of a dataset (its first pass in the `default` protocol)."""
    for evaluation in PROTOCOLS["default"].evaluations:
        if evaluation.dataset == dataset:
            return evaluation.ref_mode
    return None


def names() -> list[str]:
    return PROTOCOLS.names()


def tables() -> list[str]:
    """The protocols `python -m benchmarks.reproduce TABLE` runs, in the paper's order: every one but
    "default" (which combines table1, sisr and demo) and the reference-gain protocols (`benchmarks.refgain`)."""
    return [name for name in PROTOCOLS if name != "default" and not name.startswith("refgain")]


def get(name: str) -> Protocol:
    """The protocol `name`; `UserError` naming the valid protocols."""
    return PROTOCOLS.get(name)
