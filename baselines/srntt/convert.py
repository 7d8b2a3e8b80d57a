"""Convert the official SRNTT release files to PyTorch (release ZZUTK/SRNTT@195ce3a `SRNTT/model.py`, `SRNTT/vgg19.py`).

- `upscale.npz` (content extractor, 173 arrays), `srntt.npz` / `srntt_init.npz` (texture transfer,
  309 arrays): TensorLayer `save_npz` files holding one key `params`, an *ordered, unnamed* list of
  arrays in the order the layers were built. The order is the registration order of our modules
  (checked by a shape manifest): conv → [W, b] (or [W] without bias), BatchNorm →
  [beta, gamma, moving_mean, moving_variance]. TF kernels are HWIO (PyTorch wants OIHW), and
  TF's depth_to_space reads channel (i·r + j)·C + c where PixelShuffle reads c·r² + i·r + j, so
  the output channels of every conv before a pixel shuffle are permuted.
- `imagenet-vgg-verydeep-19.mat` (MatConvNet): kernels stored [w, h, in, out].

`python -m baselines.srntt.convert --upscale upscale.npz --texture srntt.npz --vgg
imagenet-vgg-verydeep-19.mat --out weights/srntt.safetensors` writes one safetensors file that
`baselines.srntt.method` loads (converted once, reused).
"""
from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save as safetensors_bytes
from torch import nn

from baselines.srntt.network import SRNTT, Upsample2x
from baselines.srntt.vgg import CONV_NAMES, MatConvNetVGG19
from foundation.cli_types import OneLineParser
from foundation.errors import UserError, cli_main
from foundation.fileio import atomic_write_bytes, check_not_an_input, check_output_file
from foundation.safeload import load_mat_file, refused_pickle_message

PIXEL_SHUFFLE_FACTOR = 2
#: How to get a loadable file when a .npz holds pickled objects (the release's hold only arrays).
NPZ_FIX = "re-download it from the SRNTT release, whose files hold only arrays"


@dataclass(frozen=True)
class ArraySlot:
    """One array of the release file: which PyTorch tensor it becomes and how."""

    target: str  # state-dict key
    tf_shape: tuple[int, ...]  # shape expected in the .npz
    kind: str  # "conv_weight", "conv_bias", "bn"
    shuffled: bool = False  # output channels feed a pixel shuffle

_BN_FIELDS = ("bias", "weight", "running_mean", "running_var")  # TensorLayer: beta, gamma, mean, var


def release_order(module: nn.Module, prefix: str = "") -> list[ArraySlot]:
    """The release's array order for `module`: its layers in registration (= creation) order."""
    slots: list[ArraySlot] = []
    parents = dict(module.named_modules())
    for name, layer in module.named_modules():
        key = f"{prefix}{name}"
        parent = parents[name.rsplit(".", 1)[0]] if "." in name else module
        if isinstance(layer, nn.Conv2d):
            out_ch, in_ch, kh, kw = layer.weight.shape
            shuffled = isinstance(parent, Upsample2x)
            slots.append(ArraySlot(f"{key}.weight", (kh, kw, in_ch, out_ch), "conv_weight", shuffled))
            if layer.bias is not None:
                slots.append(ArraySlot(f"{key}.bias", (out_ch,), "conv_bias", shuffled))
        elif isinstance(layer, nn.BatchNorm2d):
            slots.extend(ArraySlot(f"{key}.{field}", (layer.num_features,), "bn") for field in _BN_FIELDS)
    return slots


def depth_to_space_permutation(out_channels: int, factor: int = PIXEL_SHUFFLE_FACTOR) -> np.ndarray:
    """Index p such that PyTorch channel c·r² + k takes TF channel k·C + c (C = out/r²)."""
    groups = factor * factor
    base = out_channels // groups
    return np.array([k * base + c for c in range(base) for k in range(groups)])


def convert_array(slot: ArraySlot, array: np.ndarray) -> torch.Tensor:
    """One release array → the PyTorch tensor of `slot` (layout and channel order fixed)."""
    array = np.asarray(array, dtype=np.float32)
    if slot.kind == "conv_weight":
        array = array.transpose(3, 2, 0, 1)  # HWIO → OIHW
    if slot.shuffled:
        array = array[depth_to_space_permutation(array.shape[0])]
    return torch.from_numpy(np.ascontiguousarray(array))


class _RefusedGlobal(pickle.UnpicklingError):
    """A pickled object the array-only unpickler will not rebuild; `name` is its module.name."""

    def __init__(self, name: str):
        super().__init__(f"refusing to load {name}")
        self.name = name


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles NumPy arrays and nothing else: the object array of a `save_npz` file needs
    pickle, but a file must never be able to run code (never unpickle arbitrary objects)."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise _RefusedGlobal(f"{module}.{name}")
        return super().find_class(module, name)


def read_npz_params(path: Path) -> list[np.ndarray]:
    """The ordered `params` list of a TensorLayer `save_npz` file, or a UserError naming the file."""
    if not path.is_file():
        raise UserError(f"{path}: file not found; it ships with the official SRNTT release (SRNTT/models/SRNTT/)")
    if not zipfile.is_zipfile(path):
        raise UserError(f"{path}: not an .npz file (not a zip archive); re-download it from the SRNTT release")
    try:
        with zipfile.ZipFile(path) as archive:
            if "params.npy" not in archive.namelist():
                raise UserError(f"{path}: no 'params' array (found {archive.namelist()[:5]}); "
                                "expected a TensorLayer save_npz file of the SRNTT release")
            with archive.open("params.npy") as member:
                version = np.lib.format.read_magic(member)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                _, _, dtype = read_header(member)
                if dtype.hasobject:
                    params = _ArrayOnlyUnpickler(member).load()
                else:
                    params = np.lib.format.read_array(member)
        arrays = [np.asarray(a) for a in params]
    except UserError:
        raise
    except _RefusedGlobal as err:
        raise UserError(refused_pickle_message(path, err.name, NPZ_FIX)) from err
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, pickle.UnpicklingError, TypeError) as err:
        raise UserError(f"{path}: not a readable SRNTT release .npz ({err}); re-download it") from err
    if any(a.dtype.hasobject or a.dtype.kind not in "fiu" for a in arrays):
        raise UserError(f"{path}: 'params' holds non-numeric entries; expected the SRNTT release arrays")
    return arrays


def state_dict_from_npz(path: Path, module: nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """Map every array of `path` onto `module`'s parameters by release order, checking every shape."""
    arrays = read_npz_params(path)
    slots = release_order(module, prefix)
    if len(arrays) != len(slots):
        raise UserError(f"{path}: holds {len(arrays)} arrays, expected {len(slots)} for "
                        f"{type(module).__name__} (is it the right file: upscale.npz vs srntt.npz?)")
    state = {}
    for index, (slot, array) in enumerate(zip(slots, arrays)):
        if tuple(array.shape) != slot.tf_shape:
            raise UserError(f"{path}: array {index} has shape {tuple(array.shape)}, expected "
                            f"{slot.tf_shape} for {slot.target}; the file does not match the SRNTT release")
        state[slot.target] = convert_array(slot, array)
    return state


def _mat_field(struct, name):
    return getattr(struct, name) if hasattr(struct, name) else struct[name]


def state_dict_from_matconvnet(path: Path, prefix: str = "vgg.") -> dict[str, torch.Tensor]:
    """VGG19 conv weights from `imagenet-vgg-verydeep-19.mat` (kernels [w, h, in, out], release `SRNTT/vgg19.py`)."""
    if not path.is_file():
        raise UserError(f"{path}: file not found; get imagenet-vgg-verydeep-19.mat from "
                        "http://www.vlfeat.org/matconvnet/models/imagenet-vgg-verydeep-19.mat")
    fix = "get imagenet-vgg-verydeep-19.mat from http://www.vlfeat.org/matconvnet/models/imagenet-vgg-verydeep-19.mat"
    data = load_mat_file(path, "MatConvNet model file", fix, squeeze_me=True, struct_as_record=False)
    if "layers" not in data:
        raise UserError(f"{path}: not a MatConvNet model file with a 'layers' array; {fix}")
    layers = np.atleast_1d(data["layers"])
    convs = {}
    for layer in layers:
        name, kind = str(_mat_field(layer, "name")), str(_mat_field(layer, "type"))
        if kind == "conv":
            convs[name] = _mat_field(layer, "weights")
    missing = [name for name in CONV_NAMES if name not in convs]
    if missing:
        raise UserError(f"{path}: conv layers {missing[:3]} not found; expected the MatConvNet VGG19")
    vgg = MatConvNetVGG19()
    state = {}
    for name in CONV_NAMES:
        kernel, bias = (np.asarray(w, dtype=np.float32) for w in convs[name])
        expected = tuple(vgg.convs[name].weight.shape)
        weight = kernel.transpose(3, 2, 1, 0)  # [w, h, in, out] → [out, in, h, w]
        if weight.shape != expected:
            raise UserError(f"{path}: {name} kernel has shape {kernel.shape}, expected "
                            f"[w, h, in, out] = {(expected[3], expected[2], expected[1], expected[0])}")
        state[f"{prefix}convs.{name}.weight"] = torch.from_numpy(np.ascontiguousarray(weight))
        state[f"{prefix}convs.{name}.bias"] = torch.from_numpy(bias.reshape(-1).copy())
    return state


def npz_origin(path: Path) -> str | None:
    """The `origin` note of a file written by `random_release` (release files carry none)."""
    with zipfile.ZipFile(path) as archive:
        if "origin.npy" not in archive.namelist():
            return None
        with archive.open("origin.npy") as member:
            try:
                return str(np.lib.format.read_array(member, allow_pickle=False))
            except ValueError as err:  # an object array: never unpickled
                raise UserError(refused_pickle_message(f"{path} (origin.npy)", None, NPZ_FIX)) from err


def convert(upscale: Path, texture: Path, vgg: Path) -> dict[str, torch.Tensor]:
    """All three release files → one complete state dict of `SRNTTPipeline` (network + VGG)."""
    network = SRNTT()
    state = state_dict_from_npz(upscale, network.content_extractor, "network.content_extractor.")
    state.update(state_dict_from_npz(texture, network.texture_transfer, "network.texture_transfer."))
    state.update(state_dict_from_matconvnet(vgg))
    for key, value in network.state_dict().items():  # BatchNorm counters: not in the release
        if key.endswith("num_batches_tracked"):
            state[f"network.{key}"] = torch.zeros_like(value)
    return state


@cli_main
def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m baselines.srntt.convert", description=__doc__.split("\n")[0])
    parser.add_argument("--upscale", type=Path, required=True, help="upscale.npz (content extractor)")
    parser.add_argument("--texture", type=Path, required=True,
                        help="srntt.npz (SRNTT) or srntt_init.npz (SRNTT-rec / SRNTT-l2)")
    parser.add_argument("--vgg", type=Path, required=True, help="imagenet-vgg-verydeep-19.mat")
    parser.add_argument("--out", type=Path, required=True, help="output .safetensors")
    args = parser.parse_args(argv)
    check_output_file(args.out, "--out")
    check_not_an_input(args.out, "--out", [("--upscale", args.upscale), ("--texture", args.texture), ("--vgg", args.vgg)])
    state = convert(args.upscale, args.texture, args.vgg)
    origins = {npz_origin(args.upscale), npz_origin(args.texture)} - {None}
    origin = "; ".join(sorted(origins)) or (
        f"converted from the official SRNTT release files {args.upscale.name}, {args.texture.name}, {args.vgg.name}")
    metadata = {"method": "srntt", "texture": args.texture.name, "upscale": args.upscale.name, "origin": origin}
    atomic_write_bytes(args.out, safetensors_bytes(state, metadata=metadata))
    print(f"wrote {args.out} ({len(state)} tensors from {args.upscale.name}, {args.texture.name}, {args.vgg.name})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
