"""Table 1's RSRGAN, SRGAN and ENet rows: rsrgan against RankSRGAN's own network (golden), srgan as
the labelled MSRGAN substitute, enet (EnhanceNet-PAT) against the release's graph run by TensorFlow on
a V1 checkpoint TensorFlow wrote (golden), and from V1 files built here in the documented layout
from known values, each convention on a hand-computed case. No weights needed."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from baselines import registry
from baselines.sisr import enhancenet
from foundation.errors import UserError
from foundation.tf_checkpoint import TABLE_MAGIC, is_tf_v1_checkpoint, read_tf_v1_checkpoint
from tests.tf_v1_checkpoint_writer import block, field, varint, write_checkpoint

GOLDEN = Path(__file__).with_name("golden") / "msrresnet_release_small.pt"
ENET_GOLDEN = Path(__file__).with_name("golden") / "enhancenet_release_small"


# --------------------------------------------------------------------------- rsrgan / srgan

def test_rsrgan_equals_the_ranksrgan_release_on_its_golden(tmp_path):
    golden = torch.load(GOLDEN, map_location="cpu", weights_only=True)
    assert golden["config"] == {"in_nc": 3, "out_nc": 3, "nf": 8, "nb": 2, "upscale": 4}
    assert any(k.startswith("recon_trunk.") for k in golden["state_dict"])  # MMSR naming, as released
    path = tmp_path / "mmsr_RankSRGAN_NIQE.pth"
    torch.save(golden["state_dict"], path)
    method = registry.get("ranksrgan").load(path)
    assert method.name == "rsrgan"
    with torch.no_grad():
        out = method.model(golden["input"])
    assert out.shape == (1, 3, 24, 28)
    assert (out - golden["output"]).abs().max().item() <= 1e-5
    sr = method({"lr": golden["input"] * 255.0})  # the Method interface: [0, 255] in, clamped out
    assert torch.allclose(sr, (golden["output"] * 255.0).clamp(0, 255), atol=1e-3)


def test_srgan_is_the_msrgan_file_labelled_substitute(tmp_path, monkeypatch):
    srgan, msrgan = registry.get("srgan"), registry.get("msrgan")
    assert srgan.weights.files == msrgan.weights.files == ("MSRGANx4.pth",)
    assert srgan.weights.origin_of("MSRGANx4.pth") == "substitute"
    assert msrgan.weights.origin_of("MSRGANx4.pth") == "official"
    label = "substitute: MSRGAN (MMSR/BasicSR), not Ledig et al.'s SRGAN"
    assert label in srgan.description and label in srgan.weights.note
    folder = tmp_path / "weights"
    (folder / "msrgan").mkdir(parents=True)
    golden = torch.load(GOLDEN, map_location="cpu", weights_only=True)
    torch.save(golden["state_dict"], folder / "msrgan" / "MSRGANx4.pth")
    monkeypatch.setenv(registry.WEIGHTS_ENV, str(folder))
    assert registry.find_weights(srgan) is None  # <dir>/<method>/<file>: msrgan's subfolder is msrgan's
    torch.save(golden["state_dict"], folder / "MSRGANx4.pth")
    assert registry.find_weights(srgan) == registry.find_weights(msrgan) == folder / "MSRGANx4.pth"
    with torch.no_grad():
        out = srgan.load(folder / "MSRGANx4.pth").model(golden["input"])
    assert (out - golden["output"]).abs().max().item() <= 1e-5
    rsrgan = registry.get("rsrgan").weights
    assert rsrgan.filename == "mmsr_RankSRGAN_NIQE.pth" and rsrgan.origin_of(rsrgan.filename) == "official"
    assert "1_KhEc_zBRW7iLeEJITU3i923DC6wv51T" in rsrgan.drive
    # the manifest's weights facts (origin, training set) by file name
    facts = {name: registry.get(name).weights_facts(Path(registry.get(name).weights.filename), {})
             for name in ("srgan", "rsrgan", "enet")}
    assert facts == {"srgan": {"weights_origin": "substitute", "trained_on": "DIV2K"},
                     "rsrgan": {"weights_origin": "official", "trained_on": "DIV2K"},
                     "enet": {"weights_origin": "official", "trained_on": "MSCOCO (unconfirmed)"}}


# --------------------------------------------------------------------------- enet: the release's golden

def test_enet_equals_the_enhancenet_release_on_its_golden():
    """The release's nnlib/enhancenet graph (8 filters, 2 blocks) under TensorFlow, its weights saved
    by TensorFlow's own V1 saver: read here without TensorFlow, the outputs agree to 1e-5."""
    golden = np.load(ENET_GOLDEN.with_suffix(".npz"), allow_pickle=False)
    checkpoint = ENET_GOLDEN.with_suffix(".ckpt")
    arrays = read_tf_v1_checkpoint(checkpoint)
    assert len(arrays) == 2 * (2 * 2 + 5) and arrays["generator/Conv_8/weights"].shape == (3, 3, 8, 3)
    method = registry.get("enet").load(checkpoint)
    x = torch.from_numpy(golden["input"]).permute(0, 3, 1, 2)  # NHWC → NCHW
    with torch.no_grad():
        out = method.model(x).permute(0, 2, 3, 1).numpy()
    assert out.shape == golden["output"].shape == (1, 20, 24, 3)
    assert np.abs(out - golden["output"]).max() <= 1e-5
    base = enhancenet.tf_legacy_bicubic(x.double(), 4).permute(0, 2, 3, 1).numpy()
    assert np.abs(base - golden["bicubic"]).max() <= 1e-5


# --------------------------------------------------------------------------- the TF V1 reader

def test_tf_v1_reader_returns_the_written_values(tmp_path):
    """Several blocks, prefix-shared keys, a tensor in 3 slices, raw tensor_content, three dtypes."""
    rng = np.random.default_rng(0)
    arrays = {
        "generator/Conv/weights": rng.standard_normal((3, 3, 3, 4)).astype(np.float32),
        "generator/Conv/biases": np.array([1.5, -2.0, 0.25, 3e-8], dtype=np.float32),
        "generator/Conv_1/weights": rng.standard_normal((7, 2)).astype(np.float32),
        "global_step": np.array([1, -7, 123456789], dtype=np.int32),
        "scale": np.array([[0.1, 2.0 ** -40]], dtype=np.float64),
    }
    path = write_checkpoint(tmp_path / "ckpt", arrays, split={"generator/Conv_1/weights": 3},
                            raw=("generator/Conv/biases",), entries_per_block=2)
    assert is_tf_v1_checkpoint(path) and not is_tf_v1_checkpoint(GOLDEN)
    got = read_tf_v1_checkpoint(path)
    assert sorted(got) == sorted(arrays)
    for name, array in arrays.items():
        assert got[name].dtype == array.dtype and got[name].shape == array.shape
        np.testing.assert_array_equal(got[name], array)


def test_tf_v1_reader_refuses_bad_files_in_one_line(tmp_path):
    arrays = {"w": np.ones((2, 2), dtype=np.float32)}
    good = write_checkpoint(tmp_path / "good", arrays).read_bytes()
    cases = {
        "truncated": good[:-60] + good[-8:],
        "compressed": write_checkpoint(tmp_path / "c", arrays, compression=1).read_bytes(),
        "random": bytes(range(256)) * 2,
    }
    # a V2 checkpoint's .index: the same table, but its empty key holds a BundleHeaderProto (num_shards = 1)
    data = block([(b"", field(1, 1) + field(2, 0))], 1)
    index = block([(b"", varint(0) + varint(len(data)))], 1)
    handles = varint(0) + varint(0) + varint(len(data) + 5) + varint(len(index))
    cases["v2_index"] = (data + b"\0" * 5 + index + b"\0" * 5 + handles + b"\0" * (40 - len(handles))
                         + struct.pack("<Q", TABLE_MAGIC))
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(UserError) as err:
            read_tf_v1_checkpoint(tmp_path / name)
        assert "not a readable TensorFlow V1 checkpoint" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(UserError, match="file not found"):
        read_tf_v1_checkpoint(tmp_path / "nope")


# --------------------------------------------------------------------------- EnhanceNet conventions

def test_legacy_tf_bicubic_hand_computed():
    """TF ≤ 1.13 resize_bicubic (the release's TF 0.12): output j reads source j/4, Keys a = -0.75:
    the weights at distance 1/4, 1/2, 3/4 are 0.87890625, 0.59375, 0.26171875; at 5/4, 3/2, 7/4
    they are -0.10546875, -0.09375, -0.03515625; taps clamp at the border."""
    row = torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=torch.float64).view(1, 1, 1, 4)
    out = enhancenet.tf_legacy_bicubic(row.expand(1, 1, 4, 4).contiguous(), 4)[0, 0, 0]
    expected = [0, 0.26171875, 0.59375, 0.87890625, 1, 0.87890625, 0.59375, 0.26171875,
                0, -0.10546875, -0.09375, -0.03515625, 0, 0, 0, 0]
    assert out.tolist() == expected
    torch_bicubic = F.interpolate(row.expand(1, 1, 4, 4), scale_factor=4, mode="bicubic", align_corners=False)
    assert (torch_bicubic[0, 0, 0] - out).abs().max() > 0.2  # half-pixel centres: a different base
    delta = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    delta[0, 0, 1, 2] = 1.0
    column = enhancenet.tf_legacy_bicubic_matrix(4, 16)
    assert torch.equal(enhancenet.tf_legacy_bicubic(delta, 4)[0, 0], torch.outer(column[:, 1], column[:, 2]))


def test_release_kernels_become_oihw_value_by_value():
    rng = np.random.default_rng(1)
    arrays = {f"generator/Conv{'' if k == 0 else f'_{k}'}/{part}": torch.from_numpy(
        rng.standard_normal(shape).astype(np.float32))
        for k in range(7) for part, shape in (("weights", (3, 3, 3 if k == 0 else 4, 3 if k == 6 else 4)),
                                              ("biases", (3 if k == 6 else 4,)))}
    state = enhancenet.from_release(arrays)
    assert list(state)[::2] == [f"{n}.weight" for n in ("conv_first", "body.0.conv1", "body.0.conv2",
                                                         "conv_up1", "conv_up2", "conv_hr", "conv_last")]
    hwio = arrays["generator/Conv_3/weights"]  # creation index 3 = conv_up1 for one block
    oihw = state["conv_up1.weight"]
    for o, i, h, w in np.ndindex(*oihw.shape):
        assert oihw[o, i, h, w] == hwio[h, w, i, o]
    with pytest.raises(ValueError, match="expected 2·blocks"):
        enhancenet.from_release({k: v for k, v in arrays.items() if "Conv_6" not in k})
    assert dict(enhancenet.RELEASE_TABLE)["generator/Conv_21/weights"] == "conv_up1.weight"
    assert dict(enhancenet.RELEASE_TABLE)["generator/Conv_24/biases"] == "conv_last.bias"


def _hand_release(nf: int = 4) -> dict[str, np.ndarray]:
    """A 1-block release file: identity 3×3 convs (centre tap 1 on channels c → c), the residual
    block's convs zero, and conv_up1 = the LEFT neighbour (HWIO tap [h=1, w=0]: y[i, j] = x[i, j-1])."""
    def kernel(cin, cout, tap=(1, 1)):
        w = np.zeros((3, 3, cin, cout), dtype=np.float32)
        for c in range(min(cin, cout)):
            w[tap[0], tap[1], c, c] = 1.0
        return w
    kernels = [kernel(3, nf), np.zeros((3, 3, nf, nf), np.float32), np.zeros((3, 3, nf, nf), np.float32),
               kernel(nf, nf, (1, 0)), kernel(nf, nf), kernel(nf, nf), kernel(nf, 3)]
    out = {}
    for k, w in enumerate(kernels):
        name = "generator/Conv" + ("" if k == 0 else f"_{k}")
        out[f"{name}/weights"], out[f"{name}/biases"] = w, np.zeros(w.shape[-1], dtype=np.float32)
    return out


def test_enet_on_a_hand_built_release_file(tmp_path):
    """Network = ReLU(x - mean) upsampled by nearest ×2, shifted one column right at the 2× grid (upsample
    BEFORE conv: at 4× columns j ≥ 2 read LR column (j - 2) // 4; conv first would shift 4), nearest ×2;
    plus the legacy TF bicubic of x. The means are R, G, B = 0.47614917, 0.45001204, 0.40904046."""
    path = write_checkpoint(tmp_path / "enhancenet_pat_weights", _hand_release(), entries_per_block=5)
    method = registry.get("EnhanceNet").load(path)
    assert method.name == "enet"
    lr = torch.tensor([[[0.9, 0.6], [0.7, 1.0]], [[0.8, 0.8], [0.8, 0.8]], [[0.7, 0.5], [0.6, 0.9]]]).unsqueeze(0)
    with torch.no_grad():
        out = method.model(lr)[0].double()
    mean = torch.tensor([0.47614917, 0.45001204, 0.40904046], dtype=torch.float64)
    z = lr[0].double() - mean.view(3, 1, 1)  # all > 0: the ReLUs pass it
    expected_net = torch.zeros(3, 8, 8, dtype=torch.float64)
    for i in range(8):
        for j in range(2, 8):
            expected_net[:, i, j] = z[:, i // 4, (j - 2) // 4]
    base = enhancenet.tf_legacy_bicubic(lr.double(), 4)[0]
    assert torch.allclose(out, expected_net + base, atol=1e-6)
    # constant green: the base is exactly 0.8 everywhere, the network part 0.8 - G mean from column 2 on
    assert abs(out[1, 5, 5].item() - (0.8 - 0.45001204 + 0.8)) < 1e-6 and abs(out[1, 5, 0].item() - 0.8) < 1e-6
    sr = method({"lr": lr * 255.0})[0]
    assert torch.allclose(sr, (out * 255.0).clamp(0, 255).float(), atol=1e-3)


def test_enet_refuses_wrong_files_in_one_line(tmp_path):
    method = registry.get("enet")
    partial = {k: v for k, v in _hand_release().items() if "Conv_6" not in k}
    with pytest.raises(UserError, match="not the EnhanceNet-PAT release's checkpoint"):
        method.load(write_checkpoint(tmp_path / "partial", partial))
    other = tmp_path / "MSRGANx4.pth"
    torch.save(torch.load(GOLDEN, weights_only=True)["state_dict"], other)
    with pytest.raises(UserError) as err:
        method.load(other)
    assert "\n" not in str(err.value) and "enet" in str(err.value)
    with pytest.raises(UserError, match="benchmarks.weights fetch enet"):
        method.load(None)


def test_weights_list_shows_the_three_rows(tmp_path, monkeypatch, capsys):
    from benchmarks import weights

    monkeypatch.setenv(registry.WEIGHTS_ENV, str(tmp_path / "empty"))
    monkeypatch.chdir(tmp_path)
    assert weights.main(["list"]) == 0
    out = capsys.readouterr().out
    rows = {}  # the table's row of each (the "Sources of the missing files" lines come later)
    for line in out.splitlines():
        if line.split()[:1] in (["rsrgan"], ["srgan"], ["enet"]):
            rows.setdefault(line.split()[0], line)
    assert "mmsr_RankSRGAN_NIQE.pth" in rows["rsrgan"] and "fetch" in rows["rsrgan"]
    assert "MSRGANx4.pth" in rows["srgan"] and "enhancenet_pat_weights" in rows["enet"] and "4250b3dc" in rows["enet"]
    assert "enet (enhancenet_pat_weights): https://raw.githubusercontent.com/msmsajjadi/EnhanceNet-Code/" in out
    assert "rsrgan (mmsr_RankSRGAN_NIQE.pth): https://drive.google.com/drive/folders/1_KhEc_zBRW7iLeEJITU3i923DC6wv51T" in out


def test_the_three_rows_end_to_end_on_the_demo_set(clean_env):
    """`benchmarks.run` on the demo set (1 image) with the goldens' weights (test weights, not the
    published files): enet reads the TensorFlow file given by --weights, srgan the MSRGAN-format file;
    each saved SR image is the network's output on the protocol's LR (PIL bicubic ↓4), rounded."""
    from benchmarks import run
    from benchmarks.degrade import refsr_inputs
    from benchmarks.results import read_rows
    from foundation.fileio import sha256_file
    from foundation.imageio import read_image

    mmsr = clean_env / "MSRGANx4.pth"  # the substitute's file name: its origin comes from the name
    torch.save(torch.load(GOLDEN, weights_only=True)["state_dict"], mmsr)
    tf_file = clean_env / "enhancenet_pat_weights"
    tf_file.write_bytes(ENET_GOLDEN.with_suffix(".ckpt").read_bytes())
    out = clean_env / "runs"
    assert run.main(["--protocol", "demo", "--methods", "enet", "srgan", "rsrgan", "--weights", f"enet={tf_file}",
                     f"srgan={mmsr}", f"rsrgan={mmsr}", "--out", str(out), "--save-images", "--limit", "1",
                     "--metrics", "psnr"]) == 0
    _, rows = read_rows(out / "rows.csv")
    graded = {r["method"]: r for r in rows if r["ref_mode"] == "graded"}
    assert set(graded) == {"enet", "srgan", "rsrgan"}
    assert graded["enet"]["weights_sha256"] == sha256_file(tf_file)
    assert graded["srgan"]["weights_sha256"] == graded["rsrgan"]["weights_sha256"] == sha256_file(mmsr)
    assert graded["srgan"]["psnr"] == graded["rsrgan"]["psnr"] and float(graded["enet"]["psnr"]) > 10
    records = json.loads((out / "manifest.json").read_text())["weights"]
    assert (records["srgan"]["weights_origin"], records["srgan"]["trained_on"]) == ("substitute", "DIV2K")
    assert records["enet"]["published"] is False  # test weights: not the release's sha256
    images = out / "images" / "demo"
    hr = read_image(images / "_hr" / "motorcycle_stereo.png")
    lr = torch.from_numpy(refsr_inputs(hr, None).lr).permute(2, 0, 1)[None].float()
    for name, weights_file in (("enet", tf_file), ("srgan", mmsr)):
        method = registry.get(name).load(weights_file)
        expected = method({"lr": lr})[0].round().permute(1, 2, 0).numpy().astype(np.uint8)
        saved = read_image(images / name / graded[name]["config_id"] / "motorcycle_stereo.png")
        assert saved.shape == (144, 192, 3) and np.array_equal(saved, expected)
