#!/usr/bin/env bash
# Sentence (pair) classification: fine-tune the real LTP-tiny ELECTRA on ChnSentiCorp, then evaluate.
#   bash examples/classification.sh [DATA_DIR] [extra finetune args, e.g. --max-steps 50]
# DATA_DIR holds train.tsv and dev.tsv (label<TAB>text_a). For LCQMC / BQ Corpus / XNLI set TASK=lcqmc etc.
source "$(dirname "$0")/common.sh"
TASK=${TASK:-chnsenticorp}
DATA=${1:-../shared/data/chnsenticorp}
shift $(( $# > 0 ? 1 : 0 ))
$PE finetune --task "$TASK" --model "$LTP" --data-dir "$DATA" --output "runs/$TASK" \
  --learning-rate 3e-4 --batch-size 32 --max-seq-length 128 --epochs 1 "$@"
$PE evaluate --task "$TASK" --model "runs/$TASK" --data-file "$DATA/dev.tsv"
