"""The TTSR recipe for `training.trainer.Trainer` (paper §3.4 losses, §4.1 optimiser settings).

- Generator: `ttsr.model.TTSR(TTSRConfig)`, the LTE initialised from ImageNet VGG19 (§3.1) — or,
  with `allow_random_vgg`, left random (smoke tests only; the flag is recorded in the metadata).
- Adam groups: MainNet (and any other trainable part) at `lr` (1e-4), the LTE at `lr_lte` (1e-5),
  as the release's trainer.
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

from ttsr.config import TTSRConfig
from ttsr.losses import transferal_perceptual_loss
from ttsr.model import TTSR
from training.config import LossConfig, OptimConfig


def build_model_config(model_table: dict[str, Any]) -> TTSRConfig:
    return TTSRConfig.from_dict(model_table)


class TTSRRecipe:
    """Generator adapter of TTSR; see `training.trainer` for the protocol."""

    name = "ttsr"
    loss_names = ("tpl",)

    def __init__(self, config: TTSRConfig, *, pretrained_lte: bool = True, generator: TTSR | None = None):
        self.config = config
        self.generator = generator if generator is not None else TTSR(config, pretrained_lte=pretrained_lte)

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
