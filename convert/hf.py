"""HF transformers ELECTRA directory (PyTorch or safetensors weights) -> Paddle model directory.

    convert_hf("hfl-chinese-electra-base-discriminator/", "out/")

Needs neither torch nor transformers: `model.safetensors` is read with safetensors' numpy API and
`pytorch_model.bin` with `torch_pickle` (an allow-listed unpickler). Works for ElectraForPreTraining
(-> ElectraDiscriminator), ElectraForMaskedLM (-> ElectraGenerator), a bare ElectraModel
(-> ElectraModel) and fine-tuned ElectraForSequenceClassification / ElectraForTokenClassification /
ElectraForQuestionAnswering (-> our heads, with classifier_head="two_layer" / qa_head="linear"),
also when the encoder sits under another key prefix and its config is nested inside a larger
config.json (the LTP models: prefix `backbone.`, config at `model.backbone.config`); both are
detected, or given with `prefix=` / `config_key=`.
"""

import contextlib
import json
import logging
import os

from paddle_electra import (
    ElectraConfig,
    ElectraDiscriminator,
    ElectraForQuestionAnswering,
    ElectraForSequenceClassification,
    ElectraForTokenClassification,
    ElectraGenerator,
    ElectraModel,
)
from paddle_electra.models.architecture import check_architecture
from paddle_electra.models.weights import LoadError

from .common import ConversionError, atomic_output_dir, check_shapes, check_vocab, empty_model, save_model_dir
from .names import tower_params
from .torch_pickle import open_torch_state_dict

logger = logging.getLogger(__name__)

TOWERS = {
    "discriminator": ElectraDiscriminator,
    "generator": ElectraGenerator,
    "encoder": ElectraModel,
    "seq-cls": ElectraForSequenceClassification,
    "token-cls": ElectraForTokenClassification,
    "qa": ElectraForQuestionAnswering,
}
# The head options our task classes need to hold HF's fine-tuned heads (see heads.py).
_HEAD_OPTIONS = {"seq-cls": {"classifier_head": "two_layer"}, "qa": {"qa_head": "linear"}}
_WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"
# Keys HF keeps that are not weights of ours: buffers, and the generator's copy of the tied embeddings.
_IGNORED_SUFFIXES = ("position_ids", "generator_lm_head.weight")


def _electra_configs(obj, path=""):
    """Yield (dotted key, dict) for every nested dict that looks like an ELECTRA/BERT config."""
    if isinstance(obj, dict):
        if "hidden_size" in obj and "num_hidden_layers" in obj:
            yield path, obj
        for key, value in obj.items():
            yield from _electra_configs(value, f"{path}.{key}" if path else key)


def read_hf_config(model_dir, config_key=None):
    path = os.path.join(model_dir, "config.json")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise ConversionError(f"cannot read {path} ({e}): a HF model directory needs its config.json") from e
    if config_key:
        for part in config_key.split("."):
            if not isinstance(data, dict) or part not in data:
                raise ConversionError(f"{path} has no key {config_key!r}: check --config-key")
            data = data[part]
        return data
    found = list(_electra_configs(data))
    if len(found) != 1:
        where = ", ".join(k or "<top level>" for k, _ in found) or "none"
        raise ConversionError(f"{path}: expected one ELECTRA config, found {where}: pass --config-key")
    if found[0][0]:
        logger.info("using the ELECTRA config nested at %s in %s", found[0][0], path)
    return found[0][1]


class _SafetensorsTensor:
    """One tensor of an open safetensors file: its shape from the header, its data by `read()`."""

    def __init__(self, handle, name):
        self.handle, self.name = handle, name
        self.shape = tuple(handle.get_slice(name).get_shape())

    def read(self):
        return self.handle.get_tensor(self.name)


@contextlib.contextmanager
def hf_weights(model_dir):
    """{name: tensor} of a HF directory's weights, each with its `shape` (from the file's metadata) and
    read only by `tensor.read()`, inside the `with`: model.safetensors, else pytorch_model.bin."""
    safetensors_path = os.path.join(model_dir, "model.safetensors")
    if os.path.isfile(safetensors_path):
        from safetensors import safe_open

        try:  # checks the header and that the file holds every tensor it declares
            handle = safe_open(safetensors_path, framework="np")
            tensors = {name: _SafetensorsTensor(handle, name) for name in handle.keys()}
        except Exception as e:  # safetensors raises its own error types
            raise ConversionError(f"cannot read {safetensors_path} ({e}): the file is damaged") from e
        yield tensors
        return
    bin_path = os.path.join(model_dir, "pytorch_model.bin")
    if not os.path.isfile(bin_path):
        raise ConversionError(
            f"no model.safetensors or pytorch_model.bin in {model_dir}: pass a HF model directory"
        )
    with open_torch_state_dict(bin_path) as tensors:
        yield tensors


def _detect_prefix(weights):
    prefixes = sorted(k[: -len(_WORD_EMBEDDINGS)] for k in weights if k.endswith(_WORD_EMBEDDINGS))
    if len(prefixes) != 1:
        raise ConversionError(
            f"expected one encoder's word embeddings, found prefixes {prefixes}: pass --prefix"
        )
    return prefixes[0]


def _detect_tower(weights):
    for key, tower in (
        ("discriminator_predictions.dense.weight", "discriminator"),
        ("generator_predictions.dense.weight", "generator"),
        ("classifier.out_proj.weight", "seq-cls"),
        ("qa_outputs.weight", "qa"),
        ("classifier.weight", "token-cls"),
    ):
        if key in weights:
            return tower
    return "encoder"


def _head_options(tower, original, weights):
    """Config fields of a fine-tuned head: its options, and its labels (HF's id2label, or as many
    numbered labels as the classifier has rows)."""
    options = dict(_HEAD_OPTIONS.get(tower, {}))
    if tower in ("seq-cls", "token-cls"):
        rows = weights["classifier.out_proj.weight" if tower == "seq-cls" else "classifier.weight"].shape[0]
        id2label = {int(k): v for k, v in (original.get("id2label") or {}).items()}
        if sorted(id2label) != list(range(rows)):
            id2label = {i: f"LABEL_{i}" for i in range(rows)}
        options.update(num_labels=rows, id2label=id2label, label2id={v: k for k, v in id2label.items()})
    return options


def _do_lower_case(model_dir):
    path = os.path.join(model_dir, "tokenizer_config.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            return bool(json.load(f).get("do_lower_case", True))
    return True


def convert_hf(
    model_dir,
    out_dir,
    prefix=None,
    config_key=None,
    vocab_file=None,
    do_lower_case=None,
    overwrite=False,
    architecture=None,
    tower=None,
    config_source="config.json (or --config-key)",
):
    """Convert a HF ELECTRA directory into a Paddle model directory at `out_dir`.

    `architecture` (ARCHITECTURE_KEYS -> values, e.g. a zoo entry's) overrides config.json where
    they differ, with a warning; the tensors are checked against it. `tower` is the tower the weights
    must hold. `config_source` names where the architecture came from in error messages.

    Returns a report: the tower written ('discriminator', 'generator', 'encoder', or a fine-tuned
    head: 'seq-cls', 'token-cls', 'qa'), the key
    prefix used, and the source keys nothing used.
    """
    original = read_hf_config(model_dir, config_key)
    with hf_weights(model_dir) as weights:
        prefix = _detect_prefix(weights) if prefix is None else prefix
        tower = _check_tower(model_dir, weights, tower)
        config = _hf_electra_config(model_dir, original, weights, tower, architecture, config_source)
        encoder = {k[len(prefix) :]: tuple(w.shape) for k, w in weights.items() if k.startswith(prefix)}
        try:  # before the model is built: a config that disagrees with the tensors builds nothing
            check_architecture(config.architecture(), encoder, model_dir, "hf", f"check {config_source}")
        except LoadError as e:
            raise ConversionError(str(e)) from None
        model = empty_model(TOWERS[tower], config)

        params = tower_params(config, tower)
        source = {p.ours: (prefix + p.hf if p.in_encoder else p.hf) for p in params}
        _check_hf_shapes(model, params, source, weights, tower, config_source)

        vocab_file = vocab_file or os.path.join(model_dir, "vocab.txt")
        check_vocab(vocab_file, config.vocab_size)
        lower = _do_lower_case(model_dir) if do_lower_case is None else do_lower_case
        ours = {p.ours: _reader(weights[source[p.ours]], p.hf_transposed) for p in params}
        unused = _unused_keys(weights, set(source.values()))
        with atomic_output_dir(out_dir, overwrite, inputs=(model_dir, vocab_file)) as tmp:
            save_model_dir(model, ours, vocab_file, lower, tmp)
    return {"tower": tower, "prefix": prefix, "out_dir": os.path.abspath(out_dir), "unused_keys": unused}


def _reader(tensor, transposed):
    """Read `tensor` when the writer gets to it (one tensor in memory at a time), in our layout."""
    return lambda: tensor.read().T if transposed else tensor.read()


def _check_tower(model_dir, weights, tower):
    """The tower the weights hold (`_detect_tower`); a ConversionError where `tower` asks for another."""
    found_tower = _detect_tower(weights)
    if tower and found_tower != tower:
        raise ConversionError(
            f"{model_dir} holds a {found_tower}, not a {tower}: check the repo or directory"
        )
    return found_tower


def _hf_electra_config(model_dir, original, weights, tower, architecture, config_source):
    """Our ElectraConfig of HF's config (`original`), `architecture` overriding it (with a warning
    per field that differs), with the options and labels of the tower's head."""
    for key, value in (architecture or {}).items():
        if original.get(key, value) != value:
            logger.warning(
                "%s/config.json has %s=%s but %s says %s: using %s",
                model_dir,
                key,
                original[key],
                config_source,
                value,
                value,
            )
    try:
        return ElectraConfig.from_original(
            {**original, **(architecture or {})}, **_head_options(tower, original, weights)
        )
    except LoadError as e:
        raise ConversionError(f"{os.path.join(model_dir, 'config.json')}: {e}") from None


def _check_hf_shapes(model, params, source, weights, tower, config_source):
    """Every parameter of `model` has its source key in `weights`, with the right shape."""
    found = {}
    for p in params:
        array = weights.get(source[p.ours])
        found[p.ours] = (
            source[p.ours],
            None if array is None else (array.shape[::-1] if p.hf_transposed else array.shape),
        )
    check_shapes(model, found, tower, config_source)


def _unused_keys(weights, used):
    """The source keys nothing used (but HF's buffers and tied copies), logged as a warning."""
    unused = sorted(k for k in weights if k not in used and not k.endswith(_IGNORED_SUFFIXES))
    if unused:
        logger.warning(
            "%d source key(s) were not used (other heads?), e.g. %s", len(unused), ", ".join(unused[:5])
        )
    return unused
