"""CMRC 2018 reading comprehension on real pretrained weights (LTP-tiny, a 3-layer Chinese ELECTRA
encoder) with paddle-electra (`paddle_electra.finetune.finetune` + `evaluate`, official CMRC metric).

Data: the CMRC 2018 trial set (`--trial`: ymcui/cmrc2018's trial.json, 256 articles, 1,002
questions), split by article in file order: the first 80% of the articles (204 articles, 798
questions) for training, the last 20% (52 articles, 204 questions) held out. This is a tiny training
set for span extraction, so low scores are expected; the numbers show the pipeline works end to end
on real data, not what ELECTRA reaches on the full CMRC 2018 train set (10k questions).

Recipe: LTP-tiny + ELECTRA's original QA head (start logits; end logits conditioned on the start;
answerability classifier), max_seq_length 384, doc_stride 128, max_query_length 64, AdamW lr 3e-4,
weight decay 0.01, linear decay with 10% warm-up, batch 32, OMP_NUM_THREADS=2. Scores: EM and F1 of
the official CMRC 2018 evaluation (`paddle_electra.metrics.cmrc_scores`), via `evaluate` on the
saved model; also the same metric for the untrained head (0 steps) as a floor.

Run from the repo root:
    .venv/bin/python benchmarks/finetune_cmrc2018.py --trial CMRC2018_DIR/trial.json --epochs 3
Prints a markdown table and, last, one JSON line.
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import CLEAN_ENV, MAIN_PY, markdown_table, need_data  # noqa: E402
from finetune_chnsenticorp import capture_train, paddle_model_dir, run_json, wait_for_benchmarks  # noqa: E402

TRIAL_HELP = "the CMRC 2018 trial set (trial.json, SQuAD format, 256 articles)"
WORK = "/tmp/paddle-electra-results/cmrc2018"


def prepare(trial_path, train_fraction):
    with open(trial_path, encoding="utf-8") as f:
        trial = json.load(f)
    articles = trial["data"]
    n = int(train_fraction * len(articles))
    data_dir = os.path.join(WORK, f"data-{n}of{len(articles)}")
    os.makedirs(data_dir, exist_ok=True)
    for name, part in (("train.json", articles[:n]), ("dev.json", articles[n:])):
        with open(os.path.join(data_dir, name), "w", encoding="utf-8") as f:
            json.dump({"version": trial.get("version", "v1.0"), "data": part}, f, ensure_ascii=False)

    def questions(part):
        return sum(len(p["qas"]) for a in part for p in a["paragraphs"])

    stats = {"articles": len(articles), "train_articles": n, "heldout_articles": len(articles) - n,
             "train_questions": questions(articles[:n]), "heldout_questions": questions(articles[n:])}
    return data_dir, stats


def worker(args):
    from paddle_electra.finetune import evaluate, finetune, load_for_task
    from paddle_electra.tasks import get_task

    qa = {"doc_stride": args.doc_stride, "max_query_length": args.max_query_length}
    result = {"seed": args.seed, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}
    # features (windows) per split, as finetune/evaluate build them
    task = get_task("cmrc2018", **qa)
    _, tokenizer = load_for_task(task, args.model)
    for split in ("train", "dev"):
        examples = task.read(os.path.join(args.data_dir, split + ".json"), training=split == "train")
        rows, _ = task.encode(examples, tokenizer, args.max_seq_length, training=split == "train")
        result[f"{split}_features"] = len(rows)
        if split == "train":
            result["train_features_with_answer"] = sum(r["start_positions"] > 0 for r in rows)
    captured = {}
    capture_train(captured)
    start = time.perf_counter()
    dev = finetune("cmrc2018", args.model, args.data_dir, args.output, epochs=args.epochs, learning_rate=args.learning_rate,
                   batch_size=args.batch_size, max_seq_length=args.max_seq_length, seed=args.seed, max_steps=args.max_steps,
                   qa_options=qa)
    result.update(dev=dev, finetune_call_s=round(time.perf_counter() - start, 1), train_runtime=captured["train_runtime"],
                  train_features_per_s=captured["train_samples_per_second"], steps=captured["steps"],
                  process_cores=captured["process_cores"], foreign_cores=captured["foreign_cores"],
                  loss_every_50_steps=captured["loss_every_50_steps"])
    start = time.perf_counter()
    result["heldout"] = evaluate("cmrc2018", args.output, os.path.join(args.data_dir, "dev.json"), batch_size=args.batch_size,
                                 max_seq_length=args.max_seq_length, qa_options=qa)
    result["heldout_eval_s"] = round(time.perf_counter() - start, 1)
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trial", help=TRIAL_HELP + " (required)")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=384)
    parser.add_argument("--doc-stride", type=int, default=128)
    parser.add_argument("--max-query-length", type=int, default=64)
    parser.add_argument("--train-fraction", type=float, default=0.8, help="first fraction of the articles for training")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2, help="OMP_NUM_THREADS for Paddle (default 2; Paddle's own default is 1)")
    parser.add_argument("--no-floor", action="store_true", help="skip the untrained-head (1 step at lr 0) floor run")
    parser.add_argument("--model", help="converted LTP-tiny (default ~/.cache/paddle-electra/ltp_tiny_paddle)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    parser.add_argument("--max-steps", type=int, default=-1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    need_data(args.trial, "--trial", TRIAL_HELP)
    model = args.model or paddle_model_dir()
    data_dir, stats = prepare(args.trial, args.train_fraction)
    print(json.dumps(stats), file=sys.stderr, flush=True)
    env = dict(CLEAN_ENV, OMP_NUM_THREADS=str(args.threads))

    def run(name, epochs, lr, max_steps=-1):
        cmd = [MAIN_PY, os.path.abspath(__file__), "--worker", "--model", model, "--data-dir", data_dir,
               "--output", os.path.join(WORK, name), "--epochs", str(epochs), "--learning-rate", str(lr),
               "--batch-size", str(args.batch_size), "--max-seq-length", str(args.max_seq_length),
               "--doc-stride", str(args.doc_stride), "--max-query-length", str(args.max_query_length),
               "--seed", str(args.seed), "--max-steps", str(max_steps)]
        wait_for_benchmarks()
        print(f"[{time.strftime('%H:%M:%S')}] {name} ...", file=sys.stderr, flush=True)
        return run_json(cmd, env, os.path.join(WORK, "logs", name + ".log"))

    name = f"seed{args.seed}-len{args.max_seq_length}-ep{args.epochs:g}"
    trained = run(name, args.epochs, args.learning_rate)
    floor = None if args.no_floor else run(f"floor-len{args.max_seq_length}", 1, 0.0, max_steps=1)

    rows = [[f"fine-tuned, {args.epochs:g} epochs ({trained['steps']} steps)", f"{trained['heldout']['em']:.2f}", f"{trained['heldout']['f1']:.2f}"]]
    if floor:
        rows.append(["untrained QA head (1 step at lr 0)", f"{floor['heldout']['em']:.2f}", f"{floor['heldout']['f1']:.2f}"])
    print(f"\nCMRC 2018 trial set, LTP-tiny: train {stats['train_articles']} articles / {stats['train_questions']} questions "
          f"({trained['train_features']} features), held out {stats['heldout_articles']} articles / {stats['heldout_questions']} "
          f"questions; max_seq_length {args.max_seq_length}, doc_stride {args.doc_stride}, lr {args.learning_rate:g}, batch {args.batch_size}\n")
    print(markdown_table(["model", "held-out EM", "held-out F1"], rows))
    print(f"\ntraining: {trained['steps']} steps, {trained['train_runtime']:.0f} s, {trained['train_features_per_s']:.2f} features/s "
          f"({trained['process_cores']} cores used, other processes {trained['foreign_cores']} cores)")
    print(json.dumps({"task": "cmrc2018", "data": stats, "epochs": args.epochs, "learning_rate": args.learning_rate,
                      "batch_size": args.batch_size, "max_seq_length": args.max_seq_length, "doc_stride": args.doc_stride,
                      "threads": args.threads, "result": trained, "floor": floor}))


if __name__ == "__main__":
    main()
