"""CMRC 2018 reading comprehension on real pretrained weights (LTP-tiny, a 3-layer Chinese ELECTRA
encoder): paddle-electra (`paddle_electra.training.finetune.finetune`, the code behind `paddle-electra
finetune --task cmrc2018`, then `predict`) against an HF transformers / PyTorch peer
(benchmarks/_hf_qa.py, run with $PADDLE_ELECTRA_REF_PYTHON) with the same weights, data and recipe,
in the same run, both scored by the official CMRC 2018 metric (`paddle_electra.tasks.metrics.cmrc_scores`).

Data: the CMRC 2018 trial set (trial.json, 256 articles, 1,002 questions), split by article in file
order: the first 80% of the articles (204 articles, 798 questions) for training, the last 20% (52
articles, 204 questions) held out. Both sides answer the held-out questions and, to show how well
they fit their training data, the questions of the first 52 training articles (train_sample.json).

Recipe (both sides): max_seq_length 384, doc_stride 128 (a window starts every 128 context tokens),
max_query_length 64, AdamW lr 3e-4, weight decay 0.01, linear decay with 10% warm-up, batch 32,
gradient clipping 1.0, `--epochs` (3); heads `original` (ELECTRA's: start logits, end logits
conditioned on the start, answerability classifier) and `linear` (BERT/HF: one linear layer; HF's
does not mask non-context positions, ours does); answers of at most `--max-answer-lengths` tokens
(each is scored; 30 is the ELECTRA/HF default, but a third of the trial set's answers are longer),
n-best 20. Our side uses its default fast CPU training path; the peer uses torch's default threads.

Run from the repo root (about 10 minutes per side and head on 2 quiet cores):
    export PADDLE_ELECTRA_REF_PYTHON=REF_ENV/bin/python
    .venv/bin/python benchmarks/finetune_cmrc2018.py --trial CMRC/trial.json
Prints a markdown table and, last, one JSON line.
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import CLEAN_ENV, MAIN_PY, markdown_table, need_data, ref_python, wait_for_quiet  # noqa: E402
from finetune_chnsenticorp import capture_train, hf_model_dir, paddle_model_dir, run_json  # noqa: E402

TRIAL_HELP = "the CMRC 2018 trial set (trial.json, SQuAD format, 256 articles)"
WORK = "/tmp/paddle-electra-results/cmrc2018"


def prepare(trial_path, train_fraction):
    """Split by article: DIR/train/train.json (a task directory without dev file), DIR/heldout.json,
    and DIR/train_sample.json: as many training articles as are held out (their questions are answered
    to show how well each side fits its training data)."""
    with open(trial_path, encoding="utf-8") as f:
        trial = json.load(f)
    articles = trial["data"]
    n = int(train_fraction * len(articles))
    data_dir = os.path.join(WORK, f"data-{n}of{len(articles)}")
    os.makedirs(os.path.join(data_dir, "train"), exist_ok=True)
    sample = articles[: len(articles) - n]
    for name, part in (
        ("train/train.json", articles[:n]),
        ("heldout.json", articles[n:]),
        ("train_sample.json", sample),
    ):
        with open(os.path.join(data_dir, name), "w", encoding="utf-8") as f:
            json.dump({"version": trial.get("version", "v1.0"), "data": part}, f, ensure_ascii=False)

    def questions(part):
        return sum(len(p["qas"]) for a in part for p in a["paragraphs"])

    stats = {
        "articles": len(articles),
        "train_articles": n,
        "heldout_articles": len(articles) - n,
        "train_questions": questions(articles[:n]),
        "heldout_questions": questions(articles[n:]),
        "train_sample_articles": len(sample),
        "train_sample_questions": questions(sample),
    }
    return data_dir, stats


def worker(args):
    """Ours: fine-tune, then answer every --predict file for each max answer length."""
    from paddle_electra.models.tokenizer import ElectraTokenizer
    from paddle_electra.runtime.batching import predict_items
    from paddle_electra.runtime.predictor import Predictor
    from paddle_electra.tasks.registry import get_task
    from paddle_electra.training.finetune import finetune, load_finetuned

    qa = {"doc_stride": args.doc_stride, "max_query_length": args.max_query_length}
    result = {
        "side": "paddle",
        "head": args.head,
        "seed": args.seed,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
    }
    task = get_task("cmrc2018", **qa)
    examples = task.read(os.path.join(args.data_dir, "train.json"), training=True)
    rows, _ = task.encode(
        examples, ElectraTokenizer.from_pretrained(args.model), args.max_seq_length, training=True
    )
    result.update(
        train_questions=len(examples),
        train_features=len(rows),
        train_features_with_answer=sum(r["start_positions"] > 0 for r in rows),
    )
    captured = {}
    capture_train(captured)
    finetune(
        "cmrc2018",
        args.model,
        args.data_dir,
        args.output,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        max_seq_length=args.max_seq_length,
        seed=args.seed,
        max_steps=args.max_steps,
        qa_options=qa,
        qa_head=args.head,
    )
    result.update(
        train_runtime=captured["train_runtime"],
        train_features_per_s=captured["train_samples_per_second"],
        steps=captured["steps"],
        process_cores=captured["process_cores"],
        foreign_cores=captured["foreign_cores"],
        loss_every_50_steps=captured["loss_every_50_steps"],
    )
    # as `predict` does it (finetune._predictions), with the model run once for all answer lengths
    task, net, tokenizer = load_finetuned(args.output, **qa)
    predictor, predictions = Predictor(net), {}
    for path in args.predict:
        examples = task.read(path)
        rows, windows = task.encode(examples, tokenizer, args.max_seq_length)
        outputs = predict_items(predictor, rows, args.batch_size)
        predictions[path] = {}
        for length in args.max_answer_length:
            task.options["max_answer_length"] = length
            answers = task.decode(examples, rows, windows, outputs)
            predictions[path][length] = {e.qid: a["text"] for e, a in zip(examples, answers)}
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(predictions, f, ensure_ascii=False)
    print(json.dumps(result))


def score(predictions_file, gold_files):
    """{file: {max answer length: {"em", "f1"}}} of a predictions file ({file: {length: {qid: text}}})."""
    from paddle_electra.tasks.metrics import cmrc_scores
    from paddle_electra.tasks.readers import read_squad

    with open(predictions_file, encoding="utf-8") as f:
        predictions = json.load(f)
    out = {}
    for name, path in gold_files.items():
        gold = {e.qid: [a["text"] for a in e.answers] for e in read_squad(path)}
        out[name] = {
            int(length): {k: round(v, 2) for k, v in cmrc_scores(gold, answers).items() if k in ("em", "f1")}
            for length, answers in predictions[path].items()
        }
    return out


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trial", help=TRIAL_HELP + " (required)")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=384)
    parser.add_argument("--doc-stride", type=int, default=128)
    parser.add_argument("--max-query-length", type=int, default=64)
    parser.add_argument(
        "--max-answer-lengths",
        default="30,64",
        help="answer lengths (tokens) to score, comma-separated (default 30,64)",
    )
    parser.add_argument(
        "--train-fraction", type=float, default=0.8, help="first fraction of the articles for training"
    )
    parser.add_argument("--seeds", default="1", help="comma-separated seeds (default 1)")
    parser.add_argument(
        "--heads",
        default="original,linear",
        help="QA heads to compare, comma-separated (default original,linear)",
    )
    parser.add_argument("--sides", default="hf,paddle", help="which sides to run (default hf,paddle)")
    parser.add_argument(
        "--quiet-limit",
        type=float,
        default=0.5,
        help="before each run, wait until other processes use fewer cores (default 0.5)",
    )
    parser.add_argument(
        "--max-wait", type=float, default=120, help="... but at most this many seconds (default 120)"
    )
    parser.add_argument(
        "--model", help="converted LTP-tiny (default ~/.cache/paddle-electra/ltp_tiny_paddle)"
    )
    parser.add_argument(
        "--hf-model", help="LTP-tiny HF dir (default paddle_electra_convert.assets.ltp_tiny_dir())"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--head", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--predict", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--max-answer-length", type=int, nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--max-steps", type=int, default=-1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    need_data(args.trial, "--trial", TRIAL_HELP)
    sides = args.sides.split(",")
    ref = ref_python() if "hf" in sides else None
    model = args.model or paddle_model_dir()
    hf_model = args.hf_model or hf_model_dir()
    data_dir, stats = prepare(args.trial, args.train_fraction)
    print(json.dumps(stats), file=sys.stderr, flush=True)
    train_file = os.path.join(data_dir, "train", "train.json")
    gold = {
        "heldout": os.path.join(data_dir, "heldout.json"),
        "train_sample": os.path.join(data_dir, "train_sample.json"),
    }
    lengths = [str(int(x)) for x in args.max_answer_lengths.split(",")]
    recipe = [
        "--epochs",
        str(args.epochs),
        "--learning-rate",
        str(args.learning_rate),
        "--batch-size",
        str(args.batch_size),
        "--max-seq-length",
        str(args.max_seq_length),
        "--doc-stride",
        str(args.doc_stride),
        "--max-query-length",
        str(args.max_query_length),
        "--max-answer-length",
        *lengths,
        "--predict",
        *gold.values(),
    ]
    env = dict(CLEAN_ENV)
    env.pop("OMP_NUM_THREADS", None)
    runs = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for head in args.heads.split(","):
            for side in sides:
                name = f"{side}-{head}-seed{seed}-len{args.max_seq_length}-ep{args.epochs:g}"
                out = os.path.join(WORK, name + ".predictions.json")
                if side == "hf":
                    cmd = [
                        ref,
                        os.path.join(HERE, "_hf_qa.py"),
                        "--model-dir",
                        hf_model,
                        "--train",
                        train_file,
                        "--head",
                        head,
                    ]
                else:
                    cmd = [
                        MAIN_PY,
                        os.path.abspath(__file__),
                        "--worker",
                        "--model",
                        model,
                        "--data-dir",
                        os.path.dirname(train_file),
                        "--output",
                        os.path.join(WORK, name),
                        "--head",
                        head,
                    ]
                print(f"[{time.strftime('%H:%M:%S')}] {name} ...", file=sys.stderr, flush=True)
                wait_for_quiet(limit=args.quiet_limit, max_wait_s=args.max_wait)
                result = run_json(
                    cmd + recipe + ["--seed", str(seed), "--out", out],
                    env,
                    os.path.join(WORK, "logs", name + ".log"),
                )
                result["scores"] = score(out, gold)
                print(f"    {json.dumps(result)}", file=sys.stderr, flush=True)
                runs.append(result)

    side_name = {"paddle": "ours (Paddle)", "hf-torch": "HF (PyTorch)"}
    headers = [
        "side",
        "head",
        "seed",
        "steps",
        "train features/s",
        "cores used / others'",
        "loss every 50 steps",
    ]
    headers += [
        f"{split} EM / F1 (answers <= {n})" for split in ("held-out", "training sample") for n in lengths
    ]
    rows = []
    for r in runs:
        row = [
            side_name[r["side"]],
            r["head"],
            r["seed"],
            r["steps"],
            f"{r['train_features_per_s']:.1f}",
            f"{r['process_cores']} / {r['foreign_cores']}",
            ", ".join(f"{x:.2f}" for x in r["loss_every_50_steps"]),
        ]
        row += [
            f"{r['scores'][split][int(n)]['em']:.2f} / {r['scores'][split][int(n)]['f1']:.2f}"
            for split in ("heldout", "train_sample")
            for n in lengths
        ]
        rows.append(row)
    print(
        f"\nCMRC 2018 trial set, LTP-tiny: train {stats['train_articles']} articles / "
        f"{stats['train_questions']} questions "
        f"({runs[0]['train_features']} features), held out {stats['heldout_articles']} articles / "
        f"{stats['heldout_questions']} "
        f"questions; {args.epochs:g} epochs, max_seq_length {args.max_seq_length}, "
        f"doc_stride {args.doc_stride}, "
        f"lr {args.learning_rate:g}, batch {args.batch_size}\n"
    )
    print(markdown_table(headers, rows))
    print(
        json.dumps(
            {
                "task": "cmrc2018",
                "data": stats,
                "epochs": args.epochs,
                "learning_rate": args.learning_rate,
                "batch_size": args.batch_size,
                "max_seq_length": args.max_seq_length,
                "doc_stride": args.doc_stride,
                "runs": runs,
            }
        )
    )


if __name__ == "__main__":
    main()
