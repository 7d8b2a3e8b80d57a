"""Make tests/golden/msrresnet_release_small.pt: RankSRGAN's own MSRResNet, random weights, a small input.

The release: https://github.com/XPixelGroup/RankSRGAN at commit b313c24a25c9844d1d0c7ea8fd1e35da00ad8975,
its generator `codes/models/archs/SRResNet_arch.py` (`MSRResNet`, with `arch_util.ResidualBlock_noBN`),
the network of `rsrgan` (and of `msrgan` / `msrresnet` / `srgan`, `baselines/sisr/msrresnet.py`).
Get it with

    git clone https://github.com/XPixelGroup/RankSRGAN && git -C RankSRGAN checkout b313c24a25c9844d1d0c7ea8fd1e35da00ad8975

then run once, from this repository's root (torch only; the release's code is imported from its folder):

    python tests/golden/make_msrresnet_release_small.py RankSRGAN

The file holds the release's state dict (MMSR naming: `recon_trunk`, `HRconv`) of a reduced
configuration (nf 8, nb 2, upscale 4; the release's own initialisation under seed 0, then every
tensor perturbed so that biases are not zero), the input (1×3×6×7, uniform [0, 1], float32) and the
release's output (1×3×24×28, float32). `tests/test_gan_rows.py` loads the state dict through
`rsrgan`'s loader and compares outputs (max abs diff ≤ 1e-5).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

COMMIT = "b313c24a25c9844d1d0c7ea8fd1e35da00ad8975"
CONFIG = dict(in_nc=3, out_nc=3, nf=8, nb=2, upscale=4)
OUT = Path(__file__).with_name("msrresnet_release_small.pt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("release", type=Path, help="the RankSRGAN checkout (at commit %s)" % COMMIT)
    args = parser.parse_args()
    sys.path.insert(0, str(args.release / "codes"))
    from models.archs.SRResNet_arch import MSRResNet  # the release's module

    torch.manual_seed(0)
    net = MSRResNet(**CONFIG).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    x = torch.rand(1, 3, 6, 7)
    with torch.no_grad():
        y = net(x)
    torch.save({"source": f"https://github.com/XPixelGroup/RankSRGAN@{COMMIT} codes/models/archs/SRResNet_arch.py",
                "config": CONFIG, "state_dict": {k: v.clone() for k, v in net.state_dict().items()},
                "input": x, "output": y}, OUT)
    print(f"wrote {OUT}: output {tuple(y.shape)}, |y| mean {y.abs().mean():.4f}")


if __name__ == "__main__":
    main()
