"""Plot a training log: `python -m training.plot_log runs/train/NAME/log.csv --out curve.png`.

Left: training losses (reconstruction, and the other terms when present) against the step.
Right: validation PSNR (Y, the evaluation protocol) against the step, with the bicubic PSNR of
the same images as a dashed line; the title says at which step validation first passed bicubic.
"""
from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

from foundation.cli_types import OneLineParser
from foundation.errors import UserError, cli_main
from foundation.fileio import atomic_write_bytes, check_not_an_input, check_output_file

LOSS_COLUMNS = ("rec", "per", "tpl", "adv")


def read_log(path: Path) -> tuple[list[dict], list[dict]]:
    if not path.is_file():
        raise UserError(f"{path}: training log not found (a run folder holds log.csv)")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [r for r in rows if r.get("kind") == "train"], [r for r in rows if r.get("kind") == "val"]


def first_step_past_bicubic(val: list[dict]) -> int | None:
    for row in val:
        if row.get("val_psnr") and row.get("val_bicubic_psnr") and float(row["val_psnr"]) > float(row["val_bicubic_psnr"]):
            return int(row["step"])
    return None


def plot(log_path: Path, out: Path) -> int | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train, val = read_log(log_path)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for column in LOSS_COLUMNS:
        points = [(int(r["step"]), float(r[column])) for r in train if r.get(column)]
        if points:
            left.plot(*zip(*points), label=f"L_{column}")
    left.set_xlabel("step")
    left.set_ylabel("loss (unweighted)")
    left.set_yscale("log")
    left.legend()
    left.set_title("training losses")
    passed = first_step_past_bicubic(val)
    points = [(int(r["step"]), float(r["val_psnr"])) for r in val if r.get("val_psnr")]
    if points:
        right.plot(*zip(*points), marker="o", label="TTSR (validation)")
        bicubic = [float(r["val_bicubic_psnr"]) for r in val if r.get("val_bicubic_psnr")]
        if bicubic:
            right.axhline(bicubic[0], linestyle="--", color="gray", label=f"bicubic {bicubic[0]:.2f} dB")
    right.set_xlabel("step")
    right.set_ylabel("PSNR on Y (dB)")
    right.legend()
    right.set_title("validation: " + (f"passes bicubic at step {passed}" if passed else "below bicubic so far"))
    fig.suptitle(str(log_path.parent.name))
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(out, buffer.getvalue())
    return passed


@cli_main
def main(argv=None) -> int:
    parser = OneLineParser(prog="python -m training.plot_log", description=__doc__.split("\n")[0])
    parser.add_argument("log", type=Path, help="log.csv of a training run")
    parser.add_argument("--out", type=Path, default=None, help="PNG path (default: beside the log)")
    args = parser.parse_args(argv)
    out = args.out or args.log.with_name("curve.png")
    check_output_file(out, "--out")
    check_not_an_input(out, "--out", [("log", args.log)])
    passed = plot(args.log, out)
    print(f"{out}" + (f" (validation passes bicubic at step {passed})" if passed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
