"""The shared helpers of foundation/: devices, torchrun environment, image↔tensor, hashing, seeding."""
from __future__ import annotations

import argparse
import hashlib
import random

import numpy as np
import pytest
import torch

from foundation import devices
from foundation.cli_types import OneLineParser
from foundation.distributed import Dist, from_env, init_distributed
from foundation.errors import UserError
from foundation.fileio import sha256_file
from foundation.imageio import is_image_file, list_images
from foundation.seeding import SEED_MAX, seed_everything
from foundation.tensors import image_to_tensor, tensor_to_image

NO_CUDA = not torch.cuda.is_available()


# ----------------------------------------------------------------------------- devices

@pytest.mark.parametrize("text, expected", [("cpu", "cpu"), (" CPU ", "cpu"), ("auto", "auto"), ("Auto", "auto")])
def test_device_arg_accepts_names(text, expected):
    assert devices.device_arg(text) == expected


@pytest.mark.parametrize("text", ["tpu", "gpu0", "cuda:x", "cuda:", "cuda:-1", "cpu:0", ""])
def test_device_arg_rejects_non_devices(text):
    with pytest.raises(argparse.ArgumentTypeError, match="expected auto, cpu, cuda, cuda:N or mps"):
        devices.device_arg(text)


def test_cuda_index_is_parsed_and_checked_against_the_count(monkeypatch):
    monkeypatch.setattr(devices, "_cuda_count", lambda: 2)
    assert devices.device_arg("cuda:1") == "cuda:1" and devices.device_arg("CUDA") == "cuda"
    assert devices.resolve_device("cuda:1") == torch.device("cuda", 1)
    assert devices.resolve_device("auto") == torch.device("cuda")
    with pytest.raises(UserError, match=r"^--device 'cuda:2': only 2 CUDA device\(s\) here \(cuda:0…cuda:1\)$"):
        devices.resolve_device("cuda:2")


@pytest.mark.skipif(not NO_CUDA, reason="CUDA is available here")
def test_cuda_7_on_a_cpu_machine_is_one_user_error_line(capsys):
    with pytest.raises(UserError) as err:
        devices.resolve_device("cuda:7")
    message = str(err.value)
    assert "\n" not in message and message.startswith("--device 'cuda:7': no CUDA device") and "use cpu" in message
    parser = OneLineParser(prog="prog")
    parser.add_argument("--device", type=devices.device_arg)
    with pytest.raises(UserError) as err:
        parser.parse_args(["--device", "cuda:7"])
    assert "\n" not in str(err.value) and "--device" in str(err.value) and "'cuda:7'" in str(err.value)


def test_auto_and_none_follow_cuda_availability():
    expected = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert devices.resolve_device("auto") == devices.resolve_device(None) == expected
    assert devices.resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_each_torchrun_rank_takes_its_local_gpu(monkeypatch):
    monkeypatch.setattr(devices, "_cuda_count", lambda: 4)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("LOCAL_RANK", "2")
    assert devices.resolve_device("cuda") == torch.device("cuda", 2)
    assert devices.resolve_device("auto") == torch.device("cuda", 2)
    assert devices.resolve_device("cuda:2") == torch.device("cuda", 2)  # already resolved: unchanged
    assert devices.resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(UserError, match="under torchrun each rank uses cuda:\\$LOCAL_RANK"):
        devices.resolve_device("cuda:0")


# ----------------------------------------------------------------------------- torchrun environment

def test_from_env_without_torchrun_is_one_process():
    assert from_env({}) == Dist() and from_env({"WORLD_SIZE": "1", "RANK": "0"}) == Dist()
    one = from_env({})
    assert not one.active and one.is_main and one.broadcast("x") == "x"
    one.barrier()
    one.close()  # no-ops


def test_from_env_reads_ranks():
    d = from_env({"WORLD_SIZE": "3", "RANK": "2", "LOCAL_RANK": "0"})
    assert (d.rank, d.world_size, d.local_rank, d.backend) == (2, 3, 0, None)
    assert d.active and not d.is_main
    assert from_env({"WORLD_SIZE": "2", "RANK": "1"}).local_rank == 1  # LOCAL_RANK defaults to RANK


@pytest.mark.parametrize("environ, needle", [
    ({"WORLD_SIZE": "two"}, "$WORLD_SIZE 'two': expected a whole number ≥ 1"),
    ({"WORLD_SIZE": "0"}, "$WORLD_SIZE '0': expected a whole number ≥ 1"),
    ({"WORLD_SIZE": "2", "RANK": "-1"}, "$RANK '-1': expected a whole number ≥ 0"),
    ({"WORLD_SIZE": "2", "RANK": "2"}, "$RANK 2: must be below $WORLD_SIZE 2"),
    ({"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "x"}, "$LOCAL_RANK 'x': expected a whole number ≥ 0"),
])
def test_from_env_bad_values_are_one_line(environ, needle):
    with pytest.raises(UserError) as err:
        from_env(environ)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_init_distributed_is_a_no_op_for_one_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert init_distributed("cpu") == Dist()
    assert not torch.distributed.is_initialized()


# ----------------------------------------------------------------------------- images ↔ tensors

def test_image_tensor_round_trip_in_both_ranges():
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    plain = image_to_tensor(image)
    assert plain.shape == (1, 3, 5, 7) and plain.dtype == torch.float32 and plain.is_contiguous()
    assert torch.equal(plain[0, 1], torch.from_numpy(image[..., 1]).float())
    signed = image_to_tensor(image, "cpu", signed=True)
    assert torch.equal(signed, torch.from_numpy(image.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None])
    assert np.array_equal(tensor_to_image(plain), image) and np.array_equal(tensor_to_image(signed, signed=True), image)
    assert np.array_equal(tensor_to_image(plain[0]), image)  # 3×H×W too


def test_tensor_to_image_clamps_and_rounds_half_to_even():
    values = torch.tensor([-3.0, 0.5, 1.5, 2.5, 254.5, 300.0]).view(1, 1, 1, 6).expand(1, 3, 1, 6)
    assert tensor_to_image(values)[0, :, 0].tolist() == [0, 0, 2, 2, 254, 255]
    assert tensor_to_image(torch.full((1, 3, 1, 1), 1.5), signed=True)[0, 0, 0] == 255


# ----------------------------------------------------------------------------- files, seeding

def test_sha256_file(tmp_path):
    path = tmp_path / "w.bin"
    path.write_bytes(b"x" * 3_000_001)
    assert sha256_file(path, chunk=1000) == hashlib.sha256(b"x" * 3_000_001).hexdigest() == sha256_file(path)


def test_list_images(tmp_path):
    for name in ("b.PNG", "a.jpg", ".hidden.png", "notes.txt", "c.ppm"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "d.png").mkdir()
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.PNG", "c.ppm"]
    assert list_images(tmp_path / "absent") == [] and not is_image_file(tmp_path / "d.png")


def test_seed_everything_repeats_every_generator():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    seed_everything(7)
    first = draw()
    seed_everything(7)
    assert draw() == first
    seed_everything(SEED_MAX)  # the largest seed every generator takes (numpy's legacy one: < 2**32)
    with pytest.raises(ValueError, match="outside 0…4294967295"):  # the commands refuse it first
        seed_everything(SEED_MAX + 1)


# --------------------------------------------------------------------------- the one Registry

def test_registry_names_aliases_and_errors():
    from foundation.errors import UserError
    from foundation.registry import Registry

    modes = Registry("mode", case_sensitive=False)
    modes.register("first", name="L1", aliases=("level1", "1"))
    modes.register("second", name="L2")
    assert modes.names() == ["L1", "L2"] and modes["l1"] == modes.get(" LEVEL1 ") == "first"
    assert "1" in modes and "l3" not in modes and modes.get("l3", None) is None
    with pytest.raises(UserError, match=r"^unknown mode 'l3'; valid names: L1, L2$"):
        modes.get("l3")
    with pytest.raises(ValueError, match=r"'level1' already name mode 'L1'"):
        modes.register("third", name="L3", aliases=("Level1",))
    assert "L3" not in modes  # a refused entry leaves nothing behind
    with pytest.raises(ValueError, match="registered twice"):
        modes.register("other", name="L2")
    twin = modes.copy()
    twin.register("third", name="L3")
    assert "L3" in twin and "L3" not in modes
    strict = Registry("protocol")
    strict.register("x", name="table1")
    assert "TABLE1" not in strict and strict["table1"] == "x"


def test_registry_discovery_reports_a_broken_module(tmp_path, monkeypatch):
    import sys

    from foundation.errors import UserError
    from foundation.registry import Registry

    package = tmp_path / "plugins_for_test"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "good.py").write_text("from plugins_for_test import REG\nREG.register('ok', name='good')\n")
    (package / "bad.py").write_text("raise RuntimeError('broken on purpose')\n")
    reg = Registry("method", discover="plugins_for_test")
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "plugins_for_test", __import__("plugins_for_test"))
    sys.modules["plugins_for_test"].REG = reg
    with pytest.warns(RuntimeWarning, match="broken on purpose"):
        assert reg.names() == ["good"]
    with pytest.raises(UserError, match=r"valid names: good; modules that failed to import: "
                                        r"plugins_for_test.bad \(RuntimeError: broken on purpose\)"):
        reg.get("missing")


def test_a_load_error_reason_is_never_empty_nor_cut_mid_word(tmp_path):
    import pickle

    from foundation.safeload import _detail

    assert _detail(pickle.UnpicklingError("Weights only load failed. Unpickler error: ")) == "UnpicklingError"
    long = _detail(RuntimeError("word " * 60))
    assert long.endswith("word …") and len(long) <= 122


def test_a_folder_given_as_a_toml_file_says_so(tmp_path):
    from foundation.errors import UserError
    from foundation.tomlfile import read_toml

    with pytest.raises(UserError, match=r"is a folder, expected a TOML file \(see configs/\*\.toml\)$"):
        read_toml(tmp_path)


def test_registry_order_does_not_depend_on_import_order():
    """Names listed by a registry with an `order` come out the same whatever registered first (a
    method module imported before discovery registers before its siblings)."""
    from foundation.errors import UserError
    from foundation.registry import Registry

    listed = []
    for first, second in (("zeta", "bicubic"), ("bicubic", "zeta")):
        reg = Registry("method", order=lambda n: (n != "bicubic", n))
        for name in (first, "alpha", second):
            reg.register(name, name=name)
        listed.append(reg.names())
        with pytest.raises(UserError, match=r"valid names: bicubic, alpha, zeta$"):
            reg.get("nope")
    assert listed == [["bicubic", "alpha", "zeta"]] * 2
    assert reg.copy().names() == ["bicubic", "alpha", "zeta"]
