"""Training configuration: a TOML file (stdlib `tomllib`) read into dataclasses.

Tables and their defaults (the release's `train.sh` / `option.py` recipe, paper §4.1):

    [model]       TTSRConfig fields: n_feats = 64, num_res_blocks = [16, 16, 8, 4], res_scale,
                  hard_attention, soft_attention, learnable_lte, csfi (all true)
    [data]        kind = "cufed" | "folder" | "demo"; root; folders = [...] (kind "folder", paths
                  relative to root); repeats (self-reference epochs); patch = 160; scale = 4;
                  batch_size = 9 (global); num_workers = 4; seed = 0
    [schedule]    init_epochs = 2 (reconstruction only), epochs = 50 (all losses), max_steps = 0
                  (0: run the epochs), lr_decay_epochs = 0 (StepLR step in epochs, 0: none — the
                  release's 999999), lr_gamma = 0.5
    [optim]       lr = 1e-4, lr_lte = 1e-5, betas = [0.9, 0.999], eps = 1e-8,
                  lr_d = 1e-4, betas_d = [0.0, 0.9]
    [loss]        rec = 1, per = 1e-2, tpl = 1e-2, adv = 1e-3 (weights, 0 disables), rec_type = "l1",
                  tpl_type = "l2", tpl_use_S = false, gan_k = 2, gp_weight = 10
    [val]         every = 0 (steps; 0: at the end of each epoch), dataset = "auto" | "cufed5" |
                  "demo" | "none", max_images = 0 (all), ref_level = 1
    [checkpoint]  every = 500 (steps)
    [log]         every = 10 (steps)
    [device]      amp = "none" | "bf16" | "fp16" (CUDA only), tf32 = false, channels_last = true,
                  cudnn_benchmark = true, threads = 0 (CPU threads, 0: torch's default)

Unknown tables or keys are errors (a typo must not silently fall back to a default).
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ttsr.errors import UserError


@dataclass
class DataConfig:
    kind: str = "cufed"
    root: str = ""
    folders: list[str] = field(default_factory=list)
    repeats: int = 1
    patch: int = 160
    scale: int = 4
    batch_size: int = 9
    num_workers: int = 4
    seed: int = 0


@dataclass
class ScheduleConfig:
    init_epochs: int = 2
    epochs: int = 50
    max_steps: int = 0
    lr_decay_epochs: int = 0
    lr_gamma: float = 0.5


@dataclass
class OptimConfig:
    lr: float = 1e-4
    lr_lte: float = 1e-5
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    lr_d: float = 1e-4
    betas_d: list[float] = field(default_factory=lambda: [0.0, 0.9])


@dataclass
class LossConfig:
    rec: float = 1.0
    per: float = 1e-2
    tpl: float = 1e-2
    adv: float = 1e-3
    rec_type: str = "l1"
    tpl_type: str = "l2"
    tpl_use_S: bool = False
    gan_k: int = 2
    gp_weight: float = 10.0


@dataclass
class ValConfig:
    every: int = 0
    dataset: str = "auto"
    max_images: int = 0
    ref_level: int = 1


@dataclass
class CheckpointConfig:
    every: int = 500


@dataclass
class LogConfig:
    every: int = 10


@dataclass
class DeviceConfig:
    amp: str = "none"
    tf32: bool = False
    channels_last: bool = True
    cudnn_benchmark: bool = True
    threads: int = 0


@dataclass
class TrainConfig:
    name: str = "ttsr"
    method: str = "ttsr"
    model: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    val: ValConfig = field(default_factory=ValConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    log: LogConfig = field(default_factory=LogConfig)
    device: DeviceConfig = field(default_factory=DeviceConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config") -> "TrainConfig":
        sections = {f.name: f for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in sections:
                raise UserError(f"{source}: unknown key or table [{key}]; known: {', '.join(sections)}")
            if key in ("name", "method"):
                kwargs[key] = str(value)
            elif key == "model":
                if not isinstance(value, dict):
                    raise UserError(f"{source}: [model] must be a table")
                kwargs[key] = dict(value)
            else:
                section_type = sections[key].default_factory  # type: ignore[misc]
                if not isinstance(value, dict):
                    raise UserError(f"{source}: [{key}] must be a table")
                known = {f.name for f in dataclasses.fields(section_type)}
                unknown = set(value) - known
                if unknown:
                    raise UserError(f"{source}: unknown key(s) {sorted(unknown)} in [{key}]; known: {sorted(known)}")
                kwargs[key] = section_type(**value)
        config = cls(**kwargs)
        config.validate(source)
        return config

    def validate(self, source: str = "config") -> None:
        checks = [
            (self.data.kind in ("cufed", "folder", "demo"), "[data] kind must be cufed, folder or demo"),
            (self.data.batch_size >= 1, "[data] batch_size must be ≥ 1"),
            (self.data.patch % self.data.scale == 0, "[data] patch must be a multiple of scale"),
            (self.device.amp in ("none", "bf16", "fp16"), "[device] amp must be none, bf16 or fp16"),
            (self.loss.rec > 0, "[loss] rec must be > 0 (the reconstruction loss always trains)"),
            (self.loss.rec_type in ("l1", "l2"), "[loss] rec_type must be l1 or l2"),
            (self.loss.tpl_type in ("l1", "l2"), "[loss] tpl_type must be l1 or l2"),
            (self.loss.gan_k >= 1, "[loss] gan_k must be ≥ 1"),
            (self.schedule.init_epochs >= 0 and self.schedule.epochs >= 0, "[schedule] epochs must be ≥ 0"),
            (self.val.dataset in ("auto", "cufed5", "demo", "none"), "[val] dataset must be auto, cufed5, demo or none"),
            (self.checkpoint.every >= 1 and self.log.every >= 1, "[checkpoint]/[log] every must be ≥ 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(f"{source}: {message}")

    @property
    def total_epochs(self) -> int:
        return self.schedule.init_epochs + self.schedule.epochs


def load_config(path: str | Path) -> TrainConfig:
    """Read a training TOML file; UserError naming the file on any problem."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: config file not found (see configs/*.toml)")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{path}: not valid TOML ({err})") from err
    try:
        return TrainConfig.from_dict(raw, source=str(path))
    except TypeError as err:
        raise UserError(f"{path}: {err}") from err
