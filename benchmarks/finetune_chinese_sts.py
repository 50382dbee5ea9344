"""ChineseSTS (sentence-pair similarity, scores 0 to 5): LTP-tiny fine-tuned through our command line
(`paddle-electra finetune --task text-regression --seeds 1,2,3`) against HF transformers'
`ElectraForSequenceClassification(problem_type="regression")` (benchmarks/_hf_tasks.py) with the
same recipe, 3 seeds each.

Data: a directory with train.csv and dev.csv (header `text_a,text_b,score`). Both sides standardize
the targets with the training file's mean and (population) standard deviation, train with MSE on
them, and report Pearson, Spearman and MSE on dev in the file's scale with the model of the last
epoch (one evaluation per epoch; ours keeps the best by dev Spearman, the peer the last: the same
with one epoch).
Head (both): dropout -> dense -> gelu -> dropout -> linear to one output (ours `--classifier-head
two_layer`, which is HF's ElectraClassificationHead). Pairs longer than max_seq_length (about 2% of
either file at 128) are cut longest first on both sides (ours `--long-text truncate`; ids equal,
checked).
Recipe (both): 1 epoch, lr 3e-4, batch 32, max_seq_length 128, 10% warm-up, weight decay 0.01,
clipping at 1.0.

    export PADDLE_ELECTRA_REF_PYTHON=REF_ENV/bin/python
    .venv/bin/python benchmarks/finetune_chinese_sts.py --data CHINESE_STS_DIR

Prints a markdown table (per seed, mean ± sd, max (mean)), the wall times and one JSON line.
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import need_data, ref_python  # noqa: E402
from _seeds_vs_hf import add_recipe_options, compare, report  # noqa: E402

DATA_HELP = "the ChineseSTS directory: train.csv and dev.csv (header text_a,text_b,score)"
WORK = "/tmp/paddle-electra-results/chinese_sts"


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", help=DATA_HELP + " (required)")
    add_recipe_options(parser)
    args = parser.parse_args()
    data = need_data(args.data, "--data", DATA_HELP)
    ref_python()
    train, dev = (need_data(os.path.join(data, f"{s}.csv"), "--data", DATA_HELP) for s in ("train", "dev"))
    ours, hf, check = compare(
        "text-regression", args, WORK, train, dev, ours_options=["--long-text=truncate"]
    )
    report(
        f"ChineseSTS dev, LTP-tiny, {args.epochs:g} epoch(s), lr {args.learning_rate:g}, batch "
        f"{args.batch_size}, max_seq_length {args.max_seq_length}",
        [("spearman", "Spearman", 100), ("pearson", "Pearson", 100), ("mse", "MSE", 1)],
        ours,
        hf,
        {"task": "chinese_sts", "recipe": vars(args)},
        check,
    )


if __name__ == "__main__":
    main()
