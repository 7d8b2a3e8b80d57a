"""Time and peak memory of one full-loss TTSR training step: straightforward vs the trainer's.

    python benchmarks/perf/train_step.py [--batch 9] [--patch 160] [--steps 2] [--device cpu]

Both variants start from the same weights and batch and compute the same losses (L_rec, L_per,
L_tpl, L_adv with 2 WGAN-GP critic steps; paper §3.4) — the script asserts that the losses of the
first step agree. "straightforward" is the release's way: NCHW fp32, a frozen LTE copy refreshed
with `load_state_dict(LTE.state_dict())` at every step, critic parameter gradients computed for
the generator's adversarial term. "trainer" is `training.trainer.Trainer.train_step`: LTE features
of SR through detached parameters (no copy), no critic parameter gradients in the generator pass,
channels_last tensors (mkldnn/cuDNN NHWC kernels), and on CUDA the configured autocast.
Each variant runs in a fresh process, so peak memory (CPU: max RSS; CUDA: max allocated) is its own.
Random VGG weights are used (timing only; no download).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import subprocess
import sys
import time

import torch

from foundation.devices import DEVICE_HELP, device_arg

HERE = os.path.abspath(__file__)


def make_trainer(args, channels_last: bool):
    from ttsr.config import TTSRConfig
    from training.config import TrainConfig
    from training.data import RefSRTrainSet, SelfReferencePairs
    from foundation.distributed import Dist
    from foundation.seeding import seed_everything
    from training.trainer import Trainer
    from training.ttsr_recipe import TTSRRecipe
    from ttsr.vgg import VGG19Relu51

    cfg = TrainConfig.from_dict({
        "model": {"n_feats": args.n_feats, "num_res_blocks": [int(b) for b in args.blocks.split("+")]},
        "data": {"kind": "folder", "patch": args.patch, "batch_size": args.batch, "num_workers": 0},
        "device": {"channels_last": channels_last, "amp": args.amp}, "val": {"dataset": "none"}})
    seed_everything(0)
    import numpy as np

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (args.patch * 2, args.patch * 2, 3), dtype=np.uint8) for _ in range(2)]
    dataset = RefSRTrainSet(SelfReferencePairs(images, args.patch, repeats=args.batch), patch=args.patch)
    recipe = TTSRRecipe(TTSRConfig.from_dict(cfg.model), pretrained_lte=False)
    trainer = Trainer(cfg, recipe, dataset, "/tmp/unused", perceptual_net=VGG19Relu51(random_ok=True),
                      device=args.device, progress=False, dist_info=Dist())
    from torch.utils.data import default_collate

    batch = default_collate([dataset[(0, i)] for i in range(args.batch)])
    return trainer, batch


def straightforward_step(trainer, lte_copy, batch) -> dict[str, float]:
    """The release's step: NCHW, LTE copy refreshed every step, critic grads in the G pass."""
    from ttsr.losses import (critic_loss, generator_adversarial_loss, perceptual_loss, reconstruction_loss,
                             transferal_perceptual_loss)

    model, critic, vgg, cfg = trainer.generator, trainer.critic, trainer.vgg, trainer.cfg.loss
    b = {k: v.to(trainer.device) for k, v in batch.items()}
    out = model(b["lr"], b["lrsr"], b["ref"], b["refsr"])
    sr = out.sr
    rec = reconstruction_loss(sr, b["hr"])
    with torch.no_grad():
        hr_features = vgg(b["hr"])
    per = perceptual_loss(vgg(sr), hr_features)
    lte_copy.load_state_dict(model.LTE.state_dict())
    lv1, lv2, lv3 = lte_copy((sr + 1) / 2)
    tpl = transferal_perceptual_loss((lv3, lv2, lv1), (out.T_lv3, out.T_lv2, out.T_lv1))
    critic.requires_grad_(True)
    for k in range(cfg.gan_k):
        trainer.opt_d.zero_grad()
        loss_d, _ = critic_loss(critic, b["hr"], sr.detach(), b["gp_eps"][:, k], cfg.gp_weight)
        loss_d.backward()
        trainer.opt_d.step()
    adv = generator_adversarial_loss(critic, sr)
    total = cfg.rec * rec + cfg.per * per + cfg.tpl * tpl + cfg.adv * adv
    trainer.opt_g.zero_grad()
    total.backward()
    trainer.opt_g.step()
    return {"loss": total.item(), "rec": rec.item(), "per": per.item(), "tpl": tpl.item(), "adv": adv.item(),
            "d_loss": loss_d.item()}


def child(args) -> None:
    torch.set_num_threads(args.threads) if args.threads else None
    ours = args.variant == "trainer"
    trainer, batch = make_trainer(args, channels_last=ours)
    lte_copy = None
    if not ours:
        lte_copy = copy.deepcopy(trainer.generator.LTE).requires_grad_(False).to(trainer.device)
        trainer.generator.to(memory_format=torch.contiguous_format)
        trainer.critic.to(memory_format=torch.contiguous_format)
        trainer.vgg.to(memory_format=torch.contiguous_format)
    cuda = trainer.device.type == "cuda"

    def step():
        return trainer.train_step(batch, "main") if ours else straightforward_step(trainer, lte_copy, batch)

    first = step()  # warm-up, and the losses compared between the variants
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak = (torch.cuda.max_memory_allocated() / 2**20 if cuda
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps({"variant": args.variant, "losses": {k: float(first[k]) for k in
                      ("loss", "rec", "per", "tpl", "adv", "d_loss")}, "seconds": min(times), "peak_mb": peak}))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=9)
    p.add_argument("--patch", type=int, default=160, help="HR/ref crop (LR = patch / 4)")
    p.add_argument("--n-feats", type=int, default=64)
    p.add_argument("--blocks", default="16+16+8+4")
    p.add_argument("--steps", type=int, default=2, help="timed steps after one warm-up (the minimum is reported)")
    p.add_argument("--device", default="auto", type=device_arg, help=DEVICE_HELP)
    p.add_argument("--amp", default="none", choices=("none", "bf16", "fp16"), help="trainer variant, CUDA only")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--variant", choices=("straightforward", "trainer"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.variant:
        child(args)
        return 0
    results = {}
    for variant in ("straightforward", "trainer"):
        cmd = [sys.executable, HERE, "--variant", variant] + [a for a in sys.argv[1:]]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            sys.stderr.write(proc.stderr)
            return proc.returncode
        results[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
    a, b = results["straightforward"]["losses"], results["trainer"]["losses"]
    for name in a:
        tol = 1e-2 if args.amp != "none" else 1e-4
        assert abs(a[name] - b[name]) <= tol * max(1e-3, abs(a[name])), (name, a[name], b[name])
    print(f"one full-loss training step: batch {args.batch}, LR {args.patch // 4}×{args.patch // 4}, "
          f"HR/ref {args.patch}×{args.patch}, TTSR n_feats {args.n_feats} blocks {args.blocks}, "
          f"device {args.device}, torch threads {args.threads or torch.get_num_threads()}")
    print(f"{'variant':<16} {'seconds':>9} {'peak MB':>9} {'speed-up':>9}")
    base = results["straightforward"]["seconds"]
    for variant, r in results.items():
        print(f"{variant:<16} {r['seconds']:>9.3f} {r['peak_mb']:>9.0f} {base / r['seconds']:>8.2f}×")
    print("losses of the first step (equal within "
          f"{'1e-2' if args.amp != 'none' else '1e-4'} relative): "
          + ", ".join(f"{k}={a[k]:.6g}/{b[k]:.6g}" for k in a))
    return 0


if __name__ == "__main__":
    sys.exit(main())
