"""`python -m benchmarks.score`: score ready-made SR images (the outputs another method's authors
published, or your own) under one pass of a protocol, with the same rows, manifest, summary.csv,
views and report as `benchmarks.run`.

    python -m benchmarks.score --sr DIR --dataset cufed5 [--protocol table1] [--ref-mode stitched]
        [--name NAME] [--out DIR] [--data-root DIR] [--metrics psnr ssim …] [--settings FILE] [--force]

How: the folder becomes a method, `sr:NAME` (`SRFolder`), registered for the command only, and the
runner does the rest exactly as for a method: it loads the dataset and degrades each image as the
pass says (so HR is cropped to a multiple of the scale as for every method), calls the method, which
returns the stored SR file of the image it is on (the executor's `begin_image` hook), and measures it
with the pass's own settings (Y channel, border crop, rounding). So a stored SR image that equals a
method's rounded output gets exactly that method's PSNR/SSIM.

Naming rule (`pair_files`): an SR file in DIR (directly in it; any image suffix, any case:
`foundation.imageio.IMAGE_SUFFIXES`) pairs with the dataset image NAME (the `image` column of
rows.csv, e.g. CUFED5 `000`, the demo's `motorcycle_stereo`) when its name without the suffix is
`NAME`, `NAME<sep><anything>` with <sep> one of `_ - . @` (`000_TTSR.png`, `000@stitched.png`, the
file names `--save-images` writes), or `NAMEx4` (`000x4.png`; the pass's scale). Names are compared
case-sensitively. A file named exactly `NAME` wins over suffixed ones; a file that could pair with
two images goes to the longer name. An image with no file, or with several at the same rank
(`000.png` and `000.jpg`, or `000_a.png` and `000_b.png`), is a skipped image with the reason; files
pairing with no image are listed and ignored; when no image has a single file, nothing runs (one line,
exit 2: the images whose files pair ambiguously and those files, or that no file pairs at all).
An SR image must be the pass's HR size (the scale × the LR, after the protocol's crop); another size
is a skipped image with the reason.

Identity: the method is `sr:NAME`, its options (`benchmarks.identity`) are the table {file name:
sha256} of the paired files, and its `weights_sha256` is the sha256 of that table, so changed SR
files give new rows (earlier ones stay in rows.csv). The manifest's `weights` record says "SR images
from DIR (not a method run)". `seconds` / `peak_mem_mb` are those of reading the file.
"""
from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import torch

from baselines.registry import METHODS, NAME_PATTERN, NAME_RULE, Method
from foundation.cli_types import OneLineParser
from foundation.devices import DEVICE_HELP, device_arg
from foundation.errors import UserError, cli_main
from foundation.fileio import check_not_an_input, check_output_dir
from foundation.imageio import read_image
from foundation.tensors import image_to_tensor

#: what may follow an image name in an SR file's name (besides `x<scale>`)
SEPARATORS = ("_", "-", ".", "@")
PAIRING_RULE = ("an SR file pairs with image NAME when its name without the suffix is NAME, NAME followed by one "
                "of _ - . @ and anything (NAME_TTSR.png, NAME@stitched.png), or NAMEx4; exact names win")
PREFIX = "sr:"
NOT_A_RUN = "SR images from {folder} (not a method run)"


# ---------------------------------------------------------------------------------------- pairing
@dataclass
class Pairing:
    """How a folder's SR files pair with a dataset's images (`pair_files`)."""

    files: dict[str, Path] = field(default_factory=dict)      # image -> its SR file
    problems: dict[str, str] = field(default_factory=dict)    # image -> why it has no (single) file
    unpaired: list[Path] = field(default_factory=list)        # files pairing with no image
    ambiguous: dict[str, list[Path]] = field(default_factory=dict)  # image -> its competing files (in problems)


def _rank(stem: str, image: str, scale: int) -> int:
    """2: the file is named exactly after `image`; 1: `image` plus a separator or `x<scale>`; 0: no."""
    if stem == image:
        return 2
    rest = stem[len(image):] if stem.startswith(image) else ""
    if (len(rest) > 1 and rest[0] in SEPARATORS) or rest.lower() == f"x{scale}":
        return 1
    return 0


def pair_files(images: Sequence[str], files: Sequence[Path], scale: int = 4) -> Pairing:
    """Pair SR `files` with the dataset's `images` by the module's naming rule (module docstring):
    each file goes to the image it names exactly, else to the longest image name it starts with (plus
    a separator or `x<scale>`); per image the files of the best rank compete, one pairs, several are
    ambiguous (a `problems` entry), none is missing (a `problems` entry)."""
    by_image: dict[str, dict[int, list[Path]]] = {name: {} for name in images}
    pairing = Pairing()
    for path in files:
        stem = path.name[: -len(path.suffix)] if path.suffix else path.name
        ranked = [(_rank(stem, name, scale), len(name), name) for name in images]
        rank, _, name = max(ranked, default=(0, 0, ""))
        if rank == 0:
            pairing.unpaired.append(path)
            continue
        by_image[name].setdefault(rank, []).append(path)
    for name in images:
        found = by_image[name]
        best = found[max(found)] if found else []
        if len(best) == 1:
            pairing.files[name] = best[0]
        elif best:
            pairing.ambiguous[name] = list(best)
            pairing.problems[name] = (f"several SR files pair with it ({', '.join(p.name for p in best)}); "
                                      "keep one of them in the folder")
        else:
            pairing.problems[name] = f"no SR file for it (e.g. {name}.png; {PAIRING_RULE})"
    return pairing


def ambiguity(ambiguous: Mapping[str, Sequence[Path]], shown: int = 3) -> str:
    """"N image(s) pair with several files: IMAGE (FILE, FILE), …" for `Pairing.ambiguous`."""
    items = [f"{image} ({', '.join(p.name for p in files)})" for image, files in list(ambiguous.items())[:shown]]
    more = " …" if len(ambiguous) > shown else ""
    return f"{len(ambiguous)} image(s) pair with several files: {', '.join(items)}{more}"


# ----------------------------------------------------------------------------------- the method
class SRFolder(Method):
    """A folder of stored SR images as a method, `sr:NAME`, registered for one command (`registered`).

    Its call returns the stored SR file of the image the executor says it is on (`begin_image`):
    float 1×3×H×W in [0, 255] on the batch's device. It raises `UserError`, which the runner turns
    into a skipped image with the reason, when the image has no single file (`Pairing.problems`), the
    file is unreadable, or its size is not `scale` × the LR (the pass's HR after its crop).
    `options()` is the {file name: sha256} table of the paired files (the rows' identity).
    """

    takes_multiple_refs = True  # references are not read, so a pass giving several can run too
    convention = "stored SR image file, RGB uint8"

    def __init__(self, name: str, folder: Path, pairing: Pairing, digests: Mapping[str, str], kind: str,
                 scale: int) -> None:
        super().__init__()
        self.name, self.kind, self.scale = name, kind, scale
        self.folder, self.pairing, self.digests = Path(folder), pairing, dict(digests)
        self.description = NOT_A_RUN.format(folder=self.folder.resolve())
        self.image: str | None = None

    def load(self, weights_path=None, device="cpu") -> "SRFolder":
        self.device = torch.device(device)
        return self

    def options(self) -> dict[str, object]:
        return {"scale": self.scale, "sr_files": self.digests}

    def provenance(self) -> dict[str, object]:
        """The manifest's `weights` record of this method (`runner.plan.Passes.prepare` applies it)."""
        return {"path": str(self.folder.resolve()), "sha256": table_sha256(self.digests), "found_in": "--sr",
                "origin": self.description, "random": False, "published": None, "files": len(self.digests)}

    def begin_image(self, image: str, evaluation) -> None:
        """The executor's hook: the image (rows.csv `image`) the next call is for."""
        self.image = image

    def __call__(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        self.extras = {}
        if self.image not in self.pairing.files:
            raise UserError(self.pairing.problems.get(self.image, f"no SR file for image {self.image!r}"))
        path = self.pairing.files[self.image]
        sr = read_image(path)
        lr = batch["lr"]
        want = (lr.shape[-2] * self.scale, lr.shape[-1] * self.scale)
        if sr.shape[:2] != want:
            raise UserError(f"SR file {path.name} is {sr.shape[1]}×{sr.shape[0]}; expected {want[1]}×{want[0]} "
                            f"(the pass's HR after its crop: {self.scale}× the LR)")
        return image_to_tensor(sr, lr.device)


def table_sha256(digests: Mapping[str, str]) -> str:
    """sha256 of a {file name: sha256} table (sorted lines `name  sha256`): the SR images as one value."""
    text = "".join(f"{name}  {sha}\n" for name, sha in sorted(digests.items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ------------------------------------------------------------------------------------------- CLI
def build_parser() -> OneLineParser:
    from benchmarks import protocols
    from foundation import settings as settings_mod

    parser = OneLineParser(
        prog="python -m benchmarks.score",
        description="Score a folder of ready-made SR images under one pass of a protocol (the protocol's crop, "
                    "Y conversion and rounding); same run folder (rows.csv, summary.csv, manifest.json) and "
                    "views as `benchmarks.run`. Naming rule: " + PAIRING_RULE + ".",
        epilog="Exit status: 0 done; 2 bad input (one line; e.g. no SR file pairs with an image); 3 nothing "
               "measured (every image skipped).")
    parser.add_argument("--sr", type=Path, required=True, metavar="DIR", help="folder of SR images")
    parser.add_argument("--dataset", required=True, metavar="NAME", help="the test set the SR images are of")
    parser.add_argument("--protocol", default="default", metavar="NAME",
                        help=f"one of {', '.join(protocols.names())} (default: default)")
    parser.add_argument("--ref-mode", default=None, metavar="MODE",
                        help="which pass of the protocol on that dataset (its reference mode, e.g. stitched, l1; "
                             "default: the protocol's first pass of the dataset)")
    parser.add_argument("--name", default=None, metavar="NAME",
                        help="name of the SR images' method: rows say sr:NAME (default: the folder's name)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR", help="run folder (default: runs/sr-NAME)")
    parser.add_argument("--data-root", type=Path, default=None, metavar="DIR",
                        help="folder holding the test sets (default: the settings file's data_root, "
                             f"${settings_mod.ENV['data_root']}, else ./data)")
    parser.add_argument("--metrics", nargs="+", default=None, metavar="NAME",
                        help="measures to compute (default: the settings file's metrics, else psnr ssim lpips)")
    parser.add_argument("--device", type=device_arg, default=None,
                        help=f"{DEVICE_HELP}; when not given, the settings file's device")
    settings_mod.add_settings_option(parser, "data_root, device, metrics, plugins")
    settings_mod.add_plugin_option(parser)
    parser.add_argument("--force", action="store_true", help="recompute rows that are already finished")
    return parser


def choose_pass(protocol_name: str, dataset: str, ref_mode: str | None):
    """The protocol's `Evaluation` of `dataset` under `ref_mode` (a row label or any spelling of a
    reference mode; None: the protocol's first pass of the dataset); `UserError` otherwise."""
    from benchmarks import protocols
    from benchmarks.datasets import refmodes

    protocol = protocols.get(protocol_name)
    passes = [e for e in protocol.evaluations if e.dataset == dataset]
    if not passes:
        raise UserError(f"--dataset {dataset}: not part of protocol {protocol.name!r}; its datasets: "
                        f"{', '.join(protocol.datasets())}")
    if ref_mode is None:
        return passes[0]
    mode = refmodes.find(ref_mode)
    label = mode.label if mode is not None else str(ref_mode).strip().lower()
    for evaluation in passes:
        if evaluation.ref_mode == label:
            return evaluation
    raise UserError(f"--ref-mode {ref_mode}: protocol {protocol.name!r} has no {dataset} pass with that reference "
                    f"mode; its {dataset} passes: {', '.join(e.ref_mode for e in passes)}")


def image_names(evaluation, settings_file, data_root) -> list[str]:
    """The image names of a pass's dataset, as the runner will load it."""
    from benchmarks import datasets
    from foundation import settings as settings_mod

    root = None if evaluation.dataset == "demo" else settings_mod.resolve(settings_file, data_root).data_root
    samples = datasets.load(evaluation.dataset, root, **dict(evaluation.load_options, scale=evaluation.scale,
                                                             skip_bad=True))
    return list(samples.names)


def score(args, out=None) -> int:
    """Score `args.sr` (the parsed options): pair, register `sr:NAME` for the command, run the pass."""
    from benchmarks import datasets, protocols
    from benchmarks.run import run
    from benchmarks.runner.plan import RunSettings
    from foundation.fileio import sha256_file
    from foundation.imageio import list_images

    out = out or sys.stdout
    folder = Path(args.sr)
    if not folder.is_dir():
        raise UserError(f"--sr {folder}: {'is a file' if folder.exists() else 'no such folder'}; give the folder "
                        "holding the SR images")
    name = args.name if args.name is not None else folder.resolve().name
    if not NAME_PATTERN.fullmatch(name):
        raise UserError(f"--name {name!r}: {NAME_RULE}"
                        + ("" if args.name is not None else "; the folder's name does not fit: give --name"))
    method_name = PREFIX + name
    protocol = protocols.PROTOCOLS.canonical_names([args.protocol], "--protocol")[0]
    dataset = datasets.DATASETS.canonical_names([args.dataset], "--dataset")[0]
    evaluation = choose_pass(protocol, dataset, args.ref_mode)

    names = image_names(evaluation, args.settings, args.data_root)
    files = list_images(folder)
    pairing = pair_files(names, files, evaluation.scale)
    if not pairing.files and pairing.ambiguous:
        raise UserError(f"--sr {folder}: no {dataset} image has a single SR file; "
                        f"{ambiguity(pairing.ambiguous)}; keep one file per image in the folder ({PAIRING_RULE})")
    if not pairing.files:
        shown = ", ".join(p.name for p in files[:3]) + (" …" if len(files) > 3 else "") if files else "no image files"
        raise UserError(f"--sr {folder}: no SR file pairs with an image of {dataset} ({len(names)} images, e.g. "
                        f"{names[0] if names else '–'}); {PAIRING_RULE}; the folder holds: {shown}")
    try:
        digests = {path.name: sha256_file(path) for path in pairing.files.values()}
    except OSError as err:
        raise UserError(f"--sr {folder}: cannot read {err.filename} ({err.strerror})") from err
    kind = "refsr" if "refsr" in evaluation.kinds else "sisr"
    print(f"{NOT_A_RUN.format(folder=folder)}: {len(pairing.files)} of {len(names)} {dataset} images paired "
          f"(pass {evaluation.protocol}/{evaluation.ref_mode}: {evaluation.describe()})", file=out)
    if pairing.unpaired:
        print(f"ignored {len(pairing.unpaired)} file(s) pairing with no image: "
              f"{', '.join(p.name for p in pairing.unpaired[:5])}{' …' if len(pairing.unpaired) > 5 else ''}",
              file=out)

    def factory() -> SRFolder:
        return SRFolder(method_name, folder, pairing, digests, kind, evaluation.scale)

    settings = RunSettings(methods=[method_name], datasets=[dataset], ref_modes=[evaluation.ref_mode],
                           protocol=protocol, data_root=args.data_root, metrics=args.metrics,
                           settings=args.settings, force=args.force, device=args.device,
                           plugins=list(getattr(args, "plugins", None) or []),
                           out=args.out if args.out is not None else Path("runs") / f"sr-{name}")
    with METHODS.temporarily(factory, method_name, "--name"):
        result = run(settings, out)
    print(f"report: python -m benchmarks.report --runs {result.out}", file=out)
    return result.status


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.out is not None:
        check_output_dir(args.out, "--out")
        check_not_an_input(args.out, "--out", [("--sr", args.sr)])
    return score(args)


if __name__ == "__main__":
    sys.exit(main())
