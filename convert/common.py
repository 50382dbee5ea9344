"""What both converters share: their error type, the all-or-nothing output directory, and
writing a model directory one tensor at a time."""

import contextlib
import json
import os
import struct

import numpy as np

from paddle_electra.utils.cache import OutputError, staged
from paddle_electra.utils.errors import PaddleElectraError


class ConversionError(PaddleElectraError):
    """A checkpoint or its files cannot be converted; the message says what is wrong and how to fix it."""


@contextlib.contextmanager
def atomic_output_dir(out_dir, overwrite=False, inputs=()):
    """Yield a temporary directory that becomes `out_dir` only if the block finishes without error
    (paddle_electra.utils.cache.staged): an existing non-empty `out_dir` is replaced with `overwrite`, an
    error otherwise; `out_dir` may not be or hold one of `inputs` (the checkpoint, vocab, configs)."""
    try:
        with staged(
            out_dir,
            exists="replace" if overwrite else "error",
            protect=[p for p in inputs if p],
            hint="pass --overwrite or choose another",
        ) as tmp:
            yield tmp
    except OutputError as e:
        raise ConversionError(str(e)) from None


def empty_model(model_cls, config):
    """`model_cls(config)` with its parameters' names, shapes and dtypes but no memory behind them
    (paddle.LazyGuard): the converters only need the layout; the weights go straight to the file."""
    import paddle
    from paddlenlp.transformers.model_utils import no_init_weights

    with paddle.LazyGuard(), no_init_weights():
        return model_cls(config)


def check_shapes(model, found_shapes, what, config_flag):
    """`found_shapes`: our parameter name -> (source name, shape or None if absent). One clear error
    for missing variables or shapes that disagree with the config."""
    expected = {name: tuple(p.shape) for name, p in model.state_dict().items()}
    missing = [src for ours, (src, shape) in found_shapes.items() if shape is None]
    if missing:
        raise ConversionError(
            f"the checkpoint lacks {len(missing)} variable(s) the {what} config needs, e.g. {missing[0]}: "
            f"check that the checkpoint and {config_flag} belong together"
        )
    for ours, (src, shape) in found_shapes.items():
        if tuple(shape) != expected[ours]:
            raise ConversionError(
                f"{src} has shape {tuple(shape)} but the {what} config implies {expected[ours]}: "
                f"the config does not match the checkpoint, pass the right {config_flag}"
            )


def save_model_dir(model, weights, vocab_file, do_lower_case, out_dir):
    """Save a complete model directory for `model` (a layout from `empty_model`): config.json,
    model.safetensors, vocab.txt, tokenizer_config.json. `weights` maps our parameter names to
    numpy arrays, or to functions returning one: each is read, cast to the parameter's dtype and
    written in turn, so at most one tensor is in memory at a time (not the model plus a buffer)."""
    from paddle_electra.models.tokenizer import save_tokenizer

    params = model.state_dict()
    missing, unexpected = set(params) - set(weights), set(weights) - set(params)
    if missing or unexpected:  # the name table and the model disagree: a bug, not a user error
        raise RuntimeError(
            f"internal name mismatch: missing {sorted(missing)}, unexpected {sorted(unexpected)}"
        )
    os.makedirs(out_dir, exist_ok=True)
    layout = {name: (np.dtype(str(p.dtype).split(".")[-1]), tuple(p.shape)) for name, p in params.items()}

    def read(name):
        value = weights[name]() if callable(weights[name]) else weights[name]
        return np.asarray(value, dtype=layout[name][0])

    write_safetensors(os.path.join(out_dir, "model.safetensors"), layout, read, metadata={"format": "np"})
    model.config.dtype = str(next(iter(layout.values()))[0])  # what paddlenlp's save_pretrained records
    model.config.architectures = [type(model).__name__]
    model.config.save_pretrained(out_dir)
    save_tokenizer(vocab_file, out_dir, do_lower_case=do_lower_case)


SAFETENSORS_DTYPES = {
    "float32": "F32",
    "float16": "F16",
    "float64": "F64",
    "int64": "I64",
    "int32": "I32",
    "int16": "I16",
    "int8": "I8",
    "uint8": "U8",
    "bool": "BOOL",
}


def write_safetensors(path, layout, read, metadata=None):
    """Write a safetensors file tensor by tensor. layout: name -> (numpy dtype, shape), in the
    file's order; read(name) -> that tensor as a numpy array. The header (names, dtypes, shapes,
    byte offsets) follows from the layout, so it is written first and each tensor after it, in
    turn: peak memory is one tensor, whatever the file's size."""
    header, offset = {"__metadata__": metadata} if metadata else {}, 0
    for name, (dtype, shape) in layout.items():
        size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        header[name] = {
            "dtype": SAFETENSORS_DTYPES[dtype.name],
            "shape": list(shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for name, (dtype, shape) in layout.items():
            array = read(name)
            if array.shape != tuple(shape) or array.dtype != dtype:
                raise RuntimeError(
                    f"{name}: got {array.dtype} {array.shape}, the header says {dtype} {tuple(shape)}"
                )
            f.write(np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).data)


SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def check_vocab(vocab_file, vocab_size):
    if not vocab_file or not os.path.isfile(vocab_file):
        raise ConversionError(f"vocabulary file {vocab_file} not found: pass --vocab path/to/vocab.txt")
    try:
        with open(vocab_file, encoding="utf-8") as f:
            tokens = f.read().rstrip("\n").split("\n")  # one token a line; some tokens are whitespace
    except UnicodeDecodeError as e:
        raise ConversionError(
            f"{vocab_file} is not UTF-8 text ({e}): pass the vocab.txt released with this checkpoint"
        ) from None
    if len(tokens) != vocab_size:
        raise ConversionError(
            f"{vocab_file} has {len(tokens)} tokens but the model's vocab_size is {vocab_size}: "
            "pass the vocab.txt released with this checkpoint"
        )
    missing = [t for t in SPECIAL_TOKENS if t not in set(tokens)]
    if missing:
        raise ConversionError(
            f"{vocab_file} lacks the special token(s) {', '.join(missing)}: "
            "pass the vocab.txt released with this checkpoint"
        )
