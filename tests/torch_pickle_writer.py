"""Write a state dict of float32 numpy arrays as `torch.save` does, without torch (test helper).

Both layouts of tests/fixtures/torch_formats/ (which real torch wrote): the zip format
(torch >= 1.6: `archive/data.pkl` + `archive/data/<key>`) and the legacy format (magic number,
protocol, sys info, the main pickle, the storage keys, then each storage as int64 numel + bytes).
The main pickle is `OrderedDict(name -> torch._utils._rebuild_tensor_v2(storage, 0, shape, stride,
False, OrderedDict()))` with storages as persistent ids ('storage', torch.FloatStorage, key, 'cpu',
numel), written opcode by opcode because the globals name torch, which is not installed.
"""

import pickle
import struct
import zipfile

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def _global(module, name):
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def _string(text):
    data = text.encode()
    return pickle.BINUNICODE + struct.pack("<I", len(data)) + data


def _int(n):
    return pickle.BININT + struct.pack("<i", n)


def _tuple(items):
    return pickle.MARK + b"".join(items) + pickle.TUPLE


def _ordered_dict(items):
    return (
        _global("collections", "OrderedDict")
        + pickle.EMPTY_TUPLE
        + pickle.REDUCE
        + (pickle.MARK + b"".join(items) + pickle.SETITEMS if items else b"")
    )


def _main_pickle(arrays):
    """arrays: {name: float32 array}; storage key i for the i-th array."""
    items = []
    for key, (name, array) in enumerate(arrays.items()):
        storage = _tuple(
            [
                _string("storage"),
                _global("torch", "FloatStorage"),
                _string(str(key)),
                _string("cpu"),
                _int(array.size),
            ]
        )
        stride = [int(np.prod(array.shape[i + 1 :])) for i in range(array.ndim)]
        args = _tuple(
            [
                storage + pickle.BINPERSID,
                _int(0),
                _tuple([_int(n) for n in array.shape]),
                _tuple([_int(s) for s in stride]),
                pickle.NEWFALSE,
                _ordered_dict([]),
            ]
        )
        items.append(_string(name) + _global("torch._utils", "_rebuild_tensor_v2") + args + pickle.REDUCE)
    return pickle.PROTO + bytes([2]) + _ordered_dict(items) + pickle.STOP


def save_state_dict(arrays, path, legacy=False):
    arrays = {k: np.asarray(v, dtype=np.float32, order="C") for k, v in arrays.items()}
    main = _main_pickle(arrays)
    if not legacy:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr("archive/data.pkl", main)
            zf.writestr("archive/byteorder", "little")
            for key, array in enumerate(arrays.values()):
                zf.writestr(f"archive/data/{key}", array.tobytes())
            zf.writestr("archive/version", "3\n")
        return
    with open(path, "wb") as f:
        f.write(pickle.dumps(LEGACY_MAGIC, protocol=2))
        f.write(pickle.dumps(1001, protocol=2))
        f.write(
            pickle.dumps(
                {
                    "protocol_version": 1001,
                    "little_endian": True,
                    "type_sizes": {"short": 2, "int": 4, "long": 4},
                },
                protocol=2,
            )
        )
        f.write(main)
        f.write(pickle.dumps([str(k) for k in range(len(arrays))], protocol=2))
        for array in arrays.values():
            f.write(struct.pack("<q", array.size) + array.tobytes())
