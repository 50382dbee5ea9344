"""Pretraining from a corpus 10x the demo's: the memory-mapped token file (`corpus.py`, this
checkout) against the in-memory path (the whole corpus tokenised into Python lists at every start;
`pretraining.pack_corpus` up to commit 16dc598), each run in a fresh process.

Corpus: People's Daily 1998-01 (the demo corpus of benchmarks/pretrain_demo.py, 5.5 MB) written
`--copies` times (default 10) into one file. Model: LTP-tiny as discriminator + a new generator of
width 64 (as the demo), batch 32 x 128, fast CPU path. Per run: peak RSS of the process (GNU time),
seconds from the start of `pretrain` to its first step (tokenising, packing, building the model),
and sequences/s over steps 5..N. The memory-mapped path is run twice: the first run tokenises, the
second (a new output directory, the same --corpus-dir) reuses the token file.

    git worktree add /tmp/pe-inmemory 16dc598      # the in-memory path, for --baseline
    mkdir -p /tmp/pe-inmemory/.devpath && ln -s ../paddle_electra /tmp/pe-inmemory/.devpath/ \\
        && ln -s ../convert /tmp/pe-inmemory/.devpath/paddle_electra_convert
    .venv/bin/python benchmarks/bench_pretrain_corpus.py --baseline /tmp/pe-inmemory/.devpath
"""

import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import MAIN_PY, markdown_table, run_measured  # noqa: E402


def worker(args):
    import logging

    import paddle_electra.training.pretraining as pretraining

    logging.disable(logging.WARNING)
    starts, begin = [], time.perf_counter()
    batch = pretraining._batch

    def timed_batch(*a, **k):
        starts.append(time.perf_counter())
        return batch(*a, **k)

    pretraining._batch = timed_batch
    options = {"corpus_dir": args.corpus_dir} if args.corpus_dir else {}
    pretraining.pretrain(
        [args.corpus],
        args.output,
        init=args.model,
        steps=args.steps,
        batch_size=32,
        max_seq_length=128,
        save_every=10**9,
        log_every=10**9,
        **options,
    )
    per_step = (starts[-1] - starts[5]) / (len(starts) - 6)
    print(json.dumps({"to_first_step_s": starts[0] - begin, "sequences_per_s": 32 / per_step}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--baseline",
        required=False,
        help="PYTHONPATH entry importing the in-memory code (see above); "
        "without it only the memory-mapped path runs",
    )
    ap.add_argument("--copies", type=int, default=10, help="times the demo corpus is repeated (default 10)")
    ap.add_argument("--steps", type=int, default=20, help="training steps per run (default 20)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help=argparse.SUPPRESS)
    ap.add_argument("--corpus-dir", help=argparse.SUPPRESS)
    ap.add_argument("--output", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    from finetune_chnsenticorp import paddle_model_dir
    from pretrain_demo import peoples_daily

    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        with open(peoples_daily(), encoding="utf-8") as f:
            text = f.read()
        with open(corpus, "w", encoding="utf-8") as f:
            for _ in range(args.copies):
                f.write(text)
        size_mb = os.path.getsize(corpus) / 2**20
        base = [
            MAIN_PY,
            os.path.abspath(__file__),
            "--worker",
            "--corpus",
            corpus,
            "--model",
            paddle_model_dir(),
            "--steps",
            str(args.steps),
        ]
        runs = [
            ("memory-mapped, first run (tokenises)", None, ["--corpus-dir", os.path.join(tmp, "tokens")]),
            ("memory-mapped, token file reused", None, ["--corpus-dir", os.path.join(tmp, "tokens")]),
        ]
        if args.baseline:
            runs.append(("in-memory (16dc598)", args.baseline, []))
        rows = []
        for i, (name, path, extra) in enumerate(runs):
            env = {"PYTHONPATH": path or os.environ.get("PYTHONPATH", "")}
            _, rss, out = run_measured(base + ["--output", os.path.join(tmp, f"out{i}")] + extra, env=env)
            result = json.loads(out.strip().splitlines()[-1])
            rows.append(
                [name, f"{rss:.0f}", f"{result['to_first_step_s']:.1f}", f"{result['sequences_per_s']:.1f}"]
            )
            print(rows[-1], file=sys.stderr)
        tokens = json.load(open(os.path.join(tmp, "tokens", "meta.json")))["tokens"]
    print(
        f"corpus: {size_mb:.1f} MB, {tokens / 1e6:.1f} M tokens ({args.copies} x People's Daily 1998-01); "
        f"{args.steps} steps of 32 x 128"
    )
    print(markdown_table(["path", "peak RSS (MiB)", "start to first step (s)", "sequences / s"], rows))


if __name__ == "__main__":
    main()
