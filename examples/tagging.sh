#!/usr/bin/env bash
# Sequence labelling: fine-tune the real LTP-tiny ELECTRA on MSRA NER (BIO), then entity-level F1.
#   bash examples/tagging.sh [DATA_DIR] [extra finetune args]
# DATA_DIR holds train.tsv and dev.tsv (space-separated characters<TAB>space-separated tags), or the
# CoNLL layout (one `char tag` per line). The first sub-token of each character/word is labelled
# (--label-all-tokens labels every sub-token).
source "$(dirname "$0")/common.sh"
DATA=${1:?pass a directory with train.tsv and dev.tsv}
shift
$PE finetune --task msra_ner --model "$LTP" --data-dir "$DATA" --output runs/msra_ner \
  --learning-rate 3e-4 --batch-size 32 --max-seq-length 128 --epochs 1 "$@"
$PE evaluate --task msra_ner --model runs/msra_ner --data-file "$DATA/dev.tsv"
