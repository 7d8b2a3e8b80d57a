"""The TTSR recipe (paper §3.4 losses, §4.1 optimiser settings), registered as "ttsr" in `training.recipes`.

- Generator: `ttsr.model.TTSR(TTSRConfig)` from the config's `[model]` table
  (`training.config.TTSRModelTable`), the LTE initialised from ImageNet VGG19 (§3.1) — or, with
  `allow_random_vgg`, left random (smoke tests only; recorded in the metadata).
- Adam groups: MainNet (and any other trainable part) at `lr` (1e-4), the LTE at `lr_lte` (1e-5),
  as the release's trainer.
- L_per: VGG19 relu5_1 (`ttsr.vgg.VGG19Relu51`), ImageNet weights from the torch hub cache.
- Method loss: the transferal perceptual loss (Eq. 8, second term) between the LTE features of SR,
  through the current LTE with frozen weights (`TTSR.texture_features`: detached parameters, no
  per-step state-dict copy), and the transferred textures T_lv3, T_lv2, T_lv1. As in the release,
  T keeps its graph, so this term also trains the LTE through the reference branch.
- Export: `ttsr.checkpoint.save_ttsr` (release key names; loads with `load_ttsr`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from foundation.errors import UserError
from foundation.pretrained import find_backbone, missing_backbone_message
from training.config import LossConfig, OptimConfig, TrainConfig, TTSRModelTable
from training.recipes import RECIPES, Recipe
from training.trainer import uses_perceptual_loss
from ttsr.config import TTSRConfig
from ttsr.losses import transferal_perceptual_loss
from ttsr.model import TTSR, parameter_count


def build_model_config(cfg: TrainConfig) -> TTSRConfig:
    """The network of the config's (checked) `[model]` table; `UserError` naming the file."""
    try:
        return TTSRConfig.from_dict(cfg.model)
    except (TypeError, ValueError) as err:
        raise UserError(f"{cfg.source}: [model] {err}") from err


@RECIPES.register
class TTSRRecipe(Recipe):
    """Generator adapter of TTSR; see `training.trainer` for the protocol, `training.recipes` for the rest."""

    name = "ttsr"
    model_table = TTSRModelTable
    random_note = "; VGG19 RANDOM (smoke test)"
    loss_names = ("tpl",)

    def __init__(self, config: TTSRConfig, *, pretrained_lte: bool = True, generator: TTSR | None = None,
                 perceptual_net: nn.Module | None = None, metadata: dict[str, Any] | None = None):
        self.config = config
        self.generator = generator if generator is not None else TTSR(config, pretrained_lte=pretrained_lte)
        self.perceptual_net = perceptual_net
        self.metadata = dict(metadata or {})

    # -- setup (training.recipes) ----------------------------------------------------------------
    @classmethod
    def parameter_line(cls, cfg: TrainConfig) -> str:
        model_config = build_model_config(cfg)
        total, lte = parameter_count(model_config), parameter_count(model_config, "LTE")
        return (f"{cfg.name}: TTSR {total / 1e6:.3f}M parameters (MainNet {(total - lte) / 1e6:.3f}M, "
                f"LTE {lte / 1e6:.3f}M)")

    @classmethod
    def check(cls, cfg: TrainConfig, *, allow_random_vgg: bool, **options: Any) -> None:
        """The ImageNet VGG19 must be in the torch hub cache when L_per or the LTE uses it."""
        needs_vgg = uses_perceptual_loss(cfg) or build_model_config(cfg).uses_reference
        if needs_vgg and not allow_random_vgg and find_backbone("vgg19") is None:
            raise UserError(missing_backbone_message(
                "vgg19", "training (LTE initialisation §3.1 and perceptual loss §3.4)")
                + "; --allow-random-vgg runs a smoke test without them")

    @classmethod
    def from_config(cls, cfg: TrainConfig, *, allow_random_vgg: bool, **options: Any) -> "TTSRRecipe":
        from ttsr.vgg import VGG19Relu51

        recipe = cls(build_model_config(cfg), pretrained_lte=not allow_random_vgg)
        if uses_perceptual_loss(cfg):
            recipe.perceptual_net = VGG19Relu51(random_ok=allow_random_vgg)
        recipe.metadata = {
            "random": bool(allow_random_vgg),
            "random_parts": "random VGG19 (perceptual loss) and LTE (--allow-random-vgg)" if allow_random_vgg else "",
            "vgg19_weights": "random (--allow-random-vgg, smoke test only)" if allow_random_vgg else "imagenet"}
        return recipe

    # -- the loop (training.trainer) -------------------------------------------------------------

    def param_groups(self, optim: OptimConfig) -> list[dict]:
        lte = self.generator.LTE
        lte_ids = {id(p) for p in lte.parameters()} if lte is not None else set()
        main = [p for p in self.generator.parameters() if p.requires_grad and id(p) not in lte_ids]
        groups = [{"params": main, "lr": optim.lr, "name": "MainNet"}]
        lte_params = [p for p in lte.parameters() if p.requires_grad] if lte is not None else []
        if lte_params:
            groups.append({"params": lte_params, "lr": optim.lr_lte, "name": "LTE"})
        return groups

    def forward(self, net: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        out = net(batch["lr"], batch["lrsr"], batch["ref"], batch["refsr"])
        return {"sr": out.sr, "S": out.S, "T": (out.T_lv3, out.T_lv2, out.T_lv1)}

    def method_losses(self, outputs: dict[str, Any], batch: dict[str, torch.Tensor],
                      loss: LossConfig) -> dict[str, tuple[float, torch.Tensor]]:
        if loss.tpl <= 0 or self.generator.LTE is None:
            return {}
        lv1, lv2, lv3 = self.generator.texture_features(outputs["sr"])
        value = transferal_perceptual_loss((lv3, lv2, lv1), outputs["T"], outputs["S"], kind=loss.tpl_type,
                                           use_soft_attention=loss.tpl_use_S)
        return {"tpl": (loss.tpl, value)}

    def predict(self, lr, lrsr, ref, refsr) -> torch.Tensor:
        return self.generator(lr, lrsr, ref, refsr).sr

    def export(self, path: Path, metadata: dict) -> None:
        from ttsr.checkpoint import save_ttsr

        save_ttsr(self.generator, path, metadata)
