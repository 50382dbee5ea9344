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
import contextlib
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


class _Storage:
    """A storage the pickle refers to (by key): its dtype and the element count it declares."""

    def __init__(self, key, storage_type, numel):
        self.key, self.dtype, self.is_bfloat16 = key, storage_type.dtype, storage_type.is_bfloat16
        self.numel = numel if isinstance(numel, int) and numel >= 0 else None


class TorchTensor:
    """A tensor to be: its storage, offset, size and stride, read from the file by `read()` only.

    `shape` is known from the pickle alone, so a config can be checked before any data is read."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)
        self.path, self._read_storage = (
            None,
            None,
        )  # set by `_attach`: the file, (storage, count) -> flat array
        if len(self.size) != len(self.stride) or not all(
            isinstance(n, int) and n >= 0 for n in (self.offset, *self.size, *self.stride)
        ):
            raise ConversionError(
                "a tensor in the pickle has a negative or inconsistent offset/size/stride: "
                "the file is corrupted"
            )

    @property
    def shape(self):
        return self.size

    def extent(self):
        """How many elements of its storage the tensor reaches (0 for an empty tensor)."""
        if 0 in self.size:
            return 0
        return self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride)) + 1

    def read(self):
        """The tensor as a numpy array (float32 for bfloat16), reading only the storage it reaches; any
        error is a ConversionError naming the file."""
        with _errors_named(self.path):
            return self._read()

    def _read(self):
        flat = self._read_storage(self.storage, self.extent())
        item = flat.dtype.itemsize
        if self.extent() > len(flat):
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
        if self.storage.is_bfloat16:
            array = (array.astype(np.uint32) << 16).view(np.float32)
        return array


def _rebuild_tensor_v2(
    storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None
):
    return TorchTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


_ALLOWED = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
}


class _RestrictedUnpickler(RestrictedUnpickler):
    allowed = {**_ALLOWED, **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES}}

    def __init__(self, file):
        super().__init__(file)
        self.storages = {}  # key -> _Storage

    def persistent_load(self, pid):
        # ('storage', storage type, key, location, numel)
        if (
            not isinstance(pid, tuple)
            or len(pid) < 5
            or pid[0] != "storage"
            or not isinstance(pid[1], _StorageType)
        ):
            raise ConversionError(f"unexpected persistent id {pid!r} in the pickle: not a torch state dict")
        if len(pid) > 5 and pid[5] is not None:
            raise ConversionError(
                "storage views in legacy torch files are not supported: "
                "re-save the state dict with a recent torch"
            )
        key = str(pid[2])
        if key not in self.storages:
            self.storages[key] = _Storage(key, pid[1], pid[4])
        return self.storages[key]


# Errors of a damaged or odd file, from the unpickler, numpy, struct and zipfile (NotImplementedError,
# RuntimeError, OSError: an unknown compression or version, an "encrypted" flag, a seek past the end;
# OSError also a missing file).
_READ_ERRORS = (
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
)
MAX_PICKLE_BYTES = 256 << 20  # data.pkl of a state dict: names and tensor records, not data


@contextlib.contextmanager
def _errors_named(path):
    """Any error reading `path` -> one ConversionError naming the file."""
    try:
        yield
    except ConversionError:
        raise
    except LoadError as e:
        raise ConversionError(f"{path}: {e}") from None
    except _READ_ERRORS as e:
        raise ConversionError(
            f"cannot read {path} as a torch state dict ({type(e).__name__}: {e}): "
            "the file is damaged or not a checkpoint"
        ) from e


def _state_dict_of(obj, path):
    state = materialise(obj, what=path)
    if not isinstance(state, dict) or not all(isinstance(v, TorchTensor) for v in state.values()):
        raise ConversionError(f"{path} does not hold a plain state dict of tensors")
    return state


def _storage_needs(tensors):
    """{storage key: elements its tensors reach}: what a storage must hold, and all that is read of it."""
    needs = {}
    for tensor in tensors.values():
        key = tensor.storage.key
        needs[key] = max(needs.get(key, 0), tensor.extent())
    return needs


def _check_declared_bytes(needs, storages, path, stored_bytes):
    """The tensors cannot reach more bytes than the file holds: a storage that inflates beyond the
    file (a compressed zip entry: torch writes storages uncompressed) is refused before it is read."""
    declared = sum(n * storages[key].dtype.itemsize for key, n in needs.items())
    if declared > stored_bytes:
        raise ConversionError(
            f"{path}: its tensors need {declared} bytes but the file stores {stored_bytes}: a compressed or "
            "corrupted checkpoint (torch writes storages uncompressed); re-save it with torch.save"
        )


def _zip_tensors(zf, path):
    names = zf.namelist()
    pkl = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
    if pkl is None:
        raise ConversionError(f"{path} is a zip without data.pkl: not a torch checkpoint")
    if zf.getinfo(pkl).file_size > MAX_PICKLE_BYTES:
        raise ConversionError(f"{path}: data.pkl is larger than {MAX_PICKLE_BYTES} bytes: not a state dict")
    root = pkl[: -len("data.pkl")]
    with zf.open(pkl) as f:
        unpickler = _RestrictedUnpickler(io.BytesIO(f.read(MAX_PICKLE_BYTES)))
    tensors = _state_dict_of(unpickler.load(), path)
    stored, needs = 0, _storage_needs(tensors)
    for key, need in needs.items():
        info = zf.getinfo(f"{root}data/{key}")
        if info.file_size < need * unpickler.storages[key].dtype.itemsize:
            raise ConversionError(
                f"{path}: a tensor in the pickle points past the end of its storage {key}: "
                "the file is corrupted"
            )
        stored += info.compress_size if info.compress_type == zipfile.ZIP_STORED else 0
    _check_declared_bytes(needs, unpickler.storages, path, stored)

    def read_storage(storage, count):
        with zf.open(f"{root}data/{storage.key}") as f:
            data = f.read(count * storage.dtype.itemsize)  # inflates no further than the tensors reach
        return np.frombuffer(data, dtype=storage.dtype)

    return _attach(tensors, path, read_storage)


def _legacy_tensors(path):
    with open(path, "rb") as fh:
        data = fh.read()
    f = io.BytesIO(data)  # in memory: a corrupted length field cannot make a read allocate more than the file
    # restricted too: the file is untrusted until its magic number is checked (a plain pickle that
    # calls os.system is not a torch file, but the default unpickler would run it)
    if _RestrictedUnpickler(f).load() != _LEGACY_MAGIC:
        raise ConversionError(f"{path} is not a torch checkpoint (bad magic number)")
    _RestrictedUnpickler(f).load()  # protocol version
    _RestrictedUnpickler(f).load()  # sys info: dict of ints/bools/strings
    unpickler = _RestrictedUnpickler(f)
    tensors = _state_dict_of(unpickler.load(), path)
    storages = {}
    for key in _RestrictedUnpickler(f).load():
        storage = unpickler.storages.get(str(key))
        if storage is None:
            raise ConversionError(f"{path}: storage {key} is not used by any tensor: the file is corrupted")
        (numel,) = struct.unpack("<q", f.read(8))
        start = f.tell()
        if not 0 <= numel <= (len(data) - start) // storage.dtype.itemsize:
            raise ConversionError(
                f"{path} is truncated or corrupted (a storage of {numel} elements does not fit in the file)"
            )
        storages[str(key)] = np.frombuffer(data, dtype=storage.dtype, count=numel, offset=start)
        f.seek(start + numel * storage.dtype.itemsize)
    for tensor in tensors.values():
        if tensor.storage.key not in storages:
            raise ConversionError(f"{path}: storage {tensor.storage.key} is missing: the file is truncated")
    return _attach(tensors, path, lambda storage, count: storages[storage.key])


def _attach(tensors, path, read_storage):
    """The tensors, each reading its storage from `path` through `read_storage(storage, count)`."""
    for tensor in tensors.values():
        tensor.path, tensor._read_storage = path, read_storage
    return tensors


@contextlib.contextmanager
def open_torch_state_dict(path):
    """{name: TorchTensor} of a torch-saved state dict, read lazily: each tensor's `shape` is known
    from the pickle alone and its data is read by `tensor.read()` (the file stays open inside the
    `with`). Storages are checked against the tensors that use them before anything is read, and a
    read inflates no more than those tensors reach. Raises ConversionError on anything else."""
    with contextlib.ExitStack() as stack:
        with _errors_named(path):
            if zipfile.is_zipfile(path):
                tensors = _zip_tensors(stack.enter_context(zipfile.ZipFile(path)), path)
            else:
                tensors = _legacy_tensors(path)
        yield tensors


def load_torch_state_dict(path):
    """{name: numpy array} from a torch-saved state dict. Raises ConversionError on anything else."""
    with open_torch_state_dict(path) as tensors:
        return {name: tensor.read() for name, tensor in tensors.items()}
