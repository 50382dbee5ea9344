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


def _subparser(*names):
    """The parser of `paddle-electra NAME...`."""
    import argparse

    parser = build_parser()
    for name in names:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


# Every command that writes an output: its words, then the rest of a valid command line.
WRITING_COMMANDS = [
    (["convert", "tf"], ["ckpt"]),
    (["convert", "hf"], ["hf_dir"]),
    (["download"], ["chinese-electra-small"]),
    (["hub", "pack"], ["--weights", "w", "--name", "n"]),
    (["finetune"], ["--task", "text-classification", "--model", "m"]),
    (["predict"], ["--model", "m"]),
    (["pretrain"], ["--corpus", "c.txt"]),
    (["export"], ["model_dir", "--no-onnx"]),
]


@pytest.mark.parametrize("command, rest", WRITING_COMMANDS, ids=[" ".join(c) for c, _ in WRITING_COMMANDS])
def test_out_and_output_are_one_option(command, rest):
    parser = build_parser()
    out = parser.parse_args(command + rest + ["--out", "target"])
    output = parser.parse_args(command + rest + ["--output", "target"])
    assert vars(out) == vars(output) and "target" in vars(out).values()
    # the help shows one spelling and names the other
    (action,) = [a for a in _subparser(*command)._actions if a.dest in ("out", "output")]
    (shown,) = action.option_strings
    assert f"(alias: {'--output' if shown == '--out' else '--out'})" in action.help


def test_export_takes_the_model_as_an_option_too(tmp_path, monkeypatch, capsys):
    import importlib

    export_module = importlib.import_module("paddle_electra.runtime.export")  # the package exports `export`
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    calls = []
    monkeypatch.setattr(
        export_module, "export", lambda path, out, onnx: calls.append((path, out, onnx)) or out
    )
    out = str(tmp_path / "out")
    assert main(["export", str(model), "--out", out]) == 0
    assert main(["export", "--model", str(model), "--out", out]) == 0
    assert main(["export", "--model", str(model), "--output", out, "--no-onnx"]) == 0
    assert calls == [(str(model), out, True)] * 2 + [(str(model), out, False)]
    capsys.readouterr()
    for argv in (["export", str(model), "--model", str(model)], ["export"]):
        assert main(argv + ["--out", out]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: pass the model once") and err.count("\n") == 1
    assert len(calls) == 3


@pytest.mark.parametrize(
    "command, options, arguments, python_only",
    [
        ("finetune", "FinetuneOptions", {"task", "model", "data_dir", "output"}, set()),
        ("pretrain", "PretrainOptions", {"corpus", "output"}, {"weight_decay"}),
    ],
)
def test_training_flags_are_the_options_fields(command, options, arguments, python_only):
    """Each flag of finetune / pretrain is a field of its options dataclass (or an argument of the
    training function itself), each field but the Python-only ones has a flag, and the flags' defaults
    are the fields' defaults."""
    import dataclasses

    from paddle_electra.cli.options import dataclass_from_args
    from paddle_electra.training import options as training_options

    cls = getattr(training_options, options)
    fields = {f.name for f in dataclasses.fields(cls)}
    dests = {a.dest for a in _subparser(command)._actions if a.option_strings} - {"help", "verbose"}
    assert dests - fields == arguments
    assert fields - dests == python_only
    required = {
        "finetune": ["--task", "text-classification", "--model", "m", "--output", "o"],
        "pretrain": ["--corpus", "c.txt", "--output", "o"],
    }[command]
    assert dataclass_from_args(cls, build_parser().parse_args([command] + required)) == cls()


def test_training_functions_refuse_unknown_keywords():
    from paddle_electra.training.finetune import finetune
    from paddle_electra.training.options import FinetuneOptions, finetune_options
    from paddle_electra.training.pretraining import pretrain

    with pytest.raises(TypeError, match="unexpected keyword argument 'epoch'"):
        finetune("text-classification", "m", output="o", epoch=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'step'"):
        pretrain(["c.txt"], "o", step=1)
    with pytest.raises(TypeError, match="qa_options has no option 'stride'"):
        finetune("text-classification", "m", output="o", qa_options={"stride": 64})
    merged = finetune_options(
        FinetuneOptions(epochs=1), task_options={"text_column": "review"}, qa_options={"doc_stride": 64}
    )
    assert merged == FinetuneOptions(epochs=1, text_column="review", doc_stride=64)
    assert merged.reading_options() == {"text_column": "review", "doc_stride": 64}
