"""SRNTT port: release-file converters, TF→PyTorch conventions, texture swap (issue 6).

No official weights can be fetched here, so the converters are proven on files built with the
documented array order and shapes from random values (baselines.md §1.3).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.signal import correlate2d

from baselines.srntt import convert
from baselines.srntt.convert import (convert_array, depth_to_space_permutation, release_order,
                                     state_dict_from_matconvnet, state_dict_from_npz)
from baselines.srntt.network import SRNTT, BN_EPSILON
from baselines.srntt.pipeline import SRNTTPipeline
from srntt_random_release import (random_release_arrays, save_matconvnet_vgg19, save_npz_params,
                                            write_random_release)
from baselines.srntt.swap import swap_dense
from foundation.errors import UserError


@pytest.fixture(scope="module")
def release_files(tmp_path_factory):
    return write_random_release(tmp_path_factory.mktemp("srntt_release"))


def test_release_order_matches_documented_counts_and_first_shapes():
    network = SRNTT()
    content, texture = release_order(network.content_extractor), release_order(network.texture_transfer)
    assert len(content) == 173 and len(texture) == 309  # baselines.md §1.3
    assert content[0].tf_shape == (3, 3, 3, 64) and content[-2].tf_shape == (1, 1, 64, 3)
    assert texture[0].tf_shape == (3, 3, 320, 64)
    heads = [s.tf_shape for s in texture if s.target.endswith("head.weight")]
    assert heads == [(3, 3, 320, 64), (3, 3, 192, 64), (3, 3, 128, 64)]
    per_scale = [sum(s.target.startswith(f"scales.{i}.") for s in texture) for i in range(3)]
    assert per_scale == [169, 89, 51]
    bn = [s.target.rsplit(".", 1)[1] for s in content[3:7]]
    assert bn == ["bias", "weight", "running_mean", "running_var"]  # beta, gamma, mean, var


def test_every_array_lands_where_the_table_says(release_files):
    upscale, texture, _ = release_files
    network = SRNTT()
    arrays = list(np.load(upscale, allow_pickle=True)["params"])
    state = state_dict_from_npz(upscale, network.content_extractor, "")
    for slot, array in zip(release_order(network.content_extractor), arrays):
        assert torch.equal(state[slot.target], convert_array(slot, array))
    assert set(state) == set(network.content_extractor.state_dict()) - {
        k for k in network.content_extractor.state_dict() if k.endswith("num_batches_tracked")}


def test_swapping_two_same_shape_arrays_changes_the_output(release_files, tmp_path):
    upscale, texture, vgg = release_files
    arrays = list(np.load(texture, allow_pickle=True)["params"])
    swapped = list(arrays)
    swapped[3], swapped[13] = arrays[13], arrays[3]  # two [3,3,64,64] block kernels of scale 0
    assert arrays[3].shape == arrays[13].shape
    other = save_npz_params(tmp_path / "swapped.npz", swapped)
    torch.manual_seed(0)
    lr = torch.rand(1, 3, 6, 6) * 2 - 1
    maps = [torch.rand(1, 256, 6, 6), torch.rand(1, 128, 12, 12), torch.rand(1, 64, 24, 24)]
    outputs = []
    for path in (texture, other):
        network = SRNTT().eval()
        network.content_extractor.load_state_dict(
            state_dict_from_npz(upscale, network.content_extractor, ""), strict=False)
        network.texture_transfer.load_state_dict(
            state_dict_from_npz(path, network.texture_transfer, ""), strict=False)
        with torch.no_grad():
            outputs.append(network(lr, maps))
    assert (outputs[0] - outputs[1]).abs().max() > 1e-4


def test_conv_hwio_to_oihw_matches_a_hand_computed_correlation():
    rng = np.random.default_rng(3)
    kernel = rng.standard_normal((3, 3, 2, 1)).astype(np.float32)  # HWIO
    image = rng.standard_normal((5, 5, 2)).astype(np.float32)  # HWC
    expected = sum(correlate2d(image[..., c], kernel[..., c, 0], mode="same") for c in range(2))
    slot = release_order(torch.nn.Conv2d(2, 1, 3, padding=1, bias=False))[0]
    weight = convert_array(slot, kernel)
    got = F.conv2d(torch.from_numpy(image).permute(2, 0, 1)[None], weight, padding=1)[0, 0]
    assert np.allclose(got.numpy(), expected, atol=1e-5)


def test_batchnorm_inference_uses_moving_statistics():
    beta, gamma, mean, var = (np.array([v], dtype=np.float32) for v in (0.5, 2.0, 1.0, 4.0))
    bn = torch.nn.BatchNorm2d(1, eps=BN_EPSILON).eval()
    for slot, array in zip(release_order(bn), (beta, gamma, mean, var)):
        getattr(bn, slot.target.split(".")[-1]).data.copy_(convert_array(slot, array))
    x = torch.tensor([[[[3.0]]]])
    assert bn(x).item() == pytest.approx(2.0 * (3.0 - 1.0) / np.sqrt(4.0 + BN_EPSILON) + 0.5, rel=1e-6)


def test_depth_to_space_permutation_makes_pixel_shuffle_equal_tf():
    rng = np.random.default_rng(4)
    channels, r = 3, 2
    tf_map = rng.standard_normal((2, 2, channels * r * r)).astype(np.float32)  # H, W, C·r²
    # TF depth_to_space: out[i·r+di, j·r+dj, c] = in[i, j, (di·r+dj)·C + c]
    expected = np.zeros((2 * r, 2 * r, channels), dtype=np.float32)
    for i in range(2):
        for j in range(2):
            for di in range(r):
                for dj in range(r):
                    expected[i * r + di, j * r + dj] = tf_map[i, j, (di * r + dj) * channels:(di * r + dj + 1) * channels]
    permuted = torch.from_numpy(tf_map).permute(2, 0, 1)[depth_to_space_permutation(channels * r * r, r)]
    got = F.pixel_shuffle(permuted[None], r)[0].permute(1, 2, 0).numpy()
    assert np.array_equal(got, expected)


def _brute_force_swap(content, conditions, styles):
    """Loops over every position and every reference patch: slow and obviously right."""
    c, h, w = content.shape
    candidates = []
    for ref_index, cond in enumerate(conditions):
        for y in range(cond.shape[1] - 2):
            for x in range(cond.shape[2] - 2):
                candidates.append((ref_index, y, x, cond[:, y:y + 3, x:x + 3].flatten()))
    kw = {"dtype": content.dtype}
    outs = [torch.zeros(s.shape[0], h * r, w * r, **kw) for s, r in zip(styles[0], (1, 2, 4))]
    counts = [torch.zeros(h * r, w * r, **kw) for r in (1, 2, 4)]
    weights = torch.zeros(h - 2, w - 2, **kw)
    for y in range(h - 2):
        for x in range(w - 2):
            q = content[:, y:y + 3, x:x + 3].flatten()
            sims = [float(torch.dot(k / k.norm(), q / q.norm())) for *_, k in candidates]
            best = int(np.argmax(sims))
            weights[y, x] = sims[best]
            ref_index, ry, rx, _ = candidates[best]
            for level, r in enumerate((1, 2, 4)):
                patch = styles[ref_index][level][:, ry * r:ry * r + 3 * r, rx * r:rx * r + 3 * r]
                outs[level][:, y * r:y * r + 3 * r, x * r:x * r + 3 * r] += patch
                counts[level][y * r:y * r + 3 * r, x * r:x * r + 3 * r] += 1
    return [o / n.clamp_min(1) for o, n in zip(outs, counts)], weights


@pytest.mark.parametrize("n_refs", [1, 2])
def test_swap_dense_equals_brute_force(n_refs):
    torch.manual_seed(n_refs)
    content = torch.randn(4, 6, 7, dtype=torch.float64)
    conditions = [torch.randn(4, 5 + i, 6, dtype=torch.float64) for i in range(n_refs)]
    styles = [[torch.randn(4, h, w, dtype=torch.float64),
               torch.randn(2, 2 * h, 2 * w, dtype=torch.float64),
               torch.randn(3, 4 * h, 4 * w, dtype=torch.float64)] for _, h, w in (c.shape for c in conditions)]
    maps, weights, _ = swap_dense(content, conditions, styles)
    expected_maps, expected_weights = _brute_force_swap(content, conditions, styles)
    for got, want in zip(maps, expected_maps):
        assert torch.allclose(got, want, atol=1e-10)
    assert torch.allclose(weights[1:-1, 1:-1], expected_weights, atol=1e-10)
    assert torch.equal(weights[0, 1:-1], weights[1, 1:-1])  # edge padding of the weight map


@pytest.fixture(scope="module")
def converted(release_files, tmp_path_factory):
    upscale, texture, vgg = release_files
    out = tmp_path_factory.mktemp("converted") / "srntt.safetensors"
    assert convert.main(["--upscale", str(upscale), "--texture", str(texture), "--vgg", str(vgg),
                         "--out", str(out)]) == 0
    return out


def test_converted_file_is_complete_and_labelled_random(converted):
    from safetensors import safe_open
    from safetensors.torch import load_file

    SRNTTPipeline().load_state_dict(load_file(converted), strict=True)
    with safe_open(str(converted), framework="pt") as handle:
        assert "random" in handle.metadata()["origin"]


def test_srntt_method_runs_in_the_harness_interface(converted):
    from baselines import registry

    method = registry.get("srntt").load(converted, "cpu")
    torch.manual_seed(0)
    lr = torch.rand(2, 3, 8, 8) * 255
    lr_up = F.interpolate(lr, scale_factor=4, mode="bicubic").clamp(0, 255)
    ref = torch.rand(2, 3, 36, 28) * 255
    batch = {"lr": lr, "lr_up": lr_up, "ref": ref, "ref_down_up": ref}
    sr = method(batch)
    assert sr.shape == (2, 3, 32, 32) and torch.isfinite(sr).all()
    assert 0 <= sr.min() and sr.max() <= 255
    multi = method({"lr": lr[:1], "lr_up": lr_up[:1], "refs": [ref[:1], ref[1:]], "refs_down_up": [ref[:1], ref[1:]]})
    assert multi.shape == (1, 3, 32, 32)
    assert method.extras["S"].shape == (8, 8)


def test_srntt_checkpoint_given_to_another_method_is_named(converted):
    from baselines import registry

    with pytest.raises(UserError, match="srntt"):
        registry.get("imdn").load(converted, "cpu")


def test_matconvnet_kernel_layout(tmp_path):
    path = save_matconvnet_vgg19(tmp_path / "vgg.mat", seed=5)
    state = state_dict_from_matconvnet(path, prefix="")
    from scipy.io import loadmat

    raw = loadmat(str(path), squeeze_me=True, struct_as_record=False)["layers"][0].weights[0]
    assert torch.equal(state["convs.conv1_1.weight"][5, 1, 0, 2], torch.tensor(raw[2, 0, 1, 5]))


@pytest.mark.parametrize("case", ["missing", "garbage", "wrong_count", "wrong_shape", "no_params", "code"])
def test_bad_npz_is_one_clear_error(tmp_path, case):
    network = SRNTT()
    path = tmp_path / "upscale.npz"
    arrays = random_release_arrays(network.content_extractor, 0)
    if case == "garbage":
        path.write_bytes(b"definitely not a zip file")
    elif case == "wrong_count":
        save_npz_params(path, arrays[:-1])
    elif case == "wrong_shape":
        arrays[0] = np.zeros((3, 3, 3, 32), dtype=np.float32)
        save_npz_params(path, arrays)
    elif case == "no_params":
        np.savez(path, weights=np.zeros(3))
    elif case == "code":  # a pickled object that is not an array must never be reconstructed
        import pathlib

        save_npz_params(path, [pathlib.PurePosixPath("/etc/passwd")] + arrays[1:])
    with pytest.raises(UserError, match="upscale.npz"):
        state_dict_from_npz(path, network.content_extractor, "")


def test_bad_mat_and_cli_exit_code(tmp_path, release_files, capsys):
    upscale, texture, _ = release_files
    incomplete = save_matconvnet_vgg19(tmp_path / "vgg.mat", drop="conv3_1")
    with pytest.raises(UserError, match="conv3_1"):
        state_dict_from_matconvnet(incomplete)
    garbage = tmp_path / "garbage.mat"
    garbage.write_bytes(b"\x00" * 64)
    code = convert.main(["--upscale", str(upscale), "--texture", str(texture), "--vgg", str(garbage),
                         "--out", str(tmp_path / "x.safetensors")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "garbage.mat" in err
    assert not (tmp_path / "x.safetensors").exists()


@pytest.mark.parametrize("sizes, budget", [([(7, 9)], None), ([(5, 6), (8, 5)], None), ([(9, 7), (6, 6)], 1 << 14)])
def test_bounded_swap_equals_dense(sizes, budget):
    from baselines.srntt.swap import swap

    torch.manual_seed(len(sizes))
    content = torch.randn(8, 7, 6)
    conditions = [torch.randn(8, h, w) for h, w in sizes]
    styles = [[torch.randn(8, h, w), torch.randn(4, 2 * h, 2 * w), torch.randn(3, 4 * h, 4 * w)] for h, w in sizes]
    dense_maps, dense_weights, dense_index = swap_dense(content, conditions, styles)
    maps, weights, index = swap(content, conditions, styles, max_memory=budget)
    assert torch.equal(index, dense_index)
    assert torch.allclose(weights, dense_weights, atol=1e-5)
    for got, want in zip(maps, dense_maps):
        assert torch.allclose(got, want, atol=1e-5)


def test_srntt_receives_every_reference_under_mode_all(converted, tmp_path, monkeypatch):
    """CUFED5 "all": the runner hands SRNTT the five references as `refs` (SRNTT §3.2), each with its Ref↓↑."""
    from baselines import registry
    from benchmarks.datasets import load
    from benchmarks.protocols import Evaluation
    from benchmarks.run import make_inputs
    from tests.test_datasets import make_cufed5

    make_cufed5(tmp_path / "CUFED5", groups=1)
    with pytest.warns(Warning):  # 1 of 126 groups: incomplete, evaluated as far as present
        sample = load("cufed5", tmp_path, ref_mode="all")[0]
    batch, hr, _ = make_inputs(sample, Evaluation("cufed5", "all", load_options={"ref_mode": "all"}), "cpu")
    assert "ref" not in batch and len(batch["refs"]) == len(batch["refs_down_up"]) == 5
    assert [tuple(r.shape[-2:]) for r in batch["refs"]] == [(20 + 4 * k, 24 + 4 * k) for k in range(1, 6)]
    method = registry.get("srntt").load(converted, "cpu")
    assert method.takes_multiple_refs and not registry.get("ttsr").takes_multiple_refs
    seen = []
    forward = method.pipeline.forward
    monkeypatch.setattr(method.pipeline, "forward", lambda lr, lr_up, refs, down_up: seen.append(
        [tuple(r.shape[-2:]) for r in refs]) or forward(lr, lr_up, refs, down_up))
    sr = method(batch)
    assert sr.shape == (1, 3, *hr.shape[:2]) and seen == [[tuple(r.shape[-2:]) for r in batch["refs"]]]


def test_runner_passes_all_to_srntt_and_skips_single_reference_methods(converted, clean_env, monkeypatch):
    """A pass in mode "all": SRNTT (takes several) and bicubic (SISR, ignores them) run; TTSR (one
    reference) is skipped with one line saying why and what to run instead."""
    import json
    from dataclasses import replace

    from benchmarks import protocols, run
    from tests.fixture_runs import random_ttsr
    from tests.test_datasets import make_cufed5

    make_cufed5(clean_env / "data" / "CUFED5", groups=2)
    passes = (replace(protocols._refsr("cufed5", "all", None), protocol="refs-all"),)
    monkeypatch.setitem(protocols.PROTOCOLS, "refs-all", protocols.Protocol("refs-all", "CUFED5, every reference", passes))
    ckpt = random_ttsr(clean_env / "ttsr-random.pt")
    out = clean_env / "runs" / "all"
    assert run.main(["--protocol", "refs-all", "--data-root", str(clean_env / "data"), "--methods", "bicubic",
                     "srntt", "ttsr", "--weights", f"srntt={converted}", f"ttsr={ckpt}", "--out", str(out),
                     "--metrics", "psnr"]) == 0
    from benchmarks.results import read_rows

    rows = read_rows(out / "rows.csv")[1]
    assert sorted({(r["method"], r["ref_mode"]) for r in rows}) == [("bicubic", "all"), ("srntt", "all")]
    assert all(float(r["psnr"]) > 0 for r in rows)
    skipped = {s["what"]: s for s in json.loads((out / "skipped.json").read_text())}
    ttsr = skipped["method ttsr on cufed5/all"]
    assert ttsr["reason"] == "takes one reference; ref_mode 'all' gives several" and "'stitched'" in ttsr["fix"]
