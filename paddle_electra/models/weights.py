"""Reading weights files without running code: the one allow-listed, bounded unpickler.

A pickle may call any importable function while it loads (that is how a malicious checkpoint runs
code), so paddle-electra never hands a weights file to `pickle.load` / `paddle.load`:

- `RestrictedUnpickler` resolves only the globals of its `allowed` table and refuses anything
  else. It also bounds what a file can make it build: at most MAX_OPS pickle operations, and
  `materialise` walks the result at most MAX_DEPTH levels deep, visiting shared objects once (a
  458-byte pickle of dicts nested 40 deep, each holding its child twice, would otherwise expand
  to 2^40 copies). paddle_electra_convert.torch_pickle reads PyTorch files with it.
- `load_paddle_state(path)` reads Paddle's own `.pdparams` / `.pdopt` (`paddle.save` of a state
  dict: numpy arrays in a dict) with the numpy reconstructors allow-listed.
- `pretrained_weights(directory, trust_pickle)` is what `from_pretrained` loads: model.safetensors
  (no code by design), else model_state.pdparams through `load_paddle_state`. `trust_pickle=True`
  hands the .pdparams to paddlenlp's own loader (`paddle.load`: runs whatever the file holds;
  only for files you wrote yourself).
"""

import io
import os
import pickle

import numpy as np

from paddle_electra.utils.errors import PaddleElectraError

MAX_OPS = 2_000_000  # pickle operations; a state dict takes about 10 per tensor
MAX_DEPTH = 16  # a state dict is a dict of arrays, sometimes inside one or two dicts
SAFE_WEIGHTS = "model.safetensors"
PICKLED_WEIGHTS = "model_state.pdparams"


class LoadError(PaddleElectraError, ValueError):
    """A model directory's file (config.json, vocab.txt, weights) that cannot be loaded (safely);
    the message names the file and the fix."""


def _counted(op):
    def run(self):
        self.ops += 1
        if self.ops > self.max_ops:
            raise LoadError(
                f"the pickle builds more than {self.max_ops} objects: not a state dict (corrupted or hostile)"
            )
        op(self)

    return run


class RestrictedUnpickler(pickle._Unpickler):
    """An unpickler that builds only what `allowed` names ({(module, name): object}) and at most
    `max_ops` objects. The pure-Python unpickler: its memo is a dict (the C one sizes its memo array
    by the largest index in the file, so one corrupted index allocates gigabytes). BYTEARRAY8 is not
    accepted: it would allocate and zero its claimed length before reading it."""

    allowed = {}
    max_ops = MAX_OPS
    dispatch = {
        code: _counted(op) for code, op in pickle._Unpickler.dispatch.items() if code != pickle.BYTEARRAY8[0]
    }

    def __init__(self, file, what="the file"):
        super().__init__(file)
        self.ops, self.what = 0, what

    def find_class(self, module, name):
        if (module, name) in self.allowed:
            return self.allowed[(module, name)]
        raise LoadError(
            f"refusing to unpickle {module}.{name} from {self.what}: "
            "the file holds more than tensors (possibly code); "
            f"re-save the weights as {SAFE_WEIGHTS} with a trusted tool"
        )


def materialise(obj, leaf=lambda x: x, what="the file"):
    """`obj` with `leaf` applied to every non-container, dicts/lists/tuples rebuilt; each shared
    object is visited once and nesting is limited to MAX_DEPTH (LoadError otherwise)."""
    done = {}

    def walk(x, depth):
        if id(x) in done:
            return done[id(x)]
        if depth > MAX_DEPTH:
            raise LoadError(
                f"{what} nests containers more than {MAX_DEPTH} deep: not a state dict (corrupted or hostile)"
            )
        if isinstance(x, dict):
            out = type(x)() if type(x) is not dict else {}
            done[id(x)] = out
            for k, v in x.items():
                out[k] = walk(v, depth + 1)
        elif isinstance(x, (list, tuple)):
            out = type(x)(walk(v, depth + 1) for v in x)
            done[id(x)] = out
        else:
            out = leaf(x)
            done[id(x)] = out
        return out

    return walk(obj, 0)


def _empty_array(subtype, shape, dtype):
    """numpy's `_reconstruct`, as numpy pickles use it: an empty ndarray that BUILD then fills from
    the file's bytes (numpy checks their length); any other use is refused."""
    if subtype is not np.ndarray or tuple(shape) != (0,):
        raise LoadError("the pickle reconstructs an array in an unexpected way: not a Paddle state dict")
    return np.ndarray((0,), dtype=np.dtype(dtype))


def _dtype(name, align=False, copy=True):
    if not isinstance(name, str):
        raise LoadError("the pickle builds a dtype from a non-string: not a Paddle state dict")
    return np.dtype(name, align, copy)


class _PaddleUnpickler(RestrictedUnpickler):
    allowed = {
        ("numpy._core.multiarray", "_reconstruct"): _empty_array,
        ("numpy.core.multiarray", "_reconstruct"): _empty_array,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): _dtype,
        ("collections", "OrderedDict"): dict,
    }


def load_paddle_state(path):
    """{name: numpy array or plain value} from a file `paddle.save` wrote (.pdparams, .pdopt),
    without running code; as `paddle.load`, without paddle's name table. Raises LoadError for
    anything else."""
    try:
        with open(path, "rb") as f:
            state = _PaddleUnpickler(io.BytesIO(f.read()), path).load()
        state = materialise(state, what=path)
    except LoadError:
        raise
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        OverflowError,
        MemoryError,
        RecursionError,
        OSError,
    ) as e:
        raise LoadError(
            f"cannot read {path} as Paddle weights ({type(e).__name__}: {e}): "
            "the file is damaged or not a state dict"
        ) from e
    if not isinstance(state, dict):
        raise LoadError(f"{path} does not hold a state dict (a dict of arrays)")
    state.pop("StructuredToParameterName@@", None)
    for value in state.values():
        if isinstance(value, np.ndarray) and value.dtype.hasobject:
            raise LoadError(f"{path} holds an array of Python objects: not a state dict")
    return state


def pretrained_weights(directory, trust_pickle=False):
    """The keyword arguments that make paddlenlp's `from_pretrained(directory)` load its weights
    without running code (see the module doc). Raises LoadError when there are none it may load."""
    safe = os.path.join(directory, SAFE_WEIGHTS)
    if os.path.isfile(safe):
        from safetensors import safe_open

        try:
            with safe_open(safe, framework="np"):  # checks the header and that the file holds all it declares
                pass
        except Exception as e:  # safetensors' own error type
            raise LoadError(
                f"cannot read {safe} ({e}): the file is truncated or damaged; write or copy it again"
            ) from None
        return {"use_safetensors": True}
    pickled = os.path.join(directory, PICKLED_WEIGHTS)
    if os.path.isfile(pickled):
        if trust_pickle:
            return {"use_safetensors": False}
        state = load_paddle_state(pickled)
        bad = next((k for k, v in state.items() if not isinstance(v, np.ndarray)), None)
        if bad is not None:
            raise LoadError(f"{pickled} holds {bad!r}, which is not an array: not model weights")
        return {"state_dict": state}
    raise LoadError(
        f"{directory} holds no {SAFE_WEIGHTS} (or {PICKLED_WEIGHTS}): "
        "pass a directory written by `paddle-electra convert`, "
        "`finetune` or `pretrain`"
    )
