# Shared by the examples: the project's CLI, and the real LTP-tiny ELECTRA converted to Paddle.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -x .venv/bin/paddle-electra ] || bash dev.sh env
PE=.venv/bin/paddle-electra
LTP=runs/ltp_tiny_paddle
if [ ! -f "$LTP/model.safetensors" ]; then
  $PE convert hf "$(.venv/bin/python -c 'from paddle_electra_convert.assets import ltp_tiny_dir; print(ltp_tiny_dir())')" --out "$LTP" --overwrite
fi
