"""The one checkpoint reader (foundation.checkpoints): wrappers, prefixes, metadata, remap, strict load."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from foundation.checkpoints import load_checkpoint, read_checkpoint, rename, strip_prefixes
from foundation.errors import UserError


def test_wrapper_levels_give_tensors_config_and_metadata(tmp_path):
    t = torch.zeros(2)
    torch.save({"generator": {"module.module.w": t}, "cfg": {"n": 1}, "metadata": {"epoch": 3}}, tmp_path / "a.pt")
    ckpt = read_checkpoint(tmp_path / "a.pt", config_key="cfg")
    assert list(ckpt.state_dict) == ["w"] and ckpt.config == {"n": 1} and ckpt.metadata == {"epoch": 3}
    assert ckpt.entries["cfg"] == {"n": 1}


def test_safetensors_header(tmp_path):
    save_file({"w": torch.zeros(1)}, str(tmp_path / "a.safetensors"),
              metadata={"cfg": '{"n": 2}', "metadata": '{"epoch": 4}', "origin": "test"})
    ckpt = read_checkpoint(tmp_path / "a.safetensors", config_key="cfg")
    assert ckpt.config == {"n": 2} and ckpt.metadata == {"epoch": 4, "origin": "test"}
    save_file({"w": torch.zeros(1)}, str(tmp_path / "b.safetensors"), metadata={"metadata": "free text", "cfg": "{"})
    assert read_checkpoint(tmp_path / "b.safetensors").metadata == {"metadata": "free text", "cfg": "{"}
    with pytest.raises(UserError, match=r"b.safetensors: the safetensors header's 'cfg' is not valid JSON"):
        read_checkpoint(tmp_path / "b.safetensors", config_key="cfg")


def test_rename_table_first_rule_wins_and_none_drops():
    t = torch.zeros(1)
    table = ((r"^copy\.", None), (r"^old\.(\d+)\.", r"new.\1."), (r"^old\.", "never."))
    assert list(rename({"copy.a": t, "old.0.w": t, "keep": t}, table)) == ["new.0.w", "keep"]
    assert list(strip_prefixes({"module.a": t, "b": t})) == ["a", "b"]


def test_load_checkpoint_names_the_file_or_every_problem(tmp_path):
    torch.save({"params": {"weight": torch.zeros(2, 3), "bias": torch.zeros(2)}}, tmp_path / "lin.pth")
    model, ckpt = load_checkpoint(tmp_path / "lin.pth", what="linear", build=lambda sd: nn.Linear(3, 2))
    assert isinstance(model, nn.Linear) and ckpt.path == tmp_path / "lin.pth"
    with pytest.raises(UserError, match=r"lin.pth: does not fit wide: 2 shape mismatch\(es\) \(weight: file \(2, 3\) "
                                        r"vs model \(4, 3\), bias: file \(2,\) vs model \(4,\)\); \(hint\)$"):
        load_checkpoint(tmp_path / "lin.pth", what="wide", build=lambda sd: nn.Linear(3, 4), hint="; (hint)")
    with pytest.raises(UserError, match=r"lin.pth: this is X$"):
        load_checkpoint(tmp_path / "lin.pth", what="wide", build=lambda sd: nn.Linear(3, 4),
                        identify=lambda keys: "this is X" if keys == ["weight", "bias"] else None)
    with pytest.raises(UserError, match=r"lin.pth: not a conv checkpoint \('conv.weight'\)"):
        load_checkpoint(tmp_path / "lin.pth", what="conv", build=lambda sd: sd["conv.weight"])
