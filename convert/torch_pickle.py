"""Read a PyTorch `pytorch_model.bin` state dict as numpy arrays, without torch and without running
pickled code.

`torch.save` writes a pickle that rebuilds tensors by calling `torch._utils._rebuild_tensor_v2` on
"persistent" storage references. This reader gives paddle_electra.models.weights' restricted, bounded
unpickler an allow-list: those few constructors, mapped to numpy equivalents, and
`collections.OrderedDict`. Any other global (the way a malicious pickle runs code) is refused with
an error. Both the zip format (torch >= 1.6) and the legacy format (magic number, pickled storages
after the main pickle) are read.
"""

import collections
import io
import math
import pickle
import struct
import zipfile

import numpy as np

from paddle_electra.models.weights import LoadError, RestrictedUnpickler, materialise

from .common import ConversionError

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "BFloat16Storage": np.uint16,  # raw bits; widened to float32 in _as_float32
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _StorageType:
    def __init__(self, name):
        self.dtype = np.dtype(_STORAGE_DTYPES[name])
        self.is_bfloat16 = name == "BFloat16Storage"


class _Tensor:
    """A tensor to be: storage array + offset/size/stride, materialised by `to_numpy`."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def to_numpy(self):
        flat, is_bf16 = self.storage()
        item = flat.dtype.itemsize
        if len(self.size) != len(self.stride) or min((self.offset, *self.size, *self.stride)) < 0:
            raise ConversionError(
                "a tensor in the pickle has a negative or inconsistent offset/size/stride: "
                "the file is corrupted"
            )
        if 0 not in self.size and self.offset + sum(
            (n - 1) * s for n, s in zip(self.size, self.stride)
        ) >= len(flat):
            raise ConversionError(
                "a tensor in the pickle points past the end of its storage: the file is corrupted"
            )
        numel = math.prod(self.size)
        # only stride-0 (expanded) views can grow past their storage
        if numel > len(flat) and numel * item > 2**30:
            raise ConversionError(
                f"a tensor in the pickle expands a storage of {len(flat)} elements to {numel}: "
                "the file is corrupted"
            )
        array = np.lib.stride_tricks.as_strided(
            flat[self.offset :], shape=self.size, strides=[s * item for s in self.stride]
        ).copy()
        if is_bf16:
            array = (array.astype(np.uint32) << 16).view(np.float32)
        return array


def _rebuild_tensor_v2(
    storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None
):
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


_ALLOWED = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
}


class _RestrictedUnpickler(RestrictedUnpickler):
    allowed = {**_ALLOWED, **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES}}

    def __init__(self, file, load_storage):
        super().__init__(file)
        self._load_storage = load_storage
        self.storage_dtypes = {}  # key -> numpy dtype, for the legacy format's trailing storages

    def persistent_load(self, pid):
        # ('storage', storage type, key, location, numel)
        if (
            not isinstance(pid, tuple)
            or len(pid) < 5
            or pid[0] != "storage"
            or not isinstance(pid[1], _StorageType)
        ):
            raise ConversionError(f"unexpected persistent id {pid!r} in the pickle: not a torch state dict")
        storage_type, key = pid[1], str(pid[2])
        if len(pid) > 5 and pid[5] is not None:
            raise ConversionError(
                "storage views in legacy torch files are not supported: "
                "re-save the state dict with a recent torch"
            )
        self.storage_dtypes[key] = storage_type.dtype
        return lambda: (self._load_storage(key, storage_type.dtype), storage_type.is_bfloat16)


def _materialise(obj):
    return materialise(obj, lambda x: x.to_numpy() if isinstance(x, _Tensor) else x)


def _load_zip(path):
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkl = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if pkl is None:
            raise ConversionError(f"{path} is a zip without data.pkl: not a torch checkpoint")
        root = pkl[: -len("data.pkl")]

        def load_storage(key, dtype):
            return np.frombuffer(zf.read(f"{root}data/{key}"), dtype=dtype)

        obj = _RestrictedUnpickler(io.BytesIO(zf.read(pkl)), load_storage).load()
        return _materialise(obj)


def _load_legacy(path):
    with open(path, "rb") as fh:
        data = fh.read()
    f = io.BytesIO(data)  # in memory: a corrupted length field cannot make a read allocate more than the file
    # restricted too: the file is untrusted until its magic number is checked (a plain pickle that
    # calls os.system is not a torch file, but the default unpickler would run it)
    if _RestrictedUnpickler(f, None).load() != _LEGACY_MAGIC:
        raise ConversionError(f"{path} is not a torch checkpoint (bad magic number)")
    _RestrictedUnpickler(f, None).load()  # protocol version
    _RestrictedUnpickler(f, None).load()  # sys info: dict of ints/bools/strings
    storages = {}
    unpickler = _RestrictedUnpickler(f, lambda key, dtype: storages[key])
    obj = unpickler.load()
    for key in _RestrictedUnpickler(f, None).load():
        dtype = unpickler.storage_dtypes[str(key)]
        (numel,) = struct.unpack("<q", f.read(8))
        start = f.tell()
        if not 0 <= numel <= (len(data) - start) // dtype.itemsize:
            raise ConversionError(
                f"{path} is truncated or corrupted (a storage of {numel} elements does not fit in the file)"
            )
        storages[str(key)] = np.frombuffer(data, dtype=dtype, count=numel, offset=start)
        f.seek(start + numel * dtype.itemsize)
    return _materialise(obj)


def load_torch_state_dict(path):
    """{name: numpy array} from a torch-saved state dict. Raises ConversionError on anything else."""
    try:
        if zipfile.is_zipfile(path):
            state = _load_zip(path)
        else:
            state = _load_legacy(path)
    except ConversionError:
        raise
    except LoadError as e:
        raise ConversionError(f"{path}: {e}") from None
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        OverflowError,
        MemoryError,
        struct.error,
        zipfile.BadZipFile,
        NotImplementedError,
        RuntimeError,
        OSError,
    ) as e:
        # NotImplementedError/RuntimeError/OSError: zipfile on a damaged or odd archive (unknown
        # compression or version, "encrypted" flag, seek past the end); OSError also a missing file
        raise ConversionError(
            f"cannot read {path} as a torch state dict ({type(e).__name__}: {e}): "
            "the file is damaged or not a checkpoint"
        ) from e
    if not isinstance(state, dict) or not all(isinstance(v, np.ndarray) for v in state.values()):
        raise ConversionError(f"{path} does not hold a plain state dict of tensors")
    return state
