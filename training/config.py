"""Training configuration: a TOML file (stdlib `tomllib`) validated with pydantic v2 models.

Every key, its type and range, and its default (the release's `train.sh` / `option.py` recipe,
paper §4.1). Numbers are TOML integers or floats ("a number" also takes an integer; "an integer"
takes no float); nothing is converted from a string.

    base                 a file name, relative to this file: start from that config (itself
                         read the same way); what this file gives replaces it key by key,
                         tables merged (a missing base file or a cycle of bases is an error)  none
    name                 a name of letters, digits, '.', '_', '-' (the default run folder)   "ttsr"
    method               a non-empty string naming a training recipe (training.recipes):
                         "ttsr", "srntt", "srntt-rec" or a Table 1 method of
                         training.table1 ("edsr", "esrgan", "crossnet", …): a Table 1
                         method's file starts from its published recipe
                         (`training.table1.config_dict`), so it gives only what it changes  "ttsr"
    [model]              a table, checked by the method's recipe before anything is built:
                         TTSR: variant (one of "base", "base+ha", "base+ha+sa", "base+ha+sa+lte",
                         "base+tt", "base+tt+csfi", "base+tt-c80", "base+tt-c96", "ttsr": a network
                         of ttsr.config.VARIANTS, the keys below then change it; default the
                         published TTSR), n_feats (an integer ≥ 2 and ≤ 1024), num_res_blocks (a list of 4
                         integers, each ≥ 0 and ≤ 256), res_scale (a number > 0), hard_attention, soft_attention,
                         learnable_lte, csfi (true or false; soft_attention needs hard_attention);
                         SRNTT: see training.srntt_recipe; Table 1 methods: network (constructor
                         keywords of the network class), critic_nf (training.table1_recipe)
    [data]
      kind               one of "cufed", "folder", "demo"                                      "cufed"
      root               a string (data root; "": foundation.settings; --data-root wins)     ""
      folders            a list of strings (kind "folder": HR image folders under root)        []
      repeats            an integer ≥ 1 (self-reference samples per image and epoch)           1
      patch              an integer ≥ 16 (HR patch side in pixels; a multiple of scale;
                         VGG19 relu5_1 pools 4 times)                                          160
      scale              4 (TTSR and SRNTT are 4× networks)                             4
      batch_size         an integer ≥ 1 (global, over all processes)                           9
      num_workers        an integer ≥ 0 (data-loader processes)                                4
      seed               an integer ≥ 0 and ≤ 4294967295                                       0
    [schedule]
      init_epochs        an integer ≥ 0 (reconstruction only)                                  2
      epochs             an integer ≥ 0 (all losses; init_epochs + epochs ≥ 1)                 50
      max_steps          an integer ≥ 0 (stop after this many steps; 0: run the epochs)       0
      lr_decay_epochs    an integer ≥ 0 (StepLR step in epochs; 0: none, the release's 999999) 0
      lr_gamma           a number > 0 and ≤ 1 (StepLR factor)                                  0.5
      lr_decay_steps     an integer ≥ 0 (lr × lr_gamma every N global steps; 0: none)          0
      lr_milestones      a list of integers, each ≥ 1 (increasing; lr × lr_gamma at each)     []
      cosine_periods     a list of integers, each ≥ 1 (cosine annealing restarted after each
                         period, in steps, down to eta_min; MMSR's CosineAnnealingLR_Restart)  []
      eta_min            a number ≥ 0 (the cosine schedule's floor)                            0
                         (at most one of lr_decay_epochs, lr_decay_steps, lr_milestones,
                         cosine_periods; the step schedules count every step, init ones too)
    [optim]
      kind               one of "adam", "sgd" (generator optimiser)                          "adam"
      lr                 a number > 0 (generator)                                             1e-4
      lr_lte             a number ≥ 0 (Adam, TTSR's LTE)                                       1e-5
      betas              a list of 2 numbers, each ≥ 0 and < 1                                 [0.9, 0.999]
      eps                a number > 0                                                          1e-8
      lr_d               a number > 0 (Adam, critic)                                           1e-4
      betas_d            a list of 2 numbers, each ≥ 0 and < 1                                 [0.0, 0.9]
      momentum           a number ≥ 0 and < 1 (SGD)                                            0.9
      weight_decay       a number ≥ 0 (generator, Adam or SGD)                                 0
    [loss]
      rec                a number > 0 (weights; the reconstruction loss always trains)         1
      per                a number ≥ 0 (0 disables)                                             1e-2
      tpl                a number ≥ 0 (0 disables)                                             1e-2
      adv                a number ≥ 0 (0 disables)                                             1e-3
      rec_type           one of "l1", "l2"                                                     "l1"
      tpl_type           one of "l1", "l2"                                                     "l2"
      tpl_use_S          true or false                                                         false
      gan_k              an integer ≥ 1 (critic updates per generator update)                  2
      gp_weight          a number ≥ 0 (WGAN-GP λ)                                              10
    [val]
      every              an integer ≥ 0 (steps; 0: at the end of each epoch)                   0
      dataset            one of "auto", "cufed5", "demo", "none"                               "auto"
      max_images         an integer ≥ 0 (0: all)                                               0
      ref_level          an integer ≥ 1 and ≤ 5 (CUFED5 reference level)                      1
    [checkpoint]
      every              an integer ≥ 1 (steps)                                                500
    [log]
      every              an integer ≥ 1 (steps)                                                10
    [device]
      amp                one of "none", "bf16", "fp16" (CUDA only)                             "none"
      tf32               true or false                                                         false
      channels_last      true or false                                                         true
      cudnn_benchmark    true or false                                                         true
      threads            an integer ≥ 0 (CPU threads; 0: torch's default)                      0

Unknown tables or keys are errors (a typo must not silently fall back to a default). The whole
file is checked at once, before any model or data is built: every problem is reported on one
line naming the file, the key, the value and the expected type and range (`UserError`, exit 2).
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from foundation.errors import UserError
from foundation.seeding import SEED_MAX
from ttsr.config import VARIANTS, TTSRConfig
from foundation.tomlfile import describe_errors, describe_field, read_toml, toml_value  # noqa: F401 (describe_field: re-exported)

_STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
Beta = Annotated[float, Field(ge=0, lt=1)]


class _Section(BaseModel):
    model_config = _STRICT


class DataConfig(_Section):
    kind: Literal["cufed", "folder", "demo"] = "cufed"
    root: str = ""
    folders: list[str] = Field(default_factory=list)
    repeats: int = Field(1, ge=1)
    patch: int = Field(160, ge=16)
    scale: Literal[4] = 4
    batch_size: int = Field(9, ge=1)
    num_workers: int = Field(4, ge=0)
    seed: int = Field(0, ge=0, le=SEED_MAX)

    @model_validator(mode="after")
    def _patch_fits_scale(self) -> "DataConfig":
        if self.patch % self.scale:
            raise ValueError(f"patch = {self.patch}: expected a multiple of scale ({self.scale})")
        return self


class ScheduleConfig(_Section):
    init_epochs: int = Field(2, ge=0)
    epochs: int = Field(50, ge=0)
    max_steps: int = Field(0, ge=0)
    lr_decay_epochs: int = Field(0, ge=0)
    lr_gamma: float = Field(0.5, gt=0, le=1)
    lr_decay_steps: int = Field(0, ge=0)
    lr_milestones: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list)
    cosine_periods: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list)
    eta_min: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _some_epochs(self) -> "ScheduleConfig":
        if self.init_epochs + self.epochs < 1:
            raise ValueError("init_epochs + epochs = 0: expected at least one epoch")
        kinds = [k for k in ("lr_decay_epochs", "lr_decay_steps", "lr_milestones", "cosine_periods") if getattr(self, k)]
        if len(kinds) > 1:
            raise ValueError(f"{' and '.join(kinds)} both set: expected one learning-rate schedule")
        if self.lr_milestones != sorted(set(self.lr_milestones)):
            raise ValueError(f"lr_milestones = {self.lr_milestones}: expected increasing steps")
        return self


class OptimConfig(_Section):
    kind: Literal["adam", "sgd"] = "adam"
    lr: float = Field(1e-4, gt=0)
    lr_lte: float = Field(1e-5, ge=0)
    betas: list[Beta] = Field(default_factory=lambda: [0.9, 0.999], min_length=2, max_length=2)
    eps: float = Field(1e-8, gt=0)
    lr_d: float = Field(1e-4, gt=0)
    betas_d: list[Beta] = Field(default_factory=lambda: [0.0, 0.9], min_length=2, max_length=2)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)


class LossConfig(_Section):
    rec: float = Field(1.0, gt=0)
    per: float = Field(1e-2, ge=0)
    tpl: float = Field(1e-2, ge=0)
    adv: float = Field(1e-3, ge=0)
    rec_type: Literal["l1", "l2"] = "l1"
    tpl_type: Literal["l1", "l2"] = "l2"
    tpl_use_S: bool = False
    gan_k: int = Field(2, ge=1)
    gp_weight: float = Field(10.0, ge=0)


class ValConfig(_Section):
    every: int = Field(0, ge=0)
    dataset: Literal["auto", "cufed5", "demo", "none"] = "auto"
    max_images: int = Field(0, ge=0)
    ref_level: int = Field(1, ge=1, le=5)


class CheckpointConfig(_Section):
    every: int = Field(500, ge=1)


class LogConfig(_Section):
    every: int = Field(10, ge=1)


class DeviceConfig(_Section):
    amp: Literal["none", "bf16", "fp16"] = "none"
    tf32: bool = False
    channels_last: bool = True
    cudnn_benchmark: bool = True
    threads: int = Field(0, ge=0)


class TTSRModelTable(_Section):
    """`[model]` of a TTSR config: a `ttsr.config.VARIANTS` name and `TTSRConfig`'s fields that
    differ from it (types checked)."""

    variant: Literal[tuple(VARIANTS)] | None = None
    n_feats: int = Field(64, ge=2, le=1024)  # 1024: ~2.3 G parameters already; larger is a typo
    num_res_blocks: list[Annotated[int, Field(ge=0, le=256)]] = Field(default_factory=lambda: [16, 16, 8, 4],
                                                             min_length=4, max_length=4)
    res_scale: float = Field(1.0, gt=0)
    hard_attention: bool = True
    soft_attention: bool = True
    learnable_lte: bool = True
    csfi: bool = True

    @model_validator(mode="after")
    def _soft_needs_hard(self) -> "TTSRModelTable":
        network = VARIANTS[self.variant] if self.variant else TTSRConfig()
        given = self.model_dump(exclude_unset=True)
        soft, hard = (given.get(key, getattr(network, key)) for key in ("soft_attention", "hard_attention"))
        if soft and not hard:
            raise ValueError("soft_attention = true needs hard_attention = true (S weights the transferred textures)")
        return self


class TrainConfig(_Section):
    name: str = Field("ttsr", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                      description="a name of letters, digits, '.', '_', '-'")
    method: str = Field("ttsr", min_length=1, description="a non-empty string")
    model: dict[str, Any] = Field(default_factory=dict)
    data: DataConfig = Field(default_factory=DataConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    val: ValConfig = Field(default_factory=ValConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    device: DeviceConfig = Field(default_factory=DeviceConfig)
    _source: str = PrivateAttr("config")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    @property
    def source(self) -> str:
        """The file (or "command line", "config") the configuration came from, for messages."""
        return self._source

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config") -> "TrainConfig":
        """Validate a parsed TOML document; `UserError` listing every problem, prefixed by `source`."""
        try:
            config = cls.model_validate(raw)
        except ValidationError as err:
            raise UserError(f"{source}: {describe_errors(err, cls)}") from None
        config._source = source
        return config

    def validate(self, source: str | None = None) -> None:
        """Check the configuration again (after command-line overrides); `UserError` when invalid."""
        self.from_dict(self.to_dict(), source or self.source)

    def check_model(self, schema: type[BaseModel]) -> BaseModel:
        """The `[model]` table validated with the method's `schema`; `UserError` naming the file."""
        try:
            return schema.model_validate(self.model)
        except ValidationError as err:
            raise UserError(f"{self.source}: {describe_errors(err, schema, prefix=('model',))}") from None

    @property
    def total_epochs(self) -> int:
        return self.schedule.init_epochs + self.schedule.epochs


def load_config(path: str | Path) -> TrainConfig:
    """Read and validate a training TOML file and its `base` files; `UserError` naming the file and
    key on any problem. A Table 1 method's file (``method = "edsr"``, …) is read over its published
    recipe's config (`training.table1.config_dict`: its losses, optimiser, schedule, patch, batch)."""
    from training.table1 import SPECS, config_dict

    document = read_with_bases(Path(path))
    method = document.get("method")
    if isinstance(method, str) and method in SPECS:
        document = _merged(config_dict(method), document)
    return TrainConfig.from_dict(document, source=str(path))


def read_with_bases(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The document of `path` over that of its `base` (recursively): tables merged key by key, any
    other value replaced. `UserError` (one line, naming the file) for a base that is not a string,
    is missing, or closes a cycle."""
    chain = chain + (path.resolve(),)
    document = read_toml(path)
    base = document.pop("base", None)
    if base is None:
        return document
    if not isinstance(base, str) or not base.strip():
        raise UserError(f"{path}: base = {toml_value(base)}: expected a config file name, relative to this file, "
                        f"e.g. base = \"ttsr.toml\"")
    base_path = path.parent / base
    if base_path.resolve() in chain:
        cycle = " -> ".join(p.name for p in chain + (base_path.resolve(),))
        raise UserError(f"{path}: base = {toml_value(base)} makes a cycle ({cycle}); remove one of these base keys")
    if not base_path.is_file():
        raise UserError(f"{path}: base = {toml_value(base)}: {base_path} not found; name a config file relative "
                        f"to {path.parent}")
    return _merged(read_with_bases(base_path, chain), document)


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            value = _merged(merged[key], value)
        merged[key] = value
    return merged
