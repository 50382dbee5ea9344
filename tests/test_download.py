"""Models by name from the Hugging Face Hub: `paddle-electra download`, `from_pretrained(NAME)`, the
cache, offline use and every failure, against a local stand-in for the Hub (tests/stand_in_hub.py)
reached through HF_ENDPOINT. The served repos are made from the in-repo TF fixture, in both torch
formats, under the test-only zoo entry `test-electra-tiny`. PADDLE_ELECTRA_CACHE and HF_HOME are
temporary directories; nothing reaches the network."""

import glob
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import ROOT, TF_TINY, to_tensors
from safetensors.numpy import load_file
from stand_in_hub import (
    TINY_HUB,
    TINY_NAME,
    StandInHub,
    hf_repo_files,
    hf_state_dict,
    repo_files,
    tiny_entry,
    tiny_repos,
)

from paddle_electra import (
    ElectraDiscriminator,
    ElectraForSequenceClassification,
    ElectraGenerator,
    ElectraModel,
    ElectraTokenizer,
)
from paddle_electra.cli import main
from paddle_electra.sources import zoo
from paddle_electra.sources.fetch import FetchError, HubUnreachable
from paddle_electra.sources.pretrained import cached_dir
from paddle_electra_convert import convert_hf, convert_tf_checkpoint

DISC, GEN = f"{TINY_HUB}-discriminator", f"{TINY_HUB}-generator"
TEXTS = ["今天天气很好", "我们都是中国人"]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """The TF fixture converted directly: what every download must reproduce exactly."""
    out = str(tmp_path_factory.mktemp("tiny") / "converted")
    convert_tf_checkpoint(os.path.join(TF_TINY, "release"), out, progress=False)
    return out


@pytest.fixture(scope="module")
def repos(converted):
    return tiny_repos(converted)


@pytest.fixture
def hub(repos, tmp_path, monkeypatch):
    monkeypatch.setenv("PADDLE_ELECTRA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setitem(zoo.MODELS, TINY_NAME, tiny_entry())
    with StandInHub(repos) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _same_model_dirs(a, b):
    wa, wb = load_file(os.path.join(a, "model.safetensors")), load_file(os.path.join(b, "model.safetensors"))
    assert sorted(wa) == sorted(wb)
    for key in wa:
        np.testing.assert_array_equal(wa[key], wb[key], err_msg=key)
    for name in ("config.json", "vocab.txt", "tokenizer_config.json"):
        with open(os.path.join(a, name), encoding="utf-8") as fa, open(
            os.path.join(b, name), encoding="utf-8"
        ) as fb:
            assert fa.read() == fb.read(), name


def _cache_entries(tmp_path):
    models = tmp_path / "cache" / "models"
    return sorted(os.listdir(models)) if models.is_dir() else []


def _last_error(capsys):
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), lines
    return lines[-1]


def test_download_equals_a_direct_convert_hf_and_the_tf_fixture(hub, repos, converted, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["download", TINY_NAME, "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert (
        f"discriminator: {out / 'discriminator'}" in printed and f"generator: {out / 'generator'}" in printed
    )
    for repo, tower in ((DISC, "discriminator"), (GEN, "generator")):  # zip-format and legacy-format bins
        served = tmp_path / "served" / tower
        served.mkdir(parents=True)
        for name, data in repos[repo].items():
            (served / name).write_bytes(data)
        convert_hf(str(served), str(tmp_path / "direct" / tower))
        _same_model_dirs(str(out / tower), str(tmp_path / "direct" / tower))
        _same_model_dirs(
            str(out / tower), os.path.join(converted, tower)
        )  # TF -> HF format -> Hub -> ours: lossless
    assert _cache_entries(tmp_path) == []  # --out does not fill the cache
    assert main(["download", TINY_NAME, "--out", str(out), "--quiet"]) == 2
    assert "--overwrite" in _last_error(capsys)


def test_from_pretrained_by_name_fetches_once_then_works_offline(hub, converted, tmp_path, monkeypatch):
    disc = ElectraDiscriminator.from_pretrained(TINY_NAME)  # empty cache: fetch + convert
    assert _cache_entries(tmp_path) == [DISC.replace("/", "--")]
    reference = ElectraDiscriminator.from_pretrained(os.path.join(converted, "discriminator"))
    tokenizer = ElectraTokenizer.from_pretrained(TINY_NAME)
    batch = tokenizer(TEXTS, padding=True, return_attention_mask=True)
    inputs = to_tensors(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
    disc.eval(), reference.eval()
    np.testing.assert_array_equal(disc(*inputs).numpy(), reference(*inputs).numpy())
    ElectraGenerator.from_pretrained(TINY_NAME)
    assert _cache_entries(tmp_path) == sorted([DISC.replace("/", "--"), GEN.replace("/", "--")])
    fetched = len(hub.requests)

    hub.stop()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = ElectraModel.from_pretrained(TINY_NAME)
    assert encoder.config.hidden_size == 32
    assert (
        ElectraGenerator.from_pretrained(GEN).config.hidden_size == 16
    )  # a zoo repo id is the zoo model's tower
    assert ElectraDiscriminator.from_pretrained(cached_dir(DISC)).config.architectures == [
        "ElectraDiscriminator"
    ]
    assert len(hub.requests) == fetched


def test_pipelines_and_cli_take_a_name(hub, converted, tmp_path, capsys):
    from paddle_electra.pipelines import FillMask

    by_name = FillMask.from_pretrained(TINY_NAME, runtime={"backend": "dygraph"})(
        ["今天[MASK]气很好"], top_k=3
    )
    by_dir = FillMask.from_pretrained(os.path.join(converted, "generator"), runtime={"backend": "dygraph"})(
        ["今天[MASK]气很好"], top_k=3
    )
    assert by_name == by_dir
    assert _cache_entries(tmp_path) == [GEN.replace("/", "--")]  # fill-mask needs the generator only
    assert main(["rtd", "--model", TINY_NAME, "--backend", "dygraph", "今天天气很好"]) == 0
    assert "今" in capsys.readouterr().out


def test_zoo_lists_hub_ids_and_what_is_cached(hub, capsys):
    assert main(["zoo"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert "hfl/chinese-electra-180g-base-{discriminator,generator}" in rows["chinese-electra-180g-base"]
    assert "monologg/koelectra-base-v3-{discriminator,generator}" in rows["koelectra-base-v3"]
    assert rows[TINY_NAME].rstrip().endswith("no")
    assert main(["download", TINY_NAME, "--tower", "generator", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["zoo"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows[TINY_NAME].rstrip().endswith("generator")
    assert main(["download", TINY_NAME, "--quiet"]) == 0
    capsys.readouterr()
    assert main(["zoo"]) == 0
    assert (
        {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}[TINY_NAME]
        .rstrip()
        .endswith("yes")
    )


def test_a_generator_repo_with_the_discriminators_config(hub, repos, converted, tmp_path, capsys):
    """HFL once shipped a generator with its discriminator's config.json: the zoo decides (with a
    warning); for a repo outside the zoo its own config decides, and disagreeing tensors are an error."""
    bad = hf_repo_files(
        os.path.join(converted, "generator"), "generator", legacy=True, config_from="discriminator"
    )
    hub.repos["test-org/bad-tiny-generator"] = bad
    zoo.MODELS["test-bad-tiny"] = tiny_entry("test-bad-tiny", "test-org/bad-tiny")
    try:
        assert (
            main(
                [
                    "download",
                    "test-bad-tiny",
                    "--tower",
                    "generator",
                    "--out",
                    str(tmp_path / "zoo"),
                    "--quiet",
                ]
            )
            == 0
        )
        assert (
            "config.json has hidden_size=32 but the zoo's test-bad-tiny generator" in capsys.readouterr().err
        )
        _same_model_dirs(str(tmp_path / "zoo" / "generator"), os.path.join(converted, "generator"))
    finally:
        del zoo.MODELS["test-bad-tiny"]
    assert main(["download", "test-org/bad-tiny-generator", "--out", str(tmp_path / "repo"), "--quiet"]) == 2
    err = _last_error(capsys)
    assert "config.json says hidden_size = 32 but the weights hold 16" in err  # found before building
    assert not (tmp_path / "repo").exists()


def test_any_electra_repo_by_id_is_converted_by_its_own_config(hub, repos, converted, tmp_path):
    hub.repos["someone/tiny-electra-copy"] = repos[DISC]
    disc = ElectraDiscriminator.from_pretrained("someone/tiny-electra-copy")
    assert _cache_entries(tmp_path) == ["someone--tiny-electra-copy"]
    _same_model_dirs(cached_dir("someone/tiny-electra-copy"), os.path.join(converted, "discriminator"))
    assert disc.config.hidden_size == 32
    assert main(["download", "someone/tiny-electra-copy", "--out", str(tmp_path / "copy"), "--quiet"]) == 0
    assert (tmp_path / "copy" / "config.json").is_file()  # a repo id writes one model directory


def test_a_community_fine_tune_loads_with_its_head(hub, converted):
    """A fine-tuned HF ElectraForSequenceClassification repo: its two-layer head becomes ours
    (classifier_head="two_layer") with its labels, and gives the logits HF's head computes."""
    rng = np.random.default_rng(0)
    state = {
        k: v
        for k, v in hf_state_dict(os.path.join(converted, "discriminator"), "discriminator").items()
        if not k.startswith("discriminator_predictions")
    }
    head = {
        "classifier.dense.weight": rng.normal(0, 0.2, (32, 32)),
        "classifier.dense.bias": rng.normal(0, 0.2, 32),
        "classifier.out_proj.weight": rng.normal(0, 0.2, (3, 32)),
        "classifier.out_proj.bias": rng.normal(0, 0.2, 3),
    }
    labels = {"0": "negative", "1": "neutral", "2": "positive"}
    hub.repos["someone/tiny-electra-sentiment"] = repo_files(
        {**state, **head},
        "discriminator",
        {"architectures": ["ElectraForSequenceClassification"], "id2label": labels},
        legacy=False,
    )
    model = ElectraForSequenceClassification.from_pretrained("someone/tiny-electra-sentiment")
    model.eval()
    assert model.config.classifier_head == "two_layer" and model.config.id2label == {
        0: "negative",
        1: "neutral",
        2: "positive",
    }
    encoder = ElectraModel.from_pretrained(os.path.join(converted, "discriminator"))
    encoder.eval()
    tokenizer = ElectraTokenizer.from_pretrained("someone/tiny-electra-sentiment")
    batch = tokenizer(TEXTS, padding=True, return_attention_mask=True)
    inputs = to_tensors(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
    cls = encoder(*inputs).numpy()[:, 0].astype(np.float64)
    dense = cls @ head["classifier.dense.weight"].T + head["classifier.dense.bias"]
    gelu = 0.5 * dense * (1 + np.vectorize(math.erf)(dense / math.sqrt(2)))
    expected = gelu @ head["classifier.out_proj.weight"].T + head["classifier.out_proj.bias"]
    np.testing.assert_allclose(model(*inputs).numpy(), expected, atol=1e-4)


@pytest.mark.parametrize(
    "architecture,keys,ours",
    [
        (
            "ElectraForTokenClassification",
            ("classifier.weight", "classifier.bias"),
            ("classifier.weight", "classifier.bias"),
        ),
        (
            "ElectraForQuestionAnswering",
            ("qa_outputs.weight", "qa_outputs.bias"),
            ("qa_outputs.weight", "qa_outputs.bias"),
        ),
    ],
)
def test_token_and_qa_heads_of_a_fine_tune(hub, converted, architecture, keys, ours):
    from paddle_electra.models import heads

    rng = np.random.default_rng(1)
    state = {
        k: v
        for k, v in hf_state_dict(os.path.join(converted, "discriminator"), "discriminator").items()
        if not k.startswith("discriminator_predictions")
    }
    head = {
        keys[0]: rng.normal(0, 0.2, (2 if "qa" in keys[0] else 5, 32)),
        keys[1]: rng.normal(0, 0.2, 2 if "qa" in keys[0] else 5),
    }
    hub.repos["someone/tiny-head"] = repo_files(
        {**state, **head}, "discriminator", {"architectures": [architecture]}, legacy=True
    )
    model = getattr(heads, architecture).from_pretrained("someone/tiny-head")
    weights = model.state_dict()
    np.testing.assert_allclose(
        weights[ours[0]].numpy(), head[keys[0]].T, rtol=1e-6
    )  # Paddle Linear: [in, out]
    np.testing.assert_allclose(weights[ours[1]].numpy(), head[keys[1]], rtol=1e-6)
    assert model.config.qa_head == ("linear" if "qa" in keys[0] else "original")


def test_missing_repo_and_unknown_name(hub, tmp_path, capsys):
    assert main(["download", "nobody/nothing", "--quiet"]) == 2
    err = _last_error(capsys)
    assert f"no model repo nobody/nothing at {hub.url}" in err and "paddle-electra zoo" in err
    assert main(["download", "no-such-model", "--quiet"]) == 2
    assert "unknown model 'no-such-model'" in _last_error(capsys)
    with pytest.raises(FetchError, match="no model repo nobody/nothing"):
        ElectraModel.from_pretrained("nobody/nothing")
    assert _cache_entries(tmp_path) == []
    assert not glob.glob(str(tmp_path / "cache" / "models" / ".*"))  # no partial folder either


def test_a_transfer_cut_short_is_resumed(hub, converted, tmp_path):
    hub.faults[(DISC, "pytorch_model.bin")] = "truncate"  # half the bytes, then the connection closes
    assert main(["download", TINY_NAME, "--tower", "discriminator", "--quiet"]) == 0
    assert ("GET", f"/{DISC}/resolve/{hub.commit(DISC)}/pytorch_model.bin") in hub.requests
    _same_model_dirs(cached_dir(DISC), os.path.join(converted, "discriminator"))


def test_a_damaged_transfer_is_refused_and_leaves_nothing(hub, tmp_path, capsys):
    hub.sticky_faults[(DISC, "pytorch_model.bin")] = "corrupt"  # every try: the right length of wrong bytes
    assert main(["download", TINY_NAME, "--tower", "discriminator", "--quiet"]) == 2
    err = _last_error(capsys)
    assert "pytorch_model.bin could not be downloaded intact" in err and "HF_ENDPOINT" in err
    assert _cache_entries(tmp_path) == [] and not glob.glob(str(tmp_path / "cache" / "models" / ".*"))


def test_a_truncated_file_in_the_hf_cache_is_downloaded_again(hub, converted, tmp_path, capsys):
    assert (
        main(["download", TINY_NAME, "--tower", "discriminator", "--out", str(tmp_path / "first"), "--quiet"])
        == 0
    )
    blobs = glob.glob(
        str(tmp_path / "hf_home" / "hub" / "models--test-org--electra-tiny-discriminator" / "blobs" / "*")
    )
    weights = max(blobs, key=os.path.getsize)
    size = os.path.getsize(weights)
    with open(weights, "r+b") as f:  # a disk that filled up, a copy cut short
        f.truncate(size // 3)
    assert main(["download", TINY_NAME, "--tower", "discriminator", "--quiet"]) == 0
    assert "is damaged" in capsys.readouterr().err and os.path.getsize(weights) == size
    _same_model_dirs(cached_dir(DISC), os.path.join(converted, "discriminator"))


def test_a_download_killed_midway_leaves_nothing_and_the_next_call_recovers(hub, converted, tmp_path):
    hub.faults[(GEN, "pytorch_model.bin")] = "stall"  # half the generator's weights, then silence
    # small read chunks, so that the half already received reaches huggingface_hub's .incomplete file
    script = (
        f"import sys; sys.path.insert(0, {os.path.join(ROOT, 'tests')!r}); "
        "import stand_in_hub; stand_in_hub.register_tiny(); "
        "import huggingface_hub.constants as c; c.DOWNLOAD_CHUNK_SIZE = 1024; "
        f"from paddle_electra.cli import main; sys.exit(main(['download', {TINY_NAME!r}, '--quiet']))"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    incomplete = tmp_path / "hf_home" / "hub" / "models--test-org--electra-tiny-generator" / "blobs"
    try:
        assert hub.stalled.wait(timeout=240), (
            child.stderr.read().decode()[-2000:] if child.poll() is not None else "no stall"
        )
        deadline = time.time() + 60
        while (
            not any(p.name.endswith(".incomplete") and p.stat().st_size for p in incomplete.glob("*"))
            and time.time() < deadline
        ):
            time.sleep(0.1)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    assert os.path.isdir(cached_dir(DISC)) and not os.path.isdir(
        cached_dir(GEN)
    )  # nothing half-written under a final name
    leftovers = [n for n in os.listdir(tmp_path / "cache" / "models") if n.startswith(".")]
    assert all(".partial-" in n for n in leftovers)
    hub.release()
    assert main(["download", TINY_NAME, "--quiet"]) == 0
    assert [path for path, _ in hub.ranges] == [
        f"/{GEN}/resolve/{hub.commit(GEN)}/pytorch_model.bin"
    ]  # resumed
    for tower in ("discriminator", "generator"):
        _same_model_dirs(cached_dir(f"{TINY_HUB}-{tower}"), os.path.join(converted, tower))


def test_no_server_at_all(hub, tmp_path, monkeypatch, capsys):
    url = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("HF_ENDPOINT", url)
    assert main(["download", TINY_NAME, "--quiet"]) == 2
    err = _last_error(capsys)
    assert f"{url}/api/models/{DISC}/revision/main" in err and f"HF_ENDPOINT={url}" in err
    assert f"convert tf DIR --model {TINY_NAME}" in err and "electra_tiny.zip" in err
    with pytest.raises(HubUnreachable):
        ElectraModel.from_pretrained(TINY_NAME)
    assert _cache_entries(tmp_path) == []


def test_offline_converts_from_the_hf_cache_alone(hub, converted, tmp_path, monkeypatch):
    """HF_HUB_OFFLINE=1 with the files in huggingface_hub's cache (HF_HOME) but not yet converted."""
    assert (
        main(["download", TINY_NAME, "--tower", "discriminator", "--out", str(tmp_path / "first"), "--quiet"])
        == 0
    )
    assert _cache_entries(tmp_path) == []
    fetched = len(hub.requests)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ElectraDiscriminator.from_pretrained(TINY_NAME)
    assert len(hub.requests) == fetched
    _same_model_dirs(cached_dir(DISC), os.path.join(converted, "discriminator"))


def test_offline_without_a_cached_copy_says_so(hub, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["download", TINY_NAME, "--quiet"]) == 2
    assert "HF_HUB_OFFLINE=1" in _last_error(capsys)
    assert hub.requests == []


def test_a_local_directory_wins_over_a_name(hub, converted, tmp_path, monkeypatch):
    local = tmp_path / "work"
    shutil.copytree(os.path.join(converted, "generator"), local / TINY_NAME)
    monkeypatch.chdir(local)
    assert ElectraGenerator.from_pretrained(TINY_NAME).config.hidden_size == 16
    assert hub.requests == []


def _tiny_module(tmp_path):
    from paddle_electra.hub import module_source

    directory = tmp_path / "test_electra_tiny"
    directory.mkdir()
    (directory / "module.py").write_text(module_source(TINY_NAME, "the fixture model"), encoding="utf-8")
    return directory


def _embeddings_equal_the_fixture(module, converted):
    reference = ElectraModel.from_pretrained(os.path.join(converted, "discriminator"))
    reference.eval()
    ((vector, tokens),) = module.get_embedding([["今天天气很好"]], max_seq_len=32)
    enc = module.get_tokenizer()("今天天气很好")
    expected = reference(*to_tensors([enc["input_ids"]], [enc["token_type_ids"]])).numpy()[0]
    np.testing.assert_allclose(tokens, expected, atol=1e-5)


def test_a_zoo_hub_module_installed_without_weights_fetches_once(hub, converted, tmp_path, monkeypatch):
    import paddlehub

    hub_cli = os.path.join(os.path.dirname(sys.executable), "hub")
    result = subprocess.run(
        [hub_cli, "install", str(_tiny_module(tmp_path))], capture_output=True, text=True, env=os.environ
    )
    assert result.returncode == 0, result.stderr[-2000:]
    _embeddings_equal_the_fixture(paddlehub.Module(name=TINY_NAME), converted)  # first use: fetched by name
    assert _cache_entries(tmp_path) == [DISC.replace("/", "--")]
    fetched = len(hub.requests)
    hub.stop()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _embeddings_equal_the_fixture(
        paddlehub.Module(name=TINY_NAME, task="seq-cls"), converted
    )  # then never again
    assert len(hub.requests) == fetched


def test_hub_pack_by_name_makes_a_module_that_never_touches_the_network(
    hub, converted, tmp_path, monkeypatch, capsys
):
    import paddlehub

    module_dir = _tiny_module(tmp_path)
    assert main(["hub", "pack", "--model", TINY_NAME, "--module", str(module_dir)]) == 0
    assert "install with: hub install" in capsys.readouterr().out
    assert (module_dir / "assets" / "model.safetensors").is_file()
    hub.stop()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv(
        "PADDLE_ELECTRA_CACHE", str(tmp_path / "another-cache")
    )  # the packed module needs no cache
    _embeddings_equal_the_fixture(paddlehub.Module(directory=str(module_dir)), converted)
    assert not (tmp_path / "another-cache" / "models").exists()
    assert main(["hub", "pack", "--module", str(module_dir)]) == 2
    assert "either --weights DIR or --model NAME" in _last_error(capsys)


def test_correction_and_pretraining_start_from_both_towers_of_a_name(hub, converted, tmp_path):
    from paddle_electra.pipelines.correction import ConfusionSet, SpellingCorrector
    from paddle_electra.training.pretraining import build_model

    corrector = SpellingCorrector.from_pretrained(
        TINY_NAME, confusion=ConfusionSet({"天": ["夫"]}), runtime={"backend": "dygraph"}
    )
    assert len(corrector.tokenizer.vocab) == 588
    assert _cache_entries(tmp_path) == sorted([DISC.replace("/", "--"), GEN.replace("/", "--")])
    model, _ = build_model(TINY_NAME)
    for tower, layer in (("generator", model.generator), ("discriminator", model.discriminator)):
        expected = load_file(os.path.join(converted, tower, "model.safetensors"))
        key = "electra.encoder.layers.1.linear2.weight"
        np.testing.assert_array_equal(layer.state_dict()[key].numpy(), expected[key])
