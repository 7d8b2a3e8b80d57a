"""PLAN: what one command computes, before anything is computed.

- `RunSettings`: what a command asks for (the options of `python -m benchmarks.run`, also built by
  `benchmarks.reproduce`).
- `make_plan`: the protocol's evaluations on the datasets found, the methods whose weights are
  found; what is left out becomes a `store.Skip` with the reason and the fix.
- `plan_metrics`: which measures are computed, which are unavailable (with why).
- `Passes`: every (method, evaluation) pass with its identity (`benchmarks.identity`: `config_id`
  from method, weights sha256, options, protocol, seed and metric settings; `data_sha256` per image),
  and, per image, whether a finished row of the same identity can be reused (`todo`). The
  manifest's `plan` (`record`) is exactly what this command asked for: what its views show.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

from benchmarks import protocols, results
from benchmarks.protocols import Evaluation
from benchmarks.runner.store import Skip, Skips, image_path
from benchmarks import manifest
from foundation import settings as settings_mod
from foundation.budget import parse_memory
from foundation.errors import UserError

DEFAULT_DATA_ROOT = settings_mod.DEFAULT_DATA_ROOT
DEFAULT_METRICS = ("psnr", "ssim", "lpips")
#: added to the unknown-method line when no plug-in module is loaded
PLUGIN_HINT = "(your own method? load its module with --plugin MODULE)"


@dataclass
class RunSettings:
    """One command of the runner: the options of `python -m benchmarks.run` (same names and meaning;
    `--help` there), as Python values. `out=None`: runs/<protocol>. `settings`: the settings file
    (`foundation.settings`); `apply_file` fills what is not given from it, then the defaults."""

    methods: list[str] | None = None
    datasets: list[str] | None = None
    ref_modes: list[str] | None = None                 # only the protocol's passes with these row labels
    protocol: str | None = None
    data_root: Path | None = None
    weights: list[str] = field(default_factory=list)   # NAME=PATH
    device: str | None = None                          # None: the settings file's, else auto
    device_from: str = "--device"                      # where `device` came from (for messages)
    published: list[str] | None = None                 # user published-numbers files (benchmarks.published)
    published_from: str = "--published"
    out: Path | None = None
    force: bool = False
    save_images: bool = False
    metrics: list[str] | None = None                   # None: the settings file's, else DEFAULT_METRICS
    limit: int | None = None
    max_memory: int | None = None                      # bytes (foundation.budget.parse_memory)
    max_pixels: int | None = None
    seed: int | None = None                            # None: the protocol's draw seeds and SEED
    settings: str | None = None                        # the settings file (None: $TTSR_BENCH_CONFIG, …)
    argv: list[str] | None = None                      # the command the manifest records (None: sys.argv)
    plugins: list[str] = field(default_factory=list)   # --plugin MODULE: your modules registering methods …
    attention: bool = False                            # rows carry results.ATTENTION_COLUMNS (benchmarks.refgain)
    _named: settings_mod.Settings | None = field(default=None, init=False, repr=False, compare=False)

    def apply_file(self) -> "RunSettings":
        """Import the plug-in modules (`--plugin`, then the settings file's `plugins`; `plugins` becomes
        both, in that order), so a user's own methods are registered before any name is looked up.
        Fill device, metrics, methods and max_memory not given from the settings file, then the
        defaults (`foundation.settings`: option > settings file > default); then every name given
        (methods, datasets, metrics, protocol: any case, or an alias) becomes its registered name,
        here once, so rows, identities and run folders carry one spelling. `UserError` naming the
        option or settings-file key for an unknown name."""
        import metrics
        from baselines import registry
        from benchmarks import datasets

        found = settings_mod.resolve(self.settings, data=False, plugins=self.plugins)
        self.plugins = found.plugins
        self.device_from = found.origin("device", self.device, "--device")
        self.published_from = found.origin("published", self.published, "--published")
        self.published = found.get("published", self.published)
        self.device = found.get("device", self.device) or "auto"
        self.metrics = found.names("metrics", self.metrics, metrics.REGISTRY) or list(DEFAULT_METRICS)
        try:
            self.methods = found.names("methods", self.methods, registry.METHODS)
        except UserError as err:  # an unknown name: with no plug-in loaded, perhaps the user's own method
            if self.plugins:
                raise
            raise UserError(f"{err} {PLUGIN_HINT}") from None
        if self.max_memory is None and found.values.get("max_memory") is not None:
            self.max_memory = parse_memory(found.values["max_memory"], f"{found.file}: max_memory")
        if self.datasets:
            self.datasets = datasets.DATASETS.canonical_names(self.datasets, "--datasets")
        if self.protocol is not None:
            self.protocol = protocols.PROTOCOLS.canonical_names([self.protocol], "--protocol")[0]
        return self

    def named_weights(self) -> settings_mod.Settings:
        """The weights files named by `--weights` and the settings file (`.weights`, `.weights_from`),
        resolved once per command (planning and the passes both ask); `UserError` for an unknown method."""
        from baselines import registry

        if self._named is None:
            self._named = settings_mod.resolve(self.settings, weights=self.weights, data=False,
                                               methods=registry.METHODS, plugins=self.plugins)
        return self._named


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


def _dataset_fix(name: str, root: Path | None) -> str:
    from benchmarks import datasets

    info = datasets.DATASETS[name]
    where = root if root is not None else DEFAULT_DATA_ROOT
    return (f"get it from {info.sources[0]}; put it in {where}/{info.folder} ({info.layout}); "
            f"check with `python -m benchmarks.data check --data-root {where}`")


def make_plan(args: RunSettings) -> Plan:
    from baselines import registry
    from benchmarks import datasets

    protocol = protocols.get(args.protocol or "default")
    resolved = settings_mod.resolve(args.settings, args.data_root, plugins=args.plugins)
    data_root, named_root = resolved.data_root, resolved.data_named
    evaluations = list(protocol.evaluations)
    if args.seed is not None:  # --seed replaces the protocol's seed of every random draw
        evaluations = [replace(e, seed=args.seed, load_options={**e.load_options, "seed": args.seed})
                       if e.seed is not None else e for e in evaluations]
    skipped: list[Skip] = []
    notes: list[str] = []

    if args.datasets:
        outside = [d for d in args.datasets if d not in protocol.datasets()]
        if outside:
            raise UserError(f"dataset {', '.join(map(repr, outside))} is not part of protocol "
                            f"{protocol.name!r}; its datasets: {', '.join(protocol.datasets())}")
        evaluations = [e for e in evaluations if e.dataset in args.datasets]
    if args.ref_modes:  # row labels (`benchmarks.score` scores one pass)
        evaluations = [e for e in evaluations if e.ref_mode in args.ref_modes]

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
                         f"(or ${settings_mod.ENV['data_root']}): running the built-in demo set")
    for dataset in dict.fromkeys(e.dataset for e in evaluations if e not in available):
        if dataset == "demo" or dataset in found:
            continue
        info = datasets.DATASETS[dataset]
        where = data_root if data_root is not None else DEFAULT_DATA_ROOT
        skipped.append(Skip(f"dataset {dataset}",
                            f"not found under {data_root}" if data_root else
                            f"no data folder ({resolved.data_from})",
                            _dataset_fix(dataset, data_root), kind="dataset", name=dataset,
                            short=f"put it in {where}/{info.folder}/; get it from {info.sources[0]}"))

    valid_methods = registry.names()
    settings_mod.weight_dirs()  # a $TTSR_BENCH_WEIGHTS folder that does not exist is one line, whatever runs
    overrides = args.named_weights().weights
    wanted = args.methods or valid_methods
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
    requested = registry.canonical_names(requested, "--metrics")
    computed, unavailable = [], {}
    for name in requested:
        ok, reason = registry.get(name).available()
        if ok:
            computed.append(name)
        else:
            unavailable[name] = reason
    return MetricPlan(requested, computed, unavailable)


class Passes:
    """This command's passes with their identities, and which of their images need computing."""

    def __init__(self, settings: RunSettings, plan: Plan, device, skips: Skips, verbose: bool) -> None:
        from baselines import registry

        self.settings = settings
        self.plan = plan
        self.device = device
        self.skips = skips
        self.verbose = verbose                 # rank 0 prints dataset warnings
        self.registry = registry
        self.named = settings.named_weights()
        self.overrides = self.named.weights
        self.items: list[Pass] = []            # in order
        self.weights: dict[str, dict] = {}     # method -> manifest weights record
        self.configs: dict[str, dict] = {}     # config_id -> {"config", "weights"[, "origin": a plug-in's]}
        self.data: dict[str, dict[str, str]] = {}  # results.data_key -> {image: data_sha256}
        self._samples: dict[tuple, object] = {}

    def weights_for(self, name: str) -> tuple[Path | None, str | None]:
        """(weights file of a method, where it was found: --weights, the settings file, $TTSR_BENCH_WEIGHTS,
        ./weights)."""
        method = self.registry.get(name)
        path = self.registry.find_weights(method, self.overrides)
        if path is None:
            return None, None
        if name in self.overrides:
            return path, self.named.weights_from[name]
        return path, settings_mod.weights_origin(path)

    def samples(self, evaluation: Evaluation):
        """The dataset of an evaluation (cached); None when it cannot be loaded (a planned skip)."""
        import warnings

        from benchmarks import datasets

        cache_key = (evaluation.protocol, evaluation.dataset, evaluation.ref_mode)
        if cache_key not in self._samples:
            root = None if evaluation.dataset == "demo" else self.plan.data_root
            options = dict(evaluation.load_options, scale=evaluation.scale, skip_bad=True)
            if self.settings.limit is not None:
                options["limit"] = self.settings.limit
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", datasets.DatasetWarning)
                try:
                    self._samples[cache_key] = datasets.load(evaluation.dataset, root, **options)
                except UserError as err:
                    self._samples[cache_key] = None
                    self.plan.skipped.append(Skip(f"{evaluation.dataset}/{evaluation.ref_mode}", str(err),
                                                  "see `python -m benchmarks.data check --data-root DIR`"))
            for warning in caught:  # incomplete sets: one line each, evaluated as far as present
                if not issubclass(warning.category, datasets.DatasetWarning):
                    warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
                    continue
                message = " ".join(str(warning.message).split())
                if message not in self.skips.warnings:
                    self.skips.warnings.append(message)
                    if self.verbose:
                        print(f"warning: {message}", file=sys.stderr)
        return self._samples[cache_key]

    def digests(self, evaluation: Evaluation, samples) -> dict[str, str]:
        """{image: data_sha256} of a pass's images (unreadable ones are left out: they are skipped)."""
        key = results.data_key(evaluation.dataset, evaluation.protocol, evaluation.ref_mode)
        if key not in self.data:
            found = {}
            for index, name in enumerate(samples.names):
                if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
                    self.skips.image(evaluation, name.encode("unicode_escape").decode(), "its name holds a control "
                                     "character (a newline, tab, ...), which no result file can carry safely",
                                     "rename the file")
                    continue
                try:
                    found[name] = samples.digest(index)
                except UserError as err:  # unreadable or too large: a skipped image, with the reason
                    self.skips.image(evaluation, name, str(err), "replace the file, or leave it out")
            self.data[key] = found
        return self.data[key]

    def prepare(self) -> None:
        """This command's passes with their identities (`benchmarks.identity`), before any computing."""
        from benchmarks import identity
        from benchmarks.datasets import refmodes

        for name in self.plan.methods:
            method = self.registry.get(name)
            origin = self.registry.METHODS.origin(name)  # None for the suite's own methods
            path, found_in = self.weights_for(name)
            self.weights[name] = manifest.weights_record(path, found_in,
                                                         method.weights.sha256 if method.weights else None)
            self.weights[name].update(method.weights_facts(path, self.weights[name].get("metadata") or {}))
            self.weights[name].update(method.provenance())  # a user callable or SR folder says what it is
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
                                              device_type=self.device.type, origin=origin)
                cid = identity.config_id(config)
                self.configs[cid] = {"config": config, "weights": self.weights[name]}
                if origin is not None:  # where the plug-in's method came from (module, file, distribution)
                    self.configs[cid]["origin"] = origin
                digests = self.digests(evaluation, samples)
                self.items.append(Pass(name, evaluation, samples, cid, self.weights[name].get("sha256") or
                                       identity.NO_WEIGHTS, digests))

    def record(self, created: str) -> dict:
        """The manifest's `plan`: what this command asked for (the rows its views show)."""
        return {"created": created,
                "passes": [{"method": p.method, "dataset": p.evaluation.dataset, "protocol": p.evaluation.protocol,
                            "ref_mode": p.evaluation.ref_mode, "config_id": p.config_id} for p in self.items],
                "data": self.data}

    def todo(self, item: Pass, finished, required: Sequence[str]) -> tuple[dict[int, results.Key], list[int]]:
        """({index: row key} of a pass's readable images, the indices to compute): an image whose
        finished row (`finished(key)`) matches its identity, holds every `required` measure and (with
        --save-images) its saved image is reused, unless --force."""
        keys = {i: item.key(n) for i, n in enumerate(item.samples.names) if n in item.digests}
        if self.settings.force:
            return keys, list(keys)
        return keys, [i for i in keys if not self._reusable(finished(keys[i]), item, keys[i][4], required)]

    def _reusable(self, row: dict | None, item: Pass, image: str, required: Sequence[str]) -> bool:
        if row is None or any(row.get(c, "") == "" for c in required):
            return False
        if row.get("weights_sha256", "") != item.weights_sha256:  # an edited row does not match its config
            return False
        if self.settings.save_images:
            return image_path(self.settings.out, item, image).exists()
        return True
