"""Degradations: MATLAB imresize against MATLAB's own LR files, and the protocol inputs."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from benchmarks import degrade
from tests.conftest import shared_path
from foundation import resize
from foundation.errors import UserError


def _read(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_pil_bicubic_is_the_shared_implementation():
    assert degrade.pil_bicubic is resize.pil_bicubic


@pytest.mark.parametrize("name", ["baby", "bird", "butterfly", "head", "woman"])
def test_matlab_imresize_reproduces_set5_matlab(name):
    root = shared_path("data", "Set5_matlab")
    hr = _read(root / "HR" / f"{name}.bmp")
    expected = _read(root / "LR_bicubic" / "X4" / f"{name}x4.bmp")
    lr = degrade.matlab_imresize(hr, 0.25)
    assert lr.dtype == np.uint8 and lr.shape == expected.shape
    diff = np.abs(lr.astype(np.int16) - expected)
    assert (diff > 0).mean() <= 0.001
    assert diff.max() <= 1


def test_matlab_imresize_properties():
    flat = np.full((20, 36, 3), 77, np.uint8)
    out = degrade.matlab_imresize(flat, 0.25)
    assert out.shape == (5, 9, 3) and (out == 77).all()        # weights sum to 1
    assert degrade.matlab_imresize(np.zeros((10, 10), np.uint8), 1 / 3).shape == (4, 4)  # ceil
    up = degrade.matlab_imresize(flat[:5, :9], 4)
    assert up.shape == (20, 36, 3) and (up == 77).all()
    ramp = np.tile(np.linspace(0, 1, 40), (8, 1))
    down = degrade.matlab_imresize(ramp, 0.5)
    assert down.dtype == np.float64 and np.all(np.diff(down[0]) > 0)


def test_refsr_inputs_shapes_and_lr_reference():
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (67, 85, 3), dtype=np.uint8)
    ref = rng.integers(0, 256, (50, 43, 3), dtype=np.uint8)
    inputs = degrade.refsr_inputs(hr, ref, scale=4)
    assert inputs.hr.shape == (64, 84, 3) and (inputs.hr == hr[:64, :84]).all()
    assert inputs.lr.shape == (16, 21, 3) and inputs.lr_up.shape == (64, 84, 3)
    assert (inputs.lr == resize.pil_bicubic(hr[:64, :84], (21, 16))).all()
    assert inputs.ref.shape == (48, 40, 3) and inputs.ref_down_up.shape == (48, 40, 3)
    assert all(a.dtype == np.uint8 for a in inputs)
    as_lr = degrade.refsr_inputs(hr, None, scale=4)
    assert as_lr.ref.shape == (16, 20, 3) and (as_lr.ref == as_lr.lr[:, :20]).all()
    assert as_lr.ref_down_up.shape == (16, 20, 3)


def test_sisr_inputs_given_and_made_lr():
    rng = np.random.default_rng(1)
    hr = rng.integers(0, 256, (70, 66, 3), dtype=np.uint8)
    lr = rng.integers(0, 256, (17, 16, 3), dtype=np.uint8)
    given = degrade.sisr_inputs(hr, lr, scale=4)
    assert given.hr.shape == (68, 64, 3) and given.lr is not None and (given.lr == lr).all()
    made = degrade.sisr_inputs(hr, scale=4)
    assert made.hr.shape == (68, 64, 3)
    assert (made.lr == degrade.matlab_imresize(hr[:68, :64], 0.25)).all()
    with pytest.raises(UserError, match="not a ×4 LR/HR pair"):
        degrade.sisr_inputs(hr[:60], lr, scale=4)  # HR smaller than ×4 the LR
    edge = degrade.sisr_inputs(np.zeros((71, 67, 3), np.uint8), lr, scale=4)
    assert edge.hr.shape == (68, 64, 3)  # 4·lr + 3 on both sides: the protocol's crop
    with pytest.raises(UserError, match="the HR must be 64–67 × 68–71"):
        degrade.sisr_inputs(np.zeros((72, 64, 3), np.uint8), lr, scale=4)  # 4·lr + 4: not this LR's HR
    with pytest.raises(UserError, match="not a ×4 LR/HR pair"):
        degrade.sisr_inputs(np.zeros((34, 32, 3), np.uint8), lr, scale=4)  # the HR of a ×2 LR
    with pytest.raises(UserError):
        degrade.refsr_inputs(hr[:3], None, scale=4)
