"""Limits on what the user gives: image sizes (decompression bombs, pixel limit), LR/HR size
relation, memory budgets and the numeric options of the evaluation CLIs."""
from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from benchmarks import report, run
from benchmarks.datasets.files import probe_size
from foundation.budget import MIN_MEMORY, parse_memory
from foundation.errors import UserError
from foundation.imageio import (
    DEFAULT_MAX_PIXELS,
    MAX_PIXELS_ENV,
    image_size,
    parse_pixel_count,
    pixel_limit,
    read_image,
    write_image,
)
from foundation.resize import check_lr_hr


def bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR declares width × height RGB pixels (no real pixel data)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


# ----------------------------------------------------------------------------- image size limits

def test_bomb_png_is_a_user_error_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png(100_000, 100_000))
    assert path.stat().st_size < 100
    assert image_size(path) == (100_000, 100_000)  # the header alone
    for read in (read_image, probe_size):  # refused by the pixel limit, not by PIL, before decoding
        with pytest.raises(UserError, match=r"bomb.png: 100000×100000 is 10,000,000,000 pixels, over the limit "
                                            r"of 16,777,216 per image; .*--max-pixels"):
            read(path)


def test_header_over_the_limit_is_refused_before_decoding(tmp_path):
    """12000×12000 declared in the header: refused by our limit (144 MP > 16.8 MP) without decoding
    (the file holds no pixel data, so decoding would fail differently)."""
    path = tmp_path / "large.png"
    path.write_bytes(bomb_png(12_000, 12_000))
    assert image_size(path) == (12_000, 12_000)  # the header alone is fine
    with pytest.raises(UserError, match=r"large.png: 12000×12000 is 144,000,000 pixels, over the limit of "
                                        r"16,777,216"):
        read_image(path)


def test_lowered_limit_refuses_a_real_image(tmp_path, monkeypatch):
    path = tmp_path / "img.png"
    image = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    write_image(path, image)
    assert np.array_equal(read_image(path, max_pixels=1200), image)  # exactly at the limit: read
    with pytest.raises(UserError, match="40×30 is 1,200 pixels, over the limit of 1,199"):
        read_image(path, max_pixels=1199)
    monkeypatch.setenv(MAX_PIXELS_ENV, "1000")
    assert pixel_limit() == 1000
    with pytest.raises(UserError, match="over the limit of 1,000"):
        read_image(path)
    assert read_image(path, max_pixels=5000).shape == (30, 40, 3)  # the argument wins over the env
    monkeypatch.setenv(MAX_PIXELS_ENV, "lots")
    with pytest.raises(UserError, match=r"\$TTSR_BENCH_MAX_PIXELS 'lots'"):
        read_image(path)
    monkeypatch.delenv(MAX_PIXELS_ENV)
    assert pixel_limit() == DEFAULT_MAX_PIXELS == 4096 * 4096


def test_parse_pixel_count():
    assert parse_pixel_count("16000000") == 16_000_000
    assert parse_pixel_count("16M") == 16_000_000
    assert parse_pixel_count("4096x4096") == parse_pixel_count("4096×4096") == 4096 * 4096
    for bad in ("0", "-5", "x", "4096x", "many"):
        with pytest.raises(UserError, match="--max-pixels"):
            parse_pixel_count(bad)


def test_bomb_in_a_dataset_is_skipped_with_the_reason(tmp_path):
    """An HR bomb is found by the header screen, a reference bomb when the sample is read: both are
    skipped images with the file named, the other images load."""
    from benchmarks.datasets import SampleSkipped
    from tests.test_datasets import make_cufed5, quiet

    root = make_cufed5(tmp_path / "CUFED5")
    (root / "001_0.png").write_bytes(bomb_png(100_000, 100_000))
    (root / "002_1.png").write_bytes(bomb_png(12_000, 12_000))
    seq = quiet("cufed5", root, skip_bad=True)
    assert seq.names == ["000", "002"]
    with pytest.raises(SampleSkipped):
        seq[1]
    assert [s.name for s in seq] == ["000"]
    reasons = {item["what"]: item["reason"] for item in seq.skipped}
    assert "001_0.png: 100000×100000 is 10,000,000,000 pixels, over the limit" in reasons["cufed5/001"]
    assert "002_1.png: 12000×12000" in reasons["cufed5/002"]
    # stitched mode probes every reference's size first: a bomb there is a skipped group, not a failed load
    (root / "000_3.png").write_bytes(bomb_png(100_000, 100_000))
    stitched = quiet("cufed5", root, ref_mode="stitched", skip_bad=True)
    assert stitched.names == ["000", "002"] and list(stitched) == []
    reasons = {item["what"]: item["reason"] for item in stitched.skipped}
    assert "000_3.png: 100000×100000 is 10,000,000,000 pixels" in reasons["cufed5/000"]
    assert "002_1.png: 12000×12000" in reasons["cufed5/002"]


# ----------------------------------------------------------------------------- LR/HR sizes

@pytest.mark.parametrize("hr,ok", [((24, 32), True), ((27, 35), True), ((28, 32), False), ((23, 32), False),
                                   ((24, 36), False), ((12, 16), False), ((10, 10), False)])
def test_check_lr_hr_allows_only_the_protocol_crop(hr, ok):
    """LR 6×8 at ×4: HR sides 24–27 and 32–35 (4·lr … 4·lr + 3) belong, anything else does not."""
    if ok:
        check_lr_hr((6, 8, 3), hr, 4)
    else:
        with pytest.raises(UserError, match=r"a.png \(8×6\) and b.png .* not a ×4 LR/HR pair: the HR must be "
                                            r"32–35 × 24–27"):
            check_lr_hr((6, 8, 3), hr, 4, lr_name="a.png", hr_name="b.png")


# ----------------------------------------------------------------------------- memory budgets

def test_parse_memory_units_and_bare_mib():
    assert parse_memory("4G") == parse_memory("4GB") == parse_memory("4 GiB") == 4 << 30
    assert parse_memory("512m") == parse_memory("512MiB") == parse_memory("512") == 512 << 20
    assert parse_memory("1.5G") == int(1.5 * (1 << 30))
    assert parse_memory("16") == MIN_MEMORY == 16 << 20
    assert parse_memory("16384K") == MIN_MEMORY
    assert parse_memory(64) == 64 << 20  # a config number: MiB as well


@pytest.mark.parametrize("text", ["4", "0", "15.9", "1000000B", "1MB", "16383K"])
def test_parse_memory_below_the_floor_is_one_clear_error(text):
    with pytest.raises(UserError, match=r"--max-memory .*below the 16 MiB .*give at least 16M") as err:
        parse_memory(text)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("text", ["lots", "-4G", "4X", "", "G", True])
def test_parse_memory_rejects_non_sizes(text):
    with pytest.raises(UserError, match="expected a size such as 4G"):
        parse_memory(text, "max_memory")


def test_runner_uses_the_same_parser():
    def parse(*argv):
        return run.build_parser().parse_args(list(argv)).max_memory

    assert parse() is None
    assert parse("--max-memory", "512") == parse_memory("512") == 512 << 20
    with pytest.raises(UserError, match="below the 16 MiB"):
        parse("--max-memory", "0")


# ----------------------------------------------------------------------------- numeric options

def _argparse_error(capsys, main, argv) -> str:
    """A CLI's usage error: exit 2 and ONE line on stderr (no usage block)."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    return err


@pytest.mark.parametrize("value", ["-1", "0", "2.5", "ten"])
def test_run_limit_must_be_at_least_one(capsys, value):
    last = _argparse_error(capsys, run.main, ["--limit", value])
    assert last == (f"error: python -m benchmarks.run: argument --limit: expected a whole number ≥ 1, got '{value}' "
                    "(see --help)")
    assert run.build_parser().parse_args(["--limit", "3"]).limit == 3


@pytest.mark.parametrize("option", ["--visual-images", "--visual-limit"])
def test_report_visual_counts_are_not_negative(capsys, option):
    last = _argparse_error(capsys, report.main, [option, "-1"])
    assert last == (f"error: python -m benchmarks.report: argument {option}: expected a whole number ≥ 0, got '-1' "
                    "(see --help)")
