"""Write a TF1 ELECTRA pretraining checkpoint with chinese-electra-base's shapes and random weights.

The input of benchmarks/bench_convert.py (not committed, ~1.3 GB). Layout and names are those of
the google-research/electra pretraining code: discriminator under `electra/` (embedding 768 =
hidden 768, so no `electra/embeddings_project`), generator under `generator/` (hidden 192, with
`generator/embeddings_project` 768->192, sharing `electra/embeddings`), both heads, an
adam_m/adam_v slot for every weight and an int64 `global_step`, i.e. a full training checkpoint:

  OUT/model.ckpt-1000000.{index,data-00000-of-00001}, OUT/checkpoint,
  OUT/discriminator.json, OUT/generator.json (BERT-style + embedding_size), OUT/vocab.txt (21128)

`--size large`: chinese-electra-large's shapes (discriminator 1024 hidden, 24 layers; generator
256 hidden, with `generator/embeddings_project` 1024->256); `--weights-only` leaves out the Adam
slots, as a released checkpoint does. Written with TensorFlow's Saver in the reference env
(scripts/requirements-reference.txt), or, where TensorFlow is not installed, with the tests'
pure-Python TensorBundle writer (tests/tf_bundle_writer.py, the same format). Run from the repo
root (takes a few minutes). VOCAB: any 21128-line Chinese BERT vocab.txt, e.g. LTP-tiny's
(`paddle-electra demo` puts it in the cache: $PADDLE_ELECTRA_CACHE or ~/.cache/paddle-electra,
ltp_tiny/vocab.txt):
    $PADDLE_ELECTRA_REF_PYTHON benchmarks/make_base_checkpoint.py --vocab VOCAB --out /tmp/electra_base_ckpt
"""

import argparse
import json
import os
import shutil
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from _common import ARCHS, fresh_dir  # noqa: E402
from make_tf_fixture import weight_shapes, write_ckpt  # noqa: E402  (the test fixture's recipe)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/tmp/electra_base_ckpt")
    ap.add_argument("--vocab", required=True, help="a vocab.txt with 21128 lines (Chinese BERT tokens)")
    ap.add_argument("--step", type=int, default=1000000, help="global_step (also the prefix suffix)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--size",
        choices=["base", "large"],
        default="base",
        help="chinese-electra-base (default) or -large shapes",
    )
    ap.add_argument(
        "--weights-only",
        action="store_true",
        help="no Adam slots (a released checkpoint; large: 1.4 GB instead of 4)",
    )
    args = ap.parse_args()
    disc, gen = ARCHS[args.size], ARCHS[args.size + "-generator"]
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()

    shapes = weight_shapes(disc, gen)
    if disc["embedding_size"] == disc["hidden_size"]:  # the original code only projects when they differ
        for suffix in ("kernel", "bias"):
            del shapes[f"electra/embeddings_project/{suffix}"]
    values = {}
    for name, shape in shapes.items():
        w = rng.standard_normal(shape, dtype=np.float32)
        values[name] = (1 + 0.1 * w) if name.endswith("gamma") else 0.02 * w
        if args.weights_only:
            continue
        values[name + "/adam_m"] = 1e-3 * rng.standard_normal(shape, dtype=np.float32)
        values[name + "/adam_v"] = 1e-6 * rng.random(shape, dtype=np.float32)
    values["global_step"] = np.int64(args.step)
    n_weights = sum(int(np.prod(s)) for s in shapes.values())
    print(f"{len(shapes)} weights, {n_weights / 1e6:.1f}M parameters, {len(values)} variables")

    fresh_dir(args.out)
    try:
        import tensorflow  # noqa: F401
    except ImportError:  # the same TensorBundle format, written by the tests' pure-Python writer
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
        from tf_bundle_writer import write_checkpoint

        write_checkpoint(os.path.join(args.out, f"model.ckpt-{args.step}"), values)
        with open(os.path.join(args.out, "checkpoint"), "w") as f:
            f.write(f'model_checkpoint_path: "model.ckpt-{args.step}"\n')
    else:
        write_ckpt(values, args.out, "model.ckpt", global_step=args.step)
    for f in os.listdir(args.out):
        if f.endswith(".meta"):
            os.remove(os.path.join(args.out, f))
    for fname, cfg in (("discriminator.json", disc), ("generator.json", gen)):
        with open(os.path.join(args.out, fname), "w") as f:
            json.dump(cfg, f, indent=2)
            f.write("\n")
    shutil.copyfile(args.vocab, os.path.join(args.out, "vocab.txt"))
    size = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print(f"wrote {args.out} ({size / 1e9:.2f} GB) in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
