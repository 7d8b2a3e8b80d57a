"""`crossnet` in the harness: CrossNet (Zheng et al., ECCV 2018), TTSR Table 1's "CrossNet" row.

No weights are public (the authors' release, https://github.com/htzheng/ECCV2018_CrossNet_RefSR,
ships code only), so the method loads a checkpoint trained by the suite, or one trained by the
release's `train_multi_warping.py` (`torch.save(net.state_dict())`: the same key names, loaded with
the identity `RELEASE_REMAP`). The paper's Table 1 numbers come from a CrossNet retrained on CUFED.

How the suite's batch (float [0, 255], NCHW) becomes the network's input:
- range: RGB / 255, in [0, 1] as the release's data loader (`FlowerDataset.nextBatch_new`); SR × 255,
  clamped to [0, 255].
- flow and LR encoder both read LR↑ (the batch's PIL-bicubic `lr_up`). The release's encoder reads
  the MDSR output (`input_img1_SR`); the suite trains and runs CrossNet on LR↑ instead, so it needs no
  second network (a deviation, recorded in `options()`).
- reference: CrossNet needs it at LR↑'s size. The release only sees views of one size, cropped
  top-left (320×512). Here a reference with the LR's size (the LR-as-reference mode: Ref = LR) is
  used upsampled, i.e. Ref↑ = `lr_up` exactly when Ref is the LR, else a bicubic ×scale; any other
  reference is cropped top-left to LR↑'s size where it is larger and replicate-padded at the
  bottom/right where it is smaller (no rescaling: the flow is a displacement at one scale). A
  stitched CUFED5 reference (5 refs top-left on 500×500 tiles, stacked) so gives the level-1 tile.
- size: LR↑ and Ref are replicate-padded to multiples of 64 (the flow network's six levels) and
  the output is cropped back.
`Ref↓↑` is not used.
"""
from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F

from baselines.crossnet.flownet import MULTIPLE
from baselines.crossnet.network import RELEASE_REMAP, CrossNet, CrossNetSR
from baselines.registry import TRAINED_HERE, WeightsSpec, register
from baselines.sisr.common import SISRMethod

RELEASE = "https://github.com/htzheng/ECCV2018_CrossNet_RefSR"
FILES = ("crossnet.safetensors", "crossnet.pt")


def reference_at_lr_up(batch: Mapping[str, torch.Tensor], scale: int) -> torch.Tensor:
    """The batch's reference at a size CrossNet can fit to LR↑: the reference itself, or, when it
    has the LR's size (LR as reference), ×`scale`: `lr_up` when it equals `lr`, else bicubic."""
    ref, lr = batch["ref"], batch["lr"]
    if ref.shape[-2:] != lr.shape[-2:]:
        return ref
    if ref.shape == lr.shape and torch.equal(ref, lr):
        return batch["lr_up"]
    return F.interpolate(ref, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 255)


@register
class CrossNetMethod(SISRMethod):
    """A RefSR method on `SISRMethod`'s loading (build, explicit remap `table`, strict load, frozen);
    its own `__call__` reads LR↑ and Ref."""

    name = "crossnet"
    kind = "refsr"
    scale = 4
    description = "CrossNet (Zheng et al., ECCV 2018): flow-warped reference features; trained by the suite"
    convention = ("RGB [0,1] (x/255); flow and LR encoder on LR-up (PIL bicubic); Ref cropped/padded to "
                  "LR-up's size (LR as Ref: upsampled); replicate-padded to x64")
    weights = WeightsSpec(
        files=FILES,
        source=("no public weights (the authors' release " + RELEASE + " has code only); train with the suite "
                "(`python -m benchmarks.train --config configs/crossnet.toml`, README 'Training') and pass its "
                "model_best file with --weights crossnet=PATH, or save it as weights/crossnet.safetensors"),
        formats=(("state dict with the release's keys (FlowNet.*, Encoder.*, UNet_decoder_2.*): "
                  "the release's torch.save(net.state_dict()), a suite-trained .pt or .safetensors"),),
        note=("trained here: the paper's CrossNet (TTSR Table 1) was retrained on CUFED; "
              "a suite-trained checkpoint is not the authors' model"),
        origins=tuple((f, TRAINED_HERE) for f in FILES),
    )
    key_signature = ((r"^FlowNet\.conv6_1\.0\.weight$", r"^UNet_decoder_2\.final\.0\.weight$"),)
    table = RELEASE_REMAP  # the release's own key names: identity

    def build(self, state_dict=None) -> CrossNet:
        return CrossNet()  # one configuration: the release's widths are literals

    def build_for_training(self) -> CrossNetSR:
        """`CrossNetSR`: (lr_up, ref) of any size in [0, 1] → SR in [0, 1]."""
        return CrossNetSR()

    def options(self) -> dict[str, object]:
        """The input rules above (they change the output for the same weights)."""
        return {**super().options(), "encoder_input": "lr_up", "flow_input": "lr_up",
                "reference": "LR-sized: upsampled; else top-left crop / replicate pad to LR-up",
                "pad": f"replicate to a multiple of {MULTIPLE}"}

    @torch.no_grad()
    def __call__(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        if self.model is None:
            raise RuntimeError(f"{self.name}: call load() first")
        if batch.get("lr_up") is None or batch.get("ref") is None:
            raise ValueError(f"{self.name}: a RefSR batch needs lr, lr_up and ref")
        self.extras = {}
        ref = reference_at_lr_up(batch, self.scale)
        lr_up = batch["lr_up"].to(self.device, torch.float32)
        sr = self.model.super_resolve(lr_up, ref.to(self.device, torch.float32))
        return sr.clamp_(0.0, 255.0)
