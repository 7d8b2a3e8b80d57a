"""Make tests/golden/crossnet_release_small.pt: the CrossNet release's own forward on random weights.

The release: https://github.com/htzheng/ECCV2018_CrossNet_RefSR at commit
03959f2dd45b09820115075afd83af50fe8d0814 (the authors' PyTorch code of Zheng et al., ECCV 2018).
Get it with

    git clone https://github.com/htzheng/ECCV2018_CrossNet_RefSR /tmp/crossnet_release
    git -C /tmp/crossnet_release checkout 03959f2dd45b09820115075afd83af50fe8d0814
    python tests/golden/make_crossnet.py /tmp/crossnet_release

It imports the release's `Model/MultiscaleWarpingNet.py`, `FlowNet_model.py`, `Backward_warp_layer.py`
and `net_utils.py` unchanged (not the package `Model/__init__.py`, which imports files the release
lacks). Shims, here only: `torch.Tensor.cuda` is the identity (the release moves every input and the
warp grid to CUDA), so it runs on the CPU.

The network is the release's full configuration (no reduced variant exists: every width is a
literal); its ~40M parameters are not stored but made by `release_weights` from the key/shape
manifest and a seed (uniform values from torch's CPU generator, exact on every machine), so the
golden stays small. The forward runs in float64 (the release follows its inputs' dtype) so the
comparison does not depend on the CPU's float32 convolution kernels. Stored: the manifest (the
release's state-dict keys and shapes, in order), per-tensor sums of the weights, the inputs
(LR↑ and Ref 1×3×64×128 in [0, 1]), the output of `MultiscaleWarpingNet.forward` (mode
'input_img2_HR', its default: flow on LR↑ and Ref, encoder on `input_img1_SR` = LR↑ here), the four
flows of `FlowNet`, and a `Backward_warp` case with large flows (clamping) on a small odd-sized map.
"""
from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import torch

RELEASE_URL = "https://github.com/htzheng/ECCV2018_CrossNet_RefSR"
RELEASE_COMMIT = "03959f2dd45b09820115075afd83af50fe8d0814"
GOLDEN = Path(__file__).with_name("crossnet_release_small.pt")
SEED = 20181008
#: weights of the flow heads scaled so that random flows are several pixels (the warp is exercised)
FLOW_HEAD = re.compile(r"(^|\.)(flow\d|flow_12)\.0\.weight$")
TRANSPOSED = re.compile(r"(_up|deconv\d\.0)\.weight$")
FLOW_GAIN = 2.0


def release_weights(manifest: list[tuple[str, tuple[int, ...]]], seed: int = SEED,
                    dtype: torch.dtype = torch.float64) -> dict[str, torch.Tensor]:
    """Deterministic weights for every (key, shape) of `manifest`, in order: uniform in ±sqrt(6/fan_in)
    (He, for the leaky/SELU stacks; fan_in of a ×2 transposed conv = in·k²/4), flow heads ×`FLOW_GAIN`,
    biases uniform in ±0.1. Made in float32 from torch's CPU generator, then cast to `dtype`."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in manifest:
        u = torch.rand(shape, generator=g, dtype=torch.float32) * 2 - 1
        if key.endswith(".bias"):
            value = u * 0.1
        else:
            k2 = shape[2] * shape[3]
            fan_in = shape[0] * k2 / 4 if TRANSPOSED.search(key) else shape[1] * k2
            value = u * math.sqrt(6.0 / fan_in) * (FLOW_GAIN if FLOW_HEAD.search(key) else 1.0)
        out[key] = value.to(dtype)
    return out


def inputs(seed: int = SEED) -> dict[str, torch.Tensor]:
    """LR↑ and Ref (1×3×64×128, float32 values in [0, 1]; the ref a shifted, noisier LR↑), and a warp
    case (batch 2, odd sizes, flows up to 12 px: the batch offsets and the clamping)."""
    g = torch.Generator().manual_seed(seed + 1)
    base = torch.nn.functional.interpolate(torch.rand(1, 3, 16, 40, generator=g), size=(64, 160), mode="bilinear",
                                           align_corners=False)
    lr_up = base[..., 8:136].contiguous()
    ref = (base[..., 19:147] + 0.1 * torch.rand(1, 3, 64, 128, generator=g)).clamp(0, 1)
    feats = torch.rand(2, 5, 9, 13, generator=g)
    flow = (torch.rand(2, 2, 9, 13, generator=g) * 2 - 1) * 12  # up to 12 px: many samples clamped
    return {"lr_up": lr_up, "ref": ref, "warp_features": feats, "warp_flow": flow}


def main(release: Path) -> None:
    model_dir = release / "Model"
    if not (model_dir / "MultiscaleWarpingNet.py").is_file():
        raise SystemExit(f"{release}: no Model/MultiscaleWarpingNet.py; give the release's folder ({RELEASE_URL})")
    sys.path.insert(0, str(model_dir))
    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # shim: the release calls .cuda() everywhere
    from Backward_warp_layer import Backward_warp  # the release's modules
    from MultiscaleWarpingNet import MultiscaleWarpingNet

    net = MultiscaleWarpingNet().double().eval()
    manifest = [(k, tuple(v.shape)) for k, v in net.state_dict().items()]
    weights = release_weights(manifest)
    net.load_state_dict(weights, strict=True)
    x = inputs()
    lr_up, ref = x["lr_up"].double(), x["ref"].double()
    buff = {"input_img1_LR": lr_up.numpy(), "input_img1_HR": torch.zeros_like(lr_up).numpy(),
            "input_img1_SR": lr_up.numpy(), "input_img2_HR": ref.numpy()}
    with torch.no_grad():
        sr = net(buff, mode="input_img2_HR")
        flows = net.FlowNet(lr_up, ref)
        warped = Backward_warp()(x["warp_features"].double(), x["warp_flow"].double())
    for name, t in [("sr", sr), *flows.items(), ("warped", warped)]:
        print(f"{name}: {tuple(t.shape)} mean {t.mean():.4f} std {t.std():.4f} absmax {t.abs().max():.4f}")
    golden = {
        "release": f"{RELEASE_URL} @ {RELEASE_COMMIT}",
        "seed": SEED,
        "manifest": [[k, list(s)] for k, s in manifest],
        "weight_sums": torch.stack([weights[k].sum() for k, _ in manifest]),
        "lr_up": x["lr_up"], "ref": x["ref"],
        "sr": sr.contiguous(),
        "flows": {k: v.contiguous() for k, v in flows.items()},
        "warp_features": x["warp_features"], "warp_flow": x["warp_flow"], "warped": warped.contiguous(),
    }
    torch.save(golden, GOLDEN)
    print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python tests/golden/make_crossnet.py RELEASE_FOLDER")
    main(Path(sys.argv[1]))
