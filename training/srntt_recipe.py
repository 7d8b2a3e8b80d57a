"""SRNTT's recipe (SRNTT paper §3.4 objective, release ZZUTK/SRNTT@195ce3a `main.py` / `SRNTT/model.py` train defaults), registered as "srntt" and "srntt-rec".

Configs: `configs/srntt.toml` (5 epochs reconstruction only, then 50 with all losses: rec 1, per
1e-4, texture 1e-4, adv 1e-6) and `configs/srntt-rec.toml` (reconstruction only = SRNTT-ℓ2, TTSR's
"SRNTT-rec"); the training command takes `--init-from FILE` and `--init-texture` for them.

The frozen parts come from `--init-from`: a file written by `python -m baselines.srntt.convert`
(or a previous export of this recipe) holding `network.content_extractor.*` (the SRGAN of
`upscale.npz`) and `vgg.*` (MatConvNet VGG19). Training from a random content extractor or VGG is
not SRNTT, so a file labelled random (test-made release files) needs `--allow-random-vgg`, and the
run records it. The texture transfer starts from the release's random initialisation, or from the
file's with `--init-texture` (e.g. SRNTT from SRNTT-ℓ2). Exports (`model_last.safetensors`,
`model_best.safetensors` in the run folder) load with `registry.get("srntt").load(path)` and
the harness (`--weights srntt=PATH`); they say where their frozen parts came from ("init_origin")
and whether the run started from random ones ("random": true and "RANDOM" in "origin", as
`foundation.provenance` reads them).

`[model]` options (`SRNTTModelTable`): `use_weight_map` (true or false: weight the texture loss by
the similarity map, release `SRNTT/model.py`; default false), `content_batch_stats` (true or false: the frozen content
extractor's BatchNorm uses batch statistics while training, as the release's `is_train=True`
graph; default false), `max_memory` (the memory-bounded swap's working memory: a size such as
"4GiB", or an integer of MiB ≥ 16, `foundation.budget`; default: automatic).

What the trainer owns and SRNTT shares: data order, L_rec (L1, weight 1), L_per (MSE of relu5_1,
weight 1e-4; here through the MatConvNet VGG19 on (SR + 1)·127.5 — `perceptual_net`), WGAN-GP
(weight 1e-6, λ = 10, critic `SRNTTDiscriminator`), the init epochs with reconstruction only,
Adam, checkpoints/resume, AMP and DDP. What this recipe adds:

- `forward`: VGG19 relu3_1 of LR↑ (content), of Ref↓↑ (condition) and relu3_1/2_1/1_1 of Ref
  (style), then the texture swap of §3.2 (`baselines.srntt.swap.swap`, without gradient, in fp32),
  then the network. The swap is computed online from the batch's bicubic LR↑ and Ref↓↑. The
  release swapped offline with LR and Ref-LR upsampled by its SRGAN content extractor; its author
  says bicubic "would not significantly affect the feature matching" (ZZUTK/SRNTT issue #13,
  release ZZUTK/SRNTT@195ce3a `SRNTT/swap.py`).
- Only the texture transfer is optimised (one Adam group); the content extractor stays frozen at
  its `upscale.npz` weights and BatchNorm statistics (`FrozenContentSRNTT`). The release builds
  the whole model with `is_train=True` while training, so its content extractor normalises with
  the batch's statistics (and never saves them): `content_batch_stats = true` does the same
  (momentum 0, the moving statistics stay as loaded); false keeps it in inference mode.
- `method_losses`: the texture loss ("tex", weight `[loss] tpl` = 1e-4): per layer l ∈ {relu3_1,
  relu2_1, relu1_1} the mean squared difference of the Gram matrices FᵀF of the SR's VGG feature
  and of the swapped map, divided by 4·(N_l·C_l)², averaged over the three layers; with
  `[model] use_weight_map` both maps are weighted by sigmoid(−20·w + 0.65), w the similarity map
  bicubically resized to each scale (release `SRNTT/model.py`).
- `export`: a safetensors file with the layout `baselines.srntt.method` loads (`network.*`,
  `vgg.*`), written as `<name>.safetensors` beside the trainer's `<name>.pt` path, with metadata
  `origin` "trained by ttsr-bench …" that names the file the frozen parts came from.

Not reproduced: the release's second "train with truth" update per iteration (HR's own VGG maps
with unit weights) — the trainer makes one generator update per step.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from safetensors.torch import save as safetensors_bytes
from torch import nn

from baselines.srntt.discriminator import SRNTTDiscriminator
from baselines.srntt.network import SRNTT, release_init
from baselines.srntt.pipeline import SWAP_LAYERS
from baselines.srntt.swap import LEVEL_RATIOS, swap
from baselines.srntt.vgg import MatConvNetVGG19
from foundation.budget import CONFIG_SIZE_HELP, ConfigSize, parse_memory
from foundation.errors import UserError
from foundation.fileio import atomic_write_bytes
from training.config import LossConfig, OptimConfig, TrainConfig
from training.recipes import RECIPES, Recipe
from ttsr.model import parameter_count

# sigmoid(a·w + b) weighting of the texture loss (release constants, release ZZUTK/SRNTT@195ce3a `main.py` / `SRNTT/model.py` train defaults).
WEIGHT_MAP_A, WEIGHT_MAP_B = -20.0, 0.65


def to_255(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] → [0, 255], the VGG input of the release ((x + 1)·127.5)."""
    return (x + 1.0) * 127.5


class FrozenContentSRNTT(nn.Module):
    """The trained generator: `SRNTT` whose content extractor is frozen (no gradient, BN statistics kept).

    `batch_stats`: in training mode the content extractor's BatchNorm normalises with the batch's
    statistics, as the release's training graph does, without updating the moving ones
    (momentum 0); otherwise it always runs in inference mode.
    """

    def __init__(self, network: SRNTT, batch_stats: bool = False):
        super().__init__()
        self.network, self.batch_stats = network, batch_stats
        network.content_extractor.requires_grad_(False)
        network.content_extractor.eval()
        if batch_stats:
            for layer in network.content_extractor.modules():
                if isinstance(layer, nn.BatchNorm2d):
                    layer.momentum = 0.0  # running = 1·running + 0·batch: the loaded statistics stay

    def train(self, mode: bool = True) -> "FrozenContentSRNTT":
        super().train(mode)
        if not self.batch_stats:
            self.network.content_extractor.eval()  # its BatchNorm keeps the upscale.npz statistics
        return self

    def forward(self, lr: torch.Tensor, swapped_maps: list[torch.Tensor]) -> torch.Tensor:
        return self.network(lr, swapped_maps)


class VGGRelu51(nn.Module):
    """The perceptual-loss network: MatConvNet VGG19 relu5_1 of an image in [-1, 1]."""

    def __init__(self, vgg: MatConvNetVGG19):
        super().__init__()
        self.vgg = vgg

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.vgg(to_255(image), ("relu5_1",))["relu5_1"]


def _fp32(device: torch.device):
    return torch.autocast(device_type=device.type, enabled=False)


def gram(features: torch.Tensor) -> torch.Tensor:
    """FᵀF per sample: [N, C, H, W] → [N, C, C] (fp32)."""
    flat = features.float().flatten(2)
    return flat @ flat.transpose(1, 2)


def texture_loss(sr_features: list[torch.Tensor], swapped: list[torch.Tensor],
                 weights: torch.Tensor | None = None) -> torch.Tensor:
    """SRNTT §3.4 texture loss (release form, release ZZUTK/SRNTT@195ce3a `main.py` / `SRNTT/model.py` train defaults), layers ordered [relu3_1, relu2_1, relu1_1].

    `weights`: the similarity map [N, 1, h, w] at relu3_1 size, or None (no weighting).
    """
    total = 0.0
    with _fp32(sr_features[0].device):
        for feature, target, ratio in zip(sr_features, swapped, LEVEL_RATIOS):
            feature, target = feature.float(), target.float()
            if weights is not None:
                w = weights.float()
                if ratio > 1:
                    w = F.interpolate(w, scale_factor=ratio, mode="bicubic", align_corners=False)
                w = torch.sigmoid(WEIGHT_MAP_A * w + WEIGHT_MAP_B)
                feature, target = feature * w, target * w
            _, channels, height, width = feature.shape
            normaliser = 4.0 * float(height * width * channels) ** 2
            total = total + (gram(feature) - gram(target.detach())).pow(2).mean() / normaliser
    return total / len(sr_features)


def _crop4(image: torch.Tensor) -> torch.Tensor:
    """Top-left crop to multiples of 4, so the relu3_1/2_1/1_1 ratios are exact (release `SRNTT/swap.py`)."""
    height, width = image.shape[-2:]
    return image[..., : height - height % 4, : width - width % 4]


class SRNTTModelTable(BaseModel):
    """`[model]` of an SRNTT config (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    use_weight_map: bool = False
    content_batch_stats: bool = False
    max_memory: ConfigSize = Field(None, description=CONFIG_SIZE_HELP)


CONVERT_HINT = ("convert the official release with python -m baselines.srntt.convert --upscale upscale.npz "
                "--texture srntt_init.npz --vgg imagenet-vgg-verydeep-19.mat --out weights/srntt.safetensors")


def load_init(path: Path, *, allow_random_vgg: bool, init_texture: bool) -> tuple[SRNTT, MatConvNetVGG19, str]:
    """(network, vgg, origin) from a converted or exported SRNTT file; the texture transfer is
    release-initialised (from the global torch RNG) unless `init_texture`."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: --init-from file not found; {CONVERT_HINT}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            origin = (handle.metadata() or {}).get("origin", "")
            state = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as err:  # noqa: BLE001 - a damaged file on the user's disk
        raise UserError(f"{path}: not a readable safetensors file ({err}); {CONVERT_HINT}") from err
    if "random" in origin.lower() and not allow_random_vgg:
        raise UserError(f"{path}: its content extractor and VGG19 are random ({origin}); training from them is "
                        f"not SRNTT — pass --allow-random-vgg for a smoke test, or {CONVERT_HINT}")
    network, vgg = SRNTT(), MatConvNetVGG19()
    release_init(network.texture_transfer)
    parts = [(network.content_extractor, "network.content_extractor."), (vgg, "vgg.")]
    if init_texture:
        parts.append((network.texture_transfer, "network.texture_transfer."))
    for module, prefix in parts:
        wanted = module.state_dict()
        given = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        missing = [k for k in wanted if k not in given and not k.endswith("num_batches_tracked")]
        wrong = [k for k in wanted if k in given and tuple(given[k].shape) != tuple(wanted[k].shape)]
        if missing or wrong:
            detail = f"missing {prefix}{missing[0]}" if missing else f"{prefix}{wrong[0]} has the wrong shape"
            raise UserError(f"{path}: not an SRNTT weights file ({detail}; {len(missing)} missing, "
                            f"{len(wrong)} misshapen); {CONVERT_HINT}")
        module.load_state_dict({k: given.get(k, v) for k, v in wanted.items()}, strict=True)
    return network, vgg, (origin or path.name) + (" (texture transfer too)" if init_texture else "")


class SRNTTRecipe(Recipe):
    """Generator adapter of SRNTT; see `training.trainer` for the protocol, `training.recipes` and the
    module docstring for the rest."""

    name = "srntt"
    model_table = SRNTTModelTable
    options = {
        "--init-from": dict(type=Path, metavar="FILE",
                            help="SRNTT safetensors (baselines.srntt.convert output) with the content extractor "
                                 "and VGG19 (required)"),
        "--init-texture": dict(action="store_true",
                               help="also start the texture transfer from --init-from (default: release "
                                    "initialisation)"),
    }
    random_note = "; RANDOM content extractor/VGG19 (smoke test)"
    loss_names = ("tex",)

    def __init__(self, network: SRNTT, vgg: MatConvNetVGG19, *, name: str = "srntt", use_weight_map: bool = False,
                 content_batch_stats: bool = False, max_memory: int | None = None, origin: str = ""):
        self.name = name  # "srntt" or "srntt-rec": the harness method the export is for
        self.generator = FrozenContentSRNTT(network, batch_stats=content_batch_stats)
        self.vgg = vgg.eval().requires_grad_(False)
        self.perceptual_net = VGGRelu51(self.vgg)
        self.use_weight_map = use_weight_map
        self.max_memory = max_memory
        self.origin = origin  # where the frozen content extractor and VGG came from
        self.metadata: dict[str, Any] = {}

    # -- setup (training.recipes) ----------------------------------------------------------------
    @classmethod
    def check_model(cls, cfg: TrainConfig) -> dict[str, Any]:
        """The checked `[model]` options, `max_memory` in bytes."""
        options = super().check_model(cfg)
        if options.get("max_memory") is not None:
            options["max_memory"] = parse_memory(options["max_memory"], f"{cfg.source}: [model] max_memory")
        return options

    @classmethod
    def parameter_line(cls, cfg: TrainConfig) -> str:
        with torch.device("meta"):  # counts only: nothing allocated
            network, vgg = SRNTT(), MatConvNetVGG19()
        texture, content = parameter_count(network.texture_transfer), parameter_count(network.content_extractor)
        return (f"{cfg.name}: SRNTT {(texture + content) / 1e6:.3f}M parameters (texture transfer "
                f"{texture / 1e6:.3f}M trained, content extractor {content / 1e6:.3f}M frozen; VGG19 to relu5_1 "
                f"{parameter_count(vgg) / 1e6:.3f}M frozen)")

    @classmethod
    def check(cls, cfg: TrainConfig, *, allow_random_vgg: bool, init_from: Path | None = None,
              init_texture: bool = False) -> None:
        if init_from is None:
            raise UserError(f"--init-from is required: the frozen content extractor and VGG19 of SRNTT; "
                            f"{CONVERT_HINT}")

    @classmethod
    def from_config(cls, cfg: TrainConfig, *, allow_random_vgg: bool, init_from: Path | None = None,
                    init_texture: bool = False) -> "SRNTTRecipe":
        cls.check(cfg, allow_random_vgg=allow_random_vgg, init_from=init_from)
        options = cls.check_model(cfg)
        network, vgg, origin = load_init(init_from, allow_random_vgg=allow_random_vgg, init_texture=init_texture)
        recipe = cls(network, vgg, name=cfg.method, use_weight_map=options.get("use_weight_map", False),
                     content_batch_stats=options.get("content_batch_stats", False),
                     max_memory=options.get("max_memory"), origin=origin)
        random_init = "random" in origin.lower()  # as load_init: a file labelled random by its converter
        recipe.metadata = {
            "random": random_init,
            "random_parts": f"random content extractor and VGG19 from {Path(init_from).name}" if random_init else "",
            "init_from": str(init_from), "init_origin": origin,
            "offline_swap": "online, bicubic LR↑ and Ref↓↑ (release: SRGAN-upsampled; issue #13)"}
        return recipe

    # -- the protocol --------------------------------------------------------------------------
    def param_groups(self, optim: OptimConfig) -> list[dict]:
        params = [p for p in self.generator.network.texture_transfer.parameters() if p.requires_grad]
        return [{"params": params, "lr": optim.lr, "name": "texture_transfer"}]

    def make_critic(self, patch: int) -> nn.Module:
        return SRNTTDiscriminator(patch)

    @torch.no_grad()
    def swapped_maps(self, lr_up: torch.Tensor, ref: torch.Tensor, ref_down_up: torch.Tensor
                     ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Swapped [relu3_1, relu2_1, relu1_1] maps and the similarity map [N, 1, h, w] (inputs in [-1, 1])."""
        device = lr_up.device
        if self.vgg.mean.device != device:
            self.vgg.to(device)
        with _fp32(device):
            content = self.vgg(to_255(lr_up.float()), ("relu3_1",))["relu3_1"]
            condition = self.vgg(to_255(ref_down_up.float()), ("relu3_1",))["relu3_1"]
            style = self.vgg(to_255(ref.float()), SWAP_LAYERS)
            maps: list[list[torch.Tensor]] = [[], [], []]
            weights = []
            for i in range(lr_up.shape[0]):
                swapped, weight, _ = swap(content[i].contiguous(), [condition[i].contiguous()],
                                          [[style[name][i].contiguous() for name in SWAP_LAYERS]],
                                          max_memory=self.max_memory)
                for level, value in enumerate(swapped):
                    maps[level].append(value)
                weights.append(weight)
        return [torch.stack(level) for level in maps], torch.stack(weights)[:, None]

    def forward(self, net: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        maps, weights = self.swapped_maps(batch["lrsr"], batch["ref"], batch["refsr"])
        return {"sr": net(batch["lr"], maps), "maps": maps, "weights": weights}

    def method_losses(self, outputs: dict[str, Any], batch: dict[str, torch.Tensor],
                      loss: LossConfig) -> dict[str, tuple[float, torch.Tensor]]:
        if loss.tpl <= 0:
            return {}
        features = self.vgg(to_255(outputs["sr"]), SWAP_LAYERS)
        value = texture_loss([features[name] for name in SWAP_LAYERS], outputs["maps"],
                             outputs["weights"] if self.use_weight_map else None)
        return {"tex": (loss.tpl, value)}

    def predict(self, lr, lrsr, ref, refsr) -> torch.Tensor:
        maps, _ = self.swapped_maps(lrsr, _crop4(ref), _crop4(refsr))
        return self.generator(lr, maps)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """`SRNTTPipeline`'s state dict: `network.*` (content extractor + texture transfer) and `vgg.*`."""
        state = {f"network.{k}": v for k, v in self.generator.network.state_dict().items()}
        state.update({f"vgg.{k}": v for k, v in self.vgg.state_dict().items()})
        return {k: v.detach().to("cpu").contiguous() for k, v in state.items()}

    def export(self, path: Path, metadata: dict) -> None:
        path = Path(path).with_suffix(".safetensors")
        step = metadata.get("step", "?")
        header = {
            "method": self.name,
            "origin": (f"trained by ttsr-bench ({self.name} recipe, config {metadata.get('train_config', '?')}, "
                       f"step {step}); content extractor and VGG19 frozen from: {self.origin or 'unknown'}"),
            "metadata": json.dumps(metadata, default=str, sort_keys=True),
        }
        atomic_write_bytes(path, safetensors_bytes(self.state_dict(), metadata=header))


for _method in ("srntt", "srntt-rec"):  # SRNTT, and SRNTT-ℓ2 (reconstruction only): one recipe
    RECIPES.register(SRNTTRecipe, name=_method)
