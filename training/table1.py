"""Table 1's training recipes as data: one `Spec` per registered method name (`baselines.registry`).

The TTSR paper retrained every Table 1 method on the CUFED training set; each spec says how its own
paper or release trained it. `training.table1_recipe.Table1Recipe` runs a spec with the one trainer
(`training.trainer`); `config_dict(name)` is its training config (TOML document form) for CUFED.

A spec holds: the network by registry name (`baselines.registry.METHODS`; built with its
`build()`, sizes from `[model] network` when given), its inputs (the batch entries the network
takes, in order), the loss terms with weights (pixel criterion and weight; VGG feature loss with
layer weights and criterion; EnhanceNet's texture loss; the GAN kind and weight; RankSRGAN's
rank-content weight), the optimiser (kind, lr, betas, momentum, weight decay, a factor for the
last layer's lr), the schedule (a `[schedule]` table), HR patch and batch, iterations (and, for
the GAN recipes, the pretraining iterations with the pixel loss alone, run as the trainer's init
phase), and `source` (paper section or release config at a commit) plus `checked` — what of it
was read from an opened source here, and what was not.

Iterations become epochs of the CUFED training set (`CUFED_PAIRS` = 11,871 pairs) with
`[schedule] max_steps` = the spec's iterations, so a run stops where the paper stopped whatever the
data; pretraining iterations become `init_epochs` the same way.

Not reproduced (said in each spec's `note`): SRGAN's 1/12.75 feature scale is its VGG loss weight
(1/12.75)²; the GAN recipes pretrain in the same run (their papers start from a separately trained
PSNR model with its own schedule); EnhanceNet released no training code.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

CUFED_PAIRS = 11871  # the CUFED training set (TTSR §4.1)


@dataclass(frozen=True)
class Spec:
    method: str
    source: str
    checked: str
    inputs: tuple[str, ...] = ("lr",)
    pixel: str = "l1"  # "l1", "mse" or "charbonnier"
    pixel_weight: float = 1.0  # in the full phase (the pretraining phase always uses weight 1)
    pixel_on: str = "rgb"  # "rgb", or "y": the pixel loss on BT.601 Y/255 (SRCNN trains on Y only)
    features: dict[str, float] = field(default_factory=dict)  # VGG layer → weight (`training.sisr_losses`)
    feature_criterion: str = "l1"
    texture: dict[str, float] = field(default_factory=dict)
    texture_patch: int = 16
    gan: str = ""  # "", "vanilla", "relativistic"
    adv: float = 0.0
    rank: float = 0.0  # RankSRGAN's rank-content weight (needs a ranker)
    optimizer: str = "adam"
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = 0.9
    weight_decay: float = 0.0
    last_layer_lr: float = 1.0  # SRCNN: the last layer learns at a tenth of the others' rate
    lr_d: float = 1e-4
    betas_d: tuple[float, float] = (0.9, 0.999)
    schedule: dict[str, Any] = field(default_factory=dict)
    patch: int = 128
    batch: int = 16
    iterations: int = 1_000_000
    pretrain_iterations: int = 0
    note: str = ""


MMSR = "XPixelGroup/RankSRGAN@b313c24 codes/options/train/"  # MMSR-format configs shipped with RankSRGAN
MMEDIT = "open-mmlab/mmediting@237e8c9 configs/restorers/srresnet_srgan/"

SPECS: dict[str, Spec] = {s.method: s for s in (
    Spec("srcnn", pixel="mse", pixel_on="y", optimizer="sgd", lr=1e-4, momentum=0.9, last_layer_lr=0.1, patch=32,
         batch=128, iterations=15_000_000, inputs=("lr_up",),
         source="Dong et al., TPAMI 2016 (arXiv 1501.00092) §4.1/§5: MSE, SGD with momentum 0.9, lr 1e-4 for the "
                "first two layers and 1e-5 for the last, 33×33 sub-images (here HR patch 32), batch 128",
         checked="from the paper as recalled; no source opened here (the release is Caffe/MATLAB)",
         note="iterations: the paper trains ~1.5·10^7–10^8 backprops; 1.5·10^7 here"),
    Spec("edsr", pixel="l1", lr=1e-4, betas=(0.9, 0.999), schedule={"lr_decay_steps": 200_000}, patch=192, batch=16,
         iterations=300 * 1000,
         source="Lim et al., CVPRW 2017 (arXiv 1707.02921) §4.2: L1, Adam β=(0.9, 0.999) ε=1e-8, lr 1e-4 halved "
                "every 2·10^5 minibatch updates, batch 16, 48×48 LR patches",
         checked="from the paper as recalled; no source opened here"),
    Spec("mdsr", pixel="l1", lr=1e-4, schedule={"lr_decay_steps": 200_000}, patch=192, batch=16, iterations=300_000,
         source="Lim et al., CVPRW 2017 §4.2 (as EDSR; MDSR trains its ×2/×3/×4 branches alternately — here the ×4 "
                "branch only)", checked="from the paper as recalled; no source opened here"),
    Spec("rdn", pixel="l1", lr=1e-4, schedule={"lr_decay_steps": 200 * 1000}, patch=128, batch=16,
         iterations=1000 * 1000,
         source="Zhang et al., CVPR 2018 (arXiv 1802.08797) §5.1: L1, Adam, lr 1e-4 halved every 200 epochs "
                "(1000 iterations each), batch 16, 32×32 LR patches, 200 epochs ×5",
         checked="from the paper as recalled; no source opened here",
         note="200 epochs of 1000 iterations = 2·10^5 steps per halving"),
    Spec("rcan", pixel="l1", lr=1e-4, schedule={"lr_decay_steps": 200_000}, patch=192, batch=16,
         iterations=1_000_000,
         source="Zhang et al., ECCV 2018 (arXiv 1807.02758) §4.1: L1, Adam β=(0.9, 0.999), lr 1e-4 halved every "
                "2·10^5 iterations, batch 16, 48×48 LR patches",
         checked="from the paper as recalled; no source opened here"),
    Spec("msrresnet", pixel="l1", lr=2e-4, betas=(0.9, 0.99),
         schedule={"cosine_periods": [250_000] * 4, "eta_min": 1e-7}, patch=128, batch=16, iterations=1_000_000,
         source=MMSR + "train_SRResNet.yml: L1 weight 1, Adam lr 2e-4 β=(0.9, 0.99), CosineAnnealingLR_Restart "
                "T_period 4×250000, restart weights 1, eta_min 1e-7, niter 10^6, batch 16, GT 128",
         checked="opened here; the same recipe as " + MMEDIT + "msrresnet_x4c64b16_g1_1000k_div2k.py (there β2 0.999)"),
    Spec("rrdb-psnr", pixel="l1", lr=2e-4, schedule={"lr_decay_steps": 200_000}, patch=128, batch=16,
         iterations=1_000_000,
         source="Wang et al., ECCVW 2018 (ESRGAN, arXiv 1809.00219) §4.1: PSNR-oriented model with L1, lr 2e-4 "
                "decayed by 2 every 2·10^5 minibatch updates, batch 16, HR 128",
         checked="from the paper as recalled; no source opened here"),
    Spec("msrgan", pixel="l1", pixel_weight=1e-2, features={"conv5_4": 1.0}, feature_criterion="l1", gan="vanilla",
         adv=5e-3, lr=1e-4, betas=(0.9, 0.99), lr_d=1e-4, betas_d=(0.9, 0.99),
         schedule={"lr_milestones": [50_000, 100_000, 200_000, 300_000]}, patch=128, batch=16, iterations=400_000,
         pretrain_iterations=1_000_000,
         source=MMSR + "train_SRGAN.yml: pixel L1 1e-2, feature L1 (VGG19 conv5_4 before ReLU) 1, GAN 'gan' 5e-3, "
                "Adam 1e-4 β=(0.9, 0.99) for G and D, MultiStepLR [5e4, 1e5, 2e5, 3e5] γ 0.5, 4·10^5 iterations, "
                "batch 16, GT 128, from MSRResNet",
         checked="opened here"),
    Spec("srgan", pixel="mse", pixel_weight=0.0, features={"relu5_4": (1 / 12.75) ** 2}, feature_criterion="mse",
         gan="vanilla", adv=1e-3, lr=1e-4, betas=(0.9, 0.999), schedule={"lr_milestones": [100_000], "lr_gamma": 0.1},
         patch=96, batch=16, iterations=200_000, pretrain_iterations=1_000_000,
         source="Ledig et al., CVPR 2017 (arXiv 1609.04802) §2.2/§3.2: content loss VGG54 (φ5,4 after activation, "
                "rescaled by 1/12.75) + 1e-3·adversarial, Adam β1 0.9, lr 1e-4 for 10^5 then 1e-5 for 10^5 "
                "updates, from an MSE SRResNet (10^6 updates), batch 16, HR 96",
         checked="from the paper as recalled; no source opened here",
         note="the VGG critic here is MMSR's layout (the paper's has dense 1024), sized for the patch"),
    Spec("esrgan", pixel="l1", pixel_weight=1e-2, features={"conv5_4": 1.0}, feature_criterion="l1",
         gan="relativistic", adv=5e-3, lr=1e-4, schedule={"lr_milestones": [50_000, 100_000, 200_000, 300_000]},
         patch=128, batch=16, iterations=400_000, pretrain_iterations=1_000_000,
         source="Wang et al., ECCVW 2018 (arXiv 1809.00219) §3.3–§4.1: L_G = L_percep (VGG19 conv5_4 before "
                "activation, L1) + 5e-3·L_G^Ra + 1e-2·L1, lr 1e-4 halved at [50k, 100k, 200k, 300k], from the "
                "PSNR-oriented model, batch 16, HR 128",
         checked="from the paper as recalled; no source opened here"),
    Spec("rsrgan", pixel="l1", pixel_weight=0.0, features={"conv5_4": 1.0}, feature_criterion="l1", gan="vanilla",
         adv=5e-3, rank=3e-2, lr=1e-4, betas=(0.9, 0.99), lr_d=1e-4, betas_d=(0.9, 0.99),
         schedule={"lr_milestones": [50_000, 100_000, 200_000, 300_000]}, patch=296, batch=8, iterations=500_000,
         pretrain_iterations=1_000_000,
         source=MMSR + "train_RankSRGAN.yml: pixel 0, feature L1 1, GAN 5e-3, rank-content (R_weight) 3e-2 with "
                "R_bias 0 (codes/models/RankSRGAN_model.py: Σ sigmoid(R(SR) − bias)), Adam 1e-4 β=(0.9, 0.99), "
                "MultiStepLR [5e4, 1e5, 2e5, 3e5] γ 0.5, 5·10^5 iterations, batch 8, GT 296, from SRResNet",
         checked="opened here", note="the ranker (mmsr_Ranker_NIQE.pth) is given with --ranker; its GT 296 critic "
                                      "is sized here for the patch"),
    Spec("enet", pixel="mse", pixel_weight=0.0, features={"pool2": 2e-1, "pool5": 2e-2}, feature_criterion="mse",
         texture={"relu1_1": 3e-7, "relu2_1": 3e-7, "relu3_1": 3e-7}, texture_patch=16, gan="vanilla", adv=2.0,
         lr=1e-4, patch=128, batch=16, iterations=200_000, inputs=("lr",),
         source="Sajjadi et al., ICCV 2017 (arXiv 1612.07919) §4/Table 1 (ENet-PAT): L_P on pool2 and pool5 "
                "(2e-1, 2e-2), L_T Gram on conv1.1/2.1/3.1 over 16×16 patches (3e-7 each), L_A weight 2",
         checked="loss weights as recalled from the paper; NOT confirmed from an opened source here (no training "
                 "code was released) — check against the paper's supplementary before trusting the recipe",
         note="weights unconfirmed"),
    Spec("crossnet", pixel="charbonnier", lr=1e-4, weight_decay=5e-5, schedule={"lr_decay_steps": 150_000,
                                                                                  "lr_gamma": 0.2},
         patch=160, batch=2, iterations=1_000_000, inputs=("lr_up", "ref"),
         source="htzheng/ECCV2018_CrossNet_RefSR@03959f2 README.md step 3 and train_multi_warping.py: "
                "CharbonnierLoss (ε 1e-3, sum / batch), Adam lr 1e-4 weight decay 5e-5, lr × 0.2 every "
                "step_size 150000 iterations, batch 2, max_iter 10^6; inputs: bicubic LR↑ and the reference",
         checked="opened here"),
)}


def epochs_for(iterations: int, batch: int, pairs: int = CUFED_PAIRS) -> int:
    """Epochs of `pairs` training pairs that cover `iterations` steps of `batch` (at least 1)."""
    return max(1, math.ceil(iterations * batch / pairs)) if iterations else 0


def config_dict(method: str) -> dict[str, Any]:
    """The training config (TOML document form, `training.config`) of a Table 1 recipe on CUFED."""
    s = SPECS[method]
    schedule = {"init_epochs": epochs_for(s.pretrain_iterations, s.batch),
                "epochs": epochs_for(s.iterations, s.batch),
                "max_steps": s.pretrain_iterations + s.iterations, "lr_gamma": 0.5, **s.schedule}
    return {
        "name": method, "method": method, "model": {},
        "data": {"kind": "cufed", "patch": s.patch, "batch_size": s.batch, "num_workers": 4, "seed": 0},
        "schedule": schedule,
        "optim": {"kind": s.optimizer, "lr": s.lr, "lr_lte": 0.0, "betas": list(s.betas), "momentum": s.momentum,
                  "weight_decay": s.weight_decay, "lr_d": s.lr_d, "betas_d": list(s.betas_d)},
        # the trainer's own L_per/L_tpl are TTSR's: off; the recipe returns its terms (`method_losses`)
        "loss": {"rec": 1.0, "per": 0.0, "tpl": 0.0, "adv": s.adv, "gan_k": 1,
                 "rec_type": "l2" if s.pixel == "mse" else "l1"},
        "val": {"every": 0, "dataset": "auto"},
        "checkpoint": {"every": 1000}, "log": {"every": 50},
    }


#: Reduced networks for the CPU proofs (tests, `reproduce --miniature`): constructor keywords of the
#: method's network class (`[model] network`); a method not listed trains at its published size.
REDUCED: dict[str, dict[str, Any]] = {
    "edsr": {"n_feats": 8, "n_blocks": 1, "res_scale": 1.0},
    "mdsr": {"n_feats": 8, "n_blocks": 1, "res_scale": 1.0, "pre_blocks": 2},
    "rcan": {"n_feats": 8, "n_groups": 1, "n_blocks": 1, "reduction": 4},
    "msrresnet": {"n_feats": 8, "n_blocks": 1},
    "msrgan": {"n_feats": 8, "n_blocks": 1},
    "rrdb-psnr": {"n_feats": 8, "n_blocks": 1, "growth": 4},
    "esrgan": {"n_feats": 8, "n_blocks": 1, "growth": 4},
    "rdn": {"n_feats": 8, "n_blocks": 2, "n_convs": 2, "growth": 8},
    "srgan": {"n_feats": 8, "n_blocks": 1},
    "rsrgan": {"n_feats": 8, "n_blocks": 1},
    "enet": {"n_feats": 8, "n_blocks": 1},
}
