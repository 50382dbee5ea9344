#!/usr/bin/env bash
# Your own labelled CSV (header `text,label`, any label names): fine-tune the real LTP-tiny ELECTRA,
# score the test file per class, and predict new texts.
#   bash examples/your_csv.sh [DATA_DIR] [extra finetune args, e.g. --epochs 3]
# DATA_DIR holds train.csv, dev.csv and (if you have one) test.csv, else dev.csv is scored; by default
# the 250-row SMP2020-EWECT sample shipped in tests/fixtures (six emotions; far too small to learn
# them: it only shows the steps).
# Imbalanced labels: the best epoch is kept by dev macro-F1.
source "$(dirname "$0")/common.sh"
DATA=${1:-tests/fixtures/data/smp2020_ewect_virus}
shift $(( $# > 0 ? 1 : 0 ))
OUT=runs/your_csv
$PE finetune --task text-classification --model "$LTP" --train-file "$DATA/train.csv" --dev-file "$DATA/dev.csv" \
  --output "$OUT" --metric-for-best-model macro_f1 --learning-rate 3e-4 --batch-size 32 --max-seq-length 128 --epochs 1 "$@"
TEST="$DATA/test.csv"; [ -f "$TEST" ] || TEST="$DATA/dev.csv"
$PE evaluate --model "$OUT" --data-file "$TEST" --report
printf '今天好开心\n疫情什么时候才能结束啊\n' | $PE predict --model "$OUT"
