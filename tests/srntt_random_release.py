"""Release-format files filled with random values: the documented array order and shapes.

No official SRNTT weights can be fetched in tests, so the converters are proven on `.npz` and
`.mat` files written here with the layout of the release (baselines.md §1.2–1.3). Anything
converted from them is random and must be labelled so (the converter records it).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.io import savemat
from torch import nn

from baselines.srntt.convert import release_order
from baselines.srntt.network import SRNTT
from baselines.srntt.vgg import CONV_NAMES, MatConvNetVGG19
from foundation.fileio import atomic_open


def random_release_arrays(module: nn.Module, seed: int) -> list[np.ndarray]:
    """One array per release slot of `module`: small normal weights, positive BN variances."""
    rng = np.random.default_rng(seed)
    arrays = []
    for slot in release_order(module):
        if slot.target.endswith("running_var"):
            arrays.append(rng.uniform(0.5, 1.5, slot.tf_shape).astype(np.float32))
        else:
            arrays.append((rng.standard_normal(slot.tf_shape) * 0.05).astype(np.float32))
    return arrays


RANDOM_ORIGIN = "random values in the release layout (test-made, not the official SRNTT weights)"


def save_npz_params(path: Path, arrays: list, origin: str | None = RANDOM_ORIGIN) -> Path:
    """Write a TensorLayer `save_npz`-style file: key `params`, an object array of arrays.

    `origin` (a note the release files do not have) travels into the converted file's metadata,
    so anything made from these arrays is labelled random.
    """
    params = np.empty(len(arrays), dtype=object)
    params[:] = arrays
    extra = {} if origin is None else {"origin": np.array(origin)}
    with atomic_open(path) as handle:
        np.savez(handle, params=params, **extra)
    return path


def save_matconvnet_vgg19(path: Path, seed: int = 0, drop: str | None = None) -> Path:
    """A MatConvNet-style `layers` cell array of conv/relu structs, kernels [w, h, in, out]."""
    rng = np.random.default_rng(seed)
    vgg = MatConvNetVGG19()
    layers = []
    for name in CONV_NAMES:
        if name == drop:
            continue
        out_ch, in_ch, kh, kw = vgg.convs[name].weight.shape
        weights = np.empty(2, dtype=object)
        weights[0] = (rng.standard_normal((kw, kh, in_ch, out_ch)) * np.sqrt(2.0 / (9 * in_ch))).astype(np.float32)
        weights[1] = np.zeros((1, out_ch), dtype=np.float32)
        layers.append({"name": name, "type": "conv", "weights": weights})
        layers.append({"name": "relu" + name[4:], "type": "relu", "weights": np.empty(0, dtype=object)})
    cells = np.empty((1, len(layers)), dtype=object)
    for i, layer in enumerate(layers):
        cells[0, i] = layer
    with atomic_open(path) as handle:
        savemat(handle, {"layers": cells})
    return path


def write_random_release(folder: Path, seed: int = 0) -> tuple[Path, Path, Path]:
    """(upscale.npz, srntt.npz, imagenet-vgg-verydeep-19.mat) of random values in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    network = SRNTT()
    upscale = save_npz_params(folder / "upscale.npz", random_release_arrays(network.content_extractor, seed + 1))
    texture = save_npz_params(folder / "srntt.npz", random_release_arrays(network.texture_transfer, seed + 2))
    vgg = save_matconvnet_vgg19(folder / "imagenet-vgg-verydeep-19.mat", seed)
    return upscale, texture, vgg
