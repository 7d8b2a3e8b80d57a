"""Reading a TensorFlow V1 ("tensor slice") checkpoint without TensorFlow: name → NumPy array.

TensorFlow ≤ 0.11 wrote, and TF 0.12 / 1.x write with `tf.train.Saver(write_version=V1)`, a
checkpoint as ONE file: a LevelDB-style sorted table (TensorFlow `core/lib/io/table*`, format of
`table_format.txt`) whose values are `SavedTensorSlices` protocol buffers
(`core/util/saved_tensor_slice.proto`). No small, maintained reader of this format exists outside
TensorFlow (LevelDB bindings open database folders, not one table file), so this module reads the
few structures it needs (about 100 lines; no code in the file is ever run):

- footer: the last 48 bytes = index BlockHandle (after the meta-index handle; each handle two
  varint64s: offset, size), zero padding, and the 8-byte little-endian magic 0xdb4775248b80fb57;
- block: entries ``varint32 shared, varint32 non_shared, varint32 value_len, key[shared:] bytes,
  value`` (the key shares its first `shared` bytes with the previous key), then the restart
  offsets (uint32 each) and their count (uint32); on disk each block is followed by a 1-byte
  compression type (0: none; 1: snappy, refused here) and a 4-byte masked CRC32C (not checked:
  a method pins the file's sha256 instead);
- the index block maps each data block's last key to its BlockHandle;
- values: the entry with the empty key holds the meta (`SavedTensorSlices.meta` (1) →
  `SavedTensorSliceMeta.tensor` (1) → `SavedSliceMeta {name (1), shape (2) TensorShapeProto
  {dim (2) {size (1)}}, type (3) DataType, slice (4)}`); every other entry holds one slice's
  data (`SavedTensorSlices.data` (2) → `SavedSlice {name (1), slice (2) TensorSliceProto
  {extent (1) {start (1), length (2)}}, data (3) TensorProto}`), the values in row-major order
  in `TensorProto.float_val` (5, packed or not) / `double_val` (6) / `int_val` (7) or as raw
  little-endian `tensor_content` (4). A slice extent without `length` spans the whole dimension.

Only float32, float64 and int32 tensors are read (what a network's weights are). Every problem is
one `UserError` line naming the file.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from foundation.errors import UserError

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
BLOCK_TRAILER_SIZE = 5
#: TensorFlow DataType enum → NumPy dtype (and the TensorProto field holding typed values)
DTYPES = {1: (np.float32, 5), 2: (np.float64, 6), 3: (np.int32, 7)}


class _Corrupt(ValueError):
    pass


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise _Corrupt("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise _Corrupt("varint too long")


def _fields(buf: bytes) -> list[tuple[int, int, object]]:
    """A protocol buffer message's (field number, wire type, value) in file order: varints as int,
    fixed64/fixed32 as bytes, length-delimited as bytes."""
    if not isinstance(buf, bytes):
        raise _Corrupt("a varint where a message was expected (not a tensor-slice checkpoint)")
    out, pos = [], 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, pos = buf[pos:pos + size], pos + size
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + size], pos + size
        else:
            raise _Corrupt(f"unsupported protobuf wire type {wire}")
        if pos > len(buf):
            raise _Corrupt("truncated protobuf field")
        out.append((number, wire, value))
    return out


def _field(fields, number: int, default=None):
    return next((value for n, _, value in fields if n == number), default)


def _block(data: bytes, offset: int, size: int) -> list[tuple[bytes, bytes]]:
    """The (key, value) entries of the block at `offset` (size without its 5-byte trailer)."""
    if offset + size + BLOCK_TRAILER_SIZE > len(data):
        raise _Corrupt("block beyond the end of the file")
    compression = data[offset + size]
    if compression != 0:
        raise _Corrupt(f"compressed block (type {compression}); only uncompressed tables are read")
    block = data[offset:offset + size]
    if len(block) < 4:
        raise _Corrupt("block too short")
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * n_restarts
    if end < 0:
        raise _Corrupt("bad restart count")
    entries, pos, key = [], 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        if shared > len(key) or pos + non_shared + value_len > end:
            raise _Corrupt("bad block entry")
        key = key[:shared] + block[pos:pos + non_shared]
        pos += non_shared
        entries.append((key, block[pos:pos + value_len]))
        pos += value_len
    return entries


def table_entries(data: bytes) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of a sorted-table file's data blocks, in file order."""
    if len(data) < FOOTER_SIZE or struct.unpack_from("<Q", data, len(data) - 8)[0] != TABLE_MAGIC:
        raise _Corrupt("no table magic at the end of the file")
    footer = data[len(data) - FOOTER_SIZE:]
    _, pos = _varint(footer, 0)  # meta-index handle: offset, size (unused)
    _, pos = _varint(footer, pos)
    index_offset, pos = _varint(footer, pos)
    index_size, _ = _varint(footer, pos)
    entries = []
    for _, handle in _block(data, index_offset, index_size):
        offset, pos = _varint(handle, 0)
        size, _ = _varint(handle, pos)
        entries.extend(_block(data, offset, size))
    return entries


def is_tf_v1_checkpoint(path: str | os.PathLike) -> bool:
    """True when `path` is a file that ends with the sorted table's magic number (cheap: 8 bytes)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() < FOOTER_SIZE:
                return False
            handle.seek(-8, os.SEEK_END)
            return struct.unpack("<Q", handle.read(8))[0] == TABLE_MAGIC
    except OSError:
        return False


def _shape(shape_proto: bytes) -> tuple[int, ...]:
    return tuple(_field(_fields(dim), 1, 0) for n, _, dim in _fields(shape_proto) if n == 2)


def _extents(slice_proto: bytes, shape: tuple[int, ...]) -> tuple[slice, ...]:
    extents = [_fields(e) for n, _, e in _fields(slice_proto) if n == 1]
    if not extents:
        return tuple(slice(0, size) for size in shape)
    if len(extents) != len(shape):
        raise _Corrupt("slice rank differs from the tensor's")
    out = []
    for extent, size in zip(extents, shape):
        start, length = _field(extent, 1, 0), _field(extent, 2)
        out.append(slice(start, size if length is None else start + length))
    return tuple(out)


def _values(tensor_proto: bytes, dtype, typed_field: int, count: int) -> np.ndarray:
    fields = _fields(tensor_proto)
    content = _field(fields, 4)
    if content:
        return np.frombuffer(content, dtype=np.dtype(dtype).newbyteorder("<"), count=count)
    code = {np.float32: "f", np.float64: "d"}.get(dtype)
    values: list = []
    for number, wire, value in fields:
        if number != typed_field:
            continue
        if wire == 2 and code:  # packed floats / doubles
            values.extend(struct.unpack(f"<{len(value) // struct.calcsize(code)}{code}", value))
        elif wire == 2:  # packed varints
            pos = 0
            while pos < len(value):
                item, pos = _varint(value, pos)
                values.append(item - (1 << 64) if item >= 1 << 63 else item)
        elif wire in (1, 5):
            values.append(struct.unpack(f"<{code}", value)[0])
        else:
            values.append(value - (1 << 64) if value >= 1 << 63 else value)
    if len(values) != count:
        raise _Corrupt(f"{len(values)} values for a slice of {count}")
    return np.asarray(values, dtype=dtype)


def read_tf_v1_checkpoint(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every tensor of the V1 checkpoint file `path`: {variable name: array} (C order, the shape
    and dtype the file declares; TF conv kernels stay HWIO). `UserError` (one line) for a file that
    is missing, not such a checkpoint (e.g. a V2 checkpoint's `.index`), damaged, compressed, or
    holding a tensor of another dtype or a tensor whose slices leave parts unset."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found; check the path")
    data = path.read_bytes()
    try:
        entries = table_entries(data)
        meta = next((value for key, value in entries if key == b""), None)
        if meta is None or not isinstance(_field(_fields(meta), 1), bytes):
            raise _Corrupt("no tensor-slice meta entry: a V2 checkpoint's .index, or another table")
        arrays, filled = {}, {}
        for n, _, item in _fields(_field(_fields(meta), 1, b"")):
            if n != 1:
                continue
            fields = _fields(item)
            name = _field(fields, 1, b"").decode("utf-8")
            dtype_code = _field(fields, 3, 0)
            if dtype_code not in DTYPES:
                raise _Corrupt(f"tensor {name}: dtype {dtype_code} is not float32, float64 or int32")
            arrays[name] = np.zeros(_shape(_field(fields, 2, b"")), dtype=DTYPES[dtype_code][0])
            filled[name] = np.zeros(arrays[name].shape, dtype=bool)
        for key, value in entries:
            if key == b"":
                continue
            saved = _field(_fields(value), 2)
            if saved is None:
                continue
            fields = _fields(saved)
            name = _field(fields, 1, b"").decode("utf-8")
            if name not in arrays:
                raise _Corrupt(f"data for {name}, which the meta does not list")
            target = arrays[name]
            region = _extents(_field(fields, 2, b""), target.shape)
            count = int(np.prod([s.stop - s.start for s in region], dtype=np.int64))
            dtype, typed = DTYPES[{v[0]: k for k, v in DTYPES.items()}[target.dtype.type]]
            values = _values(_field(fields, 3, b""), dtype, typed, count)
            target[region] = values.reshape(tuple(s.stop - s.start for s in region))
            filled[name][region] = True
        unset = [name for name, mask in filled.items() if not mask.all()]
        if unset:
            raise _Corrupt(f"no data for {', '.join(unset[:3])}")
    except (_Corrupt, struct.error, UnicodeDecodeError, ValueError) as err:
        raise UserError(f"{path}: not a readable TensorFlow V1 checkpoint ({err}); re-download it") from None
    return arrays
