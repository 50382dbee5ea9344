"""GPU speed of ours against HF transformers (PyTorch eager) on the same GPU, in one run, with ratios.

- fine-tuning: training examples/s of ELECTRA's sequence-classification model (forward, backward,
  AdamW step) on batches of 32 x 128 random token ids: fp32, and mixed precision O1 (ours:
  `pretraining.MixedPrecision`, Paddle AMP with loss scaling for fp16; HF: torch.autocast with
  torch's GradScaler for fp16)
- inference: tokens/s of the same model in eval mode for batches of 1 x 128 and 32 x 128: ours
  through `Predictor` (Paddle Inference on the GPU, fp32 and its fp16 kernels), HF eager under
  torch.inference_mode (fp32, and fp16 with model.half())

Models: the chinese-electra-small and -base architectures (benchmarks/_common.py ARCHS) with random
weights (speed only). Each side runs in its own process: ours with this python, HF with
$PADDLE_ELECTRA_REF_PYTHON (an environment with torch + transformers, e.g. the GPU machine's own
python3); without it only our side runs. Timings: `--steps` timed steps or calls after
`--warmup`, device synchronised before the clock stops.

    python benchmarks/bench_gpu.py                       # on a GPU: small and base (~3 min on one H100)
    python benchmarks/bench_gpu.py --smoke               # CPU smoke check: a 2-layer model, fp32, a few steps

Prints a markdown table (ours / HF per row) and writes bench_gpu.json into --out (default $OUT, if set).
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import ARCHS, CLEAN_ENV, MAIN_PY, REF_PYTHON_ENV, markdown_table  # noqa: E402

SMOKE_ARCH = dict(
    ARCHS["small"],
    vocab_size=1000,
    embedding_size=32,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=2,
)
TRAIN_SHAPE, INFER_SHAPES = (32, 128), ((1, 128), (32, 128))
SMOKE_TRAIN_SHAPE, SMOKE_INFER_SHAPES = (4, 16), ((1, 16), (4, 16))


def _inputs(vocab, batch, length, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, size=(batch, length), dtype="int64")
    return {
        "input_ids": ids,
        "token_type_ids": np.zeros_like(ids),
        "attention_mask": np.ones_like(ids),
    }, rng.integers(0, 2, size=(batch,), dtype="int64")


def _timed(fn, warmup, steps, sync):
    for _ in range(warmup):
        fn()
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    sync()
    return (time.perf_counter() - start) / steps


def ours(args, arch):
    import paddle

    from paddle_electra import ElectraConfig, ElectraForSequenceClassification
    from paddle_electra.runtime.predictor import Predictor
    from paddle_electra.training.pretraining import MixedPrecision

    gpu = args.device == "gpu"
    paddle.set_device("gpu:0" if gpu else "cpu")
    sync = paddle.device.synchronize if gpu else (lambda: None)
    paddle.seed(0)
    model = ElectraForSequenceClassification(ElectraConfig(**arch, num_labels=2))
    rows = []
    batch, length = args.train_shape
    feed, labels = _inputs(arch["vocab_size"], batch, length)
    tensors = {k: paddle.to_tensor(v) for k, v in feed.items()}
    labels = paddle.to_tensor(labels)
    for precision in args.precisions:
        amp = MixedPrecision({"fp32": None, "fp16": "float16", "bf16": "bfloat16"}[precision], "O1")
        optimizer = paddle.optimizer.AdamW(learning_rate=1e-5, parameters=model.parameters())
        model.train()

        def step():
            with amp.autocast():
                loss, _ = model(**tensors, labels=labels)
            amp.step(loss, optimizer)

        seconds = _timed(step, args.warmup, args.steps, sync)
        rows.append(
            {
                "task": "fine-tuning",
                "precision": precision,
                "shape": f"{batch}x{length}",
                "unit": "examples/s",
                "rate": batch / seconds,
            }
        )
    model.eval()
    for precision in [p for p in args.precisions if p != "bf16"]:  # Paddle Inference on GPU: fp32 and fp16
        predictor = Predictor(model, backend="paddle-inference", precision=precision, device=args.device)
        for batch, length in args.infer_shapes:
            feed, _ = _inputs(arch["vocab_size"], batch, length, seed=1)
            seconds = _timed(
                lambda: predictor(**feed), args.warmup, args.steps, lambda: None
            )  # outputs copied to host
            rows.append(
                {
                    "task": "inference",
                    "precision": precision,
                    "shape": f"{batch}x{length}",
                    "unit": "tokens/s",
                    "rate": batch * length / seconds,
                }
            )
    return rows


def hf(args, arch):
    import torch
    from transformers import ElectraConfig, ElectraForSequenceClassification

    device = torch.device("cuda" if args.device == "gpu" else "cpu")
    sync = torch.cuda.synchronize if args.device == "gpu" else (lambda: None)
    torch.manual_seed(0)
    model = ElectraForSequenceClassification(ElectraConfig(**arch, num_labels=2)).to(device)
    rows = []
    batch, length = args.train_shape
    feed, labels = _inputs(arch["vocab_size"], batch, length)
    tensors = {k: torch.from_numpy(v).to(device) for k, v in feed.items()}
    labels = torch.from_numpy(labels).to(device)
    dtypes = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}
    for precision in args.precisions:
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
        scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
        model.train()

        def step():
            with torch.autocast(device.type, dtype=dtypes[precision], enabled=dtypes[precision] is not None):
                loss = model(**tensors, labels=labels).loss
            if scaler is None:
                loss.backward()
                optimizer.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            optimizer.zero_grad(set_to_none=True)

        seconds = _timed(step, args.warmup, args.steps, sync)
        rows.append(
            {
                "task": "fine-tuning",
                "precision": precision,
                "shape": f"{batch}x{length}",
                "unit": "examples/s",
                "rate": batch / seconds,
            }
        )
    model.eval()
    for precision in [p for p in args.precisions if p != "bf16"]:
        if precision == "fp16":
            model.half()
        for batch, length in args.infer_shapes:
            feed, _ = _inputs(arch["vocab_size"], batch, length, seed=1)
            tensors = {k: torch.from_numpy(v).to(device) for k, v in feed.items()}

            def call():
                with torch.inference_mode():
                    return (
                        model(**tensors).logits.float().cpu().numpy()
                    )  # to host, as Predictor returns numpy

            seconds = _timed(call, args.warmup, args.steps, sync)
            rows.append(
                {
                    "task": "inference",
                    "precision": precision,
                    "shape": f"{batch}x{length}",
                    "unit": "tokens/s",
                    "rate": batch * length / seconds,
                }
            )
    return rows


def _side(python, side, args, size):
    command = [
        python,
        os.path.abspath(__file__),
        "--worker",
        side,
        "--sizes",
        size,
        "--device",
        args.device,
        "--precisions",
        ",".join(args.precisions),
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
    ]
    if args.smoke:
        command.append("--smoke")
    result = subprocess.run(command, capture_output=True, text=True, env=CLEAN_ENV)
    if result.returncode != 0:
        print(f"{side} {size} failed:\n{result.stderr[-3000:]}", file=sys.stderr)
        return []
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--sizes", default="small,base", help="comma-separated architectures (default small,base)"
    )
    ap.add_argument(
        "--precisions",
        default=None,
        help="comma-separated of fp32,fp16,bf16 (default all on GPU, fp32 on CPU)",
    )
    ap.add_argument("--device", choices=["gpu", "cpu"], help="default: gpu, cpu with --smoke")
    ap.add_argument("--steps", type=int, help="timed steps / calls per row (default 30; 3 with --smoke)")
    ap.add_argument("--warmup", type=int, help="untimed steps / calls first (default 5; 1 with --smoke)")
    ap.add_argument(
        "--smoke", action="store_true", help="tiny model and shapes, CPU, fp32: checks the script runs"
    )
    ap.add_argument("--out", default=os.environ.get("OUT"), help="write bench_gpu.json here (default $OUT)")
    ap.add_argument("--worker", choices=["ours", "hf"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.device = args.device or ("cpu" if args.smoke else "gpu")
    args.precisions = (args.precisions or ("fp32" if args.device == "cpu" else "fp32,fp16,bf16")).split(",")
    args.steps = args.steps or (3 if args.smoke else 30)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.smoke else 5)
    args.train_shape, args.infer_shapes = (
        (SMOKE_TRAIN_SHAPE, SMOKE_INFER_SHAPES) if args.smoke else (TRAIN_SHAPE, INFER_SHAPES)
    )
    if args.worker:
        arch = SMOKE_ARCH if args.smoke else ARCHS[args.sizes]
        print(json.dumps((ours if args.worker == "ours" else hf)(args, arch)))
        return
    ref = os.environ.get(REF_PYTHON_ENV)
    if not ref:
        print(
            f"{REF_PYTHON_ENV} is not set: measuring ours only "
            "(point it at a python with torch + transformers for HF)",
            file=sys.stderr,
        )
    results, table, failures = [], [], 0
    for size in args.sizes.split(","):
        mine = _side(MAIN_PY, "ours", args, size)
        theirs = _side(ref, "hf", args, size) if ref else []
        failures += (not mine) + (bool(ref) and not theirs)
        peers = {(r["task"], r["precision"], r["shape"]): r["rate"] for r in theirs}
        for row in mine:
            peer = peers.get((row["task"], row["precision"], row["shape"]))
            results.append(dict(row, size="smoke" if args.smoke else size, hf_rate=peer))
            table.append(
                [
                    results[-1]["size"],
                    row["task"],
                    row["precision"],
                    row["shape"],
                    f"{row['rate']:.1f} {row['unit']}",
                    f"{peer:.1f}" if peer else "-",
                    f"{row['rate'] / peer:.2f}" if peer else "-",
                ]
            )
    print(
        markdown_table(
            [
                "model",
                "task",
                "precision",
                "batch x length",
                "ours",
                "HF transformers (PyTorch)",
                "ours / HF",
            ],
            table,
        )
    )
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "bench_gpu.json"), "w") as f:
            json.dump({"device": args.device, "steps": args.steps, "rows": results}, f, indent=1)
    if failures:
        sys.exit(f"error: {failures} side(s) failed (their errors are above)")


if __name__ == "__main__":
    main()
