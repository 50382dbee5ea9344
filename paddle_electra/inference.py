"""Fast prediction for every path (predict, evaluate, get_embedding, fill-mask, rtd, correction,
hub serving): a `Predictor` runs a model on numpy inputs through one of these backends.

- "paddle-inference": the model's `paddle.jit` export under Paddle Inference: oneDNN on CPU, or the
  GPU when Paddle has CUDA and sees a device.
- "onnxruntime": the paddle2onnx conversion of that export, under onnxruntime (CPU).
- "auto" (the default): on CPU, the faster of the two for this machine and input size. The
  first batch of each size class (batch and length, each rounded down to a power of two) runs
  on both engines and the faster is kept, per export directory, CPU and thread count
  (backend_times.json), so later batches and later processes reuse the choice. Which engine
  wins depends on the CPU as much as on the size (docs/benchmarks.md: onnxruntime up to about
  4 x 128 tokens of base on an Intel Xeon, at every measured size on an AMD EPYC). Paddle
  Inference on a GPU. Paddle dygraph on CPU is several times slower than both.
- "dygraph": the Paddle Layer itself; no export. The fallback switch.

    predictor = Predictor("runs/chnsenticorp")        # a model directory, a Layer, or an export
    logits, = predictor(input_ids=ids, token_type_ids=types, attention_mask=mask)

A model (a Layer or a model directory) is exported once and cached under
<cache>/static/<fingerprint of its class, config and weights>/, so a fine-tuned model in memory
gets a fresh export and an unchanged one reuses it. `export` writes the same files to a directory
of your choice for deployment. precision: "fp32" (default), "bf16" (Paddle Inference with oneDNN
bf16, for CPUs with AVX512-BF16 or AMX; inputs padded to LENGTH_BUCKETS; on other CPUs it runs
fp32 with a one-line notice), "int8" (onnxruntime with dynamically quantized linear layers); both
change outputs slightly (docs/benchmarks.md: speed and ChnSentiCorp accuracy).
"""
import functools
import hashlib
import importlib.util
import inspect
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import weakref

import numpy as np
import paddle

from .batching import feed, run_bucketed
from .cache import cache_dir, export_cache_max, human_size, prune, staged, touch
from .configuration import read_config
from .cpuinfo import describe, has_bf16_instructions, has_int8_dot_product
from .fast_cpu import cpu_count
from .heads import ElectraForQuestionAnswering, ElectraForSequenceClassification, ElectraForTextMatching, ElectraForTokenClassification
from .modeling import ElectraDiscriminator, ElectraGenerator, ElectraModel
from .quiet import native_output

logger = logging.getLogger(__name__)
ARCHITECTURES = {cls.__name__: cls for cls in (ElectraModel, ElectraDiscriminator, ElectraGenerator, ElectraForSequenceClassification,
                                               ElectraForTokenClassification, ElectraForQuestionAnswering, ElectraForTextMatching)}
INPUTS = ("input_ids", "token_type_ids", "attention_mask")
TEXT_MATCHING_INPUTS = ("query_input_ids", "title_input_ids", "query_token_type_ids", "title_token_type_ids",
                        "query_attention_mask", "title_attention_mask")
BACKENDS = ("auto", "paddle-inference", "onnxruntime", "dygraph")
PRECISIONS = ("fp32", "bf16", "int8", "fp16")
PREFIX = "inference"
ONNX_FILES = {"fp32": PREFIX + ".onnx", "int8": PREFIX + ".int8.onnx"}
# Tokenizer files that travel with an export of a model directory, so the export is self-contained.
TOKENIZER_FILES = ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json")
EXPORT_VERSION = 2  # part of the cache key: bump it when the exported files change
# bf16 on oneDNN builds new primitives and weight reorders for every new input shape, which costs
# more than a batch-1 forward: bf16 inputs are padded to one of these lengths (the attention mask
# hides the padding) so a few shapes serve every text. Longer inputs keep their length.
LENGTH_BUCKETS = (16, 32, 48, 64, 96, 128, 160, 192, 256, 320, 384, 448, 512)
# Architectures whose outputs have a length axis (axis 1), cut back after bucket padding; the
# others' outputs do not depend on the padded length (the QA beam only while length >= beam size).
PER_TOKEN_OUTPUTS = ("ElectraModel", "ElectraDiscriminator", "ElectraGenerator", "ElectraForTokenClassification")
# The file in an export directory where "auto" keeps the engine it timed fastest per CPU, thread count and size class.
BACKEND_TIMES = "backend_times.json"


class InferenceError(ValueError):
    """A model, export or option that cannot run as asked; the message names the fix."""


def load_model(model_dir):
    """The model class named in config.json's `architectures`, loaded from `model_dir`."""
    name = (read_config(os.path.join(model_dir, "config.json")).get("architectures") or ["ElectraModel"])[0]
    if name not in ARCHITECTURES:
        raise InferenceError(f"{model_dir}: cannot export architecture {name!r}; known: {', '.join(ARCHITECTURES)}")
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
    with staged(out_dir, exists="error", protect=[source] if source else (), hint="choose a new --out directory") as tmp:
        _write_export(model, tmp, source, onnx)
    return out_dir


def _write_export(model, directory, source=None, onnx=True):
    training = model.training
    try:
        model.eval()
        names = TEXT_MATCHING_INPUTS if isinstance(model, ElectraForTextMatching) else INPUTS
        spec = [paddle.static.InputSpec([None, None], "int64", name) for name in names]
        with native_output():  # Paddle's C++ warnings about the program it traces
            paddle.jit.save(model, os.path.join(directory, PREFIX), input_spec=spec)  # leaves `model` as it was
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
    h = hashlib.sha1(f"{EXPORT_VERSION} {paddle.__version__} {type(model).__name__} {json.dumps(config, sort_keys=True)}".encode())
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
            _write_export(model, tmp, onnx=False)  # onnxruntime's file is made when that backend is first used
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
        return export(model, os.path.join(tmp, "export"), onnx=False), functools.partial(shutil.rmtree, tmp, True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def onnx_file(directory, precision="fp32"):
    """The ONNX model of an export directory, converted with paddle2onnx (and, for int8, quantized
    with onnxruntime) on first use. Returns its path."""
    path = os.path.join(directory, ONNX_FILES[precision])
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
                quantize_dynamic(folded, tmp, weight_type=QuantType.QInt8, per_channel=True,
                                 reduce_range=not has_int8_dot_product())
            finally:
                logging.disable(logging.NOTSET)
        else:
            try:
                import paddle2onnx
            except ImportError:
                raise InferenceError("the onnxruntime backend needs paddle2onnx: pip install paddle2onnx") from None
            with native_output():  # paddle2onnx's progress lines
                paddle2onnx.export(os.path.join(directory, PREFIX + ".json"), os.path.join(directory, PREFIX + ".pdiparams"),
                                   tmp, opset_version=14, optimize_tool="None", verbose=False)
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, folded):
            if os.path.exists(leftover):
                os.remove(leftover)
    return path


def gpu_visible():
    return paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0


class _PaddleInference:
    def __init__(self, directory, threads, use_gpu, precision):
        prefix = os.path.join(directory, PREFIX)
        model_file = next(prefix + ext for ext in (".json", ".pdmodel") if os.path.isfile(prefix + ext))
        config = paddle.inference.Config(model_file, prefix + ".pdiparams")
        if use_gpu:  # fp16: Paddle Inference's half-precision GPU kernels
            half = paddle.inference.PrecisionType.Half if precision == "fp16" else paddle.inference.PrecisionType.Float32
            config.enable_use_gpu(256, 0, half)
        else:
            config.disable_gpu()
            config.enable_mkldnn()
            config.set_cpu_math_library_num_threads(threads)
            if precision == "bf16":
                if not paddle.base.core.supports_bfloat16():
                    raise InferenceError("precision bf16 needs a CPU with AVX512-BF16 or AMX: use precision fp32")
                config.enable_mkldnn_bfloat16()
        config.disable_glog_info()
        self.predictor = paddle.inference.create_predictor(config)
        self.input_names = list(self.predictor.get_input_names())

    def __call__(self, arrays):
        for name in self.input_names:
            handle = self.predictor.get_input_handle(name)
            handle.reshape(arrays[name].shape)
            handle.copy_from_cpu(arrays[name])
        self.predictor.run()
        return [self.predictor.get_output_handle(name).copy_to_cpu() for name in self.predictor.get_output_names()]


class _OnnxRuntime:
    def __init__(self, directory, threads, precision):
        try:
            import onnxruntime
        except ImportError:
            raise InferenceError("the onnxruntime backend needs onnxruntime: pip install onnxruntime") from None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: paddle2onnx leaves unused initializers that ORT reports
        self.session = onnxruntime.InferenceSession(onnx_file(directory, precision), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

    def __call__(self, arrays):
        return self.session.run(None, {name: arrays[name] for name in self.input_names})


class _Dygraph:
    def __init__(self, model):
        self.model = model
        self.input_names = [n for n in inspect.signature(model.forward).parameters if n in INPUTS + TEXT_MATCHING_INPUTS]

    def __call__(self, arrays):
        self.model.eval()
        with paddle.no_grad():
            out = self.model(**{name: paddle.to_tensor(arrays[name]) for name in self.input_names})
        return [o.numpy() for o in out] if isinstance(out, (tuple, list)) else [out.numpy()]


class Predictor:
    """Run a model on named int64 numpy arrays [batch, length]; returns the list of its outputs.

    model: a Layer, a model directory, or an export directory (`paddle-electra export`).
    backend: "auto" (default), "paddle-inference", "onnxruntime" or "dygraph" (see the module doc).
    precision: "fp32" (default), "bf16" (Paddle Inference, CPU), "int8" (onnxruntime, CPU) or "fp16"
    (Paddle Inference, GPU).
    threads: math threads on CPU (default: the cores this process may use). device: "cpu", "gpu",
    or None for the GPU when one is visible. Calls are serialized, so one Predictor may serve threads.
    cache: for a Layer, keep its export in the cache (default: made once per model, reused by
    later processes), or False to export into a temporary folder removed with this Predictor (or
    by `close()`): for one-off predictions, e.g. right after training.
    """

    def __init__(self, model, backend="auto", precision="fp32", threads=None, device=None, cache=True):
        if backend not in BACKENDS:
            raise InferenceError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
        if precision not in PRECISIONS:
            raise InferenceError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
        needs = {"bf16": "paddle-inference", "int8": "onnxruntime", "fp16": "paddle-inference"}.get(precision)
        if needs and backend not in ("auto", needs):
            raise InferenceError(f"precision {precision} runs on the {needs} backend, not {backend}")
        self.use_gpu = device == "gpu" or (device is None and gpu_visible())
        if self.use_gpu and (backend == "onnxruntime" or precision in ("bf16", "int8")):
            raise InferenceError(f"backend {backend} with precision {precision} runs on CPU only: pass device='cpu'")
        if precision == "bf16" and not self.use_gpu and not _cpu_has_bf16():
            logger.warning("precision bf16: this CPU has no bf16 instructions (AVX512-BF16 or AMX), where bf16 is slower "
                           "than fp32 or does not run: using fp32")
            precision = "fp32"
        if precision == "fp16" and not self.use_gpu:
            raise InferenceError("precision fp16 runs on a GPU (Paddle Inference with CUDA), and none is used here: "
                                 "use precision fp32, or bf16 / int8 on CPU")
        self.backend, self.precision, self.threads = backend, precision, threads or cpu_count()
        # bf16 (oneDNN) pads inputs to LENGTH_BUCKETS, so it builds its primitives for a few shapes only
        self.length_buckets = precision == "bf16" and not self.use_gpu
        if isinstance(model, str):
            if not os.path.isfile(os.path.join(model, "config.json")):
                raise InferenceError(f"{model} is not a model or export directory (no config.json): pass a directory "
                                 "written by `paddle-electra convert`, `finetune` or `export`")
            if is_export(model) and backend == "dygraph":
                raise InferenceError(f"{model} is an export, which holds no dygraph model: pass the model directory "
                                     "it was exported from, or another backend")
            model = model if is_export(model) else load_model(model)
        self.model = None if isinstance(model, str) else model
        if backend == "dygraph":
            self.directory = None
            self.config = model.config
        else:
            if isinstance(model, str):
                self.directory = model
            elif cache:
                self.directory = cached_export(model)
            else:
                self.directory, cleanup = temporary_export(model)
                self._cleanup = weakref.finalize(self, cleanup)
            with open(os.path.join(self.directory, "config.json"), encoding="utf-8") as f:
                self.config = json.load(f)
        self._backends = {}
        self._lock = threading.Lock()
        self.architecture = type(self.model).__name__ if self.model is not None else (self._config("architectures") or [None])[0]
        self._times = self._load_backend_times()

    def _config(self, key):
        return self.config.get(key) if isinstance(self.config, dict) else getattr(self.config, key, None)

    def close(self):
        """Remove the temporary export (`cache=False`) now; the Predictor cannot run afterwards."""
        if getattr(self, "_cleanup", None) is not None:
            self._backends.clear()
            self._cleanup()

    def backend_for(self, batch, length):
        """The backend that runs a [batch, length] input."""
        if self.backend != "auto":
            return self.backend
        if self.use_gpu or self.precision == "bf16":
            return "paddle-inference"
        if self.precision == "int8":
            return "onnxruntime"
        timed = self._times.get(self._times_key(batch, length))
        if timed is not None or not self._onnxruntime_usable():
            return timed or "paddle-inference"
        return None  # not timed yet: __call__ times both engines on this input

    def _times_key(self, batch, length):
        """Choices hold per CPU, thread count and size class (batch and length, each rounded down to a power of 2)."""
        return f"{describe()}|{self.threads} threads|{batch.bit_length()} x {length.bit_length()}"

    def _load_backend_times(self):
        """The engine choices kept in the export: {key: engine}; entries that name no engine (a file
        not written here) are left out, so their size classes are timed again."""
        try:
            with open(os.path.join(self.directory, BACKEND_TIMES), encoding="utf-8") as f:
                times = json.load(f)
        except (TypeError, OSError, ValueError):  # no export (dygraph), no file yet, or a broken one
            return {}
        engines = ("onnxruntime", "paddle-inference")
        return {k: v for k, v in times.items() if v in engines} if isinstance(times, dict) else {}

    def _calibrate(self, arrays):
        """Run `arrays` on each engine in turn (its first call, then more for at least a second), keep
        the faster for this size class in the export directory, and return its outputs."""
        engines = {name: self._backend(name) for name in ("onnxruntime", "paddle-inference")}
        times, outputs = {}, {}
        for name, engine in engines.items():
            times[name], outputs[name] = _timed(engine, arrays)  # a shape's first call also sets the engine up
            times[name] = min(times[name], _seconds_per_call(engine, arrays))
        best = min(times, key=times.get)
        key = self._times_key(*next(iter(arrays.values())).shape)
        self._times[key] = best
        logger.debug("backend for %s (%s): %s (onnxruntime %.4f s, Paddle Inference %.4f s per call)", self.architecture, key, best,
                    times["onnxruntime"], times["paddle-inference"])
        try:  # best effort: a read-only export directory just calibrates again in the next process
            tmp = os.path.join(self.directory, f".{BACKEND_TIMES}.{os.getpid()}")
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump({**self._load_backend_times(), key: best}, f, indent=1)
            os.replace(tmp, os.path.join(self.directory, BACKEND_TIMES))
        except OSError:
            pass
        return outputs[best]

    def _padded(self, arrays):
        """bf16: the inputs padded along their length to bucket_length() (ids and types with 0, and
        an attention mask of 0 over the padding, made where absent), and a function that cuts the
        outputs back to the original length."""
        length = max(a.shape[1] for a in arrays.values())
        if self.architecture == "ElectraForQuestionAnswering" and length < (self._config("beam_size") or 0):
            return arrays, lambda outputs: outputs  # the beam, min(length, beam size) wide, would widen
        padded = {}
        for key, a in arrays.items():
            extra = [(0, 0), (0, bucket_length(a.shape[1]) - a.shape[1])]
            mask = key[: -len("input_ids")] + "attention_mask"
            if key.endswith("input_ids") and mask not in arrays:
                padded[mask] = np.pad(np.ones_like(a), extra)
            padded[key] = np.pad(a, extra)
        if self.architecture not in PER_TOKEN_OUTPUTS:
            return padded, lambda outputs: outputs
        target = bucket_length(length)
        return padded, lambda outputs: [o[:, :length] if o.ndim >= 2 and o.shape[1] == target else o for o in outputs]

    def _onnxruntime_usable(self):
        if "onnxruntime" in self._backends:
            return self._backends["onnxruntime"] is not None
        if importlib.util.find_spec("onnxruntime") is None:
            logger.info("onnxruntime is not installed: using Paddle Inference for every batch (pip install onnxruntime)")
            self._backends["onnxruntime"] = None
            return False
        try:
            self._backend("onnxruntime")
        except Exception as e:  # auto falls back; an explicit backend="onnxruntime" raises
            logger.warning("onnxruntime backend unavailable (%s): using Paddle Inference", e)
            self._backends["onnxruntime"] = None
        return self._backends["onnxruntime"] is not None

    def _backend(self, name):
        if self._backends.get(name) is None:
            if name == "dygraph":
                self._backends[name] = _Dygraph(self.model)
            elif name == "onnxruntime":
                self._backends[name] = _OnnxRuntime(self.directory, self.threads, self.precision)
            else:
                self._backends[name] = _PaddleInference(self.directory, self.threads, self.use_gpu, self.precision)
        return self._backends[name]

    @property
    def input_names(self):
        return self._backend("dygraph" if self.backend == "dygraph" else "paddle-inference").input_names

    def __call__(self, **arrays):
        arrays = {k: np.ascontiguousarray(v, dtype="int64") for k, v in arrays.items()}
        with self._lock:
            first = next(iter(arrays.values()))
            name = self.backend_for(*first.shape)
            backend = self._backend(name or "paddle-inference")
            missing = [n for n in backend.input_names if n not in arrays]
            if missing:
                raise InferenceError(f"missing inputs {missing}: the model takes {backend.input_names}")
            if name is None:
                return self._calibrate(arrays)
            if self.length_buckets and name == "paddle-inference":
                padded, cut = self._padded(arrays)
                return cut(backend(padded))
            return backend(arrays)


def _timed(engine, arrays):
    """(seconds, outputs) of one call."""
    start = time.perf_counter()
    outputs = engine(arrays)
    return time.perf_counter() - start, outputs


def _seconds_per_call(engine, arrays, budget=1.0):
    """The fastest of the calls made within `budget` seconds (at least one): the minimum, as other
    work on the machine (the other engine's threads spinning down, too) only ever slows a call."""
    calls = [_timed(engine, arrays)[0]]
    while sum(calls) < budget:
        calls.append(_timed(engine, arrays)[0])
    return min(calls)


def bucket_length(length):
    """The padded length of a bf16 input of `length` tokens: the next of LENGTH_BUCKETS (or itself)."""
    return next((b for b in LENGTH_BUCKETS if b >= length), length)


def _cpu_has_bf16():
    """bf16 instructions (AVX512-BF16 or AMX); where the CPU's flags are unknown, what Paddle says."""
    known = has_bf16_instructions()
    return paddle.base.core.supports_bfloat16() if known is None else known


def predict_items(predictor, items, batch_size, keys=("input_ids", "token_type_ids"), on_batch=None):
    """Per-item results of `predictor` over `items` (dicts holding id lists under `keys`), padding
    each batch only to its longest item and batching items of similar length (results in input
    order). `on_batch(batch, outputs)` turns a batch's numpy outputs into per-item results; by
    default each item gets its row of every output (a tuple when the model has several)."""

    def run_batch(batch):
        outputs = predictor(**feed(batch, keys))
        if on_batch is not None:
            return on_batch(batch, outputs)
        return list(zip(*outputs)) if len(outputs) > 1 else list(outputs[0])

    return run_bucketed(items, batch_size, lambda item: len(item[keys[0]]), run_batch)


def sigmoid(logits):
    """float64 sigmoid of numpy logits."""
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))


def log_softmax(logits, axis=-1):
    """float64 log-softmax of numpy logits."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
