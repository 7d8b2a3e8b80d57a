"""Train SRNTT with the project's trainer: `python -m benchmarks.train_srntt --config configs/srntt.toml
--init-from weights/srntt.safetensors [--data-root DIR] [--out runs/train/NAME] [--resume]`.

SRNTT's recipe (SRNTT paper §3.4, §4; release defaults, baselines.md §1.5) is in
`configs/srntt.toml` (5 epochs reconstruction only, then 50 with all losses: rec 1, per 1e-4,
texture 1e-4, adv 1e-6) and `configs/srntt-rec.toml` (reconstruction only = SRNTT-ℓ2, TTSR's
"SRNTT-rec"). Everything else — data, resume (`--resume`), AMP (`--amp bf16|fp16`), DDP
(`torchrun --nproc_per_node N -m benchmarks.train_srntt …`), logs, validation — is `benchmarks.train`'s
and takes the same options.

The frozen parts come from `--init-from`: a file written by `python -m baselines.srntt.convert`
(or a previous export of this trainer) holding `network.content_extractor.*` (the SRGAN of
`upscale.npz`) and `vgg.*` (MatConvNet VGG19). Training from a random content extractor or VGG is
not SRNTT, so a file labelled random (test-made `random_release` files) needs
`--allow-random-vgg`, and the run records it. The texture transfer starts from the release's
random initialisation, or from the file's with `--init-texture` (e.g. SRNTT from SRNTT-ℓ2).
Exports (`model_last.safetensors`, `model_best.safetensors` in the run folder) load with
`registry.get("srntt").load(path)` and `benchmarks.run --weights srntt=PATH`.

`[model]` options (checked with the rest of the config before anything is built; every other key
is `training.config`'s): `use_weight_map` (true or false: weight the texture loss by the
similarity map, §1.5; default false), `content_batch_stats` (true or false: the frozen content
extractor's BatchNorm uses batch statistics while training, as the release's `is_train=True`
graph; default false), `max_memory` (the memory-bounded swap's working
memory: a size such as "4GiB", or an integer of MiB ≥ 16, `foundation.budget`; default: automatic). The numeric options are `benchmarks.train`'s, with the same ranges.

Exports say where their frozen parts came from ("init_origin") and whether the run started from
random ones ("random": true and "RANDOM" in "origin", as `foundation.provenance` reads them).
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict, Field

from baselines.srntt.network import SRNTT, release_init
from training.srntt_recipe import SRNTTRecipe
from baselines.srntt.vgg import MatConvNetVGG19
from foundation.errors import UserError, cli_main
from foundation.fileio import check_output_dir
from foundation.budget import CONFIG_SIZE_HELP, ConfigSize, parse_memory
from foundation.devices import resolve_device
from foundation.distributed import init_distributed
from foundation.provenance import git_state
from training.config import TrainConfig, load_config

METHODS = ("srntt", "srntt-rec")


class SRNTTModelTable(BaseModel):
    """`[model]` of an SRNTT config (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    use_weight_map: bool = False
    content_batch_stats: bool = False
    max_memory: ConfigSize = Field(None, description=CONFIG_SIZE_HELP)


CONVERT_HINT = ("convert the official release with python -m baselines.srntt.convert --upscale upscale.npz "
                "--texture srntt_init.npz --vgg imagenet-vgg-verydeep-19.mat --out weights/srntt.safetensors")


def model_options(cfg: TrainConfig) -> dict:
    """The checked `[model]` options of an SRNTT config; `UserError` naming the file and key."""
    if cfg.method not in METHODS:
        raise UserError(f"{cfg.source}: method = {cfg.method!r} is not trained by benchmarks.train_srntt "
                        f"(known: {', '.join(METHODS)})")
    options = cfg.check_model(SRNTTModelTable).model_dump(exclude_unset=True)
    if options.get("max_memory") is not None:  # bytes from here on
        options["max_memory"] = parse_memory(options["max_memory"], f"{cfg.source}: [model] max_memory")
    return options


def parameter_line(cfg: TrainConfig, network: SRNTT | None = None) -> str:
    network = network or SRNTT()
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    texture, content, vgg = count(network.texture_transfer), count(network.content_extractor), count(MatConvNetVGG19())
    return (f"{cfg.name}: SRNTT {(texture + content) / 1e6:.3f}M parameters (texture transfer {texture / 1e6:.3f}M "
            f"trained, content extractor {content / 1e6:.3f}M frozen; VGG19 to relu5_1 {vgg / 1e6:.3f}M frozen)")


def load_init(path: Path, *, allow_random_vgg: bool, init_texture: bool) -> tuple[SRNTT, MatConvNetVGG19, str]:
    """(network, vgg, origin) from a converted or exported SRNTT file; the texture transfer is
    release-initialised (from the global torch RNG) unless `init_texture`."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: --init-from file not found; {CONVERT_HINT}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            origin = (handle.metadata() or {}).get("origin", "")
            state = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as err:  # noqa: BLE001 - a damaged file on the user's disk
        raise UserError(f"{path}: not a readable safetensors file ({err}); {CONVERT_HINT}") from err
    if "random" in origin.lower() and not allow_random_vgg:
        raise UserError(f"{path}: its content extractor and VGG19 are random ({origin}); training from them is "
                        f"not SRNTT — pass --allow-random-vgg for a smoke test, or {CONVERT_HINT}")
    network, vgg = SRNTT(), MatConvNetVGG19()
    release_init(network.texture_transfer)
    parts = [(network.content_extractor, "network.content_extractor."), (vgg, "vgg.")]
    if init_texture:
        parts.append((network.texture_transfer, "network.texture_transfer."))
    for module, prefix in parts:
        wanted = module.state_dict()
        given = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        missing = [k for k in wanted if k not in given and not k.endswith("num_batches_tracked")]
        wrong = [k for k in wanted if k in given and tuple(given[k].shape) != tuple(wanted[k].shape)]
        if missing or wrong:
            detail = f"missing {prefix}{missing[0]}" if missing else f"{prefix}{wrong[0]} has the wrong shape"
            raise UserError(f"{path}: not an SRNTT weights file ({detail}; {len(missing)} missing, "
                            f"{len(wrong)} misshapen); {CONVERT_HINT}")
        module.load_state_dict({k: given.get(k, v) for k, v in wanted.items()}, strict=True)
    return network, vgg, (origin or path.name) + (" (texture transfer too)" if init_texture else "")


def build(cfg: TrainConfig, *, init_from: Path, allow_random_vgg: bool, root: Path, out: Path,
          init_texture: bool = False, device: str | None = None, progress: bool = True,
          with_validation: bool = True, dist_info=None, dataset=None):
    """The Trainer for an SRNTT config (data and validation as `benchmarks.train.build`)."""
    from benchmarks.train import attach_validation, build_train_set
    from foundation.seeding import seed_everything
    from training.trainer import Trainer

    options = model_options(cfg)
    if dataset is None:
        dataset = build_train_set(cfg, root)
    seed_everything(cfg.data.seed)
    network, vgg, origin = load_init(init_from, allow_random_vgg=allow_random_vgg, init_texture=init_texture)
    recipe = SRNTTRecipe(network, vgg, name=cfg.method, use_weight_map=options.get("use_weight_map", False),
                         content_batch_stats=options.get("content_batch_stats", False),
                         max_memory=options.get("max_memory"), origin=origin)
    uses_per = cfg.loss.per > 0 and cfg.schedule.epochs > 0
    device = resolve_device(device)
    info = dist_info or init_distributed(device)
    random_init = "random" in origin.lower()  # as load_init: a file labelled random by its converter
    metadata = {"allow_random_vgg": bool(allow_random_vgg), "random": random_init,
                "random_parts": f"random content extractor and VGG19 from {Path(init_from).name}" if random_init else "",
                "init_from": str(init_from), "init_origin": origin,
                "offline_swap": "online, bicubic LR↑ and Ref↓↑ (release: SRGAN-upsampled; issue #13)",
                "git_commit": git_state()["commit"], "torch": str(torch.__version__), "config_name": cfg.name}
    trainer = Trainer(cfg, recipe, dataset, out, perceptual_net=recipe.perceptual_net if uses_per else None,
                      metadata=metadata, device=device, progress=progress, dist_info=info)
    if info.is_main:
        print(f"{parameter_line(cfg, network)}; {len(dataset)} training pairs, {trainer.steps_per_epoch} "
              f"steps/epoch, {trainer.total_steps} steps; device {trainer.device}, {info.world_size} process(es)"
              + ("; RANDOM content extractor/VGG19 (smoke test)" if allow_random_vgg else ""), flush=True)
    if with_validation and info.is_main:
        attach_validation(trainer, cfg, root)
    return trainer


@cli_main
def main(argv=None) -> int:
    from benchmarks.train import apply_overrides, check_run_folder, data_root, device_option, fit_and_report, make_parser

    parser = make_parser("python -m benchmarks.train_srntt", __doc__.split("\n")[0])
    parser.add_argument("--init-from", type=Path,
                        help="SRNTT safetensors (baselines.srntt.convert output) with the content extractor and VGG19")
    parser.add_argument("--init-texture", action="store_true",
                        help="also start the texture transfer from --init-from (default: release initialisation)")
    args = parser.parse_args(argv)
    cfg = apply_overrides(load_config(args.config), args)
    model_options(cfg)  # the whole config, [model] included, before anything is built
    out = Path(args.out) if args.out else Path("runs") / "train" / cfg.name
    if args.dry_run:
        print(parameter_line(cfg))
        return 0
    check_output_dir(out, "--out")
    check_run_folder(out, args.resume)
    if args.init_from is None:
        raise UserError(f"--init-from is required: the frozen content extractor and VGG19 of SRNTT; {CONVERT_HINT}")
    trainer = build(cfg, init_from=args.init_from, allow_random_vgg=args.allow_random_vgg,
                    root=data_root(cfg, args.data_root, args.settings), out=out, init_texture=args.init_texture,
                    device=device_option(args), progress=not args.no_progress)
    return fit_and_report(trainer, args, out)


if __name__ == "__main__":
    sys.exit(main())
