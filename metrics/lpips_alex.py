"""LPIPS (Zhang et al., CVPR 2018), AlexNet trunk, v0.1 — through the `lpips` package, never downloading.

Convention: RGB, each image mapped from [0, 255] to [-1, 1] (x/127.5 − 1), the whole image (no
resizing), lower is better. Inputs of `lpips_torch` as every measure of `metrics`
(`metrics.inputs`: uint8, or [0, data_range] with `data_range` given; `ValueError` otherwise) —
pass [-1, 1] tensors as `(x + 1) / 2` with `data_range=1.0`. The linear calibration layers
(`weights/v0.1/alex.pth`) ship inside the `lpips` package. The AlexNet trunk is torchvision's ImageNet AlexNet, read from the hub cache
(`$TORCH_HOME/hub/checkpoints/alexnet-owt-7be5be79.pth`, via `foundation.pretrained`).

`lpips.LPIPS(pretrained=True)` would ask torchvision for pretrained weights and so download them
when absent. Here the module is built with a random trunk (`pnet_rand=True`, nothing fetched) and
no calibration, then both parts are loaded from files with every key checked. When the AlexNet
file is absent LPIPS is unavailable with one line saying where to put it — never computed on a
random trunk.

The module is named `lpips_alex`, not `lpips`, so that it never stands in for the `lpips` package.
Registers the `lpips` spec (`metrics.spec.REGISTRY`).
"""
from __future__ import annotations

import contextlib
import io
import math
import warnings
from pathlib import Path

import torch

from foundation.errors import UserError
from foundation.pretrained import find_backbone, load_backbone_state_dict, missing_backbone_message
from metrics.inputs import check_equal_pair
from metrics.spec import REGISTRY, MetricSpec

PURPOSE = "the LPIPS metric (AlexNet, v0.1)"
_MODELS: dict[tuple[str, str], torch.nn.Module] = {}


def calibration_path() -> Path:
    """The linear-layer weights shipped inside the `lpips` package (v0.1, AlexNet)."""
    import lpips  # noqa: PLC0415 - optional heavy import
    return Path(lpips.__file__).resolve().parent / "weights" / "v0.1" / "alex.pth"


def availability() -> tuple[bool, str]:
    """(True, "") when the AlexNet trunk is in the hub cache and the package weights are present."""
    try:
        path = calibration_path()
    except ImportError:
        return False, "LPIPS needs the `lpips` package: pip install lpips"
    if not path.is_file():
        return False, f"{path} (LPIPS v0.1 calibration, part of the lpips package) is missing; reinstall lpips"
    if find_backbone("alexnet") is None:
        return False, missing_backbone_message("alexnet", PURPOSE)
    return True, ""


def build(device: str | torch.device = "cpu") -> torch.nn.Module:
    """An `lpips.LPIPS` module with the cached AlexNet trunk and the package's v0.1 calibration."""
    import lpips  # noqa: PLC0415

    # lpips prints its set-up, torchvision warns about `pretrained=False`; neither concerns the user.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(pretrained=False, net="alex", version="0.1", pnet_rand=True, verbose=False)
    trunk = load_backbone_state_dict("alexnet", PURPOSE)
    # The package splits torchvision's `features` into slices: net.slice{s}.{i}.* ← features.{i}.*
    wanted = {key: "features." + key.split(".", 1)[1] for key in model.net.state_dict()}
    missing = [source for source in wanted.values() if source not in trunk]
    if missing:
        raise UserError(f"{find_backbone('alexnet')}: not a torchvision AlexNet state dict (lacks "
                        f"{', '.join(missing[:3])}); delete it and fetch it again")
    try:
        model.net.load_state_dict({key: trunk[source] for key, source in wanted.items()}, strict=True)
    except RuntimeError as err:
        raise UserError(f"{find_backbone('alexnet')}: AlexNet weights of the wrong shape ({err}); "
                        "delete the file and fetch it again") from err
    calibration = torch.load(calibration_path(), map_location="cpu", weights_only=True)
    for index in range(5):
        layer = getattr(model, f"lin{index}")
        layer.load_state_dict({"model.1.weight": calibration[f"lin{index}.model.1.weight"]}, strict=True)
    return model.eval().to(device)


def get_model(device: str | torch.device = "cpu") -> torch.nn.Module:
    """`build(device)`, cached per backbone file and device (the file can move with TORCH_HOME)."""
    ok, reason = availability()
    if not ok:
        raise UserError(reason)
    key = (str(find_backbone("alexnet")), str(torch.device(device)))
    if key not in _MODELS:
        _MODELS[key] = build(device)
    return _MODELS[key]


MIN_SIZE = 31   # AlexNet's five stages need at least this many pixels per side


def lpips_torch(sr: torch.Tensor, hr: torch.Tensor, *, data_range: float | None = None) -> torch.Tensor:
    """LPIPS per image (float32 tensor of N, lower is better) of two N×3×H×W RGB batches.

    Inputs: torch.uint8 in [0, 255], or values in [0, data_range] with `data_range` given; SR and
    HR of the same size, short side ≥ 31 px. Anything else raises `ValueError`
    (`metrics.inputs.check_equal_pair`); a missing AlexNet file raises `UserError`.
    """
    sr, hr = check_equal_pair("lpips", sr, hr, data_range, MIN_SIZE)
    return _lpips(sr, hr)


def _lpips(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """LPIPS of checked float64 [0, 255] batches (the registry's measure)."""
    model = get_model(sr.device)
    with torch.no_grad():
        a = sr.to(torch.float32) / 127.5 - 1.0
        b = hr.to(torch.float32) / 127.5 - 1.0
        return model(a, b).flatten()


SPEC = REGISTRY.register(MetricSpec(
    name="lpips", higher_is_better=False, value_range=(0.0, math.inf),
    convention="RGB scaled to [-1, 1], whole image (common region, protocol border crop), "
               "AlexNet trunk, v0.1 linear layers",
    source="Zhang et al. CVPR 2018; `lpips` package (AlexNet, v0.1)",
    needs_weights="torchvision alexnet-owt-7be5be79.pth in $TORCH_HOME/hub/checkpoints "
                  "(the linear layers ship in the lpips package)",
    measure=_lpips, check=availability, min_size=MIN_SIZE))
