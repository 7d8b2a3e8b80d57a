"""TTSR behind the method interface: `ttsr`, `ttsr-rec`, and the ablation variants of Tables 2/3.

`ttsr` / `ttsr-rec` run the published `TTSR.pt` / `TTSR-rec.pt` (or any full-TTSR checkpoint:
a trainer's `model_best.pt`, a `save_ttsr` file). The ablation variants (`ttsr-base`,
`ttsr-base-ha`, …, one per entry of `ttsr.config.VARIANTS`) have no published weights: they take
checkpoints trained with `python -m benchmarks.train` (one config per variant under configs/).

Conventions: the batch's [0, 255] tensors become the release's [-1, 1] (x/127.5 − 1); LR↑ and
Ref↓↑ are the PIL-bicubic images the degradation made; SR comes back as (sr + 1)·127.5, clamped
to [0, 255]. After a call, `extras` holds `hard_index` (N×h·w, flat position in the reference at
¼ scale) and `S` (N×1×h×w soft attention) as CPU tensors for the report's attention view.
"""
from __future__ import annotations

from typing import Mapping

import torch

from baselines.registry import TRAINED_HERE, Method, WeightsSpec, missing_weights_message, register
from foundation.errors import UserError
from ttsr.checkpoint import identify_family, load_ttsr
from ttsr.config import VARIANTS, TTSRConfig

TTSR_SOURCE = ("the TTSR release's model folder: Google Drive "
               "https://drive.google.com/drive/folders/1CTm-r3hSbdYVCySuQ27GsrqXhhVOS-qh , OneDrive "
               "https://1drv.ms/u/s!Ajav6U_IU-1gmHZstHQxOTn9MLPh?e=e06Q7A , Baidu "
               "https://pan.baidu.com/s/1j9swBtz14WneuMYgTLkWtA (code 0u6i) — links in the researchmm/TTSR README")
TTSR_FORMATS = ("release state dict (MainNet.*/LTE.*, optional module. prefix and LTE_copy.*)",
                "ttsr-bench save_ttsr .pt {'state_dict','ttsr_config','metadata'} or .safetensors",
                "trainer checkpoints model_best.pt / model_last.pt")


def variant_method_name(variant: str) -> str:
    """`base+ha+sa` -> `ttsr-base-ha-sa` (no '+' on a command line)."""
    return "ttsr-" + variant.replace("+", "-")


SWITCHES = ("hard_attention", "soft_attention", "learnable_lte", "csfi")


def config_differences(found: TTSRConfig, expected: TTSRConfig) -> list[str]:
    """The ablation switches that differ (sizes may: a small or wider model of the same kind loads)."""
    a, b = found.to_dict(), expected.to_dict()
    return [f"{k}={a[k]} (expected {b[k]})" for k in SWITCHES if a[k] != b[k]]


class TTSRMethod(Method):
    kind = "refsr"
    scale = 4
    convention = "RGB [-1,1] (x/127.5 - 1); LR-up and Ref-down-up by PIL bicubic"

    def __init__(self, name: str, config: TTSRConfig, weights: WeightsSpec, description: str) -> None:
        super().__init__()
        self.name, self.config, self.weights, self.description = name, config, weights, description
        self.model = None
        self.checkpoint_metadata: dict = {}

    def load(self, weights_path, device="cpu") -> "TTSRMethod":
        if weights_path is None:
            raise UserError(missing_weights_message(self))
        # A file that says its configuration is loaded as such and must be this variant; a bare
        # release-format state dict gets this variant's switches (soft attention and the LTE leave
        # no trace in the weights). The reader and the strict load are every method's
        # (`foundation.checkpoints`); a wrong file is named by the registry, else by its family.
        model = load_ttsr(weights_path, device=device, fallback=self.config,
                          identify=lambda keys: self.identify_file(keys) or identify_family(keys))
        wrong = config_differences(model.config, self.config)
        if wrong:
            match = [("ttsr or ttsr-rec" if v == "ttsr" else variant_method_name(v))
                     for v, c in VARIANTS.items() if not config_differences(model.config, c)]
            hint = f"; load it as {' or '.join(match)}" if match else ""
            raise UserError(f"{weights_path}: a TTSR checkpoint of another configuration ({', '.join(wrong)}), "
                            f"not {self.name}{hint}")
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.checkpoint_metadata = dict(getattr(model, "checkpoint_metadata", {}) or {})
        self.device = torch.device(device)
        self.weights_path = weights_path
        return self

    def options(self) -> dict[str, object]:
        """The variant's network configuration (`ttsr.config.TTSRConfig`): ablation switches and sizes."""
        return {**super().options(), "config": self.config.to_dict()}

    def set_max_memory(self, max_memory: int | None) -> None:
        if self.model is not None:
            self.model.set_max_memory(max_memory)

    @torch.no_grad()
    def __call__(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        if self.model is None:
            raise RuntimeError(f"{self.name}: call load() first")

        def unit(key: str) -> torch.Tensor | None:
            x = batch.get(key)
            return None if x is None else x.to(self.device, torch.float32) / 127.5 - 1.0

        if self.config.uses_reference and any(batch.get(k) is None for k in ("lr_up", "ref", "ref_down_up")):
            raise ValueError(f"{self.name}: a RefSR batch needs lr, lr_up, ref and ref_down_up")
        out = self.model(unit("lr"), unit("lr_up"), unit("ref"), unit("ref_down_up"))
        self.extras = {k: getattr(out, k).detach().cpu() for k in ("hard_index", "S")
                       if getattr(out, k) is not None}
        return ((out.sr + 1.0) * 127.5).clamp_(0.0, 255.0)


# --------------------------------------------------------------------------- weights records

#: The release's Google Drive folder (researchmm/TTSR README, "Model"), holding TTSR.pt and TTSR-rec.pt.
TTSR_DRIVE = "https://drive.google.com/drive/folders/1CTm-r3hSbdYVCySuQ27GsrqXhhVOS-qh"
#: The published files (TTSR release: Google Drive / OneDrive / Baidu; no published sha256).
PUBLISHED: dict[str, tuple[str, str]] = {  # method → (file, description)
    "ttsr": ("TTSR.pt", "TTSR (Yang et al., CVPR 2020), all losses, published weights"),
    "ttsr-rec": ("TTSR-rec.pt", "TTSR-rec, reconstruction loss only, published weights"),
}
WEIGHTS: dict[str, WeightsSpec] = {
    name: WeightsSpec(files=(filename,), trained_on="CUFED", source=TTSR_SOURCE, formats=TTSR_FORMATS, drive=TTSR_DRIVE,
                      note="from the release's Google Drive folder (`python -m benchmarks.weights fetch`); "
                           "no published sha256: the first fetch records it in the folder's SHA256SUMS")
    for name, (filename, _) in PUBLISHED.items()}
#: The ablation variants (`ttsr.config.VARIANTS` other than the full model): user-trained files.
VARIANT_OF: dict[str, str] = {variant_method_name(v): v for v in VARIANTS if v != "ttsr"}
WEIGHTS.update({
    name: WeightsSpec(
        files=(f"TTSR-{name.removeprefix('ttsr-')}.pt", f"TTSR-{name.removeprefix('ttsr-')}.safetensors"),
        source=f"no published weights: train the '{variant}' ablation with `python -m benchmarks.train` (its "
               f"config under configs/) and pass its model_best.pt with --weights {name}=PATH",
        formats=TTSR_FORMATS, origins=tuple((f"TTSR-{name.removeprefix('ttsr-')}{ext}", TRAINED_HERE)
                                            for ext in (".pt", ".safetensors")))
    for name, variant in VARIANT_OF.items()})


def _factory(name: str, variant: str, description: str):
    return lambda: TTSRMethod(name, VARIANTS[variant], WEIGHTS[name], description)


for _name, (_, _what) in PUBLISHED.items():
    register(_factory(_name, "ttsr", _what), name=_name)
for _name, _variant in VARIANT_OF.items():
    register(_factory(_name, _variant, f"TTSR ablation '{_variant}' (Tables 2/3), user-trained weights"), name=_name)


# Recognising a TTSR file when another method is given it (`Method.identify_file`).
TTSRMethod.key_signature = ((r"^MainNet\.SFE\.conv_head\.weight$",),)
