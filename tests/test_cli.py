"""The `paddle-electra` command line: help texts, conversion, the README's demo on real weights, and
its output: results and our notices only, the libraries' own lines only with --verbose."""

import glob
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import TF_TINY

from paddle_electra.cli import build_parser, main


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["convert"],
        ["convert", "tf"],
        ["convert", "hf"],
        ["demo"],
        ["zoo"],
        ["hub"],
        ["hub", "pack"],
        ["finetune"],
        ["evaluate"],
        ["predict"],
        ["fill-mask"],
        ["rtd"],
        ["pretrain"],
        ["correct"],
    ],
)
def test_every_command_has_help(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv + ["--help"])
    assert exit_info.value.code == 0
    assert "usage: paddle-electra" in capsys.readouterr().out


def test_convert_tf_prints_what_it_wrote(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["convert", "tf", os.path.join(TF_TINY, "training"), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert f"discriminator: {out / 'discriminator'}" in printed
    assert (
        "skipped 165 optimizer variable(s); unused: 0" in printed
    )  # 82 weights x 2 Adam slots + global_step
    assert sorted(os.listdir(out / "generator")) == [
        "config.json",
        "model.safetensors",
        "special_tokens_map.json",
        "tokenizer_config.json",
        "vocab.txt",
    ]


def test_demo_runs_on_real_ltp_tiny(ltp_dir, capsys):
    assert main(["demo", "--text", "这家酒店的服务很好。", "--text", "房间又小又脏。"]) == 0
    printed = capsys.readouterr().out
    assert "hidden states: (2, " in printed and "[CLS] 这 家 酒 店 的 服 务 很 好 。 [SEP]" in printed
    rows = [line.split()[1:] for line in printed.split("cosine similarity")[1].splitlines()[1:]]
    similarity = np.array(rows, dtype=float)
    assert similarity.shape == (2, 2) and np.allclose(np.diag(similarity), 1.0) and similarity[0, 1] < 0.999


# Lines of other libraries that the commands showed before (issue 13): Paddle's glog lines from C++,
# paddle2onnx's progress (C++ and Python), Paddle's root-logger format, third-party warnings.
NOISE = re.compile(
    r"Paddle2ONNX|ONNX model saved|eager_utils|^[IWEF]\d{4} |^\[\d{4}-|pkg_resources|setuptools|\w+Warning:",
    re.M,
)


def test_native_output_is_hidden_unless_the_block_fails_or_verbose(capfd, monkeypatch):
    from paddle_electra.utils.quiet import VERBOSE_ENV, native_output

    monkeypatch.delenv(VERBOSE_ENV, raising=False)
    with native_output():  # what C++ code writes: straight to the file descriptors
        os.write(1, b"[Paddle2ONNX] Start parsing\n")
        os.write(2, b"W1127 16:07:23.382439 21051 eager_utils.cc:3584] PIR\n")
    assert capfd.readouterr() == ("", "")
    with pytest.raises(RuntimeError), native_output():
        os.write(2, b"the cause\n")
        raise RuntimeError("export failed")
    assert capfd.readouterr() == ("", "the cause\n")  # a failure shows what was captured
    monkeypatch.setenv(VERBOSE_ENV, "1")
    with native_output():
        os.write(1, b"progress\n")
    assert capfd.readouterr() == ("", "progress\n")  # verbose: on stderr, never among the results


def test_demo_prints_results_and_our_notices_only(ltp_dir, tmp_path):
    """The real command in a fresh cache, so that it converts, exports and makes the ONNX model."""
    cache = tmp_path / "cache"
    cache.mkdir()
    os.symlink(ltp_dir, cache / "ltp_tiny")
    env = {k: v for k, v in os.environ.items() if k != "PADDLE_ELECTRA_VERBOSE"}
    env["PADDLE_ELECTRA_CACHE"] = str(cache)
    command = [
        os.path.join(os.path.dirname(sys.executable), "paddle-electra"),
        "demo",
        "--text",
        "房间很干净。",
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr
    assert glob.glob(str(cache / "static" / "*" / "inference.onnx"))  # the noisy steps ran in this process
    assert "[CLS] 房 间 很 干 净 。 [SEP]" in result.stdout and "cosine similarity" in result.stdout
    assert not NOISE.search(result.stdout + result.stderr), result.stdout + result.stderr
    assert all(line.startswith(("INFO: ", "WARNING: ")) for line in result.stderr.splitlines()), result.stderr
    assert "INFO: exporting ElectraModel for fast prediction" in result.stderr  # our notices stay
