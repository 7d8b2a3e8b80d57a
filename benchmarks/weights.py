"""Weights of every method: `python -m benchmarks.weights list | fetch [NAME …] [--out DIR]`.

`list` shows, for each registered method (and the torchvision backbones vgg19 / vgg16 / alexnet),
whether its weights file is found and where, the file name, its source, the sha256 when known,
and where to put it: `--weights NAME=PATH`, `$TTSR_BENCH_WEIGHTS`, or `./weights`.

`fetch` downloads with resume and a sha256 check (`foundation.download`): method weights into `--out`
(default: the first folder of `$TTSR_BENCH_WEIGHTS`, else `./weights`), backbones into the torch
hub cache (`$TORCH_HOME/hub/checkpoints`) where `foundation.pretrained` looks for them. A direct
link goes through the project's downloader, a public Google Drive file or folder link through
gdown (e.g. TTSR.pt / TTSR-rec.pt from the TTSR release's folder). A file without a published
sha256 gets its digest recorded in the folder's SHA256SUMS on the first fetch, and checked on every
later fetch and use (a changed file is refused). Files only on OneDrive / Dropbox / Baidu, or
inside an archive, cannot be fetched: the command says so and prints the manual step. `--url`
fetches from a mirror instead of the recorded link (the hash is still checked).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tabulate import tabulate

from baselines import registry
from baselines.registry import TRAINED_HERE
from foundation import pretrained, settings
from foundation.cli_types import OneLineParser
from foundation.download import (check_recorded, check_url, download, download_drive, is_drive_link,
                                 record_sha256, recorded_sha256)
from foundation.errors import UserError, cli_main
from foundation.fileio import check_output_dir, sha256_file
from foundation.registry import Registry


def default_dest() -> Path:
    return settings.weight_dirs()[0]


def _short(sha: str | None) -> str:
    if not sha:
        return "unknown"
    return sha if len(sha) <= 12 else f"{sha[:8]}…{sha[-4:]}"


def entries(overrides: dict[str, Path]) -> list[dict[str, str]]:
    """One record per method and backbone: name, status, path, file, sha256, how to get it, source."""
    out = []
    for name in registry.names():
        method = registry.get(name)
        spec = method.weights
        if spec is None:
            out.append(dict(name=name, status="not needed", path="", file="-", sha256="-", how="-", source="",
                            origin="-"))
            continue
        try:
            path = registry.find_weights(method, overrides)
            status = "found" if path else "missing"
        except UserError as err:
            path, status = None, f"missing ({err})"
        recorded = recorded_sha256(path) if path and not spec.sha256 else None
        origin = spec.origin_of(spec.filename)
        out.append(dict(name=name, status=status, path=str(path or ""), file=spec.filename,
                        sha256=f"{_short(recorded)} (recorded)" if recorded else _short(spec.sha256),
                        how="fetch" if spec.fetchable else "train" if origin == TRAINED_HERE else "by hand",
                        origin=origin + (f" ({spec.trained_on})" if spec.trained_on else ""),
                        source=spec.link if spec.fetchable else spec.source))
    for name, backbone in pretrained.BACKBONES.items():
        path = pretrained.find_backbone(name)
        out.append(dict(name=name, status="found" if path else "missing", path=str(path or ""),
                        file=backbone.filename, sha256=f"{backbone.sha256_prefix}…", how="fetch (hub cache)",
                        source=backbone.url, origin="official (ImageNet)"))
    return out


def cmd_list(args) -> int:
    named = settings.resolve(args.settings, weights=args.weights, data=False, methods=registry.METHODS)
    records = entries(named.weights)
    print(tabulate([[r["name"], r["status"], r["file"], r["origin"], r["sha256"], r["how"]] for r in records],
                   headers=["method", "weights", "file", "origin (trained on)", "sha256", "get it"], tablefmt="simple"))
    found = [r for r in records if r["path"]]
    if found:
        print("\nFound:")
        for r in found:
            print(f"  {r['name']}: {r['path']}")
    missing = [r for r in records if r["status"].startswith("missing")]
    if missing:
        print("\nSources of the missing files:")
        for r in missing:
            print(f"  {r['name']} ({r['file']}): {r['source']}")
    print()
    print(f"Method weights are looked up in --weights NAME=PATH, the settings file's [weights], then ${registry.WEIGHTS_ENV} "
          f"(folders separated by '{os.pathsep}'), then ./weights, as <dir>/<file> or <dir>/<method>/<file>.")
    print(f"Backbones (vgg19, vgg16, alexnet) live in the torch hub cache: {pretrained.hub_checkpoint_dir()}.")
    print("`python -m benchmarks.weights fetch NAME` downloads the ones marked 'fetch' (direct or Google Drive "
          "links; resumable, sha256-checked); 'by hand': download from the source shown; 'train': no public weights, "
          "train them with the suite (`python -m benchmarks.train`, README 'Training').")
    for module, why in registry.import_failures().items():
        print(f"warning: {module} could not be imported ({why})", file=sys.stderr)
    return 0


def fetch_backbone(name: str, url: str | None, dest: Path | None) -> Path:
    spec = pretrained.BACKBONES[name]
    target = (dest or pretrained.hub_checkpoint_dir()) / spec.filename
    print(f"{name}: {url or spec.url} -> {target}")
    return download(url or spec.url, target, sha256=spec.sha256_prefix, desc=spec.filename)


def fetch_method(name: str, url: str | None, dest: Path | None) -> Path:
    """Download `name`'s weights file into `dest` (default: `default_dest()`): from `url`, else the
    spec's direct URL, else its Google Drive link. Checked against the published sha256; without
    one, against the folder's SHA256SUMS record, which the first download writes."""
    method = registry.get(name)
    spec = method.weights
    if spec is None:
        raise UserError(f"{name}: needs no weights")
    target = (dest or default_dest()) / spec.filename
    if url is None and not spec.fetchable:
        raise UserError(
            f"{name}: {spec.filename} has no direct or Google Drive download link (it is hosted on OneDrive / "
            f"Dropbox / Baidu, packed in an archive, or made by a conversion step), so no script can fetch it; "
            f"manual step: {spec.source}; then save it as {target} (or anywhere, and pass --weights {name}=PATH)")
    link = url or spec.link
    print(f"{name}: {link} -> {target}")
    if target.is_file():
        check_recorded(target)  # a file that changed since its first fetch: one line, not a silent reuse
    expected = spec.sha256 or recorded_sha256(target)
    if is_drive_link(link):
        path = download_drive(link, target, sha256=expected)
    else:
        path = download(link, target, sha256=expected, desc=spec.filename)
    if not expected:
        digest = sha256_file(path)
        record = record_sha256(path, digest)
        print(f"{name}: no published sha256 to check against; recorded this file's ({digest}) in {record}, "
              "checked on every later fetch and use")
    return path


def fetchable_names() -> list[str]:
    """Every method whose weights file has a direct or Google Drive link, then the backbones."""
    methods = [n for n in registry.names() if registry.get(n).weights is not None and registry.get(n).weights.fetchable]
    return methods + list(pretrained.BACKBONES)


def cmd_fetch(args) -> int:
    dest = Path(args.out).expanduser() if args.out else None
    if args.url and len(args.names) != 1:
        raise UserError("--url applies to one NAME at a time")
    valid = Registry("name", case_sensitive=False)  # methods and backbones, named in any case
    for name in registry.names() + list(pretrained.BACKBONES):
        valid.register(name, name=name)
    every = not args.names
    args.names = fetchable_names() if every else valid.canonical_names(args.names)
    if every:
        print(f"fetching every file with a direct or Google Drive link: {', '.join(args.names)}")
    if args.url:
        check_url(args.url, "--url")
    for name in args.names:  # every destination that gets a download is writable before the first one
        if name in pretrained.BACKBONES:
            check_output_dir(dest or pretrained.hub_checkpoint_dir(), "--out" if dest else None)
        elif registry.get(name).weights is not None and (args.url or registry.get(name).weights.fetchable):
            check_output_dir(dest or default_dest(), "--out" if dest else None)
    failed = []
    for name in args.names:
        try:
            if name in pretrained.BACKBONES:
                path = fetch_backbone(name, args.url, dest)
            else:
                path = fetch_method(name, args.url, dest)
        except UserError as err:
            if len(args.names) == 1:
                raise
            print(f"error: {err}", file=sys.stderr)  # the others still come; finished files stay
            failed.append(name)
            continue
        print(f"{name}: ok ({path})")
    if failed:
        others = "the others are in place; " if len(failed) < len(args.names) else ""
        raise UserError(f"{len(failed)} of {len(args.names)} files not fetched ({', '.join(failed)}; reasons above); "
                        f"{others}run the same command again to retry (interrupted ones resume)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m benchmarks.weights", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="show every method's weights: found/missing, source, sha256")
    p_list.add_argument("--weights", nargs="*", metavar="NAME=PATH", default=[],
                        help="explicit weights files, as for benchmarks.run")
    settings.add_settings_option(p_list, "[weights]")
    p_list.set_defaults(func=cmd_list)
    p_fetch = sub.add_parser("fetch", help="download weights: direct or Google Drive links (resumable, sha256-checked)")
    p_fetch.add_argument("names", nargs="*", metavar="NAME", help="method or backbone (vgg19, vgg16, alexnet); "
                         "none: every file that has a direct or Google Drive link")
    p_fetch.add_argument("--out", metavar="DIR", help="target folder (default: $TTSR_BENCH_WEIGHTS's first "
                                                      "folder or ./weights; backbones: the torch hub cache)")
    p_fetch.add_argument("--dest", dest="out", help=argparse.SUPPRESS)  # the old name, kept for one release
    p_fetch.add_argument("--url", help="download from this URL (a mirror) instead of the recorded one")
    p_fetch.set_defaults(func=cmd_fetch)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(cli_main(main)())
