"""The pinned environments: the GPU lock stays the CPU lock with paddlepaddle-gpu, and dev.sh installs
each lock once (its stamp covers only the files it installs), switching between them cleanly."""

import os
import shutil
import subprocess

from conftest import ROOT

REQUIREMENTS = os.path.join(ROOT, "requirements")


def _pins(name):
    with open(os.path.join(REQUIREMENTS, name), encoding="utf-8") as f:
        return [line.split("#")[0].strip() for line in f if line.strip() and not line.startswith(("#", "--"))]


def test_gpu_lock_is_the_cpu_lock_with_paddlepaddle_gpu():
    cpu, gpu = _pins("requirements-lock.txt"), _pins("requirements-gpu-lock.txt")
    swapped = [pin.replace("paddlepaddle==", "paddlepaddle-gpu==") for pin in cpu]
    assert gpu == swapped, (
        "requirements-gpu-lock.txt has drifted from requirements-lock.txt: copy the CPU lock's pins "
        "below its header, with paddlepaddle==X replaced by paddlepaddle-gpu==X"
    )
    assert any(pin.startswith("paddlepaddle-gpu==") for pin in gpu)
    with open(os.path.join(REQUIREMENTS, "requirements-gpu-lock.txt"), encoding="utf-8") as f:
        assert "--extra-index-url https://www.paddlepaddle.org.cn/packages/stable/cu126/\n" in f.read()


FAKE_PYTHON = """#!/usr/bin/env bash
# stands in for python3.11 and the venv's python: `-m venv DIR` makes DIR/bin/python (this script);
# pip calls are logged
if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin"; cp "$0" "$3/bin/python"; exit 0; fi
for a in "$@"; do
  case "$a" in
    /dev/fd/*) printf '%s ' "$(tr '\\n' ' ' <"$a")" >>"$CALLS";;
    *) printf '%s ' "$a" >>"$CALLS";;
  esac
done
echo >>"$CALLS"
"""


def test_dev_sh_installs_each_lock_once_and_switches_cleanly(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("dev.sh", "setup.py"):
        shutil.copy(os.path.join(ROOT, name), repo / name)
    shutil.copytree(REQUIREMENTS, repo / "requirements")
    fake = tmp_path / "python3.11"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    calls = tmp_path / "calls.log"
    env = {**os.environ, "PYTHON": str(fake), "VENV": str(tmp_path / "venv"), "CALLS": str(calls)}

    def run(command):
        calls.write_text("")
        subprocess.run(["bash", str(repo / "dev.sh"), command], env=env, check=True, capture_output=True)
        return calls.read_text().splitlines()

    first = run("env")
    assert any(
        "--no-deps -r requirements/requirements-lock.txt -r requirements/requirements-dev.txt" in c
        for c in first
    )
    assert not any("gpu-lock" in c for c in first)
    assert run("env") == []  # installed: no reinstall
    (repo / "requirements" / "requirements-extra.txt").write_text("something==1.0\n")
    assert run("env") == []  # a requirements file dev.sh does not install changes nothing

    gpu = run("gpu-env")
    assert any("uninstall -q -y paddlepaddle " in c for c in gpu)  # the CPU wheel's `paddle` goes first
    assert any("--no-deps -r requirements/requirements-gpu-lock.txt" in c for c in gpu)
    assert any(
        "--extra-index-url https://www.paddlepaddle.org.cn/packages/stable/cu126/ paddlepaddle-gpu==" in c
        for c in gpu
    )
    assert run("env") == []  # `env` / `test` keep the GPU environment instead of reinstalling the CPU lock

    (repo / "requirements" / "requirements-lock.txt").write_text(
        (repo / "requirements" / "requirements-lock.txt").read_text() + "\n"
    )
    assert run("env") == []  # the GPU environment does not depend on the CPU lock
    back = subprocess.run(
        ["bash", str(repo / "dev.sh"), "env"],
        env={**env, "LOCK": "requirements/requirements-lock.txt"},
        check=True,
        capture_output=True,
    )
    assert back.returncode == 0 and "uninstall -q -y paddlepaddle-gpu" in calls.read_text()
