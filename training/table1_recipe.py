"""The Table 1 methods' recipe: one class for every spec of `training.table1.SPECS`, registered under
each spec's method name in `training.recipes.RECIPES` (so `method = "edsr"` in a config trains EDSR).

- Generator: the registered method's network (`baselines.registry.METHODS.get(name)().build()`),
  or, with `[model] network = {…}`, that network class with these constructor keywords (a reduced
  width for tests: `network = {n_feats = 8, n_blocks = 1}`). A method whose network is not
  registered (yet) is refused with one line. Inputs: the spec's batch entries (`lr`, or `lr_up` and
  `ref` for CrossNet) mapped from [-1, 1] to the method's range (`input_range`: [0, 1] or
  [0, 255]); the output mapped back.
- Losses (`training.sisr_losses`), all returned by `method_losses`: the pixel term under "rec" (it
  replaces the trainer's L_rec with the spec's criterion and full-phase weight), "vgg" (feature
  loss), "tex" (EnhanceNet's texture loss), "rank" (RankSRGAN's rank-content loss). The GAN terms
  go through the trainer's critic loop with this recipe's `make_critic` (`VGGCritic`),
  `critic_loss` and `adversarial_loss` (vanilla or relativistic). The pretraining phase of the GAN
  recipes (the trainer's init epochs) uses the pixel loss alone, as their papers' PSNR models.
- Optimiser groups: one, at `[optim] lr`; with the spec's `last_layer_lr` ≠ 1 (SRCNN) the last
  layer's parameters form a second group at lr × that factor.
- Export: `<name>.safetensors` beside the trainer's `<name>.pt` path: the network's own state dict
  (the registry's `load()` sizes the network from it), header `method`, `origin` ("trained by
  ttsr-bench …", RANDOM when the VGG was random) and `metadata` (JSON).

Options: `--ranker FILE` (RankSRGAN): the ranker as a TorchScript file (`torch.jit.save` of the
release's Ranker_VGG12 with `mmsr_Ranker_NIQE.pth` loaded), taking RGB in [0, 1] and returning one
score per image. Without it `rsrgan` is refused: training it without its ranker is SRGAN.
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

from foundation.errors import UserError
from foundation.fileio import atomic_write_bytes
from foundation.pretrained import find_backbone, missing_backbone_message
from training import sisr_losses as L
from training.config import LossConfig, OptimConfig, TrainConfig
from training.recipes import RECIPES, Recipe
from training.table1 import SPECS, Spec


#: the evaluation's batch names → the trainer's (`training.data`)
TRAIN_KEYS = {"lr_up": "lrsr", "ref_down_up": "refsr"}


class Table1ModelTable(BaseModel):
    """`[model]` of a Table 1 recipe: `network`, constructor keywords of the method's network class;
    `critic_nf`, the first width of the GAN recipes' critic (64 as published; less for tests)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    network: dict[str, int | float | bool] = Field(default_factory=dict)
    critic_nf: int = Field(64, ge=1, le=512)  # the GAN recipes' VGG critic width (64 as published)


def registered(method: str) -> bool:
    """Whether the method's network is in `baselines.registry.METHODS` (Table 1 rows land over time)."""
    from baselines.registry import METHODS

    return method in METHODS


def build_network(method: str, network: dict[str, Any], source: str = "config") -> tuple[nn.Module, float]:
    """(network, input range) of a registered method; `UserError` (one line) when it is not
    registered, cannot be built for training, or the keywords do not fit its class."""
    from baselines.registry import METHODS

    if method not in METHODS:
        raise UserError(f"{source}: method = {method!r}: its network is not in the suite yet (baselines/); "
                        f"its recipe is training.table1.SPECS[{method!r}]")
    adapter = METHODS.get(method)()
    build = getattr(adapter, "build_for_training", None)
    if build is None:
        raise UserError(f"{source}: method {method!r} has no build_for_training() to make its network for training")
    default = build()
    if not network:
        return default, float(getattr(adapter, "input_range", 1.0))
    try:
        model = type(default)(**network)
    except TypeError as err:
        raise UserError(f"{source}: [model] network = {network}: not keywords of {type(default).__name__} "
                        f"({err})") from None
    return model, float(getattr(adapter, "input_range", 1.0))


def _needs_vgg(spec: Spec) -> bool:
    return bool(spec.features or spec.texture)


class Table1Recipe(Recipe):
    """A `training.table1.Spec` run by the one trainer; see the module docstring."""

    name = "table1"
    model_table = Table1ModelTable
    random_note = "; VGG19 RANDOM (smoke test)"
    loss_names = ("vgg", "tex", "rank")
    options = {"--ranker": {"metavar": "FILE", "help": "rsrgan: the RankSRGAN ranker as a TorchScript file "
                                                       "(rank-content loss); required for rsrgan"}}

    def __init__(self, spec: Spec, generator: nn.Module, input_range: float, *, vgg: nn.Module | None = None,
                 ranker: nn.Module | None = None, metadata: dict | None = None):
        self.spec, self.name = spec, spec.method
        self.generator, self.input_range = generator, input_range
        self.vgg, self.ranker = vgg, ranker
        self.perceptual_net = None  # the trainer's L_per (TTSR's relu5_1) is off: the spec's terms are here
        self.metadata = dict(metadata or {})

    # -- setup -------------------------------------------------------------------------------
    @classmethod
    def _spec(cls, cfg: TrainConfig) -> Spec:
        return SPECS[RECIPES.canonical(cfg.method)]

    @classmethod
    def parameter_line(cls, cfg: TrainConfig) -> str:
        model, _ = build_network(cls._spec(cfg).method, cls.check_model(cfg).get("network", {}), cfg.source)
        count = sum(p.numel() for p in model.parameters())
        return f"{cfg.name}: {cls._spec(cfg).method} {count / 1e6:.3f}M parameters"

    @classmethod
    def check(cls, cfg: TrainConfig, *, allow_random_vgg: bool, ranker: str | None = None, **options: Any) -> None:
        spec = cls._spec(cfg)
        if not registered(spec.method):
            build_network(spec.method, {}, cfg.source)  # the one line
        if spec.rank > 0 and not ranker:
            raise UserError(f"{cfg.source}: method = {spec.method!r} needs its ranker for the rank-content loss: "
                            f"pass --ranker FILE (the RankSRGAN Ranker_VGG12 as TorchScript); without it this "
                            f"would be SRGAN, not RankSRGAN")
        if ranker and not Path(ranker).is_file():
            raise UserError(f"--ranker {ranker}: file not found")
        if _needs_vgg(spec) and not allow_random_vgg and find_backbone("vgg19") is None:
            raise UserError(missing_backbone_message("vgg19", f"{spec.method}'s perceptual loss")
                            + "; --allow-random-vgg runs a smoke test without them")

    @classmethod
    def from_config(cls, cfg: TrainConfig, *, allow_random_vgg: bool, ranker: str | None = None,
                    **options: Any) -> "Table1Recipe":
        spec = cls._spec(cfg)
        generator, input_range = build_network(spec.method, cls.check_model(cfg).get("network", {}), cfg.source)
        layers = list(spec.features) + list(spec.texture)
        vgg = L.VGGFeatures(layers, random_ok=allow_random_vgg) if layers else None
        ranker_net = None
        if spec.rank > 0 and ranker:
            try:
                ranker_net = torch.jit.load(ranker, map_location="cpu").eval()
            except (RuntimeError, ValueError) as err:
                raise UserError(f"--ranker {ranker}: not a TorchScript file ({str(err).splitlines()[0][:120]})") from None
            ranker_net.requires_grad_(False)
        random = bool(allow_random_vgg and vgg is not None)
        metadata = {"random": random, "random_parts": "random VGG19 (perceptual loss, --allow-random-vgg)" if random else "",
                    "recipe_source": spec.source, "recipe_checked": spec.checked,
                    "ranker": str(ranker) if ranker_net is not None else ""}
        recipe = cls(spec, generator, input_range, vgg=vgg, ranker=ranker_net, metadata=metadata)
        recipe.critic_nf = int(cls.check_model(cfg).get("critic_nf", 64))
        return recipe

    # -- the loop ------------------------------------------------------------------------------
    def param_groups(self, optim: OptimConfig) -> list[dict]:
        params = [(n, p) for n, p in self.generator.named_parameters() if p.requires_grad]
        if self.spec.last_layer_lr == 1.0 or not params:
            return [{"params": [p for _, p in params], "lr": optim.lr, "name": "network"}]
        last = params[-1][0].rsplit(".", 1)[0]  # the module of the last parameter: the last layer
        head = [p for n, p in params if n.rsplit(".", 1)[0] == last]
        body = [p for n, p in params if n.rsplit(".", 1)[0] != last]
        return [{"params": body, "lr": optim.lr, "name": "network"},
                {"params": head, "lr": optim.lr * self.spec.last_layer_lr, "name": "last layer"}]

    def _net_range(self, x: torch.Tensor) -> torch.Tensor:
        return (x + 1.0) * (0.5 * self.input_range)

    def forward(self, net: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        out = net(*(self._net_range(batch[key] if key in batch else batch[TRAIN_KEYS[key]]) for key in self.spec.inputs))
        return {"sr": out * (2.0 / self.input_range) - 1.0}

    def method_losses(self, outputs: dict[str, Any], batch: dict[str, torch.Tensor],
                      loss: LossConfig) -> dict[str, tuple[float, torch.Tensor]]:
        spec, sr, hr = self.spec, outputs["sr"].float(), batch["hr"].float()
        on = (lambda x: x) if spec.pixel_on == "rgb" else L.luma
        pixel = {"l1": F.l1_loss, "mse": F.mse_loss, "charbonnier": L.charbonnier}[spec.pixel](on(sr), on(hr))
        terms: dict[str, tuple[float, torch.Tensor]] = {"rec": (spec.pixel_weight, pixel)}
        if self.vgg is not None:
            self.vgg.to(sr.device)
            sr_f = self.vgg(sr)
            with torch.no_grad():
                hr_f = self.vgg(hr)
            if spec.features:
                terms["vgg"] = (1.0, L.feature_loss(sr_f, hr_f, spec.features, spec.feature_criterion))
            if spec.texture:
                terms["tex"] = (1.0, L.texture_loss(sr_f, hr_f, spec.texture, spec.texture_patch))
        if self.ranker is not None:
            self.ranker.to(sr.device)
            terms["rank"] = (spec.rank, torch.sigmoid(self.ranker(L.to_unit(sr)).float()).sum())
        return terms

    def make_critic(self, patch: int) -> nn.Module:
        return L.VGGCritic(patch, getattr(self, "critic_nf", 64))

    def critic_loss(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor):
        fn = L.relativistic_critic_loss if self.spec.gan == "relativistic" else L.vanilla_critic_loss
        return fn(critic, real, fake)

    def adversarial_loss(self, critic: nn.Module, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        fn = L.relativistic_adversarial_loss if self.spec.gan == "relativistic" else L.vanilla_adversarial_loss
        return fn(critic, sr, hr)

    def predict(self, lr, lrsr, ref, refsr) -> torch.Tensor:
        batch = {"lr": lr, "lr_up": lrsr, "lrsr": lrsr, "ref": ref, "ref_down_up": refsr, "refsr": refsr}
        return self.forward(self.generator, batch)["sr"].clamp(-1.0, 1.0)

    def export(self, path: Path, metadata: dict) -> None:
        path = Path(path).with_suffix(".safetensors")
        state = {k: v.detach().cpu().contiguous() for k, v in self.generator.state_dict().items()}
        header = {"method": self.name, "origin": str(metadata.get("origin", "trained by ttsr-bench")),
                  "metadata": json.dumps(metadata, default=str, sort_keys=True)}
        atomic_write_bytes(path, safetensors_bytes(state, metadata=header))


for _method in SPECS:
    RECIPES.register(Table1Recipe, name=_method)
