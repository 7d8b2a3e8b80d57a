"""Write a TensorFlow V1 (tensor-slice) checkpoint from known arrays, in the layout documented in
`foundation.tf_checkpoint` (TensorFlow's `core/lib/io/table_format.txt` and
`core/util/saved_tensor_slice.proto`), for tests: no TensorFlow needed.

Written like TensorFlow's writer where it matters to a reader: the meta entry under the empty key
first, one data entry per slice (keys share prefixes: each entry stores only its new suffix, with
a restart point every `restart_interval` entries), several data blocks (`entries_per_block`) found
through an index block, uncompressed blocks each followed by type byte 0 and a 4-byte CRC (zeros
here: the reader does not check it), and the 48-byte footer with the table magic. Values go into
`TensorProto.float_val` packed (as the EnhanceNet release's file has them), or into
`tensor_content` when asked; a tensor may be split into slices along its first dimension.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from foundation.tf_checkpoint import TABLE_MAGIC

DT = {np.dtype(np.float32): 1, np.dtype(np.float64): 2, np.dtype(np.int32): 3}


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return varint(number << 3) + varint(payload)
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def shape_proto(shape) -> bytes:
    return b"".join(field(2, field(1, size)) for size in shape)


def slice_proto(region, full: bool) -> bytes:
    if full:
        return b"".join(field(1, b"") for _ in region)  # extents without start/length: the whole dimension
    return b"".join(field(1, (field(1, start) if start else b"") + field(2, stop - start)) for start, stop in region)


def tensor_proto(array: np.ndarray, raw: bool) -> bytes:
    array = np.ascontiguousarray(array)
    header = field(1, DT[array.dtype]) + field(2, shape_proto(array.shape))
    if raw:
        return header + field(4, array.astype(array.dtype.newbyteorder("<")).tobytes())
    if array.dtype == np.float32:
        return header + field(5, struct.pack(f"<{array.size}f", *array.ravel()))
    if array.dtype == np.float64:
        return header + field(6, struct.pack(f"<{array.size}d", *array.ravel()))
    return header + field(7, b"".join(varint(int(v) & (2 ** 64 - 1)) for v in array.ravel()))


def block(entries: list[tuple[bytes, bytes]], restart_interval: int) -> bytes:
    out, restarts, previous = bytearray(), [], b""
    for i, (key, value) in enumerate(entries):
        shared = 0
        if i % restart_interval == 0:
            restarts.append(len(out))
        else:
            while shared < min(len(key), len(previous)) and key[shared] == previous[shared]:
                shared += 1
        out += varint(shared) + varint(len(key) - shared) + varint(len(value)) + key[shared:] + value
        previous = key
    restarts = restarts or [0]
    out += b"".join(struct.pack("<I", r) for r in restarts) + struct.pack("<I", len(restarts))
    return bytes(out)


def write_checkpoint(path: str | Path, arrays: dict[str, np.ndarray], *, split: dict[str, int] | None = None,
                     raw: tuple[str, ...] = (), entries_per_block: int = 3, restart_interval: int = 2,
                     compression: int = 0) -> Path:
    """Write `arrays` ({name: array}) as a V1 checkpoint at `path`. `split`: {name: n} stores that
    tensor as n slices along dimension 0; `raw`: names stored as `tensor_content` bytes;
    `compression`: the type byte after each block (1 = snappy, to test the refusal)."""
    split = split or {}
    meta = b""
    data_entries = []
    for name in sorted(arrays):
        array = np.asarray(arrays[name])
        pieces = split.get(name, 1)
        whole = pieces == 1
        bounds = np.linspace(0, array.shape[0], pieces + 1).astype(int) if not whole else [0, array.shape[0]]
        regions = []
        for start, stop in zip(bounds[:-1], bounds[1:]):
            region = [(int(start), int(stop))] + [(0, size) for size in array.shape[1:]]
            regions.append(region)
        meta += field(1, field(1, name.encode()) + field(2, shape_proto(array.shape)) + field(3, DT[array.dtype])
                      + b"".join(field(4, slice_proto(r, whole)) for r in regions))
        for region in regions:
            part = array[tuple(slice(a, b) for a, b in region)]
            saved = field(1, name.encode()) + field(2, slice_proto(region, whole)) + field(3, tensor_proto(part, name in raw))
            key = b"\x00" + name.encode() + b"\x00" + struct.pack(">I", region[0][0])
            data_entries.append((key, field(2, saved)))
    entries = [(b"", field(1, meta))] + data_entries
    out, index = bytearray(), []
    for i in range(0, len(entries), entries_per_block):
        chunk = entries[i:i + entries_per_block]
        body = block(chunk, restart_interval)
        index.append((chunk[-1][0], varint(len(out)) + varint(len(body))))
        out += body + bytes([compression]) + b"\0\0\0\0"
    meta_index = block([], restart_interval)
    meta_handle = varint(len(out)) + varint(len(meta_index))
    out += meta_index + b"\0" * 5
    index_block = block(index, 1)
    index_handle = varint(len(out)) + varint(len(index_block))
    out += index_block + b"\0" * 5
    handles = meta_handle + index_handle
    out += handles + b"\0" * (40 - len(handles)) + struct.pack("<Q", TABLE_MAGIC)
    path = Path(path)
    path.write_bytes(bytes(out))
    return path
