"""CPU inference throughput of the ELECTRA encoder: our default prediction path against every peer,
on the same random weights and inputs, with ratios against HF transformers measured in the same run.

Sides (each in a fresh process, tokens/s):
- HF: transformers `ElectraModel`, PyTorch eager, `torch.inference_mode()`, torch's default threads
  (benchmarks/_torch_worker.py in the reference env);
- paddlenlp dygraph: `paddlenlp.transformers.ElectraModel` on the same weights, eval + no_grad,
  OMP_NUM_THREADS=2;
- PI: that paddlenlp model, `paddle.jit.save`d, under Paddle Inference with oneDNN, 2 math threads;
- ORT: the paddle2onnx conversion of that export under onnxruntime, 2 intra-op threads;
- ours: `paddle_electra.runtime.predictor.Predictor(MODEL_DIR)` with its defaults (backend "auto": the
  export cached on first use, under the engine it timed faster for this CPU and batch size;
  threads = the cores this process may use, 2 here), i.e. what predict, get_embedding, fill-mask,
  correction and hub serving run;
- ours bf16 / ours int8: the same with precision="bf16" / "int8" (off by default).
Models: chinese-electra `small` and `base` encoders (vocab 21128; see _common.ARCHS). Shapes:
batch 1 x 128 and 32 x 128, random ids, two segments, all-ones mask. Each timing: 2 warm-up
calls, then 3 quiet repetitions of ~1 s (see _common.time_forward); median tokens/s, and in
brackets the cores the process used. Parity gate: every fp32 side's hidden states equal HF's
within 1e-3 on 2 x 128 tokens (the script fails otherwise); bf16 / int8 report their deviation.

`--crossover` adds our export under Paddle Inference and under onnxruntime over growing batches,
each engine in its own process (bench_inference_interleaved.py times both in one process, which
is steadier; "auto" times them per CPU and size class itself, see paddle_electra/runtime/predictor.py).

Run from the repo root (about 10 minutes on 2 quiet cores):
    .venv/bin/python benchmarks/bench_inference.py [--crossover]
"""

import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import (  # noqa: E402
    ARCHS,
    MAIN_PY,
    fresh_dir,
    markdown_table,
    median,
    parse_shapes,
    ref_python,
    run_worker,
    time_forward,
)

KEYS = ("input_ids", "token_type_ids", "attention_mask")
SIDES = {  # name -> (label, environment)
    "hf": ("HF PyTorch eager", {}),
    "paddlenlp": ("paddlenlp dygraph", {"OMP_NUM_THREADS": "2"}),
    "pi": ("PI (oneDNN)", {}),
    "ort": ("ORT", {}),
    "ours": ("ours (default)", {}),
    "ours-bf16": ("ours bf16", {}),
    "ours-int8": ("ours int8", {}),
    "ours-paddle-inference": ("ours, Paddle Inference", {}),  # --crossover
    "ours-onnxruntime": ("ours, onnxruntime", {}),
}
CROSSOVER = ("ours-paddle-inference", "ours-onnxruntime")
FP32 = ("hf", "paddlenlp", "pi", "ort", "ours")
CROSSOVER_SHAPES = "1x32:3,1x64:3,1x128:3,2x128:3,4x128:3,8x128:3,16x128:3"


def write_models(arch, out):
    """Random-init ElectraModel -> out/paddle (ours; paddlenlp loads it too) and out/hf."""
    import paddle
    from safetensors.numpy import save_file

    from paddle_electra import ElectraConfig, ElectraModel
    from paddle_electra_convert.names import tower_params

    paddle.seed(0)
    config = ElectraConfig.from_original(ARCHS[arch])
    model = ElectraModel(config)
    model.save_pretrained(os.path.join(out, "paddle"), safe_serialization=True)
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    hf = {
        p.hf: np.ascontiguousarray(
            state[p.ours[len("electra.") :]].T if p.hf_transposed else state[p.ours[len("electra.") :]]
        )
        for p in tower_params(config, "discriminator")
        if p.in_encoder
    }
    os.makedirs(os.path.join(out, "hf"))
    save_file(hf, os.path.join(out, "hf", "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(out, "hf", "config.json"), "w") as f:
        json.dump(
            dict(ARCHS[arch], model_type="electra", architectures=["ElectraModel"], layer_norm_eps=1e-12), f
        )


def paddlenlp_export(model_dir, out):
    """paddlenlp's ElectraModel (LayerNorm eps 1e-12, as the checkpoints)
    -> out/inference.{json,pdiparams,onnx}."""
    import paddle
    import paddle2onnx
    from paddlenlp.transformers import ElectraModel

    model = ElectraModel.from_pretrained(model_dir)
    for layer in model.sublayers():
        if isinstance(layer, paddle.nn.LayerNorm):
            layer._epsilon = 1e-12
    model.eval()
    spec = [paddle.static.InputSpec([None, None], "int64", name) for name in KEYS[:2]]
    paddle.jit.save(model, os.path.join(out, "inference"), input_spec=spec)
    paddle2onnx.export(
        os.path.join(out, "inference.json"),
        os.path.join(out, "inference.pdiparams"),
        os.path.join(out, "inference.onnx"),
        opset_version=14,
        optimize_tool="None",
    )
    return model


def paddle_side(side, model_dir, work):
    """forward(numpy feed) -> numpy hidden states, for one of our sides."""
    import paddle

    if side.startswith("ours"):
        from paddle_electra.runtime.predictor import Predictor

        option = side.split("-", 1)[1] if "-" in side else "fp32"
        predictor = Predictor(
            model_dir, **{"precision" if option in ("fp32", "bf16", "int8") else "backend": option}
        )
        return lambda feed: predictor(**feed)[0]
    model = paddlenlp_export(model_dir, fresh_dir(os.path.join(work, f"export-{side}")))
    if side == "paddlenlp":

        def forward(feed):  # no mask: paddlenlp masks pad ids itself, and the random ids hold none
            with paddle.no_grad():
                return model(
                    paddle.to_tensor(feed["input_ids"]), paddle.to_tensor(feed["token_type_ids"])
                ).numpy()

        return forward
    from paddle_electra.runtime.engines import OnnxRuntime, PaddleInference

    directory = os.path.join(work, f"export-{side}")
    backend = (
        PaddleInference(directory, 2, False, "fp32") if side == "pi" else OnnxRuntime(directory, 2, "fp32")
    )
    return lambda feed: backend(feed)[0]


def paddle_worker(args):
    """Our sides, in a fresh process: prints {"BxL": {"tokens_per_s": [...], "cores": c}, ...}."""
    from paddlenlp.utils.log import logger

    logger.set_level("WARNING")
    forward = paddle_side(args.worker, args.model_dir, os.path.dirname(args.inputs))
    data = dict(np.load(args.inputs))
    result = {}
    if args.outputs_out:
        np.save(args.outputs_out, forward({k: v[:2] for k, v in data.items()}))
    for b, length, n in parse_shapes(args.shapes):
        feed = {k: np.ascontiguousarray(v[:b, :length]) for k, v in data.items()}
        rates, cores = time_forward(lambda: forward(feed), b * length, n)
        result[f"{b}x{length}"] = {"tokens_per_s": rates, "cores": cores}
    print(json.dumps(result))


def bench_arch(arch, sides, shapes, work, crossover):
    """{side: worker JSON} and {side: max |hidden - HF hidden|} for one architecture."""
    d = fresh_dir(os.path.join(work, arch))
    write_models(arch, d)
    rng = np.random.default_rng(0)
    ids = rng.integers(1, ARCHS[arch]["vocab_size"], (32, 128))
    types = np.repeat((np.arange(128) >= 64)[None], 32, 0).astype(np.int64)
    np.savez(
        os.path.join(d, "inputs.npz"),
        input_ids=ids,
        token_type_ids=types,
        attention_mask=np.ones((32, 128), np.int64),
    )
    common = ["--inputs", os.path.join(d, "inputs.npz")]
    results, outputs = {}, {}
    for side in sides + (list(CROSSOVER) if crossover else []):
        outputs[side] = os.path.join(d, f"hidden_{side}.npy")
        if side == "hf":
            cmd = [ref_python(), os.path.join(HERE, "_torch_worker.py"), "--model-dir", os.path.join(d, "hf")]
        else:
            cmd = [
                MAIN_PY,
                os.path.abspath(__file__),
                "--worker",
                side,
                "--model-dir",
                os.path.join(d, "paddle"),
            ]
        print(f"[{arch}] {SIDES[side][0]} ...", file=sys.stderr, flush=True)
        cmd += common + [
            "--shapes",
            CROSSOVER_SHAPES if side in CROSSOVER else shapes,
            "--outputs-out",
            outputs[side],
        ]
        results[side] = run_worker(cmd, SIDES[side][1])
    reference = np.load(outputs["hf"])
    diffs = {side: float(np.abs(np.load(path) - reference).max()) for side, path in outputs.items()}
    return results, diffs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="small,base", help="comma-separated: small, base")
    ap.add_argument(
        "--sides",
        default=",".join(s for s in SIDES if s not in CROSSOVER),
        help=f"comma-separated, hf first: {', '.join(s for s in SIDES if s not in CROSSOVER)}",
    )
    ap.add_argument("--reps", type=int, default=3, help="timed repetitions per (model, shape)")
    ap.add_argument(
        "--crossover",
        action="store_true",
        help="also time Paddle Inference vs onnxruntime over growing batches",
    )
    ap.add_argument(
        "--work", default="/tmp/electra_bench_inference", help="scratch directory for the weights"
    )
    ap.add_argument("--worker", choices=[s for s in SIDES if s != "hf"], help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", help=argparse.SUPPRESS)
    ap.add_argument("--inputs", help=argparse.SUPPRESS)
    ap.add_argument("--shapes", help=argparse.SUPPRESS)
    ap.add_argument("--outputs-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return paddle_worker(args)

    sides = args.sides.split(",")
    if sides[0] != "hf":
        sys.exit("error: --sides must start with hf (the ratios are against it)")
    shapes = f"1x128:{args.reps},32x128:{args.reps}"
    rows, checks, crossover_rows, failed = [], [], [], False
    for arch in args.models.split(","):
        results, diffs = bench_arch(arch, sides, shapes, args.work, args.crossover)
        for side, diff in diffs.items():
            checks.append(f"{arch}: max |hidden states, {SIDES[side][0]} - HF| = {diff:.2e}")
            failed |= side in FP32 + CROSSOVER and diff >= 1e-3
        for shape in ("1x128", "32x128"):
            tps = {side: median(r[shape]["tokens_per_s"]) for side, r in results.items() if side in sides}
            best_peer = max(tps[s] for s in ("pi", "ort") if s in tps) if {"pi", "ort"} & set(tps) else None
            row = [arch, shape.replace("x", " x ")]
            row += [
                f"{tps[s]:,.0f} ({results[s][shape]['cores']:.1f}) {tps[s] / tps['hf']:.2f}x" for s in sides
            ]
            row.append(f"{tps['ours'] / best_peer:.2f}" if best_peer and "ours" in tps else "-")
            rows.append(row)
        if args.crossover:
            for shape in results[CROSSOVER[0]]:
                pi, ort = (median(results[s][shape]["tokens_per_s"]) for s in CROSSOVER)
                b, length = map(int, shape.split("x"))
                work = b * length * ARCHS[arch]["hidden_size"]
                crossover_rows.append(
                    [
                        arch,
                        shape.replace("x", " x "),
                        f"{work:,}",
                        f"{pi:,.0f}",
                        f"{ort:,.0f}",
                        f"{ort / pi:.2f}",
                    ]
                )
    headers = (
        ["model", "batch x tokens"]
        + [f"{SIDES[s][0]} tok/s (cores) / HF" for s in sides]
        + ["ours / best of PI, ORT"]
    )
    print(markdown_table(headers, rows))
    if crossover_rows:
        print()
        print(
            markdown_table(
                [
                    "model",
                    "batch x tokens",
                    "batch x length x hidden",
                    "our export, PI tok/s",
                    "ORT tok/s",
                    "ORT / PI",
                ],
                crossover_rows,
            )
        )
    print()
    print("\n".join(checks))
    if failed:
        sys.exit("parity check FAILED: an fp32 side does not compute the same function as HF")


if __name__ == "__main__":
    main()
