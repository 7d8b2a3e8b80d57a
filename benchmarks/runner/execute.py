"""EXECUTE: one evaluation per image: Sample → degradation (protocol) → method → SR
clipped to [0, 255] and rounded to uint8 → metrics (protocol settings) → one row for the store.

Timing: `seconds` is the wall time of the method call alone (CUDA synchronised), not of reading
or degrading the image. Memory: `peak_mem_mb` is, on CUDA, `torch.cuda.max_memory_allocated`
during the call (reset before it); on CPU, the process's peak resident set size during the call
(Linux VmHWM, reset before the call through /proc/self/clear_refs), i.e. including the Python
process and loaded weights; where that reset is impossible the lifetime peak (ru_maxrss) is
recorded and the manifest says so. A method that cannot take an image (too small, ...), or returns
NaN/inf, skips that image with the reason. A user's method (`baselines.registry.user_source`: a
plug-in's, or an object or callable given to `ttsr_bench.evaluate`) skips the image on ANY exception
its call raises, or an output that is not a tensor N×3×(scale·h)×(scale·w), with the exception's type,
message and the batch's keys; its `load` raising is one `UserError` line (finished rows kept).

The one hook a method may have besides `__call__`: `begin_image(image, evaluation)`, called with the
image's name (rows.csv `image`) and its `protocols.Evaluation` just before the call, for a method
whose output belongs to a named image rather than to its inputs (`benchmarks.score`: stored SR files).
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks import results
from benchmarks.protocols import Evaluation
from benchmarks.runner.plan import MetricPlan, Pass, Passes, RunSettings
from benchmarks.runner.store import RunStore, Skips, image_path
from benchmarks import distributed, manifest
from foundation.errors import UserError
from foundation.tensors import image_to_tensor, tensor_to_image

SEED = 0
# Test hook: seconds to sleep after each finished row (makes kill-mid-run tests robust).
SLOW_ENV = "TTSR_BENCH_TEST_ROW_DELAY"


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
    return ({k: [image_to_tensor(i, device) for i in v] if isinstance(v, list) else image_to_tensor(v, device)
             for k, v in batch.items()}, inputs.hr, images)


def attention_statistics(extras: dict) -> dict[str, float]:
    """`results.ATTENTION_COLUMNS` of one image from a method's `extras` (`hard_index`: the matched
    reference patch of each LR position, any shape, one image; `S`: the soft-attention map): the
    fraction of positions matched to distinct patches (unique indices / positions, in (0, 1]) and
    the mean of S. {} for a method that reports neither (SISR methods, bicubic)."""
    out = {}
    index, confidence = extras.get("hard_index"), extras.get("S")
    if index is not None and index.numel():
        out["attn_distinct"] = float(index.reshape(-1).unique().numel() / index.numel())
    if confidence is not None and confidence.numel():
        out["attn_confidence"] = float(confidence.float().mean())
    return out


def _npz_bytes(arrays: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


@dataclass
class Executor:
    """Loads each method once per run of passes and evaluates the images the plan says to compute."""

    settings: RunSettings
    passes: Passes
    store: RunStore
    skips: Skips
    metric_plan: MetricPlan
    device: object                      # torch.device
    dist: object                        # foundation.distributed.Dist
    completed: int = 0
    order: list = field(default_factory=list)   # every row key (results.Key) of this command, plan order

    def __post_init__(self) -> None:
        self.max_memory = self.settings.max_memory  # bytes, or None
        self.probe = MemoryProbe(self.device)
        self.measurer = Measurer(self.metric_plan, self.device)
        self.delay = float(os.environ.get(SLOW_ENV, "0") or 0)
        self.users: dict[str, str | None] = {}  # method -> user_source (None: shipped), set when it loads

    def load_method(self, name: str):
        """Method `name`, loaded onto the device. A user's method (`baselines.registry.user_source`) whose
        `load` raises is one `UserError` line "method X (plug-in module M): load failed: Type: message";
        a shipped one raises (a bug)."""
        method = self.passes.registry.get(name)
        path, _ = self.passes.weights_for(name)
        user = self.users[name] = self.passes.registry.user_source(name, method)
        try:
            method.load(path, self.device)
        except UserError:
            raise
        except Exception as err:  # noqa: BLE001 - a user's code: any failure is one line
            if user is None:
                raise
            raise UserError(f"method {name} ({user}): load failed: {self.passes.registry.one_line_error(err)}; "
                            "fix its load()") from None
        if self.max_memory is not None and hasattr(method, "set_max_memory"):
            method.set_max_memory(self.max_memory)
        return method

    def execute(self) -> None:
        """Every pass in plan order; this rank's share of the images not reusable."""
        from tqdm import tqdm

        required = list(self.metric_plan.computed)
        method, loaded = None, None
        for item in self.passes.items:
            evaluation = item.evaluation
            keys, todo = self.passes.todo(item, self.store.finished, required)
            self.order.extend(keys.values())
            mine = distributed.shard(self.dist, todo)
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
            self.store.sync()
            for record in getattr(item.samples, "skipped", []):
                self.skips.add(record)

    def evaluate(self, method, item: Pass, index: int, key) -> None:
        import torch
        from benchmarks.datasets.sample import SampleSkipped

        evaluation, image = item.evaluation, key[4]
        try:
            sample = item.samples[index]
            batch, hr, images = make_inputs(sample, evaluation, self.device)
        except (SampleSkipped, UserError) as err:
            self.skips.image(evaluation, image, str(err), "replace the file, or leave it out")
            return
        method.extras = {}
        user = self.users.get(item.method)
        cuda = self.device.type == "cuda"
        lr_size = f"LR {batch['lr'].shape[-1]}×{batch['lr'].shape[-2]}"
        try:
            method.begin_image(image, evaluation)  # the hook (module docstring; Method.begin_image)
            if cuda:
                torch.cuda.synchronize(self.device)
            self.probe.start()
            start = time.perf_counter()
            with torch.inference_mode():
                sr = method(batch)
            if user is not None:  # a user's method: its output checked before it is measured
                sr = self.passes.registry.check_sr(sr, batch["lr"], method.scale, item.method)
        except torch.OutOfMemoryError:
            raise
        except Exception as err:  # noqa: BLE001 - a user's method: any failure skips the image
            if user is not None:
                self.skips.image(evaluation, image, f"{item.method} ({user}) failed on this image ({lr_size}): "
                                 f"{self.passes.registry.one_line_error(err)} (the batch holds "
                                 f"{', '.join(batch)})", "fix the method (baselines.registry: what a method gets "
                                 "and returns)", method=item.method)
                return
            if not isinstance(err, (UserError, RuntimeError, ValueError)):
                raise  # a shipped method's bug
            reason = " ".join(str(err).split())[:300]  # a method that cannot take this image (too small)
            self.skips.image(evaluation, image, f"{item.method} cannot take this image ({lr_size}): {reason}",
                             "leave the image out for this method", method=item.method)
            return
        if cuda:
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - start
        peak = self.probe.stop()
        if not bool(torch.isfinite(sr).all()):  # NaN/inf would round to arbitrary pixels: no number
            self.skips.image(evaluation, image, f"{item.method} returned NaN or infinite values for this image "
                             "(damaged weights, or a numerical failure)", "check the weights file (sha256 in the "
                             "manifest) against the published one", method=item.method)
            return
        sr8 = tensor_to_image(sr)
        values = self.measurer(sr8, hr, evaluation)
        if self.settings.attention:
            values.update(attention_statistics(getattr(method, "extras", None) or {}))
        if self.settings.save_images:
            self.save_images(method, item, image, sr8, images)
        row = dict(zip(results.ROW_ID_COLUMNS, key), weights_sha256=item.weights_sha256, **values,
                   seconds=seconds, peak_mem_mb=peak, finished=manifest.now())
        self.store.append(row)
        self.completed += 1
        if self.delay:
            time.sleep(self.delay)

    def save_images(self, method, item: Pass, image: str, sr8: np.ndarray, images: dict) -> None:
        from foundation.fileio import atomic_write_bytes
        from foundation.imageio import write_image

        evaluation, out = item.evaluation, self.store.out
        write_image(image_path(out, item, image), sr8)
        stem = results.image_stem(image, evaluation.dataset, evaluation.ref_mode)
        for folder, array in images.items():  # HR and Ref of this image's data (rewritten each time)
            write_image(out / "images" / evaluation.dataset / folder / f"{stem}.png", array)
        extras = getattr(method, "extras", None) or {}
        arrays = {k: v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)
                  for k, v in extras.items() if k in ("hard_index", "S")}
        if arrays:
            arrays["lr_size"] = np.array(images["_hr"].shape[:2]) // evaluation.scale
            if "_ref" in images:
                arrays["ref_size"] = np.array(images["_ref"].shape[:2])
            target = image_path(out, item, image, folder="attention", suffix=".npz")
            atomic_write_bytes(target, _npz_bytes(arrays))
