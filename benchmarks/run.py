"""`python -m benchmarks.run`: evaluate methods on datasets under a protocol, resumably.

    python -m benchmarks.run [--methods ttsr bicubic …] [--datasets cufed5 …]
        [--protocol table1|table2|table3|table4|sisr|demo|default] [--data-root DIR]
        [--weights NAME=PATH …] [--device auto|cpu|cuda] [--out runs/NAME] [--force]
        [--save-images] [--metrics psnr ssim lpips …] [--max-memory 4G]

With no arguments: every registered method whose weights are found, on every dataset found under
the data root (`--data-root`, else `$TTSR_BENCH_DATA`, else `./data`) with the passes of Table 1
and the SISR calibration (protocol `default`); with no dataset found, the built-in demo set.
What is skipped, and why, is printed and written to `<out>/skipped.json`.

One evaluation (DESIGN.md): Sample → degradation (protocol) → method → SR clipped to [0, 255] and
rounded to uint8 → metrics (protocol settings) → one row, appended durably to `<out>/rows.csv`.

Identity (`benchmarks.identity`): before computing anything the runner works out every pass's
`config_id` and every image's `data_sha256`; a finished row is reused only when both match, and the
manifest's `plan` records exactly what this command asked for, which is what `summary.csv`, the
printed table and the report show (earlier commands' rows stay in rows.csv). One command at a time
per run folder (`benchmarks.runlock`). A method that cannot take an image (too small, ...) skips
that image with the reason; an unreadable or too-large file is skipped when the plan is made.
Run folder layout: docs/interfaces.md, "Runs". Under `torchrun` the images of every
(method, dataset) pass are split across ranks (`benchmarks.distributed`).

Timing: `seconds` is the wall time of the method call alone (CUDA synchronised), not of reading
or degrading the image. Memory: `peak_mem_mb` is, on CUDA, `torch.cuda.max_memory_allocated`
during the call (reset before it); on CPU, the process's peak resident set size during the call
(Linux VmHWM, reset before the call through /proc/self/clear_refs), i.e. including the Python
process and loaded weights; where that reset is impossible the lifetime peak (ru_maxrss) is
recorded and the manifest says so.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from benchmarks import distributed, protocols, results, runlock
from foundation import manifest
from benchmarks.protocols import Evaluation
from foundation.budget import parse_memory
from foundation.cli_types import OneLineParser, whole_number
from foundation.errors import EXIT_NOTHING_MEASURED, UserError, cli_main
from foundation.fileio import atomic_write_bytes, atomic_write_text, check_output_dir
from foundation.imageio import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV, parse_pixel_count

EXIT_HELP = ("A row is reused only when its identity (method, weights sha256, options, protocol, data, seed, "
             "metric settings) matches; the folder's views show its latest command's results. Exit status: 0 done; "
             "2 bad input (one line on stderr; finished rows kept) or the run folder in use by another run; "
             "3 nothing measured (no method, dataset or image usable); 130 interrupted (finished rows kept).")
DATA_ENV = "TTSR_BENCH_DATA"
WEIGHTS_ENV_NAME = "TTSR_BENCH_WEIGHTS"
DEFAULT_DATA_ROOT = Path("data")
DEFAULT_METRICS = ("psnr", "ssim", "lpips")
SEED = 0
# Test hook: seconds to sleep after each finished row (makes kill-mid-run tests robust).
SLOW_ENV = "TTSR_BENCH_TEST_ROW_DELAY"


# ------------------------------------------------------------------------------------------ CLI
def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m benchmarks.run",
        description="Evaluate super-resolution methods on test sets under a named protocol; "
                    "results go to a resumable run folder (rows.csv, summary.csv, manifest.json).",
        epilog=EXIT_HELP)
    parser.add_argument("--methods", nargs="+", metavar="NAME",
                        help="methods to run (default: every registered method whose weights are found)")
    parser.add_argument("--datasets", nargs="+", metavar="NAME",
                        help="datasets to run (default: every dataset of the protocol found under the data root)")
    parser.add_argument("--protocol", default=None, metavar="NAME",
                        help=f"one of {', '.join(protocols.names())} (default: default)")
    parser.add_argument("--data-root", type=Path, default=None, metavar="DIR",
                        help=f"folder holding the test sets (default: ${DATA_ENV}, else ./data)")
    parser.add_argument("--weights", nargs="+", action="extend", default=[], metavar="NAME=PATH",
                        help="checkpoint of a method (else $TTSR_BENCH_WEIGHTS, else ./weights)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="run folder (default: runs/<protocol>)")
    parser.add_argument("--force", action="store_true", help="recompute rows that are already finished")
    parser.add_argument("--save-images", action="store_true",
                        help="also write SR images, HR/refs and TTSR attention maps into the run folder")
    parser.add_argument("--metrics", nargs="+", default=list(DEFAULT_METRICS), metavar="NAME",
                        help="measures to compute (default: psnr ssim lpips)")
    parser.add_argument("--limit", type=whole_number(1), default=None, metavar="N",
                        help="only the first N ≥ 1 images of each dataset (a quick look; recorded in the manifest)")
    parser.add_argument("--max-memory", default=None, metavar="SIZE",
                        help="memory budget for methods that can bound it (TTSR texture search), e.g. 4G or "
                             "512M; a bare number is MiB; at least 16M; it never changes a result")
    parser.add_argument("--max-pixels", type=parse_pixel_count, default=None, metavar="N",
                        help=f"largest image (pixels, e.g. 16M or 4096x4096) read; larger files are skipped "
                             f"with the reason before decoding (default ${MAX_PIXELS_ENV}, else "
                             f"{DEFAULT_MAX_PIXELS:,})")
    return parser


def parse_size(text: str | None) -> int | None:
    """``--max-memory`` → bytes (None stays None): `foundation.budget.parse_memory`, bare numbers are MiB."""
    return None if text is None else parse_memory(text)


# ------------------------------------------------------------------------------------ planning
@dataclass
class Skip:
    """One thing that did not run: `what`, `reason`, `fix` (skipped.json), plus a short form for
    the printed list (`kind` dataset/method/metric/…, `name`, `short`: file and where to get it)."""

    what: str
    reason: str
    fix: str
    kind: str = ""
    name: str = ""
    short: str = ""

    def as_dict(self) -> dict:
        record = {"what": self.what, "reason": self.reason, "fix": self.fix}
        if self.kind:
            record.update(kind=self.kind, name=self.name, short=self.short)
        return record


@dataclass
class Plan:
    protocol: protocols.Protocol
    evaluations: list[Evaluation]
    methods: list[str]
    data_root: Path | None
    skipped: list[Skip] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Pass:
    """One (method, evaluation) pass of this command, with its identity (`benchmarks.identity`)."""

    method: str
    evaluation: Evaluation
    samples: object              # benchmarks.datasets.SampleSequence
    config_id: str
    weights_sha256: str
    digests: dict[str, str]      # image -> data_sha256 (readable images only)

    def key(self, image: str) -> results.Key:
        """The row identity (`results.ROW_ID_COLUMNS`) of one image of this pass."""
        e = self.evaluation
        return (self.method, e.dataset, e.protocol, e.ref_mode, image, self.config_id, self.digests[image])


def resolve_data_root(arg: Path | None) -> tuple[Path | None, bool]:
    """(data root, whether the user named it). A named root that is not a folder is a UserError."""
    if arg is not None:
        named, source = arg, "--data-root"
    elif os.environ.get(DATA_ENV):
        named, source = Path(os.environ[DATA_ENV]), f"${DATA_ENV}"
    else:
        return (DEFAULT_DATA_ROOT if DEFAULT_DATA_ROOT.is_dir() else None), False
    named = named.expanduser()
    if not named.exists():
        raise UserError(f"{source} {named}: folder not found; point it at the folder holding the test "
                        "sets (e.g. data/CUFED5, data/Urban100), or leave it out to run the demo set")
    if not named.is_dir():
        raise UserError(f"{source} {named}: is a file, expected the folder holding the test sets")
    return named, True


def _dataset_fix(name: str, root: Path | None) -> str:
    from benchmarks import datasets

    info = datasets.DATASETS[name]
    where = root if root is not None else DEFAULT_DATA_ROOT
    return (f"get it from {info.sources[0]}; put it in {where}/{info.folder} ({info.layout}); "
            f"check with `python -m benchmarks.data check --root {where}`")


def make_plan(args) -> Plan:
    from baselines import registry
    from benchmarks import datasets

    protocol = protocols.get(args.protocol or "default")
    data_root, named_root = resolve_data_root(args.data_root)
    evaluations = list(protocol.evaluations)
    known = set(datasets.DATASETS)
    skipped: list[Skip] = []
    notes: list[str] = []

    if args.datasets:
        unknown = [d for d in args.datasets if d not in known]
        if unknown:
            raise UserError(f"unknown dataset {', '.join(map(repr, unknown))}; valid names: "
                            f"{', '.join(sorted(known))}")
        outside = [d for d in args.datasets if d not in protocol.datasets()]
        if outside:
            raise UserError(f"dataset {', '.join(map(repr, outside))} is not part of protocol "
                            f"{protocol.name!r}; its datasets: {', '.join(protocol.datasets())}")
        evaluations = [e for e in evaluations if e.dataset in args.datasets]

    found: dict = {}
    if data_root is not None:
        try:
            found = dict(datasets.find(data_root))
        except UserError:
            if named_root:
                raise  # a data root the user named must hold test sets
            found = {}  # ./data exists but is empty
    available = [e for e in evaluations if e.dataset == "demo" or e.dataset in found]
    if not args.datasets and args.protocol is None:
        # the default job: real data when there is any, else the demo set
        real = [e for e in available if e.dataset != "demo"]
        if real:
            available = real
        else:
            available = [e for e in available if e.dataset == "demo"]
            notes.append("no test set found under "
                         f"{data_root if data_root is not None else DEFAULT_DATA_ROOT} "
                         "(or $TTSR_BENCH_DATA): running the built-in demo set")
    for dataset in dict.fromkeys(e.dataset for e in evaluations if e not in available):
        if dataset == "demo" or dataset in found:
            continue
        info = datasets.DATASETS[dataset]
        where = data_root if data_root is not None else DEFAULT_DATA_ROOT
        skipped.append(Skip(f"dataset {dataset}",
                            f"not found under {data_root}" if data_root else
                            f"no data folder ({DEFAULT_DATA_ROOT}/ is absent and ${DATA_ENV} is not set)",
                            _dataset_fix(dataset, data_root), kind="dataset", name=dataset,
                            short=f"put it in {where}/{info.folder}/; get it from {info.sources[0]}"))

    valid_methods = registry.names()
    registry.weight_dirs()  # a $TTSR_BENCH_WEIGHTS folder that does not exist is one line, whatever runs
    overrides = registry.parse_weight_overrides(args.weights)
    bad = [m for m in overrides if m not in valid_methods]
    if bad:
        raise UserError(f"--weights names unknown method {', '.join(map(repr, bad))}; valid names: "
                        f"{', '.join(valid_methods)}")
    if args.methods:
        unknown = [m for m in args.methods if m not in valid_methods]
        if unknown:
            raise UserError(f"unknown method {', '.join(map(repr, unknown))}; valid names: "
                            f"{', '.join(valid_methods)}")
        wanted = list(dict.fromkeys(args.methods))
    else:
        wanted = valid_methods
    methods: list[str] = []
    for name in wanted:
        method = registry.get(name)
        if method.weights is not None and registry.find_weights(method, overrides) is None:
            spec = method.weights
            how = (f"`python -m benchmarks.weights fetch {name}`" if spec.fetchable
                   else spec.source)
            skipped.append(Skip(f"method {name}", f"weights {spec.filename} not found",
                                registry.missing_weights_message(method).split("; ", 1)[-1],
                                kind="weights", name=name, short=f"{spec.filename}: {how}"))
            continue
        kinds_here = {k for e in available for k in e.kinds}
        if available and method.kind not in kinds_here:
            if args.methods:
                skipped.append(Skip(f"method {name}", f"a {method.kind} method; protocol {protocol.name!r} "
                                    f"runs {'/'.join(sorted(kinds_here))} methods only",
                                    "choose a protocol for this kind of method"))
            continue
        if method.scale not in {e.scale for e in available} and available:
            skipped.append(Skip(f"method {name}", f"scale x{method.scale}; the protocol is x4",
                                "use a x4 checkpoint"))
            continue
        methods.append(name)
    return Plan(protocol, available, methods, data_root, skipped, notes)


# ---------------------------------------------------------------------------------- measuring
class MemoryProbe:
    """Peak memory of one method call (see the module docstring for what is measured)."""

    def __init__(self, device) -> None:
        import torch

        self.device = device
        self.cuda = device.type == "cuda"
        self._clear_refs = Path("/proc/self/clear_refs")
        self.cpu_mode = "peak RSS (VmHWM reset per image via /proc/self/clear_refs)"
        if not self.cuda and not self._can_reset():
            self.cpu_mode = "lifetime peak RSS (ru_maxrss; cannot be reset per image on this system)"
        self.description = ("torch.cuda.max_memory_allocated during the method call" if self.cuda
                            else self.cpu_mode)
        self._torch = torch

    def _can_reset(self) -> bool:
        try:
            with open(self._clear_refs, "w") as handle:
                handle.write("5")
            return self._vmhwm_kb() is not None
        except OSError:
            return False

    @staticmethod
    def _vmhwm_kb() -> int | None:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except OSError:
            return None
        return None

    def start(self) -> None:
        if self.cuda:
            self._torch.cuda.reset_peak_memory_stats(self.device)
        elif self.cpu_mode.startswith("peak RSS"):
            with contextlib.suppress(OSError):
                with open(self._clear_refs, "w") as handle:
                    handle.write("5")

    def stop(self) -> float:
        if self.cuda:
            return self._torch.cuda.max_memory_allocated(self.device) / 2**20
        if self.cpu_mode.startswith("peak RSS"):
            kb = self._vmhwm_kb()
            if kb is not None:
                return kb / 1024
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class MetricPlan:
    """Which measures to compute, and which are unavailable (column left empty, one line why)."""

    requested: list[str]
    computed: list[str]
    unavailable: dict[str, str]

    @property
    def extra_columns(self) -> list[str]:
        return [m for m in self.requested if m not in results.METRIC_COLUMNS]


def plan_metrics(requested: Sequence[str]) -> MetricPlan:
    import metrics

    registry = metrics.REGISTRY
    valid = list(registry)
    unknown = [m for m in requested if m not in valid]
    if unknown:
        raise UserError(f"unknown metric {', '.join(map(repr, unknown))}; valid names: {', '.join(valid)}")
    requested = list(dict.fromkeys(requested))
    computed, unavailable = [], {}
    for name in requested:
        ok, reason = registry[name].available()
        if ok:
            computed.append(name)
        else:
            unavailable[name] = reason
    return MetricPlan(requested, computed, unavailable)


class Measurer:
    """Computes the planned measures of one (SR, HR) pair under an evaluation's settings."""

    def __init__(self, plan: MetricPlan, device) -> None:
        self.plan = plan
        self.device = device

    def __call__(self, sr: np.ndarray, hr: np.ndarray, evaluation: Evaluation) -> dict[str, float]:
        import metrics

        if not self.plan.computed:
            return {}
        values = metrics.compute(self.plan.computed, [sr], [hr], device=self.device,
                                 **evaluation.metric_settings())
        return {name: float(v[0]) for name, v in values.items()}


# ------------------------------------------------------------------------------------ running
def to_tensor(image: np.ndarray, device):
    import torch

    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float().to(device)


def to_uint8(sr) -> np.ndarray:
    """SR float [0, 255] NCHW → uint8 H×W×3: clipped to [0, 255], rounded (half to even)."""
    image = sr.detach()[0].float().clamp(0, 255).round().to("cpu")
    return image.permute(1, 2, 0).numpy().astype(np.uint8)


def make_inputs(sample, evaluation: Evaluation, device) -> tuple[dict, np.ndarray, dict]:
    """(batch of float tensors in [0, 255], HR uint8, uint8 images for --save-images)."""
    from benchmarks import degrade

    if evaluation.degradation == "refsr":
        each = [degrade.refsr_inputs(sample.hr, ref, evaluation.scale) for ref in sample.refs or [None]]
        inputs = each[0]
        batch = {"lr": inputs.lr, "lr_up": inputs.lr_up, "ref": inputs.ref, "ref_down_up": inputs.ref_down_up}
        if len(each) > 1:  # several references (mode "all"): only methods with takes_multiple_refs run
            del batch["ref"], batch["ref_down_up"]
            batch.update(refs=[i.ref for i in each], refs_down_up=[i.ref_down_up for i in each])
        images = {"_hr": inputs.hr, "_ref": inputs.ref}
    elif evaluation.degradation == "sisr":
        inputs = degrade.sisr_inputs(sample.hr, sample.lr, evaluation.scale)
        batch = {"lr": inputs.lr}
        images = {"_hr": inputs.hr}
    else:
        raise ValueError(f"unknown degradation {evaluation.degradation!r}")
    return ({k: [to_tensor(i, device) for i in v] if isinstance(v, list) else to_tensor(v, device)
             for k, v in batch.items()}, inputs.hr, images)


def _npz_bytes(arrays: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


class Runner:
    def __init__(self, args, plan: Plan, dist: distributed.Dist, device) -> None:
        from baselines import registry

        self.args = args
        self.plan = plan
        self.dist = dist
        self.device = device
        self.registry = registry
        self.out = Path(args.out)
        self.metric_plan = plan_metrics(args.metrics)
        self.columns = results.columns_for(self.metric_plan.extra_columns)
        self.overrides = registry.parse_weight_overrides(args.weights)
        self.budget = parse_size(args.max_memory)
        self.store: results.RowStore | None = None
        self.finished = lambda key: None  # key -> finished row or None
        self.part: results.RowStore | None = None
        self.order: list[results.Key] = []
        self.weights: dict[str, dict] = {}
        self.sample_skips: list[dict] = []
        self._samples: dict[tuple, object] = {}
        self.dataset_warnings: list[str] = []
        self.probe = MemoryProbe(device)
        self.measurer = Measurer(self.metric_plan, device)
        self.delay = float(os.environ.get(SLOW_ENV, "0") or 0)
        self.completed = 0
        self.started = manifest.now()
        self.passes: list[Pass] = []           # this command's plan, in order
        self.configs: dict[str, dict] = {}     # config_id -> {"config": ..., "weights": ...}
        self.data: dict[str, dict[str, str]] = {}  # results.data_key -> {image: data_sha256}
        self.lock = None
        self.shown: list[dict] = []            # the rows this command's views show (set by finalize)

    # -- storage ---------------------------------------------------------------------------------
    def open_store(self) -> None:
        """Rank 0 takes the run folder's lock and opens rows.csv; a failure (folder in use, a foreign
        or damaged rows.csv) reaches every rank as the same one-line UserError."""
        rows_path = self.out / results.ROWS_FILE
        failure = None
        if self.dist.is_main:
            try:
                self.lock = runlock.acquire(self.out)
                manifest.check(self.out)
                self.store = results.RowStore(rows_path, self.columns)
                if self.dist.active or (self.out / distributed.PARTS_DIR).is_dir():
                    distributed.merge_parts(self.out, self.store)  # rows a killed torchrun run left
                self.finished = self.store.get
            except UserError as err:  # the folder is in use, or its rows/manifest are foreign or damaged
                failure = str(err)
        failure = self.dist.broadcast(failure)
        if failure is not None:
            self.release()
            raise UserError(failure)
        if not self.dist.is_main:  # other ranks only read rows.csv, to skip finished rows
            rows = {results.row_key(r): r for r in results.read_rows(rows_path)[1]}
            self.finished = rows.get

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def append(self, row: dict) -> None:
        if not self.dist.active:
            self.store.append(row)
            return
        if self.part is None:  # this rank's part file for the current pass
            self.part = results.RowStore(distributed.part_path(self.out, self.dist.rank), self.columns)
        self.part.append(row)

    # -- data ------------------------------------------------------------------------------------
    def samples(self, evaluation: Evaluation):
        import warnings

        from benchmarks import datasets

        cache_key = (evaluation.protocol, evaluation.dataset, evaluation.ref_mode)
        if cache_key not in self._samples:
            root = None if evaluation.dataset == "demo" else self.plan.data_root
            options = dict(evaluation.load_options, scale=evaluation.scale, skip_bad=True)
            if self.args.limit is not None:
                options["limit"] = self.args.limit
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", datasets.DatasetWarning)
                try:
                    self._samples[cache_key] = datasets.load(evaluation.dataset, root, **options)
                except UserError as err:
                    self._samples[cache_key] = None
                    self.plan.skipped.append(Skip(f"{evaluation.dataset}/{evaluation.ref_mode}", str(err),
                                                  "see `python -m benchmarks.data check --root DIR`"))
            for warning in caught:  # incomplete sets: one line each, evaluated as far as present
                if not issubclass(warning.category, datasets.DatasetWarning):
                    warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
                    continue
                message = " ".join(str(warning.message).split())
                if message not in self.dataset_warnings:
                    self.dataset_warnings.append(message)
                    if self.dist.is_main:
                        print(f"warning: {message}", file=sys.stderr)
        return self._samples[cache_key]

    # -- methods ---------------------------------------------------------------------------------
    def weights_for(self, name: str) -> tuple[Path | None, str | None]:
        method = self.registry.get(name)
        path = self.registry.find_weights(method, self.overrides)
        if path is None:
            return None, None
        if name in self.overrides:
            return path, "--weights"
        env = os.environ.get(self.registry.WEIGHTS_ENV, "")
        in_env = any(Path(p).expanduser() in path.parents for p in env.split(os.pathsep) if p)
        return path, (f"${self.registry.WEIGHTS_ENV}" if in_env else "./weights")

    def load_method(self, name: str):
        method = self.registry.get(name)
        path, _ = self.weights_for(name)
        method.load(path, self.device)
        if self.budget is not None and hasattr(method, "set_memory_budget"):
            method.set_memory_budget(self.budget)
        return method

    # -- the plan ----------------------------------------------------------------------------------
    def digests(self, evaluation: Evaluation, samples) -> dict[str, str]:
        """{image: data_sha256} of a pass's images (unreadable ones are left out: they are skipped)."""
        key = results.data_key(evaluation.dataset, evaluation.protocol, evaluation.ref_mode)
        if key not in self.data:
            found = {}
            for index, name in enumerate(samples.names):
                if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
                    self.skip_image(evaluation, name.encode("unicode_escape").decode(), "its name holds a control "
                                    "character (a newline, tab, ...), which no result file can carry safely",
                                    "rename the file")
                    continue
                try:
                    found[name] = samples.digest(index)
                except UserError as err:  # unreadable or too large: a skipped image, with the reason
                    self.skip_image(evaluation, name, str(err), "replace the file, or leave it out")
            self.data[key] = found
        return self.data[key]

    def prepare(self) -> None:
        """This command's passes with their identities (`benchmarks.identity`), before any computing."""
        from benchmarks import identity
        from benchmarks.datasets import refmodes

        for name in self.plan.methods:
            method = self.registry.get(name)
            path, found_in = self.weights_for(name)
            self.weights[name] = manifest.weights_record(path, found_in,
                                                         method.weights.sha256 if method.weights else None)
            for evaluation in self.plan.evaluations:
                if method.kind not in evaluation.kinds:
                    continue
                samples = self.samples(evaluation)
                if samples is None:
                    continue
                several = refmodes.get(samples.ref_mode).multiple
                if method.kind == "refsr" and several and not method.takes_multiple_refs:
                    self.plan.skipped.append(Skip(f"method {name} on {evaluation.dataset}/{evaluation.ref_mode}",
                                                  f"takes one reference; ref_mode {samples.ref_mode!r} gives several",
                                                  "run it with ref_mode 'stitched' (the references in one image)"))
                    continue
                config = identity.pass_config(method=name, weights_sha256=self.weights[name].get("sha256"),
                                              options=method.options(), evaluation=evaluation,
                                              device_type=self.device.type)
                cid = identity.config_id(config)
                self.configs[cid] = {"config": config, "weights": self.weights[name]}
                digests = self.digests(evaluation, samples)
                self.passes.append(Pass(name, evaluation, samples, cid, self.weights[name].get("sha256") or
                                        identity.NO_WEIGHTS, digests))

    def plan_record(self) -> dict:
        """The manifest's `plan`: what this command asked for (the rows its views show)."""
        return {"created": self.started,
                "passes": [{"method": p.method, "dataset": p.evaluation.dataset, "protocol": p.evaluation.protocol,
                            "ref_mode": p.evaluation.ref_mode, "config_id": p.config_id} for p in self.passes],
                "data": self.data}

    def current_rows(self) -> list[dict]:
        """The rows this command's views show (`results.select_current`), holding only the measures it
        asked for (a reused row may carry others from an earlier command: left empty here)."""
        if self.store is None:
            return []
        return results.asked_measures(results.select_current(self.store.rows(), self.plan_record()),
                                      self.metric_plan.requested)

    # -- the loop --------------------------------------------------------------------------------
    def run(self) -> None:
        import torch
        from tqdm import tqdm

        torch.manual_seed(SEED)
        np.random.seed(SEED)
        self.open_store()
        self.prepare()
        self.write_manifest()  # early, so a killed run still says what it ran
        required = list(self.metric_plan.computed)
        method, loaded = None, None
        for item in self.passes:
            evaluation, names = item.evaluation, list(item.samples.names)
            keys = {i: item.key(n) for i, n in enumerate(names) if n in item.digests}
            self.order.extend(keys.values())
            todo = [i for i in keys if self.args.force or not self.is_done(keys[i], item, required)]
            mine = self.dist.shard(todo)
            desc = f"{item.method} · {evaluation.dataset}/{evaluation.ref_mode}"
            if self.dist.active:  # rank 0's bar counts its own share
                desc, total, initial = f"{desc} (rank 0 of {self.dist.world_size})", len(mine), 0
            else:
                total, initial = len(keys), len(keys) - len(todo)
            with tqdm(total=total, initial=initial, desc=desc, unit="img", disable=not self.dist.is_main,
                      leave=True, file=sys.stderr, dynamic_ncols=True) as bar:
                for index in mine:
                    if loaded != item.method:
                        method = None  # the previous method's weights go before the next one loads
                        method, loaded = self.load_method(item.method), item.method
                    self.evaluate(method, item, index, keys[index])
                    bar.update(1)
            self.sync()
            for record in getattr(item.samples, "skipped", []):
                self.add_skip(record)

    def sync(self) -> None:
        """After a pass: rank 0 moves the ranks' rows into rows.csv."""
        if not self.dist.active:
            return
        self.dist.barrier()
        if self.dist.is_main:
            distributed.merge_parts(self.out, self.store)
        self.part = None
        self.dist.barrier()

    def is_done(self, key, item: "Pass", required: Sequence[str]) -> bool:
        row = self.finished(key)
        if row is None or any(row.get(c, "") == "" for c in required):
            return False
        if row.get("weights_sha256", "") != item.weights_sha256:  # an edited row does not match its config
            return False
        if self.args.save_images:
            return self.image_path(item, key[4]).exists()
        return True

    def image_path(self, item: "Pass", image: str, folder: str = "images", suffix: str = ".png") -> Path:
        """`<out>/images/<dataset>/<method>/<config_id>/<stem>.png` (attention maps likewise under
        `attention/`): a configuration never overwrites another one's images."""
        evaluation = item.evaluation
        stem = results.image_stem(image, evaluation.dataset, evaluation.ref_mode)
        return self.out / folder / evaluation.dataset / item.method / item.config_id / f"{stem}{suffix}"

    def evaluate(self, method, item: "Pass", index: int, key) -> None:
        import torch
        from benchmarks.datasets.sample import SampleSkipped

        evaluation, image = item.evaluation, key[4]
        try:
            sample = item.samples[index]
            batch, hr, images = make_inputs(sample, evaluation, self.device)
        except (SampleSkipped, UserError) as err:
            self.skip_image(evaluation, image, str(err), "replace the file, or leave it out")
            return
        method.extras = {}
        cuda = self.device.type == "cuda"
        if cuda:
            torch.cuda.synchronize(self.device)
        self.probe.start()
        start = time.perf_counter()
        try:
            with torch.inference_mode():
                sr = method(batch)
        except torch.OutOfMemoryError:
            raise
        except (UserError, RuntimeError, ValueError) as err:  # a method that cannot take this image (too small)
            reason = " ".join(str(err).split())[:300]
            self.skip_image(evaluation, image, f"{item.method} cannot take this image "
                            f"(LR {batch['lr'].shape[-1]}×{batch['lr'].shape[-2]}): {reason}",
                            "leave the image out for this method", method=item.method)
            return
        if cuda:
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - start
        peak = self.probe.stop()
        if not bool(torch.isfinite(sr).all()):  # NaN/inf would round to arbitrary pixels: no number
            self.skip_image(evaluation, image, f"{item.method} returned NaN or infinite values for this image "
                            "(damaged weights, or a numerical failure)", "check the weights file (sha256 in the "
                            "manifest) against the published one", method=item.method)
            return
        sr8 = to_uint8(sr)
        values = self.measurer(sr8, hr, evaluation)
        if self.args.save_images:
            self.save_images(method, item, image, sr8, images)
        row = dict(zip(results.ROW_ID_COLUMNS, key), weights_sha256=item.weights_sha256, **values,
                   seconds=seconds, peak_mem_mb=peak, finished=manifest.now())
        self.append(row)
        self.completed += 1
        if self.delay:
            time.sleep(self.delay)

    def skip_image(self, evaluation: Evaluation, image: str, reason: str, fix: str, method: str = "") -> None:
        what = f"{evaluation.dataset}/{image}" + (f" ({method})" if method else "")
        self.add_skip({"what": what, "reason": reason, "fix": fix})

    def add_skip(self, record: dict) -> None:
        """Record a skipped image once (the first wording of a `what` wins)."""
        if not any(r.get("what") == record.get("what") for r in self.sample_skips):
            self.sample_skips.append(dict(record))

    def save_images(self, method, item: "Pass", image: str, sr8: np.ndarray, images: dict) -> None:
        from foundation.imageio import write_image

        evaluation = item.evaluation
        write_image(self.image_path(item, image), sr8)
        stem = results.image_stem(image, evaluation.dataset, evaluation.ref_mode)
        for folder, array in images.items():  # HR and Ref of this image's data (rewritten each time)
            write_image(self.out / "images" / evaluation.dataset / folder / f"{stem}.png", array)
        extras = getattr(method, "extras", None) or {}
        arrays = {k: v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)
                  for k, v in extras.items() if k in ("hard_index", "S")}
        if arrays:
            arrays["lr_size"] = np.array(images["_hr"].shape[:2]) // evaluation.scale
            if "_ref" in images:
                arrays["ref_size"] = np.array(images["_ref"].shape[:2])
            target = self.image_path(item, image, folder="attention", suffix=".npz")
            atomic_write_bytes(target, _npz_bytes(arrays))

    # -- the end ---------------------------------------------------------------------------------
    def write_manifest(self) -> None:
        if not self.dist.is_main:
            return
        seeds = {"torch": SEED, "numpy": SEED}
        for e in self.plan.evaluations:
            if e.seed is not None:
                seeds[f"{e.dataset}/{e.ref_mode}"] = e.seed
        data = manifest.build(
            argv=list(sys.argv), device=str(self.device), seeds=seeds, weights=self.weights,
            protocol={"name": self.plan.protocol.name, "description": self.plan.protocol.description,
                      "evaluations": [{**{k: v for k, v in e.__dict__.items() if k != "load_options"},
                                       "load_options": dict(e.load_options), "describe": e.describe()}
                                      for e in self.plan.evaluations],
                      "methods": self.plan.methods, "limit": self.args.limit},
            metrics={"requested": self.metric_plan.requested, "computed": self.metric_plan.computed,
                     "unavailable": self.metric_plan.unavailable},
            peak_memory=self.probe.description, world_size=self.dist.world_size,
            data_root=str(self.plan.data_root) if self.plan.data_root else None, created=self.started,
            plan=self.plan_record(), configs=self.configs)
        manifest.write(self.out, data)

    def skipped_records(self) -> list[dict]:
        records = [s.as_dict() for s in self.plan.skipped]
        for name, reason in self.metric_plan.unavailable.items():
            records.append({"what": f"metric {name}", "reason": reason,
                            "fix": "see the reason; the column is left empty until then"})
        for message in self.dataset_warnings:
            records.append({"what": message.split(" ", 1)[0] + " (incomplete)", "reason": message,
                            "fix": "complete the set; `python -m benchmarks.data check --root DIR` lists what is missing",
                            "kind": "incomplete", "name": message.split(" ", 1)[0], "short": message})
        for item in self.sample_skips:
            records.append(dict(item))
        unique: list[dict] = []
        for record in records:  # one record per thing skipped, in the first wording found
            if not any(u.get("what") == record.get("what") for u in unique):
                unique.append(dict(record, created=self.started))
        return unique

    def gather_skips(self) -> None:
        """Under torchrun: images another rank skipped go into rank 0's skipped.json too."""
        if not self.dist.active:
            return
        import torch.distributed as dist

        mine = [s.as_dict() for s in self.plan.skipped] + list(self.sample_skips) + [
            {"warning": w} for w in self.dataset_warnings]
        gathered: list = [None] * self.dist.world_size
        dist.all_gather_object(gathered, mine)
        if not self.dist.is_main:
            return
        known = [s.as_dict() for s in self.plan.skipped]
        for records in gathered[1:]:
            for record in records or []:
                if "warning" in record:
                    if record["warning"] not in self.dataset_warnings:
                        self.dataset_warnings.append(record["warning"])
                elif record not in known:
                    self.add_skip(record)

    def finalize(self) -> None:
        if not self.dist.is_main or self.store is None:
            return
        if self.dist.active:
            distributed.merge_parts(self.out, self.store)
        self.store.canonicalize(self.order)
        self.shown = self.current_rows()
        results.write_summary(self.out, self.shown)
        atomic_write_text(self.out / "skipped.json", json.dumps(self.skipped_records(), indent=2) + "\n")
        self.write_manifest()


# ------------------------------------------------------------------------------------- output
def summary_table(rows: Sequence[dict], evaluations: Sequence[Evaluation], random_methods: Iterable[str]) -> str:
    """method × (dataset/ref mode) of this command's rows: PSNR/SSIM[/LPIPS], with the paper's cell
    and Δ under it; every cell of a method with random or test-made weights says so."""
    from tabulate import tabulate

    from benchmarks import published
    from benchmarks.datasets import DATASETS

    if not rows:
        return "(no rows)"
    frame = results.load_frame("", rows)
    group = ["method", "dataset", "protocol", "ref_mode"]
    means = frame.groupby(group, sort=False)[["psnr", "ssim", "lpips"]].mean()
    counts = frame.groupby(group, sort=False).size()
    tables = {(e.dataset, e.protocol, e.ref_mode): e.table for e in evaluations}
    random_methods = set(random_methods)
    columns = list(dict.fromkeys((r["dataset"], r["protocol"], r["ref_mode"]) for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    body = []
    for method in methods:
        random = method in random_methods
        line = [f"{method} (RANDOM WEIGHTS)" if random else method]
        for dataset, protocol, ref_mode in columns:
            key = (method, dataset, protocol, ref_mode)
            if key not in means.index:
                line.append("")
                continue
            m = means.loc[key]
            text = " / ".join(f"{value:.{digits}f}" for value, digits in ((m.psnr, 2), (m.ssim, 4), (m.lpips, 3))
                              if not np.isnan(value)) or "–"
            n = int(counts.loc[key])
            info = DATASETS.get(dataset)
            expected = getattr(info, "expected", None)
            partial = bool(expected and n < expected)
            text += f"  (n={n}/{expected})" if partial else f"  (n={n})"
            if random:
                text += "\nRANDOM WEIGHTS: not a measurement of the method"
            table = tables.get((dataset, protocol, ref_mode))
            cell = published.lookup(table, method, dataset, ref_mode) if table else None
            if cell is not None:
                judged = published.judge(table, cell, m.psnr, m.ssim)
                delta = ""
                if judged is not None:
                    bits = []
                    if judged.delta_psnr is not None:
                        bits.append(f"{judged.delta_psnr:+.2f}")
                    if judged.delta_ssim is not None:
                        bits.append(f"{judged.delta_ssim:+.4f}")
                    verdict = (" [random weights: not judged]" if random else
                               " [partial set: not judged]" if partial else
                               "" if judged.status == "ok" else f" [{judged.status}]")
                    delta = " Δ " + " / ".join(bits) + verdict
                text += f"\npaper {cell.format()}{delta}"
            line.append(text)
        body.append(line)
    headers = ["method"] + [f"{d}/{r}\n{p}" for d, p, r in columns]
    return tabulate(body, headers=headers, tablefmt="simple_grid", disable_numparse=True)


def resolve_device(choice: str, local_rank: int = 0):
    import torch

    if choice == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is visible to PyTorch; use --device cpu or auto")
    if choice == "cpu" or (choice == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda", local_rank)


def print_skipped(records: list[dict], stream, run_dir: Path | None = None) -> None:
    """What did not run, one line each; datasets and weights grouped with where to get them."""
    if not records:
        return
    datasets_ = [r for r in records if r.get("kind") == "dataset"]
    weights = [r for r in records if r.get("kind") == "weights"]
    incomplete = [r for r in records if r.get("kind") == "incomplete"]
    others = [r for r in records if r.get("kind") not in ("dataset", "weights", "incomplete")]
    if datasets_:
        print(f"skipped {len(datasets_)} dataset(s), {datasets_[0]['reason']}:", file=stream)
        for r in datasets_:
            print(f"  {r['name']:<10} {r['short']}", file=stream)
    if weights:
        print(f"skipped {len(weights)} method(s), weights not found (put the file in ./weights/ or "
              f"${WEIGHTS_ENV_NAME}, or pass --weights NAME=PATH):", file=stream)
        unpublished = [r for r in weights if ": no published weights" in r["short"]]
        listed = [r for r in weights if r not in unpublished]
        width = max([len(r["name"]) for r in listed] + [1])
        for r in listed:
            print(f"  {r['name']:<{width}} {r['short']}", file=stream)
        if unpublished:
            print(f"  {', '.join(r['name'] for r in unpublished)}: no published weights; train them with "
                  "`python -m benchmarks.train` and pass --weights NAME=PATH", file=stream)
    for r in others:
        print(f"skipped {r['what']}: {r['reason']}", file=stream)
    for r in incomplete:
        print(f"partial: {r['reason']}", file=stream)
    if run_dir is not None:
        print(f"(reasons and fixes in full: {run_dir / 'skipped.json'})", file=stream)


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.max_pixels is not None:  # every image read of this process (and its loaders) uses it
        os.environ[MAX_PIXELS_ENV] = str(args.max_pixels)
    elif os.environ.get(MAX_PIXELS_ENV):
        parse_pixel_count(os.environ[MAX_PIXELS_ENV], f"${MAX_PIXELS_ENV}")  # a bad setting is one line, now
    world = distributed.requested_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", "0")) if world > 1 else 0
    device = resolve_device(args.device, local_rank)
    plan = make_plan(args)
    if args.out is None:
        args.out = Path("runs") / plan.protocol.name
    check_output_dir(args.out, "--out")
    dist = distributed.init(device.type)
    out = sys.stdout
    try:
        if dist.is_main:
            for note in plan.notes:
                print(note, file=out)
            print(f"protocol {plan.protocol.name}: {plan.protocol.description}", file=out)
            print(f"device {device}" + (f", {dist.world_size} ranks ({dist.backend})" if dist.active else "")
                  + f"; run folder {args.out}", file=out)
        if not plan.evaluations or not plan.methods:
            # the run folder (its rows, manifest and views) is left as it was
            if dist.is_main:
                runner = Runner(args, plan, dist, device)
                print_skipped(runner.skipped_records(), out)
                what = "dataset" if not plan.evaluations else "method"
                print(f"nothing measured: no {what} available (see skipped above); exit status "
                      f"{EXIT_NOTHING_MEASURED}", file=out)
            return EXIT_NOTHING_MEASURED
        runner = Runner(args, plan, dist, device)
        if dist.is_main:
            for name in plan.methods:
                path, found_in = runner.weights_for(name)
                source = f"{path} ({found_in})" if path else "no weights needed"
                print(f"method {name}: {source}", file=out)
        try:
            runner.run()
            runner.gather_skips()
        finally:
            try:
                runner.finalize()
            finally:
                runner.release()
        if dist.is_main:
            randoms = [m for m, w in runner.weights.items() if w.get("random")]
            for name in randoms:
                print(f"WARNING {name}: {manifest.RANDOM_LABEL}", file=out)
            for name, record in runner.weights.items():
                if record.get("published") is False and not record.get("random"):
                    print(f"WARNING {name}: {record['path']}: sha256 differs from the published file; its numbers "
                          "are not the published weights' (the manifest records both hashes)", file=out)
            rows = runner.shown
            print(summary_table(rows, plan.evaluations, randoms), file=out)
            print_skipped(runner.skipped_records(), out, args.out)
            print(f"rows: {args.out / results.ROWS_FILE}  summary: {args.out / results.SUMMARY_FILE}  "
                  f"manifest: {args.out / manifest.MANIFEST_FILE}", file=out)
            if not rows:
                print(f"nothing measured: every image was skipped (see above); exit status "
                      f"{EXIT_NOTHING_MEASURED}", file=out)
                return EXIT_NOTHING_MEASURED
        return 0
    finally:
        dist.close()


if __name__ == "__main__":
    sys.exit(main())
