r"""Long documents: overlapping windows against truncation, on real data with real pretrained weights
(LTP-tiny, a 3-layer Chinese ELECTRA encoder), through `paddle_electra.training.finetune`.

(a) ChnSentiCorp (9,600 training and 1,200 dev reviews; more than half of the dev reviews are longer than 64
    tokens): fine-tuned and evaluated at --max-seq-length 64 with `--long-text truncate`, at 64 with
    windows (the default: training reads every window, prediction averages the windows' logits),
    and at 256 (where nearly every review fits). Dev accuracy.
(b) MSRA NER: a tagger fine-tuned on sentences (the first --train-sentences of the MSRA training set
    after removing those that share a 12-character substring with the dev set: benchmarks/
    finetune_msra_ner.py) tags the dev set (2,318 held-out sentences) four ways at --max-seq-length
    128: sentence by sentence; with the sentences joined into documents of about 2,000 characters,
    read in windows over the whole document (`--long-text window`), read sentence by sentence
    (`--long-text sentences`, tagging's default: cut after 。！？), and truncated. Entity F1
    (seqeval) over the same gold entities. The tagger is trained once and kept (WORK/msra/model-N):
    a later run only evaluates.

Run from the repo root, on a quiet machine:
    .venv/bin/python benchmarks/long_documents.py --chnsenticorp CHNSENTICORP_DIR \
        --msra-dev MSRA_NER_DIR/dev.tsv
Prints two markdown tables and, last, one JSON line.
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import describe_cpu, markdown_table, need_data  # noqa: E402
from finetune_chnsenticorp import paddle_model_dir  # noqa: E402
from finetune_msra_ner import prepare, write_tsv  # noqa: E402

WORK = "/tmp/paddle-electra-results/long_documents"
RECIPE = dict(epochs=1, learning_rate=3e-4, batch_size=32, seed=1, logging_steps=10_000)


def chnsenticorp(data_dir):
    """{setting: dev accuracy}, each setting fine-tuned and evaluated as the module docstring says."""
    from paddle_electra.training.finetune import evaluate, finetune

    results = {}
    for name, length, long_text in (
        ("truncate 64", 64, "truncate"),
        ("windows 64", 64, "window"),
        ("256", 256, None),
    ):
        out = os.path.join(WORK, "chnsenticorp", name.replace(" ", "-"))
        start = time.time()
        finetune(
            "chnsenticorp",
            paddle_model_dir(),
            data_dir,
            out,
            max_seq_length=length,
            long_text=long_text,
            **RECIPE,
        )
        dev = evaluate(None, out, os.path.join(data_dir, "dev.tsv"))
        results[name] = {"accuracy": dev["accuracy"], "train_and_eval_s": round(time.time() - start)}
    return results


def documents(sentences, size=2000):
    """Consecutive (characters, tags) sentences joined into documents of at least `size` characters."""
    docs, chars, tags = [], [], []
    for c, t in sentences:
        chars, tags = chars + c, tags + t
        if len(chars) >= size:
            docs.append((chars, tags))
            chars, tags = [], []
    return docs + ([(chars, tags)] if chars else [])


def msra(dev, train_sentences):
    """{setting: entity P/R/F1} of one sentence-trained tagger on the dev set, as sentences and as
    documents."""
    from paddle_electra.tasks.readers import read_tagging
    from paddle_electra.training.finetune import evaluate, finetune

    data_dir, _, stats = prepare(dev, train_sentences)
    out = os.path.join(WORK, "msra", f"model-{train_sentences}")
    if not os.path.isfile(os.path.join(out, "model.safetensors")):
        finetune(
            "token-classification",
            paddle_model_dir(),
            data_dir,
            out,
            max_seq_length=128,
            epochs=1,
            learning_rate=3e-4,
            batch_size=32,
            seed=1,
            logging_steps=10_000,
        )
    sentences = [(s.tokens, s.labels) for s in read_tagging(dev)]
    docs = documents(sentences)
    docs_path = os.path.join(WORK, "msra", "dev_documents.tsv")
    write_tsv(docs_path, docs)
    results = {"sentences": evaluate(None, out, dev, max_seq_length=128)}
    for mode in ("window", "sentences", "truncate"):
        default = " (the default)" if mode == "sentences" else ""
        results[f"documents, --long-text {mode}{default}"] = evaluate(
            None, out, docs_path, max_seq_length=128, task_options={"long_text": mode}
        )
    lengths = [len(c) for c, _ in docs]
    return results, {**stats, "documents": len(docs), "document_chars_min_max": [min(lengths), max(lengths)]}


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--chnsenticorp", help="ChnSentiCorp directory (train.tsv, dev.tsv: label<TAB>text_a)"
    )
    parser.add_argument(
        "--msra-dev", help="the MSRA NER dev set (dev.tsv: text_a<TAB>label, space-separated)"
    )
    parser.add_argument(
        "--train-sentences", type=int, default=10000, help="MSRA training sentences (default 10000)"
    )
    parser.add_argument("--skip", choices=["chnsenticorp", "msra"], action="append", default=[])
    args = parser.parse_args()
    os.makedirs(WORK, exist_ok=True)
    report = {"cpu": describe_cpu()}
    if "chnsenticorp" not in args.skip:
        senti = chnsenticorp(need_data(args.chnsenticorp, "--chnsenticorp", "the ChnSentiCorp directory"))
        print(
            markdown_table(
                ["ChnSentiCorp dev", "accuracy", "train + eval s"],
                [[k, f"{v['accuracy']:.4f}", str(v["train_and_eval_s"])] for k, v in senti.items()],
            )
        )
        report["chnsenticorp"] = senti
    if "msra" not in args.skip:
        ner, stats = msra(
            need_data(args.msra_dev, "--msra-dev", "the MSRA NER dev.tsv"), args.train_sentences
        )
        print(
            markdown_table(
                ["MSRA NER dev", "precision", "recall", "entity F1"],
                [
                    [k, f"{v['precision']:.4f}", f"{v['recall']:.4f}", f"{v['f1']:.4f}"]
                    for k, v in ner.items()
                ],
            )
        )
        report.update(msra=ner, msra_data=stats)
    print(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":
    main()
