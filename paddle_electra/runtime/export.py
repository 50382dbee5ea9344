"""Static export of a model, the one thing every fast engine runs.

A model (a Layer or a model directory) is exported once and cached under
<cache>/static/<fingerprint of its class, config and weights>/, so a fine-tuned model in memory
gets a fresh export and an unchanged one reuses it. `export` writes the same files to a directory
of your choice for deployment: inference.json + .pdiparams (Paddle Inference), inference.onnx
(paddle2onnx, made on first use by onnxruntime; inference.int8.onnx for precision int8),
config.json naming the exported class, and a directory's tokenizer files.
"""

import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile

import numpy as np
import paddle

from paddle_electra.models.configuration import read_config
from paddle_electra.models.heads import (
    ElectraForMultipleChoice,
    ElectraForQuestionAnswering,
    ElectraForSequenceClassification,
    ElectraForTextMatching,
    ElectraForTokenClassification,
)
from paddle_electra.models.modeling import ElectraDiscriminator, ElectraGenerator, ElectraModel
from paddle_electra.utils.cache import cache_dir, export_cache_max, human_size, prune, staged, touch
from paddle_electra.utils.cpuinfo import has_int8_dot_product
from paddle_electra.utils.errors import PaddleElectraError
from paddle_electra.utils.quiet import native_output

logger = logging.getLogger(__name__)
ARCHITECTURES = {
    cls.__name__: cls
    for cls in (
        ElectraModel,
        ElectraDiscriminator,
        ElectraGenerator,
        ElectraForSequenceClassification,
        ElectraForTokenClassification,
        ElectraForQuestionAnswering,
        ElectraForTextMatching,
        ElectraForMultipleChoice,
    )
}
INPUTS = ("input_ids", "token_type_ids", "attention_mask")
TEXT_MATCHING_INPUTS = (
    "query_input_ids",
    "title_input_ids",
    "query_token_type_ids",
    "title_token_type_ids",
    "query_attention_mask",
    "title_attention_mask",
)
PREFIX = "inference"
ONNX_FILES = {"fp32": PREFIX + ".onnx", "int8": PREFIX + ".int8.onnx"}
# Tokenizer files that travel with an export of a model directory, so the export is self-contained.
TOKENIZER_FILES = ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json")
EXPORT_VERSION = 2  # part of the cache key: bump it when the exported files change
DEFAULT_OPSET = 14
ONNX_OPSETS = range(7, 22)  # paddle2onnx's; it aborts the whole process on any other


class InferenceError(PaddleElectraError, ValueError):
    """A model, export or option that cannot run as asked; the message names the fix."""


def load_model(model_dir):
    """The model class named in config.json's `architectures`, loaded from `model_dir`."""
    name = (read_config(os.path.join(model_dir, "config.json")).get("architectures") or ["ElectraModel"])[0]
    if name not in ARCHITECTURES:
        raise InferenceError(
            f"{model_dir}: cannot export architecture {name!r}; known: {', '.join(ARCHITECTURES)}"
        )
    return ARCHITECTURES[name].from_pretrained(model_dir)


def is_export(directory):
    return os.path.isfile(os.path.join(directory, PREFIX + ".pdiparams"))


def export(model, out_dir, onnx=True):
    """Write `model` (a Layer, or a model directory) as a static model to `out_dir`:
    inference.json + .pdiparams (Paddle Inference), inference.onnx (with `onnx`), config.json and,
    for a directory, its tokenizer files. Inputs are int64 [batch, length]. The directory appears
    complete or not at all (cache.staged); an existing non-empty `out_dir` is an error (OutputError),
    also when another process writes it meanwhile. Returns out_dir."""
    source = model if isinstance(model, str) else None
    if source is not None:
        model = load_model(source)
    with staged(
        out_dir, exists="error", protect=[source] if source else (), hint="choose a new --out directory"
    ) as tmp:
        _write_export(model, tmp, source, onnx)
    return out_dir


def _write_export(model, directory, source=None, onnx=True):
    training = model.training
    try:
        model.eval()
        names = TEXT_MATCHING_INPUTS if isinstance(model, ElectraForTextMatching) else INPUTS
        spec = [paddle.static.InputSpec([None, None], "int64", name) for name in names]
        with native_output():  # Paddle's C++ warnings about the program it traces
            paddle.jit.save(
                model, os.path.join(directory, PREFIX), input_spec=spec
            )  # leaves `model` as it was
        architectures, model.config.architectures = model.config.architectures, [type(model).__name__]
        try:
            model.config.save_pretrained(directory)  # names the exported class (the Predictor reads it)
        finally:
            model.config.architectures = architectures
        for name in TOKENIZER_FILES if source else ():
            if os.path.isfile(os.path.join(source, name)):
                shutil.copy2(os.path.join(source, name), directory)
        if onnx:
            onnx_file(directory)
    finally:
        model.train(training)


def fingerprint(model):
    """Hex digest of the model's class, config and weights (the cache key of its export)."""
    config = json.loads(model.config.to_json_string())
    config.pop("architectures", None)  # where the weights were loaded from; the class is hashed itself
    h = hashlib.sha1(
        (
            f"{EXPORT_VERSION} {paddle.__version__} {type(model).__name__} "
            f"{json.dumps(config, sort_keys=True)}"
        ).encode()
    )
    for name, value in model.state_dict().items():
        array = value.numpy()
        h.update(f"{name} {array.dtype} {array.shape}".encode())
        h.update(np.ascontiguousarray(array).data)
    return h.hexdigest()[:20]


def cached_export(model):
    """The export directory of `model` (a Layer) in the cache, made on first use; processes that
    make it at once all succeed (the first one's copy is kept, cache.staged). Each new export
    evicts the least recently used others beyond the cap (`cache.export_cache_max()`)."""
    out = os.path.join(cache_dir(), "static", fingerprint(model))
    if not is_export(out):
        logger.info("exporting %s for fast prediction (once per model): %s", type(model).__name__, out)
        with staged(out) as tmp:
            _write_export(
                model, tmp, onnx=False
            )  # onnxruntime's file is made when that backend is first used
        cap = export_cache_max()
        for entry in prune(max_bytes=cap, group="static", keep={out}, root=cache_dir()) if cap else ():
            logger.info("export cache over %s: removed %s", human_size(cap), entry["path"])
    touch(out)
    return out


def temporary_export(model):
    """(directory, cleanup) of an export of `model` (a Layer) into a temporary folder, for one-off
    predictions such as the evaluation right after training: nothing enters the cache."""
    tmp = tempfile.mkdtemp(prefix="paddle-electra-export-")
    try:
        return export(model, os.path.join(tmp, "export"), onnx=False), functools.partial(
            shutil.rmtree, tmp, True
        )
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def onnx_file(directory, precision="fp32", opset_version=DEFAULT_OPSET):
    """The ONNX model of an export directory, converted with paddle2onnx (and, for int8, quantized
    with onnxruntime) on first use; `opset_version` 7 to 21 (paddle2onnx raises it where an operator
    needs a newer one). Returns its path; InferenceError where paddle2onnx cannot convert."""
    if isinstance(opset_version, bool) or opset_version not in ONNX_OPSETS:
        raise InferenceError(
            f"opset_version must be an integer from {ONNX_OPSETS[0]} to {ONNX_OPSETS[-1]}, "
            f"got {opset_version!r}"
        )
    name = ONNX_FILES[precision]
    if opset_version != DEFAULT_OPSET:
        name = name.replace(".onnx", f".opset{opset_version}.onnx")
    path = os.path.join(directory, name)
    if os.path.isfile(path):
        return path
    tmp, folded = path + f".tmp{os.getpid()}", path + f".folded{os.getpid()}"
    try:
        if precision == "int8":
            import onnxruntime
            from onnxruntime.quantization import QuantType, quantize_dynamic

            # paddle2onnx writes the weights as Constant nodes; quantize_dynamic only quantizes
            # initializers, which onnxruntime's basic (portable) graph optimizations turn them into
            options = onnxruntime.SessionOptions()
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
            options.optimized_model_filepath = folded
            options.log_severity_level = 3
            onnxruntime.InferenceSession(onnx_file(directory), options, providers=["CPUExecutionProvider"])
            logging.disable(logging.WARNING)  # root-logger notes: one per attention matmul left in fp32
            try:
                # 7-bit weights where the int8 GEMMs would saturate (no VNNI): ORT's advice for such CPUs
                quantize_dynamic(
                    folded,
                    tmp,
                    weight_type=QuantType.QInt8,
                    per_channel=True,
                    reduce_range=not has_int8_dot_product(),
                )
            finally:
                logging.disable(logging.NOTSET)
        else:
            try:
                import paddle2onnx
            except ImportError:
                raise InferenceError(
                    "the onnxruntime backend needs paddle2onnx: pip install paddle2onnx"
                ) from None
            try:
                with native_output():  # paddle2onnx's progress lines
                    paddle2onnx.export(
                        os.path.join(directory, PREFIX + ".json"),
                        os.path.join(directory, PREFIX + ".pdiparams"),
                        tmp,
                        opset_version=opset_version,
                        optimize_tool="None",  # its default, polygraphy, pip-installs packages at run time
                        verbose=False,
                    )
            except SystemExit:  # paddle2onnx ends the process where it cannot convert
                raise InferenceError(
                    f"paddle2onnx could not convert {directory} to ONNX (opset {opset_version}): see its log"
                ) from None
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, folded):
            if os.path.exists(leftover):
                os.remove(leftover)
    return path
