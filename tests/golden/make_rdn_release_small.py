"""Make tests/golden/rdn_release_small.pt: the two runnable Python RDN releases, random weights,
reduced configurations, one small input, their outputs (run once; the test loads the stored
state dicts through `baselines.sisr.rdn` and compares).

Releases (their code is run from the given folders, never copied here):

- EDSR-PyTorch `src/model/rdn.py` (the file as of commit 4f5e2ce; tree at 9d3bb0ec):
  `git clone https://github.com/sanghyun-son/EDSR-PyTorch && git -C EDSR-PyTorch checkout
  9d3bb0ec620ea2ac1b5e5e7a32b0133fbba66fd2`. Its RDN takes D, C, G from a fixed table (config A =
  (20, 6, 32), B = (16, 8, 64)); to keep the file small the model is built with config A and
  G0 = 8, then reduced with the release's own classes: the first 2 blocks kept (`D` = 2), each
  keeping its first 2 dense layers with a new `LFF` `nn.Conv2d(G0 + 2·G, G0, 1)`, and a new
  `GFF[0]` `nn.Conv2d(2·G0, G0, 1)`. The forward run is the release's. Input RGB [0, 255].
- yjn870/RDN-pytorch `models.py`: `git clone https://github.com/yjn870/RDN-pytorch && git -C
  RDN-pytorch checkout f2641c0817f9e1f72acd961e3ebf42c89778a054`; RDN(scale_factor=4,
  num_channels=3, num_features=8, growth_rate=8, num_blocks=2, num_layers=2). Input RGB [0, 1].

Usage: python tests/golden/make_rdn_release_small.py EDSR-PyTorch RDN-pytorch [--out PATH]
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

EDSR_COMMIT = "9d3bb0ec620ea2ac1b5e5e7a32b0133fbba66fd2"
YJN870_COMMIT = "f2641c0817f9e1f72acd961e3ebf42c89778a054"


def randomise(model: nn.Module, generator: torch.Generator) -> None:
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            p.copy_(torch.randn(p.shape, generator=generator) * (0.1 if name.endswith("weight") else 0.05))


def edsr_rdn(folder: Path, generator: torch.Generator) -> nn.Module:
    sys.path.insert(0, str(folder / "src"))
    from model import rdn  # the release's module (imports its `model.common`)

    args = SimpleNamespace(scale=[4], G0=8, RDNkSize=3, RDNconfig="A", n_colors=3)
    model = rdn.RDN(args)
    g0, growth, keep_blocks, keep_convs = 8, 32, 2, 2
    model.D = keep_blocks
    model.RDBs = nn.ModuleList(list(model.RDBs)[:keep_blocks])
    for block in model.RDBs:
        block.convs = nn.Sequential(*list(block.convs)[:keep_convs])
        block.LFF = nn.Conv2d(g0 + keep_convs * growth, g0, 1, padding=0, stride=1)
    model.GFF[0] = nn.Conv2d(keep_blocks * g0, g0, 1, padding=0, stride=1)
    randomise(model, generator)
    return model.eval()


def yjn870_rdn(folder: Path, generator: torch.Generator) -> nn.Module:
    spec = importlib.util.spec_from_file_location("yjn870_models", folder / "models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.RDN(scale_factor=4, num_channels=3, num_features=8, growth_rate=8, num_blocks=2, num_layers=2)
    randomise(model, generator)
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("edsr", type=Path, help="EDSR-PyTorch checkout")
    parser.add_argument("yjn870", type=Path, help="RDN-pytorch checkout")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("rdn_release_small.pt"))
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(2018)
    lr = torch.randint(0, 256, (1, 3, 6, 5), generator=generator).float()  # RGB [0, 255]
    edsr, yjn = edsr_rdn(args.edsr, generator), yjn870_rdn(args.yjn870, generator)
    with torch.no_grad():
        golden = {
            "lr": lr,
            "edsr": {"state_dict": edsr.state_dict(), "output": edsr(lr.clone()),
                     "source": f"https://github.com/sanghyun-son/EDSR-PyTorch@{EDSR_COMMIT} src/model/rdn.py",
                     "config": "G0 8, config A (C=6, G=32) reduced to D 2, C 2; input [0, 255]"},
            "yjn870": {"state_dict": yjn.state_dict(), "output": yjn(lr / 255.0),
                       "source": f"https://github.com/yjn870/RDN-pytorch@{YJN870_COMMIT} models.py",
                       "config": "G0 = G = 8, D 2, C 2; input [0, 1]"},
        }
    torch.save(golden, args.out)
    print(f"wrote {args.out}: edsr output {tuple(golden['edsr']['output'].shape)}, "
          f"yjn870 output {tuple(golden['yjn870']['output'].shape)}")


if __name__ == "__main__":
    main()
