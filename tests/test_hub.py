"""PaddleHub modules: pack, `hub install` with the real CLI, load by name, every task, batching,
hub.Trainer and paddlenlp Trainer fine-tuning, `hub serving` on loopback. HUB_HOME is a temporary
directory (conftest.py); nothing touches the network."""

import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import numpy as np
import paddle
import paddlehub as hub
import pytest
from conftest import ROOT, to_tensors, wait_until_listening
from paddlehub.module.module import Module as HubModule

from paddle_electra import ElectraModel
from paddle_electra.cli import main
from paddle_electra.hub import ElectraHubModule, module_name, module_source, zoo_summary
from paddle_electra.sources.zoo import MODELS
from paddle_electra.utils.cache import cache_dir

HUB_CLI = os.path.join(os.path.dirname(sys.executable), "hub")
MODULES = os.path.join(ROOT, "hub_modules")
NAME = "test-electra"  # a copy of a zoo module, renamed: the shared fixture is no zoo architecture
TEXTS = [
    ["今天天气很好，我们去公园吧"],
    ["不错"],
    ["他是一个人", "我们都是中国人"],
    ["上海"],
    ["有一个大的国家和十三个人在这里工作"],
]


@pytest.fixture(scope="module")
def module_copy(converted_shared, tmp_path_factory):
    copy = tmp_path_factory.mktemp("modules") / "test_electra"
    shutil.copytree(
        os.path.join(MODULES, "chinese_electra_small"), copy, ignore=shutil.ignore_patterns("assets")
    )
    source = (copy / "module.py").read_text(encoding="utf-8")
    (copy / "module.py").write_text(
        source.replace("name='chinese-electra-small'", f"name={NAME!r}"), encoding="utf-8"
    )
    assert (
        main(
            [
                "hub",
                "pack",
                "--weights",
                os.path.join(converted_shared, "discriminator"),
                "--module",
                str(copy),
            ]
        )
        == 0
    )
    return copy


@pytest.fixture(scope="module")
def installed(module_copy):
    result = subprocess.run(
        [HUB_CLI, "install", str(module_copy)], capture_output=True, text=True, env=os.environ
    )
    assert result.returncode == 0 and f"Successfully installed {NAME}" in result.stdout + result.stderr, (
        result.stderr[-2000:]
    )
    return NAME


def test_every_module_directory_matches_its_zoo_entry():
    directories = sorted(os.listdir(MODULES))
    assert len([d for d in directories if os.path.isdir(os.path.join(MODULES, d))]) == len(MODELS)
    for directory in directories:
        path = os.path.join(MODULES, directory)
        if not os.path.isdir(path):
            continue
        info = HubModule.load_module_info(path)
        entry = MODELS[info.name]
        assert directory == info.name.replace("-", "_") and info.version == "1.0.0"
        with open(os.path.join(path, "module.py"), encoding="utf-8") as f:
            assert f.read() == module_source(info.name, zoo_summary(entry))  # tiny, from the one template
        cls = HubModule.load(path)
        assert issubclass(cls, ElectraHubModule) and cls.name == info.name


def test_module_without_weights_says_how_to_pack(tmp_path):
    """A module that is no zoo model and has no weights (a zoo module fetches its model by name
    instead: tests/test_download.py)."""
    (tmp_path / "module.py").write_text(module_source("not-a-zoo-model", "no weights"), encoding="utf-8")
    with pytest.raises(RuntimeError, match="paddle-electra hub pack --weights"):
        hub.Module(directory=str(tmp_path))


def test_pack_rejects_weights_of_another_architecture(converted_shared, tmp_path, capsys):
    target = tmp_path / "chinese_electra_base"
    shutil.copytree(
        os.path.join(MODULES, "chinese_electra_base"), target, ignore=shutil.ignore_patterns("assets")
    )
    assert (
        main(
            [
                "hub",
                "pack",
                "--weights",
                os.path.join(converted_shared, "discriminator"),
                "--module",
                str(target),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and "not chinese-electra-base's architecture" in err
    assert not (target / "assets").exists()


def test_pack_makes_a_module_for_any_model(converted_shared, tmp_path):
    out = tmp_path / "my_legal"
    assert (
        main(
            [
                "hub",
                "pack",
                "--weights",
                os.path.join(converted_shared, "discriminator"),
                "--name",
                "my-legal-electra",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert module_name(str(out)) == "my-legal-electra"
    module = hub.Module(directory=str(out), task="seq-cls", label_map={0: "无罪", 1: "有罪"})
    assert module.predict([["被告人犯盗窃罪"]])[0] in {"无罪", "有罪"}


def test_embeddings_equal_the_converted_model(installed, converted_shared):
    module = hub.Module(name=installed)
    reference = ElectraModel.from_pretrained(os.path.join(converted_shared, "discriminator"))
    reference.eval()
    tokenizer = module.get_tokenizer()
    for (vector, tokens), texts in zip(module.get_embedding(TEXTS, batch_size=3), TEXTS):
        enc = tokenizer(*texts)
        expected = reference(*to_tensors([enc["input_ids"]], [enc["token_type_ids"]])).numpy()[0]
        assert np.asarray(tokens).shape == expected.shape  # real tokens only, no padding
        np.testing.assert_allclose(tokens, expected, atol=1e-5)
        np.testing.assert_allclose(vector, expected.mean(axis=0), atol=1e-5)


@pytest.mark.parametrize(
    "task,data",
    [
        (None, TEXTS),
        ("seq-cls", TEXTS),
        ("token-cls", [["他是一个人"], ["上海"], ["有一个大的国家和十三个人在这里工作"], ["中\x02国人"]]),
        (
            "text-matching",
            [["今天天气很好", "天气不错"], ["上海", "有一个大的国家"], ["他", "我们都是中国人"]],
        ),
        (
            "reading-comprehension",
            [["谁在上海？", "他是一个人，他在上海工作。" * 20], ["国家多大？", "有一个大的国家"]],
        ),
    ],
)
def test_every_task_predicts_the_same_for_batch_sizes_1_and_3(installed, task, data):
    module = hub.Module(
        name=installed, task=task, label_map={0: "O", 1: "B-LOC", 2: "I-LOC"} if task == "token-cls" else None
    )
    if task is None:
        one, three = module.get_embedding(data, batch_size=1), module.get_embedding(data, batch_size=3)
        for (v1, t1), (v3, t3) in zip(one, three):
            np.testing.assert_allclose(v1, v3, atol=1e-5)
            np.testing.assert_allclose(t1, t3, atol=1e-5)
        return
    labels1, probs1 = module.predict(data, batch_size=1, return_prob=True)
    labels3, probs3 = module.predict(data, batch_size=3, return_prob=True)
    assert labels1 == labels3 and len(labels1) == len(data)
    for p1, p3 in zip(probs1, probs3):  # rows differ in length for token-cls
        np.testing.assert_allclose(np.array(p1, dtype=float), np.array(p3, dtype=float), atol=1e-5)
    if task == "token-cls":
        assert [len(row) for row in labels1] == [5, 2, 17, 2]  # one label per character (or split_char word)
    if task == "reading-comprehension":
        assert all(answer in context for answer, (_, context) in zip(labels1, data))


def test_training_step_of_every_task(installed):
    """The batch layouts of PaddleHub's datasets, one per task: loss and metrics come back."""
    ids = paddle.to_tensor(np.array([[101, 5, 6, 7, 102, 0], [101, 8, 9, 102, 0, 0]]))
    types = paddle.zeros_like(ids)
    batches = {
        "seq-cls": [ids, types, paddle.to_tensor([1, 0])],
        "token-cls": [
            ids,
            types,
            paddle.to_tensor([5, 4]),
            paddle.to_tensor(np.array([[0, 1, 2, 0, 0, 0], [0, 1, 0, 0, 0, 0]])),
        ],
        "text-matching": [ids, types, ids, types, paddle.to_tensor([1, 0])],
        "reading-comprehension": [
            ids,
            paddle.to_tensor(np.array([[0, 0, 1, 1, 1, 0]] * 2)),
            paddle.to_tensor([2, 0]),
            paddle.to_tensor([3, 0]),
        ],
    }
    metric = {
        "seq-cls": "acc",
        "token-cls": "f1_score",
        "text-matching": "acc",
        "reading-comprehension": "span_acc",
    }
    for task, batch in batches.items():
        module = hub.Module(
            name=installed,
            task=task,
            label_map={0: "O", 1: "B-LOC", 2: "I-LOC"} if task == "token-cls" else None,
        )
        result = module.training_step(batch, 0)
        assert float(result["loss"]) > 0 and 0.0 <= result["metrics"][metric[task]] <= 1.0
        result["loss"].backward()  # gradients reach the encoder
        assert module.model.electra.embeddings.word_embeddings.weight.grad is not None


def _hub_batches(module, texts, labels, length=24):
    tokenizer = module.get_tokenizer()
    encoded = [tokenizer(t, max_length=length, truncation=True) for t in texts]
    ids = np.array([e["input_ids"] + [0] * (length - len(e["input_ids"])) for e in encoded])
    types = np.zeros_like(ids)
    return [paddle.to_tensor(ids), paddle.to_tensor(types), paddle.to_tensor(np.array(labels))]


class _Examples(paddle.io.Dataset):
    def __init__(self, *columns):
        self.columns = [c.numpy() for c in columns]

    def __getitem__(self, i):
        return tuple(c[i] for c in self.columns)

    def __len__(self):
        return len(self.columns[0])


TRAIN_TEXTS = ["服务很好", "房间干净", "非常满意", "很好很好", "太差了", "不会再来", "又小又脏", "非常失望"]
TRAIN_LABELS = [1, 1, 1, 1, 0, 0, 0, 0]


def test_hub_trainer_lowers_the_loss(installed, tmp_path):
    paddle.seed(0)
    module = hub.Module(name=installed, task="seq-cls", label_map={0: "负面", 1: "正面"})
    batch = _hub_batches(module, TRAIN_TEXTS, TRAIN_LABELS)
    before = float(module.validation_step(batch, 0)["loss"])
    probs_before = module.predict([[t] for t in TRAIN_TEXTS], return_prob=True)[1]
    optimizer = paddle.optimizer.AdamW(learning_rate=5e-3, parameters=module.parameters())
    trainer = hub.Trainer(module, optimizer, checkpoint_dir=str(tmp_path), use_gpu=False)
    trainer.train(_Examples(*batch), epochs=15, batch_size=4, log_interval=1000, save_interval=1000)
    module.eval()
    after = float(module.validation_step(batch, 0)["loss"])
    assert after < before * 0.5, (before, after)
    # predict exports the trained weights, not the ones it exported before training, into a
    # temporary folder: weights trained in this process add nothing to the export cache
    static = os.path.join(cache_dir(), "static")
    cached = set(os.listdir(static))
    labels, probs = module.predict([[t] for t in TRAIN_TEXTS], return_prob=True)
    assert set(os.listdir(static)) == cached
    with paddle.no_grad():
        np.testing.assert_allclose(
            probs, module(input_ids=batch[0], token_type_ids=batch[1]).numpy(), atol=1e-5
        )
    assert np.abs(np.array(probs) - np.array(probs_before)).max() > 0.1
    assert labels == ["正面" if y else "负面" for y in TRAIN_LABELS]


def test_paddlenlp_trainer_on_the_modules_model_lowers_the_loss(installed, tmp_path):
    from paddlenlp.data import DataCollatorWithPadding
    from paddlenlp.trainer import Trainer, TrainingArguments

    paddle.seed(0)
    module = hub.Module(name=installed, task="seq-cls", label_map={0: "负面", 1: "正面"})
    tokenizer = module.get_tokenizer()
    rows = [dict(tokenizer(t), labels=y) for t, y in zip(TRAIN_TEXTS, TRAIN_LABELS)]
    ids, types, labels = _hub_batches(module, TRAIN_TEXTS, TRAIN_LABELS)

    def loss():
        module.model.eval()
        with paddle.no_grad():
            return float(module.model(ids, types, (ids != 0).astype("int64"), labels=labels)[0])

    before = loss()
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=30,
        per_device_train_batch_size=4,
        learning_rate=5e-3,
        report_to=[],
        save_strategy="no",
        logging_steps=1000,
        disable_tqdm=True,
    )
    Trainer(
        model=module.model, args=args, train_dataset=rows, data_collator=DataCollatorWithPadding(tokenizer)
    ).train()
    assert loss() < before * 0.5


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(port, body, content_type="application/json"):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/predict/{NAME}", data=body, headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def test_hub_serving_answers_on_loopback(installed):
    port = _free_port()
    server = subprocess.Popen(
        [HUB_CLI, "serving", "start", "-m", installed, "-p", str(port)],
        env=os.environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_listening(port, server, "hub serving")
        status, answer = _post(port, json.dumps({"data": [["今天天气很好"], ["不错"]]}).encode())
        assert status == 200 and answer["status"] == "000" and len(answer["results"]) == 2
        assert len(answer["results"][0][0]) == 64  # sentence vector of the 64-wide fixture model
        for body in (
            {"data": "今天天气很好"},
            {"text": [["今天"]]},
            {"data": [[1, 2]]},
            {"data": [["今天"]], "max_seq_len": 100000},
        ):
            status, answer = _post(port, json.dumps(body).encode())
            assert status == 400, (body, status, answer)
            assert json.loads(answer)["msg"]
        status, _ = _post(port, b"{not json")
        assert 400 <= status < 500
    finally:
        server.terminate()
        server.wait(timeout=30)
