"""Key/shape manifests of every SISR adapter: each published naming, remapped by the adapter's
table, must give exactly the state dict of the network built for the real configuration.

The manifests are written from the published facts (../shared/reference/baselines.md §2 for
EDSR/MDSR/RCAN/RRDBNet/MSRResNet; the real IMDN/RFDN/CARN-M files for those three), not from the
network code. Models are built on the meta device, so this needs no weights and no memory.
"""
from __future__ import annotations

import pytest
import torch

from baselines import registry
from baselines.sisr.common import DIV2K_RGB_MEAN
from tests.conftest import shared_path

Manifest = dict[str, tuple[int, ...]]


def conv(prefix: str, out_ch: int, in_ch: int, k: int) -> Manifest:
    return {f"{prefix}.weight": (out_ch, in_ch, k, k), f"{prefix}.bias": (out_ch,)}


def merge(*parts: Manifest) -> Manifest:
    out: Manifest = {}
    for part in parts:
        out.update(part)
    return out


def mean_shift(prefix: str) -> Manifest:
    return conv(prefix, 3, 3, 1)


# --------------------------------------------------------------------------- manifests

def imdn_release() -> Manifest:
    blocks = [merge(conv(f"IMDB{b}.c1", 64, 64, 3), conv(f"IMDB{b}.c2", 64, 48, 3), conv(f"IMDB{b}.c3", 64, 48, 3),
                    conv(f"IMDB{b}.c4", 16, 48, 3), conv(f"IMDB{b}.c5", 64, 64, 1),
                    conv(f"IMDB{b}.cca.conv_du.0", 4, 64, 1), conv(f"IMDB{b}.cca.conv_du.2", 64, 4, 1))
              for b in range(1, 7)]
    plain = merge(conv("fea_conv", 64, 3, 3), *blocks, conv("c.0", 64, 384, 1), conv("LR_conv", 64, 64, 3),
                  conv("upsampler.0", 48, 64, 3))
    return {f"module.{k}": v for k, v in plain.items()}


def rfdn_release() -> Manifest:
    blocks = []
    for b in range(1, 5):
        p = f"B{b}"
        blocks.append(merge(*(merge(conv(f"{p}.c{i}_d", 25, 50, 1), conv(f"{p}.c{i}_r", 50, 50, 3)) for i in (1, 2, 3)),
                            conv(f"{p}.c4", 25, 50, 3), conv(f"{p}.c5", 50, 100, 1),
                            conv(f"{p}.esa.conv1", 12, 50, 1), conv(f"{p}.esa.conv_f", 12, 12, 1),
                            conv(f"{p}.esa.conv_max", 12, 12, 3), conv(f"{p}.esa.conv2", 12, 12, 3),
                            conv(f"{p}.esa.conv3", 12, 12, 3), conv(f"{p}.esa.conv3_", 12, 12, 3),
                            conv(f"{p}.esa.conv4", 50, 12, 1)))
    return merge(conv("fea_conv", 50, 3, 3), *blocks, conv("c.0", 50, 200, 1), conv("LR_conv", 50, 50, 3),
                 conv("upsampler.0", 48, 50, 3))


def carn_m_release() -> Manifest:
    def cascade(p: str) -> Manifest:
        return merge(conv(f"{p}c1.body.0", 64, 128, 1), conv(f"{p}c2.body.0", 64, 192, 1),
                     conv(f"{p}c3.body.0", 64, 256, 1))

    blocks = [merge(conv(f"b{b}.b1.body.0", 64, 16, 3), conv(f"b{b}.b1.body.2", 64, 16, 3),
                    conv(f"b{b}.b1.body.4", 64, 64, 1), cascade(f"b{b}.")) for b in (1, 2, 3)]
    return merge(mean_shift("sub_mean.shifter"), mean_shift("add_mean.shifter"), conv("entry", 64, 3, 3), *blocks,
                 cascade(""), conv("upsample.up2.body.0", 256, 16, 3), conv("upsample.up3.body.0", 576, 16, 3),
                 conv("upsample.up4.body.0", 256, 16, 3), conv("upsample.up4.body.3", 256, 16, 3),
                 conv("exit", 3, 64, 3))


def edsr_release(n_feats: int = 256, n_blocks: int = 32) -> Manifest:
    body = [merge(conv(f"body.{i}.body.0", n_feats, n_feats, 3), conv(f"body.{i}.body.2", n_feats, n_feats, 3))
            for i in range(n_blocks)]
    return merge(mean_shift("sub_mean"), mean_shift("add_mean"), conv("head.0", n_feats, 3, 3), *body,
                 conv(f"body.{n_blocks}", n_feats, n_feats, 3), conv("tail.0.0", 4 * n_feats, n_feats, 3),
                 conv("tail.0.2", 4 * n_feats, n_feats, 3), conv("tail.1", 3, n_feats, 3))


def edsr_basicsr(n_feats: int = 256, n_blocks: int = 32) -> Manifest:
    body = [merge(conv(f"body.{i}.conv1", n_feats, n_feats, 3), conv(f"body.{i}.conv2", n_feats, n_feats, 3))
            for i in range(n_blocks)]
    return merge(conv("conv_first", n_feats, 3, 3), *body, conv("conv_after_body", n_feats, n_feats, 3),
                 conv("upsample.0", 4 * n_feats, n_feats, 3), conv("upsample.2", 4 * n_feats, n_feats, 3),
                 conv("conv_last", 3, n_feats, 3))


def mdsr_release(n_blocks: int = 80) -> Manifest:
    pre = [conv(f"pre_process.{s}.{j}.body.{c}", 64, 64, 5) for s in range(3) for j in range(2) for c in (0, 2)]
    body = [merge(conv(f"body.{i}.body.0", 64, 64, 3), conv(f"body.{i}.body.2", 64, 64, 3)) for i in range(n_blocks)]
    return merge(mean_shift("sub_mean"), mean_shift("add_mean"), conv("head.0", 64, 3, 3), *pre, *body,
                 conv(f"body.{n_blocks}", 64, 64, 3), conv("upsample.0.0", 256, 64, 3),
                 conv("upsample.1.0", 576, 64, 3), conv("upsample.2.0", 256, 64, 3), conv("upsample.2.2", 256, 64, 3),
                 conv("tail.0", 3, 64, 3))


def rcan_release() -> Manifest:
    groups = []
    for g in range(10):
        for b in range(20):
            p = f"body.{g}.body.{b}.body"
            groups.append(merge(conv(f"{p}.0", 64, 64, 3), conv(f"{p}.2", 64, 64, 3),
                                conv(f"{p}.3.conv_du.0", 4, 64, 1), conv(f"{p}.3.conv_du.2", 64, 4, 1)))
        groups.append(conv(f"body.{g}.body.20", 64, 64, 3))
    return merge(mean_shift("sub_mean"), mean_shift("add_mean"), conv("head.0", 64, 3, 3), *groups,
                 conv("body.10", 64, 64, 3), conv("tail.0.0", 256, 64, 3), conv("tail.0.2", 256, 64, 3),
                 conv("tail.1", 3, 64, 3))


def rcan_basicsr() -> Manifest:
    groups = []
    for g in range(10):
        for b in range(20):
            p = f"body.{g}.residual_group.{b}.rcab"
            groups.append(merge(conv(f"{p}.0", 64, 64, 3), conv(f"{p}.2", 64, 64, 3),
                                conv(f"{p}.3.attention.1", 4, 64, 1), conv(f"{p}.3.attention.3", 64, 4, 1)))
        groups.append(conv(f"body.{g}.conv", 64, 64, 3))
    return merge(conv("conv_first", 64, 3, 3), *groups, conv("conv_after_body", 64, 64, 3),
                 conv("upsample.0", 256, 64, 3), conv("upsample.2", 256, 64, 3), conv("conv_last", 3, 64, 3))


def rrdb(naming: str) -> Manifest:
    def rdb_conv(i: int, k: int, j: int) -> Manifest:
        in_ch = 64 + 32 * (j - 1)
        out_ch = 32 if j < 5 else 64
        name = {"old": f"model.1.sub.{i}.RDB{k}.conv{j}.0", "esrgan": f"RRDB_trunk.{i}.RDB{k}.conv{j}",
                "basicsr": f"body.{i}.rdb{k}.conv{j}"}[naming]
        return conv(name, out_ch, in_ch, 3)

    trunk = [rdb_conv(i, k, j) for i in range(23) for k in (1, 2, 3) for j in range(1, 6)]
    names = {"old": ("model.0", "model.1.sub.23", "model.3", "model.6", "model.8", "model.10"),
             "esrgan": ("conv_first", "trunk_conv", "upconv1", "upconv2", "HRconv", "conv_last"),
             "basicsr": ("conv_first", "conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last")}[naming]
    first, body, up1, up2, hr, last = names
    return merge(conv(first, 64, 3, 3), *trunk, conv(body, 64, 64, 3), conv(up1, 64, 64, 3), conv(up2, 64, 64, 3),
                 conv(hr, 64, 64, 3), conv(last, 3, 64, 3))


def msrresnet(naming: str) -> Manifest:
    trunk, hr = ("recon_trunk", "HRconv") if naming == "mmsr" else ("body", "conv_hr")
    blocks = [merge(conv(f"{trunk}.{i}.conv1", 64, 64, 3), conv(f"{trunk}.{i}.conv2", 64, 64, 3)) for i in range(16)]
    return merge(conv("conv_first", 64, 3, 3), *blocks, conv("upconv1", 256, 64, 3), conv("upconv2", 256, 64, 3),
                 conv(hr, 64, 64, 3), conv("conv_last", 3, 64, 3))


CASES = {
    "imdn/release": ("imdn", imdn_release),
    "rfdn/release": ("rfdn", rfdn_release),
    "carn-m/release": ("carn-m", carn_m_release),
    "edsr/release": ("edsr", edsr_release),
    "edsr/release-baseline": ("edsr", lambda: edsr_release(64, 16)),
    "edsr/basicsr": ("edsr", edsr_basicsr),
    "edsr/basicsr-baseline": ("edsr", lambda: edsr_basicsr(64, 16)),
    "mdsr/release": ("mdsr", mdsr_release),
    "mdsr/release-baseline": ("mdsr", lambda: mdsr_release(16)),
    "rcan/release": ("rcan", rcan_release),
    "rcan/basicsr": ("rcan", rcan_basicsr),
    "esrgan/old": ("esrgan", lambda: rrdb("old")),
    "esrgan/esrgan": ("esrgan", lambda: rrdb("esrgan")),
    "esrgan/basicsr": ("esrgan", lambda: rrdb("basicsr")),
    "rrdb-psnr/esrgan": ("rrdb-psnr", lambda: rrdb("esrgan")),
    "msrresnet/mmsr": ("msrresnet", lambda: msrresnet("mmsr")),
    "msrresnet/basicsr": ("msrresnet", lambda: msrresnet("basicsr")),
    "msrgan/mmsr": ("msrgan", lambda: msrresnet("mmsr")),
}


def fake_state_dict(manifest: Manifest) -> dict[str, torch.Tensor]:
    """Meta tensors of the manifest's shapes; the mean-shift convs get their real values (checked)."""
    out = {k: torch.empty(shape, device="meta") for k, shape in manifest.items()}
    for key in manifest:
        for prefix, sign, rgb_range in (("sub_mean", -1, 255.0), ("add_mean", 1, 255.0)):
            if key.startswith(prefix):
                scale = 1.0 if ".shifter." in key else rgb_range
                out[key] = (torch.eye(3).view(3, 3, 1, 1) if key.endswith("weight")
                            else torch.tensor(DIV2K_RGB_MEAN) * scale * sign)
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_manifest_maps_onto_the_network(case):
    name, manifest_fn = CASES[case]
    method = registry.get(name)
    state_dict = fake_state_dict(manifest_fn())
    if case.startswith("imdn"):  # `module.` is stripped by unwrap before the filter
        from foundation.checkpoints import strip_prefixes
        state_dict = strip_prefixes(state_dict)
    remapped = method.checkpoint_filter(state_dict)
    with torch.device("meta"):
        model = method.build(remapped)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in remapped.items()}
    assert sorted(set(expected) - set(got)) == [], "missing after remap"
    assert sorted(set(got) - set(expected)) == [], "unexpected after remap"
    assert {k: v for k, v in got.items() if expected[k] != v} == {}


@pytest.mark.parametrize("name", ["edsr", "mdsr", "rcan", "esrgan", "msrresnet", "imdn", "rfdn", "carn-m"])
def test_default_build_is_the_published_configuration(name):
    """build() without a state dict = the published model: same keys/shapes as the manifest."""
    manifests = {"edsr": edsr_basicsr, "rcan": rcan_basicsr, "esrgan": lambda: rrdb("basicsr"),
                 "msrresnet": lambda: msrresnet("basicsr"), "imdn": imdn_release, "rfdn": rfdn_release,
                 "carn-m": carn_m_release, "mdsr": mdsr_release}
    method = registry.get(name)
    state_dict = fake_state_dict(manifests[name]())
    from foundation.checkpoints import strip_prefixes
    remapped = method.checkpoint_filter(strip_prefixes(state_dict))
    with torch.device("meta"):
        model = method.build()
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == {k: tuple(v.shape) for k, v in remapped.items()}


@pytest.mark.parametrize("name,filename,manifest_fn", [("imdn", "IMDN_x4.pth", imdn_release),
                                                       ("rfdn", "RFDN_AIM.pth", rfdn_release),
                                                       ("carn-m", "carn_m.pth", carn_m_release)])
def test_manifest_equals_the_real_checkpoint(name, filename, manifest_fn):
    path = shared_path("weights", filename)
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    assert {k: tuple(v.shape) for k, v in state_dict.items()} == manifest_fn()
    method = registry.get(name).load(path, "cpu")
    assert method.weights_path == path
