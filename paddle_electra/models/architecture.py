"""Check a config against its weights before anything is built or read.

A config.json that disagrees with its weights (vocab_size 2,000,000,000 beside a 21,128-row
embedding, num_hidden_layers 100,000 beside 3 layers) would otherwise be found only after
building the model from it, which may try to allocate terabytes or run for minutes. Here every
architecture number is derived from the tensor shapes that the weight files declare in their
metadata (a safetensors header, a torch pickle without its storages, a TF bundle index), and
compared with the config: a mismatch is one LoadError naming the field, the config's value and
the weights' value.

Shapes come keyed by their names in one of three layouts (`LAYOUTS`): ours (= paddlenlp's), HF
transformers' and the original TF code's, relative to the encoder (a converter strips its key
prefix or variable scope first; our own files may keep the `electra.` prefix).
"""

import json
import os
import re
import struct

from paddle_electra.models.weights import LoadError

# name of the word embeddings, position and token-type embeddings, the pattern of an encoder
# layer's names, the first layer's query and first FFN weights, and the FFN weight's output axis
LAYOUTS = {
    "paddle": {
        "word": "embeddings.word_embeddings.weight",
        "position": "embeddings.position_embeddings.weight",
        "token_type": "embeddings.token_type_embeddings.weight",
        "layer": re.compile(r"(?:^|\.)encoder\.layers\.(\d+)\."),
        "query": "encoder.layers.0.self_attn.q_proj.weight",
        "ffn": "encoder.layers.0.linear1.weight",
        "ffn_axis": 1,
    },
    "hf": {
        "word": "embeddings.word_embeddings.weight",
        "position": "embeddings.position_embeddings.weight",
        "token_type": "embeddings.token_type_embeddings.weight",
        "layer": re.compile(r"(?:^|\.)encoder\.layer\.(\d+)\."),
        "query": "encoder.layer.0.attention.self.query.weight",
        "ffn": "encoder.layer.0.intermediate.dense.weight",
        "ffn_axis": 0,
    },
    "tf": {
        "word": "embeddings/word_embeddings",
        "position": "embeddings/position_embeddings",
        "token_type": "embeddings/token_type_embeddings",
        "layer": re.compile(r"(?:^|/)encoder/layer_(\d+)/"),
        "query": "encoder/layer_0/attention/self/query/kernel",
        "ffn": "encoder/layer_0/intermediate/dense/kernel",
        "ffn_axis": 1,
    },
}
MAX_HEADER_BYTES = 100 << 20  # a safetensors header (JSON) larger than this is not a model's


def _find(shapes, name):
    """The shape of `name`, or of the one key ending in `.name` / `/name` (a prefixed copy)."""
    if name in shapes:
        return shapes[name]
    found = [k for k in shapes if k.endswith(("." + name, "/" + name))]
    return shapes[found[0]] if len(found) == 1 else None


def architecture_of(shapes, layout="paddle"):
    """The architecture fields that tensor shapes fix: {field: value} for those the shapes show.

    Args:
        shapes: {tensor name: shape tuple}, names in `layout`.
        layout: "paddle", "hf" or "tf" (LAYOUTS).
    """
    names = LAYOUTS[layout]
    found = {}
    word = _find(shapes, names["word"])
    if word is not None and len(word) == 2:
        found["vocab_size"], found["embedding_size"] = word
    for field, key in (("max_position_embeddings", "position"), ("type_vocab_size", "token_type")):
        shape = _find(shapes, names[key])
        if shape is not None and len(shape) == 2:
            found[field] = shape[0]
    layers = {int(m.group(1)) for k in shapes for m in [names["layer"].search(k)] if m}
    if layers:
        found["num_hidden_layers"] = max(layers) + 1
    query = _find(shapes, names["query"])
    if query is not None and len(query) == 2:
        found["hidden_size"] = query[0]  # square in every layout
    ffn = _find(shapes, names["ffn"])
    if ffn is not None and len(ffn) == 2:
        found["intermediate_size"] = ffn[names["ffn_axis"]]
    return found


def check_architecture(config, shapes, where, layout="paddle", fix="write the model directory again"):
    """Raise LoadError when a field of `config` (a dict) disagrees with what the weights' shapes fix,
    or when the weights show no encoder at all. `where` names the files in the message."""
    found = architecture_of(shapes, layout)
    if "vocab_size" not in found or "num_hidden_layers" not in found:
        raise LoadError(f"{where}: the weights hold no ELECTRA encoder (no word embeddings or layers): {fix}")
    for field, value in found.items():
        expected = config.get(field, value)
        if expected != value:
            raise LoadError(
                f"{where}: config.json says {field} = {expected!r} but the weights hold {value}: "
                f"the config does not belong to these weights; {fix}"
            )
    heads = config.get("num_attention_heads")
    if isinstance(heads, int) and heads > found.get("hidden_size", heads):
        raise LoadError(
            f"{where}: config.json says num_attention_heads = {heads}, more than the hidden size "
            f"{found['hidden_size']} of the weights: {fix}"
        )


def safetensors_shapes(path):
    """{name: shape} from a safetensors file's header, reading nothing else (LoadError if the
    header is not one: longer than the file, not JSON, an entry without a shape)."""
    size = os.path.getsize(path)
    try:
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            if not 2 <= length <= min(size - 8, MAX_HEADER_BYTES):
                raise ValueError(f"a header of {length} bytes in a file of {size}")
            header = json.loads(f.read(length))
        return {
            name: tuple(int(n) for n in entry["shape"])
            for name, entry in header.items()
            if name != "__metadata__"
        }
    except (struct.error, ValueError, TypeError, KeyError, AttributeError) as e:
        raise LoadError(
            f"cannot read {path} ({type(e).__name__}: {e}): the file is truncated or not safetensors; "
            "write or copy it again"
        ) from None
