"""TF1 checkpoint conversion: paddle-electra's converter vs HF transformers' conversion script.

Input: the chinese-electra-base-shaped training checkpoint from make_base_checkpoint.py (weights,
Adam slots and global_step, ~1.3 GB). Each converter runs in a fresh process, timed with
/usr/bin/time -v (wall time and peak RSS of the whole process, imports included):
  ours  .venv/bin/paddle-electra convert tf CKPT --out DIR --quiet --overwrite
        (no TensorFlow; writes discriminator/ and generator/ in one run)
  HF    $PADDLE_ELECTRA_REF_PYTHON -m
        transformers.models.electra.convert_electra_original_tf_checkpoint_to_pytorch
        (TensorFlow + PyTorch; one tower per run: discriminator, then generator)
The runs are interleaved and repeated (--reps, median reported); a run during which other
processes used more than 0.15 cores is redone. The checkpoint is read once beforehand so every
run sees it in the page cache. A last row times the imports alone. Finally
a spot check in the reference env compares converted tensors of both towers with
tf.train.load_variable, so a broken conversion cannot produce a good-looking number.

Run from the repo root, after `$PADDLE_ELECTRA_REF_PYTHON benchmarks/make_base_checkpoint.py --vocab VOCAB`
(PADDLE_ELECTRA_REF_PYTHON: the reference environment's python, see scripts/requirements-reference.txt):
    .venv/bin/python benchmarks/bench_convert.py --ckpt /tmp/electra_base_ckpt
"""

import argparse
import glob
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import (  # noqa: E402
    MAIN_PY,
    describe_cpu,
    fresh_dir,
    markdown_table,
    median,
    quietly,
    ref_python,
    require,
    run_measured,
    with_foreign_cores,
)

HF_SCRIPT = "transformers.models.electra.convert_electra_original_tf_checkpoint_to_pytorch"
SPOT_CHECK = """
import sys, numpy as np, tensorflow as tf, torch
from safetensors.numpy import load_file
prefix, ours, hf_disc = sys.argv[1:4]
disc = load_file(ours + "/discriminator/model.safetensors")
gen = load_file(ours + "/generator/model.safetensors")
tf_var = lambda name: tf.train.load_variable(prefix, name)
pairs = {  # Paddle Linear weights are [in, out] like TF kernels: no transpose
    "ours disc word_embeddings": (
        disc["electra.embeddings.word_embeddings.weight"],
        tf_var("electra/embeddings/word_embeddings"),
    ),
    "ours gen layer 11 output kernel": (
        gen["electra.encoder.layers.11.linear2.weight"],
        tf_var("generator/encoder/layer_11/output/dense/kernel"),
    ),
    "ours gen embeddings_project": (
        gen["electra.embeddings_project.weight"],
        tf_var("generator/embeddings_project/kernel"),
    ),
    "HF disc word_embeddings": (
        torch.load(hf_disc)["electra.embeddings.word_embeddings.weight"].numpy(),
        tf_var("electra/embeddings/word_embeddings"),
    ),
}
for name, (a, b) in pairs.items():
    np.testing.assert_array_equal(a, b)
    print(f"spot check OK: {name} {tuple(a.shape)} equals the TF checkpoint")
"""


def du_mb(*paths):
    files = [os.path.join(d, f) for p in paths for d, _, fs in os.walk(p) for f in fs] + [
        p for p in paths if os.path.isfile(p)
    ]
    return sum(os.path.getsize(f) for f in files) / 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--ckpt", default="/tmp/electra_base_ckpt", help="directory written by make_base_checkpoint.py"
    )
    ap.add_argument("--work", default="/tmp/electra_bench_convert", help="scratch directory for the outputs")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument(
        "--before",
        metavar="PYTHONPATH",
        help="also run an earlier paddle-electra: a PYTHONPATH under which paddle_electra and "
        "paddle_electra_convert are that version (e.g. a git worktree of it with their links); "
        "its output must equal ours",
    )
    ap.add_argument(
        "--no-hf", action="store_true", help="skip HF's script (it needs TensorFlow in the reference env)"
    )
    args = ap.parse_args()
    index = glob.glob(os.path.join(args.ckpt, "*.index"))
    require(
        index[0] if index else os.path.join(args.ckpt, "*.index"),
        "run benchmarks/make_base_checkpoint.py first",
    )
    prefix = index[0][: -len(".index")]
    ref_py = None if args.no_hf else ref_python()
    work = fresh_dir(args.work)
    for f in glob.glob(prefix + ".*"):  # warm the page cache: every run reads from memory
        with open(f, "rb") as fh:
            while fh.read(1 << 24):
                pass

    def hf(tower):
        return [
            ref_py,
            "-m",
            HF_SCRIPT,
            "--tf_checkpoint_path",
            prefix,
            "--config_file",
            os.path.join(args.ckpt, f"{tower}.json"),
            "--pytorch_dump_path",
            os.path.join(work, f"hf_{tower}.bin"),
            "--discriminator_or_generator",
            tower,
        ]

    def ours(out):
        return [
            os.path.join(os.path.dirname(MAIN_PY), "paddle-electra"),
            "convert",
            "tf",
            args.ckpt,
            "--out",
            os.path.join(work, out),
            "--quiet",
            "--overwrite",
        ]

    commands = {"ours": (ours("ours"), None)}  # name -> (command, environment)
    if args.before:
        commands["ours_before"] = (ours("ours_before"), {"PYTHONPATH": args.before})
    if not args.no_hf:
        commands.update(hf_disc=(hf("discriminator"), None), hf_gen=(hf("generator"), None))
    commands["ours_imports"] = ([MAIN_PY, "-c", "import paddle_electra_convert"], None)
    if not args.no_hf:
        commands["hf_imports"] = ([ref_py, "-c", f"import tensorflow, torch, {HF_SCRIPT}"], None)
    runs = {k: [] for k in commands}  # name -> [(wall s, peak RSS MiB, other processes' cores)]
    for rep in range(args.reps):
        for name, (cmd, env) in commands.items():
            (wall, rss, _), foreign = quietly(lambda: with_foreign_cores(lambda: run_measured(cmd, env)))
            runs[name].append((wall, rss, foreign))
            print(
                f"rep {rep + 1}/{args.reps} {name}: {wall:.1f} s, {rss:,.0f} MiB, "
                f"other processes {foreign:.2f} cores",
                file=sys.stderr,
                flush=True,
            )
    if not args.no_hf:
        runs["hf_both"] = [
            (d[0] + g[0], max(d[1], g[1]), max(d[2], g[2])) for d, g in zip(runs["hf_disc"], runs["hf_gen"])
        ]
    t = {k: median([r[0] for r in v]) for k, v in runs.items()}
    m = {k: median([r[1] for r in v]) for k, v in runs.items()}
    busy = {k: " / ".join(f"{r[2]:.2f}" for r in v) for k, v in runs.items()}

    out_mb = {
        "ours": du_mb(os.path.join(work, "ours")),
        "ours_before": du_mb(os.path.join(work, "ours_before")),
        "hf_disc": du_mb(os.path.join(work, "hf_discriminator.bin")),
        "hf_gen": du_mb(os.path.join(work, "hf_generator.bin")),
    }
    out_mb["hf_both"] = out_mb["hf_disc"] + out_mb["hf_gen"]
    label = {
        "ours": "ours: `paddle-electra convert tf` (disc + gen, 1 process)",
        "ours_before": "ours before (--before), the same command",
        "hf_disc": "HF script, discriminator",
        "hf_gen": "HF script, generator",
        "hf_both": "HF script, disc + gen (2 processes: sum of times, max RSS)",
    }
    rows = [
        [label[k], f"{t[k]:.1f}", f"{m[k]:,.0f}", f"{out_mb[k]:,.0f}", busy[k]] for k in label if k in runs
    ]
    rows.append(
        [
            "imports only: ours" + ("" if args.no_hf else " / HF (TF + torch + transformers)"),
            " / ".join(f"{t[k]:.1f}" for k in ("ours_imports", "hf_imports") if k in t),
            " / ".join(f"{m[k]:,.0f}" for k in ("ours_imports", "hf_imports") if k in m),
            "-",
            " / ".join(busy[k] for k in ("ours_imports", "hf_imports") if k in busy),
        ]
    )
    ckpt_gb = sum(os.path.getsize(f) for f in glob.glob(prefix + ".*")) / 1e9
    print(f"checkpoint: {prefix} ({ckpt_gb:.2f} GB), medians of {args.reps} runs; CPU: {describe_cpu()}\n")
    print(
        markdown_table(
            ["converter", "wall s", "peak RSS MiB", "output MB", "other processes' cores per run"], rows
        )
    )
    print()
    peers = [
        (f"HF {what}", k)
        for what, k in (("discriminator only", "hf_disc"), ("disc + gen", "hf_both"))
        if k in runs
    ]
    peers += [("ours before", "ours_before")] if "ours_before" in runs else []
    print(
        markdown_table(
            ["ratio", "wall time", "peak RSS"],
            [[f"ours / {what}", f"{t['ours'] / t[k]:.2f}", f"{m['ours'] / m[k]:.2f}"] for what, k in peers],
        )
    )
    print()
    if args.before:
        print(same_tensors(os.path.join(work, "ours"), os.path.join(work, "ours_before")))
    if not args.no_hf:
        check = run_measured(
            [
                ref_py,
                "-c",
                SPOT_CHECK,
                prefix,
                os.path.join(work, "ours"),
                os.path.join(work, "hf_discriminator.bin"),
            ]
        )
        print(check[2].strip())


def same_tensors(ours, before):
    """Both outputs hold the same tensors (names, dtypes, values) and config files, or exit with an error."""
    import filecmp

    import numpy as np
    from safetensors.numpy import load_file

    for tower in sorted(os.listdir(ours)):
        a, b = (load_file(os.path.join(d, tower, "model.safetensors")) for d in (ours, before))
        if a.keys() != b.keys() or any(a[k].dtype != b[k].dtype or not np.array_equal(a[k], b[k]) for k in a):
            sys.exit(f"error: {tower}: the two versions wrote different tensors")
        for name in os.listdir(os.path.join(ours, tower)):
            if name != "model.safetensors" and not filecmp.cmp(
                os.path.join(ours, tower, name), os.path.join(before, tower, name), False
            ):
                sys.exit(f"error: {tower}/{name} differs between the two versions")
    return f"check OK: both versions wrote the same tensors and files ({', '.join(sorted(os.listdir(ours)))})"


if __name__ == "__main__":
    main()
