"""Our default inference path against Paddle Inference and onnxruntime on paddlenlp's export, all
in ONE process and interleaved, so that machine drift between processes (up to 16 % per cell
between runs of bench_inference.py) cancels out of the ratio "ours / best of PI, ORT".

Sides (random-init weights written by bench_inference.py, same inputs, 2 threads each):
  ours      Predictor(model_dir), backend auto (what predict / hub / pipelines use); its timed
            engine choices from earlier runs are removed first, so it times both engines here
  ours-pi   Predictor(model_dir, backend="paddle-inference")
  ours-ort  Predictor(model_dir, backend="onnxruntime")
  pi, ort   paddlenlp's ElectraModel jit.save'd, under the same engine wrappers (bench_inference.py's peers)
Each round times every side once (`--reps` calls of >= 1 s each, median), in a fixed order, for
`--rounds` rounds; the table gives the median over rounds, tokens/s.

    .venv/bin/python benchmarks/bench_inference_interleaved.py        # ~20 min on 2 quiet cores
"""

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_inference  # noqa: E402
from _common import ARCHS, fresh_dir, markdown_table, median, time_forward  # noqa: E402


def sides(model_dir, export_dir):
    from paddle_electra.runtime.engines import OnnxRuntime, PaddleInference
    from paddle_electra.runtime.predictor import BACKEND_TIMES, Predictor

    forced = {
        name: Predictor(model_dir, backend=backend)
        for name, backend in (("ours-pi", "paddle-inference"), ("ours-ort", "onnxruntime"))
    }
    times = os.path.join(forced["ours-pi"].directory, BACKEND_TIMES)
    if os.path.exists(times):  # auto times the engines in this run, not in an earlier one on the same weights
        os.remove(times)
    ours = {"ours": Predictor(model_dir), **forced}
    peers = {"pi": PaddleInference(export_dir, 2, False, "fp32"), "ort": OnnxRuntime(export_dir, 2, "fp32")}
    no_mask = lambda feed: {k: v for k, v in feed.items() if k != "attention_mask"}  # noqa: E731
    return ours["ours"], {
        **{k: (lambda feed, p=p: p(**feed)[0]) for k, p in ours.items()},
        **{k: (lambda feed, p=p: p(no_mask(feed))[0]) for k, p in peers.items()},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="small,base")
    ap.add_argument("--shapes", default="1x128,8x128,32x128,2x512")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=3, help="timed calls (>= 1 s each) per side and round")
    ap.add_argument("--work", default="/tmp/electra_bench_inference_interleaved")
    args = ap.parse_args()
    from paddlenlp.utils.log import logger

    logger.set_level("WARNING")
    rows = []
    for arch in args.models.split(","):
        d = fresh_dir(os.path.join(args.work, arch))
        bench_inference.write_models(arch, d)
        bench_inference.paddlenlp_export(os.path.join(d, "paddle"), fresh_dir(os.path.join(d, "export")))
        auto, forward = sides(os.path.join(d, "paddle"), os.path.join(d, "export"))
        rng = np.random.default_rng(0)
        for shape in args.shapes.split(","):
            b, length = map(int, shape.split("x"))
            feed = {
                "input_ids": rng.integers(1, ARCHS[arch]["vocab_size"], (b, length)),
                "token_type_ids": np.zeros((b, length), np.int64),
                "attention_mask": np.ones((b, length), np.int64),
            }
            for f in forward.values():  # warm-up (export, engine start)
                f(feed)
            rates = {k: [] for k in forward}
            for _ in range(args.rounds):
                for name, f in forward.items():
                    per_s, _ = time_forward(lambda f=f: f(feed), b * length, args.reps)
                    rates[name].append(median(per_s))
            tok = {k: median(v) for k, v in rates.items()}
            best = max(tok["pi"], tok["ort"])
            chose = {"onnxruntime": "ORT", "paddle-inference": "PI"}[auto.backend_for(b, length)]
            rows.append(
                [
                    arch,
                    f"{b} x {length}",
                    chose,
                    *(f"{tok[k]:,.0f}" for k in forward),
                    f"{tok['ours'] / best:.2f}",
                    f"{tok['ours-pi'] / tok['pi']:.2f}",
                    f"{tok['ours-ort'] / tok['ort']:.2f}",
                ]
            )
            print(rows[-1], file=sys.stderr, flush=True)
    print(
        markdown_table(
            [
                "model",
                "batch x tokens",
                "auto chose",
                "ours (auto)",
                "ours, PI",
                "ours, ORT",
                "PI (paddlenlp export)",
                "ORT (paddlenlp export)",
                "ours / best of PI, ORT",
                "ours-PI / PI",
                "ours-ORT / ORT",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
