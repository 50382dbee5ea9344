"""Static inference: export any model directory (converted, fine-tuned or hub-packed, with its head)
with `paddle.jit.to_static`, and run it with Paddle Inference (oneDNN on CPU, the GPU when there is one).

    export("runs/chnsenticorp", "runs/chnsenticorp-static")
    predictor = StaticPredictor("runs/chnsenticorp-static")
    logits, = predictor(input_ids=ids, token_type_ids=types, attention_mask=mask)

Paddle dygraph on CPU is several times slower than PyTorch, while the static model with oneDNN is
faster (docs/benchmarks.md).
"""
import json
import os
import shutil

import numpy as np
import paddle

from .heads import ElectraForQuestionAnswering, ElectraForSequenceClassification, ElectraForTextMatching, ElectraForTokenClassification
from .modeling import ElectraDiscriminator, ElectraGenerator, ElectraModel

ARCHITECTURES = {cls.__name__: cls for cls in (ElectraModel, ElectraDiscriminator, ElectraGenerator, ElectraForSequenceClassification,
                                               ElectraForTokenClassification, ElectraForQuestionAnswering, ElectraForTextMatching)}
INPUTS = ("input_ids", "token_type_ids", "attention_mask")
TEXT_MATCHING_INPUTS = ("query_input_ids", "title_input_ids", "query_token_type_ids", "title_token_type_ids",
                        "query_attention_mask", "title_attention_mask")
PREFIX = "inference"
# Files that travel with the static model so the export directory is self-contained.
SIDE_FILES = ("config.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")


def load_model(model_dir):
    """The model class named in config.json's `architectures`, loaded from `model_dir`."""
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        name = (json.load(f).get("architectures") or ["ElectraModel"])[0]
    if name not in ARCHITECTURES:
        raise ValueError(f"{model_dir}: cannot export architecture {name!r}; known: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name].from_pretrained(model_dir)


def export(model_dir, out_dir):
    """Write out_dir/inference.{json,pdiparams} (+ config and tokenizer files). Returns out_dir."""
    model = load_model(model_dir)
    model.eval()
    names = TEXT_MATCHING_INPUTS if isinstance(model, ElectraForTextMatching) else INPUTS
    spec = [paddle.static.InputSpec([None, None], "int64", name) for name in names]
    paddle.jit.save(paddle.jit.to_static(model, input_spec=spec, full_graph=True), os.path.join(out_dir, PREFIX))
    for name in SIDE_FILES:
        if os.path.isfile(os.path.join(model_dir, name)):
            shutil.copy2(os.path.join(model_dir, name), out_dir)
    return out_dir


class StaticPredictor:
    """Paddle Inference on an exported directory. CPU: oneDNN with `threads` math threads (default:
    all cores); GPU when paddle was built with CUDA and a device is visible (or device="gpu")."""

    def __init__(self, directory, threads=None, device=None):
        prefix = os.path.join(directory, PREFIX)
        model_file = next((prefix + ext for ext in (".json", ".pdmodel") if os.path.isfile(prefix + ext)), None)
        if model_file is None:
            raise ValueError(f"{directory} holds no exported model: run `paddle-electra export MODEL_DIR --out {directory}`")
        config = paddle.inference.Config(model_file, prefix + ".pdiparams")
        use_gpu = device == "gpu" or (device is None and paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0)
        if use_gpu:
            config.enable_use_gpu(256, 0)
        else:
            config.disable_gpu()
            config.enable_mkldnn()
            config.set_cpu_math_library_num_threads(threads or os.cpu_count() or 1)
        config.disable_glog_info()
        self.predictor = paddle.inference.create_predictor(config)
        self.input_names = list(self.predictor.get_input_names())

    def __call__(self, **arrays):
        """Named int64 arrays [batch, length] -> list of numpy outputs."""
        missing = set(self.input_names) - set(arrays)
        if missing:
            raise ValueError(f"missing inputs {sorted(missing)}: the model takes {self.input_names}")
        for name in self.input_names:
            array = np.ascontiguousarray(arrays[name], dtype="int64")
            handle = self.predictor.get_input_handle(name)
            handle.reshape(array.shape)
            handle.copy_from_cpu(array)
        self.predictor.run()
        return [self.predictor.get_output_handle(name).copy_to_cpu() for name in self.predictor.get_output_names()]
