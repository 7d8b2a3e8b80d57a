"""Training pairs for reference-based SR (paper §4.1 training setting; the release's `dataset/cufed.py`).

One training sample is (LR, LR↑, HR, Ref, Ref↓↑) in [-1, 1], CHW float32:
- HR is a 160×160 patch (the CUFED training inputs are 160×160; larger images are randomly cropped);
  LR = HR↓4 and LR↑ = LR↑4 with PIL bicubic (`foundation.resize`), as the release does.
- Ref↓↑ is made at the reference's own size, then Ref and Ref↓↑ are zero-padded (black, i.e. −1
  after scaling) at the bottom/right to the HR size so that samples batch — the release's
  "complete ref and ref_sr to the same size"; a reference larger than the patch is randomly cropped.
- Augmentation: horizontal flip, vertical flip (p = 0.5 each) and a rotation by k·90°, drawn
  independently for the input triple and for the reference pair.

Two sources of (HR, Ref) pairs:
- `CUFEDPairs(root)`: `root/train/input/*` and `root/train/ref/*` paired by sorted name (11,871 pairs).
- `SelfReferencePairs(images)`: any HR images; the reference is a different random crop of the same
  image (for the demo and the tests, where no reference set exists).

Randomness is a pure function of (seed, epoch, index): every sample draws from its own
`numpy.random.Generator`, so the data do not depend on worker count, process count or on where a
run was resumed. The sample also carries the per-sample mixing factors ε of the WGAN-GP penalty
(`gp_eps`, one per critic step), which keeps single-process and DDP runs on the same numbers.

`EpochBatchSampler` turns torch's `DistributedSampler` order (seeded by seed + epoch) into this
rank's share of each global batch, starting at any step of the epoch (exact resume).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler
from torch.utils.data.distributed import DistributedSampler

from foundation.errors import UserError
from foundation.imageio import list_images, read_image
from foundation.resize import pil_bicubic
from foundation.tensors import image_to_tensor

class CUFEDPairs:
    """(HR, Ref) of the CUFED training set: `train/input` and `train/ref`, paired by sorted name."""

    def __init__(self, root: str | os.PathLike):
        root = Path(root)
        base = root / "train" if (root / "train").is_dir() else root
        inputs, refs = base / "input", base / "ref"
        for folder in (inputs, refs):
            if not folder.is_dir():
                raise UserError(f"{folder}: not found; the CUFED training set must be laid out as "
                                f"<root>/train/input/*.png and <root>/train/ref/*.png (pass --data-root)")
        self.inputs, self.refs = list_images(inputs), list_images(refs)
        if not self.inputs:
            raise UserError(f"{inputs}: no images found")
        if len(self.inputs) != len(self.refs):
            raise UserError(f"{base}: {len(self.inputs)} inputs but {len(self.refs)} references; "
                            f"they are paired by sorted name, so the counts must match")

    def __len__(self) -> int:
        return len(self.inputs)

    def get(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return read_image(self.inputs[index]), read_image(self.refs[index])


class SelfReferencePairs:
    """(HR crop, another crop) of the same image, for folders of HR images without references.

    `images`: uint8 arrays or image paths (read once, kept in memory). An epoch visits every image
    `repeats` times. Images smaller than the patch are enlarged (PIL bicubic) to fit, up to
    `MAX_ENLARGE`×: a smaller image is no HR image for this patch and is left out, with a warning
    naming it (`UserError` when none is left).
    """

    MAX_ENLARGE = 4  # an HR smaller than the LR patch (patch / scale for ×4) is not an HR image

    def __init__(self, images: Sequence[np.ndarray | str | os.PathLike], patch: int, repeats: int = 1):
        if not images:
            raise UserError("no training images: give at least one HR image")
        names = [f"image {i}" if isinstance(im, np.ndarray) else str(im) for i, im in enumerate(images)]
        arrays = [read_image(im) if not isinstance(im, np.ndarray) else im for im in images]
        smallest = -(-patch // self.MAX_ENLARGE)
        too_small = [f"{n} ({a.shape[1]}×{a.shape[0]})" for n, a in zip(names, arrays) if min(a.shape[:2]) < smallest]
        arrays = [a for a in arrays if min(a.shape[:2]) >= smallest]
        if not arrays:
            raise UserError(f"no training image is large enough: each needs at least {smallest} px per side for "
                            f"{patch}×{patch} HR patches (got {', '.join(too_small[:3])}"
                            f"{', …' if len(too_small) > 3 else ''}); use larger images or a smaller patch")
        if too_small:
            warnings.warn(f"{len(too_small)} training image(s) under {smallest} px per side left out: "
                          f"{', '.join(too_small[:5])}{', …' if len(too_small) > 5 else ''}", UserWarning, stacklevel=2)
        self.images = [self._fit(im, patch) for im in arrays]
        self.patch, self.repeats = patch, max(1, int(repeats))

    @staticmethod
    def _fit(image: np.ndarray, patch: int) -> np.ndarray:
        height, width = image.shape[:2]
        if min(height, width) >= patch:
            return image
        factor = patch / min(height, width)
        return pil_bicubic(image, (max(patch, round(width * factor)), max(patch, round(height * factor))))

    def __len__(self) -> int:
        return len(self.images) * self.repeats

    def get(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        image = self.images[index % len(self.images)]
        return random_crop(image, self.patch, rng), random_crop(image, self.patch, rng)


def random_crop(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    height, width = image.shape[:2]
    top = int(rng.integers(0, height - size + 1)) if height > size else 0
    left = int(rng.integers(0, width - size + 1)) if width > size else 0
    return image[top:top + size, left:left + size]


def augment(arrays: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """The same random flips (h, v) and rot90 applied to every array of one group."""
    flip_h, flip_v = rng.integers(0, 2), rng.integers(0, 2)
    turns = int(rng.integers(0, 4))
    out = []
    for array in arrays:
        if flip_h:
            array = array[:, ::-1]
        if flip_v:
            array = array[::-1]
        out.append(np.ascontiguousarray(np.rot90(array, turns)))
    return out


def zero_pad(image: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros((size, size, 3), dtype=np.uint8)
    out[:image.shape[0], :image.shape[1]] = image
    return out


class RefSRTrainSet(Dataset):
    """Map-style dataset indexed by `(epoch, index)` keys; see the module docstring."""

    def __init__(self, pairs, patch: int = 160, scale: int = 4, seed: int = 0, gan_k: int = 2):
        if patch % scale:
            raise UserError(f"HR patch size {patch} must be a multiple of the scale {scale}")
        self.pairs, self.patch, self.scale, self.seed, self.gan_k = pairs, patch, scale, seed, gan_k

    def __len__(self) -> int:
        return len(self.pairs)

    def rng(self, epoch: int, index: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, epoch, index]))

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        epoch, index = key
        rng = self.rng(epoch, index)
        hr, ref = self.pairs.get(index, rng)
        patch, scale = self.patch, self.scale
        if hr.shape[0] != patch or hr.shape[1] != patch:
            hr = random_crop(SelfReferencePairs._fit(hr, patch), patch, rng)
        lr = pil_bicubic(hr, (patch // scale, patch // scale))
        lrsr = pil_bicubic(lr, (patch, patch))
        if ref.shape[0] > patch or ref.shape[1] > patch:
            ref = random_crop(ref, patch, rng)
        height, width = ref.shape[:2]
        refsr = pil_bicubic(pil_bicubic(ref, (max(1, width // scale), max(1, height // scale))), (width, height))
        ref, refsr = zero_pad(ref, patch), zero_pad(refsr, patch)
        lr, lrsr, hr = augment((lr, lrsr, hr), rng)
        ref, refsr = augment((ref, refsr), rng)
        sample = {name: image_to_tensor(a, signed=True)[0] for name, a in
                  (("lr", lr), ("lrsr", lrsr), ("hr", hr), ("ref", ref), ("refsr", refsr))}
        sample["gp_eps"] = torch.from_numpy(rng.random(self.gan_k).astype(np.float32))
        return sample


class EpochBatchSampler(Sampler):
    """This rank's `(epoch, index)` keys for the steps `start_step …` of one epoch.

    The order is torch's `DistributedSampler` (shuffle, seed + epoch, drop_last); global batch i of
    the epoch is the same set of samples whatever the number of processes: rank r takes positions
    r, r + W, r + 2W, … of it.
    """

    def __init__(self, dataset_len: int, global_batch: int, *, epoch: int, seed: int,
                 rank: int = 0, world: int = 1, start_step: int = 0):
        if global_batch % world:
            raise UserError(f"batch size {global_batch} must be divisible by the number of processes {world}")
        self.steps = dataset_len // global_batch
        if self.steps == 0:
            raise UserError(f"{dataset_len} training samples are fewer than one batch of {global_batch}")
        self.local = global_batch // world
        self.sampler = DistributedSampler(range(dataset_len), num_replicas=world, rank=rank,
                                          shuffle=True, seed=seed, drop_last=True)
        self.at(epoch, start_step)

    def at(self, epoch: int, start_step: int = 0) -> "EpochBatchSampler":
        """Move to `epoch`, from its step `start_step` (a kept data loader iterates it again)."""
        self.epoch, self.start = epoch, start_step
        self.sampler.set_epoch(epoch)
        return self

    def __len__(self) -> int:
        return max(0, self.steps - self.start)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        order = list(self.sampler)
        for step in range(self.start, self.steps):
            chunk = order[step * self.local:(step + 1) * self.local]
            yield [(self.epoch, int(i)) for i in chunk]


def steps_per_epoch(dataset_len: int, global_batch: int) -> int:
    return dataset_len // global_batch
