"""Discriminator inference throughput on CPU: paddle-electra (Paddle dygraph) vs HF transformers
(PyTorch eager), on the same random weights, plus Paddle Inference on a to_static export.

For each architecture (chinese-electra `small` and `base` discriminators, vocab 21128) this
1. builds our ElectraDiscriminator with random weights and saves it (save_pretrained, safetensors);
2. writes the same weights as a HF directory (config.json + model.safetensors; names and
   transposes from paddle_electra_convert.names.tower_params);
3. runs each side in a fresh subprocess: ours in this env (`--worker dygraph`), HF in the
   reference env (benchmarks/_torch_worker.py), first with each framework's default threading,
   then with both limited to 2 threads (Paddle: OMP_NUM_THREADS=2; torch: set_num_threads(2));
4. checks the two give the same RTD logits (max abs diff < 1e-3 on 2 x 128 tokens);
5. exports ours with paddle.jit.to_static (InputSpec [None, None] int64 x 3) + paddle.jit.save and
   times it with paddle.inference (enable_mkldnn, 2 math threads) (`--worker static`).
Shapes: batch 1 x 128 and batch 32 x 128 tokens, attention mask all ones. Each timing: warm-up
calls, then >= 3 repetitions of ~1 s each (one during which other processes used more than 0.15
cores is redone); the table shows the median tokens/s and, in brackets, the CPU cores the
measured process used (CPU time / wall time).

Run from the repo root (about 6 minutes on 2 quiet cores; longer while it waits for quiet):
    .venv/bin/python benchmarks/bench_inference.py
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import (  # noqa: E402
    ARCHS,
    CLEAN_ENV,
    MAIN_PY,
    REF_PY,
    fresh_dir,
    markdown_table,
    median,
    parse_shapes,
    time_forward,
)

KEYS = ("input_ids", "token_type_ids", "attention_mask")


def write_models(arch, out):
    """Random-init ElectraDiscriminator -> out/paddle (ours) and out/hf (HF ElectraForPreTraining)."""
    import paddle
    from paddle_electra_convert.names import tower_params
    from safetensors.numpy import save_file

    from paddle_electra import ElectraConfig, ElectraDiscriminator

    paddle.seed(0)
    config = ElectraConfig.from_original(ARCHS[arch])
    model = ElectraDiscriminator(config)
    model.save_pretrained(os.path.join(out, "paddle"), safe_serialization=True)
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    hf = {("electra." + p.hf if p.in_encoder else p.hf): np.ascontiguousarray(state[p.ours].T if p.hf_transposed else state[p.ours])
          for p in tower_params(config, "discriminator")}
    os.makedirs(os.path.join(out, "hf"))
    save_file(hf, os.path.join(out, "hf", "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(out, "hf", "config.json"), "w") as f:
        json.dump(dict(ARCHS[arch], model_type="electra", architectures=["ElectraForPreTraining"], layer_norm_eps=1e-12), f)


def paddle_forward(kind, model_dir):
    """(prepare(numpy feed) -> inputs, forward(inputs) -> numpy logits) for `kind` dygraph or static."""
    import paddle

    from paddle_electra import ElectraDiscriminator

    model = ElectraDiscriminator.from_pretrained(model_dir)
    model.eval()
    if kind == "dygraph":
        def forward(inputs):
            with paddle.no_grad():
                return model(*inputs)
        return (lambda feed: [paddle.to_tensor(feed[k]) for k in KEYS]), forward

    prefix = os.path.join(model_dir, "static", "electra")
    spec = [paddle.static.InputSpec([None, None], "int64", name=k) for k in KEYS]
    paddle.jit.save(paddle.jit.to_static(model, input_spec=spec, full_graph=True), prefix)
    model_file = next(prefix + ext for ext in (".json", ".pdmodel") if os.path.exists(prefix + ext))
    config = paddle.inference.Config(model_file, prefix + ".pdiparams")
    config.disable_gpu()
    config.enable_mkldnn()
    config.set_cpu_math_library_num_threads(2)
    predictor = paddle.inference.create_predictor(config)
    handles = {n: predictor.get_input_handle(n) for n in predictor.get_input_names()}
    output = predictor.get_output_handle(predictor.get_output_names()[0])

    def forward(feed):
        for name, handle in handles.items():
            handle.reshape(feed[name].shape)
            handle.copy_from_cpu(feed[name])
        predictor.run()
        return output.copy_to_cpu()
    return (lambda feed: feed), forward


def paddle_worker(args):
    """Our side, in a fresh process: prints the same JSON as _torch_worker.py (or {"error": ...})."""
    import traceback

    from paddlenlp.utils.log import logger

    logger.set_level("WARNING")
    try:
        prepare, forward = paddle_forward(args.worker, args.model_dir)
    except Exception:  # the export failing is a result to report, not a crash
        print(json.dumps({"error": traceback.format_exc()}))
        return
    data = dict(np.load(args.inputs))
    result = {"threads": f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}"}  # paddle sets 1 if unset
    if args.logits_out:
        np.save(args.logits_out, np.asarray(forward(prepare({k: v[:2] for k, v in data.items()}))))
    for b, length, n in parse_shapes(args.shapes):
        inputs = prepare({k: v[:b, :length] for k, v in data.items()})
        rates, cores = time_forward(lambda: forward(inputs), b * length, n)
        result[f"{b}x{length}"] = {"tokens_per_s": rates, "cores": cores}
    print(json.dumps(result))


def run_worker(cmd, env=None):
    p = subprocess.run(cmd, env=dict(CLEAN_ENV, **(env or {})), capture_output=True, text=True)
    for line in p.stderr.splitlines():  # the workers' notes about measurements redone for noise
        if line.startswith(("note:", "warning:")):
            print(f"  {line}", file=sys.stderr)
    lines = [line for line in p.stdout.splitlines() if line.startswith("{")]
    if p.returncode or not lines:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}")
    return json.loads(lines[-1])


def bench_arch(arch, args):
    """Run every side for one architecture; return {(side, setting): worker JSON} and parity diffs."""
    d = fresh_dir(os.path.join(args.work, arch))
    write_models(arch, d)
    rng = np.random.default_rng(0)
    ids = rng.integers(1, ARCHS[arch]["vocab_size"], (32, 128))
    types = np.repeat((np.arange(128) >= 64)[None], 32, 0)
    np.savez(os.path.join(d, "inputs.npz"), input_ids=ids, token_type_ids=types.astype(np.int64),
             attention_mask=np.ones((32, 128), np.int64))
    reps = args.reps_base_32 if arch == "base" else args.reps
    common = ["--inputs", os.path.join(d, "inputs.npz"), "--shapes", f"1x128:{args.reps},32x128:{reps}"]
    ours = [MAIN_PY, os.path.abspath(__file__), "--model-dir", os.path.join(d, "paddle")] + common
    hf = [REF_PY, os.path.join(HERE, "_torch_worker.py"), "--model-dir", os.path.join(d, "hf")] + common
    logits = {s: os.path.join(d, f"logits_{s}.npy") for s in ("ours", "hf", "static")}
    runs = {
        ("ours", "default"): (ours + ["--worker", "dygraph", "--logits-out", logits["ours"]], {}),
        ("hf", "default"): (hf + ["--logits-out", logits["hf"]], {}),
        ("ours", "2"): (ours + ["--worker", "dygraph"], {"OMP_NUM_THREADS": "2"}),
        ("hf", "2"): (hf + ["--threads", "2"], {}),
    }
    if not args.skip_static:
        runs[("static", "2")] = (ours + ["--worker", "static", "--logits-out", logits["static"]], {})
    results = {}
    for key, (cmd, env) in runs.items():
        print(f"[{arch}] {key[0]}, threads {key[1]} ...", file=sys.stderr, flush=True)
        results[key] = run_worker(cmd, env)
    diffs = {"ours vs HF": float(np.abs(np.load(logits["ours"]) - np.load(logits["hf"])).max())}
    if "error" not in results.get(("static", "2"), {"error": ""}):
        diffs["Paddle Inference vs ours"] = float(np.abs(np.load(logits["static"]) - np.load(logits["ours"])).max())
    return results, diffs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="small,base", help="comma-separated: small, base")
    ap.add_argument("--reps", type=int, default=3, help="timed repetitions per (model, shape)")
    ap.add_argument("--reps-base-32", type=int, default=3, help="repetitions for base x 32 x 128 (slow)")
    ap.add_argument("--work", default="/tmp/electra_bench_inference", help="scratch directory for the weights")
    ap.add_argument("--skip-static", action="store_true", help="skip the Paddle Inference export")
    ap.add_argument("--worker", choices=["dygraph", "static"], help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", help=argparse.SUPPRESS)
    ap.add_argument("--inputs", help=argparse.SUPPRESS)
    ap.add_argument("--shapes", help=argparse.SUPPRESS)
    ap.add_argument("--logits-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return paddle_worker(args)

    rows, static_rows, errors, checks, threads = [], [], [], [], []
    for arch in args.models.split(","):
        results, diffs = bench_arch(arch, args)
        checks += [f"{arch}: max |logits {k}| = {v:.2e}" for k, v in diffs.items()]
        threads.append(f"{arch}: threads in the 'default' rows: ours {results[('ours', 'default')]['threads']}, "
                       f"HF torch.get_num_threads()={results[('hf', 'default')]['threads']}")
        for (side, setting), r in results.items():
            if "error" in r:
                errors.append(f"{arch}: Paddle Inference export/run failed:\n{r['error']}")
        for shape in ("1x128", "32x128"):
            tps = {key: median(r[shape]["tokens_per_s"]) for key, r in results.items() if "error" not in r}
            cores = {key: r[shape]["cores"] for key, r in results.items() if "error" not in r}
            for setting, label in (("default", "default"), ("2", "2 threads")):
                o, h = tps[("ours", setting)], tps[("hf", setting)]
                rows.append([arch, shape, label, f"{o:,.0f} ({cores[('ours', setting)]:.1f})",
                             f"{h:,.0f} ({cores[('hf', setting)]:.1f})", f"{o / h:.2f}"])
            if ("static", "2") in tps:
                s = tps[("static", "2")]
                static_rows.append([arch, shape, f"{s:,.0f} ({cores[('static', '2')]:.1f})",
                                    f"{s / tps[('ours', '2')]:.2f}", f"{s / tps[('hf', '2')]:.2f}"])
    print(markdown_table(["model", "batch x tokens", "threads", "ours: Paddle dygraph tok/s (cores)",
                          "HF: torch eager tok/s (cores)", "ours / HF"], rows))
    if static_rows:
        print()
        print(markdown_table(["model", "batch x tokens", "Paddle Inference (oneDNN, 2 threads) tok/s (cores)",
                              "/ ours dygraph (2 threads)", "/ HF (2 threads)"], static_rows))
    print()
    print("\n".join(threads + checks))
    for e in errors:
        print("\n" + e)
    if any(float(c.rsplit("= ", 1)[1]) >= 1e-3 for c in checks):
        sys.exit("parity check FAILED: the two sides do not compute the same function")


if __name__ == "__main__":
    main()
