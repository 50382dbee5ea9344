"""Hostile but realistic input (issue 13): nothing we load runs code, packed modules cannot be
injected into, serving answers malformed requests with 400, concurrent runs and bad output paths
leave no wreckage, bad configs and long texts get one-line errors or warnings."""

import ast
import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import paddle
import psutil
import pytest
from conftest import TF_TINY, Payload, wait_until_listening

from paddle_electra.cli import main
from paddle_electra.hub import module_name, module_source
from paddle_electra.models.configuration import ElectraConfig
from paddle_electra.models.heads import ElectraForSequenceClassification
from paddle_electra.models.modeling import ElectraDiscriminator, ElectraGenerator, ElectraModel
from paddle_electra.models.tokenizer import save_tokenizer
from paddle_electra.models.weights import LoadError, load_paddle_state

VOCAB = os.path.join(TF_TINY, "release", "vocab.txt")


def _tiny_config(**changes):
    with open(VOCAB, encoding="utf-8") as f:
        vocab_size = len(f.read().rstrip("\n").split("\n"))
    return ElectraConfig(
        **{
            "vocab_size": vocab_size,
            "embedding_size": 16,
            "hidden_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 32,
            "max_position_embeddings": 128,
            **changes,
        }
    )


@pytest.fixture
def classifier_dir(tmp_path):
    """A tiny fine-tuned-looking chnsenticorp model directory (model.safetensors) and a dev file."""
    paddle.seed(0)
    model = ElectraForSequenceClassification(_tiny_config(num_labels=2))
    model.config.task = "chnsenticorp"
    out = tmp_path / "model"
    model.save_pretrained(str(out), safe_serialization=True)
    save_tokenizer(VOCAB, str(out), do_lower_case=True)
    (tmp_path / "dev.tsv").write_text("label\ttext_a\n1\t今天天气很好\n0\t不好\n", encoding="utf-8")
    return out


def _weights(model_dir):
    model = ElectraForSequenceClassification.from_pretrained(str(model_dir))
    return {k: v.numpy() for k, v in model.state_dict().items()}


# --- 2. loading a model directory runs no code ------------------------------------------------


def test_a_malicious_pdparams_does_not_run_in_evaluate(classifier_dir, tmp_path, capsys):
    marker = tmp_path / "PWNED"
    os.remove(classifier_dir / "model.safetensors")
    with open(classifier_dir / "model_state.pdparams", "wb") as f:
        pickle.dump(
            {"electra.embeddings.word_embeddings.weight": Payload(os.system, (f"touch {marker}",))},
            f,
            protocol=4,
        )
    assert (
        main(
            [
                "evaluate",
                "--task",
                "chnsenticorp",
                "--model",
                str(classifier_dir),
                "--data-file",
                str(tmp_path / "dev.tsv"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        err[-1].startswith("error: refusing to unpickle posix.system") and "model.safetensors" in err[-1]
    ), err
    assert not any("Traceback" in line for line in err)
    assert not marker.exists()


def test_an_honest_pdparams_loads_without_running_pickle(classifier_dir):
    """paddle.save's format (numpy arrays in a dict) is read by the allow-listed reader, exactly."""
    expected = _weights(classifier_dir)
    model = ElectraForSequenceClassification.from_pretrained(str(classifier_dir))
    os.remove(classifier_dir / "model.safetensors")
    model.save_pretrained(str(classifier_dir), safe_serialization=False)
    assert os.path.isfile(classifier_dir / "model_state.pdparams")
    loaded = _weights(classifier_dir)
    assert sorted(loaded) == sorted(expected)
    for name in expected:
        np.testing.assert_array_equal(loaded[name], expected[name], err_msg=name)
    trusted = ElectraForSequenceClassification.from_pretrained(str(classifier_dir), trust_pickle=True)
    for name, value in trusted.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), expected[name], err_msg=name)


def test_a_directory_without_weights_is_one_line(classifier_dir):
    os.remove(classifier_dir / "model.safetensors")
    with pytest.raises(LoadError, match="holds no model.safetensors"):
        ElectraForSequenceClassification.from_pretrained(str(classifier_dir))


def test_paddle_state_reader_refuses_code_and_reads_optimizer_state(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "optimizer.pdopt"
    with open(path, "wb") as f:
        pickle.dump({"x": Payload(exec, (f"open({str(marker)!r}, 'w')",))}, f, protocol=2)
    with pytest.raises(LoadError, match=r"refusing to unpickle (builtins|__builtin__)\.exec"):
        load_paddle_state(str(path))
    assert not marker.exists()
    layer = paddle.nn.Linear(2, 3)
    optimizer = paddle.optimizer.AdamW(parameters=layer.parameters())
    layer(paddle.ones([1, 2])).sum().backward()
    optimizer.step()
    paddle.save(optimizer.state_dict(), str(path))
    state = load_paddle_state(str(path))
    for name, value in optimizer.state_dict().items():
        if isinstance(value, paddle.Tensor):
            np.testing.assert_array_equal(state[name], value.numpy(), err_msg=name)


# --- 1. hub pack: nothing the user passes becomes code -------------------------------------------

PAYLOAD = 'x", meta=__import__("os").system("touch PWNED") or "'


@pytest.fixture
def encoder_dir(tmp_path):
    """A tiny encoder model directory, as `paddle-electra convert` writes one."""
    paddle.seed(0)
    out = tmp_path / "encoder"
    ElectraModel(_tiny_config()).save_pretrained(str(out), safe_serialization=True)
    save_tokenizer(VOCAB, str(out), do_lower_case=True)
    return out


def test_pack_refuses_a_name_that_is_not_a_module_name(encoder_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "module"
    assert main(["hub", "pack", "--weights", str(encoder_dir), "--name", PAYLOAD, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: invalid module name"), err
    assert not out.exists() and not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(
    "summary", [PAYLOAD, 'a"""\n__import__("os").system("touch PWNED")\n"""', "back\\", "x\ny'z\udcff"]
)
def test_module_source_holds_values_only_as_literals(summary):
    source = module_source("ok-name", summary, version="1.0.0")
    tree = ast.parse(source)
    calls = [node.func for node in ast.walk(tree) if isinstance(node, ast.Call)]
    assert [getattr(f, "id", None) for f in calls] == ["moduleinfo"]  # the decorator is the only call
    decorator = next(n for n in ast.walk(tree) if isinstance(n, ast.Call))
    info = {k.arg: ast.literal_eval(k.value) for k in decorator.keywords}
    assert info["name"] == "ok-name" and info["summary"] == summary


def test_installing_a_module_packed_from_a_hostile_directory_runs_nothing(encoder_dir, tmp_path):
    """The weights directory's name goes into the summary: `hub install` must not run it."""
    hostile = tmp_path / 'w" """ + __import__("os").system("touch PWNED") #'
    shutil.move(str(encoder_dir), str(hostile))
    out = tmp_path / "module"
    assert main(["hub", "pack", "--weights", str(hostile), "--name", "hostile-test", "--out", str(out)]) == 0
    work = tmp_path / "cwd"
    work.mkdir()
    hub_cli = os.path.join(os.path.dirname(sys.executable), "hub")
    result = subprocess.run(
        [hub_cli, "install", str(out)], capture_output=True, text=True, cwd=work, env=os.environ, timeout=300
    )
    assert (
        result.returncode == 0 and "Successfully installed hostile-test" in result.stdout + result.stderr
    ), result.stderr[-2000:]
    assert not list(work.iterdir()) and not (tmp_path / "PWNED").exists()
    assert module_name(str(out)) == "hostile-test"


def test_pack_checks_that_the_weights_load(encoder_dir, tmp_path, capsys):
    weights = encoder_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    out = tmp_path / "module"
    assert main(["hub", "pack", "--weights", str(encoder_dir), "--name", "truncated", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: cannot read") and "truncated" in err[-1], err
    assert not out.exists()


def test_hub_load_checkpoint_reads_a_saved_state_without_running_code(encoder_dir, tmp_path):
    import paddlehub as hub

    out = tmp_path / "module"
    assert (
        main(["hub", "pack", "--weights", str(encoder_dir), "--name", "checkpointed", "--out", str(out)]) == 0
    )
    module = hub.Module(directory=str(out))
    state = {k: v + 1 for k, v in module.state_dict().items()}
    paddle.save(state, str(tmp_path / "model.pdparams"))  # what hub.Trainer writes
    loaded = hub.Module(directory=str(out), load_checkpoint=str(tmp_path / "model.pdparams"))
    for name, value in loaded.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), state[name].numpy(), err_msg=name)
    with open(tmp_path / "evil.pdparams", "wb") as f:
        pickle.dump(Payload(os.system, (f"touch {tmp_path / 'PWNED'}",)), f)
    with pytest.raises(LoadError, match="refusing to unpickle"):
        hub.Module(directory=str(out), load_checkpoint=str(tmp_path / "evil.pdparams"))
    assert not (tmp_path / "PWNED").exists()


# --- 4. serving: malformed requests get 4xx JSON answers ----------------------------------------


@pytest.fixture
def served(encoder_dir, tmp_path):
    """The Flask app `hub serving start` runs, for a packed tiny module, as a test client."""
    import paddlehub as hub

    from paddle_electra.hub import serving_app

    out = tmp_path / "module"
    assert (
        main(["hub", "pack", "--weights", str(encoder_dir), "--name", "served-test", "--out", str(out)]) == 0
    )
    return serving_app(hub.Module(directory=str(out))).test_client()


def _answer(client, body):
    response = client.post("/predict/served-test", data=body, headers={"Content-Type": "application/json"})
    return response.status_code, response.get_json(silent=True)


def test_serving_answers_malformed_bodies_with_4xx_json(served):
    status, answer = _answer(served, '{"data": [["今天天气很好"], ["不错"]]}')
    assert status == 200 and answer["status"] == "000" and len(answer["results"]) == 2, answer
    cases = {
        "null": 400,
        '{"data": [["\\ud800"]]}': 400,  # a lone surrogate
        "[" * 200_000 + "]" * 200_000: 400,  # nested too deep for the JSON parser (400 kB)
        "[" * (5 << 20) + "]" * (5 << 20): 413,  # 10 MB
        json.dumps({"data": [["不错"]] * 1025}): 400,
    }
    for body, expected in cases.items():
        status, answer = _answer(served, body)
        assert status == expected and answer and answer["msg"], (body[:40], status, answer)


def test_hub_serve_listens_on_loopback_by_default(encoder_dir, tmp_path):
    out = tmp_path / "module"
    assert (
        main(["hub", "pack", "--weights", str(encoder_dir), "--name", "loopback-test", "--out", str(out)])
        == 0
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = os.path.join(os.path.dirname(sys.executable), "paddle-electra")
    server = subprocess.Popen(
        [exe, "hub", "serve", str(out), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout.readline().startswith(f"serving loopback-test on http://127.0.0.1:{port}/")
        wait_until_listening(port, server, "paddle-electra hub serve")
        listening = [
            c
            for c in psutil.net_connections("tcp")
            if c.laddr and c.laddr.port == port and c.status == "LISTEN"
        ]
        assert [c.laddr.ip for c in listening] == ["127.0.0.1"]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/predict/loopback-test",
            data=b'{"data": [["\\u4eca\\u5929"]]}',
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200 and json.loads(response.read())["status"] == "000"
    finally:
        server.terminate()
        server.wait(timeout=30)


# --- 5. concurrent runs on a cold cache / the same output ----------------------------------------

_RACER = r"""
import os, sys, time
from paddle_electra.cli import main  # imports done before the start signal
ready, go = sys.argv[1], sys.argv[2]
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.01)
sys.exit(main(sys.argv[3:]))
"""


def _race(tmp_path, argv, n=2):
    """Run the CLI with `argv` in `n` processes that start the command at the same moment."""
    env = dict(os.environ, PADDLE_ELECTRA_CACHE=str(tmp_path / "cache"))
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(tmp_path / f"ready{i}"), str(go), *argv],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(n)
    ]
    deadline = time.time() + 300
    while not all((tmp_path / f"ready{i}").exists() for i in range(n)):
        assert all(p.poll() is None for p in procs) and time.time() < deadline
        time.sleep(0.05)
    go.touch()
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    return [(rc, out, err) for out, err, rc in results]


def _leftovers(directory):
    return [name for name in os.listdir(directory) if ".partial-" in name or ".old-" in name]


def test_two_predicts_on_a_cold_cache_both_succeed(classifier_dir, tmp_path):
    results = _race(
        tmp_path,
        [
            "predict",
            "--task",
            "chnsenticorp",
            "--model",
            str(classifier_dir),
            "--data-file",
            str(tmp_path / "dev.tsv"),
            "--backend",
            "paddle-inference",
        ],
    )
    assert [rc for rc, _, _ in results] == [0, 0], [err[-1500:] for _, _, err in results]
    assert results[0][1] == results[1][1]
    static = tmp_path / "cache" / "static"
    assert len(os.listdir(static)) == 1 and not _leftovers(static)  # one export, the loser's copy gone


def test_two_exports_to_one_folder(classifier_dir, tmp_path):
    out = tmp_path / "export"
    results = _race(tmp_path, ["export", str(classifier_dir), "--out", str(out), "--no-onnx"])
    assert sorted(rc for rc, _, _ in results) == [0, 2], [err[-1500:] for _, _, err in results]
    loser = next(err for rc, _, err in results if rc == 2).strip().splitlines()
    assert (
        loser[-1].startswith("error: ")
        and "another process" in loser[-1]
        and not any("Traceback" in line for line in loser)
    )
    assert os.path.isfile(out / "inference.pdiparams") and not _leftovers(tmp_path)


# --- 6. output paths ------------------------------------------------------------------------------


def _convert(out, *extra, source=None):
    return main(
        [
            "convert",
            "tf",
            str(source or os.path.join(TF_TINY, "release")),
            "--out",
            str(out),
            "--quiet",
            *extra,
        ]
    )


def _one_error_line(capsys, *needles):
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and not any("Traceback" in line for line in err), err
    for needle in needles:
        assert needle in err[-1], err[-1]


@pytest.mark.parametrize(
    "make,needle",
    [
        (lambda tmp: tmp / "file.txt", "exists and is not a directory"),
        (lambda tmp: tmp / "file.txt" / "out", "cannot write into"),
        (lambda tmp: "/sys/paddle-electra-out", "cannot write into /sys"),  # read-only, even for root
    ],
)
def test_unusable_out_is_one_line(make, needle, tmp_path, capsys):
    (tmp_path / "file.txt").write_text("mine")
    assert _convert(make(tmp_path)) == 2
    _one_error_line(capsys, needle)
    assert (tmp_path / "file.txt").read_text() == "mine" and not _leftovers(tmp_path)


def test_out_through_a_symlink_and_a_dangling_one(tmp_path):
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    assert _convert(tmp_path / "link") == 0 and _convert(tmp_path / "dangling") == 0
    for written in ("real", "nowhere"):
        assert os.path.isfile(tmp_path / written / "discriminator" / "model.safetensors")
    assert (
        os.path.islink(tmp_path / "link")
        and os.path.islink(tmp_path / "dangling")
        and not _leftovers(tmp_path)
    )


def test_overwrite_never_deletes_the_source(tmp_path, capsys):
    release = shutil.copytree(os.path.join(TF_TINY, "release"), tmp_path / "release")
    before = sorted(os.listdir(release))
    for out in (release, tmp_path):  # the checkpoint folder itself, and a folder holding it
        assert _convert(out, "--overwrite", source=release) == 2
        _one_error_line(capsys, "holds the input")
        assert sorted(os.listdir(release)) == before


def test_leftovers_of_interrupted_runs_are_removed(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    stale = [
        tmp_path / f".out.partial-{dead}-abcd",
        tmp_path / ".out.partial-k2j4x_9q",
    ]  # a dead PID; the old unowned form
    live = tmp_path / f".out.partial-{os.getpid()}-efgh"  # a run still going on
    for path in (*stale, live):
        path.mkdir()
    os.utime(stale[1], (time.time() - 7200,) * 2)
    assert _convert(tmp_path / "out") == 0
    assert not any(p.exists() for p in stale) and live.exists()


def test_outputs_get_the_modes_the_umask_gives(tmp_path):
    old = os.umask(0o022)
    try:
        assert _convert(tmp_path / "out") == 0
    finally:
        os.umask(old)
    for root, dirs, files in os.walk(tmp_path / "out"):
        assert os.stat(root).st_mode & 0o777 == 0o755, root
        for name in files:
            assert os.stat(os.path.join(root, name)).st_mode & 0o777 == 0o644, name


# --- 7. config and vocab errors -------------------------------------------------------------------

BAD_CONFIGS = [
    ({"hidden_size": "16"}, "hidden_size must be a positive integer, got '16'"),
    ({"num_attention_heads": 3}, "hidden_size 16 is not divisible by num_attention_heads 3"),
    ({"num_attention_heads": 0}, "num_attention_heads must be a positive integer, got 0"),
    ({"hidden_dropout_prob": "0.1"}, "hidden_dropout_prob must be a number in [0, 1)"),
    ([], "a JSON list instead of an object"),
]


@pytest.mark.parametrize("change,needle", BAD_CONFIGS)
def test_a_bad_config_json_is_one_line(change, needle, classifier_dir, tmp_path, capsys):
    path = classifier_dir / "config.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps({**config, **change} if isinstance(change, dict) else change))
    assert (
        main(
            [
                "evaluate",
                "--task",
                "chnsenticorp",
                "--model",
                str(classifier_dir),
                "--data-file",
                str(tmp_path / "dev.tsv"),
            ]
        )
        == 2
    )
    _one_error_line(capsys, str(path), needle)


@pytest.mark.parametrize("change,needle", BAD_CONFIGS)
def test_a_bad_config_in_conversion_is_one_line(change, needle, tmp_path, capsys):
    release = shutil.copytree(os.path.join(TF_TINY, "release"), tmp_path / "release")
    path = release / "discriminator.json"
    config = json.loads(path.read_text())
    if isinstance(change, dict) and "hidden_size" in change:
        change = {**change, "embedding_size": config.get("embedding_size", config["hidden_size"])}
    path.write_text(json.dumps({**config, **change} if isinstance(change, dict) else change))
    assert _convert(tmp_path / "out", source=release) == 2
    _one_error_line(capsys, str(path), needle.split(",")[0].replace("16", str(config["hidden_size"])))
    assert not (tmp_path / "out").exists()


def test_a_vocab_that_is_not_utf8_is_one_line(classifier_dir, tmp_path, capsys):
    vocab = classifier_dir / "vocab.txt"
    vocab.write_bytes(vocab.read_bytes() + b"\xff\xfe\n")
    assert (
        main(
            [
                "evaluate",
                "--task",
                "chnsenticorp",
                "--model",
                str(classifier_dir),
                "--data-file",
                str(tmp_path / "dev.tsv"),
            ]
        )
        == 2
    )
    _one_error_line(capsys, f"{vocab} is not UTF-8 text")
    release = shutil.copytree(os.path.join(TF_TINY, "release"), tmp_path / "release")
    (release / "vocab.txt").write_bytes((release / "vocab.txt").read_bytes() + b"\xff\xfe\n")
    assert _convert(tmp_path / "out", source=release) == 2
    _one_error_line(capsys, "vocab.txt is not UTF-8 text")


# --- 8. long texts and bad argv ---------------------------------------------------------------------


@pytest.fixture
def towers(tmp_path):
    """Tiny generator and discriminator directories (512 positions, as the pipelines' default length)."""
    paddle.seed(0)
    out = {}
    for name, cls in (("generator", ElectraGenerator), ("discriminator", ElectraDiscriminator)):
        out[name] = tmp_path / name
        cls(_tiny_config(max_position_embeddings=512)).save_pretrained(
            str(out[name]), safe_serialization=True
        )
        save_tokenizer(VOCAB, str(out[name]), do_lower_case=True)
    return out


def _one_char_tokens(n):
    """n characters that are each one token of the fixture vocab (so token i is character i)."""
    with open(VOCAB, encoding="utf-8") as f:
        chars = [t for t in f.read().split("\n") if len(t) == 1 and "\u4e00" <= t <= "\u9fff"]
    return "".join(chars[i % len(chars)] for i in range(n))


def test_rtd_windows_a_long_text(towers):
    from paddle_electra.pipelines import ReplacedTokenDetection

    rtd = ReplacedTokenDetection.from_pretrained(str(towers["discriminator"]), runtime={"backend": "dygraph"})
    text = _one_char_tokens(10_000)
    (long,) = rtd([text])
    assert len(long["tokens"]) == len(long["probs"]) == 10_002 and long["spans"][-2] == (9_999, 10_000)
    (head,) = rtd([text[:510]])  # the first window, alone: its first half gets the same probabilities
    np.testing.assert_allclose(long["probs"][:256], head["probs"][:256], atol=1e-6)
    (tail,) = rtd([text[-510:]])  # and the last window its second half
    np.testing.assert_allclose(long["probs"][-256:], tail["probs"][-256:], atol=1e-6)


def test_fill_mask_says_how_many_masks_it_dropped(towers, capsys, caplog):
    text = "[MASK]" * 600
    assert main(["fill-mask", "--model", str(towers["generator"]), "--backend", "dygraph", text]) == 0
    out, err = capsys.readouterr()
    assert out.count("[MASK] #") == 510
    assert "90 of its [MASK]s lie beyond the first 512 tokens" in err + caplog.text


def test_non_utf8_argv_is_one_line(towers, tmp_path):
    exe = os.path.join(os.path.dirname(sys.executable), "paddle-electra")
    for command, tower, text in (
        ("fill-mask", "generator", b"\xff[MASK]"),
        ("rtd", "discriminator", b"ab\xfe"),
    ):
        result = subprocess.run(
            [exe, command, "--model", str(towers[tower]).encode(), text], capture_output=True, timeout=300
        )
        err = result.stderr.decode("utf-8", "replace").strip().splitlines()
        assert result.returncode == 2 and err[-1].startswith("error: text argument 1 is not UTF-8"), err[-5:]
        assert not any("Traceback" in line for line in err)
