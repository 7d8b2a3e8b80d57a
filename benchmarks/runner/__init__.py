"""The runner behind `python -m benchmarks.run` and `benchmarks.reproduce`, in three parts:

- `plan`: what this command computes (protocol × datasets × methods, each pass's identity, which
  finished rows are reused);
- `execute`: methods loaded and called per image, SR → metrics, timing and memory;
- `store`: rows appended durably into the run folder under its lock, skips, summary and manifest.

`Runner` ties them together for one command; `benchmarks.run.run` drives it and prints.
"""
from __future__ import annotations

import sys


from benchmarks import results
from benchmarks.runner.execute import SEED, Executor
from benchmarks.runner.plan import Plan, Passes, RunSettings, plan_metrics
from benchmarks.runner.store import RunStore, Skips
from benchmarks import manifest
from foundation.distributed import Dist
from foundation.seeding import seed_everything

__all__ = ["Runner", "RunSettings", "Plan"]


class Runner:
    """One command on one run folder: `run()` (plan the passes, then execute them), then, always,
    `finalize()` (rank 0 writes the views) and `release()` (the lock)."""

    def __init__(self, settings: RunSettings, plan: Plan, dist: Dist, device) -> None:
        self.settings = settings
        self.plan = plan
        self.dist = dist
        self.device = device
        self.metric_plan = plan_metrics(settings.metrics)
        self.skips = Skips(planned=plan.skipped)
        self.passes = Passes(settings, plan, device, self.skips, verbose=dist.is_main)
        extra = self.metric_plan.extra_columns + (list(results.ATTENTION_COLUMNS) if settings.attention else [])
        self.store = RunStore(settings.out, dist, results.columns_for(extra))
        self.executor = Executor(settings, self.passes, self.store, self.skips, self.metric_plan, device, dist)
        self.started = manifest.now()
        self.shown: list[dict] = []            # the rows this command's views show (set by finalize)

    @property
    def weights(self) -> dict[str, dict]:
        """method -> the manifest's weights record (path, sha256, found_in, random, published)."""
        return self.passes.weights

    @property
    def seed(self) -> int:
        """torch/numpy seed of this command: `--seed`, else `execute.SEED`."""
        return SEED if self.settings.seed is None else self.settings.seed

    def weights_for(self, name: str):
        return self.passes.weights_for(name)

    def run(self) -> None:
        seed_everything(self.seed)
        self.store.open()
        self.passes.prepare()
        self.write_manifest()  # early, so a killed run still says what it ran
        self.executor.execute()
        self.skips.gather(self.dist)

    def skipped_records(self) -> list[dict]:
        return self.skips.records(self.metric_plan.unavailable, self.started)

    def write_manifest(self) -> None:
        if not self.dist.is_main:
            return
        seeds = {"torch": self.seed, "numpy": self.seed}
        for e in self.plan.evaluations:
            if e.seed is not None:
                seeds[f"{e.dataset}/{e.ref_mode}"] = e.seed
        data = manifest.build(
            argv=list(sys.argv if self.settings.argv is None else self.settings.argv), device=str(self.device), seeds=seeds, weights=self.weights,
            protocol={"name": self.plan.protocol.name, "description": self.plan.protocol.description,
                      "evaluations": [{**{k: v for k, v in e.__dict__.items() if k != "load_options"},
                                       "load_options": dict(e.load_options), "describe": e.describe()}
                                      for e in self.plan.evaluations],
                      "methods": self.plan.methods, "limit": self.settings.limit},
            metrics={"requested": self.metric_plan.requested, "computed": self.metric_plan.computed,
                     "unavailable": self.metric_plan.unavailable},
            peak_memory=self.executor.probe.description, world_size=self.dist.world_size,
            data_root=str(self.plan.data_root) if self.plan.data_root else None, created=self.started,
            plan=self.passes.record(self.started), configs=self.passes.configs)
        manifest.write(self.settings.out, data)

    def finalize(self) -> None:
        shown = self.store.finalize(self.executor.order, self.passes.record(self.started),
                                    self.metric_plan.requested, self.skipped_records(), self.write_manifest)
        if shown is not None:
            self.shown = shown

    def release(self) -> None:
        self.store.release()
