#!/usr/bin/env bash
# Reading comprehension (span extraction): fine-tune the real LTP-tiny ELECTRA on CMRC 2018 (or DRCD
# with TASK=drcd) with the original ELECTRA QA head, then EM / F1 with the official CMRC metric.
#   bash examples/reading_comprehension.sh [DATA_DIR] [extra finetune args]
# DATA_DIR holds train.json and dev.json (SQuAD format).
source "$(dirname "$0")/common.sh"
TASK=${TASK:-cmrc2018}
DATA=${1:?pass a directory with train.json and dev.json}
shift
$PE finetune --task "$TASK" --model "$LTP" --data-dir "$DATA" --output "runs/$TASK" \
  --learning-rate 3e-4 --batch-size 16 --max-seq-length 256 --epochs 2 --max-answer-length 64 "$@"
$PE evaluate --task "$TASK" --model "runs/$TASK" --data-file "$DATA/dev.json" --max-seq-length 256 --max-answer-length 64
