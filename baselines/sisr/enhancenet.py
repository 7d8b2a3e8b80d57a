"""EnhanceNet-PAT ×4 (Sajjadi, Schölkopf, Hirsch, ICCV 2017): TTSR's "ENet" row, from the authors' release.

Release: https://github.com/msmsajjadi/EnhanceNet-Code at commit a7309caf804ea1b10c1f973a6da9fc68658cbc47
(`enhancenet.py`, `nnlib.py`, the 3,418,142-byte file `weights`; TensorFlow 0.12, `run.sh`). Facts
read from that code:

- Input: RGB (PIL ``convert('RGB')``) / 255, minus `PER_CHANNEL_MEANS` = (0.47614917, 0.45001204,
  0.40904046) in R, G, B order.
- Network (`NN('generator', …)`, every conv `tf.contrib.layers.convolution2d`: 3×3, stride 1, 'SAME',
  bias, no activation, 64 filters unless given): conv, ReLU; 10 residual blocks [conv, ReLU, conv]
  + identity (no activation after the sum, no global skip); twice [nearest-neighbour ×2
  (`tf.image.resize_images(NEAREST_NEIGHBOR)`), conv, ReLU] (upsample first, then conv); conv, ReLU;
  conv to 3 channels. 25 convs, named in creation order ``generator/Conv``, ``generator/Conv_1`` …
  ``generator/Conv_24``, each ``…/weights`` (HWIO) and ``…/biases``.
- Output: network + ``tf.image.resize_images(x - mean, 4×, BICUBIC)`` + mean; saved as
  ``scipy.misc.toimage(255·y, cmin=0, cmax=255)`` (clip to [0, 255], round).
- The bicubic base is TF ≤ 1.13's legacy `resize_bicubic` (align_corners False, no half-pixel
  centres): output pixel j reads source position j/4 (not (j + 0.5)/4 − 0.5 as PyTorch / PIL /
  MATLAB do: a shift of 3/8 LR pixel), Keys cubic a = −0.75, taps clamped at the borders
  (`tf_legacy_bicubic`). The network learned its residual over THAT base, so this module computes
  it exactly, whatever LR↑ the suite's protocol makes; nearest-neighbour ×2 (source floor(j/2))
  equals PyTorch's `nearest`.
- The release makes its own LR with PIL ``resize(ANTIALIAS)`` (``nnlib.loadimg``) and was trained on
  such inputs; under the suite's protocols the LR is the protocol's (PIL bicubic ↓4), as for every
  method. Its weights were trained on MSCOCO images (the paper; the release does not say), not on
  the CUFED training set of TTSR's table.

The weights: the release's `weights` file is a TensorFlow V1 tensor-slice checkpoint (one file);
`foundation.tf_checkpoint` reads it without TensorFlow, `from_release` renames the 50 tensors
(`RELEASE_TABLE`) and turns HWIO kernels into OIHW. A state dict in this module's naming
(.pth / .safetensors, e.g. a re-save) loads through the suite's one reader as well.
"""
from __future__ import annotations

import functools

import re
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from baselines.registry import WeightsSpec, register
from baselines.sisr.common import ResidualBlock, SISRMethod, conv, count_indexed
from foundation.checkpoints import Checkpoint, StateDict, load_into
from foundation.errors import UserError
from foundation.tf_checkpoint import is_tf_v1_checkpoint, read_tf_v1_checkpoint

RELEASE = "https://github.com/msmsajjadi/EnhanceNet-Code"
RELEASE_COMMIT = "a7309caf804ea1b10c1f973a6da9fc68658cbc47"
#: `enhancenet.py`'s PER_CHANNEL_MEANS (R, G, B), on RGB in [0, 1]
PER_CHANNEL_MEANS = (0.47614917, 0.45001204, 0.40904046)
KEYS_A = -0.75  # TF's resize_bicubic cubic coefficient


def _keys_cubic(d: np.ndarray, a: float = KEYS_A) -> np.ndarray:
    """Keys' cubic convolution kernel at distances `d` (float64)."""
    d = np.abs(d)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def tf_legacy_bicubic_matrix(in_size: int, out_size: int) -> torch.Tensor:
    """out_size × in_size float64 matrix M with out = M @ in along one axis: TensorFlow's legacy
    `resize_bicubic(align_corners=False, half_pixel_centers=False)` (TF ≤ 1.13, the release's 0.12).
    Output j reads source s = j·in/out; taps floor(s) − 1 … floor(s) + 2 clamped to [0, in − 1],
    weights Keys(a = −0.75) of the distances. (TF takes the weights from a 1024-entry table: exact
    for ×4, whose fractions are 0, 1/4, 1/2, 3/4.) Built once per size pair (a copy each call)."""
    return torch.from_numpy(_tf_legacy_bicubic_matrix(in_size, out_size)).clone()


@functools.lru_cache(maxsize=64)
def _tf_legacy_bicubic_matrix(in_size: int, out_size: int) -> np.ndarray:
    scale = in_size / out_size
    matrix = np.zeros((out_size, in_size), dtype=np.float64)
    for j in range(out_size):
        source = scale * j
        base = int(np.floor(source))
        for tap in range(base - 1, base + 3):
            matrix[j, min(max(tap, 0), in_size - 1)] += _keys_cubic(np.array(source - tap))
    return matrix


def tf_legacy_bicubic(x: torch.Tensor, scale: int) -> torch.Tensor:
    """N×C×H×W float → N×C×(scale·H)×(scale·W) with `tf_legacy_bicubic_matrix` on both axes (no clamp)."""
    rows = tf_legacy_bicubic_matrix(x.shape[-2], scale * x.shape[-2]).to(x.device, x.dtype)
    cols = tf_legacy_bicubic_matrix(x.shape[-1], scale * x.shape[-1]).to(x.device, x.dtype)
    return torch.einsum("ih,nchw,jw->ncij", rows, x, cols)


class EnhanceNet(nn.Module):
    """The release's generator (module docstring). In/out: N×3×H×W RGB in [0, 1] → N×3×4H×4W float
    (not clamped). `n_feats` 64 and `n_blocks` 10 in the release; smaller ones for tests."""

    def __init__(self, n_feats: int = 64, n_blocks: int = 10, scale: int = 4):
        super().__init__()
        if scale != 4:
            raise ValueError("EnhanceNet-PAT is released for ×4 only")
        self.scale = scale
        self.conv_first = conv(3, n_feats)
        self.body = nn.Sequential(*(ResidualBlock(n_feats) for _ in range(n_blocks)))
        self.conv_up1 = conv(n_feats, n_feats)
        self.conv_up2 = conv(n_feats, n_feats)
        self.conv_hr = conv(n_feats, n_feats)
        self.conv_last = conv(n_feats, 3)
        self.register_buffer("mean", torch.tensor(PER_CHANNEL_MEANS).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x - self.mean
        h = self.body(F.relu(self.conv_first(x)))
        for up in (self.conv_up1, self.conv_up2):
            h = F.relu(up(F.interpolate(h, scale_factor=2, mode="nearest")))
        out = self.conv_last(F.relu(self.conv_hr(h)))
        return out + tf_legacy_bicubic(x, self.scale) + self.mean


def release_names(n_blocks: int = 10) -> list[str]:
    """This module's conv names in the release's creation order: index k is TF's ``Conv_k``
    (``Conv`` for k = 0)."""
    body = [f"body.{i}.conv{j}" for i in range(n_blocks) for j in (1, 2)]
    return ["conv_first", *body, "conv_up1", "conv_up2", "conv_hr", "conv_last"]


#: TF variable → this module's tensor, for the release's 10 blocks (`from_release` uses the
#: same rule for any block count): ``generator/Conv[_k]/weights|biases`` → ``<release_names[k]>.weight|bias``.
RELEASE_TABLE = tuple((f"generator/Conv{'' if k == 0 else f'_{k}'}/{tf}", f"{name}.{pt}")
                      for k, name in enumerate(release_names()) for tf, pt in (("weights", "weight"), ("biases", "bias")))
_RELEASE_KEY = re.compile(r"^generator/Conv(?:_(\d+))?/(weights|biases)$")


def from_release(arrays: StateDict) -> StateDict:
    """The release's tensors ({TF name: tensor}, `read_tf_v1_checkpoint`) → this module's state dict:
    renamed by creation index (`release_names`; the block count from the number of convs, 2·blocks
    + 5) and kernels HWIO → OIHW (``permute(3, 2, 0, 1)``). `ValueError` for a name outside the
    generator's convs or a conv count that is not 2·blocks + 5."""
    indices: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in arrays.items():
        match = _RELEASE_KEY.match(key)
        if not match:
            raise ValueError(f"unexpected tensor {key}")
        indices.setdefault(int(match.group(1) or 0), {})[match.group(2)] = value
    count = len(indices)
    if sorted(indices) != list(range(count)) or count < 5 or (count - 5) % 2:
        raise ValueError(f"{count} convs (generator/Conv … Conv_{count - 1}), expected 2·blocks + 5")
    out: StateDict = {}
    for k, name in enumerate(release_names((count - 5) // 2)):
        kernel = indices[k].get("weights")
        if kernel is None or kernel.ndim != 4 or "biases" not in indices[k]:
            raise ValueError(f"conv {k}: needs a 4-d weights and a biases tensor")
        out[f"{name}.weight"] = torch.as_tensor(kernel).permute(3, 2, 0, 1).contiguous()
        out[f"{name}.bias"] = torch.as_tensor(indices[k]["biases"])
    return out


@register(aliases=("enhancenet", "enhancenet-pat"))
class EnhanceNetMethod(SISRMethod):
    """EnhanceNet-PAT ×4 with the authors' weights (module docstring). RGB [0, 1] in and out."""

    name = "enet"
    description = "EnhanceNet-PAT x4 (Sajjadi et al. ICCV 2017), the authors' TensorFlow weights read directly"
    convention = "RGB [0,1] (minus the release's per-channel means inside the network)"
    input_range = 1.0
    table = ()  # a state dict in this module's naming; the release's file goes through `from_release`
    key_signature = ((r"^generator/Conv_24/weights$",), (r"^conv_up1\.weight$", r"^conv_hr\.weight$",
                                                         r"^body\.0\.conv1\.weight$"))
    weights = WeightsSpec(
        files=("enhancenet_pat_weights", "weights"),
        source=(f"{RELEASE} (the file `weights` at the repository's root, a TensorFlow V1 checkpoint, read "
                "without TensorFlow)"),
        url=f"https://raw.githubusercontent.com/msmsajjadi/EnhanceNet-Code/{RELEASE_COMMIT}/weights",
        sha256="4250b3dc5e69c5bd625e90543fd588ce2fff88510f874f9e9394c48c44b96434",
        formats=("TensorFlow V1 checkpoint (the release's `weights`: generator/Conv[_k]/weights|biases)",
                 "state_dict in this module's naming (.pth / .safetensors)"),
        trained_on="MSCOCO (unconfirmed)",
        note="official EnhanceNet-PAT weights (training set MSCOCO as recalled from the paper, not confirmed from a source here; not the CUFED retraining of TTSR's Table 1)")

    def build(self, state_dict=None) -> nn.Module:
        if state_dict is None:
            return EnhanceNet()
        return EnhanceNet(state_dict["conv_first.weight"].shape[0],
                          count_indexed(state_dict, r"^body\.(\d+)\.conv1\.weight$"))

    def load_checkpoint(self, weights_path, build, remap_with=None) -> nn.Module:
        """The release's TF V1 file (recognised by its table magic) through `read_tf_v1_checkpoint`
        and `from_release`; any other file through the suite's one reader (`Method.load_checkpoint`)."""
        if weights_path is None or not is_tf_v1_checkpoint(weights_path):
            return super().load_checkpoint(weights_path, build, remap_with)
        raw = {name: torch.from_numpy(array) for name, array in read_tf_v1_checkpoint(weights_path).items()}
        try:
            state_dict = from_release(raw)
            model = build(state_dict)
        except (KeyError, ValueError) as err:
            raise UserError(f"{weights_path}: not the EnhanceNet-PAT release's checkpoint ({err}){self.weights_hint}") from None
        return load_into(model, state_dict, Checkpoint(Path(weights_path), raw), what=self.name, hint=self.weights_hint)
