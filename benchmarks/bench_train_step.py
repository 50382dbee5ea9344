"""Where a training step's time goes on CPU, and the GEMMs against torch's. Each row is a fresh
process with 2 math threads.

1. GEMMs of LTP-tiny's layers at 32 x 128 tokens, forward + backward (x @ W, dx and dW), median
   of 15 calls after 4 warm-ups: Paddle without and with `fast_cpu.keep_freed_memory()` (glibc
   keeping freed memory instead of page-faulting it in again), and torch (reference env).
2. One training step of the LTP-tiny classifier (32 x 128 random ids, AdamW, gradient clipping at
   global norm 1.0), split into forward, backward and optimizer, and minor page faults (medians of
   steps 4-10): Paddle's
   kernels at 2 threads (`fast_cpu=False`, threads set) and the fast path (`fast_cpu.fast_training`).

    .venv/bin/python benchmarks/bench_train_step.py      # ~2 min on 2 quiet cores
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import MAIN_PY, markdown_table, median, paddle_classifier_step, ref_python, run_worker  # noqa: E402

GEMMS = [(256, 256), (256, 768), (256, 1024), (1024, 256)]  # (in, out); 256 -> 768: q, k, v in one GEMM


def _timed(fn, calls=15, warmup=4):
    times = []
    for _ in range(warmup + calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * median(times[warmup:])


def gemm_worker(side):
    if side == "torch":
        import torch

        torch.set_num_threads(2)

        def gemm(k, n):
            x, w, dy = (
                torch.randn(32, 128, k, requires_grad=True),
                torch.randn(k, n, requires_grad=True),
                torch.randn(32, 128, n),
            )
            return lambda: (x @ w).backward(dy)
    else:
        import paddle

        from paddle_electra.training.fast_cpu import keep_freed_memory, use_all_cores

        use_all_cores(2)
        if side == "paddle-kept":
            keep_freed_memory()

        def gemm(k, n):
            x, w, dy = paddle.randn([32, 128, k]), paddle.randn([k, n]), paddle.randn([32, 128, n])
            x.stop_gradient = w.stop_gradient = False
            return lambda: paddle.matmul(x, w).backward(dy)

    print(json.dumps({f"{k}x{n}": _timed(gemm(k, n)) for k, n in GEMMS}))


def step_worker(side, model_dir):
    import contextlib
    import resource

    from paddle_electra.training.fast_cpu import fast_training, use_all_cores

    model, optimizer, ids, labels = paddle_classifier_step(model_dir)
    use_all_cores(2)
    parts = {"forward": [], "backward": [], "optimizer": []}
    faults = []
    with fast_training(model, 2) if side == "fast" else contextlib.nullcontext():
        for step in range(10):
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t0 = time.perf_counter()
            loss = model(ids, labels=labels)[0]
            t1 = time.perf_counter()
            loss.backward()
            t2 = time.perf_counter()
            optimizer.step()
            optimizer.clear_grad()
            t3 = time.perf_counter()
            if step >= 3:
                for name, t in zip(parts, (t1 - t0, t2 - t1, t3 - t2)):
                    parts[name].append(1000 * t)
                faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
    print(
        json.dumps(
            {**{name: median(values) for name, values in parts.items()}, "page_faults": median(faults)}
        )
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="converted LTP-tiny (default ~/.cache/paddle-electra/ltp_tiny_paddle)")
    ap.add_argument("--gemm-worker", help=argparse.SUPPRESS)
    ap.add_argument("--step-worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.gemm_worker:
        return gemm_worker(args.gemm_worker)
    if args.step_worker:
        return step_worker(args.step_worker, args.model)
    from finetune_chnsenticorp import paddle_model_dir

    model = args.model or paddle_model_dir()
    me = os.path.abspath(__file__)
    gemm = {
        side: run_worker([ref_python() if side == "torch" else MAIN_PY, me, "--gemm-worker", side])
        for side in ("paddle", "paddle-kept", "torch")
    }
    print(
        markdown_table(
            [
                "GEMM fwd + bwd, [4096, in] x [in, out]",
                "Paddle (ms)",
                "Paddle, freed memory kept (ms)",
                "torch (ms)",
                "kept / torch",
            ],
            [
                [
                    shape,
                    f"{gemm['paddle'][shape]:.2f}",
                    f"{gemm['paddle-kept'][shape]:.2f}",
                    f"{gemm['torch'][shape]:.2f}",
                    f"{gemm['paddle-kept'][shape] / gemm['torch'][shape]:.2f}",
                ]
                for shape in gemm["torch"]
            ],
        )
    )
    steps = {
        side: run_worker([MAIN_PY, me, "--step-worker", side, "--model", model]) for side in ("plain", "fast")
    }
    print()
    parts = ("forward", "backward", "optimizer")
    print(
        markdown_table(
            ["training step (ms)", *parts, "total", "examples/s", "page faults / step"],
            [
                [
                    label,
                    *(f"{steps[side][k]:.0f}" for k in parts),
                    f"{sum(steps[side][k] for k in parts):.0f}",
                    f"{32000 / sum(steps[side][k] for k in parts):.1f}",
                    f"{steps[side]['page_faults']:.0f}",
                ]
                for side, label in (("plain", "Paddle's kernels, 2 threads"), ("fast", "fast path (default)"))
            ],
        )
    )


if __name__ == "__main__":
    main()
