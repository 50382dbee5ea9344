#!/usr/bin/env bash
# The GPU check in one script, sized for about 10 minutes on one H100:
#   1. install the GPU lock into $VENV (default .venv-gpu; `dev.sh gpu-env`) and check Paddle sees the GPU
#   2. the `gpu` tests (tests/test_gpu.py): GPU = CPU for the converted towers, finetune / pretrain on
#      the GPU without the fused CPU kernels, mixed precision, Predictor (fp32, fp16), hub use_gpu
#   3. ChnSentiCorp accuracy fine-tuned in fp32, fp16 and bf16 (LTP-tiny, 3 epochs), when
#      CHNSENTICORP=DIR (train.tsv, dev.tsv: the full set) is given and `finetune` has --fp16/--bf16
#   4. benchmarks/bench_gpu.py: fine-tuning examples/s and inference tokens/s, small and base, against
#      HF transformers on the same GPU (HF side: $PADDLE_ELECTRA_REF_PYTHON, or python3 if it has
#      torch with CUDA and transformers)
#
#   bash benchmarks/gpu_check.sh                      # results under $OUT (default runs/gpu_check)
#   CHNSENTICORP=../shared/data/chnsenticorp OUT=/tmp/gpu bash benchmarks/gpu_check.sh
#   SKIP_INSTALL=1 VENV=/path/to/env bash benchmarks/gpu_check.sh   # an environment with paddlepaddle-gpu already
#
# Needs Linux x86_64, an NVIDIA driver for CUDA >= 12.6, Python 3.11, and PyPI plus Paddle's package
# index (https://www.paddlepaddle.org.cn/packages/stable/cu126/), or their wheels through PIP_FIND_LINKS
# with PIP_NO_INDEX=1. LTP-tiny comes from PyPI. A step that fails is reported and the next one runs;
# the exit status is the number of failed steps. Writes at most 7 files into $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu_check}
export VENV=${VENV:-.venv-gpu}
mkdir -p "$OUT"
failed=0
step() { echo; echo "== $*"; }
fail() { echo "FAILED: $*"; failed=$((failed + 1)); }

step "1. GPU environment ($VENV from requirements/requirements-gpu-lock.txt)"
{ nvidia-smi || echo "nvidia-smi not found"; } >"$OUT/nvidia-smi.txt" 2>&1
head -15 "$OUT/nvidia-smi.txt"
if [ -n "${SKIP_INSTALL:-}" ]; then  # SKIP_INSTALL=1 VENV=DIR: use an environment that already has paddlepaddle-gpu
  echo "using $VENV as it is"
elif ! timeout 900 bash dev.sh gpu-env; then
  fail "installing the GPU lock"
  exit "$failed"
fi
"$VENV/bin/pip" freeze >"$OUT/pip-freeze.txt"  # the nvidia-*-cu12 versions paddlepaddle-gpu brought
"$VENV/bin/python" - <<'EOF' 2>&1 | tee "$OUT/paddle-gpu.txt" || fail "Paddle does not see the GPU"
import paddle
paddle.utils.run_check()
assert paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0, "no GPU visible to Paddle"
print("paddle", paddle.__version__, "CUDA", paddle.version.cuda(), "cuDNN", paddle.version.cudnn(),
      "device", paddle.device.cuda.get_device_name(0), "bf16", paddle.amp.is_bfloat16_supported())
EOF

step "2. gpu tests"
timeout 600 "$VENV/bin/python" -m pytest -m gpu tests/test_gpu.py -v -s -p no:cacheprovider -W ignore 2>&1 \
  | tee "$OUT/gpu-tests.txt" | grep -E "PASSED|FAILED|SKIPPED|ERROR|max \||loss|passed|failed" || true
grep -qE "[0-9]+ passed" "$OUT/gpu-tests.txt" && ! grep -qE "[0-9]+ (failed|error)|skipped" "$OUT/gpu-tests.txt" \
  || fail "gpu tests (see $OUT/gpu-tests.txt)"

step "3. ChnSentiCorp accuracy, fp32 / fp16 / bf16"
if [ -z "${CHNSENTICORP:-}" ]; then
  echo "skipped: set CHNSENTICORP=DIR (the full train.tsv and dev.tsv) to run it"
elif ! "$VENV/bin/paddle-electra" finetune --help | grep -q -- "--fp16"; then
  fail "finetune has no --fp16 / --bf16 yet"
else
  work=$(mktemp -d)
  "$VENV/bin/python" -c "from paddle_electra_convert import convert_hf; from paddle_electra_convert.assets import ltp_tiny_dir; convert_hf(ltp_tiny_dir(), '$work/ltp')" >/dev/null
  for precision in fp32 fp16 bf16; do
    flag=$([ "$precision" = fp32 ] || echo "--$precision")
    timeout 600 "$VENV/bin/paddle-electra" finetune --task chnsenticorp --model "$work/ltp" --data-dir "$CHNSENTICORP" \
      --output "$work/$precision" --epochs 3 --batch-size 32 --learning-rate 1e-4 $flag >"$work/$precision.log" 2>&1 \
      || { tail -5 "$work/$precision.log"; fail "finetune $precision"; }
  done
  "$VENV/bin/python" - "$work" <<'EOF' 2>&1 | tee "$OUT/accuracy.txt"
import json, os, sys
acc = {}
for p in ("fp32", "fp16", "bf16"):
    path = os.path.join(sys.argv[1], p, "eval_results.json")
    acc[p] = json.load(open(path))["accuracy"] if os.path.isfile(path) else None
print("| precision | dev accuracy | vs fp32 (points) |\n|---|---|---|")
for p, a in acc.items():
    diff = "" if a is None or acc["fp32"] is None else f"{100 * (a - acc['fp32']):+.2f}"
    print(f"| {p} | {'-' if a is None else f'{a:.4f}'} | {diff} |")
EOF
  rm -rf "$work"
fi

step "4. speed against HF transformers on the same GPU"
if [ -z "${PADDLE_ELECTRA_REF_PYTHON:-}" ] && python3 -c "import torch, transformers; assert torch.cuda.is_available()" 2>/dev/null; then
  export PADDLE_ELECTRA_REF_PYTHON=$(command -v python3)
fi
timeout 600 "$VENV/bin/python" benchmarks/bench_gpu.py --out "$OUT" 2>&1 | tee "$OUT/bench_gpu.txt" || fail "bench_gpu.py"

echo
echo "gpu_check: $failed failed step(s); results in $OUT"
exit "$failed"
