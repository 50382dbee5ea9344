"""Task heads, readers, metrics and the fine-tuning pipeline on real data (small subsets)."""

import contextlib
import json
import os

import numpy as np
import paddle
import pytest
from conftest import DATA

from paddle_electra import (
    ElectraForQuestionAnswering,
    ElectraForSequenceClassification,
    ElectraForTokenClassification,
    ElectraTokenizer,
)
from paddle_electra.cli import main
from paddle_electra.tasks.metrics import cmrc_scores, entity_f1, exact_match, f1_score, mixed_segmentation
from paddle_electra.tasks.readers import DataError, read_classification, read_squad, read_tagging, read_xnli
from paddle_electra.tasks.registry import get_task, read_task
from paddle_electra.tasks.squad import featurize, postprocess
from paddle_electra.training.finetune import apply_layerwise_lr_decay, collate


@pytest.fixture(scope="module")
def data_dir():
    return DATA


def encode(task, examples, tokenizer, max_seq_length=128, label_all_tokens=False, long_text="truncate"):
    """Training rows of a task's examples (and the task's state: windows, first sub-tokens); long
    texts cut (one row per example) unless `long_text="window"`."""
    return get_task(task, label_all_tokens=label_all_tokens or None, long_text=long_text).encode(
        examples, tokenizer, max_seq_length, training=True
    )


def first_positions(plan):
    """Each word's first sub-token position in its row, from a tagging plan (first row, where)."""
    return [None if w is None else w[1] for w in plan[1]]


@pytest.fixture(scope="module")
def tokenizer(ltp_converted):
    return ElectraTokenizer.from_pretrained(ltp_converted)


# ---- metric: hand-checked cases --------------------------------------------------------------
def test_cmrc_metric_on_hand_checked_cases():
    assert mixed_segmentation("iPhone 15的价格，是999美元。", remove_punctuation=True) == [
        "iphone",
        "15",
        "的",
        "价",
        "格",
        "是",
        "999",
        "美",
        "元",
    ]
    assert f1_score(["北京大学"], "北京") == pytest.approx(2 / 3)  # LCS 2: P = 1, R = 1/2
    assert f1_score(["北京大学", "北京"], "北京") == 1.0  # best gold answer counts
    assert f1_score(["1986年"], "1986") == pytest.approx(2 / 3)  # segments ['1986', '年'] vs ['1986']
    assert f1_score(["北京"], "上海") == 0.0
    assert exact_match(["《红楼梦》"], "红楼梦") == 1.0  # punctuation removed before comparing
    assert exact_match(["Paddle Paddle"], "paddle paddle") == 1.0
    scores = cmrc_scores({"q1": ["踢爆"], "q2": ["1986年"], "q3": ["北京"]}, {"q1": "踢爆", "q2": "1986"})
    assert scores == {
        "em": pytest.approx(100 / 3),
        "f1": pytest.approx(100 * (1 + 2 / 3) / 3),
        "total": 3,
        "skipped": 1,
    }


def test_entity_f1_is_entity_level():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "I-ORG", "I-ORG"]]
    predicted = [["B-PER", "I-PER", "O", "O"], ["B-ORG", "I-ORG", "O"]]  # 1 of 2 predicted entities right
    scores = entity_f1(gold, predicted)
    assert scores["precision"] == pytest.approx(1 / 2) and scores["recall"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx(0.4)


# ---- readers: real rows and malformed rows ---------------------------------------------------
def test_readers_on_real_files(data_dir):
    senti = read_task("chnsenticorp", os.path.join(data_dir, "chnsenticorp", "dev.tsv"))
    assert len(senti) == 200 and {e.label for e in senti} == {
        "0",
        "1",
    }  # the sample: the first 200 of 1200 rows
    ner = read_task("msra_ner", os.path.join(data_dir, "msra_ner", "dev.tsv"))
    assert len(ner) == 100 and all(len(e.tokens) == len(e.labels) for e in ner)
    assert any("B-ORG" in e.labels for e in ner)
    cmrc = read_task("cmrc2018", os.path.join(data_dir, "cmrc2018", "trial.json"))
    assert len(cmrc) == 151  # the first 40 of 256 articles
    for (
        example
    ) in cmrc:  # every answer points at its text (5 re-anchored: UTF-16 offsets in the source, article 29)
        for answer in example.answers:
            assert (
                example.context[answer["answer_start"] : answer["answer_start"] + len(answer["text"])]
                == answer["text"]
            )


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_pair_and_xnli_formats(tmp_path):
    lcqmc = read_classification(
        _write(tmp_path, "l.tsv", "喜欢打篮球的男生喜欢什么样的女生\t爱打篮球的男生喜欢什么样的女生\t1\n"),
        pair=True,
    )
    assert (lcqmc[0].text_b, lcqmc[0].label) == ("爱打篮球的男生喜欢什么样的女生", "1")
    with_header = read_classification(
        _write(tmp_path, "b.tsv", "text_a\ttext_b\tlabel\n用微信都6年\t微信消费\t0\n"), pair=True
    )
    assert with_header[0].text_a == "用微信都6年"
    train = read_xnli(
        _write(
            tmp_path,
            "t.tsv",
            "premise\thypo\tlabel\n他说，妈妈，我回来了。\t他一回来就叫妈妈。\tcontradictory\n",
        )
    )
    assert train[0].label == "contradiction"
    header = (
        "language\tgold_label\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\t"
        "sentence2_parse\tsentence1\tsentence2\tpromptID\tpairID\n"
    )
    dev = read_xnli(
        _write(
            tmp_path,
            "d.tsv",
            header + "en\tneutral\t-\t-\t-\t-\tA\tB\t1\t1\nzh\tentailment\t-\t-\t-\t-\t我\t你\t2\t2\n",
        )
    )
    assert [(e.text_a, e.label) for e in dev] == [("我", "entailment")]  # other languages are not ours


@pytest.mark.parametrize(
    "reader,text,message",
    [
        (
            lambda p: read_classification(p, labels=("0", "1")),
            "label\ttext_a\n1\t好\n2\t差\n",
            ":3: label '2' is not one of",
        ),
        (
            lambda p: read_classification(p, pair=True),
            "a\tb\t1\nonly one column\n",
            ":2: expected 3 tab-separated columns",
        ),
        (lambda p: read_classification(p, labels=("0", "1")), "label\ttext_a\n1\t\n", ":2: empty text_a"),
        (
            lambda p: read_tagging(p, ("O", "B-PER", "I-PER")),
            "text_a\tlabel\n张 三\tB-PER\n",
            ":2: 2 characters but 1 tags",
        ),
        (
            lambda p: read_tagging(p, ("O", "B-PER", "I-PER")),
            "text_a\tlabel\n张 三\tB-PER I-XX\n",
            ":2: tag 'I-XX' is not one of",
        ),
        (lambda p: read_tagging(p, ("O", "B-PER")), "张 B-PER\n三 O extra\n", ":2: expected `character tag`"),
        (lambda p: read_xnli(p), "a\tb\n1\t2\n", ":1: not an XNLI file"),
        (
            lambda p: read_squad(p, training=True),
            json.dumps(
                {
                    "data": [
                        {
                            "paragraphs": [
                                {
                                    "context": "今天天气好",
                                    "qas": [
                                        {
                                            "id": "q9",
                                            "question": "?",
                                            "answers": [{"text": "明天", "answer_start": 0}],
                                        }
                                    ],
                                }
                            ]
                        }
                    ]
                }
            ),
            "question q9: no answer occurs in its context ('明天')",
        ),
        (lambda p: read_squad(p), "{not json", "not a SQuAD-format json"),
    ],
)
def test_malformed_rows_name_file_line_and_reason(tmp_path, reader, text, message):
    path = _write(tmp_path, "bad.txt", text)
    with pytest.raises(DataError) as error:
        reader(path)
    assert str(error.value).startswith(path) and message in str(error.value)


# ---- QA featurization and post-processing ----------------------------------------------------
def test_postprocess_recovers_gold_spans_on_real_cmrc(data_dir, tokenizer):
    examples = read_squad(os.path.join(data_dir, "cmrc2018", "trial.json"))[:150]
    features = featurize(
        examples, tokenizer, max_seq_length=256, max_query_length=64, doc_stride=128, training=True
    )
    windows = [sum(f.example_index == i for f in features) for i in range(len(examples))]
    assert min(windows) >= 2 and max(windows) >= 5  # documents longer than max_seq_length: several windows
    outputs = []
    for f in features:  # the model's beam, with all probability on the gold positions (or [CLS])
        outputs.append(
            (
                np.zeros(1),
                np.array([f.start_position]),
                np.zeros((1, 1)),
                np.array([[f.end_position]]),
                np.array(-5.0),
            )
        )
    results = postprocess(examples, features, outputs, max_answer_length=100)
    # BERT's rule: an answer is found in a window that gives its start token the most context and holds
    # it whole.
    recoverable = {
        examples[f.example_index].qid
        for f in features
        if f.start_position > 0
        and f.max_context[f.start_position]
        and f.end_position - f.start_position < 100
    }
    recovered = {e.qid for e in examples if results[e.qid]["text"] == e.answers[0]["text"].strip()}
    assert recovered == recoverable and len(recovered) >= 140
    for e in examples:
        answer = results[e.qid]
        if e.qid in recovered:  # character offsets point into the original context
            assert (
                e.context[answer["n_best"][0]["start"] : answer["n_best"][0]["end"]].strip() == answer["text"]
            )


# ---- heads: shapes, learning on real data, round trip ----------------------------------------
def _batch(task, rows):
    return collate(rows)


def _train(model, batch, steps=12, lr=3e-4):
    model.train()
    optimizer = paddle.optimizer.AdamW(learning_rate=lr, parameters=model.parameters())
    losses = []
    for _ in range(steps):
        loss = model(**batch)[0]
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        losses.append(float(loss))
    return losses


def test_classification_head_learns_real_chnsenticorp(data_dir, ltp_converted, tokenizer, tmp_path):
    examples = read_task("chnsenticorp", os.path.join(data_dir, "chnsenticorp", "dev.tsv"))[:16]
    batch = _batch("chnsenticorp", encode("chnsenticorp", examples, tokenizer, max_seq_length=64)[0])
    for head in ("original", "two_layer"):
        paddle.seed(0)
        model = ElectraForSequenceClassification.from_pretrained(
            ltp_converted, num_labels=2, classifier_head=head, new_head=True
        )
        model.eval()
        assert model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"]).shape == [16, 2]
        losses = _train(model, batch, steps=25, lr=5e-4)
        assert losses[-1] < losses[0] * 0.5, losses
    model.save_pretrained(str(tmp_path), safe_serialization=True)
    again = ElectraForSequenceClassification.from_pretrained(str(tmp_path))
    model.eval(), again.eval()
    inputs = (batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
    assert again.config.classifier_head == "two_layer"
    np.testing.assert_array_equal(model(*inputs).numpy(), again(*inputs).numpy())


def test_tagging_head_learns_real_msra_ner(data_dir, ltp_converted, tokenizer):
    examples = [
        e for e in read_task("msra_ner", os.path.join(data_dir, "msra_ner", "dev.tsv")) if len(e.tokens) < 60
    ][:12]
    rows, plans = encode("msra_ner", examples, tokenizer, max_seq_length=64)
    first = first_positions(plans[0])
    assert [rows[0]["labels"][i] for i in first if i is not None][:5] != [] and rows[0]["labels"][
        0
    ] == -100  # [CLS] ignored
    paddle.seed(0)
    model = ElectraForTokenClassification.from_pretrained(ltp_converted, num_labels=7, new_head=True)
    batch = _batch("msra_ner", rows)
    model.eval()
    assert model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"]).shape[-1] == 7
    losses = _train(model, batch)
    assert losses[-1] < losses[0] * 0.5, losses


def test_every_sub_token_labelling_turns_b_into_i(tokenizer):
    from paddle_electra.tasks.readers import TaggedExample

    rows, firsts = encode(
        "msra_ner",
        [TaggedExample(["paddlepaddle", "在", "北京"], ["B-ORG", "O", "B-LOC"])],
        tokenizer,
        16,
        label_all_tokens=True,
    )
    labels, first = rows[0]["labels"], first_positions(firsts[0])
    assert first[1] - first[0] > 1  # 'paddlepaddle' has several sub-tokens
    assert labels[first[0]] == 5 and all(
        label == 6 for label in labels[first[0] + 1 : first[1]]
    )  # B-ORG then I-ORG


def test_every_sub_token_labelling_keeps_bioes_boundaries_on_the_first(tokenizer):
    from paddle_electra.tasks.readers import TaggedExample

    tags = ("O", "S-ORG", "B-ORG", "I-ORG", "E-ORG", "S-LOC")
    task = get_task("token-classification", labels=tags, label_all_tokens=True)
    words = ["paddlepaddle", "在", "paddlepaddle", "paddlepaddle", "paddlepaddle"]
    rows, firsts = task.encode(
        [TaggedExample(words, ["S-ORG", "O", "B-ORG", "E-ORG", "S-LOC"])], tokenizer, 64, training=True
    )
    labels, first = rows[0]["labels"], first_positions(firsts[0])

    def later(w):  # the tags of word w's later sub-words
        return set(labels[first[w] + 1 : first[w + 1] if w + 1 < len(words) else len(labels) - 1])

    assert [tags[labels[i]] for i in first] == ["S-ORG", "O", "B-ORG", "E-ORG", "S-LOC"]
    assert later(0) == later(2) == later(3) == {tags.index("I-ORG")}  # inside the entity, no second S-/E-
    assert later(4) == {tags.index("S-LOC")}  # no I-LOC in the tag set: the word's own tag


@pytest.mark.parametrize("head", ["original", "linear"])
def test_qa_head_learns_real_cmrc(data_dir, ltp_converted, tokenizer, head):
    examples = [
        e for e in read_squad(os.path.join(data_dir, "cmrc2018", "trial.json")) if len(e.context) < 400
    ][:6]
    rows, windows = encode("cmrc2018", examples, tokenizer, max_seq_length=256)
    assert {w.example_index for w in windows if w.start_position > 0} == set(
        range(len(examples))
    )  # answer in some window
    paddle.seed(0)
    model = ElectraForQuestionAnswering.from_pretrained(
        ltp_converted, qa_head=head, beam_size=5, new_head=True
    )
    losses = _train(model, collate(rows), steps=15, lr=5e-4)
    assert losses[-1] < losses[0] * 0.5, losses
    model.eval()
    batch = collate(rows)
    out = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
    n = len(rows)  # windows, several per example
    assert [o.shape for o in out] == [[n, 5], [n, 5], [n, 5, 5], [n, 5, 5], [n]]
    answers = postprocess(examples, windows, list(zip(*[o.numpy() for o in out])))
    assert all(a["text"] in e.context for a, e in zip(answers.values(), examples))


def test_layerwise_lr_decay_follows_electra(ltp_converted):
    model = ElectraForSequenceClassification.from_pretrained(ltp_converted, num_labels=2, new_head=True)
    apply_layerwise_lr_decay(model, 0.8)
    scale = {name: p.optimize_attr["learning_rate"] for name, p in model.named_parameters()}
    layers = model.config.num_hidden_layers  # 3: embeddings 0.8^5, layer i 0.8^(4 - i), head 1
    assert scale["electra.embeddings.word_embeddings.weight"] == pytest.approx(0.8 ** (layers + 2))
    assert scale["electra.embeddings_project.weight"] == pytest.approx(0.8 ** (layers + 2))
    assert scale["electra.encoder.layers.0.linear1.weight"] == pytest.approx(0.8 ** (layers + 1))
    assert scale["electra.encoder.layers.2.norm2.bias"] == pytest.approx(0.8**2)
    assert scale["classifier.weight"] == 1.0


# ---- command line ----------------------------------------------------------------------------
def test_finetune_evaluate_predict_commands(data_dir, ltp_converted, tmp_path, capsys):
    task_dir = tmp_path / "data"
    task_dir.mkdir()
    with open(os.path.join(data_dir, "chnsenticorp", "train.tsv"), encoding="utf-8") as f:
        (task_dir / "train.tsv").write_text("".join(f.readlines()[:33]), encoding="utf-8")
    with open(os.path.join(data_dir, "chnsenticorp", "dev.tsv"), encoding="utf-8") as f:
        (task_dir / "dev.tsv").write_text("".join(f.readlines()[:17]), encoding="utf-8")
    out = tmp_path / "model"
    argv = [
        "finetune",
        "--task",
        "chnsenticorp",
        "--model",
        ltp_converted,
        "--data-dir",
        str(task_dir),
        "--output",
        str(out),
        "--max-steps",
        "3",
        "--batch-size",
        "8",
        "--max-seq-length",
        "64",
    ]
    assert main(argv) == 0
    trained = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(trained) == {"accuracy", "macro_f1"} and trained == json.loads(
        (out / "eval_results.json").read_text()
    )
    assert (
        main(
            [
                "evaluate",
                "--task",
                "chnsenticorp",
                "--model",
                str(out),
                "--data-file",
                str(task_dir / "dev.tsv"),
                "--max-seq-length",
                "64",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == trained
    assert (
        main(
            [
                "predict",
                "--task",
                "chnsenticorp",
                "--model",
                str(out),
                "--data-file",
                str(task_dir / "dev.tsv"),
                "--output",
                str(tmp_path / "p.jsonl"),
                "--max-seq-length",
                "64",
            ]
        )
        == 0
    )
    predictions = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert len(predictions) == 16 and {p["label"] for p in predictions} <= {"0", "1"}
    assert (
        main(["evaluate", "--task", "lcqmc", "--model", str(out), "--data-file", str(task_dir / "dev.tsv")])
        == 2
    )
    assert "fine-tuned for task 'chnsenticorp'" in capsys.readouterr().err


def test_data_parallel_finetune_with_two_cpu_processes(data_dir, ltp_converted, tmp_path):
    """paddle's own launcher + the paddlenlp Trainer, 2 CPU processes: one saves and evaluates."""
    import subprocess
    import sys

    task_dir = tmp_path / "data"
    task_dir.mkdir()
    for split, rows in (("train", 33), ("dev", 9)):
        with open(os.path.join(data_dir, "chnsenticorp", f"{split}.tsv"), encoding="utf-8") as f:
            (task_dir / f"{split}.tsv").write_text("".join(f.readlines()[:rows]), encoding="utf-8")
    exe = os.path.join(os.path.dirname(sys.executable), "paddle-electra")
    command = [
        sys.executable,
        "-m",
        "paddle.distributed.launch",
        "--nnodes",
        "1",
        "--nproc_per_node",
        "2",
        "--log_dir",
        str(tmp_path / "logs"),
        exe,
        "finetune",
        "--task",
        "chnsenticorp",
        "--model",
        ltp_converted,
        "--data-dir",
        str(task_dir),
        "--output",
        str(tmp_path / "model"),
        "--max-steps",
        "2",
        "--batch-size",
        "4",
        "--max-seq-length",
        "32",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    logs = [(tmp_path / "logs" / f"workerlog.{rank}").read_text(errors="replace") for rank in (0, 1)]
    assert all("data-parallel fine-tuning over 2 processes" in log for log in logs)
    assert "saved the fine-tuned model" in logs[0] and "saved the fine-tuned model" not in logs[1]
    assert (tmp_path / "model" / "model.safetensors").is_file()


def test_finetuned_model_packs_as_a_hub_module_with_its_labels(data_dir, ltp_converted, tmp_path):
    import paddlehub as hub

    from paddle_electra.training.finetune import finetune

    task_dir = tmp_path / "data"
    task_dir.mkdir()
    with open(os.path.join(data_dir, "chnsenticorp", "train.tsv"), encoding="utf-8") as f:
        (task_dir / "train.tsv").write_text("".join(f.readlines()[:17]), encoding="utf-8")
    finetune(
        "chnsenticorp",
        ltp_converted,
        str(task_dir),
        str(tmp_path / "model"),
        max_steps=2,
        batch_size=8,
        max_seq_length=32,
    )
    assert (
        main(
            [
                "hub",
                "pack",
                "--weights",
                str(tmp_path / "model"),
                "--name",
                "my-sentiment",
                "--out",
                str(tmp_path / "module"),
            ]
        )
        == 0
    )
    module = hub.Module(directory=str(tmp_path / "module"), task="seq-cls")
    assert module.label_map == {0: "0", 1: "1"} and module.num_classes == 2  # from the fine-tuned config
    reference = ElectraForSequenceClassification.from_pretrained(str(tmp_path / "model"))
    reference.eval()
    enc = module.get_tokenizer()("房间很干净")
    expected = paddle.nn.functional.softmax(
        reference(paddle.to_tensor([enc["input_ids"]]), paddle.to_tensor([enc["token_type_ids"]])), -1
    )
    labels, probs = module.predict([["房间很干净"]], return_prob=True)
    np.testing.assert_allclose(probs[0], expected.numpy()[0], atol=1e-5)  # the trained head, not a new one


def test_fast_cpu_training_gives_the_plain_paths_gradients_and_losses(data_dir, ltp_converted, tokenizer):
    from paddle_electra.training.fast_cpu import fast_training

    examples = read_task("chnsenticorp", os.path.join(data_dir, "chnsenticorp", "dev.tsv"))[:16]
    batch = collate(encode("chnsenticorp", examples, tokenizer, max_seq_length=64)[0])
    runs = []
    for fast in (False, True):
        paddle.seed(0)  # same head initialisation; no dropout, whose masks differ (tests/test_fused_cpu.py)
        model = ElectraForSequenceClassification.from_pretrained(
            ltp_converted,
            num_labels=2,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
            new_head=True,
        )
        model.train()
        with fast_training(model, threads=2) if fast else contextlib.nullcontext() as how:
            model(**batch)[0].backward()
            grads = {name: p.grad.numpy() for name, p in model.named_parameters()}
            model.clear_gradients()
            losses = _train(model, batch, steps=4)
        if fast:
            assert how == (2, 3)  # every Transformer layer of LTP-tiny fused
            assert not [
                sub for sub in model.sublayers() if "forward" in sub.__dict__
            ]  # ordinary layers again
        runs.append((grads, losses))
    (plain_grads, plain), (fast_grads, fast) = runs
    for name, grad in plain_grads.items():  # the whole model's gradients on real reviews
        np.testing.assert_allclose(
            fast_grads[name], grad, atol=1e-5 * np.abs(grad).max() + 1e-9, err_msg=name
        )
    np.testing.assert_allclose(fast, plain, rtol=1e-5)  # and AdamW steps from them


def _end_logits_concatenated(model, start_states, hidden):
    """The original head's formula, qa_hidden over [start state; token state] for every pair."""
    length, k = hidden.shape[1], start_states.shape[1]
    starts = start_states.unsqueeze(2).expand([-1, -1, length, -1])
    ends = hidden.unsqueeze(1).expand([-1, k, -1, -1])
    return model.qa_logits(
        paddle.nn.functional.gelu(model.qa_hidden(paddle.concat([starts, ends], axis=-1)))
    ).squeeze(-1)


def test_qa_end_logits_split_equals_the_concatenated_formula():
    """End logits as W_s s + W_t t (split qa_hidden) give the original [s; t] formula's values and
    gradients, for the beam (K starts) and for teacher forcing (K = 1)."""
    from paddle_electra import ElectraConfig

    paddle.seed(3)
    config = ElectraConfig(
        vocab_size=50,
        embedding_size=24,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        beam_size=5,
    )
    model = ElectraForQuestionAnswering(config)
    with paddle.no_grad():  # a non-zero bias, so that it is counted once per pair in both formulas
        model.qa_hidden.bias.set_value(paddle.randn(model.qa_hidden.bias.shape) * 0.5)
    for k in (5, 1):
        hidden = paddle.randn([3, 11, 32])
        starts = paddle.randn([3, k, 32])
        hidden.stop_gradient = starts.stop_gradient = False
        results = []
        for formula in (model._end_logits, lambda s, h: _end_logits_concatenated(model, s, h)):
            model.clear_gradients()
            out = formula(starts, hidden)
            (out * paddle.arange(out.size, dtype=out.dtype).reshape(out.shape) / out.size).sum().backward()
            grads = [
                t.grad.numpy().copy()
                for t in (
                    starts,
                    hidden,
                    model.qa_hidden.weight,
                    model.qa_hidden.bias,
                    model.qa_logits.weight,
                )
            ]
            hidden.clear_gradient()
            starts.clear_gradient()
            results.append([out.numpy()] + grads)
        assert results[0][0].shape == (3, k, 11)
        for new, old in zip(*results):
            np.testing.assert_allclose(new, old, rtol=1e-5, atol=1e-6 * np.abs(old).max())
