"""Super-resolve one LR image ×4 with a reference: the release's test mode as a command.

    python -m ttsr.sr --lr LR.png --ref REF.png --weights TTSR.pt --out SR.png \\
        [--hr HR.png] [--device auto|cpu|cuda|cuda:N] [--max-memory 4G] [--max-pixels 16M]

As the release (`trainer.test`): LR↑ = PIL bicubic ×4 of the LR; the reference is cropped
top-left to a multiple of 4 and Ref↓↑ = PIL bicubic ÷4 then ×4; all mapped to [-1, 1]; the SR is
mapped back with (x+1)·127.5 and rounded. ``--hr`` prints PSNR/SSIM on Y, the release's metric
convention (no border crop); the HR must be 4× the LR (each side 4·lr … 4·lr + 3, cropped
top-left). ``--max-memory`` bounds the texture search's working memory (default: half the free
GPU memory, 128 MiB on CPU; a bare number is MiB; at least 16 MiB: `foundation.budget`); it never
changes the result. ``--max-pixels`` refuses larger images before decoding them (default
``$TTSR_BENCH_MAX_PIXELS`` or 4096×4096: `foundation.imageio`).
"""
from __future__ import annotations

import sys
import time

import numpy as np
import torch

from foundation.budget import parse_memory
from ttsr.checkpoint import load_ttsr
from foundation.devices import DEVICE_HELP, device_arg, resolve_device
from foundation.errors import UserError, cli_main
from foundation.fileio import check_output_file
from foundation.imageio import parse_pixel_count, read_image, write_image
from foundation.provenance import is_random_label
from foundation.tensors import image_to_tensor, tensor_to_image
from foundation.resize import check_lr_hr, crop_to_multiple, reference_pair, upscale
from foundation import settings
from foundation.cli_types import OneLineParser

SCALE = 4
MIN_LR_SIDE = 3


def prepare_inputs(lr_path, ref_path, max_pixels: int | None = None) -> dict[str, np.ndarray]:
    """Read and check the pair; LR↑, Ref (cropped to ×4), Ref↓↑ as the release's test mode."""
    lr = read_image(lr_path, max_pixels)
    if min(lr.shape[:2]) < MIN_LR_SIDE:
        raise UserError(f"{lr_path}: LR image is {lr.shape[1]}×{lr.shape[0]}, smaller than "
                        f"{MIN_LR_SIDE}×{MIN_LR_SIDE}; the texture search uses 3×3 patches")
    ref = crop_to_multiple(read_image(ref_path, max_pixels), SCALE)
    if min(ref.shape[:2]) < SCALE:
        raise UserError(f"{ref_path}: reference is under {SCALE}×{SCALE} after cropping to a multiple "
                        f"of {SCALE} ({ref.shape[1]}×{ref.shape[0]}); use a larger reference")
    ref, ref_down_up = reference_pair(ref, SCALE)
    return {"lr": lr, "lrsr": upscale(lr, SCALE), "ref": ref, "refsr": ref_down_up}


def random_label(model) -> str:
    """' [RANDOM WEIGHTS: ...]' when the checkpoint says it is random, test-made or trained with a
    random VGG/LTE initialisation (`foundation.provenance.is_random_label`), else ''."""
    meta = {str(k): str(v) for k, v in (getattr(model, "checkpoint_metadata", None) or {}).items()}
    return " [RANDOM WEIGHTS: not a measurement of TTSR]" if is_random_label(meta) else ""


def report_metrics(sr: np.ndarray, hr: np.ndarray, label: str = "") -> None:
    try:  # a CLI leaf may use the evaluation layer (docs/interfaces.md)
        from metrics import psnr, ssim
    except ImportError as err:
        print(f"PSNR/SSIM unavailable: metrics could not be imported ({err})", file=sys.stderr)
        return
    hr = crop_to_multiple(hr, SCALE)  # the protocol's crop; sizes checked by check_lr_hr
    print(f"PSNR {psnr(sr, hr):.3f} dB  SSIM {ssim(sr, hr):.4f}  (Y channel, no border crop, as the TTSR "
          f"release){label}")


@cli_main
def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m ttsr.sr", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lr", required=True, help="low-resolution input image")
    parser.add_argument("--ref", required=True, help="reference image (any size ≥ 4×4)")
    parser.add_argument("--weights", required=True, help="TTSR checkpoint (.pt, .pth or .safetensors)")
    parser.add_argument("--out", required=True, help="where to write the ×4 SR image")
    parser.add_argument("--hr", help="ground truth: print PSNR/SSIM of the SR against it")
    parser.add_argument("--device", type=device_arg, default=None,
                        help=f"{DEVICE_HELP}; when not given, the settings file's device")
    parser.add_argument("--max-memory", metavar="SIZE",
                        help="working-memory bound of the texture search, e.g. 4G or 512M; a bare number is "
                             "MiB; at least 16M (default: half the free GPU memory, 128M on CPU)")
    parser.add_argument("--max-pixels", metavar="N",
                        help="refuse images over N pixels, e.g. 16000000, 16M or 4096x4096 (default: "
                             "$TTSR_BENCH_MAX_PIXELS, else 4096x4096)")
    parser.add_argument("--settings", metavar="FILE", help="settings file: device, max_memory (default: "
                        f"${settings.ENV['settings']}, else ./{settings.DEFAULT_FILE} when present; foundation.settings)")
    args = parser.parse_args(argv)
    check_output_file(args.out, "--out")  # before 20 s of compute, not after
    found = settings.resolve(args.settings, data=False)
    device_from = found.origin("device", args.device, "--device")
    args.device = found.get("device", args.device) or "auto"
    max_memory = found.get("max_memory", args.max_memory)
    what = "--max-memory" if args.max_memory is not None else f"{found.file}: max_memory"
    max_memory = parse_memory(max_memory, what) if max_memory is not None else None
    max_pixels = parse_pixel_count(args.max_pixels) if args.max_pixels is not None else None
    device = resolve_device(args.device, device_from)
    if device.type == "cuda":  # full float32 convolutions, as the release computed them (no TF32)
        torch.backends.cudnn.allow_tf32 = False
    inputs = prepare_inputs(args.lr, args.ref, max_pixels)
    hr = None
    if args.hr:  # a bad HR fails before the network runs
        hr = read_image(args.hr, max_pixels)
        check_lr_hr(inputs["lr"].shape, hr.shape, SCALE, lr_name=args.lr, hr_name=args.hr)
    model = load_ttsr(args.weights, device=device)
    model.set_max_memory(max_memory)

    start = time.perf_counter()
    try:
        with torch.no_grad():
            out = model(**{k: image_to_tensor(v, device, signed=True) for k, v in inputs.items()})
    except torch.OutOfMemoryError as err:
        raise UserError(f"out of memory on {device} for a {inputs['ref'].shape[1]}×{inputs['ref'].shape[0]} "
                        "reference; lower --max-memory, use a smaller reference or --device cpu") from err
    seconds = time.perf_counter() - start
    sr = tensor_to_image(out.sr, signed=True)
    try:
        write_image(args.out, sr)
    except OSError as err:
        raise UserError(f"{args.out}: cannot write the SR image ({err})") from err
    lr = inputs["lr"]
    label = random_label(model)
    print(f"{args.out}: {sr.shape[1]}×{sr.shape[0]} from {lr.shape[1]}×{lr.shape[0]} LR "
          f"in {seconds:.2f} s on {device}{label}")
    if hr is not None:
        report_metrics(sr, hr, label)
    return 0


if __name__ == "__main__":
    sys.exit(main())
