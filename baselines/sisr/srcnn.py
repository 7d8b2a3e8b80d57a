"""SRCNN ×4, the 9-5-5 (ImageNet) model (Dong et al., "Image Super-Resolution Using Deep
Convolutional Networks", TPAMI 2016 / ECCV 2014), from the official MATLAB release SRCNN_v1
(http://mmlab.ie.cuhk.edu.hk/projects/SRCNN/SRCNN_v1.zip: `model/9-5-5(ImageNet)/x4.mat`, run by
its `SRCNN.m`; facts in shared/reference/baselines.md §2.6).

Network, on one channel (Y / 255, in [0, 1]): conv k1×k1 1→64 + ReLU, conv k2×k2 64→32 + ReLU,
conv k3×k3 32→1 (9-5-5: k = 9, 5, 5; the 9-1-5 and 9-3-5 models load too). `SRCNN.m` filters
each channel with MATLAB `imfilter(x, w, 'same', 'replicate')`: correlation (no kernel flip,
like `conv2d`) over a border replicated by k // 2 pixels, layer by layer (`padding_mode="replicate"`).

The `.mat` (read with scipy.io.loadmat; MATLAB v5/v7, not v7.3) → this module's keys (`MAT_TABLE`):

| .mat variable | shape | conv | PyTorch weight [out, in, k, k] |
|---|---|---|---|
| `weights_conv1` | [k1², 64] | `conv1` | `weights_conv1[:, o]` as k1×k1 |
| `biases_conv1` | [64, 1] | `conv1.bias` | flattened |
| `weights_conv2` | [64, k2², 32] | `conv2` | `weights_conv2[i, :, o]` as k2×k2 |
| `biases_conv2` | [32, 1] | `conv2.bias` | flattened |
| `weights_conv3` | [32, k3²] | `conv3` | `weights_conv3[i, :]` as k3×k3 |
| `biases_conv3` | scalar | `conv3.bias` | [1] |

"as k×k": MATLAB's `reshape(v, k, k)` fills column by column (M(r, c) = v[r + c·k]), so the
kernel is NumPy's row-major `v.reshape(k, k)` transposed (row r of the kernel = vertical offset).

RGB rule (the network sees luminance only, as in `SRCNN.m` and the paper): U = the LR enlarged ×4
with the suite's PIL bicubic (`foundation.resize.upscale`, the TTSR protocol's LR↑; the release
uses MATLAB's `imresize`, which differs, so this is the paper's model under the suite's
protocol); (Y, Cb, Cr) = BT.601 of U (not rounded; Y with the suite's coefficients,
`metrics.release_psnr_ssim.Y_COEFFS`, Cb/Cr the same standard's rows `CBCR_ROWS`); Y' = 255 ·
SRCNN(Y / 255); SR = the inverse of that 3×3 transform applied to (Y', Cb, Cr), clipped to
[0, 255]. So an SRCNN that returned its input would give back U.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from baselines.registry import WeightsSpec, register
from baselines.sisr.common import SISRMethod
from foundation.checkpoints import Checkpoint, StateDict, load_into
from foundation.errors import UserError
from foundation.safeload import load_mat_file
from foundation.resize import upscale
from metrics.release_psnr_ssim import Y_COEFFS, Y_OFFSET

RELEASE_URL = "http://mmlab.ie.cuhk.edu.hk/projects/SRCNN/SRCNN_v1.zip"
#: BT.601 8-bit Cb and Cr rows (per [0, 255] RGB unit) and their offset, the companions of the
#: suite's Y row (ITU-R BT.601 as MATLAB's rgb2ycbcr / the TTSR release use it: /256 scaling).
CBCR_ROWS = ((-37.945 / 256.0, -74.494 / 256.0, 112.439 / 256.0), (112.439 / 256.0, -94.154 / 256.0, -18.285 / 256.0))
CBCR_OFFSET = 128.0
RGB_TO_YCBCR = np.array([Y_COEFFS, *CBCR_ROWS], dtype=np.float64)  # rows Y, Cb, Cr
YCBCR_OFFSET = np.array([Y_OFFSET, CBCR_OFFSET, CBCR_OFFSET], dtype=np.float64)
YCBCR_TO_RGB = np.linalg.inv(RGB_TO_YCBCR)
MAT_VARIABLES = ("weights_conv1", "biases_conv1", "weights_conv2", "biases_conv2", "weights_conv3", "biases_conv3")


class SRCNN(nn.Module):
    """Three convs on a 1×1×H×W tensor, replicate padding; (k1, k2, k3) kernel sizes."""

    def __init__(self, kernels: tuple[int, int, int] = (9, 5, 5), widths: tuple[int, int] = (64, 32)):
        super().__init__()
        (k1, k2, k3), (n1, n2) = kernels, widths
        self.conv1 = nn.Conv2d(1, n1, k1, padding=k1 // 2, padding_mode="replicate")
        self.conv2 = nn.Conv2d(n1, n2, k2, padding=k2 // 2, padding_mode="replicate")
        self.conv3 = nn.Conv2d(n2, 1, k3, padding=k3 // 2, padding_mode="replicate")

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.conv3(F.relu(self.conv2(F.relu(self.conv1(y)))))


class SRCNNOnRGB(SRCNN):
    """SRCNN as training calls it (`SISRMethod.build_for_training`): the ×4 bicubic LR↑, N×3×H×W RGB
    float in [0, 255], → SR RGB in [0, 255] by the same rule as `SRCNNMethod.forward` (the network on
    Y/255, Cb and Cr of the input kept), differentiable. Same parameters and keys as `SRCNN`."""

    def forward(self, lr_up: torch.Tensor) -> torch.Tensor:
        return through_y(super().forward, lr_up)


def through_y(net, rgb_up: torch.Tensor) -> torch.Tensor:
    """The RGB rule (module docstring): `rgb_up` N×3×H×W RGB in [0, 255] (float32 or float64) → RGB,
    `net` (1 channel, float32) on Y/255, Cb and Cr of `rgb_up` kept; in `rgb_up`'s dtype, not clipped."""
    ycbcr = rgb_to_ycbcr(rgb_up)
    y = net(ycbcr[:, :1].float() / 255.0).to(ycbcr.dtype) * 255.0
    return ycbcr_to_rgb(torch.cat((y, ycbcr[:, 1:]), 1))


def _square(path: Path, name: str, n: int) -> int:
    k = int(round(n ** 0.5))
    if k * k != n or k % 2 == 0:
        raise UserError(f"{path}: {name} has {n} taps per filter, not an odd k×k; not an SRCNN release model")
    return k


def _kernel(v: np.ndarray, k: int) -> np.ndarray:
    """A MATLAB k²-vector as the k×k kernel `reshape(v, k, k)` gives (column-major)."""
    return np.asarray(v, np.float32).reshape(k, k).T


def state_dict_from_mat(path: str | Path) -> StateDict:
    """The SRCNN release's `x4.mat` → this module's state dict (`MAT_TABLE` in the module docstring).
    `UserError` (one line, naming the file) for an unreadable file, a missing variable or a shape
    that is not the release's layout."""
    path = Path(path)
    data = load_mat_file(path, "MATLAB .mat file", "re-download SRCNN_v1.zip and use model/9-5-5(ImageNet)/x4.mat")
    missing = [v for v in MAT_VARIABLES if v not in data]
    if missing:
        raise UserError(f"{path}: no {', '.join(missing)}; expected an SRCNN release model (x4.mat of "
                        "model/9-5-5(ImageNet)/ in SRCNN_v1.zip)")
    w1, w2, w3 = (np.asarray(data[f"weights_conv{i}"], np.float32) for i in (1, 2, 3))
    b1, b2, b3 = (np.asarray(data[f"biases_conv{i}"], np.float32).reshape(-1) for i in (1, 2, 3))
    if w1.ndim != 2 or w2.ndim != 3 or w3.ndim != 2 or w2.shape[0] != w1.shape[1] or w3.shape[0] != w2.shape[2] \
            or (b1.size, b2.size, b3.size) != (w1.shape[1], w2.shape[2], 1):
        raise UserError(f"{path}: weights {w1.shape}, {w2.shape}, {w3.shape} and biases {b1.size}, {b2.size}, "
                        f"{b3.size} are not the SRCNN layout ([k1², n1], [n1, k2², n2], [n2, k3²], n1, n2, 1)")
    k1, k2, k3 = _square(path, "weights_conv1", w1.shape[0]), _square(path, "weights_conv2", w2.shape[1]), \
        _square(path, "weights_conv3", w3.shape[1])
    conv1 = np.stack([_kernel(w1[:, o], k1) for o in range(w1.shape[1])])[:, None]
    conv2 = np.stack([np.stack([_kernel(w2[i, :, o], k2) for i in range(w2.shape[0])]) for o in range(w2.shape[2])])
    conv3 = np.stack([_kernel(w3[i, :], k3) for i in range(w3.shape[0])])[None]
    arrays = {"conv1.weight": conv1, "conv1.bias": b1, "conv2.weight": conv2, "conv2.bias": b2,
              "conv3.weight": conv3, "conv3.bias": b3}
    return {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in arrays.items()}


def build_srcnn(state_dict: Mapping[str, torch.Tensor] | None = None) -> SRCNN:
    if state_dict is None:
        return SRCNN()
    shapes = [state_dict[f"conv{i}.weight"].shape for i in (1, 2, 3)]
    return SRCNN(tuple(int(s[-1]) for s in shapes), (int(shapes[0][0]), int(shapes[1][0])))


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """N×3×H×W RGB in [0, 255] → (Y, Cb, Cr) by `RGB_TO_YCBCR` (float64 matrix, not rounded)."""
    matrix = torch.as_tensor(RGB_TO_YCBCR, dtype=rgb.dtype, device=rgb.device)
    offset = torch.as_tensor(YCBCR_OFFSET, dtype=rgb.dtype, device=rgb.device)
    return torch.einsum("ij,njhw->nihw", matrix, rgb) + offset.view(1, 3, 1, 1)


def ycbcr_to_rgb(ycbcr: torch.Tensor) -> torch.Tensor:
    """The exact inverse of `rgb_to_ycbcr` (not clipped)."""
    matrix = torch.as_tensor(YCBCR_TO_RGB, dtype=ycbcr.dtype, device=ycbcr.device)
    offset = torch.as_tensor(YCBCR_OFFSET, dtype=ycbcr.dtype, device=ycbcr.device)
    return torch.einsum("ij,njhw->nihw", matrix, ycbcr - offset.view(1, 3, 1, 1))


def bicubic_upscale(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """N×3×h×w float [0, 255] (rounded to uint8 first) → N×3×(s·h)×(s·w) float, PIL bicubic."""
    images = lr.detach().round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    up = np.stack([upscale(image, scale) for image in images])
    return torch.from_numpy(up).permute(0, 3, 1, 2).float()


@register
class SRCNNMethod(SISRMethod):
    name = "srcnn"
    description = "SRCNN x4 (Dong et al., 9-5-5 ImageNet model), official MATLAB weights"
    convention = ("Y of BT.601 on the x4 PIL-bicubic LR (Y/255 in [0,1]); Cb, Cr from that bicubic; "
                  "replicate padding")
    input_range = 255.0
    weights = WeightsSpec(
        files=("x4.mat", "srcnn_9-5-5_x4.mat"), trained_on="ImageNet",
        source=f"{RELEASE_URL} (official, Dong et al.): unzip it and use model/9-5-5(ImageNet)/x4.mat",
        formats=("SRCNN release MATLAB .mat (weights_conv1..3, biases_conv1..3; read with scipy.io.loadmat)",
                 "state_dict (conv1, conv2, conv3)"),
        note="the 9-5-5 model trained on ImageNet (x4.mat, or renamed srcnn_9-5-5_x4.mat)",
    )

    def build(self, state_dict=None) -> nn.Module:
        return build_srcnn(state_dict)

    def build_for_training(self) -> nn.Module:
        """`SRCNNOnRGB`: trained on the bicubic LR↑ (recipe input `lr_up`), its loss on Y (the paper)."""
        return SRCNNOnRGB()

    def load_checkpoint(self, weights_path, build, remap_with=None) -> nn.Module:
        """The release's `.mat` (by suffix), else a PyTorch state dict with this module's keys."""
        if weights_path is None or Path(weights_path).suffix.lower() != ".mat":
            return super().load_checkpoint(weights_path, build, remap_with)
        path = Path(weights_path)
        if not path.is_file():
            raise UserError(f"{path}: file not found; get {self.weights.source}")
        state = state_dict_from_mat(path)
        return load_into(build_srcnn(state), state, Checkpoint(path, state), what=self.name, hint=self.weights_hint)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """LR N×3×h×w float [0, 255] → SR N×3×4h×4w float [0, 255] by the RGB rule above
        (`input_range` 255: `SISRMethod.__call__` passes batch["lr"] as it is and clips the result)."""
        assert self.model is not None
        return through_y(self.model, bicubic_upscale(x, self.scale).to(self.device, torch.float64)).float()
