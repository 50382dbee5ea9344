"""Bad input: one clear `error:` line naming the problem and the fix, exit status 2, no output left."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import TF_TINY

from paddle_electra.cli import main

DATA = "electra_model.data-00000-of-00001"


@pytest.fixture
def release(tmp_path):
    """A writable copy of the tiny release checkpoint."""
    return shutil.copytree(os.path.join(TF_TINY, "release"), tmp_path / "release")


def _fails(capsys, tmp_path, argv, *needles):
    out = tmp_path / "out"
    assert main(argv + ["--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()  # a progress bar may come before the error
    assert err[-1].startswith("error: ") and sum("error" in line.lower() for line in err) == 1, err
    assert not any("Traceback" in line for line in err)
    for needle in needles:
        assert needle in err[-1], err[-1]
    assert not out.exists()
    assert not [p for p in os.listdir(tmp_path) if ".partial" in p]  # no half-written output either
    return err[-1]


def _edit_json(path, **changes):
    with open(path) as f:
        config = json.load(f)
    config.update(changes)
    with open(path, "w") as f:
        json.dump(config, f)


def test_truncated_data_file(release, tmp_path, capsys):
    with open(release / DATA, "r+b") as f:
        f.truncate(os.path.getsize(release / DATA) // 2)
    _fails(capsys, tmp_path, ["convert", "tf", str(release)], "truncated", "re-download")


def test_corrupted_data_file_fails_its_checksum(release, tmp_path, capsys):
    with open(release / DATA, "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    _fails(capsys, tmp_path, ["convert", "tf", str(release)], "checksum", "corrupted")


def test_a_config_with_more_layers_than_the_checkpoint(release, tmp_path, capsys):
    """A config with one more layer than the checkpoint holds: found from the index before any model
    is built (it used to be found as the missing variables of the extra layer)."""
    _edit_json(release / "discriminator.json", num_hidden_layers=3)
    _fails(
        capsys,
        tmp_path,
        ["convert", "tf", str(release)],
        "num_hidden_layers = 3 but the weights hold 2",
        "--discriminator-config",
    )


def test_config_sizes_do_not_match(release, tmp_path, capsys):
    _edit_json(release / "generator.json", intermediate_size=48)
    _fails(
        capsys,
        tmp_path,
        ["convert", "tf", str(release)],
        "generator: config.json says intermediate_size = 48 but the weights hold 32",
        "--generator-config",
    )


def test_missing_vocab(release, tmp_path, capsys):
    os.remove(release / "vocab.txt")
    _fails(capsys, tmp_path, ["convert", "tf", str(release)], "vocab", "--vocab")


def test_vocab_of_the_wrong_size(release, tmp_path, capsys):
    with open(release / "vocab.txt", "a") as f:
        f.write("extra\n")
    _fails(capsys, tmp_path, ["convert", "tf", str(release)], "589 tokens", "vocab_size is 588")


def test_vocab_without_special_tokens(release, tmp_path, capsys):
    tokens = (release / "vocab.txt").read_text(encoding="utf-8").split("\n")
    (release / "vocab.txt").write_text(
        "\n".join("[unk]" if t == "[UNK]" else t for t in tokens), encoding="utf-8"
    )
    _fails(capsys, tmp_path, ["convert", "tf", str(release)], "lacks the special token(s) [UNK]")


def test_not_a_checkpoint(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    _fails(capsys, tmp_path, ["convert", "tf", str(tmp_path / "empty")], "no TF checkpoint")


def test_garbage_index(release, tmp_path, capsys):
    (release / "electra_model.index").write_bytes(b"not a table" * 10)
    _fails(capsys, tmp_path, ["convert", "tf", str(release)], "not a readable TF checkpoint index")


def test_existing_output_is_kept(release, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["convert", "tf", str(release), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"


@pytest.fixture
def hf_dir(ltp_dir, tmp_path):
    """A writable copy of the real LTP-tiny directory."""
    return shutil.copytree(ltp_dir, tmp_path / "hf")


def test_unreadable_pickle(hf_dir, tmp_path, capsys):
    (hf_dir / "pytorch_model.bin").write_bytes(b"\x80\x04garbage that is no pickle")
    _fails(capsys, tmp_path, ["convert", "hf", str(hf_dir)], "pytorch_model.bin")


def test_hf_config_without_electra_config(hf_dir, tmp_path, capsys):
    (hf_dir / "config.json").write_text(json.dumps({"model": {}}))
    _fails(capsys, tmp_path, ["convert", "hf", str(hf_dir)], "--config-key")


def test_hf_missing_vocab(hf_dir, tmp_path, capsys):
    os.remove(hf_dir / "vocab.txt")
    _fails(capsys, tmp_path, ["convert", "hf", str(hf_dir)], "vocab", "--vocab")


def test_console_script_exit_status(tmp_path):
    """The installed `paddle-electra` command itself exits non-zero with the one-line error."""
    exe = os.path.join(os.path.dirname(sys.executable), "paddle-electra")
    result = subprocess.run(
        [exe, "convert", "tf", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: no TF checkpoint")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["export", "nowhere", "--out", "o"], "nowhere is not a model directory"),
        (["fill-mask", "--model", "nowhere", "今天[MASK]"], "nowhere is not a model directory"),
        (["rtd", "--model", "nowhere", "今天"], "nowhere is not a model directory"),
        (
            ["correct", "--generator", "nowhere", "--discriminator", "nowhere", "今天"],
            "nowhere is not a model directory",
        ),
        (
            ["pretrain", "--corpus", "no_such.txt", "--output", "o", "--init", "nowhere"],
            "corpus file no_such.txt not found",
        ),
        (
            [
                "finetune",
                "--task",
                "chnsenticorp",
                "--model",
                "nowhere",
                "--data-dir",
                "nowhere",
                "--output",
                "o",
            ],
            "no train file",
        ),
    ],
)
def test_other_commands_refuse_bad_paths_in_one_line(argv, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        err[-1].startswith("error: ") and needle in err[-1] and not any("Traceback" in line for line in err)
    )
    assert not (tmp_path / "o").exists()


def test_finetune_with_an_unknown_model_name(chnsenticorp_dir, tmp_path, capsys):
    argv = [
        "finetune",
        "--task",
        "chnsenticorp",
        "--model",
        "no-such-module",
        "--data-dir",
        chnsenticorp_dir,
        "--output",
        str(tmp_path / "o"),
    ]
    assert main(argv) == 2
    assert "neither a model directory nor an installed PaddleHub module" in capsys.readouterr().err
