"""Super-resolve LR images ×4 with references: the release's test mode as a command.

    python -m ttsr.sr --lr LR.png --ref REF.png --weights TTSR.pt --out SR.png \\
        [--hr HR.png] [--device auto|cpu|cuda|cuda:N] [--max-memory 4G] [--max-pixels 16M]
    python -m ttsr.sr --lr LR_DIR --ref REF_DIR|REF.png --weights TTSR.pt --out SR_DIR [--force]

Folders (``--lr`` a folder): every image directly in it (`foundation.imageio.list_images`,
sorted by name) is paired with the reference of the same stem in the ``--ref`` folder
(``lr/0.png`` with ``ref/0.jpg``), or with the one ``--ref`` file for every LR. The SR of
``lr/NAME.EXT`` is ``OUT/NAME.png``. An LR without a reference is listed and skipped; when none has
one, a one-line error (exit 2). An SR already in ``--out`` with the right size (4× its LR, from
the file header) and newer than its LR, reference and weights file is kept, so a second run
resumes where the first stopped (``--force`` computes all again, e.g. after pointing ``--ref`` or
``--weights`` at another, older file); each SR is written atomically, so a killed run leaves no
half file. The model is loaded once; a tqdm bar
shows progress on a terminal; an LR or reference that cannot be used is listed with its reason
and skipped; one summary line ends the run (exit 0; 3 when no SR could be made).

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

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from foundation.budget import parse_memory
from foundation.checkpoints import check_checkpoint_file
from ttsr.checkpoint import load_ttsr
from foundation.devices import DEVICE_HELP, device_arg, resolve_device
from foundation.errors import EXIT_NOTHING_MEASURED, EXIT_OK, UserError, cli_main
from foundation.fileio import check_not_an_input, check_output_dir, check_output_file
from foundation.imageio import IMAGE_SUFFIXES, image_size, list_images, parse_pixel_count, read_image, write_image
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


@dataclass(frozen=True)
class Job:
    """One SR to make in folder mode: the LR and reference files and where the SR goes."""
    lr: Path
    ref: Path
    out: Path


def pair_folder(lr_dir: str | os.PathLike, ref: str | os.PathLike,
                out_dir: str | os.PathLike) -> tuple[list[Job], list[Path]]:
    """The folder pairing rule (module docstring): (jobs in LR-name order, LR files without a reference).

    `ref` is a folder (the reference of the LR's stem, exact case) or one file for every LR. The SR
    of ``NAME.EXT`` is ``out_dir/NAME.png``. Raises `UserError` (one line) when `lr_dir` holds no
    image, two LR images share a stem (their SRs would collide), two references share an LR's
    stem, `ref` does not exist, or `out_dir` is the LR or reference folder (an SR would replace an
    input).
    """
    lr_dir, ref, out_dir = Path(lr_dir), Path(ref), Path(out_dir)
    if not ref.exists():
        raise UserError(f"--ref {ref}: not found; give a folder of references named as the LR images, "
                        "or one reference file")
    lrs = list_images(lr_dir)
    if not lrs:
        raise UserError(f"--lr {lr_dir}: no image in the folder ({', '.join(sorted(IMAGE_SUFFIXES))}); "
                        "give a folder of LR images or one LR file")
    check_not_an_input(out_dir, "--out", [("--lr", lr_dir), ("--ref", ref)])
    _one_per_stem(lrs, "--lr", "their SR images would have the same name")
    refs = _one_per_stem(list_images(ref), "--ref", "which one is meant is unclear") if ref.is_dir() else None
    jobs, missing = [], []
    for lr in lrs:
        match = ref if refs is None else refs.get(lr.stem)
        if match is None:
            missing.append(lr)
        else:
            jobs.append(Job(lr, match, out_dir / f"{lr.stem}.png"))
    if not jobs:
        have = ", ".join(sorted(refs)[:5]) + (" …" if len(refs) > 5 else "") if refs else "none"
        raise UserError(f"--ref {ref}: no LR image in {lr_dir} has a reference of the same stem (e.g. "
                        f"{lrs[0].stem}.png; the folder's stems: {have}); name each reference after its LR "
                        "image, or give --ref one file for every LR")
    return jobs, missing


def _one_per_stem(paths: list[Path], option: str, why: str) -> dict[str, Path]:
    by_stem: dict[str, Path] = {}
    for path in paths:
        if path.stem in by_stem:
            raise UserError(f"{option}: {by_stem[path.stem].name} and {path.name} in {path.parent} have the "
                            f"same stem, {why}; rename or move one")
        by_stem[path.stem] = path
    return by_stem


def is_done(job: Job, weights: str | os.PathLike) -> bool:
    """Whether ``job.out`` already holds the SR of this job: a readable image 4× the LR's size
    (headers only), modified after the LR, the reference and the `weights` file. Outputs are written
    atomically, so an existing file is a whole one; an older one was made from other inputs."""
    try:
        made = job.out.stat().st_mtime_ns
        if made < max(Path(p).stat().st_mtime_ns for p in (job.lr, job.ref, weights)):
            return False
        width, height = image_size(job.lr)
        return image_size(job.out) == (SCALE * width, SCALE * height)
    except (OSError, UserError):
        return False  # missing; an unreadable input is reported when it is processed


def super_resolve(model, inputs: dict[str, np.ndarray], device: torch.device) -> np.ndarray:
    """The SR (H×W×3 uint8, 4× the LR) of `prepare_inputs`' arrays; `UserError` when out of memory."""
    try:
        with torch.no_grad():
            out = model(**{k: image_to_tensor(v, device, signed=True) for k, v in inputs.items()})
    except torch.OutOfMemoryError as err:
        raise UserError(f"out of memory on {device} for a {inputs['ref'].shape[1]}×{inputs['ref'].shape[0]} "
                        "reference; lower --max-memory, use a smaller reference or --device cpu") from err
    return tensor_to_image(out.sr, signed=True)


def _write(path, sr: np.ndarray) -> None:
    try:
        write_image(path, sr)
    except OSError as err:
        raise UserError(f"{path}: cannot write the SR image ({err})") from err


def _parser() -> OneLineParser:
    parser = OneLineParser(prog="python -m ttsr.sr", description=__doc__.split("\n\n")[0],
                           epilog="Folders: each LR image in --lr DIR is paired with the reference of the same "
                                  "stem in --ref DIR (lr/0.png with ref/0.jpg) or with the one --ref file; the SR "
                                  "of lr/NAME.EXT is OUT/NAME.png; an LR without a reference is listed and "
                                  "skipped; SR images already in --out (4× the LR, newer than its inputs) are kept "
                                  "unless --force.")
    parser.add_argument("--lr", required=True, help="low-resolution input image, or a folder of them")
    parser.add_argument("--ref", required=True, help="reference image (any size ≥ 4×4); with --lr DIR: a folder "
                        "of references named as the LR images, or one file for all")
    parser.add_argument("--weights", required=True, help="TTSR checkpoint (.pt, .pth or .safetensors)")
    parser.add_argument("--out", required=True, help="where to write the ×4 SR image; with --lr DIR: a folder")
    parser.add_argument("--hr", help="ground truth: print PSNR/SSIM of the SR against it (one --lr file only)")
    parser.add_argument("--force", action="store_true",
                        help="with --lr DIR: compute every SR again, replacing those already in --out")
    parser.add_argument("--device", type=device_arg, default=None,
                        help=f"{DEVICE_HELP}; when not given, the settings file's device")
    parser.add_argument("--max-memory", metavar="SIZE",
                        help="working-memory bound of the texture search, e.g. 4G or 512M; a bare number is "
                             "MiB; at least 16M (default: half the free GPU memory, 128M on CPU)")
    parser.add_argument("--max-pixels", metavar="N",
                        help="refuse images over N pixels, e.g. 16000000, 16M or 4096x4096 (default: "
                             "$TTSR_BENCH_MAX_PIXELS, else 4096x4096)")
    settings.add_settings_option(parser, "device, max_memory")
    return parser


@cli_main
def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    folders = Path(args.lr).is_dir()
    if folders:
        if args.hr:
            raise UserError(f"--hr: works with one --lr file, not the folder {args.lr}; leave --hr out")
        if Path(args.out).suffix.lower() in IMAGE_SUFFIXES:
            raise UserError(f"--out {args.out}: names an image file, but --lr {args.lr} is a folder; give a "
                            "folder for the SR images (or one --lr file)")
        check_output_dir(args.out, "--out")
        jobs, missing = pair_folder(args.lr, args.ref, args.out)  # before loading anything
        check_checkpoint_file(args.weights)  # before the skipped-LR lines, not after them
    else:
        if Path(args.ref).is_dir():
            raise UserError(f"--ref {args.ref}: is a folder; with one --lr file give one reference file "
                            "(a --ref folder goes with an --lr folder)")
        if args.force:
            raise UserError("--force: only for --lr DIR (one --out file is always written)")
        check_output_file(args.out, "--out")  # before 20 s of compute, not after
        check_not_an_input(args.out, "--out", [("--lr", args.lr), ("--ref", args.ref), ("--hr", args.hr),
                                               ("--weights", args.weights)])
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
    if folders:
        return run_folder(jobs, missing, args, device, max_memory, max_pixels)

    inputs = prepare_inputs(args.lr, args.ref, max_pixels)
    hr = None
    if args.hr:  # a bad HR fails before the network runs
        hr = read_image(args.hr, max_pixels)
        check_lr_hr(inputs["lr"].shape, hr.shape, SCALE, lr_name=args.lr, hr_name=args.hr)
    model = load_ttsr(args.weights, device=device)
    model.set_max_memory(max_memory)

    start = time.perf_counter()
    sr = super_resolve(model, inputs, device)
    seconds = time.perf_counter() - start
    _write(args.out, sr)
    lr = inputs["lr"]
    label = random_label(model)
    print(f"{args.out}: {sr.shape[1]}×{sr.shape[0]} from {lr.shape[1]}×{lr.shape[0]} LR "
          f"in {seconds:.2f} s on {device}{label}")
    if hr is not None:
        report_metrics(sr, hr, label)
    return 0


def run_folder(jobs: list[Job], missing: list[Path], args, device: torch.device, max_memory: int | None,
               max_pixels: int | None) -> int:
    """Make the SR of every job not already done (`is_done`, unless ``args.force``), loading the model
    once and only when there is work; per-image lines and the summary on stdout, skipped inputs on
    stderr. Returns 0, or `EXIT_NOTHING_MEASURED` when every image to make failed."""
    from tqdm import tqdm

    for lr in missing:
        print(f"skipped {lr}: no reference named {lr.stem}.* in {args.ref}", file=sys.stderr)
    todo = [job for job in jobs if args.force or not is_done(job, args.weights)]
    kept, failed, label, seconds = len(jobs) - len(todo), [], "", 0.0
    if todo:
        model = load_ttsr(args.weights, device=device)
        model.set_max_memory(max_memory)
        label = random_label(model)
        for job in tqdm(todo, desc="ttsr.sr", unit="img", disable=None, dynamic_ncols=True):
            try:
                inputs = prepare_inputs(job.lr, job.ref, max_pixels)
                start = time.perf_counter()
                sr = super_resolve(model, inputs, device)
                seconds += time.perf_counter() - start
                _write(job.out, sr)
            except UserError as err:  # this pair is unusable; the others still run
                failed.append(job)
                tqdm.write(f"skipped {job.lr}: {' '.join(str(err).split())}", file=sys.stderr)
                continue
            lr = inputs["lr"]
            tqdm.write(f"{job.out}: {sr.shape[1]}×{sr.shape[0]} from {lr.shape[1]}×{lr.shape[0]} LR{label}")
    made = len(todo) - len(failed)
    print(f"{args.out}: {made} SR written ({seconds:.2f} s on {device}), {kept} already there, "
          f"{len(missing)} without a reference, {len(failed)} failed{label}")
    return EXIT_NOTHING_MEASURED if todo and not made else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
