"""Reduced precision on a real task: the speed-up and the accuracy change of precision bf16 (Paddle
Inference, oneDNN bf16) and int8 (onnxruntime, dynamically quantized linear layers) against fp32,
on ChnSentiCorp with the real LTP-tiny model fine-tuned for one epoch.

1. Fine-tune LTP-tiny on the ChnSentiCorp train set (1 epoch, lr 3e-4, batch 32, seed 1), unless
   --model names an already fine-tuned directory (the model is kept in --work for later runs).
2. For each precision, in this process: dev accuracy (1,200 reviews) through
   `paddle_electra.training.finetune.evaluate(..., runtime={"precision": p})`, the share of dev predictions
   equal to fp32's, the largest change of a class probability, and predict throughput (examples/s
   of the whole predict path: tokenization, length-bucketed batches of 32 or 1, the model), the
   median of 3 quiet repetitions (benchmarks/_common.py). The backend is "auto" for fp32.

Run from the repo root (about 12 minutes with the fine-tuning, 3 without, on 2 cores):
    .venv/bin/python benchmarks/precision_chnsenticorp.py --data CHNSENTICORP_DIR [--model DIR]
"""

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import markdown_table, median, need_data, quietly  # noqa: E402
from finetune_chnsenticorp import DATA_HELP  # noqa: E402

TASK = "chnsenticorp"


def fine_tuned(work, data):
    from paddle_electra.training.finetune import finetune
    from paddle_electra_convert.assets import cache_dir, ltp_tiny_dir
    from paddle_electra_convert.hf import convert_hf

    out = os.path.join(work, "ltp-tiny-chnsenticorp")
    if os.path.isfile(os.path.join(out, "config.json")):
        return out
    base = os.path.join(cache_dir(), "ltp_tiny_paddle")
    if not os.path.isdir(base):
        convert_hf(ltp_tiny_dir(), base)
    print(f"fine-tuning LTP-tiny on ChnSentiCorp (1 epoch) -> {out}", file=sys.stderr)
    finetune(TASK, base, data, out, epochs=1, learning_rate=3e-4, batch_size=32, seed=1)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help=DATA_HELP + " (required)")
    ap.add_argument(
        "--model", help="a ChnSentiCorp model from `paddle-electra finetune` (default: fine-tune LTP-tiny)"
    )
    ap.add_argument(
        "--work", default="/tmp/paddle-electra-results/precision", help="where the fine-tuned model is kept"
    )
    ap.add_argument("--reps", type=int, default=3, help="timed repetitions of the dev-set predict")
    args = ap.parse_args()
    need_data(args.data, "--data", DATA_HELP)
    from paddlenlp.utils.log import logger

    logger.set_level("WARNING")
    from paddle_electra.runtime.batching import predict_items
    from paddle_electra.runtime.predictor import Predictor
    from paddle_electra.training.finetune import _predictions, load_finetuned

    model_dir = args.model or fine_tuned(args.work, args.data)
    task, net, tokenizer = load_finetuned(model_dir, TASK)
    dev = task.read(os.path.join(args.data, "dev.tsv"))
    gold = [e.label for e in dev]
    rows, _ = task.encode(dev, tokenizer, 128)
    rows_probs, rows_table = {}, []
    for precision in ("fp32", "bf16", "int8"):
        predictor = Predictor(net, precision=precision)
        logits = np.stack(predict_items(predictor, rows, 32))
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        rows_probs[precision] = probs / probs.sum(-1, keepdims=True)
        speeds = {}
        for batch_size in (32, 1):

            def run():
                start = time.perf_counter()
                _predictions(task, net, tokenizer, dev, batch_size, 128, {"precision": precision})
                return len(dev) / (time.perf_counter() - start)

            _predictions(task, net, tokenizer, dev, batch_size, 128, {"precision": precision})  # warm-up
            speeds[batch_size] = median([quietly(run) for _ in range(args.reps)])
        predicted = [task.labels[int(i)] for i in rows_probs[precision].argmax(-1)]
        rows_table.append((precision, predicted, speeds))
    fp32_pred, fp32_speed = rows_table[0][1], rows_table[0][2]
    table = []
    for precision, predicted, speeds in rows_table:
        acc = np.mean([p == g for p, g in zip(predicted, gold)])
        table.append(
            [
                precision,
                f"{100 * acc:.2f}",
                f"{100 * np.mean([a == b for a, b in zip(predicted, fp32_pred)]):.2f}",
                f"{np.abs(rows_probs[precision] - rows_probs['fp32']).max():.4f}",
                f"{speeds[32]:,.0f} ({speeds[32] / fp32_speed[32]:.2f}x)",
                f"{speeds[1]:,.0f} ({speeds[1] / fp32_speed[1]:.2f}x)",
            ]
        )
    print(f"model: {model_dir}; dev: {len(dev)} reviews; threads: {Predictor(net).threads}")
    print(
        markdown_table(
            [
                "precision",
                "dev accuracy %",
                "same prediction as fp32 %",
                "max |probability change|",
                "predict ex/s, batch 32 (vs fp32)",
                "predict ex/s, batch 1 (vs fp32)",
            ],
            table,
        )
    )


if __name__ == "__main__":
    main()
