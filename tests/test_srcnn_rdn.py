"""SRCNN (official MATLAB .mat) and RDN (official Torch7 .t7, EDSR-PyTorch and yjn870/torchSR state
dicts): converters proven on files built in the documented layouts, the RGB rule of SRCNN on a
hand-made image, and RDN against its two Python releases (tests/golden/rdn_release_small.pt, made
by tests/golden/make_rdn_release_small.py). No weights file is needed."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.io import savemat

from baselines import registry
from baselines.sisr import rdn as rdn_mod
from baselines.sisr import srcnn as srcnn_mod
from foundation.errors import UserError
from foundation.resize import upscale
from foundation.torch7 import LuaFunction, TorchObject, modules_in_order, read_t7
from tests.torch7_writer import LuaRDN, StorageView, lua_forward, write_t7

GOLDEN = Path(__file__).parent / "golden" / "rdn_release_small.pt"
DIV2K_MEAN_255 = tuple(255.0 * m for m in (0.4488, 0.4371, 0.4040))


# ------------------------------------------------------------------ SRCNN

def write_mat(path: Path, w1, b1, w2, b2, w3, b3) -> Path:
    savemat(str(path), {"weights_conv1": np.asarray(w1, np.float64), "biases_conv1": np.asarray(b1, np.float64),
                        "weights_conv2": np.asarray(w2, np.float64), "biases_conv2": np.asarray(b2, np.float64),
                        "weights_conv3": np.asarray(w3, np.float64), "biases_conv3": float(b3)})
    return path


def release_layout(k=(9, 5, 5), n=(64, 32)):
    """The release's variables filled with arange values (distinct, known)."""
    (k1, k2, k3), (n1, n2) = k, n
    w1 = np.arange(k1 * k1 * n1, dtype=np.float64).reshape(k1 * k1, n1)
    w2 = np.arange(n1 * k2 * k2 * n2, dtype=np.float64).reshape(n1, k2 * k2, n2)
    w3 = np.arange(n2 * k3 * k3, dtype=np.float64).reshape(n2, k3 * k3)
    return w1, np.arange(n1).reshape(n1, 1), w2, np.arange(n2).reshape(n2, 1), w3, 7.0


def test_srcnn_mat_converts_value_by_value_column_major(tmp_path):
    w1, b1, w2, b2, w3, b3 = release_layout()
    state = srcnn_mod.state_dict_from_mat(write_mat(tmp_path / "x4.mat", w1, b1, w2, b2, w3, b3))
    assert {k: tuple(v.shape) for k, v in state.items()} == {
        "conv1.weight": (64, 1, 9, 9), "conv1.bias": (64,), "conv2.weight": (32, 64, 5, 5), "conv2.bias": (32,),
        "conv3.weight": (1, 32, 5, 5), "conv3.bias": (1,)}
    # hand-computed: MATLAB reshape(v, 9, 9) puts v[r + 9c] at (row r, col c); w1[i, o] = 64 i + o
    assert state["conv1.weight"][0, 0, 0, 1] == 9 * 64  # row 0, col 1 = v[9]
    assert state["conv1.weight"][0, 0, 1, 0] == 1 * 64  # row 1, col 0 = v[1]
    assert state["conv1.weight"][5, 0, 2, 3] == (2 + 9 * 3) * 64 + 5
    # every value: weight[o, i, r, c] = the .mat entry at tap r + k·c
    r, c = np.meshgrid(np.arange(9), np.arange(9), indexing="ij")
    for o in range(64):
        np.testing.assert_array_equal(state["conv1.weight"][o, 0].numpy(), w1[r + 9 * c, o])
    r, c = np.meshgrid(np.arange(5), np.arange(5), indexing="ij")
    for o in range(32):
        for i in range(64):
            np.testing.assert_array_equal(state["conv2.weight"][o, i].numpy(), w2[i, r + 5 * c, o])
    for i in range(32):
        np.testing.assert_array_equal(state["conv3.weight"][0, i].numpy(), w3[i, r + 5 * c])
    assert state["conv1.bias"].tolist() == list(range(64)) and state["conv2.bias"].tolist() == list(range(32))
    assert state["conv3.bias"].tolist() == [7.0]


def test_srcnn_kernel_orientation_and_replicate_padding_hand_computed(tmp_path):
    # conv1 3×3 whose only 1 is the MATLAB vector's tap 3 = (row 0, col 1): out(y, x) = in(y - 1, x),
    # the row above; replicate padding repeats row 0 at the top. conv2/conv3 1×1 = 1, bias3 = 0.5.
    w1 = np.zeros((9, 1))
    w1[3, 0] = 1.0
    path = write_mat(tmp_path / "tiny.mat", w1, [[0.0]], np.ones((1, 1, 1)), [[0.0]], np.ones((1, 1)), 0.5)
    model = srcnn_mod.build_srcnn(state := srcnn_mod.state_dict_from_mat(path))
    model.load_state_dict(state)
    image = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0], [10.0, 11.0, 12.0]])
    out = model(image[None, None])[0, 0]
    expected = torch.tensor([[1.5, 2.5, 3.5], [1.5, 2.5, 3.5], [4.5, 5.5, 6.5], [7.5, 8.5, 9.5]])
    torch.testing.assert_close(out, expected)  # zero padding would give 0.5 on the top row; no transpose: in(y, x-1)


def identity_mat(path: Path, bias3: float) -> Path:
    """1-1-1 SRCNN returning Y + bias3 (for Y ≥ 0)."""
    return write_mat(path, np.ones((1, 1)), [[0.0]], np.ones((1, 1, 1)), [[0.0]], np.ones((1, 1)), bias3)


def hand_made_lr() -> np.ndarray:
    rows = np.arange(5)[:, None, None] * 20 + np.arange(4)[None, :, None] * 7
    return (60 + rows + np.array([0, 25, 50])[None, None]).astype(np.uint8)  # 5×4×3, 60..183


def test_srcnn_rgb_rule_on_a_hand_made_image(tmp_path):
    lr = hand_made_lr()
    batch = {"lr": torch.from_numpy(np.stack([lr, lr[::-1].copy()])).permute(0, 3, 1, 2).float()}
    up = np.stack([upscale(lr, 4), upscale(lr[::-1].copy(), 4)]).astype(np.float64)  # the suite's PIL bicubic
    assert 0 < up.min() and up.max() < 230
    method = registry.get("srcnn").load(identity_mat(tmp_path / "x4.mat", 0.0))
    sr = method(batch).permute(0, 2, 3, 1).double().numpy()
    assert sr.shape == (2, 20, 16, 3)
    np.testing.assert_allclose(sr, up, atol=2e-3)  # Y through the network unchanged: SR = the bicubic upscale
    # Y + 10/255·255: every channel rises by 10 / (sum of the Y row) = 2560 / 219.859; Cb, Cr unchanged
    method = registry.get("srcnn").load(identity_mat(tmp_path / "x4.mat", 10.0 / 255.0))
    sr = method(batch).permute(0, 2, 3, 1).double().numpy()
    np.testing.assert_allclose(sr - up, np.full_like(up, 2560.0 / 219.859), atol=2e-3)
    ycbcr = srcnn_mod.rgb_to_ycbcr(torch.from_numpy(sr).permute(0, 3, 1, 2))
    ycbcr_up = srcnn_mod.rgb_to_ycbcr(torch.from_numpy(up).permute(0, 3, 1, 2))
    torch.testing.assert_close(ycbcr[:, 0] - ycbcr_up[:, 0], torch.full_like(ycbcr[:, 0], 10.0), atol=2e-3, rtol=0)
    torch.testing.assert_close(ycbcr[:, 1:], ycbcr_up[:, 1:], atol=2e-3, rtol=0)


def test_srcnn_ycbcr_is_the_suites_bt601():
    from metrics.release_psnr_ssim import rgb_to_y

    rgb = hand_made_lr().astype(np.float64)
    ycbcr = srcnn_mod.rgb_to_ycbcr(torch.from_numpy(rgb).permute(2, 0, 1)[None])
    np.testing.assert_allclose(ycbcr[0, 0].numpy(), rgb_to_y(rgb, data_range=255), atol=1e-9)  # the metric's Y
    # BT.601 on white and black: Y 16..235, Cb = Cr = 128
    corners = srcnn_mod.rgb_to_ycbcr(torch.tensor([0.0, 255.0]).view(1, 1, 1, 2).expand(1, 3, 1, 2))
    np.testing.assert_allclose(corners[0, :, 0, :].numpy(), [[16.0, 235.0], [128.0, 128.0], [128.0, 128.0]], atol=0.1)
    torch.testing.assert_close(srcnn_mod.ycbcr_to_rgb(ycbcr), torch.from_numpy(rgb).permute(2, 0, 1)[None])


@pytest.mark.parametrize("variables, message", [
    ({"weights_conv1": np.ones((81, 64))}, r"no biases_conv1, weights_conv2"),
    ({**dict(zip(srcnn_mod.MAT_VARIABLES, release_layout())), "weights_conv1": np.ones((80, 64))},
     r"80 taps per filter, not an odd k×k"),
    ({**dict(zip(srcnn_mod.MAT_VARIABLES, release_layout())), "weights_conv3": np.ones((31, 25))},
     r"are not the SRCNN layout"),
])
def test_srcnn_bad_mat_is_one_line(tmp_path, variables, message):
    path = tmp_path / "x4.mat"
    savemat(str(path), variables)
    with pytest.raises(UserError, match=message):
        registry.get("srcnn").load(path)
    (tmp_path / "junk.mat").write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(UserError, match=r"junk.mat: not a readable MATLAB .mat file"):
        registry.get("srcnn").load(tmp_path / "junk.mat")
    # a MATLAB header and nothing after it: scipy's parser raises IndexError, still one line
    (tmp_path / "header.mat").write_bytes(b"MATLAB 5.0 MAT-file garbage")
    with pytest.raises(UserError, match=r"header.mat: not a readable MATLAB .mat file \(IndexError"):
        registry.get("srcnn").load(tmp_path / "header.mat")


# ------------------------------------------------------------------ Torch7 reader

def test_t7_reader_reads_what_the_writer_wrote(tmp_path):
    flat = np.arange(12, dtype=np.float32)
    matrix = np.arange(6, dtype=np.float32).reshape(2, 3)
    shared = {"a": matrix, "again": None}
    shared["again"] = matrix  # the same tensor twice: one reference
    obj = TorchObject("nn.Thing", 3, {1: "one", "x": 2.5, "n": 7, "flag": True, "none": None, "fn": LuaFunction(12),
                                      "view": StorageView(flat, 2, (3, 2), (1, 3)), "shared": shared})
    back = read_t7(write_t7(tmp_path / "a.t7", obj))
    assert back.class_name == "nn.Thing" and back.version == 3
    assert back[1] == "one" and back["x"] == 2.5 and back["n"] == 7 and back["flag"] is True and back.get("none") is None
    assert back["fn"] == LuaFunction(12)  # skipped, never loaded
    np.testing.assert_array_equal(back["view"], [[2, 5], [3, 6], [4, 7]])  # offset 2, transposed strides
    assert back["shared"]["a"] is back["shared"]["again"]
    np.testing.assert_array_equal(back["shared"]["a"], matrix)


def test_t7_reader_errors_are_one_line(tmp_path):
    path = write_t7(tmp_path / "a.t7", {"w": np.ones((4, 4), np.float32)})
    data = path.read_bytes()
    (tmp_path / "cut.t7").write_bytes(data[:-5])
    with pytest.raises(UserError, match=r"cut.t7: not a readable Torch7 binary file \(truncated at byte"):
        read_t7(tmp_path / "cut.t7")
    (tmp_path / "bad.t7").write_bytes(b"\x09\x00\x00\x00" + data[4:])
    with pytest.raises(UserError, match=r"unknown type tag 9"):
        read_t7(tmp_path / "bad.t7")
    (tmp_path / "empty.t7").write_bytes(b"")
    with pytest.raises(UserError, match=r"empty.t7: empty file"):
        read_t7(tmp_path / "empty.t7")


# ------------------------------------------------------------------ RDN: the official .t7

def random_values(seed: int):
    generator = np.random.default_rng(seed)
    return lambda shape: (generator.standard_normal(shape) * 0.1).astype(np.float32)


def test_rdn_t7_maps_every_conv_by_order_and_runs_like_the_lua_tree(tmp_path):
    lua = LuaRDN(random_values(0), n_feat=4, blocks=3, convs=2, growth=4, mean=DIV2K_MEAN_255, cudnn=True,
                 shared_storage=True)
    path = write_t7(tmp_path / "RDN_BIX4.t7", lua.root)
    state, mean = rdn_mod.state_dict_from_t7(path)
    assert mean == pytest.approx(DIV2K_MEAN_255, abs=1e-4)
    convs = [m for m in modules_in_order(read_t7(path)) if m.class_name.endswith("SpatialConvolution")][1:-1]
    names = rdn_mod.t7_order(3, 2)
    assert len(convs) == len(names) == 2 + 3 * 3 + 2 + 3
    for name, module in zip(names, convs):  # value by value, in the documented order
        np.testing.assert_array_equal(state[f"{name}.weight"].numpy(), module["weight"])
        np.testing.assert_array_equal(state[f"{name}.bias"].numpy(), module["bias"])
    # hand-checked against RDN.lua's creation order: SFENet2 is made first, then the block that runs
    # LAST (DenseBlockUnit), then the blocks that run first, second; SFENet1 after GFF
    in_memory = [m for m in modules_in_order(lua.root) if m.class_name.endswith("SpatialConvolution")][1:-1]

    def made(name):  # creation index (RDN.lua's order) of the conv our key `name` comes from
        module = in_memory[names.index(name)]
        return next(i for i, m in enumerate(lua.created) if m is module)

    assert made("SFENet2") == 0 and made("RDBs.2.convs.0.conv.0") == 1 and made("RDBs.2.LFF") == 3
    assert made("RDBs.0.convs.0.conv.0") == 4 and made("RDBs.1.convs.0.conv.0") == 7
    assert made("GFF.0") == 10 and made("SFENet1") == 12 and made("UPNet.4") == 15
    # the network: our RDN on the converted weights = the Lua tree run module by module
    method = registry.get("rdn").load(path)
    assert method.input_range == 255.0 and method.model.rgb_mean == pytest.approx(DIV2K_MEAN_255, abs=1e-4)
    lr = torch.rand(2, 3, 5, 6, generator=torch.Generator().manual_seed(1)) * 255
    expected = lua_forward(lua.root, lr.double())
    assert expected.shape == (2, 3, 20, 24)
    torch.testing.assert_close(method.forward(lr).double(), expected, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(method({"lr": lr}).double(), expected.clamp(0, 255), atol=1e-4, rtol=1e-5)


def test_rdn_t7_without_mean_shift_and_wrong_trees(tmp_path):
    lua = LuaRDN(random_values(1), n_feat=4, blocks=2, convs=3, growth=4)
    path = write_t7(tmp_path / "plain.t7", lua.root)
    method = registry.get("rdn").load(path)
    assert method.model.rgb_mean is None
    x = torch.rand(1, 3, 4, 4) * 255
    torch.testing.assert_close(method.forward(x).double(), lua_forward(lua.root, x.double()), atol=1e-4, rtol=1e-5)
    # a module the release has not
    lua.root.fields["modules"][5] = TorchObject("nn.SpatialBatchNormalization", 0, {"weight": np.ones(3, np.float32)})
    with pytest.raises(UserError, match=r"bn.t7: holds nn.SpatialBatchNormalization, which the RDN release's model has not"):
        registry.get("rdn").load(write_t7(tmp_path / "bn.t7", lua.root))
    # a ×2 model (one upsampling conv fewer)
    lua = LuaRDN(random_values(2), n_feat=4, blocks=2, convs=2, growth=4)
    up = lua.root.fields["modules"][3].fields["modules"]
    del up[3], up[4]
    with pytest.raises(UserError, match=r"x2.t7: 12 convs do not make an RDN ×4 with 2 convs per block"):
        registry.get("rdn").load(write_t7(tmp_path / "x2.t7", lua.root))
    with pytest.raises(UserError, match=r"table.t7: holds a dict, not a Torch7 module tree"):
        registry.get("rdn").load(write_t7(tmp_path / "table.t7", {"weight": np.ones(3, np.float32)}))


# ------------------------------------------------------------------ RDN: the Python releases (golden)

@pytest.fixture(scope="module")
def golden():
    return torch.load(GOLDEN, weights_only=True)


def test_rdn_equals_edsr_pytorch_release(golden, tmp_path):
    part = golden["edsr"]
    torch.save(part["state_dict"], tmp_path / "rdn_edsr.pt")
    method = registry.get("rdn").load(tmp_path / "rdn_edsr.pt")
    assert method.input_range == 255.0 and method.model.rgb_mean is None
    assert len(method.model.RDBs) == 2 and len(method.model.RDBs[0].convs) == 2
    out = method.forward(golden["lr"])
    assert (out - part["output"]).abs().max() <= 1e-5 * max(1.0, part["output"].abs().max())
    torch.testing.assert_close(method({"lr": golden["lr"]}), part["output"].clamp(0, 255), atol=1e-4, rtol=0)


def test_rdn_equals_yjn870_release_and_takes_its_range(golden, tmp_path):
    part = golden["yjn870"]
    torch.save(part["state_dict"], tmp_path / "rdn_x4.pth")
    method = registry.get("rdn").load(tmp_path / "rdn_x4.pth")
    assert method.input_range == 1.0  # yjn870/torchSR files are [0, 1]
    out = method.forward(golden["lr"] / 255.0)
    assert (out - part["output"]).abs().max() <= 1e-5
    torch.testing.assert_close(method({"lr": golden["lr"]}), (part["output"] * 255).clamp(0, 255), atol=1e-4, rtol=0)
    assert registry.get("rdn").weights.origin_of("rdn_x4.pth") == "third-party"
    assert registry.get("rdn").weights.origin_of("rdn_x4.pt") == "third-party"
    assert registry.get("rdn").weights.origin_of("RDN_BIX4.t7") == "official"


def test_rdn_gives_the_same_sr_from_each_format(golden, tmp_path):
    """The yjn870 weights as an EDSR-named [0, 255] file (biases ×255: the net is then 255·f(x/255))
    and as a .t7 tree: the same SR as the yjn870 file."""
    yjn = registry.get("rdn")
    torch.save(golden["yjn870"]["state_dict"], tmp_path / "rdn_x4.pth")
    reference = yjn.load(tmp_path / "rdn_x4.pth")({"lr": golden["lr"]})
    ours = rdn_mod.rename(golden["yjn870"]["state_dict"], rdn_mod.YJN870_TABLE)
    scaled = {k: v * 255.0 if k.endswith("bias") else v for k, v in ours.items()}
    torch.save(scaled, tmp_path / "rdn_edsr.pt")
    torch.testing.assert_close(registry.get("rdn").load(tmp_path / "rdn_edsr.pt")({"lr": golden["lr"]}), reference,
                               atol=2e-3, rtol=0)
    lua = LuaRDN(random_values(3), n_feat=8, blocks=2, convs=2, growth=8)
    convs = [m for m in modules_in_order(lua.root) if m.class_name.endswith("SpatialConvolution")]
    for name, module in zip(rdn_mod.t7_order(2, 2), convs):
        module.fields["weight"] = scaled[f"{name}.weight"].numpy()
        module.fields["bias"] = scaled[f"{name}.bias"].numpy()
    t7 = registry.get("rdn").load(write_t7(tmp_path / "RDN_BIX4.t7", lua.root))
    torch.testing.assert_close(t7({"lr": golden["lr"]}), reference, atol=2e-3, rtol=0)


def test_rdn_wrong_and_missing_files_are_one_line(tmp_path):
    with pytest.raises(UserError, match=r"^rdn: weights RDN_BIX4.t7 not found; download it by hand from official "
                                        r"RDN_BIX4.t7 \(Torch7\): Dropbox"):
        registry.get("rdn").load(None)
    with pytest.raises(UserError, match=r"^srcnn: weights x4.mat not found; download it by hand from "
                                        r"http://mmlab.ie.cuhk.edu.hk/projects/SRCNN/SRCNN_v1.zip"):
        registry.get("srcnn").load(None)
    torch.save({"conv_first.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(UserError, match=r"other.pth: does not fit rdn: .*missing key\(s\) \(SFENet1.weight|"
                                        r"other.pth: not a rdn checkpoint"):
        registry.get("rdn").load(tmp_path / "other.pth")


def test_weights_list_names_both_with_source_and_what_to_do(capsys):
    from benchmarks import weights as weights_cli

    assert weights_cli.main(["list"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()
            if line.split()[:1] in (["srcnn"], ["rdn"]) and not line.startswith(" ")}
    assert "x4.mat" in rows["srcnn"] and "by hand" in rows["srcnn"]
    assert "RDN_BIX4.t7" in rows["rdn"] and "by hand" in rows["rdn"]
    assert "srcnn (x4.mat): http://mmlab.ie.cuhk.edu.hk/projects/SRCNN/SRCNN_v1.zip (official, Dong et al.): " \
           "unzip it and use model/9-5-5(ImageNet)/x4.mat" in out
    assert "rdn (RDN_BIX4.t7): official RDN_BIX4.t7 (Torch7)" in out and "rdn_x4.pt (torchSR" in out


# ------------------------------------------------------------------ end to end on the demo set

def test_demo_run_with_srcnn_and_rdn_files_in_their_release_formats(clean_env, capsys):
    """`python -m benchmarks.run` on the demo set: an SRCNN .mat that passes Y through gives
    exactly the bicubic rows; an RDN .t7 tree gives the SR the Lua tree computes."""
    from benchmarks import run
    from benchmarks.datasets import load
    from benchmarks.degrade import sisr_inputs
    from benchmarks.results import read_rows
    from foundation.imageio import read_image

    mat = identity_mat(clean_env / "x4.mat", 0.0)
    lua = LuaRDN(lambda shape: (np.random.default_rng(sum(shape)).standard_normal(shape) * 0.12).astype(np.float32),
                 n_feat=4, blocks=2, convs=2, growth=4, mean=DIV2K_MEAN_255)
    t7 = write_t7(clean_env / "RDN_BIX4.t7", lua.root)
    out = clean_env / "runs" / "demo"
    assert run.main(["--protocol", "demo", "--methods", "bicubic", "srcnn", "rdn", "--weights", f"srcnn={mat}",
                     f"rdn={t7}", "--out", str(out), "--limit", "1", "--save-images", "--metrics", "psnr", "ssim"]) == 0
    rows = {(r["method"], r["ref_mode"]): r for r in read_rows(out / "rows.csv")[1]}
    for mode in ("graded", "none"):
        assert (rows["srcnn", mode]["psnr"], rows["srcnn", mode]["ssim"]) == \
            (rows["bicubic", mode]["psnr"], rows["bicubic", mode]["ssim"])
    import json

    manifest = json.loads((out / "manifest.json").read_text())
    for name, file in (("rdn", t7), ("srcnn", mat)):  # the files used, and what their names say they are
        assert manifest["weights"][name]["found_in"] == "--weights" and manifest["weights"][name]["path"] == str(file.resolve())
    assert (manifest["weights"]["rdn"]["weights_origin"], manifest["weights"]["rdn"]["trained_on"]) == ("official", "DIV2K")
    assert (manifest["weights"]["srcnn"]["weights_origin"], manifest["weights"]["srcnn"]["trained_on"]) == \
        ("official", "ImageNet")
    sample = load("demo", None)[0]
    lr = sisr_inputs(sample.hr, sample.lr, 4).lr
    expected = lua_forward(lua.root, torch.from_numpy(lr).permute(2, 0, 1)[None].double())
    expected = expected.clamp(0, 255).round()[0].permute(1, 2, 0).numpy()
    assert 20 < expected.mean() < 235 and expected.std() > 5 and (expected == 255).mean() < 0.2  # not a clipped image
    config = {(p["method"], p["ref_mode"]): p["config_id"] for p in manifest["plan"]["passes"]}
    saved = read_image(out / "images" / "demo" / "rdn" / config["rdn", "none"] / f"{sample.name}@none.png")
    assert np.abs(saved.astype(np.float64) - expected).max() <= 1


def test_default_builds_are_the_published_configurations():
    with torch.device("meta"):
        rdn, srcnn = rdn_mod.build_rdn(), srcnn_mod.build_srcnn()
    shapes = {k: tuple(v.shape) for k, v in rdn.state_dict().items()}
    assert len([k for k in shapes if k.endswith(".LFF.weight")]) == 16  # D = 16
    assert shapes["RDBs.15.convs.7.conv.0.weight"] == (64, 64 + 7 * 64, 3, 3)  # C = 8, G = 64
    assert shapes["RDBs.0.LFF.weight"] == (64, 64 + 8 * 64, 1, 1) and shapes["GFF.0.weight"] == (64, 16 * 64, 1, 1)
    assert shapes["UPNet.0.weight"] == (256, 64, 3, 3) and shapes["UPNet.4.weight"] == (3, 64, 3, 3)
    assert sum(v.numel() for v in rdn.parameters()) == 22_271_107  # the paper's "22M"
    assert {k: tuple(v.shape) for k, v in srcnn.state_dict().items()} == {
        "conv1.weight": (64, 1, 9, 9), "conv1.bias": (64,), "conv2.weight": (32, 64, 5, 5), "conv2.bias": (32,),
        "conv3.weight": (1, 32, 5, 5), "conv3.bias": (1,)}
