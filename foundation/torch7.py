"""A minimal reader of Torch7 (Lua) binary files (`torch.save(path, obj)` in 'binary' mode, `.t7`).

Written from the format of torch7's `File.lua` (`writeObject`) and `generic/Tensor.c` /
`generic/Storage.c` (`write`). PyPI's `torchfile` (0.1.0, February 2017, unmaintained since)
reads the same format; this reader exists so that a weights file is parsed by ~150 lines the
suite owns and tests (tests/torch7_writer.py writes the format from the same description), and it
never runs anything: a Lua function stored in the file (the RDN release's frozen mean-shift layers
carry one, `accGradParameters`) is skipped over and comes back as a `LuaFunction` placeholder.

The format, little-endian, ints 4 bytes, longs 8 bytes (Linux/x86-64 Torch's default):

- an object = int32 type tag, then: 0 nil; 1 number (float64); 2 string (int32 n, n bytes);
  5 boolean (int32); 3 table / 4 torch object: int32 reference index; an index seen before
  means "the same object again" (shared tensors, storages, modules); otherwise its contents follow:
  - table: int32 n, then n (key object, value object) pairs;
  - torch object: string "V <version>" (int32 n + bytes; files from before versions lack it and
    hold the class name here directly), string class name, then
    - a tensor (`torch.*Tensor`): int32 ndim, ndim int64 sizes, ndim int64 strides, int64
      storage offset + 1 (Lua's 1-based), then its storage as an object (nil for an empty tensor);
    - a storage (`torch.*Storage`): int64 element count, then the raw elements;
    - any other class (an `nn` module, ...): one object, the table of its fields.
- a Lua function: 6 = int32 n, n bytes of bytecode, its upvalues (an object); 7 and 8 = int32
  reference index, then the same (8's upvalues are {name=, value=} tables).

`read_t7(path) -> object`: tables become `dict` (Lua numbers that are integers become `int` keys),
tensors `numpy.ndarray` (a copy, in the storage's dtype; CUDA tensors are stored as their CPU
type and read as such), other torch classes `TorchObject(class_name, version, fields)`, functions
`LuaFunction(bytecode_size)` (never loaded). Errors are `UserError` lines naming the file (missing,
empty, truncated, not Torch7 binary).
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from foundation.errors import UserError

TYPE_NIL, TYPE_NUMBER, TYPE_STRING, TYPE_TABLE, TYPE_TORCH, TYPE_BOOLEAN = 0, 1, 2, 3, 4, 5
TYPE_FUNCTION, LEGACY_TYPE_RECUR_FUNCTION, TYPE_RECUR_FUNCTION = 6, 7, 8

#: storage class → element dtype (CUDA storages are written in their host type).
STORAGE_DTYPES = {
    "Double": "<f8", "Float": "<f4", "Half": "<f2", "Long": "<i8", "Int": "<i4", "Short": "<i2",
    "Char": "i1", "Byte": "u1", "Cuda": "<f4", "CudaDouble": "<f8", "CudaHalf": "<f2", "CudaLong": "<i8",
    "CudaInt": "<i4", "CudaShort": "<i2", "CudaChar": "i1", "CudaByte": "u1",
}


@dataclass
class TorchObject:
    """A Torch class instance other than a tensor or storage: `class_name` (e.g. "nn.Sequential",
    "cudnn.SpatialConvolution"), `version` (the file's "V n", 0 when absent), `fields` (its table)."""

    class_name: str
    version: int = 0
    fields: dict = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


def _storage_kind(class_name: str, suffix: str) -> str | None:
    """"Float" for "torch.FloatTensor" (suffix "Tensor"), "Cuda" for "torch.CudaStorage", ...; None otherwise."""
    if class_name.startswith("torch.") and class_name.endswith(suffix):
        kind = class_name[len("torch."):-len(suffix)]
        return kind if kind in STORAGE_DTYPES else None
    return None


@dataclass(frozen=True)
class LuaFunction:
    """A Lua function stored in the file: its bytecode is skipped, never loaded or run."""

    bytecode_size: int


class _Reader:
    def __init__(self, data: bytes, path: Path):
        self.data, self.pos, self.path = data, 0, path
        self.memo: dict[int, Any] = {}

    def fail(self, why: str) -> UserError:
        return UserError(f"{self.path}: not a readable Torch7 binary file ({why} at byte {self.pos}); "
                         "re-download it (expected a file written by torch.save in binary mode)")

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail("truncated")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def int(self) -> int:
        return struct.unpack("<i", self.take(4))[0]

    def long(self) -> int:
        return struct.unpack("<q", self.take(8))[0]

    def string(self) -> str:
        return self.take(self.int()).decode("latin-1")

    def object(self) -> Any:
        tag = self.int()
        if tag == TYPE_NIL:
            return None
        if tag == TYPE_NUMBER:
            value = struct.unpack("<d", self.take(8))[0]
            return int(value) if value.is_integer() and abs(value) < 2 ** 53 else value
        if tag == TYPE_STRING:
            return self.string()
        if tag == TYPE_BOOLEAN:
            return self.int() == 1
        if tag == TYPE_FUNCTION:
            return self._function(None)
        if tag not in (TYPE_TABLE, TYPE_TORCH, LEGACY_TYPE_RECUR_FUNCTION, TYPE_RECUR_FUNCTION):
            raise self.fail(f"unknown type tag {tag}")
        index = self.int()
        if index in self.memo:
            return self.memo[index]
        if tag in (LEGACY_TYPE_RECUR_FUNCTION, TYPE_RECUR_FUNCTION):
            return self._function(index)
        if tag == TYPE_TABLE:
            table: dict = {}
            self.memo[index] = table
            for _ in range(self._count(self.int())):
                key = self.object()
                table[key] = self.object()
            return table
        return self._torch(index)

    def _function(self, index: int | None) -> LuaFunction:
        size = self._count(self.int())
        self.take(size)  # bytecode: skipped, never loaded
        function = LuaFunction(size)
        if index is not None:
            self.memo[index] = function
        self.object()  # its upvalues, read (to move past them) and dropped
        return function

    def _count(self, n: int) -> int:
        if n < 0 or n > len(self.data):
            raise self.fail(f"impossible count {n}")
        return n

    def _torch(self, index: int) -> Any:
        head = self.string()
        version = 0
        if head.startswith("V "):
            try:
                version = int(head[2:])
            except ValueError:
                raise self.fail(f"bad version {head!r}") from None
            class_name = self.string()
        else:
            class_name = head
        if (kind := _storage_kind(class_name, "Storage")) is not None:
            dtype = np.dtype(STORAGE_DTYPES[kind])
            count = self._count(self.long())
            array = np.frombuffer(self.take(count * dtype.itemsize), dtype=dtype).copy()
            self.memo[index] = array
            return array
        if (kind := _storage_kind(class_name, "Tensor")) is not None:
            ndim = self._count(self.int())
            sizes = [self.long() for _ in range(ndim)]
            strides = [self.long() for _ in range(ndim)]
            offset = self.long() - 1
            storage = self.object()
            self.memo[index] = tensor = self._view(class_name, kind, storage, sizes, strides, offset)
            return tensor
        obj = TorchObject(class_name, version)
        self.memo[index] = obj
        fields = self.object()
        obj.fields = fields if isinstance(fields, dict) else {"_value": fields}
        return obj

    def _view(self, class_name: str, kind: str, storage: Any, sizes: list[int], strides: list[int],
              offset: int) -> np.ndarray:
        dtype = np.dtype(STORAGE_DTYPES[kind])
        if storage is None or any(s == 0 for s in sizes) or not sizes:
            return np.zeros(sizes if sizes else (0,), dtype=dtype)
        if not isinstance(storage, np.ndarray):
            raise self.fail(f"{class_name} without a storage")
        last = offset + sum((n - 1) * s for n, s in zip(sizes, strides))
        if offset < 0 or any(s < 0 for s in strides) or last >= storage.size:
            raise self.fail(f"{class_name} of size {sizes} runs past its storage of {storage.size} elements")
        view = np.lib.stride_tricks.as_strided(storage[offset:], shape=sizes,
                                               strides=[s * storage.itemsize for s in strides], writeable=False)
        return np.array(view, dtype=dtype)


def read_t7(path: str | os.PathLike) -> Any:
    """The object stored in a Torch7 binary file (see the module docstring); `UserError` when the
    file is missing, empty, truncated or not Torch7 binary."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    data = path.read_bytes()
    if not data:
        raise UserError(f"{path}: empty file, not a Torch7 file; re-download it")
    reader = _Reader(data, path)
    obj = reader.object()
    if reader.pos != len(data):
        raise reader.fail(f"{len(data) - reader.pos} bytes left over")
    return obj


def is_t7(path: str | os.PathLike) -> bool:
    """True for a `.t7` suffix, or a file that starts like a Torch7 binary object (int32 tag 4, index 1)."""
    path = Path(path)
    if path.suffix.lower() == ".t7":
        return True
    try:
        with open(path, "rb") as handle:
            return handle.read(8) == struct.pack("<ii", TYPE_TORCH, 1)
    except OSError:
        return False


def modules_in_order(obj: Any) -> list[TorchObject]:
    """Every `nn`-style module of a module tree, depth first, each container before its children
    and children in `modules` order (Lua's 1-based table keys, sorted)."""
    out: list[TorchObject] = []

    def walk(node: Any) -> None:
        if not isinstance(node, TorchObject):
            return
        out.append(node)
        children = node.get("modules")
        if isinstance(children, dict):
            for key in sorted(k for k in children if isinstance(k, int)):
                walk(children[key])

    walk(obj)
    return out
