"""Bad-input sweep over the eight command-line entry points, as a new user and an attacker would try them.

    python tests/sweep_bad_inputs.py [--repo DIR] [--only ENTRY] [--case TEXT] [--jobs N] [--json OUT]

Not collected by pytest (no `test_` prefix): it is an instrument, rerun by hand against any checkout
(`--repo`, default the repository holding this file). Each case builds its inputs in a fresh temporary
folder (small images, crafted files), runs `python -m ENTRY ...` with the checkout as working directory,
and classifies the outcome:

- clean            the right answer: for bad input the expected non-zero exit (2 unless the case says
                   otherwise) with stderr's last non-empty line `error: ...` (or argparse's
                   `python -m X: error: ...`) and no traceback; for `expect="ok"` cases exit 0
- traceback        a Python traceback in stdout or stderr
- wrong-exit       exit 0 on bad input, an undocumented code, a valid input refused, or a timeout/hang
- unclear-message  the right exit code, but the last stderr line is not one `error: ...` line
- wrong-output     exit 0, but the output hides the bad input (`mentions`) or carries it unescaped (`forbid`)
- data-lost        finished rows or a pre-existing file damaged by the command
- pickle-executed  a crafted pickle ran code (the marker folder PWNED appeared); must be 0

Every case states its kind (the family of bad input) so that one fix can cover a whole kind.
Safety: outputs always go to the case's temporary folder; a "full disk" is RLIMIT_FSIZE (writes fail
with EFBIG), a pipe is a FIFO made in the temporary folder, never a device node; every child runs with
an address-space limit, one OpenMP thread, no network (proxy set to a closed local port) and its own
TORCH_HOME. Exit status: 0 when every case is clean, 1 otherwise.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import csv
import hashlib
import io
import json
import os
import pickle
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

DEFAULT_REPO = Path(__file__).resolve().parents[1]
MARKER = "PWNED"  # a crafted pickle creates this folder if it is ever executed
MEMORY_GIB = 4.0  # address space of every child (a runaway input must not take the shared machine)
OUTCOMES = ("clean", "traceback", "wrong-exit", "unclear-message", "wrong-output", "data-lost", "pickle-executed")
SEVERITY = {name: i for i, name in enumerate(("clean", "wrong-output", "unclear-message", "wrong-exit",
                                              "traceback", "data-lost", "pickle-executed"))}
CLEAN_LAST_LINE = re.compile(r"^(?:python -m [\w.]+(?: \w+)?: )?error: \S")

Step = Callable[[Path, Path], None]  # (case folder, fixtures folder) -> None


# ================================================================================ crafted bytes
def random_bytes(n: int, seed: int = 1) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def png_bytes(h: int, w: int, seed: int = 0, mode: str = "RGB", fmt: str = "PNG") -> bytes:
    rng = np.random.default_rng(seed)
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65536, (h, w), dtype=np.uint16))
    else:
        image = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def bomb_png(side: int = 100_000) -> bytes:
    """A tiny PNG whose header declares side×side RGB pixels (a decompression bomb by its header)."""
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\0"))
            + _chunk(b"IEND", b""))


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


class _Payload:
    """Pickles to `os.mkdir(marker)`: if any loader executes it, the marker folder appears."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def plain_pickle(t: Path) -> bytes:
    return pickle.dumps({"state_dict": {"conv.weight": _Payload(t / MARKER)}}, protocol=2)


def torch_pickle(t: Path) -> bytes:
    import torch  # only for crafting the zip-format checkpoint

    buffer = io.BytesIO()
    torch.save({"state_dict": {"conv.weight": torch.zeros(1)}, "extra": _Payload(t / MARKER)}, buffer)
    return buffer.getvalue()


def npz_pickle(t: Path) -> bytes:
    """A TensorLayer-style save_npz file whose object array `params` holds the payload."""
    params = np.empty(2, dtype=object)
    params[:] = [np.zeros((3, 3), np.float32), _Payload(t / MARKER)]
    buffer = io.BytesIO()
    np.savez(buffer, params=params)
    return buffer.getvalue()


def attention_pickle(t: Path) -> bytes:
    hard_index = np.empty(1, dtype=object)
    hard_index[0] = _Payload(t / MARKER)
    buffer = io.BytesIO()
    np.savez(buffer, hard_index=hard_index, S=hard_index)
    return buffer.getvalue()


def npz_of(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def zip_of(**members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def toml_text(config: Mapping) -> str:
    """A small TOML writer for the crafted training configs (scalars first, then one table each)."""

    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, float):
            return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(repr(v), repr(v))
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    lines = [f"{k} = {value(v)}" for k, v in config.items() if not isinstance(v, dict)]
    for section, table in config.items():
        if isinstance(table, dict):
            lines += ["", f"[{section}]"] + [f"{k} = {value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


MICRO = {"name": "micro", "method": "ttsr",
         "model": {"n_feats": 8, "num_res_blocks": [1, 1, 1, 1]},
         "data": {"kind": "demo", "repeats": 1, "patch": 32, "batch_size": 2, "num_workers": 0, "seed": 0},
         "schedule": {"init_epochs": 1, "epochs": 0, "max_steps": 2},
         "val": {"dataset": "none"}, "checkpoint": {"every": 1}, "log": {"every": 1}}


def micro_with(**changes) -> str:
    """MICRO with `section__key=value` changes (value None drops the key; `section=value` replaces it)."""
    config = {k: dict(v) if isinstance(v, dict) else v for k, v in MICRO.items()}
    for key, v in changes.items():
        section, _, name = key.partition("__")
        if not name:
            config[section] = v
        elif v is None:
            config[section].pop(name, None)
        else:
            config.setdefault(section, {})[name] = v
    return toml_text(config)


def rows_csv(edit: Callable[[list[list[str]]], list[list[str]]]) -> Callable[[bytes], bytes]:
    """An edit of rows.csv as a table of strings (header first)."""

    def apply(old: bytes) -> bytes:
        table = list(csv.reader(io.StringIO(old.decode("utf-8"))))
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(edit(table))
        return out.getvalue().encode("utf-8")

    return apply


def set_cell(column: str, value: str, row: int = 1):
    def edit(table):
        table[row][table[0].index(column)] = value
        return table
    return rows_csv(edit)


def set_key_cells(value: str):
    """Every key cell (method, dataset, image...) of the first row replaced by `value`."""
    def edit(table):
        for column in ("method", "image"):
            table[1][table[0].index(column)] = value
        return table
    return rows_csv(edit)


# ======================================================================================= steps
def _resolve(t: Path, f: Path, rel: str) -> Path:
    return Path(rel.format(t=t, f=f)) if "{" in rel else t / rel


def write(rel: str, data: bytes | str | Callable[[Path], bytes]) -> Step:
    def step(t: Path, f: Path) -> None:
        path = _resolve(t, f, rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        content = data(t) if callable(data) else data
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return step


def image(rel: str, h: int, w: int, seed: int = 0, mode: str = "RGB", fmt: str = "PNG") -> Step:
    return write(rel, png_bytes(h, w, seed, mode, fmt))


def solid_image(rel: str, side: int) -> Step:
    """A valid but huge image (one colour, so small on disk)."""
    def step(t: Path, f: Path) -> None:
        Image.new("RGB", (side, side), (90, 120, 150)).save(t / rel, compress_level=1)
    return step


def mkdir(rel: str) -> Step:
    return lambda t, f: _resolve(t, f, rel).mkdir(parents=True, exist_ok=True)


def fifo(rel: str) -> Step:
    def step(t: Path, f: Path) -> None:
        path = t / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path)
    return step


def symlink(rel: str, target: str) -> Step:
    return lambda t, f: (t / rel).symlink_to(_resolve(t, f, target))


def copy(rel: str, fixture: str) -> Step:
    def step(t: Path, f: Path) -> None:
        source, target = f / fixture, t / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, symlinks=True)
        else:
            shutil.copyfile(source, target)
    return step


def edit(rel: str, change: Callable[[bytes], bytes]) -> Step:
    def step(t: Path, f: Path) -> None:
        path = t / rel
        path.write_bytes(change(path.read_bytes()))
    return step


def remove(rel: str) -> Step:
    def step(t: Path, f: Path) -> None:
        path = t / rel
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return step


# ======================================================================================== cases
@dataclass(frozen=True)
class Case:
    """One bad (or unusual but valid) input to one entry point; see the module docstring."""

    entry: str
    name: str
    kind: str
    args: tuple[str, ...]                 # argv templates: {t} the case folder, {f} the fixtures folder
    setup: tuple[Step, ...] = ()
    expect: str = "error"                 # "error": exit in `codes`; "ok": exit 0; "any": either
    codes: tuple[int, ...] = (2,)
    timeout: float = 60.0
    keep: tuple[str, ...] = ()            # files/folders under {t} that must be byte-identical afterwards
    rows: str | None = None               # run folder under {t} whose finished rows must survive
    valid_rows: tuple[str, int] | None = None  # (run folder, n): rows.csv well-formed with n distinct rows
    mentions: str | None = None           # on exit 0 the output must name the bad input (regex, any case)
    forbid: tuple[str, str] | None = None  # (file under {t}, text) that must not appear in it
    env: Mapping[str, str] = field(default_factory=dict)
    fsize: int | None = None              # RLIMIT_FSIZE in bytes: a disk that is full after that much
    memory_gib: float | None = MEMORY_GIB  # RLIMIT_AS of the command (virtual memory: torch alone maps ~2 GiB);
                                           # None: no limit (Chromium reserves tens of GiB it never uses)
    copies: int = 1                       # run the same command this many times at once

    def argv(self, t: Path, f: Path) -> list[str]:
        return [a.format(t=t, f=f) for a in self.args]


Options = Mapping[str, "str | list[str] | bool | None"]


def family(entry: str, base: Options, base_setup: Sequence[Step] = (), prefix: Sequence[str] = ()):
    """A case maker for `entry`: options merge over `base`. A value is one argument (str), several
    (list), a flag (True), or None to drop the option."""

    def make(name: str, kind: str, opts: Options | None = None, setup: Sequence[Step] = (),
             pre: Sequence[str] | None = None, **fields) -> Case:
        merged = dict(base)
        merged.update(opts or {})
        args = list(prefix if pre is None else pre)
        for option, value in merged.items():
            if value is None or value is False:
                continue
            args += [option] if value is True else [option, *([value] if isinstance(value, str) else value)]
        return Case(entry, name, kind, tuple(args), tuple(base_setup) + tuple(setup), **fields)

    return make


def sr_cases() -> list[Case]:
    c = family("ttsr.sr", {"--lr": "{t}/lr.png", "--ref": "{t}/ref.png", "--weights": "{f}/ttsr.pt",
                           "--out": "{t}/out/sr.png", "--device": "cpu"},
               [image("lr.png", 6, 7), image("ref.png", 16, 16, 1)])
    bad = "{t}/bad.png"
    return [
        c("lr missing", "missing-file", {"--lr": "{t}/absent.png"}),
        c("lr is a folder", "not-a-file", {"--lr": "{t}/dir"}, [mkdir("dir")]),
        c("lr empty file", "corrupt-image", {"--lr": bad}, [write("bad.png", b"")]),
        c("lr random bytes", "corrupt-image", {"--lr": bad}, [write("bad.png", random_bytes(4000))]),
        c("lr truncated PNG", "corrupt-image", {"--lr": bad}, [write("bad.png", truncated(png_bytes(32, 32)))]),
        c("lr PNG header 100000x100000", "bomb-image", {"--lr": bad}, [write("bad.png", bomb_png())]),
        c("lr 2x2", "tiny-image", {"--lr": bad}, [image("bad.png", 2, 2)]),
        c("lr 3x3 (the minimum)", "tiny-image", {"--lr": bad}, [image("bad.png", 3, 3)], expect="ok"),
        c("lr 16-bit grey", "unusual-image", {"--lr": bad}, [image("bad.png", 6, 7, mode="I;16")], expect="ok"),
        c("ref random bytes", "corrupt-image", {"--ref": bad}, [write("bad.png", random_bytes(5000))]),
        c("ref 3x3", "tiny-image", {"--ref": bad}, [image("bad.png", 3, 3)]),
        c("ref PNG header 100000x100000", "bomb-image", {"--ref": bad}, [write("bad.png", bomb_png())]),
        c("hr PNG header 100000x100000", "bomb-image", {"--hr": bad}, [write("bad.png", bomb_png())]),
        # an HR must be 4x the LR (up to the crop to a multiple of 4): a 10x10 HR for a 7x6 LR is refused
        c("hr size differs from SR", "size-mismatch", {"--hr": bad}, [image("bad.png", 10, 10)]),
        c("hr huge valid 9500x9500", "huge-image", {"--hr": "{t}/huge.png"}, [solid_image("huge.png", 9500)],
          timeout=120, memory_gib=10),  # over the default pixel limit (16.8 M): refused before decoding
        c("weights missing", "missing-file", {"--weights": "{t}/absent.pt"}),
        c("weights empty", "corrupt-checkpoint", {"--weights": "{t}/w.pt"}, [write("w.pt", b"")]),
        c("weights random bytes", "corrupt-checkpoint", {"--weights": "{t}/w.pt"}, [write("w.pt", random_bytes(9000))]),
        c("weights truncated", "corrupt-checkpoint", {"--weights": "{t}/w.pt"},
          [copy("w.pt", "ttsr.pt"), edit("w.pt", truncated)]),
        c("weights safetensors garbage header", "corrupt-checkpoint", {"--weights": "{t}/w.safetensors"},
          [write("w.safetensors", struct.pack("<Q", 40) + b'{"a": {"dtype": "F32", "shape": [1], "data_offsets"')]),
        c("weights of another network", "foreign-checkpoint", {"--weights": "{f}/imdn.pth"}),
        c("weights with a key missing", "foreign-checkpoint", {"--weights": "{f}/ttsr_missing_key.pt"}),
        c("weights with a wrong shape", "foreign-checkpoint", {"--weights": "{f}/ttsr_wrong_shape.pt"}),
        c("weights zip pickle payload", "pickle-payload", {"--weights": "{t}/w.pt"}, [write("w.pt", torch_pickle)]),
        c("weights plain pickle payload", "pickle-payload", {"--weights": "{t}/w.pth"}, [write("w.pth", plain_pickle)]),
        c("out under /proc", "unwritable-out", {"--out": "/proc/sweep-x/sr.png"}),
        c("out is a folder", "unwritable-out", {"--out": "{t}/dir"}, [mkdir("dir/inside")]),
        c("out below a file", "unwritable-out", {"--out": "{t}/file.txt/sr.png"}, [write("file.txt", "x")]),
        c("out is a FIFO", "unwritable-out", {"--out": "{t}/pipe.png"}, [fifo("pipe.png")], expect="any", timeout=40),
        c("out on a full disk", "unwritable-out", fsize=64),
        c("out hostile name", "hostile-name", {"--out": "{t}/<script>|..x.png"}, expect="ok"),
        c("bad lr keeps an existing out", "data-loss", {"--lr": bad, "--out": "{t}/old.png"},
          [write("bad.png", b"junk"), image("old.png", 8, 8, 5)], keep=("old.png",)),
        c("--max-memory 0", "bad-number", {"--max-memory": "0"}),
        c("--max-memory -1", "bad-number", {"--max-memory": "-1"}),
        c("--max-memory 1 (byte)", "bad-number", {"--max-memory": "1"}, expect="any"),
        c("--max-memory 5XB", "bad-option", {"--max-memory": "5XB"}),
        c("--device cuda without CUDA", "bad-option", {"--device": "cuda"}, expect="any"),
        c("no --out", "missing-option", {"--out": None}),
        c("lr name with a newline, missing", "hostile-name", {"--lr": "{t}/a\nb.png"}),
    ]


RUN_BASE = {"--protocol": "demo", "--methods": "bicubic", "--limit": "1", "--metrics": ["psnr", "ssim"],
            "--device": "cpu", "--out": "{t}/run"}


def run_cases() -> list[Case]:
    c = family("benchmarks.run", RUN_BASE)
    done = [copy("run", "run")]  # a finished run folder (bicubic + ttsr, demo, --limit 1, images saved)
    ttsr = {"--methods": "ttsr", "--weights": "ttsr={f}/ttsr.pt"}
    sisr = {"--protocol": "sisr", "--datasets": "set5", "--data-root": "{t}/data"}
    refsr = {"--protocol": "table4", "--datasets": "cufed5", "--data-root": "{t}/data", **ttsr}
    cufed = [image("data/CUFED5/000_0.png", 40, 40, 0)] + [image(f"data/CUFED5/000_{i}.png", 32, 36, i)
                                                           for i in range(1, 6)]
    return [
        c("--limit -1", "bad-number", {"--limit": "-1"}),
        c("--limit 0", "bad-number", {"--limit": "0"}),
        c("--limit 10**30", "bad-number", {"--limit": str(10**30)}, expect="ok"),
        c("--protocol nope", "bad-option", {"--protocol": "nope"}),
        c("--methods nope", "bad-option", {"--methods": "nope"}),
        c("--datasets outside the protocol", "bad-option", {"--datasets": "set5"}),
        c("--metrics nope", "bad-option", {"--metrics": "nope"}),
        c("--max-memory 0", "bad-number", {"--max-memory": "0", **ttsr}),
        c("--max-memory 1 (byte)", "bad-number", {"--max-memory": "1", **ttsr}, expect="any"),
        c("--max-memory xyz", "bad-option", {"--max-memory": "xyz"}),
        c("--weights without =", "bad-option", {"--weights": "ttsr"}),
        c("--weights file missing", "missing-file", {"--weights": "ttsr={t}/absent.pt", "--methods": "ttsr"}),
        c("--weights random bytes (imdn)", "corrupt-checkpoint", {"--weights": "imdn={t}/w.pth", "--methods": "imdn"},
          [write("w.pth", random_bytes(7000))]),
        c("--weights ttsr file for imdn", "foreign-checkpoint", {"--weights": "imdn={f}/ttsr.pt", "--methods": "imdn"}),
        c("--weights zip pickle payload (ttsr)", "pickle-payload", {"--weights": "ttsr={t}/w.pt", "--methods": "ttsr"},
          [write("w.pt", torch_pickle)]),
        c("--weights plain pickle payload (imdn)", "pickle-payload",
          {"--weights": "imdn={t}/w.pth", "--methods": "imdn"}, [write("w.pth", plain_pickle)]),
        c("--data-root missing", "missing-file", {**sisr, "--data-root": "{t}/absent"}),
        c("--data-root is a file", "not-a-file", {**sisr, "--data-root": "{t}/file"}, [write("file", "x")]),
        c("--data-root empty", "bad-data-root", sisr, [mkdir("data")]),
        c("$TTSR_BENCH_DATA missing", "bad-env", {**sisr, "--data-root": None}, env={"TTSR_BENCH_DATA": "/nonexistent/x"}),
        c("set5 with one corrupt image", "corrupt-image", {**sisr, "--limit": None},
          [image("data/Set5/a.png", 32, 32), write("data/Set5/b.png", truncated(png_bytes(32, 32)))],
          expect="ok", mentions=r"b\.png|set5/b\b"),
        c("set5 with a 100000x100000 header", "bomb-image", {**sisr, "--limit": None},
          [image("data/Set5/a.png", 32, 32), write("data/Set5/b.png", bomb_png())], expect="ok", mentions=r"b\.png|set5/b\b"),
        c("set5 HR/LR size mismatch", "size-mismatch", sisr,
          [image("data/Set5/image_SRF_4/img_001_SRF_4_HR.png", 32, 32),
           image("data/Set5/image_SRF_4/img_001_SRF_4_LR.png", 5, 5)], expect="any", codes=(2, 3),
          mentions="img_001"),
        c("set5 3x3 LR for SISR methods", "tiny-image", {**sisr, "--methods": ["bicubic", "imdn"],
                                                         "--weights": "imdn={f}/imdn.pth"},
          [image("data/Set5/image_SRF_4/img_001_SRF_4_HR.png", 12, 12),
           image("data/Set5/image_SRF_4/img_001_SRF_4_LR.png", 3, 3)], expect="any"),
        c("set5 HR 2x2 (LR would be empty)", "tiny-image", sisr, [image("data/Set5/a.png", 2, 2)],
          expect="any", codes=(2, 3), mentions=r"a\.png|set5/a\b"),
        c("set5 hostile file names", "hostile-name", {**sisr, "--limit": None},
          [image("data/Set5/<script>x.png", 16, 16), image("data/Set5/a|b;c.png", 16, 16)], expect="ok"),
        c("cufed5 reference 3x3", "tiny-image", refsr, cufed + [image("data/CUFED5/000_1.png", 3, 3)], expect="any",
          mentions="000_1|cufed5/000"),
        c("cufed5 reference 100000x100000 header", "bomb-image", refsr,
          cufed + [write("data/CUFED5/000_3.png", bomb_png())], expect="any", mentions="000_3|cufed5/000"),
        c("rows.csv random bytes", "corrupt-run-folder", {}, done + [write("run/rows.csv", random_bytes(3000))],
          keep=("run/rows.csv",)),
        c("rows.csv of another tool", "corrupt-run-folder", {}, done + [write("run/rows.csv", "id,score\n1,0.5\n")],
          keep=("run/rows.csv",)),
        c("rows.csv is a folder", "corrupt-run-folder", {}, [mkdir("run/rows.csv")]),
        c("rows.csv psnr 1e308", "corrupt-run-folder", {}, done + [edit("run/rows.csv", set_cell("psnr", "1e308"))],
          rows="run"),  # a damaged rows file is refused untouched
        c("rows.csv torn last line", "corrupt-run-folder", {},
          done + [edit("run/rows.csv", lambda b: b + b"bicubic,demo,demo,none,tor")], expect="ok", rows="run"),
        c("manifest.json a list", "corrupt-run-folder", {}, done + [write("run/manifest.json", "[1, 2]")],
          expect="any", rows="run"),
        c("finished run, other protocol", "data-loss", {"--protocol": "sisr", "--data-root": "{t}/data",
                                                        "--datasets": "set5"},
          done + [image("data/Set5/a.png", 16, 16)], expect="ok", rows="run"),
        c("--force on a finished run", "data-loss", {"--force": True, "--methods": ["bicubic", "ttsr"],
                                                     "--weights": "ttsr={f}/ttsr.pt"}, done, expect="ok", rows="run"),
        c("--out is a file", "unwritable-out", {"--out": "{t}/file"}, [write("file", "keep me")], keep=("file",)),
        c("--out under /proc", "unwritable-out", {"--out": "/proc/sweep-x/run"}),
        c("--out is a FIFO", "unwritable-out", {"--out": "{t}/pipe"}, [fifo("pipe")], timeout=40),
        c("--out on a full disk (finished run)", "unwritable-out", {"--methods": ["bicubic", "ttsr"], "--force": True,
                                                                    "--weights": "ttsr={f}/ttsr.pt"},
          done, fsize=2048, rows="run"),
        c("--save-images where images/ is a file", "unwritable-out", {"--save-images": True, "--force": True},
          done + [remove("run/images"), write("run/images", "x")], rows="run"),
        c("--out hostile name", "hostile-name", {"--out": "{t}/<script>|;..run"}, expect="ok"),
        c("two runs on one --out at once", "concurrency", {"--limit": "2"}, copies=2, expect="any",
          env={"TTSR_BENCH_TEST_ROW_DELAY": "0.5"}, valid_rows=("run", 4), timeout=90),
    ]


def report_cases() -> list[Case]:
    c = family("benchmarks.report", {"--runs": "{t}/run", "--out": "{t}/report"}, [copy("run", "run")])
    script = "<script>alert(1)</script>"
    bad_json = lambda name, content: [write(f"run/{name}", content)]
    return [
        c("--runs missing", "missing-file", {"--runs": "{t}/absent"}),
        c("--runs empty folder", "bad-run-folder", {"--runs": "{t}/empty"}, [mkdir("empty")]),
        c("--runs is a file", "not-a-file", {"--runs": "{t}/file"}, [write("file", "x")]),
        c("rows.csv random bytes", "corrupt-run-folder", setup=[write("run/rows.csv", random_bytes(3000))],
          keep=("run/rows.csv",)),
        c("rows.csv empty", "corrupt-run-folder", setup=[write("run/rows.csv", b"")], expect="any"),
        c("rows.csv of another tool", "corrupt-run-folder", setup=[write("run/rows.csv", "id,score\n1,0.5\n2,x\n")],
          expect="any"),
        c("rows.csv psnr 1e308", "corrupt-run-folder", setup=[edit("run/rows.csv", set_cell("psnr", "1e308"))],
          rows="run"),
        c("rows.csv psnr inf / -inf", "corrupt-run-folder",
          setup=[edit("run/rows.csv", set_cell("psnr", "inf")), edit("run/rows.csv", set_cell("ssim", "-inf", 2))]),
        c("rows.csv invalid UTF-8 row", "corrupt-run-folder",
          setup=[edit("run/rows.csv", lambda b: b + b"bic\xff\xfe,demo,demo,none,x,1,1,,1,1\n")], expect="any"),
        c("rows.csv hostile method/image names", "hostile-name",
          setup=[edit("run/rows.csv", set_key_cells(script))], expect="ok", forbid=("report/index.html", script)),
        c("--title with a script", "hostile-name", {"--title": script}, expect="ok",
          forbid=("report/index.html", script)),
        c("manifest.json a list", "corrupt-run-folder", setup=bad_json("manifest.json", "[1, 2, 3]"), expect="any"),
        c("manifest.json nested 100000 deep", "corrupt-run-folder",
          setup=bad_json("manifest.json", "[" * 100000 + "]" * 100000), expect="any"),
        c("manifest.json wrong field types", "corrupt-run-folder",
          setup=bad_json("manifest.json", '{"weights": [1, 2], "random_weights": 5, "protocol": "x", "argv": 3}'),
          expect="any"),
        c("manifest.json hostile text", "hostile-name",
          setup=bad_json("manifest.json", json.dumps({"device": script, "weights": {script: {"origin": script}}})),
          expect="ok", forbid=("report/index.html", script)),
        c("skipped.json wrong shape", "corrupt-run-folder", setup=bad_json("skipped.json", '{"skipped": 5}'),
          expect="any"),
        c("skipped.json hostile text", "hostile-name",
          setup=bad_json("skipped.json", json.dumps([{"what": script, "reason": script, "fix": script}])),
          expect="ok", forbid=("report/index.html", script)),
        c("saved HR image corrupt", "corrupt-image",
          setup=[write("run/images/demo/_hr/motorcycle_stereo.png", random_bytes(2000))], expect="any"),
        c("saved HR image 100000x100000 header", "bomb-image",
          setup=[write("run/images/demo/_hr/motorcycle_stereo.png", bomb_png())], expect="any"),
        c("attention npz pickle payload", "pickle-payload",
          setup=[write("run/attention/demo/ttsr/motorcycle_stereo.npz", attention_pickle)], expect="any"),
        c("attention npz index out of range", "corrupt-run-folder",
          setup=[write("run/attention/demo/ttsr/motorcycle_stereo.npz",
                       npz_of(hard_index=np.full(10000, -7, np.int64), ref_size=np.array([0, 0])))], expect="any"),
        c("--out is a file", "unwritable-out", {"--out": "{t}/file"}, [write("file", "keep me")], keep=("file",)),
        c("--out under /proc", "unwritable-out", {"--out": "/proc/sweep-x/report"}),
        c("--out holds someone's index.html", "data-loss", setup=[write("report/index.html", "<p>mine</p>")],
          keep=("report/index.html",)),
        c("--out is the run folder", "data-loss", {"--out": "{t}/run"}, expect="any", rows="run"),
        c("--out on a full disk", "unwritable-out", fsize=4096),
        c("--visual-images -1", "bad-number", {"--visual-images": "-1"}),
        c("--screenshot under /proc", "unwritable-out", {"--screenshot": "/proc/sweep-x/s.png"}, memory_gib=None),
    ]


def reproduce_cases() -> list[Case]:
    base = {"--runs-dir": "{t}/runs", "--reports-dir": "{t}/reports", "--methods": "bicubic",
            "--metrics": ["psnr", "ssim"], "--device": "cpu"}
    c = family("benchmarks.reproduce", base, prefix=["demo"])
    no_run = {"--no-run": True}
    done = [copy("runs/demo", "run")]
    config = lambda text: [write("c.toml", text)]
    cfg = {"--config": "{t}/c.toml"}
    return [
        c("unknown table", "bad-option", pre=["table9"]),
        c("--config missing", "missing-file", {"--config": "{t}/absent.toml"}),
        c("--config bad TOML", "bad-config", cfg, config("data_root = \n[[")),
        c("--config bad UTF-8", "bad-config", cfg, config(b'data_root = "\xff\xfe"\n')),
        c("--config unknown key", "bad-config", cfg, config('dataroot = "x"\n')),
        c("--config weights not a table", "bad-config", cfg, config('weights = "x.pt"\n')),
        c("--config data_root a number", "bad-config", cfg, config("data_root = 5\n")),
        c("--config methods a number", "bad-config", {**cfg, "--methods": None}, config("methods = 3\n")),
        c("--config metrics a string", "bad-config", {**cfg, "--metrics": None}, config('metrics = "psnr"\n')),
        c("--config device tpu", "bad-config", {**cfg, "--device": None}, config('device = "tpu"\n')),
        c("$TTSR_BENCH_CONFIG missing", "bad-env", env={"TTSR_BENCH_CONFIG": "/nonexistent/c.toml"}),
        c("--data-root missing", "missing-file", {"--data-root": "{t}/absent"}),
        c("--no-run with no runs", "bad-run-folder", no_run, [mkdir("runs")]),
        c("--no-run, rows.csv random bytes", "corrupt-run-folder", no_run,
          done + [write("runs/demo/rows.csv", random_bytes(3000))], keep=("runs/demo/rows.csv",)),
        c("--no-run, rows.csv psnr 1e308", "corrupt-run-folder", no_run,
          done + [edit("runs/demo/rows.csv", set_cell("psnr", "1e308"))], rows="runs/demo"),
        c("--runs-dir is a file", "unwritable-out", {"--runs-dir": "{t}/file"}, [write("file", "keep")],
          keep=("file",)),
        c("--reports-dir is a file", "unwritable-out", {**no_run, "--reports-dir": "{t}/file"},
          done + [write("file", "keep")], keep=("file",)),
        c("--reports-dir holds someone's index.html", "data-loss", no_run,
          done + [write("reports/index.html", "<p>mine</p>")], keep=("reports/index.html",)),
    ]


def data_cases() -> list[Case]:
    c = family("benchmarks.data", {})
    check = ["check", "--root", "{t}/data"]
    demo = lambda out: ["demo", "--out", out]
    return [
        c("no subcommand", "missing-option", pre=[]),
        c("check --root missing", "missing-file", pre=["check", "--root", "{t}/absent"]),
        c("check --root is a file", "not-a-file", pre=["check", "--root", "{t}/file"], setup=[write("file", "x")]),
        c("check --root empty", "bad-data-root", pre=check, setup=[mkdir("data")], expect="any"),
        c("check, $TTSR_BENCH_DATA missing", "bad-env", pre=["check"], env={"TTSR_BENCH_DATA": "/nonexistent/x"}),
        c("check, CUFED5 corrupt files", "corrupt-image", pre=check,
          setup=[write("data/CUFED5/000_0.png", random_bytes(500)), write("data/CUFED5/000_1.png", b"")],
          expect="ok", mentions="incomplete"),
        c("check, 100000x100000 headers", "bomb-image", pre=check,
          setup=[write("data/Set5/a.png", bomb_png()), write("data/CUFED5/000_0.png", bomb_png())], expect="ok"),
        c("check, HR/LR size mismatch", "size-mismatch", pre=check,
          setup=[image("data/Set5/image_SRF_4/img_001_SRF_4_HR.png", 32, 32),
                 image("data/Set5/image_SRF_4/img_001_SRF_4_LR.png", 5, 5)], expect="ok"),
        c("check, hostile folder names", "hostile-name", pre=check,
          setup=[mkdir("data/<script>"), mkdir("data/a|b"), image("data/Set14/..png", 8, 8)], expect="ok"),
        c("check, symlink loop", "unusual-path", pre=check,
          setup=[mkdir("data/Urban100"), symlink("data/Urban100/loop", "{t}/data/Urban100")], expect="ok",
          timeout=40),
        c("demo --out is a file", "unwritable-out", pre=demo("{t}/file"), setup=[write("file", "keep")],
          keep=("file",)),
        c("demo --out below a file", "unwritable-out", pre=demo("{t}/file/demo"), setup=[write("file", "keep")],
          keep=("file",)),
        c("demo --out under /proc", "unwritable-out", pre=demo("/proc/sweep-x/demo")),
        c("demo --out hr/ is a FIFO", "unwritable-out", pre=demo("{t}/demo"), setup=[fifo("demo/hr")], timeout=40),
        c("demo --out on a full disk", "unwritable-out", pre=demo("{t}/demo"), fsize=4096),
        c("demo --out hostile name", "hostile-name", pre=demo("{t}/<script>|;x"), expect="ok"),
    ]


def weights_cases() -> list[Case]:
    c = family("benchmarks.weights", {})
    fetch = lambda *names, url=None, dest="{t}/w": (
        ["fetch", *names] + (["--url", url] if url is not None else []) + (["--dest", dest] if dest else []))
    return [
        c("no subcommand", "missing-option", pre=[]),
        c("fetch unknown name", "bad-option", pre=fetch("nope")),
        c("fetch bicubic (needs none)", "bad-option", pre=fetch("bicubic")),
        c("fetch rcan (no direct or Drive link)", "bad-option", pre=fetch("rcan")),
        c("--url not a URL", "bad-url", pre=fetch("imdn", url="not a url")),
        c("--url http:// without host", "bad-url", pre=fetch("imdn", url="http://")),
        c("--url malformed IPv6", "bad-url", pre=fetch("imdn", url="http://[::1/x.pth")),
        c("--url port out of range", "bad-url", pre=fetch("imdn", url="http://127.0.0.1:99999/x.pth")),
        c("--url javascript:", "bad-url", pre=fetch("imdn", url="javascript:alert(1)")),
        c("--url closed port", "bad-url", pre=fetch("imdn", url="http://127.0.0.1:9/x.pth")),
        c("--url file:// wrong sha256", "bad-url", pre=fetch("imdn", url="file://{t}/r.bin"),
          setup=[write("r.bin", random_bytes(5000))]),
        c("--url with two names", "bad-option", pre=fetch("imdn", "rfdn", url="file://{t}/r.bin"),
          setup=[write("r.bin", b"x")]),
        c("--url backbone wrong sha256", "bad-url", pre=fetch("vgg19", url="file://{t}/r.bin", dest="{t}/hub"),
          setup=[write("r.bin", random_bytes(5000))]),
        c("--url no sha256 known (edsr)", "bad-url", pre=fetch("edsr", url="file://{t}/r.bin"),
          setup=[write("r.bin", random_bytes(5000))]),  # only http(s) URLs are fetched
        c("--dest is a file", "unwritable-out", pre=fetch("imdn", url="file://{t}/r.bin", dest="{t}/file"),
          setup=[write("r.bin", b"x"), write("file", "keep")], keep=("file",)),
        c("--dest under /proc", "unwritable-out", pre=fetch("imdn", url="file://{t}/r.bin", dest="/proc/sweep-x")),
        c("--dest on a full disk", "unwritable-out", pre=fetch("edsr", url="file://{t}/r.bin"),
          setup=[write("r.bin", random_bytes(200_000))], fsize=100_000),
        c("--dest holds a different file", "data-loss", pre=fetch("imdn", url="file://{t}/r.bin"),
          setup=[write("r.bin", random_bytes(5000)), write("w/IMDN_x4.pth", random_bytes(800, 7))],
          keep=("w/IMDN_x4.pth",)),
        c("--dest part file is a folder", "unwritable-out", pre=fetch("imdn", url="file://{t}/r.bin"),
          setup=[write("r.bin", b"x"), mkdir("w/IMDN_x4.pth.part")]),
        c("list --weights unknown method", "bad-option", pre=["list", "--weights", "nope={t}/x"]),
        c("list --weights file missing", "missing-file", pre=["list", "--weights", "imdn={t}/absent.pth"],
          expect="any", mentions="absent.pth"),
        c("list --weights pickle payload", "pickle-payload", pre=["list", "--weights", "imdn={t}/w.pth"],
          setup=[write("w.pth", plain_pickle)], expect="ok"),
        c("list, $TTSR_BENCH_WEIGHTS is a file", "bad-env", pre=["list"], setup=[write("wf", "x")],
          env={"TTSR_BENCH_WEIGHTS": "{t}/wf"}, expect="any"),
    ]


def train_cases() -> list[Case]:
    c = family("benchmarks.train", {"--config": "{t}/c.toml", "--out": "{t}/train", "--allow-random-vgg": True,
                              "--device": "cpu", "--no-progress": True})
    def cfg(text: str | bytes) -> list[Step]:  # {t} in a config stands for the case folder
        return [write("c.toml", text if isinstance(text, bytes) else lambda t: text.replace("{t}", str(t)).encode())]

    good = cfg(micro_with())
    resume = {"--resume": True}
    state = lambda fixture: good + [copy("train", "train"), copy("train/train_state.pt", fixture)]
    configs = [  # (name, kind, config text)
        ("bad UTF-8", "bad-config", micro_with().encode() + b'\n# \xff\xfe\n'),
        ("not TOML", "bad-config", "[data\nkind = \n"),
        ("batch_size a string", "bad-config", micro_with(data__batch_size="nine")),
        ("batch_size 0", "bad-number", micro_with(data__batch_size=0)),
        ("batch_size 10**12", "bad-number", micro_with(data__batch_size=10**12)),
        ("patch not a multiple of scale", "bad-number", micro_with(data__patch=30)),
        ("patch 0", "bad-number", micro_with(data__patch=0)),
        ("scale 0", "bad-number", micro_with(data__scale=0)),
        ("kind unknown", "bad-config", micro_with(data__kind="nope")),
        ("n_feats -1", "bad-number", micro_with(model__n_feats=-1)),
        ("num_res_blocks too short", "bad-config", micro_with(model__num_res_blocks=[1])),
        ("epochs -1", "bad-number", micro_with(schedule__epochs=-1)),
        ("lr -1", "bad-number", micro_with(optim={"lr": -1.0})),
        ("lr nan", "bad-number", micro_with(optim={"lr": float("nan")})),
        ("betas out of range", "bad-number", micro_with(optim={"betas": [2.0, 3.0]})),
        ("rec 0", "bad-number", micro_with(loss={"rec": 0.0})),
        ("val dataset unknown", "bad-config", micro_with(val__dataset="nope")),
        ("checkpoint every 0", "bad-number", micro_with(checkpoint__every=0)),
        ("amp fp8", "bad-config", micro_with(device={"amp": "fp8"})),
        ("method srntt", "bad-config", micro_with(method="srntt")),
        ("folder missing", "missing-file", micro_with(data__kind="folder", data__folders=["absent"], data__root="{t}")),
    ]
    folder = lambda *steps: cfg(micro_with(data__kind="folder", data__folders=["imgs"], data__root="{t}")) + [
        *steps]
    return [
        c("--config missing", "missing-file", {"--config": "{t}/absent.toml"}),
        c("--config is a folder", "not-a-file", {"--config": "{t}/dir"}, [mkdir("dir")]),
        *[c(f"config: {name}", kind, setup=cfg(text)) for name, kind, text in configs],
        c("folder of corrupt images", "corrupt-image", setup=folder(write("imgs/a.png", random_bytes(900)))),
        c("folder with a 100000x100000 header", "bomb-image",
          setup=folder(write("imgs/a.png", bomb_png()), image("imgs/b.png", 64, 64)), expect="any"),
        c("folder of 3x3 images", "tiny-image", setup=folder(image("imgs/a.png", 3, 3), image("imgs/b.png", 3, 3))),
        c("--max-steps -1", "bad-number", {"--max-steps": "-1"}, good),
        c("--max-steps 10**20", "bad-number", {"--max-steps": str(10**20)}, good, expect="ok"),
        c("--val-every -1", "bad-number", {"--val-every": "-1"}, good),
        c("--checkpoint-every 0", "bad-number", {"--checkpoint-every": "0"}, good),
        c("--device tpu", "bad-option", {"--device": "tpu"}, good),
        c("--device cuda:99", "bad-option", {"--device": "cuda:99"}, good),
        c("--resume, train_state.pt random bytes", "corrupt-checkpoint", resume,
          good + [mkdir("train"), write("train/train_state.pt", random_bytes(4000))], keep=("train/train_state.pt",)),
        c("--resume, train_state.pt pickle payload", "pickle-payload", resume,
          good + [mkdir("train"), write("train/train_state.pt", torch_pickle)]),
        c("--resume, train_state.pt without generator", "corrupt-checkpoint", resume,
          state("state_no_generator.pt"), keep=("train/train_state.pt",)),
        c("--resume, train_state.pt position garbage", "corrupt-checkpoint", resume,
          state("state_bad_position.pt"), keep=("train/train_state.pt",)),
        c("--resume, another config's state", "corrupt-checkpoint", resume,
          cfg(micro_with(model__n_feats=12)) + [copy("train", "train")], keep=("train/train_state.pt",)),
        c("--resume with no state yet", "unusual-path", resume, good, expect="ok", mentions="no checkpoint"),
        c("finished run again without --resume", "data-loss", {"--max-steps": "1"}, good + [copy("train", "train")],
          keep=("train/train_state.pt", "train/model_last.pt")),
        c("--out is a file", "unwritable-out", {"--out": "{t}/file"}, good + [write("file", "keep")], keep=("file",)),
        c("--out under /proc", "unwritable-out", {"--out": "/proc/sweep-x/train"}, good),
        c("--out on a full disk", "unwritable-out", {}, good, fsize=8192),
    ]


def convert_cases() -> list[Case]:
    c = family("baselines.srntt.convert", {"--upscale": "{f}/srntt/upscale.npz", "--texture": "{f}/srntt/srntt.npz",
                                           "--vgg": "{f}/srntt/imagenet-vgg-verydeep-19.mat",
                                           "--out": "{t}/out/srntt.safetensors"})
    up, tex, vgg = ({"--upscale": "{t}/bad.npz"}, {"--texture": "{t}/bad.npz"}, {"--vgg": "{t}/bad.mat"})
    return [
        c("upscale missing", "missing-file", {"--upscale": "{t}/absent.npz"}),
        c("upscale empty", "corrupt-checkpoint", up, [write("bad.npz", b"")]),
        c("upscale random bytes", "corrupt-checkpoint", up, [write("bad.npz", random_bytes(6000))]),
        c("upscale truncated", "corrupt-checkpoint", up, [copy("bad.npz", "srntt/upscale.npz"), edit("bad.npz", truncated)]),
        c("upscale zip without params", "corrupt-checkpoint", up, [write("bad.npz", zip_of(**{"other.npy": b"x"}))]),
        c("upscale params.npy garbage", "corrupt-checkpoint", up, [write("bad.npz", zip_of(**{"params.npy": b"\x93NUMPY garbage"}))]),
        c("upscale params of strings", "corrupt-checkpoint", up, [write("bad.npz", npz_of(params=np.array(["a", "b"])))]),
        c("upscale object array pickle payload", "pickle-payload", up, [write("bad.npz", npz_pickle)]),
        c("texture file given as upscale", "foreign-checkpoint", {"--upscale": "{f}/srntt/srntt.npz"}),
        c("texture pickle payload", "pickle-payload", tex, [write("bad.npz", npz_pickle)]),
        c("vgg missing", "missing-file", {"--vgg": "{t}/absent.mat"}),
        c("vgg random bytes", "corrupt-checkpoint", vgg, [write("bad.mat", random_bytes(6000))]),
        c("vgg an npz", "corrupt-checkpoint", {"--vgg": "{f}/srntt/upscale.npz"}),
        c("vgg without conv1_1", "foreign-checkpoint", {"--vgg": "{f}/srntt/vgg_no_conv1_1.mat"}),
        c("vgg .mat without layers", "foreign-checkpoint", vgg, [write("bad.mat", _mat_without_layers)]),
        c("out is a folder", "unwritable-out", {"--out": "{t}/dir"}, [mkdir("dir/inside")], timeout=120),
        c("out below a file", "unwritable-out", {"--out": "{t}/file/x.safetensors"}, [write("file", "keep")],
          keep=("file",), timeout=120),
        c("out under /proc", "unwritable-out", {"--out": "/proc/sweep-x/x.safetensors"}, timeout=120),
        c("out on a full disk", "unwritable-out", fsize=1 << 20, timeout=120),
        c("bad input keeps an existing out", "data-loss", {**up, "--out": "{t}/old.safetensors"},
          [write("bad.npz", b"junk"), write("old.safetensors", random_bytes(300, 3))], keep=("old.safetensors",)),
    ]


def _mat_without_layers(t: Path) -> bytes:
    from scipy.io import savemat

    buffer = io.BytesIO()
    savemat(buffer, {"meta": np.zeros(3)})
    return buffer.getvalue()


ENTRIES = {"ttsr.sr": sr_cases, "benchmarks.run": run_cases, "benchmarks.report": report_cases,
           "benchmarks.reproduce": reproduce_cases, "benchmarks.data": data_cases,
           "benchmarks.weights": weights_cases, "benchmarks.train": train_cases, "baselines.srntt.convert": convert_cases}


# ===================================================================================== fixtures
FIXTURE_SCRIPT = r"""
import sys, torch
from pathlib import Path
from ttsr.checkpoint import save_ttsr
from ttsr.config import TTSRConfig
from ttsr.model import TTSR
from baselines import registry
sys.path.insert(0, "tests")  # the test fixture module lives beside the tests, not in the library
from srntt_random_release import write_random_release, save_matconvnet_vgg19

f = Path(sys.argv[1])
torch.manual_seed(0)
model = TTSR(TTSRConfig(n_feats=8, num_res_blocks=(1, 1, 1, 1)))
save_ttsr(model, f / "ttsr.pt", metadata={"origin": "random (bad-input sweep)"})
state = model.state_dict()
torch.save({k: v for i, (k, v) in enumerate(state.items()) if i != 0}, f / "ttsr_missing_key.pt")
key = next(k for k, v in state.items() if v.ndim == 4)
torch.save({**state, key: torch.zeros(3, 3, 3, 3)}, f / "ttsr_wrong_shape.pt")
torch.save(registry.get("imdn").build().state_dict(), f / "imdn.pth")
write_random_release(f / "srntt")
save_matconvnet_vgg19(f / "srntt" / "vgg_no_conv1_1.mat", drop="conv1_1")
"""

STATE_SCRIPT = r"""
import sys, torch
from pathlib import Path
f = Path(sys.argv[1])
state = torch.load(f / "train" / "train_state.pt", weights_only=True)
torch.save({k: v for k, v in state.items() if k != "generator"}, f / "state_no_generator.pt")
torch.save({**state, "position": {"epoch": "x", "step": -5}}, f / "state_bad_position.pt")
"""


LOCAL = "localhost,127.0.0.1,::1"  # direct (Chromium's DevTools, the closed-port URL cases); the rest via a dead proxy


def child_env(t: Path, f: Path, extra: Mapping[str, str] = ()) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTSR_BENCH_")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1", TORCH_HOME=str(t / ".torch"),
               http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9",
               HTTPS_PROXY="http://127.0.0.1:9", no_proxy=LOCAL, NO_PROXY=LOCAL, PYTHONUNBUFFERED="1", COLUMNS="100")
    env.update({k: v.format(t=t, f=f) for k, v in dict(extra).items()})
    return env


def build_fixtures(python: str, repo: Path, f: Path) -> None:
    """Checkpoints, release files and finished run folders every case copies from (built with the checkout)."""
    env = child_env(f, f)

    def run(args: list[str], what: str) -> None:
        proc = subprocess.run([python, *args], cwd=repo, env=env, capture_output=True, text=True,
                              timeout=600, check=False)
        if proc.returncode != 0:
            sys.exit(f"fixture '{what}' failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")

    run(["-c", FIXTURE_SCRIPT, str(f)], "checkpoints")
    run(["-m", "benchmarks.run", "--protocol", "demo", "--methods", "bicubic", "ttsr", "--weights",
         f"ttsr={f / 'ttsr.pt'}", "--limit", "1", "--metrics", "psnr", "ssim", "--device", "cpu",
         "--save-images", "--out", str(f / "run")], "finished run")
    (f / "micro.toml").write_text(micro_with())
    run(["-m", "benchmarks.train", "--config", str(f / "micro.toml"), "--out", str(f / "train"), "--allow-random-vgg",
         "--device", "cpu", "--no-progress"], "finished training run")
    run(["-c", STATE_SCRIPT, str(f)], "crafted training states")


# ======================================================================================= running
@dataclass
class Result:
    case: Case
    outcome: str
    exit_codes: list[int | None]
    last_line: str
    detail: str
    seconds: float


# Limits are set by a tiny launcher that then execs the entry point (no preexec_fn: the sweep runs threads).
LAUNCHER = """import os, resource, sys
for limit, value in ((resource.RLIMIT_AS, sys.argv[1]), (resource.RLIMIT_FSIZE, sys.argv[2])):
    if value != "-":
        resource.setrlimit(limit, (int(value), int(value)))
os.execv(sys.argv[3], sys.argv[3:])
"""


def limited(case: Case, python: str, argv: list[str]) -> list[str]:
    """`argv` run under the case's address-space and file-size limits."""
    memory = "-" if case.memory_gib is None else str(int(case.memory_gib * 2**30))
    fsize = "-" if case.fsize is None else str(case.fsize)
    return [python, "-c", LAUNCHER, memory, fsize, *argv]


def _digest(path: Path) -> str | None:
    """sha256 of a file, or of every file under a folder (names included); None when absent."""
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    if path.is_dir():
        digest = hashlib.sha256()
        for p in sorted(path.rglob("*")):
            if p.is_file():
                digest.update(str(p.relative_to(path)).encode() + hashlib.sha256(p.read_bytes()).digest())
        return digest.hexdigest()
    return None


def _finished_rows(run_dir: Path) -> dict[tuple, tuple] | None:
    """(method, dataset, protocol, ref_mode, image) -> (psnr, ssim) of a rows.csv, read with the csv module."""
    try:
        with open(run_dir / "rows.csv", newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        return {tuple(r[k] for k in ("method", "dataset", "protocol", "ref_mode", "image")): (r["psnr"], r["ssim"])
                for r in rows if r.get("psnr")}
    except (OSError, UnicodeDecodeError, KeyError, csv.Error, TypeError):
        return None


def _same_number(a: str, b: str) -> bool:
    try:
        x, y = float(a), float(b)
    except ValueError:
        return a == b
    return x == y or abs(x - y) <= 1e-6 * max(1.0, abs(x))


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.replace("\r", "\n").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _rows_problem(case: Case, t: Path, before: dict | None) -> str | None:
    if case.rows and before:
        after = _finished_rows(t / case.rows) or {}
        lost = [k for k, v in before.items() if k not in after or not all(map(_same_number, v, after[k]))]
        if lost:
            return f"{len(lost)} of {len(before)} finished rows lost or changed in {case.rows}/rows.csv, e.g. {lost[0]}"
    if case.valid_rows:
        folder, expected = case.valid_rows
        path = t / folder / "rows.csv"
        try:
            table = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
        except (OSError, UnicodeDecodeError, csv.Error) as err:
            return f"{folder}/rows.csv unreadable after the run ({err})"
        header, body = table[0] if table else [], table[1:]
        torn = [r for r in body if len(r) != len(header)]
        keys = {tuple(r[:5]) for r in body if len(r) == len(header)}
        if torn or len(body) != expected or len(keys) != expected:
            return (f"{folder}/rows.csv: {len(body)} rows ({len(keys)} distinct keys, {len(torn)} torn), "
                    f"expected {expected}")
    return None


def run_case(case: Case, python: str, repo: Path, fixtures: Path, scratch: Path, keep_temp: bool) -> Result:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{case.entry}-{case.name}").strip("-")[:60]
    t = Path(tempfile.mkdtemp(prefix=f"{slug}-", dir=scratch))
    started = time.perf_counter()
    try:
        for step in case.setup:
            step(t, fixtures)
        kept = {rel: _digest(t / rel) for rel in case.keep}
        rows_before = _finished_rows(t / case.rows) if case.rows else None
        argv = limited(case, python, [python, "-m", case.entry, *case.argv(t, fixtures)])
        env = child_env(t, fixtures, case.env)
        procs = []
        for i in range(case.copies):
            procs.append(subprocess.Popen(argv, cwd=repo, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, start_new_session=True))
            if case.copies > 1:
                time.sleep(0.3)
        outputs = []
        for proc in procs:
            try:
                out, err = proc.communicate(timeout=case.timeout)
                outputs.append((proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the case's own process group (reproduce's runner too)
                out, err = proc.communicate()
                outputs.append((None, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")))
        outcome, detail = classify(case, t, outputs, kept, rows_before)
        codes = [code for code, _, _ in outputs]
        stderr_last = [_last_line(err) or _last_line(out) for _, out, err in outputs]
        return Result(case, outcome, codes, " | ".join(dict.fromkeys(stderr_last)), detail,
                      time.perf_counter() - started)
    except Exception as err:  # noqa: BLE001 - a broken case must not stop the sweep
        return Result(case, "wrong-exit", [], f"sweep error: {type(err).__name__}: {err}", "setup failed",
                      time.perf_counter() - started)
    finally:
        if not keep_temp:
            shutil.rmtree(t, ignore_errors=True)


def classify(case: Case, t: Path, outputs: list[tuple[int | None, str, str]], kept: dict, rows_before) -> tuple[str, str]:
    """The worst outcome over the case's processes, and one line saying why."""
    if (t / MARKER).exists():
        return "pickle-executed", f"{MARKER} was created: a crafted pickle was executed"
    changed = [rel for rel, digest in kept.items() if _digest(t / rel) != digest]
    if changed:
        return "data-lost", f"changed or removed: {', '.join(changed)}"
    problem = _rows_problem(case, t, rows_before)
    if problem:
        return "data-lost", problem
    verdicts = [_verdict(case, t, code, out, err) for code, out, err in outputs]
    return max(verdicts, key=lambda v: SEVERITY[v[0]])


def _verdict(case: Case, t: Path, code: int | None, out: str, err: str) -> tuple[str, str]:
    if "Traceback (most recent call last)" in out + err:
        return "traceback", _last_line(err)
    if code is None:
        return "wrong-exit", f"timeout after {case.timeout:.0f} s (killed)"
    if code == 0:
        if case.expect == "error":
            return "wrong-exit", "exit 0 on bad input"
        if case.mentions and not re.search(case.mentions, out + err, re.IGNORECASE):
            return "wrong-output", f"exit 0 without naming {case.mentions!r} in the output"
        if case.forbid:
            path, text = case.forbid
            target = t / path
            if target.is_file() and text in target.read_text(encoding="utf-8", errors="replace"):
                return "wrong-output", f"{path} holds {text!r} unescaped"
        return "clean", "exit 0"
    if case.expect == "ok":
        return "wrong-exit", f"exit {code} on a valid input"
    if code not in case.codes:
        return "wrong-exit", f"exit {code}, expected {'/'.join(map(str, case.codes))}"
    if code == 3:  # nothing measured: the runner says so on stdout after listing what it skipped
        return ("clean", "exit 3") if "nothing measured" in out + err else \
            ("unclear-message", "exit 3 without 'nothing measured'")
    if not CLEAN_LAST_LINE.match(_last_line(err)):
        return "unclear-message", "last stderr line is not one 'error: ...' line"
    return "clean", f"exit {code}"


# ======================================================================================= report
def print_tables(results: list[Result]) -> None:
    columns = ("cases", *OUTCOMES)
    width = max(len(e) for e in ENTRIES) + 2
    header = f"{'entry point':<{width}}" + "".join(f"{c:>17}" for c in columns)
    print(header)
    print("-" * len(header))
    totals = dict.fromkeys(columns, 0)
    for entry in ENTRIES:
        mine = [r for r in results if r.case.entry == entry]
        if not mine:
            continue
        counts = {"cases": len(mine), **{o: sum(r.outcome == o for r in mine) for o in OUTCOMES}}
        for k, v in counts.items():
            totals[k] += v
        print(f"{entry:<{width}}" + "".join(f"{counts[c]:>17}" for c in columns))
    print("-" * len(header))
    print(f"{'total':<{width}}" + "".join(f"{totals[c]:>17}" for c in columns))
    print(f"\nbad inputs tried {totals['cases']}, clean exits {totals['clean']}, tracebacks {totals['traceback']}, "
          f"wrong exit codes {totals['wrong-exit']}, unclear messages {totals['unclear-message']}, "
          f"wrong output {totals['wrong-output']}, data lost {totals['data-lost']}, "
          f"pickles executed {totals['pickle-executed']}")
    failing = [r for r in results if r.outcome != "clean"]
    if failing:
        print("\nnot clean, by kind:")
        for kind in sorted({r.case.kind for r in failing}):
            print(f"  [{kind}]")
            for r in sorted((r for r in failing if r.case.kind == kind), key=lambda r: (r.case.entry, r.case.name)):
                codes = ",".join("timeout" if c is None else str(c) for c in r.exit_codes)
                print(f"    {r.case.entry} · {r.case.name}: {r.outcome} (exit {codes}; {r.detail})")
                print(f"        {r.last_line[:220]}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=DEFAULT_REPO, help="checkout under test (default: this one)")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the entry points")
    parser.add_argument("--only", action="append", choices=list(ENTRIES), metavar="ENTRY",
                        help=f"only this entry point (repeatable): {', '.join(ENTRIES)}")
    parser.add_argument("--case", action="append", help="only cases whose name contains this text (repeatable)")
    parser.add_argument("--jobs", type=int, default=2, help="cases run at once (default 2)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write every case with its outcome here")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--keep-temp", action="store_true", help="keep each case's folder (for debugging)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")

    cases = [case for entry, make in ENTRIES.items() if not args.only or entry in args.only for case in make()]
    if args.case:
        cases = [c for c in cases if any(text.lower() in c.name.lower() for text in args.case)]
    names = [(c.entry, c.name) for c in cases]
    assert len(names) == len(set(names)), "duplicate case names"
    if args.list:
        for c in cases:
            print(f"{c.entry:<24} {c.kind:<20} {c.expect:<5} {c.name}")
        print(f"{len(cases)} cases")
        return 0

    repo = args.repo.resolve()
    scratch = Path(tempfile.mkdtemp(prefix="ttsr-sweep-"))
    top_before = {p.name for p in repo.iterdir()}
    started = time.perf_counter()
    try:
        print(f"building fixtures with {repo} ...", flush=True)
        fixtures = scratch / "fixtures"
        fixtures.mkdir()
        build_fixtures(args.python, repo, fixtures)
        print(f"running {len(cases)} cases, {args.jobs} at a time ...", flush=True)
        results: list[Result] = []
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(run_case, c, args.python, repo, fixtures, scratch, args.keep_temp) for c in cases]
            for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
                result = future.result()
                results.append(result)
                mark = "." if result.outcome == "clean" else "!"
                print(f"[{done:>3}/{len(cases)}] {mark} {result.outcome:<15} {result.seconds:5.1f} s  "
                      f"{result.case.entry} · {result.case.name}", flush=True)
    finally:
        if not args.keep_temp:
            shutil.rmtree(scratch, ignore_errors=True)
    order = {(c.entry, c.name): i for i, c in enumerate(cases)}
    results.sort(key=lambda r: order[(r.case.entry, r.case.name)])
    print(f"\nsweep of {repo} in {time.perf_counter() - started:.0f} s\n")
    print_tables(results)
    new_top = sorted({p.name for p in repo.iterdir()} - top_before)
    if new_top:
        print(f"\nwarning: the sweep left new entries in {repo}: {', '.join(new_top)}")
    if args.json:
        records = [{"entry": r.case.entry, "name": r.case.name, "kind": r.case.kind, "expect": r.case.expect,
                    "outcome": r.outcome, "exit_codes": r.exit_codes, "last_line": r.last_line, "detail": r.detail,
                    "seconds": round(r.seconds, 2), "args": list(r.case.args)} for r in results]
        args.json.write_text(json.dumps(records, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"\ncases and outcomes: {args.json}")
    return 0 if all(r.outcome == "clean" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
