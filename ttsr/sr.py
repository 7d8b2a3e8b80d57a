"""Super-resolve one LR image ×4 with a reference: the release's test mode as a command.

    python -m ttsr.sr --lr LR.png --ref REF.png --weights TTSR.pt --out SR.png \\
        [--hr HR.png] [--device auto|cpu|cuda] [--max-memory 4GB]

As the release (`trainer.test`): LR↑ = PIL bicubic ×4 of the LR; the reference is cropped
top-left to a multiple of 4 and Ref↓↑ = PIL bicubic ÷4 then ×4; all mapped to [-1, 1]; the SR is
mapped back with (x+1)·127.5 and rounded. ``--hr`` prints PSNR/SSIM on Y, the release's metric
convention (no border crop; top-left common region when the sizes differ). ``--max-memory``
bounds the texture search's working memory (default: half the free GPU memory, 128 MiB on CPU).
"""
from __future__ import annotations

import argparse
import re
import sys
import time

import numpy as np
import torch

from ttsr.checkpoint import load_ttsr
from ttsr.errors import UserError, cli_main
from ttsr.fileio import check_output_file
from ttsr.imageio import read_image, write_image
from ttsr.resize import crop_to_multiple, reference_pair, upscale

SCALE = 4
MIN_LR_SIDE = 3

_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "KIB": 1024, "M": 1024**2, "MB": 1024**2,
          "MIB": 1024**2, "G": 1024**3, "GB": 1024**3, "GIB": 1024**3}


def parse_size(text: str) -> int:
    """'4GB', '512MiB', '1.5G', '1000000' → bytes (binary units)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    if not match or match.group(2).upper() not in _UNITS:
        raise UserError(f"--max-memory {text!r}: expected a size such as 4GB, 512MB or 1000000 (bytes)")
    value = int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    if value <= 0:
        raise UserError(f"--max-memory {text!r}: must be more than zero")
    return value


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available here; use --device cpu or auto")
    device = torch.device(name)
    if device.type == "cuda":  # full float32 convolutions, as the release computed them (no TF32)
        torch.backends.cudnn.allow_tf32 = False
    return device


def to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 H×W×3 → 1×3×H×W float32 in [-1, 1] (the release's x / 127.5 - 1)."""
    array = image.astype(np.float32) / 127.5 - 1.0
    return torch.from_numpy(array.transpose(2, 0, 1).copy()).unsqueeze(0).to(device)


def to_image(sr: torch.Tensor) -> np.ndarray:
    """1×3×H×W in [-1, 1] → uint8 H×W×3, rounded as the release saves it."""
    array = ((sr[0].detach().float().cpu() + 1.0) * 127.5).round().clamp(0, 255)
    return array.numpy().transpose(1, 2, 0).astype(np.uint8)


def prepare_inputs(lr_path, ref_path) -> dict[str, np.ndarray]:
    """Read and check the pair; LR↑, Ref (cropped to ×4), Ref↓↑ as the release's test mode."""
    lr = read_image(lr_path)
    if min(lr.shape[:2]) < MIN_LR_SIDE:
        raise UserError(f"{lr_path}: LR image is {lr.shape[1]}×{lr.shape[0]}, smaller than "
                        f"{MIN_LR_SIDE}×{MIN_LR_SIDE}; the texture search uses 3×3 patches")
    ref = crop_to_multiple(read_image(ref_path), SCALE)
    if min(ref.shape[:2]) < SCALE:
        raise UserError(f"{ref_path}: reference is under {SCALE}×{SCALE} after cropping to a multiple "
                        f"of {SCALE} ({ref.shape[1]}×{ref.shape[0]}); use a larger reference")
    ref, ref_down_up = reference_pair(ref, SCALE)
    return {"lr": lr, "lrsr": upscale(lr, SCALE), "ref": ref, "refsr": ref_down_up}


def report_metrics(sr: np.ndarray, hr: np.ndarray) -> None:
    try:  # a CLI leaf may use the evaluation layer (docs/interfaces.md)
        from benchmarks.metrics import psnr, ssim
    except ImportError as err:
        print(f"PSNR/SSIM unavailable: benchmarks.metrics could not be imported ({err})", file=sys.stderr)
        return
    if sr.shape != hr.shape:
        print(f"note: HR is {hr.shape[1]}×{hr.shape[0]}, SR is {sr.shape[1]}×{sr.shape[0]}; "
              "comparing the top-left common region", file=sys.stderr)
    print(f"PSNR {psnr(sr, hr):.3f} dB  SSIM {ssim(sr, hr):.4f}  (Y channel, no border crop, as the TTSR release)")


@cli_main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ttsr.sr", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lr", required=True, help="low-resolution input image")
    parser.add_argument("--ref", required=True, help="reference image (any size ≥ 4×4)")
    parser.add_argument("--weights", required=True, help="TTSR checkpoint (.pt, .pth or .safetensors)")
    parser.add_argument("--out", required=True, help="where to write the ×4 SR image")
    parser.add_argument("--hr", help="ground truth: print PSNR/SSIM of the SR against it")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--max-memory", help="working-memory bound of the texture search, e.g. 4GB")
    args = parser.parse_args(argv)
    check_output_file(args.out, "--out")  # before 20 s of compute, not after

    budget = parse_size(args.max_memory) if args.max_memory else None
    device = pick_device(args.device)
    inputs = prepare_inputs(args.lr, args.ref)
    hr = read_image(args.hr) if args.hr else None  # a bad HR fails before the network runs
    model = load_ttsr(args.weights, device=device)
    model.set_memory_budget(budget)

    start = time.perf_counter()
    try:
        with torch.no_grad():
            out = model(**{k: to_tensor(v, device) for k, v in inputs.items()})
    except torch.OutOfMemoryError as err:
        raise UserError(f"out of memory on {device} for a {inputs['ref'].shape[1]}×{inputs['ref'].shape[0]} "
                        "reference; lower --max-memory, use a smaller reference or --device cpu") from err
    seconds = time.perf_counter() - start
    sr = to_image(out.sr)
    try:
        write_image(args.out, sr)
    except OSError as err:
        raise UserError(f"{args.out}: cannot write the SR image ({err})") from err
    lr = inputs["lr"]
    print(f"{args.out}: {sr.shape[1]}×{sr.shape[0]} from {lr.shape[1]}×{lr.shape[0]} LR "
          f"in {seconds:.2f} s on {device}")
    if hr is not None:
        report_metrics(sr, hr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
