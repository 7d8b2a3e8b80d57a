"""Small trainers for the trainer tests: synthetic images, random VGG, CPU, no downloads."""
from __future__ import annotations

import numpy as np
import torch

from ttsr.config import TTSRConfig
from training.config import TrainConfig
from training.data import RefSRTrainSet, SelfReferencePairs
from foundation.seeding import seed_everything
from training.trainer import Trainer
from training.ttsr_recipe import TTSRRecipe
from ttsr.vgg import VGG19Relu51


def synthetic_images(count: int = 2, size: int = 64, seed: int = 0) -> list[np.ndarray]:
    """Smooth colour images with some texture (sums of random sinusoids)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    images = []
    for _ in range(count):
        channels = []
        for _ in range(3):
            value = np.zeros((size, size))
            for _ in range(4):
                fy, fx, phase = rng.uniform(0.02, 0.3), rng.uniform(0.02, 0.3), rng.uniform(0, 6.28)
                value += np.sin(fy * yy + fx * xx + phase)
            channels.append(value)
        image = np.stack(channels, axis=2)
        image = (image - image.min()) / (image.max() - image.min()) * 255
        images.append(image.round().astype(np.uint8))
    return images


def small_config(**changes) -> TrainConfig:
    cfg = TrainConfig.from_dict({
        "name": "test", "model": {"n_feats": 8, "num_res_blocks": [1, 1, 1, 1]},
        "data": {"kind": "folder", "patch": 32, "batch_size": 2, "num_workers": 0, "repeats": 4, "seed": 3},
        "schedule": {"init_epochs": 1, "epochs": 1},
        "loss": {"rec": 1.0, "per": 1e-2, "tpl": 1e-2, "adv": 1e-3},
        "val": {"dataset": "none"}, "checkpoint": {"every": 2}, "log": {"every": 1},
        "device": {"channels_last": True}})
    for section, values in changes.items():
        for key, value in values.items():
            setattr(getattr(cfg, section), key, value)
    return cfg


def small_trainer(cfg: TrainConfig, out, images=None, **kwargs) -> Trainer:
    seed_everything(cfg.data.seed)
    images = images if images is not None else synthetic_images()
    dataset = RefSRTrainSet(SelfReferencePairs(images, cfg.data.patch, cfg.data.repeats), patch=cfg.data.patch,
                            scale=cfg.data.scale, seed=cfg.data.seed, gan_k=cfg.loss.gan_k)
    recipe = TTSRRecipe(TTSRConfig.from_dict(cfg.model), pretrained_lte=False)
    vgg = VGG19Relu51(random_ok=True)
    return Trainer(cfg, recipe, dataset, out, perceptual_net=vgg, device="cpu", progress=False,
                   metadata={"allow_random_vgg": True}, **kwargs)


def generator_state(path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["generator"]


class Crash(Exception):
    """Stands for kill -9 / Ctrl-C: the process stops where it is, nothing more is written."""


def crash_in_step(trainer: Trainer, step: int) -> None:
    """Make `trainer` stop (raise `Crash`) when it is about to run global step `step`."""
    real = trainer.train_step

    def train_step(batch, phase):
        if trainer.step + 1 == step:
            raise Crash(f"killed before step {step}")
        return real(batch, phase)

    trainer.train_step = train_step


def assert_same_state(a, b, where: str = "train_state") -> None:
    """Recursive bitwise equality of two loaded `train_state.pt` (tensors: dtype and values)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), (where, sorted(a), sorted(b))
        for key in a:
            assert_same_state(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_state(x, y, f"{where}[{i}]")
    else:
        assert a == b, (where, a, b)


def log_rows(folder, timing=("seconds",)) -> list[dict]:
    """`log.csv` rows without the timing columns."""
    import csv

    with open(folder / "log.csv", newline="", encoding="utf-8") as handle:
        return [{k: v for k, v in row.items() if k not in timing} for row in csv.DictReader(handle)]
