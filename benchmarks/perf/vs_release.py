"""The suite next to the TTSR release's own code: time, peak memory and agreement, side by side.

    python -m benchmarks.perf.vs_release fetch                 # the release, pinned, into the cache
    python -m benchmarks.perf.vs_release forward [--cases cufed5,urban100,manga109] [--pairs 2]
    python -m benchmarks.perf.vs_release train-step [--pairs 2] [--batch 9] [--patch 160]
    python -m benchmarks.perf.vs_release metrics [--pairs 3] [--repeats 10]
    common: [--release DIR] [--threads N] [--device cpu|cuda] [--weights TTSR.pt] [--data-root DIR]

The release (https://github.com/researchmm/TTSR at ``RELEASE_COMMIT``) is never vendored: ``fetch``
runs ``git clone https://github.com/researchmm/TTSR DIR && git -C DIR checkout RELEASE_COMMIT``
into ``--release`` (else ``$TTSR_BENCH_RELEASE``, else ``~/.cache/ttsr-bench/release/TTSR``). Without
it every subcommand but ``fetch`` prints one line saying so and exits 0 (nothing measured). Its
``model/*``, ``loss/*``, ``trainer.py`` and ``utils.py`` are imported in a child process as they are;
the only substitutions are torchvision's ``vgg19(pretrained=True)`` → random weights (no download; the
same weights are then copied into both sides) and ``torch.optim.Adam`` taking the critic's
``betas=(0, 0.9)`` as floats (today's torch refuses the int 0). The metrics need OpenCV (the release's
``calc_ssim`` uses ``cv2.filter2D``): ``pip install opencv-python-headless``.

Every measurement runs in a fresh child process, release and ours alternating (``--pairs`` pairs);
the table gives min and median wall time of the measured call, the peak memory (CPU: the child's
max RSS from ``os.wait4``, which includes Python and torch; CUDA: ``torch.cuda.max_memory_allocated``)
and ours ÷ release ratios. Agreement:

* forward: the SR images rounded to uint8 — share of identical pixels (≥ 99.9%) and max |Δ| (≤ 1);
* training step: the four losses of the first step and the critic loss, |Δ| ≤ ``LOSS_RTOL`` ×
  max(|a|, |b|) (see there why 1e-3); run it with ``--threads 1`` and ``--threads 2``;
* metrics: PSNR and SSIM per pair, |Δ| < 1e-6.

Weights: ``--weights`` a TTSR checkpoint (loaded by `ttsr.checkpoint.load_ttsr`, its tensors copied
into the release's model), else a seeded random TTSR (labelled "random weights": the times and
memory do not depend on the values; the output check then compares two random networks).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

from benchmarks.perf.child import run_child
from foundation.errors import UserError, cli_main

RELEASE_URL = "https://github.com/researchmm/TTSR"
RELEASE_COMMIT = "550e4c9e525b5860083a00c5f936e4bfe2428da2"
RELEASE_ENV = "TTSR_BENCH_RELEASE"
RELEASE_FILES = ("model/TTSR.py", "model/SearchTransfer.py", "loss/loss.py", "trainer.py", "utils.py")
#: Losses agree when |a − b| ≤ LOSS_RTOL · max(|a|, |b|). float32 sums of K terms are exact to about
#: K·2⁻²⁴ relative to the sum of the terms' magnitudes (Higham's γ_K bound); the critic's widest reduction
#: is K = 3·3·512 = 4608 (≈ 2.7e-4), its output a difference of such sums, and the adversarial loss
#: comes after two critic updates whose gradients add their own rounding. The order of those sums
#: changes with the thread count and with NCHW vs channels_last kernels, so 1e-4 (the old
#: train_step assertion) fails at 2 threads (adv −0.031932 vs −0.031927: 1.6e-4); 1e-3 holds with a
#: margin at 1 and 2 threads while a wrong loss (a missing term, a wrong weight) is off by far more.
LOSS_RTOL = 1e-3
MB = 1e6

CASES = {  # name: (what, LR (w, h), reference (w, h) or None = the LR itself)
    "cufed5": ("CUFED5, 5 refs stitched", (125, 83), (2500, 500)),
    "urban100": ("Urban100, LR as ref", None, None),
    "manga109": ("Manga109, HR page as ref", None, None),
}


# ------------------------------------------------------------------------------------ the release
def release_dir(option: str | os.PathLike | None = None) -> Path:
    """Where the release lives: the option, else ``$TTSR_BENCH_RELEASE``, else the user cache."""
    if option:
        return Path(option).expanduser()
    if os.environ.get(RELEASE_ENV):
        return Path(os.environ[RELEASE_ENV]).expanduser()
    return Path.home() / ".cache" / "ttsr-bench" / "release" / "TTSR"


def release_missing(folder: Path) -> str | None:
    """None when `folder` holds the release's code, else one line saying what to do."""
    lacking = [f for f in RELEASE_FILES if not (folder / f).is_file()]
    if not lacking:
        return None
    return (f"the TTSR release is not in {folder} (no {lacking[0]}); nothing measured. Fetch it with "
            f"`python -m benchmarks.perf.vs_release fetch` (git clone {RELEASE_URL} {folder} && "
            f"git -C {folder} checkout {RELEASE_COMMIT}) or point --release / ${RELEASE_ENV} at a copy")


def fetch(folder: Path) -> int:
    """Clone the release into `folder` and check out the pinned commit (git; nothing vendored)."""
    if release_missing(folder) is None:
        print(f"the release is already in {folder}")
        return 0
    if folder.exists() and any(folder.iterdir()):
        raise UserError(f"{folder} exists and is not the TTSR release; remove it or pass another --release")
    folder.parent.mkdir(parents=True, exist_ok=True)
    for cmd in (["git", "clone", "--quiet", RELEASE_URL, str(folder)],
                ["git", "-C", str(folder), "checkout", "--quiet", RELEASE_COMMIT]):
        if subprocess.run(cmd).returncode:
            raise UserError(f"`{' '.join(cmd)}` failed (network? git?); nothing measured")
    print(f"the release at {RELEASE_COMMIT[:10]} is in {folder}")
    return 0


def import_release(folder: str):
    """Put the release on sys.path with torchvision's VGG19 made random (no download). Child only."""
    import torch
    import torchvision.models as tvm

    original = tvm.vgg19
    tvm.vgg19 = lambda pretrained=False, **kw: original(weights=None)

    class Adam(torch.optim.Adam):  # the release's critic passes betas=(0, 0.9): torch ≥ 2.6 wants floats
        def __init__(self, params, *args, betas=(0.9, 0.999), **kwargs):
            super().__init__(params, *args, betas=tuple(float(b) for b in betas), **kwargs)

    torch.optim.Adam = Adam
    sys.path.insert(0, str(folder))


def release_args(**extra) -> types.SimpleNamespace:
    """The release's option.py values that its model, losses and trainer read (train.sh's TTSR run)."""
    values = dict(num_res_blocks="16+16+8+4", n_feats=64, res_scale=1.0, cpu=True, num_gpu=1,
                  GAN_type="WGAN_GP", GAN_k=2, tpl_use_S=False, tpl_type="l2", rec_w=1.0, per_w=1e-2,
                  tpl_w=1e-2, adv_w=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, lr_rate=1e-4, lr_rate_dis=1e-4,
                  lr_rate_lte=1e-5, decay=999999, gamma=0.5, train_crop_size=40, print_every=1,
                  save_every=10**9)  # never saves a checkpoint (epoch 1)
    values.update(extra)
    return types.SimpleNamespace(**values)


# ------------------------------------------------------------------------------------ child side
def _peak_cuda(torch, device) -> dict:
    return {"peak": torch.cuda.max_memory_allocated(device)} if device.type == "cuda" else {}


def _inputs(spec: dict):
    """LR, LR↑, Ref, Ref↓↑ of a case as [-1, 1] tensors (the release's test-mode preparation)."""
    from foundation.imageio import read_image
    from foundation.resize import crop_to_multiple, pil_bicubic, reference_pair, upscale
    from foundation.tensors import image_to_tensor

    root, case = Path(spec["data_root"]), spec["case"]
    if case == "cufed5":
        cufed = sorted((root / "CUFED5").glob("000_*.png"))
        if len(cufed) >= 6:  # 000_0 HR, 000_1 … 000_5 references, each resized to 500×500
            hr = read_image(cufed[0])
            lr = pil_bicubic(hr, (hr.shape[1] // 4, hr.shape[0] // 4))
            refs = [read_image(p) for p in cufed[1:6]]
        else:  # the demo pair, resized to CUFED5's sizes (LR 125×83, five 500×500 references)
            lr = read_image(root / "ttsr_demo" / "lr" / "0.png")
            refs = [read_image(root / "ttsr_demo" / "ref" / "0.png")] * 5
        lr = pil_bicubic(lr, CASES[case][1])
        ref = np.concatenate([pil_bicubic(r, (500, 500)) for r in refs], axis=1)
    elif case == "urban100":
        lr = read_image(sorted((root / "Urban100").rglob("*_LR.png"))[0])
        ref = crop_to_multiple(lr, 4)
    else:
        hr = crop_to_multiple(read_image(sorted((root / "Manga109").glob("*.png"))[0]), 4)
        lr, ref = pil_bicubic(hr, (hr.shape[1] // 4, hr.shape[0] // 4)), hr
    ref, refsr = reference_pair(ref, 4)
    return [image_to_tensor(a, signed=True) for a in (lr, upscale(lr, 4), ref, refsr)]


def child_forward(spec: dict) -> dict:
    import torch

    from ttsr.checkpoint import load_ttsr

    device = torch.device(spec["device"])
    ours = load_ttsr(spec["weights"], device=device)
    if spec["side"] == "release":
        import_release(spec["release"])
        from model import TTSR as release_ttsr

        model = release_ttsr.TTSR(release_args()).to(device)
        model.load_state_dict(ours.state_dict(), strict=False)  # all but LTE_copy (unused at test)
        del ours
    else:
        model = ours
    model.eval()
    lr, lrsr, ref, refsr = (t.to(device) for t in _inputs(spec))
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    with torch.no_grad():
        out = model(lr=lr, lrsr=lrsr, ref=ref, refsr=refsr)
    sr = out[0]
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    image = ((sr[0].float().cpu() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
    np.save(spec["save"], image)
    return {"time": seconds, **_peak_cuda(torch, device)}


def _our_trainer(spec: dict):
    import torch
    from torch.utils.data import default_collate

    from foundation.distributed import Dist
    from foundation.seeding import seed_everything
    from training.config import TrainConfig
    from training.data import RefSRTrainSet, SelfReferencePairs
    from training.trainer import Trainer
    from training.ttsr_recipe import TTSRRecipe
    from ttsr.config import TTSRConfig
    from ttsr.vgg import VGG19Relu51

    patch, batch = spec["patch"], spec["batch"]
    cfg = TrainConfig.from_dict({
        "data": {"kind": "folder", "patch": patch, "batch_size": batch, "num_workers": 0},
        "device": {"channels_last": spec["side"] == "ours", "amp": spec.get("amp", "none")},
        "val": {"dataset": "none"}})
    seed_everything(0)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (patch * 2, patch * 2, 3), dtype=np.uint8) for _ in range(2)]
    dataset = RefSRTrainSet(SelfReferencePairs(images, patch, repeats=batch), patch=patch)
    recipe = TTSRRecipe(TTSRConfig.from_dict(cfg.model), pretrained_lte=False)
    trainer = Trainer(cfg, recipe, dataset, tempfile.mkdtemp(), perceptual_net=VGG19Relu51(random_ok=True),
                      device=spec["device"], progress=False, dist_info=Dist())
    data = default_collate([dataset[(0, i)] for i in range(batch)])
    torch.manual_seed(1234)  # the release draws its WGAN-GP ε with torch.rand: the same draws here
    data["gp_eps"] = torch.cat([torch.rand(batch, 1, 1, 1).view(batch, 1) for _ in range(cfg.loss.gan_k)], 1)
    return trainer, data


def child_train(spec: dict) -> dict:
    import torch

    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    trainer, data = _our_trainer(spec)
    device = trainer.device
    if spec["side"] == "ours":
        def step():
            return trainer.train_step(data, "main")
        first = step()
        losses = {k: first[k] for k in ("rec", "per", "tpl", "adv", "d_loss")}
    else:
        import_release(spec["release"])
        from loss.loss import get_loss_dict
        from model import TTSR as release_ttsr
        from trainer import Trainer as ReleaseTrainer

        args = release_args(train_crop_size=spec["patch"] // 4, cpu=device.type == "cpu")
        model = release_ttsr.TTSR(args).to(device)
        model.load_state_dict(trainer.generator.state_dict(), strict=False)
        logger = logging.getLogger("release")
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
        loss_all = get_loss_dict(args, logger)
        loss_all["adv_loss"].discriminator.load_state_dict(trainer.critic.state_dict())
        batch = {"LR": data["lr"], "LR_sr": data["lrsr"], "HR": data["hr"], "Ref": data["ref"],
                 "Ref_sr": data["refsr"]}
        release = ReleaseTrainer(args, logger, {"train": [batch]}, model, loss_all)
        vgg = {k.replace("features.", "slice1."): v for k, v in trainer.vgg.state_dict().items()}
        release.vgg19.load_state_dict(vgg, strict=False)  # sub_mean: the release's own constants
        del trainer
        seen: dict[str, float] = {}
        for name, key in (("rec_loss", "rec"), ("per_loss", "per"), ("tpl_loss", "tpl"), ("adv_loss", "adv")):
            loss_all[name].register_forward_hook(lambda m, i, o, key=key: seen.__setitem__(key, o.item()))

        def step():
            torch.manual_seed(1234)
            release.train(current_epoch=1, is_init=False)
            return dict(seen)
        import warnings
        warnings.filterwarnings("ignore")  # the release's scheduler.step() order warning
        losses = step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(spec["steps"]):
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return {"time": min(times), "losses": losses, **_peak_cuda(torch, device)}


def child_metrics(spec: dict) -> dict:
    from foundation.resize import pil_bicubic

    import metrics
    from foundation.imageio import read_image

    root = Path(spec["data_root"])
    files = sorted((root / "Urban100").rglob("*_HR.png"))[:4] or sorted((root / "Manga109").glob("*.png"))[:4]
    pairs = []
    for f in files:  # 500×332 crops and their PIL bicubic ×4 down-up
        hr = read_image(f)[:332, :500]
        pairs.append((pil_bicubic(pil_bicubic(hr, (125, 83)), (500, 332)), hr))
    if spec["side"] == "release":
        sys.path.insert(0, spec["release"])
        from utils import calc_psnr, calc_ssim  # the release's metric code (cv2)

        def measure(sr, hr):  # as calc_psnr_and_ssim: float arrays of the rounded images
            a, b = sr.astype(np.float64), hr.astype(np.float64)
            return calc_psnr(a, b), calc_ssim(a, b)
    else:
        def measure(sr, hr):
            return metrics.psnr_ssim(sr, hr)
    values = [tuple(map(float, measure(sr, hr))) for sr, hr in pairs]
    times = []
    for _ in range(spec["repeats"]):
        start = time.perf_counter()
        for sr, hr in pairs:
            measure(sr, hr)
        times.append((time.perf_counter() - start) / len(pairs))
    return {"time": min(times), "median_in_child": statistics.median(times), "values": values}


CHILDREN = {"forward": child_forward, "train-step": child_train, "metrics": child_metrics}


def child(spec: dict) -> dict:
    import torch

    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    return CHILDREN[spec["kind"]](spec)


# ----------------------------------------------------------------------------------- parent side
def summarise(runs: list[dict]) -> dict:
    """min / median time and max peak over the runs of one side (errors dropped)."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"error": runs[0]["error"] if runs else "not run"}
    times = [r["time"] for r in ok]
    return {"min": min(times), "median": statistics.median(times), "peak": max(r["peak"] for r in ok), "n": len(ok)}


def _fmt_time(t: float) -> str:
    return f"{t * 1e3:.2f} ms" if t < 1 else f"{t:.1f} s"


def table(rows: list[tuple[str, dict, dict, str]], peak_name: str) -> str:
    """Markdown table: what, release min/median/peak, ours min/median/peak, release ÷ ours, agreement."""
    header = ("case", "release min / median", f"release {peak_name}", "ours min / median", f"ours {peak_name}",
              "speed-up (release ÷ ours, min)", "memory (ours ÷ release)", "agreement")
    lines = []
    for what, rel, ours, agree in rows:
        cells = [what]
        for side in (rel, ours):
            if "error" in side:
                cells += [side["error"], "–"]
            else:
                cells += [f"{_fmt_time(side['min'])} / {_fmt_time(side['median'])}", f"{side['peak'] / MB:,.0f} MB"]
        both = "error" not in rel and "error" not in ours
        cells.append(f"{rel['min'] / ours['min']:.2f}×" if both else "–")
        cells.append(f"{ours['peak'] / rel['peak']:.2f}" if both else "–")
        cells.append(agree)
        lines.append(cells)
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(c) + " |" for c in lines]
    return "\n".join(out)


def _pairs(spec: dict, pairs: int, release: bool = True) -> tuple[list[dict], list[dict]]:
    """Run release/ours alternately (release first in even pairs, ours first in odd ones)."""
    runs: dict[str, list[dict]] = {"release": [], "ours": []}
    for p in range(pairs):
        order = ("release", "ours") if p % 2 == 0 else ("ours", "release")
        for side in order:
            if side == "release" and not release:
                continue
            res = run_child("benchmarks.perf.vs_release", {**spec, "side": side, "save": f"{spec.get('save', '')}_{side}_{p}.npy"})
            runs[side].append(res)
            print(f"  {spec['kind']} {spec.get('case', '')} {side} pair {p + 1}: "
                  + (res["error"] if "error" in res else f"{_fmt_time(res['time'])}, {res['peak'] / MB:,.0f} MB"),
                  file=sys.stderr, flush=True)
    return runs["release"], runs["ours"]


def image_agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """(share of identical uint8 values, max |Δ|) of two images of the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"SR shapes differ: {a.shape} vs {b.shape}")
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return float((d == 0).mean()), int(d.max())


def losses_agree(a: dict[str, float], b: dict[str, float], rtol: float = LOSS_RTOL) -> tuple[bool, float]:
    """(all |a − b| ≤ rtol·max(|a|, |b|), the largest relative difference) over the shared names."""
    worst = 0.0
    for name in sorted(set(a) & set(b)):
        scale = max(abs(a[name]), abs(b[name]), 1e-12)
        worst = max(worst, abs(a[name] - b[name]) / scale)
    return worst <= rtol, worst


def _dense_fits(case: str) -> bool:
    """The release's forward holds the relevance matrix and three unfolds; run it only where that fits."""
    from benchmarks.perf.ttsr_memory import CASES as MEM_CASES, dense_estimate, mem_available

    return dense_estimate(MEM_CASES[case]) < 0.6 * mem_available()


def case_missing(root: str | None, case: str) -> str | None:
    """Why `case`'s images are not under `root` (one line, with what to pass), or None."""
    base = Path(root) if root else None
    found = base is not None and (
        (case == "cufed5" and (len(list((base / "CUFED5").glob("000_*.png"))) >= 6
                               or (base / "ttsr_demo" / "lr" / "0.png").is_file()))
        or (case == "urban100" and any((base / "Urban100").rglob("*_LR.png")))
        or (case == "manga109" and any((base / "Manga109").glob("*.png"))))
    if found:
        return None
    need = {"cufed5": "CUFED5/000_0…000_5.png or ttsr_demo/lr/0.png + ttsr_demo/ref/0.png",
            "urban100": "Urban100/**/*_LR.png", "manga109": "Manga109/*.png"}[case]
    return f"case {case}: not measured: no {need} under --data-root {root or '(none given, none in the settings)'}"


def cmd_forward(args, common: dict) -> str:
    import torch

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        weights = args.weights
        label = "checkpoint " + Path(weights).name if weights else "random weights (seed 0)"
        if not weights:
            from ttsr.checkpoint import save_ttsr
            from ttsr.config import TTSRConfig
            from ttsr.model import TTSR

            torch.manual_seed(0)
            weights = os.path.join(tmp, "random_ttsr.pt")
            save_ttsr(TTSR(TTSRConfig()), weights, metadata={"weights": "random"})
        for case in [c.strip() for c in args.cases.split(",") if c.strip()]:
            if case not in CASES:
                raise UserError(f"--cases {args.cases}: unknown case {case!r}; known: {', '.join(CASES)}")
            missing = case_missing(common["data_root"], case)
            if missing:
                print(missing, flush=True)
                continue
            spec = {**common, "kind": "forward", "case": case, "weights": weights, "save": os.path.join(tmp, case)}
            fits = _dense_fits(case)
            rel, ours = _pairs(spec, args.pairs, release=fits)
            agree = "–"
            if fits and rel and "error" not in rel[0] and "error" not in ours[0]:
                same, worst = image_agreement(np.load(f"{spec['save']}_release_0.npy"),
                                              np.load(f"{spec['save']}_ours_0.npy"))
                ok = same >= 0.999 and worst <= 1
                agree = f"{same * 100:.4f}% identical, max {worst} ({'ok' if ok else 'FAILS ≥ 99.9%, ≤ 1'})"
            rel_s = summarise(rel) if fits else {"error": "not run (does not fit in memory)"}
            rows.append((CASES[case][0], rel_s, summarise(ours), agree))
    return f"TTSR forward, {label}\n" + table(rows, common["peak_name"])


def cmd_train(args, common: dict) -> str:
    spec = {**common, "kind": "train-step", "batch": args.batch, "patch": args.patch, "steps": args.steps}
    rel, ours = _pairs(spec, args.pairs)
    agree = "–"
    if rel and ours and "error" not in rel[0] and "error" not in ours[0]:
        a, b = rel[0]["losses"], ours[0]["losses"]
        ok, worst = losses_agree(a, b)
        agree = (f"{'ok' if ok else 'FAILS'}: max relative Δ {worst:.1e} (tolerance {LOSS_RTOL:g}); "
                 + ", ".join(f"{k} {a[k]:.6g}/{b[k]:.6g}" for k in sorted(set(a) & set(b))))
    what = (f"full-loss step: batch {args.batch}, LR {args.patch // 4}², HR/Ref {args.patch}², "
            f"rec+per+tpl+adv, 2 critic steps, best of {args.steps}")
    return "TTSR training step, random weights\n" + table([(what, summarise(rel), summarise(ours), agree)],
                                                          common["peak_name"])


def profile_step(args) -> str:
    """Where our training step's time goes: one warm-up step, then one step under torch.profiler;
    the top operators by self CPU (or CUDA) time. Needs no release."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    if args.threads:
        torch.set_num_threads(args.threads)
    spec = {"patch": args.patch, "batch": args.batch, "side": "ours", "device": str(args.device), "threads": args.threads}
    trainer, data = _our_trainer(spec)
    trainer.train_step(data, "main")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if trainer.device.type == "cuda" else [])
    start = time.perf_counter()
    with profile(activities=activities) as prof:
        trainer.train_step(data, "main")
    wall = time.perf_counter() - start
    key = "self_cuda_time_total" if trainer.device.type == "cuda" else "self_cpu_time_total"
    return (f"our training step under torch.profiler: batch {args.batch}, HR/Ref {args.patch}², "
            f"{wall:.1f} s wall (profiler on)\n" + prof.key_averages().table(sort_by=key, row_limit=20))


def cmd_metrics(args, common: dict) -> str:
    spec = {**common, "kind": "metrics", "repeats": args.repeats}
    rel, ours = _pairs(spec, args.pairs)
    agree = "–"
    if rel and ours and "error" not in rel[0] and "error" not in ours[0]:
        worst = max(abs(x - y) for p, q in zip(rel[0]["values"], ours[0]["values"]) for x, y in zip(p, q))
        agree = f"max |Δ| {worst:.1e} over {len(rel[0]['values'])} pairs ({'ok' if worst < 1e-6 else 'FAILS < 1e-6'})"
    return ("PSNR + SSIM (Y, the release's convention) per 500×332 pair\n"
            + table([("per pair", summarise(rel), summarise(ours), agree)], common["peak_name"]))


def main(argv: list[str] | None = None) -> int:
    from foundation.devices import DEVICE_HELP, device_arg, resolve_device

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command")
    commands = {}
    for name, text in (("fetch", "clone the release at the pinned commit into the cache folder"),
                       ("forward", "TTSR forward (test mode) on the cases"),
                       ("train-step", "one full-loss training step"),
                       ("metrics", "PSNR + SSIM per 500×332 pair")):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--release", help=f"the release's folder (default ${RELEASE_ENV} or "
                                         "~/.cache/ttsr-bench/release/TTSR)")
        commands[name] = p
        if name == "fetch":
            continue
        p.add_argument("--pairs", type=int, default=3 if name == "metrics" else 2,
                       help="release/ours pairs, each side in a fresh process, alternating")
        p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
        p.add_argument("--device", default="cpu", type=device_arg, help=DEVICE_HELP)
        p.add_argument("--data-root", default=None, help="test sets (default: the settings' data root)")
    commands["forward"].add_argument("--cases", default="cufed5,urban100,manga109")
    commands["forward"].add_argument("--weights", help="TTSR checkpoint (default: seeded random weights)")
    commands["train-step"].add_argument("--batch", type=int, default=9)
    commands["train-step"].add_argument("--patch", type=int, default=160, help="HR/Ref side (LR = patch / 4)")
    commands["train-step"].add_argument("--steps", type=int, default=1, help="timed steps after the first")
    commands["train-step"].add_argument("--profile", action="store_true",
                                        help="instead: where our step's time goes (torch.profiler; no release needed)")
    commands["metrics"].add_argument("--repeats", type=int, default=10, help="timed passes per child")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))), flush=True)
        return 0
    if not args.command:
        parser.error("name a subcommand: fetch, forward, train-step or metrics")
    if args.command == "train-step" and args.profile:
        args.device = resolve_device(args.device)
        print(profile_step(args))
        return 0
    folder = release_dir(args.release)
    if args.command == "fetch":
        return fetch(folder)
    missing = release_missing(folder)
    if missing:
        print(missing)
        return 0
    import torch

    from foundation import settings

    device = resolve_device(args.device)
    configured = settings.resolve(data_root=None).data_root
    data_root = args.data_root or (str(configured) if configured else None)
    peak_name = "CUDA max allocated" if device.type == "cuda" else "peak RSS"
    threads = args.threads or torch.get_num_threads()
    common = {"release": str(folder), "device": str(device), "threads": args.threads, "data_root": data_root,
              "peak_name": peak_name}
    print(f"# {args.command}: device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else f", {os.cpu_count()} CPUs")
          + f", torch {torch.__version__}, {threads} threads, release {RELEASE_COMMIT[:10]} from {folder}, "
          f"{args.pairs} interleaved pairs in fresh processes", flush=True)
    text = {"forward": cmd_forward, "train-step": cmd_train, "metrics": cmd_metrics}[args.command](args, common)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(cli_main(main)())
