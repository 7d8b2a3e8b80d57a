"""The training recipes by method: `RECIPES`, filled by one small module per method.

A training config's `method` names its recipe (`RECIPES.get(cfg.method)`); the one training
command and anything else that trains look it up there and never name a method. `RECIPES` is a
`foundation.registry.Registry` that imports every module of the `training` package on its first
lookup, so a new method's recipe is one new file `training/<method>_recipe.py` holding a `Recipe`
subclass and its `RECIPES.register(...)` line.

A recipe class has two sides:
- for the command line and the setup (class level, this module's `Recipe`): the `[model]` schema
  of its configs, its own command-line options, the parameter line of `--dry-run`, the checks made
  before any data is read, and `from_config`, which builds the recipe object;
- for the loop (the object): the generator adapter that `training.trainer.Trainer` runs — see the
  protocol in `training.trainer` (`param_groups`, `forward`, `method_losses`, `predict`, `export`,
  optional `make_critic`) — plus `perceptual_net` (the relu5_1 network of L_per, or None) and
  `metadata` (what the exports record about the run's origin: "random", "random_parts", …).

`make_trainer(cfg, dataset, out, options=…)` builds the `Trainer` of a config with its recipe; the
caller brings the training data and, if it wants one, the validator (`training.validation`).

Registered: "ttsr" (`training.ttsr_recipe`), "srntt" and "srntt-rec" (`training.srntt_recipe`), and
every Table 1 method of `training.table1.SPECS` ("edsr", "esrgan", "crossnet", …: one generic
`training.table1_recipe.Table1Recipe` running a recipe that is data).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from pydantic import BaseModel
from torch import nn

from foundation.errors import UserError
from foundation.provenance import git_state
from foundation.seeding import seed_everything
from foundation.registry import Registry
from training.config import TrainConfig

RECIPES = Registry("training recipe", discover="training", case_sensitive=False, order=str)  # alphabetical


class Recipe:
    """Base of a method's training recipe; the defaults suit a method without options or checks.

    Class attributes:
        name          the config `method` it trains (a class registered under several names
                      reads the config's `method` in `from_config`)
        model_table   pydantic model of the config's `[model]` table (extra keys forbidden)
        options       the method's own command-line options: {"--flag": argparse keywords}; they
                      reach `check` and `from_config` as keyword arguments named like the
                      argparse destination ("--init-from" → `init_from`)
        random_note   appended to the start line when the run uses random weights where the
                      method needs trained ones (`allow_random_vgg`)
    """

    name: ClassVar[str] = ""
    model_table: ClassVar[type[BaseModel]]
    options: ClassVar[dict[str, dict[str, Any]]] = {}
    random_note: ClassVar[str] = "; RANDOM weights (smoke test)"

    perceptual_net: nn.Module | None = None
    metadata: dict[str, Any] = {}

    @classmethod
    def check_model(cls, cfg: TrainConfig) -> dict[str, Any]:
        """The config's `[model]` options, checked; `UserError` naming the file and key."""
        return cfg.check_model(cls.model_table).model_dump(exclude_unset=True)

    @classmethod
    def parameter_line(cls, cfg: TrainConfig) -> str:
        """One line with the parameter count of the configured network (`--dry-run`, start line)."""
        raise NotImplementedError

    @classmethod
    def check(cls, cfg: TrainConfig, *, allow_random_vgg: bool, **options: Any) -> None:
        """Checks made before any data is read or model built (`UserError`, one line)."""

    @classmethod
    def from_config(cls, cfg: TrainConfig, *, allow_random_vgg: bool, **options: Any) -> "Recipe":
        """The recipe object for `cfg` (its generator initialised from the global RNG state)."""
        raise NotImplementedError


def recipe_for(cfg: TrainConfig) -> type[Recipe]:
    """The recipe class of `cfg.method`, its `[model]` table checked; `UserError` naming the file when
    the method has none or the table is wrong. `cfg.method` becomes the registered name (any case
    is accepted), so the run, its exports and their metadata carry one spelling."""
    cfg.method = RECIPES.canonical(cfg.method)
    if cfg.method not in RECIPES:
        raise UserError(f"{cfg.source}: method = {cfg.method!r} has no training recipe "
                        f"(known: {', '.join(sorted(RECIPES.names()))}); see training/recipes.py to add one")
    recipe = RECIPES.get(cfg.method)
    recipe.check_model(cfg)
    return recipe


def make_trainer(cfg: TrainConfig, dataset, out: str | Path, *, allow_random_vgg: bool = False,
                 options: dict[str, Any] | None = None, device: str | None = None, progress: bool = True,
                 dist_info=None):
    """A `training.trainer.Trainer` for `cfg` with its method's recipe (`from_config(**options)`, after the
    data seed is set, so the initial weights follow `[data] seed`) on `dataset`; prints the start line
    (parameters, pairs, steps, device, processes) on the main process. The exports' metadata: the
    recipe's, "allow_random_vgg", "git_commit", "torch", "config_name"."""
    from training.trainer import Trainer

    recipe_class = recipe_for(cfg)
    seed_everything(cfg.data.seed)
    recipe = recipe_class.from_config(cfg, allow_random_vgg=allow_random_vgg, **(options or {}))
    metadata = {"allow_random_vgg": bool(allow_random_vgg), **recipe.metadata,
                "git_commit": git_state()["commit"], "torch": str(torch.__version__), "config_name": cfg.name}
    trainer = Trainer(cfg, recipe, dataset, out, perceptual_net=recipe.perceptual_net, metadata=metadata,
                      device=device, progress=progress, dist_info=dist_info)
    if trainer.dist.is_main:
        print(f"{recipe_class.parameter_line(cfg)}; {len(dataset)} training pairs, {trainer.steps_per_epoch} "
              f"steps/epoch, {trainer.total_steps} steps; device {trainer.device}, {trainer.dist.world_size} "
              f"process(es)"
              + (recipe_class.random_note if allow_random_vgg else ""), flush=True)
    return trainer


def unique_recipes() -> list[type[Recipe]]:
    """Every registered recipe class once (one class may train several methods)."""
    seen: list[type[Recipe]] = []
    for _, recipe in RECIPES.items():
        if recipe not in seen:
            seen.append(recipe)
    return seen


def option_dest(flag: str) -> str:
    """The argparse destination of a long option: "--init-from" → "init_from"."""
    return flag.lstrip("-").replace("-", "_")

