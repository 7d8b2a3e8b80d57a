"""Every loader of torch / .npz files refuses pickled objects with the same short message
(foundation.safeload): the file, why (pickled objects could run code), how to re-save the weights; it
never advises weights_only=False and never runs the payload."""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from foundation.errors import UserError
from foundation.safeload import RESAVE_STATE_DICT, refused_pickle_message


class Payload:
    """Unpickling this creates the folder `marker`: proof that the file's code ran."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def _read(path):
    from foundation.checkpoints import read_checkpoint
    return read_checkpoint(path)


def _ttsr(path):
    from ttsr.checkpoint import load_ttsr
    return load_ttsr(path)


def _sisr_method(path):
    from baselines import registry
    return registry.get("imdn").load(path, "cpu")


def _backbone(path):
    from foundation import pretrained
    spec = pretrained.BACKBONES["vgg19"]
    target = pretrained.hub_checkpoint_dir() / spec.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(Path(path).read_bytes())
    return pretrained.load_backbone_state_dict("vgg19", "the test")


def _train_state(path):
    from training.trainer import Trainer
    return Trainer.load(None, Path(path))  # the file is read before the trainer is used


LOADERS = {"foundation.checkpoints": _read, "ttsr.checkpoint load_ttsr": _ttsr, "registry imdn": _sisr_method,
           "foundation.pretrained": _backbone, "training.trainer": _train_state}


def assert_refusal(message: str, path: str, found: str | None) -> None:
    assert message.startswith(f"{path}: refused: it holds pickled Python objects")
    if found:
        assert f"({found})" in message
    assert "could run code" in message
    assert "\n" not in message and len(message) < 300
    assert "weights_only" not in message and "add_safe_globals" not in message


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("content", ["payload", "namespace", "numpy"])
def test_every_torch_loader_refuses_pickled_objects_with_one_message(tmp_path, monkeypatch, loader, content):
    import argparse

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCH_HOME", "t")  # relative: the message length does not depend on tmp_path
    marker = tmp_path / "payload-ran"
    extra, found = {"payload": (Payload(str(marker)), "posix.mkdir"),
                    "namespace": (argparse.Namespace(scale=4), "argparse.Namespace"),
                    "numpy": (np.zeros(3), None)}[content]
    torch.save({"params": {"w": torch.zeros(2)}, "extra": extra}, "model.pth")
    with pytest.raises(UserError) as caught:
        LOADERS[loader]("model.pth")
    shown = "t/hub/checkpoints/vgg19-dcbb9e9c.pth" if loader == "foundation.pretrained" else "model.pth"
    assert_refusal(str(caught.value), shown, found)
    assert RESAVE_STATE_DICT in str(caught.value)
    assert not marker.exists()


def test_message_form():
    message = refused_pickle_message("w/model.pth", "argparse.Namespace")
    assert message == ("w/model.pth: refused: it holds pickled Python objects (argparse.Namespace) besides the "
                       "weights, and loading them could run code; if you trust the file, re-save just its weights: "
                       "torch.save(model.state_dict(), 'weights.pt')")


def test_garbled_file_is_not_called_a_pickle_and_has_no_torch_advice(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("junk.pth").write_bytes(b"\x80\x02garbage that is no pickle" * 4)
    for loader in (_read, _ttsr):
        with pytest.raises(UserError, match=r"^junk.pth: not a") as caught:
            loader("junk.pth")
        assert "weights_only" not in str(caught.value) and len(str(caught.value)) < 300


def test_srntt_npz_with_an_object_is_refused_with_the_same_message(tmp_path, monkeypatch):
    from baselines.srntt.convert import npz_origin, read_npz_params

    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "payload-ran"
    params = np.empty(2, dtype=object)
    params[:] = [np.zeros(3, np.float32), Payload(str(marker))]
    np.savez("upscale.npz", params=params)
    with pytest.raises(UserError) as caught:
        read_npz_params(Path("upscale.npz"))
    assert_refusal(str(caught.value), "upscale.npz", "posix.mkdir")
    assert "re-download it from the SRNTT release" in str(caught.value)
    assert not marker.exists()
    # the origin note of a file is read without pickle too
    np.savez("texture.npz", params=np.zeros(3, np.float32), origin=params)
    with zipfile.ZipFile("texture.npz") as archive:
        assert "origin.npy" in archive.namelist()
    with pytest.raises(UserError) as caught:
        npz_origin(Path("texture.npz"))
    assert_refusal(str(caught.value), "texture.npz (origin.npy)", None)
    assert not marker.exists()
