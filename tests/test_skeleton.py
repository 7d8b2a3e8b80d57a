"""The package skeleton: image I/O conversions, atomic writes, the user-error convention."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from foundation.errors import UserError, cli_main
from foundation.fileio import atomic_open
from foundation.imageio import read_image, write_image


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16", "P", "RGB"])
def test_read_image_converts_to_rgb_uint8(tmp_path, mode):
    rgb = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    image = Image.fromarray(rgb)
    if mode == "I;16":
        image = Image.fromarray((rgb[..., 0].astype(np.uint16) * 257))
    elif mode != "RGB":
        image = image.convert(mode)
    path = tmp_path / "x.png"
    image.save(path)
    out = read_image(path)
    assert out.dtype == np.uint8 and out.shape == (7, 9, 3)
    if mode == "I;16":
        assert np.array_equal(out[..., 0], rgb[..., 0])
    if mode == "RGB":
        assert np.array_equal(out, rgb)


def test_read_image_bad_input(tmp_path):
    with pytest.raises(UserError, match="not found"):
        read_image(tmp_path / "missing.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(UserError, match="bad.png"):
        read_image(bad)


def test_write_image_round_trip_and_atomic(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    write_image(tmp_path / "a.png", rgb)
    assert np.array_equal(read_image(tmp_path / "a.png"), rgb)
    target = tmp_path / "b.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target, "w") as handle:
            handle.write("new")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_cli_main_user_error_exit_code(capsys):
    @cli_main
    def main():
        raise UserError("some/file.png: not an image\nsecond line")

    assert main() == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "some/file.png" in err
