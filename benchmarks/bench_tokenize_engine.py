"""Speed of `ElectraTokenizer.encode_batch` (the Rust engine) of one checkout of paddle_electra, to
compare two revisions in alternating fresh processes (run it with each --code in turn):

    python benchmarks/bench_tokenize_engine.py --code OLD_CHECKOUT --vocab VOCAB --data train.tsv
    python benchmarks/bench_tokenize_engine.py --code NEW_CHECKOUT --vocab VOCAB --data train.tsv

--code: a folder holding the `paddle_electra` package to import (e.g. a `git worktree` of an older
commit); --data: a TSV with a `text_a` column (ChnSentiCorp's train.tsv). Prints the time to build
the Rust tokenizer and the best of --reps passes of encode_batch(texts, max_length=128).
"""

import argparse
import csv
import sys
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--code", required=True, help="folder holding the paddle_electra package to measure")
    parser.add_argument("--vocab", required=True, help="vocab.txt (e.g. LTP-tiny's or Chinese ELECTRA's)")
    parser.add_argument("--data", required=True, help="TSV with a text_a column")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, args.code)
    from paddle_electra import ElectraTokenizer

    with open(args.data, encoding="utf-8") as f:
        texts = [row["text_a"] for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    tok = ElectraTokenizer(args.vocab)
    start = time.perf_counter()
    tok.fast_tokenizer
    build = time.perf_counter() - start
    best = float("inf")
    for _ in range(args.reps):
        start = time.perf_counter()
        tok.encode_batch(texts, max_length=128)
        best = min(best, time.perf_counter() - start)
    print(
        f"{args.code}: build {build:.2f} s; {len(texts)} texts, "
        f"best of {args.reps}: {best:.3f} s = {len(texts) / best:.0f} texts/s"
    )


if __name__ == "__main__":
    main()
