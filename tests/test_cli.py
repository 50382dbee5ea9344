"""The `paddle-electra` command line: help texts, conversion, and the README's demo on real weights."""
import os

import numpy as np
import pytest
from conftest import TF_TINY

from paddle_electra.cli import build_parser, main


@pytest.mark.parametrize("argv", [[], ["convert"], ["convert", "tf"], ["convert", "hf"], ["demo"], ["zoo"], ["hub"], ["hub", "pack"],
                                  ["finetune"], ["evaluate"], ["predict"], ["fill-mask"], ["rtd"], ["pretrain"], ["correct"]])
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
    assert "skipped 165 optimizer variable(s); unused: 0" in printed  # 82 weights x 2 Adam slots + global_step
    assert sorted(os.listdir(out / "generator")) == [
        "config.json", "model.safetensors", "special_tokens_map.json", "tokenizer_config.json", "vocab.txt"
    ]


def test_demo_runs_on_real_ltp_tiny(ltp_dir, capsys):
    assert main(["demo", "--text", "这家酒店的服务很好。", "--text", "房间又小又脏。"]) == 0
    printed = capsys.readouterr().out
    assert "hidden states: (2, " in printed and "[CLS] 这 家 酒 店 的 服 务 很 好 。 [SEP]" in printed
    rows = [line.split()[1:] for line in printed.split("cosine similarity")[1].splitlines()[1:]]
    similarity = np.array(rows, dtype=float)
    assert similarity.shape == (2, 2) and np.allclose(np.diag(similarity), 1.0) and similarity[0, 1] < 0.999
