"""The training loop: TTSR's recipe (paper §3.4, §4.1), exact resume, mixed precision, DDP.

One step (the release's `trainer.py` order):
  1. generator forward on (LR, LR↑, Ref, Ref↓↑) → SR (+ whatever the method returns);
  2. L_rec (Eq. 7); after the init epochs also L_per (Eq. 8, VGG19 relu5_1) and the method's own
     terms (TTSR: the transferal perceptual loss);
  3. after the init epochs, `gan_k` WGAN-GP critic updates on (SR.detach(), HR) (Eq. 9–10), then
     L_adv = −D(SR) with the critic's parameters frozen (no gradient is computed for them);
  4. one Adam step of the generator on Σ λ·L.
A non-finite loss stops the run before any optimiser step with `NonFiniteLoss` naming the step;
the last checkpoint on disk is the last good state.

Method plug-in ("recipe" / generator adapter). The loop knows nothing about TTSR; a method gives
an object with
    name: str                                  # recorded in checkpoints
    generator: nn.Module                       # the trained network (wrapped in DDP here)
    param_groups(optim: OptimConfig) -> list[dict]        # Adam groups with their "lr"
    forward(net, batch) -> dict                 # net = generator or its DDP wrapper; batch holds
                                                # lr, lrsr, hr, ref, refsr in [-1, 1]; must return
                                                # {"sr": ...} plus anything method_losses needs
    method_losses(outputs, batch, loss: LossConfig) -> {name: (weight, tensor)}
                                                # extra terms of the full phase (not in the init epochs)
    loss_names: tuple[str, ...]                 # names method_losses may return (log columns)
    predict(lr, lrsr, ref, refsr) -> sr         # eval-mode inference for validation ([-1, 1])
    export(path, metadata) -> None              # the generator in its release format
    make_critic(patch) -> nn.Module             # optional: the method's own critic
                                                # (default: TTSR's `ttsr.discriminator.Discriminator`)
    critic_loss(critic, real, fake) -> (loss, {name: tensor})   # optional: the method's own critic
                                                # loss (default: WGAN-GP, `ttsr.losses.critic_loss`)
    adversarial_loss(critic, sr, hr) -> tensor  # optional: the generator's adversarial term
                                                # (default: WGAN −D(SR)); e.g. SRGAN's, ESRGAN's RaGAN
A term that `method_losses` returns under the name "rec" replaces the trainer's L_rec in the full
phase (a weight 0 drops it, as SRGAN's content loss has no pixel term).
The optimiser is `[optim] kind` (Adam or SGD with momentum) over the recipe's `param_groups`; the
learning rate follows `[schedule]` (`EpochStepDecay`: per epoch, per step, milestones or cosine
restarts), set before every step.
The trainer owns data order, L_rec, L_per, the WGAN-GP critic, optimisers, schedules, AMP, DDP,
checkpoints, validation and logs. Recipes are registered by method in `training.recipes`, which
also describes their setup side (config schema, options, `from_config`). SRNTT, for example, returns its texture (Gram) loss from
`method_losses` and reuses everything else; `training.ttsr_recipe.TTSRRecipe` is the TTSR recipe.

Exact resume. The checkpoint (`train_state.pt`, written atomically, loaded with
`weights_only=True`) holds the generator, critic, both optimisers, the LR schedule, the grad
scalers, the RNG states (Python, NumPy, torch CPU, CUDA), the data position (epoch, step in the
epoch, global step) and the partial log window (losses summed since the last `log.csv` row).
Sample randomness (crops, flips, GP mixing factors) is a function of (seed, epoch, index)
(`training.data`); the sampler's order is torch's `DistributedSampler` seeded by seed + epoch,
and the data loader draws its workers' base seed from its own generator seeded by (seed, epoch)
(`loader_generator`), never from the global torch RNG. So a resumed run sees the same batches,
and after it the RNG states equal those of an uninterrupted run. A checkpoint is written only
between steps, after the step's log rows and after the end-of-epoch validation (the position is
then the start of the next epoch); on resume `log.csv`/`log.jsonl` are cut back to the
checkpointed step, so no row is missing or written twice. A `train_state.pt` that is damaged, of
another format, recipe or config is refused with one line naming the file (`UserError`).

DDP (`torchrun --nproc_per_node N` running the training command): the global batch is split over the ranks
(`EpochBatchSampler` on torch's `DistributedSampler` order); the generator is wrapped in
DistributedDataParallel. The critic's gradients are averaged by an explicit all-reduce, because
its gradient penalty differentiates twice, which DDP does not support. Only rank 0 writes.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ttsr.discriminator import Discriminator
from foundation.devices import resolve_device
from foundation.distributed import Dist, init_distributed
from foundation.errors import UserError
from foundation.fileio import atomic_write_bytes, atomic_write_text
from ttsr.losses import critic_loss, generator_adversarial_loss, perceptual_loss, reconstruction_loss
from foundation.safeload import load_torch_file
from training.config import LossConfig, OptimConfig, TrainConfig
from training.data import EpochBatchSampler

CHECKPOINT_FORMAT = "ttsr-bench-train/1"
STATE_FILE = "train_state.pt"
BEST_FILE = "model_best.pt"
LAST_FILE = "model_last.pt"
BATCH_KEYS = ("lr", "lrsr", "hr", "ref", "refsr")


class NonFiniteLoss(UserError):
    """A loss became NaN/inf: the run stops; the last checkpoint on disk is the last good state."""


class Recipe(Protocol):
    name: str
    generator: nn.Module
    loss_names: tuple[str, ...]

    def param_groups(self, optim: OptimConfig) -> list[dict]: ...
    def forward(self, net: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, Any]: ...
    def method_losses(self, outputs: dict[str, Any], batch: dict[str, torch.Tensor],
                      loss: LossConfig) -> dict[str, tuple[float, torch.Tensor]]: ...
    def predict(self, lr, lrsr, ref, refsr) -> torch.Tensor: ...
    def export(self, path: Path, metadata: dict) -> None: ...


Validator = Callable[[Callable[..., torch.Tensor]], dict[str, float]]


# ----------------------------------------------------------------------------- RNG state

def rng_state() -> dict[str, Any]:
    """All RNG states as tensors/lists/ints (loadable with weights_only=True)."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": {"version": version, "state": list(internal), "gauss": gauss},
             "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached": float(cached)},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state((npy["kind"], npy["keys"].numpy().astype(np.uint32), npy["pos"],
                         npy["has_gauss"], npy["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def loader_generator(seed: int, epoch: int) -> torch.Generator:
    """The data loader's own generator for `epoch` (it draws the workers' base seed from it), so
    iterating a loader leaves the global torch RNG untouched and a resumed epoch starts alike."""
    state = np.random.SeedSequence([seed, epoch, 0x6C6F6164]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


# ----------------------------------------------------------------------------- schedule

class EpochStepDecay:
    """The learning rate of every step: base · factor, factor a pure function of (epoch, step).

    `[schedule]` chooses one rule (`training.config`):
    - `lr_decay_epochs` = E: γ^⌊m / E⌋ during full-loss epoch m (1-based); init epochs keep the
      base lr. The release's StepLR stepped at the start of every full-loss epoch (its default step
      of 999999 epochs means no decay, E = 0 here);
    - `lr_decay_steps` = N: γ^⌊s / N⌋ at global step s (EDSR, RCAN, RRDB-PSNR: halved every 2·10⁵);
    - `lr_milestones` = [m1, m2, …]: γ^(number of milestones ≤ s) (MultiStepLR: SRGAN, ESRGAN);
    - `cosine_periods` = [T1, T2, …]: cosine annealing from base to `eta_min` within each period,
      restarted at base after it (MMSR's CosineAnnealingLR_Restart with restart weights 1); after
      the last period the lr stays at `eta_min`.
    Being a function of the position, it resumes exactly with nothing but the position saved."""

    def __init__(self, optimizer: torch.optim.Optimizer, step_epochs: int, gamma: float, init_epochs: int,
                 schedule=None):
        self.optimizer, self.step_epochs, self.gamma, self.init_epochs = optimizer, step_epochs, gamma, init_epochs
        self.decay_steps = getattr(schedule, "lr_decay_steps", 0)
        self.milestones = list(getattr(schedule, "lr_milestones", []))
        self.periods = list(getattr(schedule, "cosine_periods", []))
        self.eta_min = float(getattr(schedule, "eta_min", 0.0))
        self.base = [group["lr"] for group in optimizer.param_groups]
        self.epoch, self.step = 0, 0

    def factor(self, epoch: int) -> float:
        main_epoch = epoch - self.init_epochs + 1
        if self.step_epochs <= 0 or main_epoch < 1:
            return 1.0
        return self.gamma ** (main_epoch // self.step_epochs)

    def lr(self, base: float, epoch: int, step: int) -> float:
        """The learning rate of a group with base lr `base` at (`epoch`, global `step` done so far)."""
        if self.decay_steps:
            return base * self.gamma ** (step // self.decay_steps)
        if self.milestones:
            return base * self.gamma ** sum(1 for m in self.milestones if m <= step)
        if self.periods:
            start = 0
            for period in self.periods:
                if step < start + period:
                    phase = (step - start) / period
                    return self.eta_min + (base - self.eta_min) * 0.5 * (1.0 + math.cos(math.pi * phase))
                start += period
            return self.eta_min
        return base * self.factor(epoch)

    def set_position(self, epoch: int, step: int) -> None:
        self.epoch, self.step = epoch, step
        for group, base in zip(self.optimizer.param_groups, self.base):
            group["lr"] = self.lr(base, epoch, step)

    def set_epoch(self, epoch: int) -> None:
        self.set_position(epoch, self.step)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "base": list(self.base), "step_epochs": self.step_epochs, "gamma": self.gamma,
                "step": self.step}

    def load_state_dict(self, state: dict) -> None:
        self.base = list(state["base"])
        self.set_position(state["epoch"], state.get("step", 0))


# ----------------------------------------------------------------------------- logging

class RunLog:
    """`log.csv` and `log.jsonl`: one row per logged step or validation, rank 0 only."""

    def __init__(self, folder: Path, fields: list[str], resume_step: int | None, enabled: bool):
        self.enabled, self.fields = enabled, fields
        self.csv_path, self.jsonl_path = folder / "log.csv", folder / "log.jsonl"
        if not enabled:
            return
        if resume_step is None or not self.csv_path.exists():
            atomic_write_text(self.csv_path, ",".join(fields) + "\n")
            atomic_write_text(self.jsonl_path, "")
        else:  # drop rows written after the checkpoint we resume from
            self._truncate(resume_step)

    def _truncate(self, step: int) -> None:
        with open(self.csv_path, newline="", encoding="utf-8") as handle:
            rows = [r for r in csv.DictReader(handle) if r.get("step") and int(r["step"]) <= step]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, self.fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.csv_path, buffer.getvalue())
        kept = []
        if self.jsonl_path.exists():
            for line in self.jsonl_path.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(ValueError, KeyError):
                    if int(json.loads(line)["step"]) <= step:
                        kept.append(line)
        atomic_write_text(self.jsonl_path, "".join(line + "\n" for line in kept))

    def write(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.csv_path, "a", newline="", encoding="utf-8") as handle:
            csv.DictWriter(handle, self.fields, extrasaction="ignore").writerow(
                {k: (f"{v:.8g}" if isinstance(v, float) else v) for k, v in row.items()})
        with open(self.jsonl_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")


# ----------------------------------------------------------------------------- checkpoint layout

class _Part(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow", arbitrary_types_allowed=True)


class _Position(_Part):
    epoch: int = Field(ge=0)
    step_in_epoch: int = Field(ge=0)
    step: int = Field(ge=0)


class _Best(_Part):
    metric: float
    step: int


class _Schedule(_Part):
    epoch: int = Field(ge=0)
    step: int = Field(0, ge=0)  # absent in checkpoints of older versions
    base: list[float]
    step_epochs: int
    gamma: float


class _PythonRng(_Part):
    version: int
    state: list[int] = Field(min_length=625, max_length=625)
    gauss: float | None


class _NumpyRng(_Part):
    kind: str
    keys: torch.Tensor
    pos: int
    has_gauss: int
    cached: float


class _Rng(_Part):
    python: _PythonRng
    numpy: _NumpyRng
    torch: torch.Tensor
    cuda: list[torch.Tensor] | None = None


class _Window(_Part):
    sums: dict[str, float]
    count: int = Field(ge=0)


class TrainState(_Part):
    """The layout of `train_state.pt` (checked before anything of it is loaded)."""

    format: str
    recipe: str
    config: dict[str, Any]
    generator: dict[str, torch.Tensor]
    opt_g: dict[str, Any]
    schedule: _Schedule
    scaler_g: dict[str, Any]
    rng: _Rng
    metadata: dict[str, Any]
    best: _Best
    position: _Position
    log_window: _Window | None = None  # absent in checkpoints of older versions
    validated_step: int = -1  # likewise
    critic: dict[str, torch.Tensor] | None = None
    opt_d: dict[str, Any] | None = None
    scaler_d: dict[str, Any] | None = None


def _state_problem(err: ValidationError) -> str:
    """The first problems of a `TrainState` validation in words, e.g. "key 'recipe' is missing"."""
    problems = []
    for item in err.errors()[:3]:
        where = ".".join(str(p) for p in item["loc"])
        value = item["input"]
        if item["type"] == "missing":
            problems.append(f"key '{where}' is missing")
        elif isinstance(value, (bool, int, float, str)) or value is None:
            problems.append(f"'{where}' = {value!r} ({item['msg'].lower()})")
        else:
            problems.append(f"'{where}' is a {type(value).__name__} ({item['msg'].lower()})")
    more = len(err.errors()) - len(problems)
    return "; ".join(problems) + (f"; and {more} more" if more > 0 else "")


# ----------------------------------------------------------------------------- trainer

def uses_perceptual_loss(cfg: TrainConfig) -> bool:
    """Whether a run of `cfg` computes L_per (weight > 0 and some full-loss epochs): the trainer then
    needs the recipe's `perceptual_net`."""
    return cfg.loss.per > 0 and cfg.schedule.epochs > 0


class Trainer:
    """Runs a `Recipe` with a `TrainConfig`; see the module docstring."""

    def __init__(self, cfg: TrainConfig, recipe: Recipe, dataset, out_dir: str | Path, *,
                 perceptual_net: nn.Module | None = None, validator: Validator | None = None,
                 metadata: dict | None = None, device: str | torch.device | None = None,
                 progress: bool = True, dist_info: Dist | None = None):
        self.cfg, self.recipe, self.dataset = cfg, recipe, dataset
        self.out = Path(out_dir)
        self.validator, self.progress = validator, progress
        self.metadata = json.loads(json.dumps(dict(metadata or {}), default=str))  # plain types only
        self.device = resolve_device(device)  # None: cuda when present; under torchrun cuda:LOCAL_RANK
        self.dist = dist_info or init_distributed(self.device)
        self._configure_backends()

        loss = cfg.loss
        self.memory_format = (torch.channels_last if cfg.device.channels_last else torch.contiguous_format)
        self.generator = recipe.generator.to(self.device, memory_format=self.memory_format)
        self.g_net: nn.Module = self.generator
        if self.dist.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.g_net = nn.parallel.DistributedDataParallel(self.generator, device_ids=ids)
        o = cfg.optim
        if o.kind == "sgd":
            self.opt_g = torch.optim.SGD(recipe.param_groups(o), lr=o.lr, momentum=o.momentum,
                                         weight_decay=o.weight_decay)
        else:
            self.opt_g = torch.optim.Adam(recipe.param_groups(o), betas=tuple(o.betas), eps=o.eps,
                                          weight_decay=o.weight_decay)
        self.schedule = EpochStepDecay(self.opt_g, cfg.schedule.lr_decay_epochs, cfg.schedule.lr_gamma,
                                       cfg.schedule.init_epochs, cfg.schedule)
        self.use_adv = loss.adv > 0 and cfg.schedule.epochs > 0
        self.recipe_critic_loss = getattr(recipe, "critic_loss", None)
        self.recipe_adversarial_loss = getattr(recipe, "adversarial_loss", None)
        self.critic: nn.Module | None = None
        self.opt_d = None
        if self.use_adv:
            make_critic = getattr(recipe, "make_critic", Discriminator)
            self.critic = make_critic(cfg.data.patch).to(self.device, memory_format=self.memory_format)
            self.opt_d = torch.optim.Adam(self.critic.parameters(), lr=o.lr_d, betas=tuple(o.betas_d), eps=o.eps)
        self.vgg = None
        if uses_perceptual_loss(cfg):
            if perceptual_net is None:
                raise ValueError("the perceptual loss needs a VGG19 relu5_1 network (ttsr.vgg.VGG19Relu51)")
            self.vgg = perceptual_net.to(self.device, memory_format=self.memory_format)
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.device.amp)
        if self.device.type != "cuda":
            if self.amp_dtype is not None and self.dist.rank == 0:
                print(f"note: [device] amp = \"{cfg.device.amp}\" applies on CUDA only; this {self.device.type} run "
                      "trains in float32", file=sys.stderr, flush=True)
            self.amp_dtype = None  # mixed precision is a CUDA feature here; CPU trains in fp32
        fp16 = self.amp_dtype == torch.float16
        self.scaler_g = torch.amp.GradScaler("cuda", enabled=fp16)
        self.scaler_d = torch.amp.GradScaler("cuda", enabled=fp16)

        self.steps_per_epoch = len(dataset) // cfg.data.batch_size
        if self.steps_per_epoch == 0:
            raise UserError(f"{len(dataset)} training samples are fewer than one batch of {cfg.data.batch_size}")
        total = self.steps_per_epoch * cfg.total_epochs
        self.total_steps = min(total, cfg.schedule.max_steps) if cfg.schedule.max_steps > 0 else total
        self.step, self.epoch, self.step_in_epoch = 0, 0, 0
        self.best = {"metric": -math.inf, "step": -1}
        self.log_window: tuple[dict[str, float], int] = ({}, 0)  # loss sums and steps since the last log row
        self.validated_step = -1  # global step of the last validation (none: -1)
        self._loader: DataLoader | None = None  # kept between epochs when it has workers (`epoch_loader`)
        self.log_fields = (["kind", "step", "epoch", "phase", "lr", "loss", "rec", "per", "adv"]
                           + [n for n in recipe.loss_names if n not in ("rec", "per", "adv")]
                           + ["d_loss", "d_wasserstein", "d_gp", "val_psnr", "val_ssim",
                              "val_bicubic_psnr", "val_images", "seconds"])

    # -- setup -----------------------------------------------------------------------------
    def epoch_loader(self) -> DataLoader:
        """The data loader positioned at (epoch, step in epoch). With workers it is made once and kept
        (`persistent_workers`, `prefetch_factor` 4, pinned memory on CUDA): the images are decoded and
        degraded in the workers, and no epoch waits for new worker processes. Only the batch sampler
        moves (`EpochBatchSampler.at`); the samples do not depend on the workers (`training.data`)."""
        cfg = self.cfg
        if self._loader is not None:
            self._loader.batch_sampler.at(self.epoch, self.step_in_epoch)
            return self._loader
        sampler = EpochBatchSampler(len(self.dataset), cfg.data.batch_size, epoch=self.epoch,
                                    seed=cfg.data.seed, rank=self.dist.rank, world=self.dist.world_size,
                                    start_step=self.step_in_epoch)
        workers = cfg.data.num_workers
        loader = DataLoader(self.dataset, batch_sampler=sampler, num_workers=workers,
                            pin_memory=self.device.type == "cuda", persistent_workers=workers > 0,
                            prefetch_factor=4 if workers > 0 else None,
                            generator=loader_generator(cfg.data.seed, self.epoch))
        if workers > 0:
            self._loader = loader
        return loader

    def _configure_backends(self) -> None:
        dev = self.cfg.device
        if dev.threads > 0:
            torch.set_num_threads(dev.threads)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = dev.cudnn_benchmark
            torch.backends.cuda.matmul.allow_tf32 = dev.tf32
            torch.backends.cudnn.allow_tf32 = dev.tf32

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for key, value in batch.items():
            value = value.to(self.device, non_blocking=True)
            if value.dim() == 4:
                value = value.contiguous(memory_format=self.memory_format)
            out[key] = value
        return out

    def phase(self, epoch: int) -> str:
        return "init" if epoch < self.cfg.schedule.init_epochs else "main"

    # -- one step --------------------------------------------------------------------------
    def _critic_steps(self, fake: torch.Tensor, real: torch.Tensor, eps: torch.Tensor) -> dict[str, torch.Tensor]:
        critic, loss = self.critic, self.cfg.loss
        critic.requires_grad_(True)
        logs: dict[str, torch.Tensor] = {}
        for k in range(loss.gan_k):
            self.opt_d.zero_grad(set_to_none=True)
            scale = self.scaler_d.get_scale() if self.scaler_d.is_enabled() else None
            with self._autocast():
                if self.recipe_critic_loss is not None:  # the method's own GAN (e.g. SRGAN, ESRGAN)
                    loss_d, parts = self.recipe_critic_loss(critic, real, fake)
                else:
                    loss_d, parts = critic_loss(critic, real, fake, eps[:, k % eps.shape[1]], loss.gp_weight, scale)
            self.scaler_d.scale(loss_d).backward()
            if self.dist.world_size > 1:
                for p in critic.parameters():
                    if p.grad is not None:
                        dist.all_reduce(p.grad)
                        p.grad.div_(self.dist.world_size)
            self.scaler_d.step(self.opt_d)
            self.scaler_d.update()
            logs = {"d_loss": loss_d.detach(), **parts}
        critic.requires_grad_(False)  # L_adv for G: no gradient for the critic's parameters
        return logs

    def train_step(self, batch: dict[str, torch.Tensor], phase: str) -> dict[str, float]:
        """One generator update (with its critic updates in the full phase); returns the losses."""
        b = self._to_device(batch)
        loss, full = self.cfg.loss, phase == "main"
        with self._autocast():
            outputs = self.recipe.forward(self.g_net, b)
            sr = outputs["sr"]
            terms: dict[str, tuple[float, torch.Tensor]] = {
                "rec": (loss.rec, reconstruction_loss(sr.float(), b["hr"], loss.rec_type))}
            if full and self.vgg is not None:
                with torch.no_grad():
                    hr_features = self.vgg(b["hr"])
                terms["per"] = (loss.per, perceptual_loss(self.vgg(sr).float(), hr_features.float()))
            if full:
                terms.update(self.recipe.method_losses(outputs, b, loss))
        logs: dict[str, torch.Tensor] = {}
        if full and self.use_adv:
            logs.update(self._critic_steps(sr.detach(), b["hr"], b["gp_eps"]))
            with self._autocast():
                adversarial = self.recipe_adversarial_loss
                terms["adv"] = (loss.adv, adversarial(self.critic, sr, b["hr"]) if adversarial is not None
                                else generator_adversarial_loss(self.critic, sr))
        total = sum(weight * value.float() for weight, value in terms.values())
        values = {"loss": total.detach(), **{n: v.detach().float() for n, (_, v) in terms.items()}, **logs}
        names = list(values)
        vector = torch.stack([values[n].float().reshape(()) for n in names])
        if self.dist.world_size > 1:
            dist.all_reduce(vector)
            vector /= self.dist.world_size
        numbers = dict(zip(names, vector.tolist()))
        bad = [n for n, v in numbers.items() if not math.isfinite(v)]
        if bad:
            raise NonFiniteLoss(
                f"non-finite loss ({', '.join(f'{n}={numbers[n]}' for n in bad)}) at step {self.step + 1}; "
                f"stopped before the update, the last good checkpoint is {self.out / STATE_FILE}; "
                f"lower the learning rate or use amp = \"none\" and resume with --resume")
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler_g.scale(total).backward()
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        return numbers

    # -- checkpoints -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = {"format": CHECKPOINT_FORMAT, "recipe": self.recipe.name, "config": self.cfg.to_dict(),
                 "generator": self.generator.state_dict(), "opt_g": self.opt_g.state_dict(),
                 "schedule": self.schedule.state_dict(), "scaler_g": self.scaler_g.state_dict(),
                 "rng": rng_state(), "metadata": self.metadata, "best": dict(self.best),
                 "position": {"epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "step": self.step},
                 "log_window": {"sums": dict(self.log_window[0]), "count": self.log_window[1]},
                 "validated_step": self.validated_step}
        if self.critic is not None:
            state.update(critic=self.critic.state_dict(), opt_d=self.opt_d.state_dict(),
                         scaler_d=self.scaler_d.state_dict())
        return state

    def save(self) -> None:
        if not self.dist.is_main:
            return
        buffer = io.BytesIO()
        torch.save(self.state_dict(), buffer)
        atomic_write_bytes(self.out / STATE_FILE, buffer.getvalue())
        self.recipe.export(self.out / LAST_FILE, self.export_metadata())

    @property
    def random_init(self) -> bool:
        """Whether the run started from random weights where the method needs trained ones: the
        metadata's "random" (set by the training CLIs), else its "allow_random_vgg"."""
        return bool(self.metadata.get("random", self.metadata.get("allow_random_vgg", False)))

    def export_metadata(self) -> dict:
        """The metadata of every exported generator. Besides the run's own metadata: "step",
        "epoch", "recipe", "train_config", "random" (bool, see `random_init`) and "origin", a
        sentence that says RANDOM when "random" is true (what `foundation.provenance` reads)."""
        origin = f"trained by ttsr-bench ({self.recipe.name} recipe, config {self.cfg.name}, step {self.step})"
        if self.random_init:
            origin += (f"; RANDOM initialisation: {self.metadata.get('random_parts') or 'random VGG19/LTE weights'}"
                       f" (smoke test only, numbers mean nothing about the method)")
        return {**self.metadata, "step": self.step, "epoch": self.epoch, "recipe": self.recipe.name,
                "train_config": self.cfg.name, "random": self.random_init, "origin": origin}

    def load(self, path: Path) -> None:
        """Restore a `state_dict()` written by `save`; `UserError` naming the file, what is wrong and
        what to do when it is damaged, of another format, recipe or config."""
        start_over = f"delete {path} (or use another --out) to start over"
        raw = load_torch_file(path, "a readable training checkpoint", start_over)
        if not isinstance(raw, dict) or raw.get("format") != CHECKPOINT_FORMAT:
            found = raw.get("format") if isinstance(raw, dict) else f"a {type(raw).__name__}"
            raise UserError(f"{path}: not a ttsr-bench training checkpoint (format {found!r}, expected "
                            f"{CHECKPOINT_FORMAT!r}); {start_over}")
        try:
            state = TrainState.model_validate(raw)
        except ValidationError as err:
            raise UserError(f"{path}: a damaged training checkpoint ({_state_problem(err)}); {start_over}") from None
        if state.recipe != self.recipe.name:
            raise UserError(f"{path}: trained with recipe {state.recipe!r}, not {self.recipe.name!r}; resume it "
                            f"with that method's config, or {start_over}")
        mismatch = _config_mismatch(state.config, self.cfg.to_dict())
        if mismatch:
            raise UserError(f"{path}: the run was started with a different config ({'; '.join(mismatch[:4])}"
                            f"{'; …' if len(mismatch) > 4 else ''}); resume with the same config "
                            f"(saved as {path.parent / 'config.json'}), or {start_over}")
        if state.metadata.get("allow_random_vgg") != self.metadata.get("allow_random_vgg"):
            raise UserError(f"{path}: the run was started with allow_random_vgg="
                            f"{state.metadata.get('allow_random_vgg')}; resume with the same flag, or {start_over}")
        if (state.critic is None) != (self.critic is None) or (self.critic is not None and (
                state.opt_d is None or state.scaler_d is None)):
            raise UserError(f"{path}: {'no' if state.critic is None else 'a'} critic in the checkpoint, "
                            f"{'but' if state.critic is None else 'not'} in this run; {start_over}")
        position = state.position
        if position.step_in_epoch > self.steps_per_epoch or position.epoch > self.cfg.total_epochs:
            raise UserError(f"{path}: its position (epoch {position.epoch}, step {position.step_in_epoch} of the "
                            f"epoch) does not fit this run ({self.cfg.total_epochs} epochs of "
                            f"{self.steps_per_epoch} steps); {start_over}")
        try:
            self.generator.load_state_dict(state.generator)
            self.opt_g.load_state_dict(state.opt_g)
            self.schedule.load_state_dict(state.schedule.model_dump())
            self.scaler_g.load_state_dict(state.scaler_g)
            if self.critic is not None:
                self.critic.load_state_dict(state.critic)
                self.opt_d.load_state_dict(state.opt_d)
                self.scaler_d.load_state_dict(state.scaler_d)
            set_rng_state(raw["rng"])
        except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise UserError(f"{path}: its weights or optimiser states do not fit this model ({first[:200]}); "
                            f"resume with the config it was started with, or {start_over}") from None
        self.epoch, self.step_in_epoch, self.step = position.epoch, position.step_in_epoch, position.step
        self.best = state.best.model_dump()
        window = state.log_window
        self.log_window = (dict(window.sums), window.count) if window is not None else ({}, 0)
        self.validated_step = state.validated_step

    # -- validation ------------------------------------------------------------------------
    def validate(self) -> dict[str, float] | None:
        result = None
        if self.dist.is_main and self.validator is not None:
            self.generator.eval()
            try:
                with torch.no_grad(), self._autocast():
                    result = self.validator(self.recipe.predict)
            finally:
                self.generator.train()
            if result and result.get("val_psnr", -math.inf) > self.best["metric"]:
                self.best = {"metric": float(result["val_psnr"]), "step": self.step}
                self.recipe.export(self.out / BEST_FILE, {**self.export_metadata(), **result})
        if self.dist.world_size > 1:
            dist.barrier()
        return result

    # -- the loop --------------------------------------------------------------------------
    def fit(self, *, resume: bool = False, stop_after: int | None = None) -> dict[str, Any]:
        """Train to the configured end (or `stop_after` global steps, checkpointing there)."""
        cfg = self.cfg
        state_path = self.out / STATE_FILE
        resumed = False
        if resume and state_path.exists():
            self.load(state_path)
            resumed = True
        elif resume and self.dist.is_main:
            print(f"no checkpoint at {state_path}; starting from scratch")
        if self.dist.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.out / "config.json", json.dumps(cfg.to_dict(), indent=2) + "\n")
        log = RunLog(self.out, self.log_fields, self.step if resumed else None, self.dist.is_main)
        bar = None
        if self.progress and self.dist.is_main:
            from tqdm.auto import tqdm
            bar = tqdm(total=self.total_steps, initial=self.step, desc=f"train {cfg.name}", dynamic_ncols=True)
        self.generator.train()
        started = time.perf_counter()
        status = "finished"
        try:
            while self.epoch < cfg.total_epochs and self.step < self.total_steps:
                phase = self.phase(self.epoch)
                if self.step_in_epoch >= self.steps_per_epoch:
                    # a checkpoint of an older version, saved before its epoch-end validation
                    self._end_epoch(log, phase, bar, started)
                    continue
                self.schedule.set_epoch(self.epoch)
                for batch in self.epoch_loader():
                    self.schedule.set_position(self.epoch, self.step)
                    numbers = self.train_step(batch, phase)
                    self.step += 1
                    self.step_in_epoch += 1
                    sums, count = self.log_window
                    for key, value in numbers.items():
                        sums[key] = sums.get(key, 0.0) + value
                    self.log_window = (sums, count + 1)
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix({k: f"{numbers[k]:.4g}" for k in ("loss", "rec") if k in numbers}, refresh=False)
                    if self.step % cfg.log.every == 0 or self.step == self.total_steps:
                        sums, count = self.log_window
                        log.write({"kind": "train", "step": self.step, "epoch": self.epoch, "phase": phase,
                                   "lr": self.opt_g.param_groups[0]["lr"],
                                   **{k: v / count for k, v in sums.items()},
                                   "seconds": round(time.perf_counter() - started, 3)})
                        self.log_window = ({}, 0)
                    if cfg.val.every > 0 and self.step % cfg.val.every == 0:
                        self._validate_and_log(log, phase, bar, started)
                    if self.step_in_epoch >= self.steps_per_epoch:
                        # before any checkpoint: a state saved here already holds the validation
                        self._end_epoch(log, phase, bar, started)
                    if self.step % cfg.checkpoint.every == 0:
                        self.save()
                    if stop_after is not None and self.step >= stop_after:
                        status = "stopped"
                        break
                    if self.step >= self.total_steps or self.step_in_epoch == 0:
                        break
                if status == "stopped":
                    break
            if (status == "finished" and cfg.val.every > 0 and self.step % cfg.val.every != 0
                    and self.validated_step != self.step):  # not again when a finished run is resumed
                self._validate_and_log(log, self.phase(max(0, self.epoch - 1)), bar, started)
            self.save()
        finally:
            if bar is not None:
                bar.close()
        return {"status": status, "step": self.step, "best": dict(self.best),
                "out": str(self.out)}

    def _end_epoch(self, log: RunLog, phase: str, bar, started: float) -> None:
        """Validation at the end of an epoch (`[val] every = 0`), then the position moves to the next epoch."""
        if self.cfg.val.every == 0:
            self._validate_and_log(log, phase, bar, started)
        self.epoch += 1
        self.step_in_epoch = 0

    def _validate_and_log(self, log: RunLog, phase: str, bar, started: float) -> None:
        result = self.validate()
        self.validated_step = self.step
        if result:
            log.write({"kind": "val", "step": self.step, "epoch": self.epoch, "phase": phase, **result,
                       "seconds": round(time.perf_counter() - started, 3)})
            if bar is not None:
                bar.write(f"step {self.step}: " + ", ".join(
                    f"{k}={v:.3f}" for k, v in result.items() if isinstance(v, float)))


#: Config keys that may change between a run and its resumption (they do not affect the weights).
RESUMABLE_CHANGES = {("data", "num_workers"), ("data", "root"), ("val",), ("log",), ("checkpoint",),
                     ("device", "threads"), ("schedule", "max_steps"), ("schedule", "epochs")}


def _config_mismatch(saved: dict, current: dict, path: tuple = ()) -> list[str]:
    out = []
    for key in sorted(set(saved) | set(current)):
        where = path + (key,)
        if any(where[:len(p)] == p for p in RESUMABLE_CHANGES):
            continue
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _config_mismatch(a, b, where)
        elif a != b:
            out.append(f"{'.'.join(where)}: {a!r} → {b!r}")
    return out
