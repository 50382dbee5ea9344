"""The engines a Predictor runs an export on: each is built from an export directory (or, for
dygraph, the Layer) and called with named int64 numpy arrays; it returns the list of outputs."""

import inspect
import os

import paddle

from paddle_electra.runtime.export import INPUTS, PREFIX, TEXT_MATCHING_INPUTS, InferenceError, onnx_file


def gpu_id():
    """The GPU of this process: under `paddle.distributed.launch --gpus ...` each process's own
    (FLAGS_selected_gpus), else 0."""
    selected = os.environ.get("FLAGS_selected_gpus", "").split(",")[0].strip()
    return int(selected) if selected.isdigit() else 0


class PaddleInference:
    def __init__(self, directory, threads, use_gpu, precision):
        prefix = os.path.join(directory, PREFIX)
        model_file = next(prefix + ext for ext in (".json", ".pdmodel") if os.path.isfile(prefix + ext))
        config = paddle.inference.Config(model_file, prefix + ".pdiparams")
        if use_gpu:  # fp16: Paddle Inference's half-precision GPU kernels
            half = (
                paddle.inference.PrecisionType.Half
                if precision == "fp16"
                else paddle.inference.PrecisionType.Float32
            )
            config.enable_use_gpu(256, gpu_id(), half)
        else:
            config.disable_gpu()
            config.enable_mkldnn()
            config.set_cpu_math_library_num_threads(threads)
            if precision == "bf16":
                if not paddle.base.core.supports_bfloat16():
                    raise InferenceError(
                        "precision bf16 needs a CPU with AVX512-BF16 or AMX: use precision fp32"
                    )
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
        return [
            self.predictor.get_output_handle(name).copy_to_cpu() for name in self.predictor.get_output_names()
        ]


class OnnxRuntime:
    def __init__(self, directory, threads, precision):
        try:
            import onnxruntime
        except ImportError:
            raise InferenceError(
                "the onnxruntime backend needs onnxruntime: pip install onnxruntime"
            ) from None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: paddle2onnx leaves unused initializers that ORT reports
        self.session = onnxruntime.InferenceSession(
            onnx_file(directory, precision), options, providers=["CPUExecutionProvider"]
        )
        self.input_names = [i.name for i in self.session.get_inputs()]

    def __call__(self, arrays):
        return self.session.run(None, {name: arrays[name] for name in self.input_names})


class Dygraph:
    def __init__(self, model):
        self.model = model
        self.input_names = [
            n for n in inspect.signature(model.forward).parameters if n in INPUTS + TEXT_MATCHING_INPUTS
        ]

    def __call__(self, arrays):
        self.model.eval()
        with paddle.no_grad():
            out = self.model(**{name: paddle.to_tensor(arrays[name]) for name in self.input_names})
        return [o.numpy() for o in out] if isinstance(out, (tuple, list)) else [out.numpy()]
