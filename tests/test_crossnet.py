"""CrossNet (`baselines/crossnet/`): the port equals the release's forward, runs at any size, trains,
and says where its (trained-here) weights come from.

The golden (`tests/golden/crossnet_release_small.pt`, made by `tests/golden/make_crossnet.py` from the
release's own code at https://github.com/htzheng/ECCV2018_CrossNet_RefSR @ 03959f2) holds the
release's state-dict manifest, inputs and outputs; the weights are regenerated from the manifest
and the seed (`release_weights`), checked against the stored per-tensor sums.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from baselines import registry
from baselines.crossnet.network import CrossNet, backward_warp, fit_reference, pad_to_multiple
from benchmarks import weights as weights_cli
from foundation.errors import UserError
from tests.golden.make_crossnet import GOLDEN, release_weights

FLOW_KEYS = ("flow_12_1", "flow_12_2", "flow_12_3", "flow_12_4")


@pytest.fixture(scope="module")
def golden() -> dict:
    return torch.load(GOLDEN, weights_only=True)


@pytest.fixture(scope="module")
def release_state(golden) -> dict[str, torch.Tensor]:
    manifest = [(k, tuple(s)) for k, s in golden["manifest"]]
    state = release_weights(manifest, golden["seed"])
    sums = torch.stack([state[k].sum() for k, _ in manifest])
    assert torch.equal(sums, golden["weight_sums"]), "regenerated weights differ from those the release ran"
    return state


@pytest.fixture(scope="module")
def net64(release_state) -> CrossNet:
    model = CrossNet().double().eval()
    model.load_state_dict(release_state, strict=True)
    return model


def test_port_has_the_release_keys_and_shapes_in_order(golden):
    ours = [[k, list(v.shape)] for k, v in CrossNet().state_dict().items()]
    assert ours == golden["manifest"]
    count = {part: sum(torch.Size(s).numel() for k, s in ours if k.startswith(part))
             for part in ("FlowNet", "Encoder", "UNet_decoder_2")}
    # by hand: Encoder 3·64·25+64 + 4·(64·64·25+64); decoder 128·64·16+64 + 2·(192·64·16+64) +
    # 192·64·25+64 + 64·64·25+64 + 64·3·25+3
    assert count == {"FlowNet": 33_830_110, "Encoder": 414_720, "UNet_decoder_2": 939_011} and len(ours) == 84


def test_port_equals_the_release_forward_and_flows(golden, net64):
    with torch.no_grad():
        out = net64(golden["lr_up"].double(), golden["ref"].double())
    assert out.sr.shape == (1, 3, 64, 128)
    assert (out.sr - golden["sr"]).abs().max() <= 1e-5
    for ours, key in zip(out.flows, FLOW_KEYS):
        assert ours.shape == golden["flows"][key].shape
        assert (ours - golden["flows"][key]).abs().max() <= 1e-5
    # the case is not degenerate: flows of several pixels, an output that depends on the reference
    assert 2.0 < golden["flows"]["flow_12_1"].std() < 10.0
    with torch.no_grad():
        other = net64(golden["lr_up"].double(), golden["ref"].double().flip(-1)).sr
    assert (other - golden["sr"]).abs().max() > 0.1


def test_backward_warp_equals_the_release_and_a_hand_computed_case(golden):
    ours = backward_warp(golden["warp_features"].double(), golden["warp_flow"].double())
    assert (ours - golden["warped"]).abs().max() <= 1e-12
    # hand-computed: features [[0,1,2],[3,4,5]]; pixel (x=0,y=0) + flow (0.5, 0.25) samples
    # 0.5·0.75·0 + 0.5·0.25·3 + 0.5·0.75·1 + 0.5·0.25·4 = 1.25; pixel (2,1) + (9, 9) clamps to (2,1) = 5;
    # pixel (1,0) + (-0.25, 0) = 0.75·1 + 0.25·0 = 0.75
    feats = torch.arange(6.0).view(1, 1, 2, 3)
    flow = torch.zeros(1, 2, 2, 3)
    flow[0, :, 0, 0] = torch.tensor([0.5, 0.25])
    flow[0, :, 1, 2] = torch.tensor([9.0, 9.0])
    flow[0, :, 0, 1] = torch.tensor([-0.25, 0.0])
    warped = backward_warp(feats, flow)[0, 0]
    assert warped[0, 0].item() == pytest.approx(1.25) and warped[1, 2].item() == 5.0
    assert warped[0, 1].item() == pytest.approx(0.75) and warped[0, 2].item() == 2.0
    # the same convention as grid_sample(border, align_corners=True) with flow in pixels
    g = torch.Generator().manual_seed(0)
    feats, flow = torch.rand(2, 4, 7, 9, generator=g), (torch.rand(2, 2, 7, 9, generator=g) - 0.5) * 12
    ys, xs = torch.meshgrid(torch.arange(7.0), torch.arange(9.0), indexing="ij")
    grid = torch.stack(((xs + flow[:, 0]) / 8 * 2 - 1, (ys + flow[:, 1]) / 6 * 2 - 1), -1)
    expected = F.grid_sample(feats, grid, mode="bilinear", padding_mode="border", align_corners=True)
    assert (backward_warp(feats, flow) - expected).abs().max() < 1e-5


def test_fit_reference_and_padding_by_hand():
    ref = torch.arange(6.0).view(1, 1, 2, 3)  # [[0,1,2],[3,4,5]]
    fitted = fit_reference(ref, 3, 2)  # crop the third column, replicate the last row
    assert fitted[0, 0].tolist() == [[0, 1], [3, 4], [3, 4]]
    padded = pad_to_multiple(torch.ones(1, 3, 65, 64) * 7)
    assert padded.shape == (1, 3, 128, 64) and bool((padded == 7).all())


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory, release_state) -> Path:
    path = tmp_path_factory.mktemp("crossnet") / "crossnet.pt"
    torch.save({k: v.float() for k, v in release_state.items()}, path)
    return path


@pytest.fixture(scope="module")
def method(weights_file):
    return registry.get("crossnet").load(weights_file)


def batch_for(lr_up: torch.Tensor, ref: torch.Tensor) -> dict[str, torch.Tensor]:
    lr = F.avg_pool2d(lr_up, 4)
    return {"lr": lr, "lr_up": lr_up, "ref": ref, "ref_down_up": ref}


def test_method_on_the_golden_gives_the_releases_sr_in_0_255(golden, method):
    sr = method(batch_for(golden["lr_up"] * 255, golden["ref"] * 255))
    expected = (golden["sr"] * 255).clamp(0, 255).float()
    assert sr.dtype == torch.float32 and sr.shape == (1, 3, 64, 128)
    assert (sr - expected).abs().max() < 0.05
    assert 0 < (expected == 255).float().mean() < 1 and (expected > 0).any()  # clamps some, not all


def test_any_size_pads_to_64_and_crops_back(method):
    g = torch.Generator().manual_seed(3)
    lr_up = torch.rand(1, 3, 28, 44, generator=g) * 255  # LR 7×11
    for ref in (torch.rand(1, 3, 37, 20, generator=g) * 255, torch.rand(1, 3, 90, 130, generator=g) * 255):
        sr = method(batch_for(lr_up, ref))
        assert sr.shape == (1, 3, 28, 44) and torch.isfinite(sr).all() and 0 <= sr.min() and sr.max() <= 255
        with torch.no_grad():
            padded = method.model(pad_to_multiple(lr_up * (1 / 255)),
                                      pad_to_multiple(fit_reference(ref, 28, 44) * (1 / 255))).sr
        assert torch.allclose(sr, (padded[..., :28, :44] * 255).clamp(0, 255), atol=1e-4)
    # LR as reference (Ref = LR, the TTSR Urban100/Manga109 rule): Ref↑ is the batch's LR↑ exactly
    batch = batch_for(lr_up, None)
    batch["ref"] = batch["lr"]
    assert torch.equal(method(batch), method(batch_for(lr_up, lr_up)))


def test_training_forward_is_differentiable_in_the_suites_range():
    torch.manual_seed(0)
    model = CrossNet()
    lr_up = torch.rand(1, 3, 40, 24) * 255
    ref = torch.rand(1, 3, 50, 30) * 255
    sr = model.super_resolve(lr_up, ref)
    assert sr.shape == (1, 3, 40, 24)
    sr.sub(lr_up).abs().mean().backward()
    grads = {k: p.grad for k, p in model.named_parameters()}
    for key in ("FlowNet.conv1.0.weight", "FlowNet.flow6.0.weight", "Encoder.layer_f.0.weight",
                "UNet_decoder_2.final.0.weight"):
        assert grads[key] is not None and grads[key].abs().sum() > 0, key
    # as in the release, post_fusion2's output is unused: no gradient reaches it (frozen, for DDP)
    assert grads["UNet_decoder_2.post_fusion2.0.weight"] is None
    assert [k for k, p in model.named_parameters() if not p.requires_grad] == [
        "UNet_decoder_2.post_fusion2.0.weight", "UNet_decoder_2.post_fusion2.0.bias"]


def test_missing_weights_say_there_are_none_and_how_to_train(clean_env):
    method = registry.get("crossnet")
    assert method.kind == "refsr" and registry.find_weights(method) is None
    with pytest.raises(UserError) as err:
        method.load(None)
    message = str(err.value)
    assert "crossnet.safetensors not found" in message and "no public weights" in message
    assert "python -m benchmarks.train" in message and "--weights crossnet=PATH" in message
    assert method.weights.origin_of("crossnet.safetensors") == method.weights.origin_of("crossnet.pt") == "trained here"


def test_wrong_files_are_named(tmp_path):
    crossnet_like = tmp_path / "c.pt"
    torch.save({"FlowNet.conv6_1.0.weight": torch.zeros(1), "UNet_decoder_2.final.0.weight": torch.zeros(1)},
               crossnet_like)
    with pytest.raises(UserError, match="looks like a checkpoint of crossnet"):
        registry.get("rcan").load(crossnet_like)
    ttsr_like = tmp_path / "t.pt"
    torch.save({"MainNet.SFE.conv_head.weight": torch.zeros(1)}, ttsr_like)
    with pytest.raises(UserError, match="looks like a checkpoint of ttsr"):
        registry.get("crossnet").load(ttsr_like)


def test_weights_list_shows_crossnet_missing_then_found(clean_env, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(clean_env / "torch"))
    assert weights_cli.main(["list"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("crossnet "))
    assert "missing" in row and "crossnet.safetensors" in row and "trained here" in row and row.rstrip().endswith("train")
    assert "crossnet (crossnet.safetensors): no public weights" in out and "python -m benchmarks.train" in out
    (clean_env / "weights").mkdir()
    (clean_env / "weights" / "crossnet.pt").write_bytes(b"x")
    assert weights_cli.main(["list"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("crossnet "))
    assert " found " in row and f"crossnet: {Path('weights') / 'crossnet.pt'}" in out.replace(str(clean_env) + "/", "")


def test_runner_evaluates_crossnet_with_the_reference_rules(clean_env, monkeypatch):
    """`benchmarks.run` on a tiny data root: Urban100 with the LR as reference and CUFED5 level 1;
    each saved SR equals the method called by hand on `refsr_inputs` (Ref = LR → LR↑; a CUFED5
    reference of another size → cropped/padded), and the random weights are labelled so."""
    import json

    from benchmarks import protocols, run
    from benchmarks.degrade import refsr_inputs
    from foundation.imageio import read_image, write_image
    from foundation.tensors import image_to_tensor, tensor_to_image
    from tests.fixture_runs import make_data_root

    data = make_data_root(clean_env / "data", size=(64, 48))
    ref = read_image(data / "CUFED5" / "000_1.png")[:40, :56]  # a reference of another size than the HR
    write_image(data / "CUFED5" / "000_1.png", ref)
    torch.manual_seed(0)
    weights = clean_env / "crossnet-random.pt"
    torch.save({"state_dict": {k: v.half() for k, v in CrossNet().state_dict().items()},
                "metadata": {"origin": "random weights (made by the tests, seed 0)"}}, weights)
    passes = (protocols._refsr("urban100", "lr", None), protocols._refsr("cufed5", "l1", None, ref_mode="L1"))
    monkeypatch.setitem(protocols.PROTOCOLS, "cn", protocols.Protocol("cn", "CrossNet test passes", passes))
    out = clean_env / "runs"
    assert run.main(["--protocol", "cn", "--data-root", str(data), "--methods", "crossnet", "--weights",
                     f"crossnet={weights}", "--out", str(out), "--metrics", "psnr", "--save-images",
                     "--device", "cpu"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["weights"]["crossnet"]["random"] is True and "crossnet" in manifest["random_weights"]
    method = registry.get("crossnet").load(weights)
    cases = {"urban100": (data / "Urban100" / "image_SRF_4" / "img_001_SRF_4_HR.png", None, "img_001.png"),
             "cufed5": (data / "CUFED5" / "000_0.png", data / "CUFED5" / "000_1.png", "000@l1.png")}
    for dataset, (hr_path, ref_path, saved_name) in cases.items():
        inputs = refsr_inputs(read_image(hr_path), None if ref_path is None else read_image(ref_path))
        batch = {k: image_to_tensor(getattr(inputs, k)) for k in ("lr", "lr_up", "ref", "ref_down_up")}
        expected = tensor_to_image(method(batch))
        (saved,) = (out / "images" / dataset / "crossnet").glob(f"*/{saved_name}")
        assert expected.shape == (48, 64, 3) and (read_image(saved) == expected).all(), dataset
