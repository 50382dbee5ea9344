"""convert/torch_pickle.py: torch-free reading of torch.save files, and refusal of anything but tensors.

Fixtures (tests/fixtures/torch_formats/, written by scripts/make_torch_fixtures.py with real torch):
the same tiny state dict as zip.bin (default torch.save) and legacy.bin
(_use_new_zipfile_serialization=False), and expected.npz with the arrays torch itself holds.
"""

import builtins
import collections
import io
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest
from conftest import Payload

from paddle_electra_convert import ConversionError
from paddle_electra_convert.torch_pickle import load_torch_state_dict

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "torch_formats")
FORMATS = ["zip.bin", "legacy.bin"]
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


@pytest.fixture(scope="module")
def expected():
    with np.load(os.path.join(FIXTURES, "expected.npz")) as npz:
        return {k: npz[k] for k in npz.files}


@pytest.mark.parametrize("name", FORMATS)
def test_reads_exactly_what_torch_saved(name, expected):
    state = load_torch_state_dict(os.path.join(FIXTURES, name))
    assert list(state) == list(expected)  # same keys, same order
    for key, want in expected.items():
        got = state[key]
        assert isinstance(got, np.ndarray), key
        assert got.dtype == want.dtype, (key, got.dtype, want.dtype)
        assert got.shape == want.shape, (key, got.shape, want.shape)
        np.testing.assert_array_equal(got, want, err_msg=key)


@pytest.mark.parametrize("name", FORMATS)
def test_layouts_the_fixture_covers(name):
    """Guard the fixture itself: the awkward layouts are really there and come back right."""
    state = load_torch_state_dict(os.path.join(FIXTURES, name))
    np.testing.assert_array_equal(
        state["encoder.big_rows_2_5"], state["encoder.big"][2:5]
    )  # shared storage, offset 6
    assert state["encoder.layer.0.attention.self.query.weight_t"].shape == (4, 3)  # saved as q.t()
    np.testing.assert_array_equal(state["encoder.token_type_ids"], [[0, 1, 1], [0, 1, 1]])  # stride 0
    np.testing.assert_array_equal(state["embeddings.position_ids"], np.arange(8)[None])
    assert state["encoder.num_batches_tracked"].shape == () and state["encoder.num_batches_tracked"] == 7
    assert state["encoder.half"].dtype == np.float16
    assert state["encoder.bf16"].dtype == np.float32  # bfloat16 widened exactly
    for array in state.values():  # materialised copies, not views into file buffers
        assert array.flags.c_contiguous and array.flags.writeable


# --- malicious pickles -------------------------------------------------------------------------


def _payloads(marker):
    return {
        "os.system": (Payload(os.system, (f"echo pwned > {marker}",)), f"{os.system.__module__}.system"),
        "builtins.exec": (
            Payload(builtins.exec, (f"open({str(marker)!r}, 'w').write('pwned')",)),
            r"(builtins|__builtin__)\.exec",
        ),  # protocol 2 writes __builtin__
    }


def _torch_like_zip(path, data_pkl):
    """torch's zip layout: <root>/data.pkl, <root>/version, <root>/data/<key>."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("evil/data.pkl", data_pkl)
        zf.writestr("evil/byteorder", "little")
        zf.writestr("evil/data/0", b"\0" * 16)
        zf.writestr("evil/version", "3\n")


def _legacy_layout(path, main_pickle):
    """torch's legacy layout: magic, protocol version, sys info, main pickle, storage keys."""
    with open(path, "wb") as f:
        f.write(pickle.dumps(LEGACY_MAGIC, protocol=2))
        f.write(pickle.dumps(1001, protocol=2))
        f.write(
            pickle.dumps(
                {"protocol_version": 1001, "little_endian": True, "type_sizes": {"int": 4}}, protocol=2
            )
        )
        f.write(main_pickle)
        f.write(pickle.dumps([], protocol=2))


def _write_plain(path, data):
    with open(path, "wb") as f:
        f.write(data)


LAYOUTS = {
    "zip": _torch_like_zip,
    "legacy": _legacy_layout,
    "plain-pickle": _write_plain,  # a bare pickle: its first object is the payload
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("payload", ["os.system", "builtins.exec"])
@pytest.mark.parametrize("nested", [False, True], ids=["top", "in-dict"])
def test_refuses_code_and_runs_nothing(tmp_path, layout, payload, nested):
    marker = tmp_path / "pwned.txt"
    obj, refused_name = _payloads(marker)[payload]
    data = pickle.dumps({"encoder.weight": obj} if nested else obj, protocol=2)
    path = tmp_path / "pytorch_model.bin"
    LAYOUTS[layout](path, data)
    with pytest.raises(ConversionError, match=f"refusing to unpickle {refused_name}"):
        load_torch_state_dict(str(path))
    assert not marker.exists(), "the payload ran"


def test_payload_really_runs_when_unpickled_normally(tmp_path):
    """Sanity check of the test itself: the payload is live (so the refusal above means something)."""
    marker = tmp_path / "pwned.txt"
    obj, _ = _payloads(marker)["builtins.exec"]
    pickle.loads(pickle.dumps(obj, protocol=2))
    assert marker.exists()


@pytest.mark.parametrize("position", ["magic", "protocol", "sys_info"])
def test_legacy_header_pickles_are_restricted_too(tmp_path, position):
    """The legacy format's three header pickles come before the main pickle; a payload there must not
    run either."""
    marker = tmp_path / "pwned.txt"
    obj, refused_name = _payloads(marker)["os.system"]
    header = [LEGACY_MAGIC, 1001, {"little_endian": True}]
    header[["magic", "protocol", "sys_info"].index(position)] = obj
    path = tmp_path / "pytorch_model.bin"
    with open(path, "wb") as f:
        for item in header:
            f.write(pickle.dumps(item, protocol=2))
        f.write(pickle.dumps({}, protocol=2))
        f.write(pickle.dumps([], protocol=2))
    with pytest.raises(ConversionError, match=f"refusing to unpickle {refused_name}"):
        load_torch_state_dict(str(path))
    assert not marker.exists(), "the payload ran"


# --- damaged files -----------------------------------------------------------------------------


def _cuts(size):
    return sorted(
        {
            1,
            2,
            10,
            50,
            100,
            size // 4,
            size // 3,
            size // 2,
            2 * size // 3,
            3 * size // 4,
            size - 50,
            size - 8,
            size - 1,
        }
    )


@pytest.mark.parametrize("name", FORMATS)
def test_truncated_file_raises_conversion_error(tmp_path, name):
    data = open(os.path.join(FIXTURES, name), "rb").read()
    for cut in _cuts(len(data)):
        path = tmp_path / f"cut{cut}.bin"
        path.write_bytes(data[:cut])
        with pytest.raises(ConversionError):
            load_torch_state_dict(str(path))


def test_legacy_with_truncated_storages_raises(tmp_path, expected):
    """Cut inside the raw storages after the pickles: shapes in the pickle point past the data."""
    data = open(os.path.join(FIXTURES, "legacy.bin"), "rb").read()

    class _SkipStorages(pickle.Unpickler):
        def persistent_load(self, pid):
            return None

        def find_class(self, module, name):
            return collections.OrderedDict if name == "OrderedDict" else (lambda *args, **kwargs: None)

    f = io.BytesIO(data)
    for _ in range(5):  # magic, protocol, sys info, main pickle, storage keys
        _SkipStorages(f).load()
    start = f.tell()
    for cut in range(start, len(data), 7):
        path = tmp_path / "cut.bin"
        path.write_bytes(data[:cut])
        with pytest.raises(ConversionError):
            load_torch_state_dict(str(path))


@pytest.mark.parametrize("seed", range(20))
def test_garbage_raises_conversion_error(tmp_path, seed):
    rng = np.random.default_rng(seed)
    path = tmp_path / "garbage.bin"
    data = rng.integers(0, 256, size=int(rng.integers(1, 4096)), dtype=np.uint8).tobytes()
    if seed % 2:  # start like a pickle so the unpickler gets further than the first byte
        data = b"\x80\x02" + data
    path.write_bytes(data)
    with pytest.raises(ConversionError):
        load_torch_state_dict(str(path))


@pytest.mark.parametrize("content", [b"", b"not a checkpoint\n", b"PK\x03\x04 truncated zip"])
def test_empty_and_text_files_raise(tmp_path, content):
    path = tmp_path / "x.bin"
    path.write_bytes(content)
    with pytest.raises(ConversionError):
        load_torch_state_dict(str(path))


def test_zip_without_data_pkl_raises(tmp_path):
    path = tmp_path / "x.bin"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/version", "3\n")
    with pytest.raises(ConversionError, match="without data.pkl"):
        load_torch_state_dict(str(path))


def test_tensor_pointing_past_its_storage_raises(tmp_path):
    """A well-formed zip whose tensor claims more elements than its storage holds (no out-of-bounds read)."""
    data_pkl = _tensor_pickle(offset=0, size=(4, 4), stride=(4, 1))
    path = tmp_path / "x.bin"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", data_pkl)
        zf.writestr("archive/data/0", np.zeros(4, np.float32).tobytes())
    with pytest.raises(ConversionError, match="past the end of its storage"):
        load_torch_state_dict(str(path))


@pytest.mark.parametrize(
    "offset,size,stride",
    [(4, (), ()), (-2, (2,), (1,)), (3, (2,), (-1,)), (0, (2, 2), (1, -1))],
    ids=["0d-past-end", "negative-offset", "negative-stride", "negative-stride-2d"],
)
def test_out_of_bounds_views_raise(tmp_path, offset, size, stride):
    data_pkl = _tensor_pickle(offset=offset, size=size, stride=stride)
    path = tmp_path / "x.bin"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", data_pkl)
        zf.writestr("archive/data/0", np.arange(4, dtype=np.float32).tobytes())
    with pytest.raises(ConversionError):
        load_torch_state_dict(str(path))


def _tensor_pickle(offset, size, stride):
    """A data.pkl like torch writes for {"w": tensor}, with hand-picked offset/size/stride, built
    without torch, from pickle opcodes."""

    out = io.BytesIO()
    out.write(b"\x80\x02}q\x00X\x01\x00\x00\x00w")
    out.write(b"ctorch._utils\n_rebuild_tensor_v2\n(")
    # persistent id tuple ('storage', torch.FloatStorage, '0', 'cpu', 4)
    out.write(b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQ")
    out.write(_pickle_int(offset))
    out.write(b"(" + b"".join(_pickle_int(n) for n in size) + b"t")
    out.write(b"(" + b"".join(_pickle_int(s) for s in stride) + b"t")
    out.write(b"\x89ccollections\nOrderedDict\n)RtRs.")  # requires_grad=False, hooks=OrderedDict()
    return out.getvalue()


def _pickle_int(n):
    return b"J" + struct.pack("<i", n)


# --- corrupted sizes must fail fast, not allocate gigabytes ------------------------------------
# Each case runs in a child process under a 2 GiB address-space limit, so a regression shows up as
# a MemoryError (which the reader would wrap) instead of the OOM killer taking the test run down.

_CHILD = r"""
import json, resource, sys, types
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
# the packages without their __init__ (paddle)
for name, path in (("_tp_pkg", sys.argv[1]), ("paddle_electra", sys.argv[3])):
    pkg = types.ModuleType(name)
    pkg.__path__ = [path]
    sys.modules[name] = pkg
from _tp_pkg.common import ConversionError
from _tp_pkg.torch_pickle import load_torch_state_dict
try:
    print(json.dumps({"loaded": sorted(load_torch_state_dict(sys.argv[2]))}))
except ConversionError as e:
    print(json.dumps({"error": str(e), "cause": type(e.__cause__).__name__ if e.__cause__ else None}))
"""


def _load_in_small_process(path):
    import json
    import subprocess
    import sys

    import paddle_electra.models.weights
    import paddle_electra_convert.torch_pickle as module

    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD,
            os.path.dirname(module.__file__),
            str(path),
            os.path.dirname(paddle_electra.models.weights.__file__),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _zip_with_pickle(path, data_pkl, storage=b""):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", data_pkl)
        zf.writestr("archive/data/0", storage)


def test_huge_memo_index_does_not_allocate(tmp_path):
    """LONG_BINPUT 2**31-1: the C unpickler would size (and zero) a 16 GiB memo array."""
    path = tmp_path / "x.bin"
    _zip_with_pickle(path, b"\x80\x02}r\xff\xff\xff\x7f.")  # {} memoised at index 2**31-1
    assert _load_in_small_process(path) == {"loaded": []}


def test_huge_bytearray_is_refused(tmp_path):
    """BYTEARRAY8 claiming 8 GiB (protocol 5; torch never writes it) would be allocated and zeroed first."""
    path = tmp_path / "x.bin"
    _zip_with_pickle(path, b"\x80\x05\x96" + struct.pack("<Q", 8 << 30) + b".")
    result = _load_in_small_process(path)
    assert "error" in result and result["cause"] != "MemoryError", result


def test_legacy_huge_storage_length_is_refused(tmp_path):
    data = bytearray(open(os.path.join(FIXTURES, "legacy.bin"), "rb").read())

    class _Skip(pickle.Unpickler):
        def persistent_load(self, pid):
            return None

        def find_class(self, module, name):
            return collections.OrderedDict if name == "OrderedDict" else (lambda *args, **kwargs: None)

    f = io.BytesIO(bytes(data))
    for _ in range(5):
        _Skip(f).load()
    data[f.tell() : f.tell() + 8] = struct.pack("<q", 1 << 40)  # first storage claims 2**40 elements
    path = tmp_path / "x.bin"
    path.write_bytes(bytes(data))
    result = _load_in_small_process(path)
    assert "does not fit in the file" in result.get("error", ""), result


def test_expanded_view_cannot_blow_up(tmp_path):
    """Stride-0 dimensions pass the bounds check at any size; a 2**40-element expansion must be refused."""
    path = tmp_path / "x.bin"
    _zip_with_pickle(
        path,
        _tensor_pickle(offset=0, size=(1 << 20, 1 << 20), stride=(0, 0)),
        np.zeros(4, np.float32).tobytes(),
    )
    result = _load_in_small_process(path)
    assert "expands a storage" in result.get("error", ""), result


def test_shared_nested_dicts_fail_fast(tmp_path):
    """458 bytes: d = {} then 40 times d = {"a": d, "b": d}. Each dict is pickled once (memo), but
    rebuilding it as a tree made 2**40 copies (hung at 2.6 GB); now one line, at once."""
    d = {}
    for _ in range(40):
        d = {"a": d, "b": d}
    path = tmp_path / "pytorch_model.bin"
    _zip_with_pickle(path, pickle.dumps(d, protocol=2))
    assert path.stat().st_size < 1000
    result = _load_in_small_process(path)
    assert "nests containers more than" in result.get("error", ""), result
    assert "\n" not in result["error"]


def test_a_pickle_that_builds_millions_of_objects_is_refused(tmp_path):
    """Every opcode builds at most one object: a pickle of 3 million empty lists stops at MAX_OPS."""
    path = tmp_path / "pytorch_model.bin"
    _zip_with_pickle(path, b"\x80\x02]" + b"]a" * 3_000_000 + b".")
    result = _load_in_small_process(path)
    assert "builds more than" in result.get("error", ""), result
