"""SMP2020-EWECT (Weibo posts about the epidemic, six emotions, imbalanced): LTP-tiny fine-tuned
through our generic command line against an HF transformers / PyTorch peer with the same recipe,
interleaved in the same run, several seeds.

Data: a directory with train.csv, dev.csv and test.csv (header `text,label`; labels angry, fear,
happy, neutral, sad, surprise; "surprise" is 2% of the rows).

Ours: `paddle-electra finetune --task text-classification --train-file train.csv --dev-file dev.csv
--metric-for-best-model macro_f1 ...` (the command's own code, run in a worker process so that the
Trainer's training time can be read), then `paddle-electra evaluate --data-file test.csv`.
The peer: benchmarks/_hf_finetune.py (ElectraModel + the same classification head, the same
optimizer, schedule and batches; see its docstring) with `--select-best macro_f1`: both sides
evaluate on dev after every epoch and keep the best epoch by dev macro-F1, then score test.
Recipe (both): `--epochs` (1, as the ChnSentiCorp comparison), lr 3e-4, batch 32, max_seq_length 128,
warm-up 10%, weight decay 0.01.
Training speed: training examples / the training loop's wall time (the Trainer's
train_samples_per_second; the per-epoch dev evaluation, and on our side the checkpoint saves,
fall inside it on both sides). Each run reports the cores it used and those other processes used.

    export PADDLE_ELECTRA_REF_PYTHON=REF_ENV/bin/python
    .venv/bin/python benchmarks/finetune_smp2020_ewect.py --data SMP_DIR

Prints a markdown table and, last, one JSON line with every number.
"""

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import CLEAN_ENV, MAIN_PY, markdown_table, need_data, ref_python  # noqa: E402
from finetune_chnsenticorp import (  # noqa: E402
    add_recipe_options,
    capture_train,
    hf_model_dir,
    paddle_model_dir,
    run_json,
    run_seeds,
)

DATA_HELP = "the SMP2020-EWECT directory: train.csv, dev.csv, test.csv (header text,label)"
WORK = "/tmp/paddle-electra-results/smp2020_ewect"


def paddle_worker(args):
    """Ours, through the command line's own entry point, in this process."""
    from paddle_electra.cli import main as cli

    captured = {}
    capture_train(captured)
    files = {split: os.path.join(args.data, f"{split}.csv") for split in ("train", "dev", "test")}
    argv = [
        "finetune",
        "--task",
        "text-classification",
        "--model",
        args.model,
        "--train-file",
        files["train"],
        "--dev-file",
        files["dev"],
        "--output",
        args.output,
        "--epochs",
        str(args.epochs),
        "--learning-rate",
        str(args.learning_rate),
        "--batch-size",
        str(args.batch_size),
        "--max-seq-length",
        str(args.max_seq_length),
        "--seed",
        str(args.seed),
        "--metric-for-best-model",
        args.metric,
    ]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        if cli(argv) != 0:
            raise SystemExit(f"paddle-electra {' '.join(argv)} failed")
        dev = json.loads(out.getvalue().strip().splitlines()[-1])
        if cli(["evaluate", "--model", args.output, "--data-file", files["test"]]) != 0:
            raise SystemExit("paddle-electra evaluate failed")
    test = json.loads(out.getvalue().strip().splitlines()[-1])
    print(
        json.dumps(
            {
                "side": "paddle",
                "seed": args.seed,
                "command": "paddle-electra " + " ".join(argv),
                "accuracy": dev["accuracy"],
                "macro_f1": dev["macro_f1"],
                "test_accuracy": test["accuracy"],
                "test_macro_f1": test["macro_f1"],
                "steps": captured["steps"],
                "train_runtime": captured["train_runtime"],
                "train_examples_per_s": captured["train_samples_per_second"],
                "process_cores": captured["process_cores"],
                "foreign_cores": captured["foreign_cores"],
                "loss_every_50_steps": captured["loss_every_50_steps"],
            }
        )
    )


def run_side(side, seed, args):
    env = dict(CLEAN_ENV)
    env.pop("OMP_NUM_THREADS", None)  # each framework's own default threading
    recipe = [
        "--seed",
        str(seed),
        "--epochs",
        str(args.epochs),
        "--learning-rate",
        str(args.learning_rate),
        "--batch-size",
        str(args.batch_size),
        "--max-seq-length",
        str(args.max_seq_length),
    ]
    name = f"{side}-seed{seed}-ep{args.epochs:g}"
    if side == "paddle":
        cmd = [
            MAIN_PY,
            os.path.abspath(__file__),
            "--worker",
            "--model",
            args.paddle_model,
            "--data",
            args.data,
            "--output",
            os.path.join(WORK, name),
            "--metric",
            args.metric,
        ] + recipe
    else:
        cmd = [
            ref_python(),
            os.path.join(HERE, "_hf_finetune.py"),
            "--model-dir",
            args.hf_model,
            "--select-best",
            args.metric,
        ]
        cmd += [
            f"--{split}={os.path.join(args.data, split + '.csv')}" for split in ("train", "dev", "test")
        ] + recipe
    print(f"[{time.strftime('%H:%M:%S')}] {name} ...", file=sys.stderr, flush=True)
    result = run_json(cmd, env, os.path.join(WORK, "logs", name + ".log"))
    print(
        f"    {json.dumps({k: v for k, v in result.items() if k != 'loss_every_50_steps'})}",
        file=sys.stderr,
        flush=True,
    )
    return result


def mean_sd(values, scale=100.0, digits=2):
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{scale * statistics.mean(values):.{digits}f} ± {scale * sd:.{digits}f}"


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", help=DATA_HELP + " (required)")
    add_recipe_options(parser, epochs=1.0)
    parser.add_argument(
        "--metric",
        default="macro_f1",
        choices=["macro_f1", "accuracy"],
        help="dev metric that picks the kept epoch on both sides (default macro_f1)",
    )
    parser.add_argument(
        "--model",
        dest="paddle_model",
        help="converted LTP-tiny (default ~/.cache/paddle-electra/ltp_tiny_paddle)",
    )
    parser.add_argument(
        "--hf-model", help="LTP-tiny HF dir (default paddle_electra_convert.assets.ltp_tiny_dir())"
    )
    parser.add_argument(
        "--table-from",
        nargs="+",
        metavar="FILE",
        help="print the table of earlier invocations (their output files; e.g. one per seed run in parallel)",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.table_from:
        return table(*_merge(args.table_from))
    need_data(args.data, "--data", DATA_HELP)
    if args.worker:
        args.model = args.paddle_model
        return paddle_worker(args)
    ref_python()  # fails early when the reference environment is not set
    args.paddle_model = args.paddle_model or paddle_model_dir()
    args.hf_model = args.hf_model or hf_model_dir()
    seeds = [int(s) for s in args.seeds.split(",")]
    started = time.time()
    runs = run_seeds(seeds, lambda side, seed: run_side(side, seed, args))

    summary = {
        "task": "smp2020_ewect",
        "epochs": args.epochs,
        "learning_rate": args.learning_rate,
        "batch_size": args.batch_size,
        "max_seq_length": args.max_seq_length,
        "metric": args.metric,
        "seeds": seeds,
        "runs": runs,
        "wall_s": round(time.time() - started),
    }
    table(summary)


def _merge(paths):
    """The JSON summaries (last lines) of several invocations, as one."""
    parts = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            parts.append(json.loads([line for line in f if line.startswith("{")][-1]))
    merged = dict(parts[0], seeds=[s for p in parts for s in p["seeds"]], wall_s=[p["wall_s"] for p in parts])
    merged["runs"] = {side: [r for p in parts for r in p["runs"][side]] for side in ("paddle", "hf")}
    return (merged,)


def table(summary):
    runs, seeds = summary["runs"], summary["seeds"]
    rows = []
    for i, seed in enumerate(seeds):
        p, h = runs["paddle"][i], runs["hf"][i]
        rows.append(
            [
                seed,
                f"{100 * p['test_accuracy']:.2f}",
                f"{100 * h['test_accuracy']:.2f}",
                f"{100 * p['test_macro_f1']:.2f}",
                f"{100 * h['test_macro_f1']:.2f}",
                f"{p['train_examples_per_s']:.1f}",
                f"{h['train_examples_per_s']:.1f}",
                f"{p['process_cores']} / {h['process_cores']}",
                f"{p['foreign_cores']} / {h['foreign_cores']}",
            ]
        )
    col = {
        side: {
            k: [r[k] for r in runs[side]] for k in ("test_accuracy", "test_macro_f1", "train_examples_per_s")
        }
        for side in runs
    }
    rows.append(
        [
            "mean ± sd",
            mean_sd(col["paddle"]["test_accuracy"]),
            mean_sd(col["hf"]["test_accuracy"]),
            mean_sd(col["paddle"]["test_macro_f1"]),
            mean_sd(col["hf"]["test_macro_f1"]),
            mean_sd(col["paddle"]["train_examples_per_s"], 1, 1),
            mean_sd(col["hf"]["train_examples_per_s"], 1, 1),
            "",
            "",
        ]
    )
    print(
        f"\nSMP2020-EWECT test (%), LTP-tiny, {summary['epochs']:g} epochs, "
        f"lr {summary['learning_rate']:g}, batch "
        f"{summary['batch_size']}, max_seq_length {summary['max_seq_length']}, "
        f"best epoch by dev {summary['metric']}\n"
    )
    print(
        markdown_table(
            [
                "seed",
                "ours acc",
                "HF acc",
                "ours macro-F1",
                "HF macro-F1",
                "ours train ex/s",
                "HF train ex/s",
                "cores used ours / HF",
                "other processes' cores ours / HF",
            ],
            rows,
        )
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
