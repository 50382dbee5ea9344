"""C3 (multiple-choice reading comprehension, nlpdata/c3): LTP-tiny fine-tuned through our command line
(`paddle-electra finetune --task multiple-choice --seeds 1,2,3`) against HF transformers'
`ElectraForMultipleChoice` (benchmarks/_hf_tasks.py) with the same recipe, 3 seeds each.

Data: the directory of C3's published files: c3-m-train.json, c3-d-train.json, c3-m-dev.json,
c3-d-dev.json (mixed-genre texts and dialogues; 2 to 4 choices per question). Both sides train on
c3-m-train + c3-d-train (11,869 questions; the two lists joined into one file), and score accuracy
on c3-m dev (ours' --dev-file) and c3-d dev (ours' --test-file) with the model of the last step
(ours: `--eval-steps` past the last step, so no evaluation or checkpoint during training).
Each choice is [CLS] context [SEP] question choice [SEP], the context cut first (ids equal on both
sides, checked).
Head (both): dropout -> dense -> gelu -> dropout -> linear to one score per choice, a softmax over the
question's choices: ours `--classifier-head two_layer`, HF's ElectraForMultipleChoice with
`summary_first_dropout` set (its SequenceSummary lacks the first dropout otherwise).
Recipe (both): --max-steps steps of --batch-size questions (default 200 x 16 = 3,200 questions,
about a quarter of an epoch, each seed's own random quarter; the schedule decays to 0 at the last step),
lr 3e-4, max_seq_length 128, 10% warm-up, weight decay 0.01, clipping at 1.0.

    export PADDLE_ELECTRA_REF_PYTHON=REF_ENV/bin/python
    .venv/bin/python benchmarks/finetune_c3.py --data C3_DIR

Prints a markdown table (per seed, mean ± sd, max (mean)), the wall times and one JSON line.
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import need_data, ref_python  # noqa: E402
from _seeds_vs_hf import add_recipe_options, compare, report  # noqa: E402

DATA_HELP = "the C3 directory: c3-m-train.json, c3-d-train.json, c3-m-dev.json, c3-d-dev.json"
WORK = "/tmp/paddle-electra-results/c3"


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", help=DATA_HELP + " (required)")
    add_recipe_options(parser, max_steps=200, batch_size=16)
    args = parser.parse_args()
    data = need_data(args.data, "--data", DATA_HELP)
    ref_python()
    files = {name: os.path.join(data, f"c3-{name}.json") for name in ("m-train", "d-train", "m-dev", "d-dev")}
    for path in files.values():
        need_data(path, "--data", DATA_HELP)
    os.makedirs(WORK, exist_ok=True)
    train = os.path.join(WORK, "c3-md-train.json")
    items = [
        item for name in ("m-train", "d-train") for item in json.load(open(files[name], encoding="utf-8"))
    ]
    with open(train, "w", encoding="utf-8") as f:
        json.dump(items, f, ensure_ascii=False)
    # no evaluation nor checkpoint during training: the last step's model is scored
    ours, hf, check = compare(
        "multiple-choice", args, WORK, train, files["m-dev"], files["d-dev"], ["--eval-steps=1000000"]
    )
    steps = f"{args.max_steps} steps" if args.max_steps > 0 else f"{args.epochs:g} epochs"
    report(
        f"C3 dev accuracy (%), LTP-tiny, trained on c3-m + c3-d train: {steps} x {args.batch_size} "
        f"questions, lr {args.learning_rate:g}, max_seq_length {args.max_seq_length}",
        [("accuracy", "c3-m acc", 100), ("test_accuracy", "c3-d acc", 100)],
        ours,
        hf,
        {"task": "c3", "recipe": vars(args), "train_questions": sum(len(item[1]) for item in items)},
        check,
    )


if __name__ == "__main__":
    main()
