"""Test helper: write Torch7 binary files (`torch.save` format, see foundation/torch7.py) and build,
in that format, the module tree of the RDN release (yulunzhang/RDN@83b0a43,
`RDN_TrainCode/code/model/RDN.lua` + `model/common.lua` `addSkip` / `upsample_wo_act`, the mean
shift of `model/init.lua`), with known values; and run such a tree the way Torch's `nn` modules
do (`lua_forward`), so that a converted network can be compared with the tree it came from.

Written from the format description, independently of the reader; no Lua code is run.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from foundation.torch7 import LuaFunction, TorchObject


@dataclass
class StorageView:
    """A float tensor that is a view into a shared flat storage (as after Torch's getParameters)."""

    storage: np.ndarray  # float32, 1-D, written once
    offset: int  # 0-based
    sizes: tuple[int, ...]
    strides: tuple[int, ...]


class T7Writer:
    def __init__(self) -> None:
        self.out = bytearray()
        self.memo: dict[int, int] = {}
        self.keep: list[Any] = []  # keeps ids unique while writing

    def int(self, v: int) -> None:
        self.out += struct.pack("<i", v)

    def long(self, v: int) -> None:
        self.out += struct.pack("<q", v)

    def string(self, s: str) -> None:
        data = s.encode("latin-1")
        self.int(len(data))
        self.out += data

    def _ref(self, tag: int, obj: Any) -> bool:
        """Write tag + index; True when the object was written before (nothing more to write)."""
        self.int(tag)
        key = id(obj)
        if key in self.memo:
            self.int(self.memo[key])
            return True
        self.keep.append(obj)
        self.memo[key] = len(self.memo) + 1
        self.int(self.memo[key])
        return False

    def object(self, obj: Any) -> None:
        if obj is None:
            self.int(0)
        elif isinstance(obj, bool):
            self.int(5)
            self.int(1 if obj else 0)
        elif isinstance(obj, (int, float)):
            self.int(1)
            self.out += struct.pack("<d", float(obj))
        elif isinstance(obj, str):
            self.int(2)
            self.string(obj)
        elif isinstance(obj, LuaFunction):
            if not self._ref(8, obj):
                self.int(obj.bytecode_size)
                self.out += b"\x1bLJ" + b"\x00" * (obj.bytecode_size - 3)
                self.object({})  # no upvalues
        elif isinstance(obj, dict):
            if not self._ref(3, obj):
                self.int(len(obj))
                for key, value in obj.items():
                    self.object(key)
                    self.object(value)
        elif isinstance(obj, TorchObject):
            if not self._ref(4, obj):
                self.string(f"V {obj.version}")
                self.string(obj.class_name)
                self.object(obj.fields)
        elif isinstance(obj, (np.ndarray, StorageView)):
            self.tensor(obj)
        else:
            raise TypeError(type(obj))

    def tensor(self, t: np.ndarray | StorageView) -> None:
        if not self._ref(4, t):
            self.string("V 1")
            self.string("torch.FloatTensor")
            if isinstance(t, np.ndarray):
                flat = np.ascontiguousarray(t, dtype=np.float32).reshape(-1)
                self.keep.append(flat)
                view = StorageView(flat, 0, tuple(t.shape), tuple(int(s) // 4 for s in np.zeros(t.shape, np.float32).strides))
            else:
                view = t
            self.int(len(view.sizes))
            for s in view.sizes:
                self.long(s)
            for s in view.strides:
                self.long(s)
            self.long(view.offset + 1)
            self.storage(view.storage)

    def storage(self, s: np.ndarray) -> None:
        if not self._ref(4, s):
            self.string("V 1")
            self.string("torch.FloatStorage")
            self.long(s.size)
            self.out += np.ascontiguousarray(s, dtype="<f4").tobytes()


def write_t7(path: Path, obj: Any) -> Path:
    writer = T7Writer()
    writer.object(obj)
    Path(path).write_bytes(bytes(writer.out))
    return Path(path)


# ------------------------------------------------------------------ the RDN release's tree (RDN.lua)

def _module(cls: str, **fields: Any) -> TorchObject:
    return TorchObject(cls, 0, {"train": False, **fields})


def _container(cls: str, *children: TorchObject, **fields: Any) -> TorchObject:
    return _module(cls, modules={i + 1: c for i, c in enumerate(children)}, **fields)


class LuaRDN:
    """The Torch7 tree `RDN.lua` builds, weights from `values(shape)` in the order Lua creates the
    convs (so the last-run block, created first, gets the first values)."""

    def __init__(self, values: Callable[[tuple[int, ...]], np.ndarray], *, n_feat: int, blocks: int, convs: int,
                 growth: int, mean: tuple[float, float, float] | None = None, cudnn: bool = False,
                 shared_storage: bool = False):
        self.values, self.cudnn, self.created = values, cudnn, []
        self.growth, self.n_feat, self.convs = growth, n_feat, convs
        sfe2 = self.conv(n_feat, n_feat, 3)  # body:add(conv(nFeat, nFeaSDB)), created first
        unit_first = self.seq(self.block_unit())  # DenseBlockUnit = buildDenseBlockUnit(seq(), opt)
        chain = self.recursive(unit_first, blocks - 1)
        gff = [self.conv(n_feat * blocks, n_feat, 1), self.conv(n_feat, n_feat, 3)]
        body = self.seq(sfe2, chain, *gff)
        head = self.conv(3, n_feat, 3)  # ret = seq():add(conv(nChannel, nFeat)) comes after the body in RDN.lua
        skip = self.add_skip(body)
        up = _container("nn.Sequential", self.conv(n_feat, 4 * n_feat, 3, "nn.SpatialConvolution"),
                        _module("nn.PixelShuffle", upscaleFactor=2),
                        self.conv(n_feat, 4 * n_feat, 3, "nn.SpatialConvolution"),
                        _module("nn.PixelShuffle", upscaleFactor=2))
        tail = self.conv(n_feat, 3, 3)
        children = [head, skip, up, tail]
        if mean is not None:  # model/init.lua: frozen 1×1 convs, a Lua function field each
            m = np.asarray(mean, np.float32)
            sub = self.conv(3, 3, 1, weight=np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1), bias=-m)
            add = self.conv(3, 3, 1, weight=np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1), bias=m.copy())
            sub.fields["accGradParameters"] = LuaFunction(40)
            add.fields["accGradParameters"] = LuaFunction(40)
            children = [sub, *children, add]
        self.root = _container("nn.Sequential", *children)
        if shared_storage:
            self._share()

    def conv(self, nin: int, nout: int, k: int, cls: str | None = None, *, weight=None, bias=None) -> TorchObject:
        cls = cls or ("cudnn.SpatialConvolution" if self.cudnn else "nn.SpatialConvolution")
        w = self.values((nout, nin, k, k)) if weight is None else weight
        b = self.values((nout,)) if bias is None else bias
        module = _module(cls, nInputPlane=nin, nOutputPlane=nout, kW=k, kH=k, dW=1, dH=1, padW=k // 2, padH=k // 2,
                         weight=w, bias=b, gradWeight=np.zeros_like(w), gradBias=np.zeros_like(b))
        self.created.append(module)
        return module

    def seq(self, *children: TorchObject) -> TorchObject:
        return _container("nn.Sequential", *children)

    def add_skip(self, model: TorchObject) -> TorchObject:
        return self.seq(_container("nn.ConcatTable", model, _module("nn.Identity")), _module("nn.CAddTable", inplace=True))

    def block_unit(self) -> TorchObject:
        layers, n = [], self.n_feat
        for _ in range(self.convs):
            inner = self.seq(self.conv(n, self.growth, 3), _module("nn.ReLU", inplace=True))
            layers.append(self.seq(_container("nn.Concat", _module("nn.Identity"), inner, dimension=2)))
            n += self.growth
        return self.add_skip(self.seq(*layers, self.conv(n, self.n_feat, 1)))

    def recursive(self, unit_first: TorchObject, n: int) -> TorchObject:
        grow = self.seq(self.block_unit())
        rest = unit_first if n == 1 else self.recursive(unit_first, n - 1)
        grow.fields["modules"][2] = _container("nn.Concat", _module("nn.Identity"), rest, dimension=2)
        return grow

    def _share(self) -> None:
        """Put every conv's weight and bias in one flat storage (views with offsets), as getParameters does."""
        tensors = [(m, key) for m in self.created for key in ("weight", "bias")]
        flat = np.concatenate([np.asarray(m.fields[key], np.float32).reshape(-1) for m, key in tensors])
        offset = 0
        for module, key in tensors:
            array = np.asarray(module.fields[key])
            strides = tuple(int(s) // array.itemsize for s in np.zeros(array.shape, np.float32).strides)
            module.fields[key] = StorageView(flat, offset, array.shape, strides)
            offset += array.size


def lua_forward(module: TorchObject, x: Any) -> Any:
    """Run a Torch7 tree as `nn` does (Sequential, Concat, ConcatTable, CAddTable, Identity, ReLU,
    PixelShuffle, SpatialConvolution); `x` N×C×H×W float64 tensor."""
    kind = module.class_name.split(".")[-1]
    children = [module.fields["modules"][k] for k in sorted(module.fields.get("modules", {}))]
    if kind == "Sequential":
        for child in children:
            x = lua_forward(child, x)
        return x
    if kind == "Concat":  # Lua dimension 2 of a batch = channels
        return torch.cat([lua_forward(c, x) for c in children], module.fields["dimension"] - 1)
    if kind == "ConcatTable":
        return [lua_forward(c, x) for c in children]
    if kind == "CAddTable":
        return sum(x[1:], x[0])
    if kind == "Identity":
        return x
    if kind == "ReLU":
        return torch.relu(x)
    if kind == "PixelShuffle":
        return F.pixel_shuffle(x, module.fields["upscaleFactor"])
    if kind == "SpatialConvolution":
        f = module.fields

        def array(t):
            if isinstance(t, StorageView):
                return np.lib.stride_tricks.as_strided(t.storage[t.offset:], t.sizes, [s * 4 for s in t.strides])
            return t

        weight = torch.from_numpy(np.array(array(f["weight"]), np.float64)).reshape(f["nOutputPlane"], f["nInputPlane"], f["kH"], f["kW"])
        bias = torch.from_numpy(np.array(array(f["bias"]), np.float64)).reshape(-1)
        return F.conv2d(x, weight, bias, padding=(f["padH"], f["padW"]))
    raise ValueError(module.class_name)
