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

Exports: runtime/export.py; engines: runtime/engines.py. precision: "fp32" (default), "bf16"
(Paddle Inference with oneDNN bf16, for CPUs with AVX512-BF16 or AMX; inputs padded to
LENGTH_BUCKETS; on other CPUs it runs fp32 with a one-line notice), "int8" (onnxruntime with
dynamically quantized linear layers); both change outputs slightly (docs/benchmarks.md: speed and
ChnSentiCorp accuracy).
"""

import importlib.util
import json
import logging
import os
import threading
import time
import weakref

import numpy as np
import paddle

from paddle_electra.runtime.engines import Dygraph, OnnxRuntime, PaddleInference
from paddle_electra.runtime.export import (
    InferenceError,
    cached_export,
    is_export,
    load_model,
    temporary_export,
)
from paddle_electra.utils.cpuinfo import cpu_count, describe, gpu_visible, has_bf16_instructions

logger = logging.getLogger(__name__)
BACKENDS = ("auto", "paddle-inference", "onnxruntime", "dygraph")
PRECISIONS = ("fp32", "bf16", "int8", "fp16")
# bf16 on oneDNN builds new primitives and weight reorders for every new input shape, which costs
# more than a batch-1 forward: bf16 inputs are padded to one of these lengths (the attention mask
# hides the padding) so a few shapes serve every text. Longer inputs keep their length.
LENGTH_BUCKETS = (16, 32, 48, 64, 96, 128, 160, 192, 256, 320, 384, 448, 512)
# Architectures whose outputs have a length axis (axis 1), cut back after bucket padding; the
# others' outputs do not depend on the padded length (the QA beam only while length >= beam size).
PER_TOKEN_OUTPUTS = (
    "ElectraModel",
    "ElectraDiscriminator",
    "ElectraGenerator",
    "ElectraForTokenClassification",
)
# The file in an export directory where "auto" keeps the engine it timed fastest per CPU, thread count
# and size class.
BACKEND_TIMES = "backend_times.json"


class Predictor:
    """Run a model on named int64 numpy arrays [batch, length]; returns the list of its outputs.

    Calls are serialized, so one Predictor may serve several threads. `warm_up` runs every size
    class a server will see before it takes requests.

    Args:
        model: a Layer, a model directory, or an export directory (`paddle-electra export`).
        backend: "auto" (default), "paddle-inference", "onnxruntime" or "dygraph" (see the module
            doc).
        precision: "fp32" (default), "bf16" (Paddle Inference, CPU), "int8" (onnxruntime, CPU) or
            "fp16" (Paddle Inference, GPU).
        threads: math threads on CPU (default: the cores this process may use).
        device: "cpu", "gpu", or None for the GPU when one is visible.
        cache: for a Layer, keep its export in the cache (default: made once per model, reused by
            later processes), or False to export into a temporary folder removed with this
            Predictor (or by `close()`): for one-off predictions, e.g. right after training.

    Raises:
        InferenceError: an unknown backend or precision, a precision the backend or device cannot
            run, or a `model` directory that is neither a model nor an export.
    """

    calibration_seconds = 1.0  # "auto": how long each engine runs a new size class to be timed

    def __init__(self, model, backend="auto", precision="fp32", threads=None, device=None, cache=True):
        _check_choices(backend, precision)
        self.use_gpu = device == "gpu" or (device is None and gpu_visible())
        precision = _precision_on_device(backend, precision, self.use_gpu)
        self.backend, self.precision, self.threads = backend, precision, threads or cpu_count()
        # bf16 (oneDNN) pads inputs to LENGTH_BUCKETS, so it builds its primitives for a few shapes only
        self.length_buckets = precision == "bf16" and not self.use_gpu
        self._open(model, backend, cache)
        self._backends = {}
        self._lock = threading.Lock()
        self.architecture = (
            type(self.model).__name__
            if self.model is not None
            else (self._config("architectures") or [None])[0]
        )
        self._times = self._load_backend_times()

    def _open(self, model, backend, cache):
        """Set `model` (the Layer, or None for an export), `directory` (the export; None for dygraph)
        and `config` (the model's config; a dict when read from the export)."""
        if isinstance(model, str):
            model = _model_or_export(model, backend)
        self.model = None if isinstance(model, str) else model
        if backend == "dygraph":
            self.directory = None
            self.config = model.config
            return
        if isinstance(model, str):
            self.directory = model
        elif cache:
            self.directory = cached_export(model)
        else:
            self.directory, cleanup = temporary_export(model)
            self._cleanup = weakref.finalize(self, cleanup)
        with open(os.path.join(self.directory, "config.json"), encoding="utf-8") as f:
            self.config = json.load(f)

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
        """Choices hold per CPU, thread count and size class (batch and length, each rounded down to a
        power of 2)."""
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
            # a shape's first call also sets the engine up
            times[name], outputs[name] = _timed(engine, arrays)
            times[name] = min(times[name], _seconds_per_call(engine, arrays, self.calibration_seconds))
        best = min(times, key=times.get)
        key = self._times_key(*next(iter(arrays.values())).shape)
        self._times[key] = best
        logger.debug(
            "backend for %s (%s): %s (onnxruntime %.4f s, Paddle Inference %.4f s per call)",
            self.architecture,
            key,
            best,
            times["onnxruntime"],
            times["paddle-inference"],
        )
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
        return padded, lambda outputs: [
            o[:, :length] if o.ndim >= 2 and o.shape[1] == target else o for o in outputs
        ]

    def _onnxruntime_usable(self):
        if "onnxruntime" in self._backends:
            return self._backends["onnxruntime"] is not None
        if importlib.util.find_spec("onnxruntime") is None:
            logger.info(
                "onnxruntime is not installed: "
                "using Paddle Inference for every batch (pip install onnxruntime)"
            )
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
                self._backends[name] = Dygraph(self.model)
            elif name == "onnxruntime":
                self._backends[name] = OnnxRuntime(self.directory, self.threads, self.precision)
            else:
                self._backends[name] = PaddleInference(
                    self.directory, self.threads, self.use_gpu, self.precision
                )
        return self._backends[name]

    def warm_up(self, batch_sizes, lengths, seconds=0.25):
        """Run a [batch, length] input for every pair of `batch_sizes` and `lengths`, so that no
        later call of those size classes waits on engine timing (auto) or on building the engine:
        the size classes not yet timed in this export are timed for `seconds` per engine."""
        self.calibration_seconds = seconds
        try:
            for batch in batch_sizes:
                for length in lengths:
                    shape = (batch, length)
                    self(**{n: (np.zeros if "token_type" in n else np.ones)(shape) for n in self.input_names})
        finally:
            self.calibration_seconds = Predictor.calibration_seconds

    @property
    def input_names(self):
        return self._backend("dygraph" if self.backend == "dygraph" else "paddle-inference").input_names

    def __call__(self, **arrays):
        """Run the model on one batch.

        Args:
            **arrays: every input in `input_names`, each an integer array [batch, length]
                (converted to contiguous int64): input_ids, token_type_ids and attention_mask
                (1 for real tokens, 0 for padding); ElectraForTextMatching takes them twice,
                prefixed query_ and title_.

        Returns:
            list of numpy.ndarray: the model's outputs in its forward's order, e.g. for
            ElectraModel the hidden states [batch, length, hidden_size], for
            ElectraForSequenceClassification the logits [batch, num_labels], for
            ElectraForTokenClassification [batch, length, num_labels], for
            ElectraDiscriminator the logits [batch, length].

        Raises:
            InferenceError: an input the model takes is missing.
        """
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


def _check_choices(backend, precision):
    """An InferenceError for an unknown backend or precision, or a precision the backend cannot run."""
    if backend not in BACKENDS:
        raise InferenceError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise InferenceError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    needs = {"bf16": "paddle-inference", "int8": "onnxruntime", "fp16": "paddle-inference"}.get(precision)
    if needs and backend not in ("auto", needs):
        raise InferenceError(f"precision {precision} runs on the {needs} backend, not {backend}")


def _precision_on_device(backend, precision, use_gpu):
    """The precision that runs on this device: bf16 falls back to fp32 on a CPU without bf16
    instructions; CPU-only backends and precisions on a GPU, or fp16 on CPU, raise InferenceError."""
    if use_gpu and (backend == "onnxruntime" or precision in ("bf16", "int8")):
        raise InferenceError(
            f"backend {backend} with precision {precision} runs on CPU only: pass device='cpu'"
        )
    if precision == "bf16" and not use_gpu and not _cpu_has_bf16():
        logger.warning(
            "precision bf16: this CPU has no bf16 instructions (AVX512-BF16 or AMX), "
            "where bf16 is slower than fp32 or does not run: using fp32"
        )
        return "fp32"
    if precision == "fp16" and not use_gpu:
        raise InferenceError(
            "precision fp16 runs on a GPU (Paddle Inference with CUDA), and none is used here: "
            "use precision fp32, or bf16 / int8 on CPU"
        )
    return precision


def _model_or_export(directory, backend):
    """An export directory as it is (its path), or the model a model directory holds (loaded)."""
    if not os.path.isfile(os.path.join(directory, "config.json")):
        raise InferenceError(
            f"{directory} is not a model or export directory (no config.json): pass a directory "
            "written by `paddle-electra convert`, `finetune` or `export`"
        )
    if is_export(directory) and backend == "dygraph":
        raise InferenceError(
            f"{directory} is an export, which holds no dygraph model: pass the model directory "
            "it was exported from, or another backend"
        )
    return directory if is_export(directory) else load_model(directory)


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
