"""`srntt` and `srntt-rec` in the harness (TTSR Table 1's "SRNTT" and "SRNTT-rec" = SRNTT-ℓ2).

Both load one safetensors file made once by `python -m baselines.srntt.convert` from the
official release: `upscale.npz` + `srntt.npz` (SRNTT, all losses) or `srntt_init.npz`
(SRNTT-rec, reconstruction only) + MatConvNet `imagenet-vgg-verydeep-19.mat`.
The swap is the memory-bounded one; several references are matched jointly (SRNTT §3.2): under a
reference mode that gives several (CUFED5 "all") the runner passes them as `refs` / `refs_down_up`.
"""
from __future__ import annotations

from typing import Mapping

import torch

from baselines.registry import Method, WeightsSpec, register
from baselines.srntt.pipeline import SRNTTPipeline

RELEASE = "https://github.com/ZZUTK/SRNTT (SRNTT/models/SRNTT/)"
VGG_MAT = "http://www.vlfeat.org/matconvnet/models/imagenet-vgg-verydeep-19.mat"


def _spec(filename: str, texture_file: str) -> WeightsSpec:
    return WeightsSpec(
        files=(filename,), trained_on="CUFED",
        source=(f"the official SRNTT release (upscale.npz and {texture_file} from {RELEASE}; "
                f"imagenet-vgg-verydeep-19.mat from {VGG_MAT}), converted once with `python -m "
                f"baselines.srntt.convert --upscale upscale.npz --texture {texture_file} "
                f"--vgg imagenet-vgg-verydeep-19.mat --out weights/{filename}`"),
        formats=("safetensors written by baselines.srntt.convert",),
        note=f"texture transfer from {texture_file}; content extractor upscale.npz; MatConvNet VGG19",
    )


class SRNTTMethod(Method):
    kind = "refsr"
    scale = 4
    convention = "LR RGB in [-1,1]; VGG on RGB [0,255] minus the ImageNet mean (MatConvNet)"
    key_signature = ((r"^network\.texture_transfer\.scales\.", r"^vgg\.convs\."),)
    takes_multiple_refs = True  # batch["refs"]: every reference is searched (SRNTT §3.2)

    def __init__(self) -> None:
        super().__init__()
        self.pipeline: SRNTTPipeline | None = None

    def load(self, weights_path, device="cpu") -> "SRNTTMethod":
        self.device = torch.device(device)
        pipeline = self.load_checkpoint(weights_path, lambda _state: SRNTTPipeline())
        self.pipeline = pipeline.to(self.device).eval()
        self.weights_path = weights_path
        return self

    def set_max_memory(self, max_memory: int | None) -> None:
        """Working-memory bound of the texture swap (`--max-memory`)."""
        if self.pipeline is not None:
            self.pipeline.max_memory = max_memory

    @torch.no_grad()
    def __call__(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        assert self.pipeline is not None, "load() first"
        refs = batch.get("refs")  # optional list of references (multi-reference matching)
        outputs, extras = [], []
        for i in range(batch["lr"].shape[0]):
            ref_list = [r[i:i + 1] for r in refs] if refs is not None else [batch["ref"][i:i + 1]]
            down_up = ([r[i:i + 1] for r in batch["refs_down_up"]] if refs is not None
                       else [batch["ref_down_up"][i:i + 1]])
            outputs.append(self.pipeline(batch["lr"][i:i + 1], batch["lr_up"][i:i + 1], ref_list, down_up))
            extras.append(self.pipeline.extras)
        self.extras = extras[0] if len(extras) == 1 else {}
        return torch.cat(outputs).clamp(0, 255)


@register
class SRNTT(SRNTTMethod):
    name = "srntt"
    description = "SRNTT (Zhang et al., CVPR 2019), official TF weights converted"
    weights = _spec("srntt.safetensors", "srntt.npz")


@register
class SRNTTRec(SRNTTMethod):
    name = "srntt-rec"
    description = "SRNTT-l2 ('SRNTT-rec' in TTSR Table 1): reconstruction loss only"
    weights = _spec("srntt-rec.safetensors", "srntt_init.npz")
