"""Parameter counts of TTSR networks next to the paper's Table 3 figures.

``python -m benchmarks.parameters`` prints the count of a configuration (a `ttsr.config.VARIANTS`
name and/or the network options), ``--variants`` that of every variant of Tables 2 and 3. The suite's
count is measured from the network (`ttsr.model.parameter_count`, built on the meta device); the
paper's figure is the ``params_paper`` of the Table 3 row with that variant in
benchmarks/published.toml (TTSR paper Table 3, https://arxiv.org/abs/2006.04139; unconfirmed). The
paper's "M" is 2^20 parameters with the LTE counted (see `ttsr.config`).
"""
from __future__ import annotations

import argparse

from benchmarks import published
from foundation.cli_types import OneLineParser
from foundation.errors import cli_main
from ttsr.config import VARIANTS, TTSRConfig
from ttsr.model import parameter_count


def paper_counts() -> dict[str, float]:
    """The paper's parameter count (in parameters, "M" read as 10^6) of each Table 3 variant."""
    return {row.variant: row.params_paper["value"] for row in published.table("table3").rows
            if row.variant and row.params_paper}


def _format_row(name: str, config: TTSRConfig, paper: dict[str, float]) -> str:
    total, main, lte = (parameter_count(config, part) for part in (None, "MainNet", "LTE"))
    paper_s = f"{paper[name] / 1e6:.2f}M" if name in paper else "-"
    return (f"{name:<16} {total:>10,} {total / 1e6:>8.3f}M {total / 2**20:>8.2f}Mi "
            f"{main / 1e6:>8.3f}M {lte / 1e6:>7.3f}M {paper_s:>8}")


_HEADER = (f"{'variant':<16} {'parameters':>10} {'total':>9} {'÷2^20':>10} {'MainNet':>9} {'LTE':>8} {'paper':>8}")
_FOOTER = ("paper = Table 3 (unconfirmed); it matches total ÷ 2^20 (the paper's 'M' is 2^20 parameters, "
           "LTE included)")


@cli_main
def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m benchmarks.parameters",
                           description="Print the parameter count of a TTSR configuration.")
    parser.add_argument("--variant", choices=sorted(VARIANTS), help="start from a named ablation variant")
    parser.add_argument("--variants", action="store_true", help="print every variant of Tables 2 and 3")
    parser.add_argument("--n-feats", type=int)
    parser.add_argument("--num-res-blocks", help="e.g. 16+16+8+4")
    parser.add_argument("--res-scale", type=float)
    for name in ("hard-attention", "soft-attention", "learnable-lte", "csfi"):
        parser.add_argument(f"--{name}", dest=name.replace("-", "_"), action=argparse.BooleanOptionalAction)
    args = parser.parse_args(argv)
    paper = paper_counts()

    if args.variants:
        print(_HEADER)
        for name, config in VARIANTS.items():
            print(_format_row(name, config, paper))
        print(_FOOTER)
        return 0
    config = VARIANTS[args.variant] if args.variant else TTSRConfig()
    changes = {k: v for k, v in {
        "n_feats": args.n_feats, "num_res_blocks": args.num_res_blocks, "res_scale": args.res_scale,
        "hard_attention": args.hard_attention, "soft_attention": args.soft_attention,
        "learnable_lte": args.learnable_lte, "csfi": args.csfi}.items() if v is not None}
    if changes.get("hard_attention") is False and "soft_attention" not in changes:
        changes["soft_attention"] = False
    try:
        config = config.replace(**changes)
    except ValueError as err:
        parser.error(str(err))
    print(config.to_dict())
    print(_HEADER)
    name = args.variant or next((n for n, c in VARIANTS.items() if c == config and n in paper), "custom")
    print(_format_row(name, config, paper))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
