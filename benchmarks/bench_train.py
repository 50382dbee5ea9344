"""Fine-tuning speed: training examples/s of `paddle_electra.training.finetune.finetune` (paddlenlp Trainer,
Paddle dygraph) in several settings against HF transformers / PyTorch eager on the same model and
data: LTP-tiny + ELECTRA's classification head on ChnSentiCorp, batch 32, max_seq_length 128, the
recipe of benchmarks/finetune_chnsenticorp.py (the HF side is benchmarks/_hf_finetune.py).

Each row is a short training run (`--steps`, no evaluation) in a fresh process; rows are
interleaved over `--reps` repetitions, and a run during whose training loop other processes used
more than `--max-foreign` cores is redone (at most `--tries` runs; one still disturbed then is
shown in brackets and left out of the median). ex/s = examples / wall time of
the training loop (paddlenlp's train_samples_per_second; for HF the same span), first step
included. Ratios are against HF eager with its default threads measured in this same invocation.
Padding: "longest" pads each batch to its longest text (on ChnSentiCorp nearly every batch of 32
holds a text of >= 128 tokens, so this is ~32 x 128 too); "fixed" pads every batch to 128.

Ours, the settings (`--variants`):
  paddle-default   fast_cpu=False, OMP_NUM_THREADS unset (Paddle then uses 1 thread): the old default
  paddle-2threads  fast_cpu=False, OMP_NUM_THREADS=2
  fast             fast_cpu=True, the default: all cores, bias gradients as GEMMs, glibc keeping freed
                   memory, fused C kernels for every Transformer layer (paddle_electra/training/fused_cpu.c)
  fast-no-kernels  fast_cpu=True with PADDLE_ELECTRA_FUSED_KERNELS=0: the same without the fused
                   kernels (the previous default, plus the memory setting)
  fast-mkl-own-choice  fast with MKL_DEBUG_CPU_TYPE set but empty, so that `import paddle_electra`
                   leaves it alone: on AMD CPUs MKL then takes its generic code path (as before
                   paddle_electra set the variable); on Intel CPUs the same as fast
  static-2threads  fast_cpu=False, OMP_NUM_THREADS=2, TrainingArguments(to_static=True)
  fast-onednn      fast_cpu=True with FLAGS_use_mkldnn=1 (Paddle 3.3 dygraph picks no oneDNN kernel for it)
  fast-bf16        fast_cpu=True with TrainingArguments(bf16=True, amp O1) (Paddle's amp_guard turns
                   itself off on CPU: fp32 throughout)

and HF: hf-default (torch's default threads: one a core), hf-2threads.

    # ~10 min on 2 quiet cores (the default rows):
    .venv/bin/python benchmarks/bench_train.py --data CHNSENTICORP_DIR
    # every row:
    V=hf-default,hf-2threads,paddle-default,paddle-2threads,fast,static-2threads,fast-onednn,fast-bf16
    .venv/bin/python benchmarks/bench_train.py --data CHNSENTICORP_DIR --variants $V
Prints a markdown table and, last, one JSON line with every run.
"""

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import finetune_chnsenticorp  # noqa: E402
from _common import (  # noqa: E402
    CLEAN_ENV,
    MAIN_PY,
    QUIET_LIMIT,
    describe_cpu,
    markdown_table,
    need_data,
    ref_python,
    run_worker,
    wait_for_quiet,
)
from finetune_chnsenticorp import DATA_HELP, capture_train, hf_model_dir, measured, paddle_model_dir  # noqa: E402

# its wait_for_benchmarks waits for every benchmarks/bench_* process, this one included: only wait for quiet
finetune_chnsenticorp.wait_for_benchmarks = lambda: wait_for_quiet(
    limit=max(0.3, QUIET_LIMIT), max_wait_s=600
)

WORK = "/tmp/paddle-electra-results/bench_train"
VARIANTS = {  # name: (fast_cpu, extra env, TrainingArguments overrides)
    "paddle-default": (False, {}, {}),
    "paddle-2threads": (False, {"OMP_NUM_THREADS": "2"}, {}),
    "fast": (True, {}, {}),
    "fast-no-kernels": (True, {"PADDLE_ELECTRA_FUSED_KERNELS": "0"}, {}),
    "fast-mkl-own-choice": (
        True,
        {"MKL_DEBUG_CPU_TYPE": ""},
        {},
    ),  # AMD: MKL's generic path (set but empty: left alone)
    "static-2threads": (False, {"OMP_NUM_THREADS": "2"}, {"to_static": True}),
    "fast-onednn": (True, {"FLAGS_use_mkldnn": "1"}, {}),
    "fast-bf16": (True, {}, {"bf16": True, "fp16_opt_level": "O1"}),
}
HF = {"hf-default": 0, "hf-2threads": 2}


def worker(args):
    """One short run of ours in this process."""
    import paddle
    from paddlenlp.trainer import TrainingArguments

    import paddle_electra.training.finetune as ft

    fast_cpu, _, overrides = VARIANTS[args.variant]
    if overrides:  # TrainingArguments fields finetune() does not expose
        original_post_init = TrainingArguments.__post_init__

        def post_init(self):
            for key, value in overrides.items():
                setattr(self, key, value)
            original_post_init(self)

        TrainingArguments.__post_init__ = post_init
    if args.pad_to:
        original_collate = ft.collate

        def collate(rows):
            pad = lambda r, key: r[key] + [0] * (args.pad_to - len(r[key]))  # noqa: E731
            batch = original_collate(
                [
                    dict(r, input_ids=pad(r, "input_ids"), token_type_ids=pad(r, "token_type_ids"))
                    for r in rows
                ]
            )
            mask = paddle.to_tensor(
                [[1] * len(r["input_ids"]) + [0] * (args.pad_to - len(r["input_ids"])) for r in rows]
            )
            return dict(batch, attention_mask=mask)

        ft.collate = collate
    captured = {}
    capture_train(captured)
    ft.finetune(
        "chnsenticorp",
        args.model,
        args.data_dir,
        args.output,
        epochs=1,
        learning_rate=3e-4,
        batch_size=32,
        max_seq_length=128,
        seed=args.seed,
        max_steps=args.steps,
        fast_cpu=fast_cpu,
    )
    print(
        json.dumps(
            {
                "side": args.variant,
                "train_examples_per_s": captured["train_samples_per_second"],
                "train_runtime": captured["train_runtime"],
                "steps": captured["steps"],
                "process_cores": captured["process_cores"],
                "foreign_cores": captured["foreign_cores"],
                "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            }
        )
    )


def run(name, pad_to, rep, args):
    env = dict(CLEAN_ENV)
    env.pop("OMP_NUM_THREADS", None)
    tag = f"{name}-{'fixed' if pad_to else 'longest'}-rep{rep}"
    train_only = os.path.join(WORK, "data")  # train.tsv only: no dev evaluation
    os.makedirs(train_only, exist_ok=True)
    if not os.path.exists(os.path.join(train_only, "train.tsv")):
        os.symlink(
            os.path.abspath(os.path.join(args.data, "train.tsv")), os.path.join(train_only, "train.tsv")
        )
    if name in HF:
        cmd = [
            ref_python(),
            os.path.join(HERE, "_hf_finetune.py"),
            "--model-dir",
            args.hf_model,
            "--train",
            os.path.join(args.data, "train.tsv"),
            "--dev",
            os.path.join(args.data, "dev.tsv"),
            "--seed",
            str(args.seed),
            "--max-steps",
            str(args.steps),
            "--no-eval",
            "--pad-to",
            str(pad_to),
        ]
        if HF[name]:
            cmd += ["--threads", str(HF[name])]
    else:
        env.update(VARIANTS[name][1])
        cmd = [
            MAIN_PY,
            os.path.abspath(__file__),
            "--worker",
            name,
            "--model",
            args.paddle_model,
            "--data-dir",
            train_only,
            "--output",
            os.path.join(WORK, tag),
            "--seed",
            str(args.seed),
            "--steps",
            str(args.steps),
            "--pad-to",
            str(pad_to),
        ]
    try:
        result = measured(cmd, env, os.path.join(WORK, "logs", tag + ".log"), args, tag)
    except RuntimeError as e:  # a setting Paddle cannot train with: reported, not fatal
        print(f"    {tag} failed: {str(e).strip().splitlines()[-1][:300]}", file=sys.stderr, flush=True)
        return {
            "name": name,
            "pad": "fixed" if pad_to else "longest",
            "error": str(e).strip().splitlines()[-1][:300],
        }
    result.update(name=name, pad="fixed" if pad_to else "longest")
    print(f"    {json.dumps(result)}", file=sys.stderr, flush=True)
    return result


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", help=DATA_HELP + " (required)")
    parser.add_argument("--steps", type=int, default=30, help="training steps per run (default 30)")
    parser.add_argument(
        "--reps", type=int, default=2, help="repetitions of every row, interleaved (default 2)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--variants",
        default="hf-default,paddle-default,fast-no-kernels,fast",
        help="rows to run, HF's and ours (default hf-default,paddle-default,fast-no-kernels,fast)",
    )
    parser.add_argument(
        "--fixed-variants",
        default="hf-default,paddle-default,fast",
        help="rows also run with every batch padded to 128 (default hf-default,paddle-default,fast)",
    )
    parser.add_argument(
        "--max-foreign",
        type=float,
        default=0.2,
        help="redo a run when other processes used more cores (default 0.2)",
    )
    parser.add_argument("--tries", type=int, default=3, help="runs at most per measurement (default 3)")
    parser.add_argument(
        "--model",
        dest="paddle_model",
        help="converted LTP-tiny (default ~/.cache/paddle-electra/ltp_tiny_paddle)",
    )
    parser.add_argument(
        "--hf-model", help="LTP-tiny HF dir (default paddle_electra_convert.assets.ltp_tiny_dir())"
    )
    parser.add_argument(
        "--gemm",
        action="store_true",
        help="first time the model's GEMMs: torch, Paddle with and without "
        "MKL_DEBUG_CPU_TYPE=5 (bench_train_step.py's workers)",
    )
    parser.add_argument(
        "--table-from",
        help="print the table of an earlier invocation's output file (its last line) instead of running",
    )
    parser.add_argument("--worker", choices=list(VARIANTS), dest="variant", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    parser.add_argument("--pad-to", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        args.model = args.paddle_model
        return worker(args)

    names = [v for v in args.variants.split(",") if v]
    unknown = [v for v in names if v not in HF and v not in VARIANTS]
    if unknown:
        parser.error(f"unknown setting {unknown[0]}: choose from {', '.join([*HF, *VARIANTS])}")
    plan = [(name, 0) for name in names] + [(name, 128) for name in args.fixed_variants.split(",") if name]
    if not args.table_from:
        need_data(args.data, "--data", DATA_HELP)
        args.paddle_model = args.paddle_model or paddle_model_dir()
        args.hf_model = args.hf_model or hf_model_dir()
    if args.table_from:  # the JSON line that an earlier invocation printed last
        with open(args.table_from, encoding="utf-8") as f:
            runs = json.loads(f.read().strip().splitlines()[-1])
        return print(markdown_table(HEADERS, table(runs, plan, args.max_foreign)))
    started, runs = time.time(), []
    gemms = gemm_table() if args.gemm else None
    for rep in range(args.reps):
        for name, pad_to in plan:
            runs.append(run(name, pad_to, rep, args))
    print(
        "\nFine-tuning speed, LTP-tiny on ChnSentiCorp, batch 32, max_seq_length 128, "
        f"{args.steps} steps per run, "
        f"{args.reps} interleaved repetitions ({(time.time() - started) / 60:.0f} min); "
        f"CPU: {describe_cpu()}\n"
    )
    print(markdown_table(HEADERS, table(runs, plan, args.max_foreign)))
    if gemms:
        print(
            f"\nGEMMs of the model's layers, measured first in the same invocation; CPU: {describe_cpu()}\n"
        )
        print(gemms)
    print(json.dumps(runs))


def gemm_table():
    """benchmarks/bench_train_step.py's GEMM timings (forward + backward at 32 x 128 tokens, 2 threads,
    freed memory kept): torch, Paddle with MKL's own code path choice, Paddle as `import paddle_electra`
    sets it."""
    step = os.path.join(HERE, "bench_train_step.py")
    sides = {
        "torch (reference env)": ([ref_python(), step, "--gemm-worker", "torch"], {}),
        "Paddle, MKL_DEBUG_CPU_TYPE set empty (MKL's own choice)": (
            [MAIN_PY, step, "--gemm-worker", "paddle-kept"],
            {"MKL_DEBUG_CPU_TYPE": ""},
        ),
        "Paddle, as paddle_electra sets it": ([MAIN_PY, step, "--gemm-worker", "paddle-kept"], {}),
    }
    ms = {label: run_worker(cmd, env) for label, (cmd, env) in sides.items()}
    shapes = list(next(iter(ms.values())))
    return markdown_table(
        ["GEMM fwd + bwd (ms), [4096, in] x [in, out]", *shapes],
        [[label, *(f"{ms[label][s]:.2f}" for s in shapes)] for label in ms],
    )


HEADERS = [
    "setting",
    "padding",
    "train ex/s per repetition",
    "median ex/s",
    "/ HF default (same padding)",
    "cores used",
    "other processes' cores",
]


def table(runs, plan, max_foreign):
    """Rows of the summary. A run that other processes still disturbed after its tries is shown in
    brackets and left out of the median."""

    def clean(r):
        return "error" not in r and r["foreign_cores"] <= max_foreign

    rows = []
    for pad in ("longest", "fixed"):
        hf = [
            r["train_examples_per_s"]
            for r in runs
            if r["name"] == "hf-default" and r["pad"] == pad and clean(r)
        ]
        base = statistics.median(hf) if hf else None
        for name, pad_to in plan:
            if ("fixed" if pad_to else "longest") != pad:
                continue
            mine = [r for r in runs if r["name"] == name and r["pad"] == pad]
            errors = [r["error"] for r in mine if "error" in r]
            if errors:
                rows.append([name, pad, "fails: " + errors[0][:120], "", "", "", ""])
                continue
            rates = [r["train_examples_per_s"] for r in mine if clean(r)]
            med = statistics.median(rates) if rates else None
            rows.append(
                [
                    name,
                    pad,
                    " / ".join(
                        f"{r['train_examples_per_s']:.1f}"
                        if clean(r)
                        else f"({r['train_examples_per_s']:.1f})"
                        for r in mine
                    ),
                    f"{med:.1f}" if med else "",
                    f"{med / base:.2f}" if med and base else "",
                    " / ".join(str(r["process_cores"]) for r in mine),
                    " / ".join(str(r["foreign_cores"]) for r in mine),
                ]
            )
    return rows


if __name__ == "__main__":
    main()
