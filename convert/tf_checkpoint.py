"""Read a TensorFlow (TF1 `tf.train.Saver`) checkpoint without TensorFlow.

A checkpoint prefix P is a TensorBundle: `P.index` is a LevelDB-format table (sorted string keys ->
values) mapping each variable name to a `BundleEntryProto` (dtype, shape, shard id, byte offset,
size, masked crc32c) and the empty key to a `BundleHeaderProto` (number of shards); the tensors'
raw little-endian bytes sit in `P.data-SSSSS-of-NNNNN`. The table and the two protobuf messages
are small enough to decode by hand, which keeps TensorFlow out of the dependencies.
"""

import math
import os
import struct

import crc32c
import numpy as np

from .common import ConversionError

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48
_BLOCK_TRAILER_SIZE = 5  # 1 byte compression type + 4 bytes crc

# tensorflow/core/framework/types.proto DataType -> numpy dtype
_DTYPES = {
    1: np.float32,
    2: np.float64,
    3: np.int32,
    4: np.uint8,
    5: np.int16,
    6: np.int8,
    9: np.int64,
    10: np.bool_,
    17: np.uint16,
    19: np.float16,
    22: np.uint32,
    23: np.uint64,
}
_DT_STRING, _DT_BFLOAT16 = 7, 14


def _varint(buf, pos):
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _proto_fields(buf):
    """Decode a protobuf message into {field number: [values]} (varints, fixed32/64, bytes)."""
    fields, pos = {}, 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = bytes(buf[pos : pos + length]), pos + length
        elif wire == 5:
            value, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def _block_entries(block):
    """Yield (key, value) from one table block (prefix-compressed keys, restart array at the end)."""
    num_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * num_restarts
    pos, key = 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        value_length, pos = _varint(block, pos)
        key = key[:shared] + bytes(block[pos : pos + non_shared])
        pos += non_shared
        yield key, bytes(block[pos : pos + value_length])
        pos += value_length


def _mask_crc(crc):
    """TensorFlow stores crc32c values 'masked' (rotated and offset), as LevelDB does."""
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


class TensorEntry:
    """Where one variable lives in the data shards."""

    __slots__ = ("name", "dtype_enum", "shape", "shard", "offset", "size", "crc")

    def __init__(self, name, proto):
        fields = _proto_fields(proto)
        self.name = name
        self.dtype_enum = fields.get(1, [0])[0]
        dims = _proto_fields(fields[2][0]).get(2, []) if 2 in fields else []
        self.shape = tuple(_proto_fields(d).get(1, [0])[0] for d in dims)
        self.shard = fields.get(3, [0])[0]
        self.offset = fields.get(4, [0])[0]
        self.size = fields.get(5, [0])[0]
        self.crc = fields.get(6, [None])[0]
        if 7 in fields:
            raise ConversionError(
                f"variable {name} is stored in slices (partitioned), which is not supported"
            )

    @property
    def dtype(self):
        return _DTYPES.get(self.dtype_enum)


class TFCheckpoint:
    """A TF checkpoint opened by prefix: `.entries` maps variable name -> TensorEntry; `.read(name)`."""

    def __init__(self, prefix):
        self.prefix = prefix
        index_path = prefix + ".index"
        if not os.path.isfile(index_path):
            raise ConversionError(
                f"no TF checkpoint index at {index_path}: pass the checkpoint directory or prefix"
            )
        try:
            with open(index_path, "rb") as f:
                table = f.read()
            header, self.entries = self._parse_index(table)
        except (struct.error, IndexError, ValueError, KeyError) as e:
            raise ConversionError(
                f"{index_path} is not a readable TF checkpoint index ({e}): re-extract it"
            ) from e
        self.num_shards = _proto_fields(header).get(1, [1])[0] if header is not None else 1
        self._check_shards()

    @staticmethod
    def _parse_index(table):
        if len(table) < _FOOTER_SIZE or struct.unpack_from("<Q", table, len(table) - 8)[0] != _TABLE_MAGIC:
            raise ValueError("bad table magic number")
        footer = table[len(table) - _FOOTER_SIZE :]
        _, pos = _varint(footer, 0)  # metaindex block offset (unused)
        _, pos = _varint(footer, pos)
        index_offset, pos = _varint(footer, pos)
        index_size, pos = _varint(footer, pos)

        def block(offset, size):
            if table[offset + size] != 0:
                raise ValueError("compressed table blocks are not supported")
            return memoryview(table)[offset : offset + size]

        header, entries = None, {}
        for _, handle in _block_entries(block(index_offset, index_size)):
            offset, pos = _varint(handle, 0)
            size, _ = _varint(handle, pos)
            for key, value in _block_entries(block(offset, size)):
                if key == b"":
                    header = value
                else:
                    name = key.decode("utf-8")
                    entries[name] = TensorEntry(name, value)
        return header, entries

    def shard_path(self, shard):
        return f"{self.prefix}.data-{shard:05d}-of-{self.num_shards:05d}"

    def _check_shards(self):
        sizes = {}
        for entry in self.entries.values():
            path = self.shard_path(entry.shard)
            if path not in sizes:
                if not os.path.isfile(path):
                    raise ConversionError(
                        f"checkpoint data file {path} is missing: copy every .data-* shard beside the .index"
                    )
                sizes[path] = os.path.getsize(path)
            if (
                entry.dtype is not None
                and entry.size != math.prod(entry.shape) * np.dtype(entry.dtype).itemsize
            ):
                raise ConversionError(
                    f"variable {entry.name} in {self.prefix}.index has {entry.size} bytes for shape "
                    f"{entry.shape}: the index is corrupted, re-download or re-extract the checkpoint"
                )
            if entry.offset + entry.size > sizes[path]:
                raise ConversionError(
                    f"checkpoint data file {path} is truncated "
                    f"({sizes[path]} bytes, variable {entry.name} needs "
                    f"{entry.offset + entry.size}): re-download or re-extract the checkpoint"
                )

    def read(self, name):
        """The variable's value as a numpy array, after checking its crc32c."""
        entry = self.entries[name]
        if entry.dtype is None:
            raise ConversionError(
                f"variable {name} has TF dtype {entry.dtype_enum}, which this reader does not support"
            )
        with open(self.shard_path(entry.shard), "rb") as f:
            f.seek(entry.offset)
            data = f.read(entry.size)
        if entry.crc is not None and _mask_crc(crc32c.crc32c(data)) != entry.crc:
            raise ConversionError(
                f"variable {name} fails its checksum in {self.shard_path(entry.shard)}: "
                "the file is corrupted, re-download it"
            )
        return np.frombuffer(data, dtype=np.dtype(entry.dtype).newbyteorder("<")).reshape(entry.shape).copy()


def resolve_prefix(path):
    """A release directory (with `checkpoint` or one `*.index`), a prefix, or a `.index`/`.data-*`
    file -> prefix."""
    if os.path.isdir(path):
        state = os.path.join(path, "checkpoint")
        if os.path.isfile(state):
            with open(state, encoding="utf-8") as f:
                for line in f:
                    if line.startswith("model_checkpoint_path:"):
                        name = line.split(":", 1)[1].strip().strip('"')
                        prefix = name if os.path.isabs(name) else os.path.join(path, os.path.basename(name))
                        if os.path.isfile(prefix + ".index"):
                            return prefix
        indexes = sorted(f[: -len(".index")] for f in os.listdir(path) if f.endswith(".index"))
        if len(indexes) == 1:
            return os.path.join(path, indexes[0])
        if not indexes:
            raise ConversionError(
                f"no TF checkpoint (*.index) in {path}: pass the directory of an unzipped release"
            )
        raise ConversionError(
            f"several checkpoints in {path} ({', '.join(indexes)}): "
            f"pass one prefix, e.g. {path}/{indexes[-1]}"
        )
    for suffix in (".index", ".meta"):
        if path.endswith(suffix):
            return path[: -len(suffix)]
    if ".data-" in os.path.basename(path):
        return path[: path.rindex(".data-")]
    return path
