"""Checkpoint I/O: round trips, the release's formats, and a clear error for each bad file."""
from __future__ import annotations

import argparse

import pytest
import torch

from conftest import shared_path
from foundation.checkpoints import read_checkpoint
from ttsr.checkpoint import CONFIG_KEY, infer_config, load_ttsr, save_ttsr
from ttsr.config import TTSRConfig
from foundation.errors import UserError
from ttsr.model import TTSR

SMALL = TTSRConfig(n_feats=8, num_res_blocks=(2, 1, 1, 1))



def inputs(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    rand = lambda *s: torch.rand(*s, generator=g) * 2 - 1  # noqa: E731
    return {"lr": rand(1, 3, 5, 6), "lrsr": rand(1, 3, 20, 24), "ref": rand(1, 3, 16, 20),
            "refsr": rand(1, 3, 16, 20)}


@pytest.fixture(scope="module")
def model() -> TTSR:
    torch.manual_seed(0)
    return TTSR(SMALL).eval()


def outputs(m: TTSR) -> tuple:
    with torch.no_grad():
        return tuple(m(**inputs()))


def assert_same(a: tuple, b: tuple) -> None:
    for x, y in zip(a, b):
        assert (x is None and y is None) or torch.equal(x, y)


def test_round_trip_keeps_outputs_config_and_metadata(tmp_path):
    torch.manual_seed(3)
    config = SMALL.replace(soft_attention=False, learnable_lte=False, csfi=False)  # not inferable from shapes
    original = TTSR(config).eval()
    expected = outputs(original)
    for suffix in (".pt", ".pth", ".safetensors"):
        path = save_ttsr(original, tmp_path / f"m{suffix}", metadata={"epoch": 7, "note": "random"})
        loaded = load_ttsr(path)
        assert loaded.config == config, suffix
        assert loaded.checkpoint_metadata["epoch"] == 7, suffix
        assert_same(expected, outputs(loaded))


def test_safetensors_detected_by_magic_without_suffix(tmp_path, model):
    path = save_ttsr(model, tmp_path / "m.safetensors")
    renamed = path.rename(tmp_path / "weights.bin")
    assert_same(outputs(model), outputs(load_ttsr(renamed)))


def test_release_layouts_load_with_inferred_config(tmp_path, model):
    sd = model.state_dict()
    lte_copy = {k.replace("LTE.", "LTE_copy.", 1): v for k, v in sd.items() if k.startswith("LTE.")}
    layouts = {
        "flat": dict(sd),
        "module": {f"module.{k}": v for k, v in sd.items()},
        "state_dict": {"state_dict": dict(sd), "epoch": 3},
        "model": {"model": {f"module.{k}": v for k, v in sd.items()}, "optimizer": {}},
        # a raw state_dict() of the release's model also holds its frozen LTE copy
        "with_lte_copy": {**sd, **lte_copy},
    }
    expected = outputs(model)
    for name, payload in layouts.items():
        torch.save(payload, tmp_path / f"{name}.pt")
        loaded = load_ttsr(tmp_path / f"{name}.pt")
        assert loaded.config == SMALL, name
        assert_same(expected, outputs(loaded))


def test_release_format_writer_and_state_dict_file(tmp_path, model):
    path = save_ttsr(model, tmp_path / "release.pt", release_format=True)
    raw = torch.load(path, weights_only=True)
    assert list(raw) == list(model.state_dict())  # exactly what the release's code loads
    assert set(read_checkpoint(path).state_dict) == set(raw)
    assert read_checkpoint(path, config_key=CONFIG_KEY).config is None


def test_infer_config_of_full_size_keys():
    keys = torch.load(shared_path("golden", "ttsr_reference_small.pt"), weights_only=True)["full_size_checkpoint_keys"]
    config = infer_config({k: torch.empty(tuple(v), device="meta") for k, v in keys.items()})
    assert config == TTSRConfig()


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_ttsr(tmp_path / "nope.pt")
    with pytest.raises(UserError, match="folder"):
        load_ttsr(tmp_path)


@pytest.mark.parametrize("content", [b"", b"hello, this is text\n", b"\x89PNG\r\n\x1a\n" + b"\0" * 64,
                                     b"PK\x03\x04broken zip"])
def test_not_a_checkpoint(tmp_path, content):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(UserError, match="not a|empty"):
        load_ttsr(path)


def test_checkpoint_without_tensors(tmp_path):
    torch.save({"epoch": 1, "lr": 0.1}, tmp_path / "x.pt")
    with pytest.raises(UserError, match="no tensors"):
        load_ttsr(tmp_path / "x.pt")
    torch.save([torch.zeros(1)], tmp_path / "y.pt")
    with pytest.raises(UserError, match="not a state dict"):
        load_ttsr(tmp_path / "y.pt")


def test_pickle_needing_code_is_refused(tmp_path, model):
    torch.save({"args": argparse.Namespace(n_feats=64), "state_dict": model.state_dict()}, tmp_path / "code.pt")
    with pytest.raises(UserError, match=r"code.pt: refused: it holds pickled Python objects \(argparse.Namespace\)"
                                        r".*could run code.*torch.save\(model.state_dict\(\)") as caught:
        load_ttsr(tmp_path / "code.pt")
    assert "weights_only" not in str(caught.value)


def test_corrupt_safetensors(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(UserError, match="safetensors"):
        load_ttsr(path)


def test_missing_and_unexpected_keys_are_listed(tmp_path, model):
    sd = dict(model.state_dict())
    for key in ("MainNet.merge_tail.conv_tail2.weight", "LTE.slice1.0.bias"):
        del sd[key]
    sd["MainNet.extra.weight"] = torch.zeros(1)
    torch.save(sd, tmp_path / "m.pt")
    with pytest.raises(UserError) as err:
        load_ttsr(tmp_path / "m.pt")
    text = str(err.value)
    assert "2 missing key(s) (" in text and "MainNet.merge_tail.conv_tail2.weight" in text and "LTE.slice1.0.bias" in text
    assert "1 unexpected key(s) (MainNet.extra.weight)" in text


def test_shape_mismatch_names_key_expected_and_found(tmp_path, model):
    save_ttsr(model, tmp_path / "m.pt")
    with pytest.raises(UserError, match=r"shape mismatch.*MainNet.SFE.conv_head.weight: file \(8, 3, 3, 3\) vs model \(16, 3, 3, 3\)"):
        load_ttsr(tmp_path / "m.pt", config=SMALL.replace(n_feats=16))


def test_other_method_is_named(tmp_path):
    edsr = {"head.0.weight": torch.zeros(64, 3, 3, 3), "body.0.body.0.weight": torch.zeros(64, 64, 3, 3),
            "tail.0.0.weight": torch.zeros(256, 64, 3, 3)}
    torch.save(edsr, tmp_path / "edsr.pt")
    with pytest.raises(UserError, match="looks like a checkpoint of EDSR / MDSR .*expected TTSR"):
        load_ttsr(tmp_path / "edsr.pt")
    torch.save({"foo.weight": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="not a TTSR checkpoint"):
        load_ttsr(tmp_path / "other.pt")


def test_published_sisr_checkpoint_is_named():
    with pytest.raises(UserError, match=r"looks like a checkpoint of IMDN .*expected TTSR"):
        load_ttsr(shared_path("weights", "IMDN_x4.pth"))  # saved on CUDA, keys prefixed module.
