"""Does the data loader keep the device busy? Training steps/s fed by the loader vs by one pre-made batch.

    python -m benchmarks.perf.loader_speed [--config configs/ttsr.toml] [--data-root DIR] [--steps 20]
                                           [--num-workers N] [--device cuda] [--allow-random-vgg]

Three figures for the config's recipe, batch and patch: the loader alone (batches/s: reading,
cropping, degrading, collating in the workers, pinned on CUDA), training steps fed by the trainer's
own loader (`Trainer.epoch_loader`), and the same number of steps on one batch made beforehand. The
ratio of the last two is what the loader costs the device (1.00: nothing). Data: the config's
(`[data] kind`, `--data-root` for CUFED / folders); without the data the demo photos with
self-references stand in (said on the first line). Nothing is written but the trainer's scratch
folder, removed at the end.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

from foundation.cli_types import OneLineParser, whole_number
from foundation.devices import DEVICE_HELP, device_arg
from foundation.errors import UserError, cli_main


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@cli_main
def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(prog="python -m benchmarks.perf.loader_speed", description=__doc__.split("\n")[0])
    p.add_argument("--config", default="configs/tiny.toml", help="training TOML (default configs/tiny.toml)")
    p.add_argument("--data-root", help="data root of the config's training data")
    p.add_argument("--steps", type=whole_number(2), default=20, metavar="N", help="steps timed, N ≥ 2 (default 20)")
    p.add_argument("--num-workers", type=whole_number(0), metavar="N", help="data-loader processes (default: the config's)")
    p.add_argument("--device", type=device_arg, help=DEVICE_HELP)
    p.add_argument("--allow-random-vgg", action="store_true", help="random VGG19 when the ImageNet weights are absent")
    args = p.parse_args(argv)

    from benchmarks.train import build, build_train_set, data_root
    from training.config import load_config

    cfg = load_config(args.config)
    if args.num_workers is not None:
        cfg.data.num_workers = args.num_workers
    cfg.val.dataset = "none"
    cfg.schedule.max_steps = 0
    root = data_root(cfg, args.data_root)
    try:
        dataset = build_train_set(cfg, root)
        where = f"{cfg.data.kind} data under {root}" if cfg.data.kind != "demo" else "the demo photos"
    except UserError as err:
        cfg.data.kind = "demo"
        dataset = build_train_set(cfg, root)
        where = f"the demo photos (the config's data: {err})"
    with tempfile.TemporaryDirectory() as scratch:
        trainer = build(cfg, allow_random_vgg=args.allow_random_vgg, root=root, out=Path(scratch),
                        device=args.device, progress=False, with_validation=False, dataset=dataset)
        phase = "main" if cfg.schedule.epochs > 0 else "init"
        print(f"{cfg.name}: batch {cfg.data.batch_size}, HR patch {cfg.data.patch}, {cfg.data.num_workers} worker(s), "
              f"device {trainer.device}; data: {where}", flush=True)

        def batches():
            while True:  # epochs as the trainer runs them
                yield from trainer.epoch_loader()
                trainer.epoch += 1

        source = batches()
        next(source)  # workers started
        started = time.perf_counter()
        for _ in range(args.steps):
            next(source)
        loader_only = args.steps / (time.perf_counter() - started)

        batch = next(source)
        trainer.train_step(batch, phase)  # warm-up
        _sync(trainer.device)
        started = time.perf_counter()
        for _ in range(args.steps):
            trainer.train_step(next(source), phase)
        _sync(trainer.device)
        with_loader = args.steps / (time.perf_counter() - started)

        started = time.perf_counter()
        for _ in range(args.steps):
            trainer.train_step(batch, phase)
        _sync(trainer.device)
        premade = args.steps / (time.perf_counter() - started)
    print(f"loader alone:              {loader_only:8.2f} batches/s")
    print(f"steps fed by the loader:   {with_loader:8.2f} steps/s")
    print(f"steps on a pre-made batch: {premade:8.2f} steps/s")
    print(f"the loader keeps the device busy {100 * min(1.0, with_loader / premade):.0f}% of the time "
          f"(loader-fed / pre-made = {with_loader / premade:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
