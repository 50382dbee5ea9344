"""fp32 GEMM speed of each library on this CPU, per CPU-second: numpy, torch (reference env), Paddle
with MKL's own code path choice (MKL_DEBUG_CPU_TYPE set but empty, which `import paddle_electra`
leaves alone), the same with FLAGS_use_mkldnn=1 (whether dygraph's matmul would take oneDNN), and
Paddle as `import paddle_electra` sets it (MKL_DEBUG_CPU_TYPE=5 on AMD CPUs).

One thread, an N x N by N x N matmul (default 1024), median over 15 calls after 3 warm-ups, timed
in CPU time of the process (`time.process_time`), so that other jobs on a shared machine slow the
wall time but hardly the figure. Each side runs in a fresh process, sides interleaved over --reps.

    $PYTHON benchmarks/bench_gemm.py [--n 1024] [--reps 2]
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import MAIN_PY, describe_cpu, median, ref_python, run_worker, runs_table, with_foreign_cores  # noqa: E402

SIDES = {  # name: (label, python: "main" or "ref", environment)
    "numpy": (
        "numpy (its BLAS)",
        "main",
        {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
    ),
    "torch": ("torch (reference env)", "ref", {}),
    "paddle-own-choice": (
        "Paddle, MKL_DEBUG_CPU_TYPE set empty (MKL's own choice)",
        "main",
        {"MKL_DEBUG_CPU_TYPE": ""},
    ),
    "paddle-onednn-flag": (
        "Paddle, MKL's own choice, FLAGS_use_mkldnn=1 (the oneDNN route?)",
        "main",
        {"MKL_DEBUG_CPU_TYPE": "", "FLAGS_use_mkldnn": "1"},
    ),
    "paddle": ("Paddle after `import paddle_electra` (the default)", "main", {}),
}


def worker(side, n):
    if side == "torch":
        import torch

        torch.set_num_threads(1)
        a, b = torch.randn(n, n), torch.randn(n, n)
        mm = lambda: torch.mm(a, b)  # noqa: E731
    elif side == "numpy":
        import numpy as np

        a, b = np.random.randn(n, n).astype("float32"), np.random.randn(n, n).astype("float32")
        mm = lambda: a @ b  # noqa: E731
    else:
        import paddle

        import paddle_electra  # noqa: F401  (first: it decides MKL_DEBUG_CPU_TYPE before MKL loads)

        paddle.base.core.set_num_threads(1)
        a, b = paddle.randn([n, n]), paddle.randn([n, n])
        mm = lambda: paddle.matmul(a, b).numpy()  # noqa: E731
    times = []
    for i in range(18):
        start = time.process_time()
        mm()
        if i >= 3:
            times.append(time.process_time() - start)
    print(
        json.dumps(
            {
                "gflop_per_cpu_s": 2 * n**3 / median(times) / 1e9,
                "MKL_DEBUG_CPU_TYPE": os.environ.get("MKL_DEBUG_CPU_TYPE"),
            }
        )
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.n)
    runs = {side: [] for side in SIDES}
    for _ in range(args.reps):
        for side, (_, python, env) in SIDES.items():
            cmd = [
                ref_python() if python == "ref" else MAIN_PY,
                os.path.abspath(__file__),
                "--worker",
                side,
                "--n",
                str(args.n),
            ]
            result, foreign = with_foreign_cores(lambda: run_worker(cmd, env))
            runs[side].append((result["gflop_per_cpu_s"], foreign))
    print(
        f"fp32 GEMM {args.n} x {args.n} x {args.n}, 1 thread, GFLOP per CPU-second "
        f"(median of 15 calls; runs: {args.reps}); "
        f"CPU: {describe_cpu()}\n"
    )
    print(
        runs_table(
            {side: label for side, (label, _, _) in SIDES.items()}, runs, "GFLOP per CPU-second", "torch"
        )
    )
    print(json.dumps(runs))


if __name__ == "__main__":
    main()
