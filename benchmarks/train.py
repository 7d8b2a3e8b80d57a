"""Train a method: `python -m benchmarks.train --config configs/X.toml [--data-root DIR] [--out runs/train/NAME] [--resume]`.

The config's `method` chooses the recipe (`training.recipes.RECIPES`): "ttsr" (`training.ttsr_recipe`),
"srntt" and "srntt-rec" (`training.srntt_recipe`, which also takes `--init-from FILE` and
`--init-texture`), and every Table 1 method of `training.table1` ("edsr", "esrgan", "crossnet", …;
`--ranker FILE` for "rsrgan"). TTSR's paper recipe (§3.4, §4.1) is in `configs/ttsr.toml` (2 epochs
reconstruction only, then 50 with all losses) and `configs/ttsr-rec.toml` (reconstruction only,
200 epochs); one config per ablation variant of Tables 2 and 3, and `configs/tiny.toml` for tests
and the demo; SRNTT's in `configs/srntt.toml` and `configs/srntt-rec.toml`. Every run prints its
parameter count, writes `log.csv`/`log.jsonl`, `train_state.pt` (resume with `--resume`), and the
generator in its method's format as `model_last.*` / `model_best.*` (TTSR: release key names, load
with `ttsr.checkpoint.load_ttsr` or the benchmark runner; SRNTT: `.safetensors`).

Data (`[data] kind`): "cufed" — the CUFED training set under the data root (`train/input`,
`train/ref`); "folder" — HR images in `[data] folders` (relative to the data root) with
self-references; "demo" — the built-in demo photos. Validation (`[val] dataset`): CUFED5 with
the level-1 reference when the data root holds it ("auto"), else the demo set; PSNR/SSIM on Y
with the release's protocol (`training.validation`, inputs by `benchmarks.degrade.refsr_inputs`).

Multi-GPU: `torchrun --nproc_per_node N -m benchmarks.train --config …` (batch_size is global).
TTSR's ImageNet VGG19 weights (LTE initialisation and perceptual loss) must be in the torch hub
cache; `--allow-random-vgg` replaces them (SRNTT: accepts a random `--init-from` file) for smoke
tests only, and the checkpoints say so.

The config is checked whole (`training.config`: every key's type and range, `[model]` by the
recipe's schema) before any model or data is built. Numeric options and their ranges (`--help`):
`--max-steps` N ≥ 0 (0: the config's epochs), `--stop-after` N ≥ 1, `--val-every` N ≥ 0,
`--checkpoint-every` N ≥ 1, `--num-workers` N ≥ 0, `--threads` N ≥ 0; a value out of range, like
any usage error (another method's option included), is one line and exit status 2.
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path
from typing import Callable

import torch

from foundation import settings
from foundation.cli_types import OneLineParser, whole_number
from foundation.devices import DEVICE_HELP, device_arg
from foundation.errors import UserError, cli_main
from foundation.fileio import check_not_an_input, check_output_dir
from foundation.imageio import is_image_file
from training.config import CheckpointConfig, DataConfig, DeviceConfig, ScheduleConfig, TrainConfig, ValConfig, \
    load_config
from training.data import CUFEDPairs, RefSRTrainSet, SelfReferencePairs
from training.recipes import RECIPES, Recipe, make_trainer, option_dest, recipe_for, unique_recipes


# ----------------------------------------------------------------------------- data

def data_root(cfg: TrainConfig, override: str | None, settings_file: str | None = None) -> Path:
    """`--data-root`, else the config's `[data] root`, else `foundation.settings` (the settings file's
    data_root, $TTSR_BENCH_DATA, ./data). A folder named by the option, the settings file or the
    environment that does not exist is a `UserError`."""
    if cfg.data.root and not override:
        return Path(cfg.data.root).expanduser()
    return settings.resolve(settings_file, override).data_root or settings.DEFAULT_DATA_ROOT


def _folder_images(folder: Path) -> list[Path]:
    """HR images under `folder` (recursive), leaving out the LR copies some SR sets ship."""
    images = []
    for path in sorted(folder.rglob("*")):
        if not is_image_file(path):
            continue
        lowered = [part.lower() for part in path.relative_to(folder).parts]
        if "_lr" in path.stem.lower() or any(p.startswith("lr") for p in lowered[:-1]):
            continue
        images.append(path)
    return images


def find_cufed_train(root: Path) -> Path | None:
    """The CUFED training folder under `root` (`root`, `root/CUFED` or `root/cufed`, holding
    `train/input` + `train/ref` or `input` + `ref`), or None."""
    return next((c for c in (root, root / "CUFED", root / "cufed")
                 if (c / "train" / "input").is_dir() or (c / "input").is_dir()), None)


def cufed_pair_folders(found: Path) -> tuple[Path, Path]:
    """(input folder, ref folder) of a folder `find_cufed_train` returned."""
    base = found / "train" if (found / "train" / "input").is_dir() else found
    return base / "input", base / "ref"


def build_train_set(cfg: TrainConfig, root: Path) -> RefSRTrainSet:
    d = cfg.data
    if d.kind == "cufed":
        found = find_cufed_train(root)
        if found is None:
            raise UserError(f"{root}: no CUFED training set (expected {root}/train/input and {root}/train/ref, "
                            f"11,871 pairs of 160×160); pass --data-root, or train on a folder of HR images "
                            f"with configs/tiny.toml")
        pairs = CUFEDPairs(found)
    elif d.kind == "folder":
        images: list[Path] = []
        for name in d.folders:
            folder = Path(name) if Path(name).is_absolute() else root / name
            if not folder.is_dir():
                raise UserError(f"{folder}: training folder not found ([data] folders in the config, "
                                f"relative to the data root {root})")
            images += _folder_images(folder)
        if not images:
            raise UserError(f"no training images in {', '.join(d.folders) or '[data] folders (empty)'} under {root}")
        pairs = SelfReferencePairs(images, d.patch, d.repeats)
    else:  # demo
        from benchmarks.datasets import load

        pairs = SelfReferencePairs([s.hr for s in load("demo", None)], d.patch, d.repeats)
    return RefSRTrainSet(pairs, patch=d.patch, scale=d.scale, seed=d.seed, gan_k=cfg.loss.gan_k)


def validation_samples(cfg: TrainConfig, root: Path):
    """(name, samples) of the validation set, or None for `[val] dataset = "none"`."""
    from benchmarks.datasets import load, locate

    choice = cfg.val.dataset
    if choice == "none":
        return None
    if choice in ("auto", "cufed5"):
        folder = None
        if root.is_dir():
            for base in (root, root / "test"):
                folder = locate("cufed5", base) if base.is_dir() else None
                if folder is not None:
                    break
        if folder is not None:
            return "cufed5", load("cufed5", folder, ref_mode=f"L{cfg.val.ref_level}")
        if choice == "cufed5":
            raise UserError(f"{root}: CUFED5 not found for validation (NNN_0.png … NNN_5.png); "
                            f"pass --data-root or set [val] dataset = \"demo\"")
    return "demo", load("demo", None)


def make_validator(samples, device: torch.device, scale: int, max_images: int = 0):
    """Validation by the evaluation protocol (`training.validation`): PIL-bicubic inputs of the
    first `max_images` samples (0: all), rounded SR, PSNR/SSIM on Y."""
    from benchmarks.degrade import refsr_inputs
    from training.validation import make_validator as validator

    chosen = itertools.islice(samples, max_images or None)
    return validator([refsr_inputs(sample.hr, sample.ref, scale) for sample in chosen], device)


# ----------------------------------------------------------------------------- setup

def build(cfg: TrainConfig, *, allow_random_vgg: bool, root: Path, out: Path, device: str | None = None,
          progress: bool = True, with_validation: bool = True, dist_info=None, dataset=None,
          options: dict | None = None):
    """The Trainer for `cfg`: the recipe of its `method` (`training.recipes`) with its `options`
    (e.g. {"init_from": path} for SRNTT), the training data (`dataset`, default from `[data]`) and
    the validation of `[val]`."""
    options = dict(options or {})
    recipe_for(cfg).check(cfg, allow_random_vgg=allow_random_vgg, **options)  # before any data is read
    if dataset is None:
        dataset = build_train_set(cfg, root)
    trainer = make_trainer(cfg, dataset, out, allow_random_vgg=allow_random_vgg, options=options, device=device,
                           progress=progress, dist_info=dist_info)
    if with_validation and trainer.dist.is_main:
        attach_validation(trainer, cfg, root)
    return trainer


def attach_validation(trainer, cfg: TrainConfig, root: Path) -> None:
    """Validate with the evaluation protocol: CUFED5 level 1 under the root, else the demo set."""
    chosen = validation_samples(cfg, root)
    if chosen is not None:
        name, samples = chosen
        trainer.validator = make_validator(samples, trainer.device, cfg.data.scale, cfg.val.max_images)
        print(f"validation: {name}, {min(len(samples), cfg.val.max_images or len(samples))} image(s)", flush=True)


def method_options(recipe_class: type[Recipe], args: argparse.Namespace, source: str) -> dict:
    """The options of `recipe_class` from the command line; another recipe's option is a `UserError`."""
    own = {option_dest(flag) for flag in recipe_class.options}
    for other in unique_recipes():
        for flag in other.options:
            value = getattr(args, option_dest(flag))
            if option_dest(flag) not in own and value not in (None, False):
                raise UserError(f"{flag}: an option of the {other.name} recipe, not of {source}'s method "
                                f"{recipe_class.name!r}; leave it out")
    return {dest: getattr(args, dest) for dest in sorted(own)}


def apply_overrides(cfg: TrainConfig, args: argparse.Namespace) -> TrainConfig:
    if args.max_steps is not None:
        cfg.schedule.max_steps = args.max_steps
    if args.num_workers is not None:
        cfg.data.num_workers = args.num_workers
    if args.val_every is not None:
        cfg.val.every = args.val_every
    if args.checkpoint_every is not None:
        cfg.checkpoint.every = args.checkpoint_every
    if args.amp is not None:
        cfg.device.amp = args.amp
    if args.tf32:
        cfg.device.tf32 = True
    if args.threads is not None:
        cfg.device.threads = args.threads
    if args.seed is not None:
        cfg.data.seed = args.seed
    cfg.validate(f"{cfg.source} with the command-line options")
    return cfg


def config_option(section: type, key: str) -> Callable[[str], int]:
    """An argparse type with the range of the config key `[section] key` (`training.config`)."""
    metadata = section.model_fields[key].metadata
    low = next(getattr(m, "ge") for m in metadata if getattr(m, "ge", None) is not None)
    high = next((getattr(m, "le") for m in metadata if getattr(m, "le", None) is not None), None)
    return whole_number(low, high)


def make_parser() -> argparse.ArgumentParser:
    """The training command's options: the generic ones, then each recipe's own (`Recipe.options`)."""
    p = OneLineParser(prog="python -m benchmarks.train", description=__doc__.split("\n")[0],
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="training TOML (configs/*.toml)")
    p.add_argument("--data-root", help="data root (CUFED: holds train/input and train/ref; "
                                       "default [data] root, the settings file's data_root, $TTSR_BENCH_DATA, ./data)")
    p.add_argument("--out", help="run folder (default runs/train/<config name>)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/train_state.pt")
    p.add_argument("--allow-random-vgg", action="store_true",
                   help="random VGG19 when the ImageNet weights are absent (smoke tests only; recorded)")
    p.add_argument("--device", type=device_arg, help=f"{DEVICE_HELP}; when not given, the settings file's device")
    p.add_argument("--seed", type=config_option(DataConfig, "seed"), metavar="N",
                   help="seed of crops, flips, order and initialisation, N ≥ 0 [data] seed (recorded in the run's config)")
    settings.add_settings_option(p, "data_root, device")
    p.add_argument("--max-steps", type=config_option(ScheduleConfig, "max_steps"), metavar="N",
                   help="stop after N ≥ 0 steps in total (0: run the config's epochs) [schedule] max_steps")
    p.add_argument("--stop-after", type=whole_number(1), metavar="N",
                   help="checkpoint and stop at global step N ≥ 1 (as if interrupted)")
    p.add_argument("--val-every", type=config_option(ValConfig, "every"), metavar="N",
                   help="validate every N ≥ 0 steps (0: every epoch) [val] every")
    p.add_argument("--checkpoint-every", type=config_option(CheckpointConfig, "every"), metavar="N",
                   help="write train_state.pt every N ≥ 1 steps [checkpoint] every")
    p.add_argument("--num-workers", type=config_option(DataConfig, "num_workers"), metavar="N",
                   help="data-loader processes, N ≥ 0 [data] num_workers")
    p.add_argument("--threads", type=config_option(DeviceConfig, "threads"), metavar="N",
                   help="CPU threads per process, N ≥ 0 (0: torch's default) [device] threads")
    p.add_argument("--amp", choices=("none", "bf16", "fp16"), help="CUDA mixed precision")
    p.add_argument("--tf32", action="store_true", help="allow TF32 matmuls/convolutions on CUDA")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    p.add_argument("--dry-run", action="store_true", help="print the configuration's parameter count and exit")
    for recipe_class in unique_recipes():
        if recipe_class.options:
            methods = ", ".join(n for n, r in RECIPES.items() if r is recipe_class)
            group = p.add_argument_group(f"options of the {recipe_class.name} recipe (method = {methods})")
            for flag, keywords in recipe_class.options.items():
                group.add_argument(flag, **keywords)
    return p


def device_option(args: argparse.Namespace) -> str | None:
    """The device to train on: `--device`, else the settings file's `device`; None for auto."""
    device = settings.resolve(args.settings, data=False).get("device", args.device)
    return None if device in (None, "auto") else device


def parse_args(argv=None) -> argparse.Namespace:
    return make_parser().parse_args(argv)


def check_run_folder(out: Path, resume: bool) -> None:
    """A finished or interrupted training in `out` is never overwritten: without `--resume` its
    train_state.pt is a `UserError` (one line) before anything is built."""
    from training.trainer import STATE_FILE

    if not resume and (Path(out) / STATE_FILE).exists():
        raise UserError(f"--out {out}: holds a training run ({STATE_FILE}); pass --resume to continue it, or "
                        "choose another --out (nothing there is overwritten)")


def fit_and_report(trainer, args: argparse.Namespace, out: Path) -> int:
    """Run `trainer` (resume / stop-after from `args`), close the process group, print the result."""
    try:
        result = trainer.fit(resume=args.resume, stop_after=args.stop_after)
    finally:
        trainer.dist.close()
    if trainer.dist.is_main:
        best = result["best"]
        best_s = f"; best val PSNR {best['metric']:.3f} dB at step {best['step']}" if best["step"] >= 0 else ""
        print(f"{result['status']} at step {result['step']}{best_s}; run folder {out}", flush=True)
    return 0


@cli_main
def main(argv=None) -> int:
    args = parse_args(argv)
    settings.resolve(args.settings, data=False)  # a bad settings file is one line, dry run included
    cfg = apply_overrides(load_config(args.config), args)
    recipe_class = recipe_for(cfg)  # the whole config, [model] included, before anything is built
    options = method_options(recipe_class, args, cfg.source)
    out = Path(args.out) if args.out else Path("runs") / "train" / cfg.name
    if args.dry_run:
        print(recipe_class.parameter_line(cfg))
        return 0
    check_output_dir(out, "--out")
    root = data_root(cfg, args.data_root, args.settings)
    check_not_an_input(out, "--out", [("--config", args.config), ("data root", root)])
    check_run_folder(out, args.resume)
    trainer = build(cfg, allow_random_vgg=args.allow_random_vgg, root=root,
                    out=out, device=device_option(args), progress=not args.no_progress, options=options)
    return fit_and_report(trainer, args, out)


if __name__ == "__main__":
    sys.exit(main())
