"""Continued-pretraining speed on CPU: `paddle_electra.training.pretraining.pretrain` with the fast CPU path
(the default) against `fast_cpu=False` (Paddle's kernels and defaults), each in a fresh process.

LTP-tiny as the discriminator (3 layers, hidden 256) plus a new generator of width 64 sharing its
embeddings, batch 32 x 128, on ChnSentiCorp's training reviews as plain text. Seconds per step are
timed between the data batches of steps 5..N (warm-up excluded); sequences/s = 32 / that.

    .venv/bin/python benchmarks/bench_pretrain.py --data CHNSENTICORP_DIR     # ~2 min on 2 quiet cores
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import MAIN_PY, markdown_table, need_data  # noqa: E402
from finetune_chnsenticorp import DATA_HELP, paddle_model_dir  # noqa: E402


def worker(args):
    import logging

    import paddle_electra.training.pretraining as pretraining

    logging.disable(logging.WARNING)
    starts = []
    batch = pretraining._batch

    def timed_batch(*a, **k):
        starts.append(time.perf_counter())
        return batch(*a, **k)

    pretraining._batch = timed_batch
    with tempfile.TemporaryDirectory() as out:
        pretraining.pretrain(
            [args.corpus],
            out,
            init=args.model,
            steps=args.steps,
            batch_size=32,
            max_seq_length=128,
            save_every=10**9,
            log_every=10**9,
            fast_cpu=args.fast,
        )
    per_step = (starts[-1] - starts[5]) / (len(starts) - 6)
    print(json.dumps({"fast_cpu": args.fast, "s_per_step": per_step}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help=DATA_HELP + " (required; its train.tsv texts are the corpus)")
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--model", help="converted LTP-tiny (default ~/.cache/paddle-electra/ltp_tiny_paddle)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--fast", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    need_data(args.data, "--data", DATA_HELP)
    args.model = args.model or paddle_model_dir()
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        with open(os.path.join(args.data, "train.tsv"), encoding="utf-8") as data:
            f.writelines(line.split("\t", 1)[1] for line in list(data)[1:])
    rows = {}
    for fast in (1, 0):
        out = subprocess.run(
            [
                MAIN_PY,
                os.path.abspath(__file__),
                "--worker",
                "--fast",
                str(fast),
                "--corpus",
                f.name,
                "--model",
                args.model,
                "--steps",
                str(args.steps),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        rows[fast] = json.loads(out.stdout.strip().splitlines()[-1])["s_per_step"]
    os.remove(f.name)
    print(
        markdown_table(
            ["setting", "s / step", "sequences / s", "/ Paddle's defaults"],
            [
                [name, f"{rows[fast]:.2f}", f"{32 / rows[fast]:.1f}", f"{rows[0] / rows[fast]:.2f}"]
                for fast, name in (
                    (0, "fast_cpu=False (Paddle's kernels, 1 thread)"),
                    (1, "default (fast CPU path)"),
                )
            ],
        )
    )


if __name__ == "__main__":
    main()
