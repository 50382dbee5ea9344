"""Training-step cost in CPU time, for a machine that other jobs keep busy: LTP-tiny + a
classification head, 32 x 128 random ids, AdamW with clipping at global norm 1.0, dropout on, one
math thread, median CPU seconds (`time.process_time`) of steps 4-10. Examples per CPU-second =
32 / that. Other jobs stretch wall time but hardly CPU time, so the ratios hold where wall-clock
benchmarks (bench_train.py) cannot be run quietly.

Sides, each in a fresh process, interleaved over --reps: HF transformers' ElectraModel + linear
head in PyTorch eager (reference env); ours (`fast_cpu.fast_training`, the fine-tuning default)
with MKL's own code path choice (MKL_DEBUG_CPU_TYPE set but empty); ours as `import paddle_electra`
sets it (MKL_DEBUG_CPU_TYPE=5 on AMD CPUs).

    $PYTHON benchmarks/bench_step_cpu.py [--reps 2]
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import (  # noqa: E402
    MAIN_PY,
    describe_cpu,
    median,
    paddle_classifier_step,
    ref_python,
    run_worker,
    runs_table,
    with_foreign_cores,
)

SIDES = {  # name: (label, python, environment)
    "torch": ("HF transformers, PyTorch eager (reference env)", "ref", {}),
    "paddle-own-choice": (
        "ours (fast path), MKL_DEBUG_CPU_TYPE set empty (MKL's own choice)",
        "main",
        {"MKL_DEBUG_CPU_TYPE": ""},
    ),
    "paddle": ("ours (fast path), as `import paddle_electra` sets it (the default)", "main", {}),
}
STEPS, SKIP = 10, 3


def _cpu_steps(step):
    times = []
    for i in range(STEPS):
        start = time.process_time()
        step()
        if i >= SKIP:
            times.append(time.process_time() - start)
    return median(times)


def torch_worker(model_dir):
    import numpy as np
    import torch
    from torch import nn
    from transformers import ElectraConfig, ElectraModel

    torch.set_num_threads(1)
    torch.manual_seed(0)
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        raw = json.load(f)
    config = ElectraConfig(**raw.get("model", {}).get("backbone", {}).get("config", raw))
    encoder = ElectraModel(config)
    state = torch.load(os.path.join(model_dir, "pytorch_model.bin"), map_location="cpu", weights_only=True)
    encoder.load_state_dict(
        {k[len("backbone.") :]: v for k, v in state.items() if k.startswith("backbone.")}, strict=False
    )
    head, dropout = nn.Linear(config.hidden_size, 2), nn.Dropout(config.hidden_dropout_prob)
    params = list(encoder.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    rng = np.random.RandomState(0)
    ids = torch.tensor(rng.randint(100, 21000, (32, 128)))
    labels = torch.tensor(rng.randint(0, 2, (32,)))
    encoder.train()

    def step():
        logits = head(dropout(encoder(input_ids=ids, attention_mask=torch.ones_like(ids))[0][:, 0]))
        nn.functional.cross_entropy(logits, labels).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad()

    print(json.dumps({"cpu_s_per_step": _cpu_steps(step)}))


def paddle_worker(model_dir):
    import paddle

    import paddle_electra  # noqa: F401  (first: it decides MKL_DEBUG_CPU_TYPE before MKL loads)
    from paddle_electra.training.fast_cpu import fast_training

    model, optimizer, ids, labels = paddle_classifier_step(model_dir)

    def step():
        loss = model(ids, attention_mask=paddle.ones_like(ids), labels=labels)[0]
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()

    with fast_training(model, 1):
        cpu_s = _cpu_steps(step)
    print(json.dumps({"cpu_s_per_step": cpu_s, "MKL_DEBUG_CPU_TYPE": os.environ.get("MKL_DEBUG_CPU_TYPE")}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--model", help="converted LTP-tiny (default: converted into the cache)")
    ap.add_argument("--hf-model", help="LTP-tiny HF directory (default: fetched into the cache)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker == "torch":
        return torch_worker(args.hf_model)
    if args.worker:
        return paddle_worker(args.model)
    from finetune_chnsenticorp import hf_model_dir, paddle_model_dir

    model, hf_model = args.model or paddle_model_dir(), args.hf_model or hf_model_dir()
    me = os.path.abspath(__file__)
    runs = {side: [] for side in SIDES}
    for _ in range(args.reps):
        for side, (_, python, env) in SIDES.items():
            cmd = (
                [ref_python(), me, "--worker", "torch", "--hf-model", hf_model]
                if python == "ref"
                else [MAIN_PY, me, "--worker", side, "--model", model]
            )
            result, foreign = with_foreign_cores(lambda: run_worker(cmd, env))
            runs[side].append((32 / result["cpu_s_per_step"], foreign))
            print(
                f"{side}: {runs[side][-1][0]:.1f} examples per CPU-second, "
                f"other processes {foreign:.2f} cores",
                file=sys.stderr,
                flush=True,
            )
    print(
        f"Training step, LTP-tiny classifier, 32 x 128, 1 thread, examples per CPU-second (median of steps "
        f"{SKIP + 1}-{STEPS}); CPU: {describe_cpu()}\n"
    )
    print(
        runs_table(
            {side: label for side, (label, _, _) in SIDES.items()}, runs, "examples per CPU-second", "torch"
        )
    )
    print(json.dumps(runs))


if __name__ == "__main__":
    main()
