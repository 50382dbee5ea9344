"""Test helper: write a TF1 TensorBundle checkpoint (what tf.train.Saver writes) without TensorFlow,
so tests can make checkpoints of any architecture (e.g. a zoo model's real shapes) on the fly.
The committed fixtures under tests/fixtures/tf_tiny were written by TensorFlow itself."""

import struct

import crc32c
import numpy as np

_DTYPES = {np.dtype(np.float32): 1, np.dtype(np.int64): 9}
_MAGIC = 0xDB4775248B80FB57


def _varint(n):
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _field(number, payload):
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _masked_crc(data):
    crc = crc32c.crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _block(entries):
    body = b"".join(_varint(0) + _varint(len(k)) + _varint(len(v)) + k + v for k, v in entries)
    return body + struct.pack("<II", 0, 1)  # one restart point at offset 0


def write_checkpoint(prefix, variables):
    """variables: {name: numpy array (float32 or int64)} -> prefix.index + prefix.data-00000-of-00001."""
    data, entries = bytearray(), []
    for name in sorted(variables):
        array = np.ascontiguousarray(variables[name])
        raw = array.astype(array.dtype.newbyteorder("<")).tobytes()
        shape = b"".join(_field(2, _field(1, d)) for d in array.shape)
        proto = (
            _field(1, _DTYPES[array.dtype]) + _field(2, shape) + _field(4, len(data)) + _field(5, len(raw))
        )
        proto += _varint(6 << 3 | 5) + struct.pack("<I", _masked_crc(raw))
        entries.append((name.encode(), proto))
        data += raw
    header = (b"", _field(1, 1) + _field(3, _field(1, 1)))  # num_shards = 1, version.producer = 1
    table = bytearray()

    def add(block):
        handle = _varint(len(table)) + _varint(len(block))
        trailer = b"\x00"
        table.extend(block + trailer + struct.pack("<I", _masked_crc(block + trailer)))
        return handle

    data_handle = add(_block([header] + entries))
    meta_handle = add(_block([]))
    index_handle = add(_block([(entries[-1][0], data_handle)]))
    footer = (meta_handle + index_handle).ljust(40, b"\x00") + struct.pack("<Q", _MAGIC)
    with open(prefix + ".index", "wb") as f:
        f.write(bytes(table) + footer)
    with open(prefix + ".data-00000-of-00001", "wb") as f:
        f.write(bytes(data))
