"""`--task multiple-choice` on a real C3 sample (tests/fixtures/data/c3: the first 42 questions of
c3-m-dev.json, the first 40 of c3-d-dev.json, as published): C3's JSON and JSON Lines, one-line
errors, the head's masking of padded choices, fine-tuning LTP-tiny through the CLI, evaluate and
predict (file and stdin), batch-size and backend independence, and the hub adapter."""

import io
import json
import os

import numpy as np
import paddle
import pytest
from conftest import FIXTURES

from paddle_electra import ElectraForMultipleChoice
from paddle_electra.cli import main
from paddle_electra.models.tokenizer import ElectraTokenizer
from paddle_electra.models.weights import LoadError
from paddle_electra.runtime.batching import feed
from paddle_electra.tasks.readers import DataError
from paddle_electra.tasks.registry import get_task
from paddle_electra.training.finetune import predict
from paddle_electra.training.trainer import collate

C3 = os.path.join(FIXTURES, "data", "c3")
C3_M, C3_D = os.path.join(C3, "c3-m-dev.json"), os.path.join(C3, "c3-d-dev.json")
MAX_SEQ_LENGTH = 64


def _c3_items(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _write_jsonl(path, examples, answers=True):
    with open(path, "w", encoding="utf-8") as f:
        for e in examples:
            record = {"id": e.qid, "context": e.context, "question": e.question, "choices": e.choices}
            if answers:
                record["answer"] = e.answer
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def _fields(examples):
    return [(e.qid, e.context, e.question, e.choices, e.answer) for e in examples]


# ---- reading ---------------------------------------------------------------------------------
def test_reads_c3_json_and_json_lines(tmp_path):
    task = get_task("multiple-choice")
    m, d = task.read(C3_M), task.read(C3_D)
    assert len(m) == 42 and len(d) == 40
    assert {len(e.choices) for e in m} == {2, 3, 4} and {len(e.choices) for e in d} == {3, 4}
    assert all(e.answer in e.choices for e in m + d)
    lines, questions, doc_id = _c3_items(C3_D)[0]  # a dialogue: its lines joined by newlines
    assert len(lines) > 1 and d[0].context == "\n".join(lines) and d[0].qid == f"{doc_id}-1"
    assert (d[0].question, d[0].choices, d[0].answer) == (
        questions[0]["question"],
        questions[0]["choice"],
        questions[0]["answer"],
    )
    _write_jsonl(tmp_path / "d.jsonl", d)
    assert _fields(task.read(str(tmp_path / "d.jsonl"))) == _fields(d)
    _write_jsonl(tmp_path / "unlabelled.jsonl", d, answers=False)  # predict's input: no answers needed
    assert [e.answer for e in task.read(str(tmp_path / "unlabelled.jsonl"), labelled=False)] == [None] * 40
    with pytest.raises(
        DataError, match=r"unlabelled.jsonl:1: no 'answer': give the text of the right choice"
    ):
        task.read(str(tmp_path / "unlabelled.jsonl"))
    stdin = [json.dumps({"context": d[0].context, "question": "?", "choices": ["a", "b"]}) + "\n", "\n"]
    assert _fields(task.read_lines(stdin)) == [("1", d[0].context, "?", ["a", "b"], None)]
    with pytest.raises(DataError, match=r"<stdin>:1: 'choices' is missing or not a list of strings"):
        task.read_lines([json.dumps({"context": "c", "question": "q"})])


def _c3_question(question="问?", choice=("甲", "乙"), answer="甲"):
    return {"question": question, "choice": list(choice), "answer": answer}


JSONL_LINE = {
    "context": "男：你好。",
    "question": "男的说什么?",
    "choices": ["你好", "再见"],
    "answer": "你好",
}


@pytest.mark.parametrize(
    "name,document,message",
    [
        (
            "t.json",
            [[["第一段。"], [_c3_question(), _c3_question(choice=["甲"])], "t-1"]],
            "t.json: item 1 (id t-1), question 2: 1 choice(s) ('甲'): a question needs two or more choices",
        ),
        (
            "t.json",
            [[["第一段。"], [_c3_question()], "t-1"], [["第二段。"], [_c3_question(answer="丙")], "t-2"]],
            "t.json: item 2 (id t-2), question 1: answer '丙' is not among its choices ('甲', '乙'): "
            "make the answer one of the choice texts, exactly",
        ),
        (
            "t.json",
            [[["第一段。"], [{"choice": ["甲", "乙"], "answer": "甲"}], "t-1"]],
            "t.json: item 1 (id t-1), question 1: 'question' is missing: give every question its question",
        ),
        (
            "t.json",
            [[["第一段。"], [{"question": "问?", "answer": "甲"}], "t-1"]],
            "question 1: 'choice' is missing or not a list of strings",
        ),
        ("t.json", [[["第一段。"], "问?", "t-1"]], "item 1 (id t-1): the second field must be the list of"),
        ("t.jsonl", [JSONL_LINE, {**JSONL_LINE, "choices": ["你好"]}], "t.jsonl:2: 1 choice(s) ('你好')"),
        (
            "t.jsonl",
            [{**JSONL_LINE, "answer": "谢谢"}],
            "t.jsonl:1: answer '谢谢' is not among its choices ('你好', '再见')",
        ),
        (
            "t.jsonl",
            [{k: v for k, v in JSONL_LINE.items() if k != "context"}],
            "t.jsonl:1: 'context' is missing",
        ),
        ("t.jsonl", [{k: v for k, v in JSONL_LINE.items() if k != "answer"}], "t.jsonl:1: no 'answer'"),
    ],
)
def test_bad_input_is_one_line_naming_the_file_the_question_and_the_fix(
    tmp_path, capsys, name, document, message
):
    path = tmp_path / name
    if name.endswith(".jsonl"):
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in document), encoding="utf-8")
    else:
        path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    argv = ["finetune", "--task", "multiple-choice", "--model", str(tmp_path / "unused")]
    assert main(argv + ["--train-file", str(path), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {tmp_path}") and message in err[0], err
    assert not (tmp_path / "out").exists()


# ---- encoding and the head -------------------------------------------------------------------
def test_each_choice_is_a_pair_with_the_context_cut_first(ltp_converted):
    task, tokenizer = get_task("multiple-choice"), ElectraTokenizer.from_pretrained(ltp_converted)
    examples = task.read(C3_M)[:6]
    rows, spans = task.encode(examples, tokenizer, 100000)  # nothing cut: the tokenizer's own pairs
    assert spans[0] == (0, len(examples[0].choices)) and len(rows) == sum(len(e.choices) for e in examples)
    pairs = [(e.context, f"{e.question} {c}") for e in examples for c in e.choices]
    assert [(r["input_ids"], r["token_type_ids"]) for r in rows] == [
        (enc["input_ids"], enc["token_type_ids"]) for enc in (tokenizer(a, b) for a, b in pairs)
    ]
    cut, _ = task.encode(examples, tokenizer, 64)  # budget 61 tokens: each question and choice fit half
    for row, whole in zip(cut, rows):  # the context cut at its end; the question and choice whole
        n_b = whole["token_type_ids"].count(1)
        assert n_b <= 31 and row["token_type_ids"].count(1) == n_b
        assert (
            row["input_ids"] == whole["input_ids"]
            if len(whole["input_ids"]) <= 64
            else (
                len(row["input_ids"]) == 64
                and row["input_ids"][-n_b:] == whole["input_ids"][-n_b:]
                and row["input_ids"][: 64 - n_b]
                == whole["input_ids"][: 64 - n_b - 1] + [tokenizer.sep_token_id]
            )
        )
    long = examples[0].__class__(
        "x", examples[0].context, "问" * 50, ["甲", "乙"]
    )  # a question longer than half
    (row, _), _ = task.encode([long], tokenizer, 64)
    assert len(row["input_ids"]) == 64 and row["token_type_ids"].count(0) == 2 + 31  # half the budget each
    assert row["input_ids"][-2:] == [tokenizer.convert_tokens_to_ids("甲"), tokenizer.sep_token_id]


def test_padded_choices_are_masked_out_of_the_loss(ltp_converted):
    """A batch of 2-choice and 4-choice questions (padded to 4 choices) has the loss and the logits
    that each question has alone, unpadded; the exported form scores one row per choice alike."""
    task, tokenizer = get_task("multiple-choice"), ElectraTokenizer.from_pretrained(ltp_converted)
    m = task.read(C3_M)
    examples = [e for e in m if len(e.choices) == 2][:2] + [e for e in m if len(e.choices) == 4][:2]
    paddle.seed(0)
    net = task.build(ltp_converted)
    net.eval()
    rows, _ = task.encode(examples, tokenizer, 48, training=True)
    batch = collate(rows)
    assert batch["input_ids"].shape == [4, 4, 48] and batch["choice_mask"].numpy().sum(1).tolist() == [
        2,
        2,
        4,
        4,
    ]
    with paddle.no_grad():
        loss, logits = net(**batch)
        alone = [net(**collate([row])) for row in rows]
        unmasked = net(**{k: v for k, v in batch.items() if k != "choice_mask"})[0]
        flat, spans = task.encode(examples, tokenizer, 48)
        scores = net(**{k: paddle.to_tensor(v) for k, v in feed(flat).items()}).numpy()
    assert float(loss) == pytest.approx(np.mean([float(a[0]) for a in alone]), abs=1e-6)
    logits = logits.numpy()
    assert (logits[:2, 2:] == -1e4).all()
    for i, (_, question_logits) in enumerate(alone):
        n = question_logits.shape[1]
        np.testing.assert_allclose(logits[i, :n], question_logits.numpy()[0], atol=1e-5)
        np.testing.assert_allclose(scores[spans[i][0] : spans[i][0] + n, 0], logits[i, :n], atol=1e-5)
    assert scores.shape == (len(flat), 1) and abs(float(unmasked) - float(loss)) > 1e-3  # the mask matters


def test_predicting_from_weights_without_the_head_is_refused(ltp_converted):
    with pytest.raises(LoadError, match=r"holds an ElectraModel without ElectraForMultipleChoice's head"):
        ElectraForMultipleChoice.from_pretrained(ltp_converted)


# ---- fine-tuning, evaluate, predict ----------------------------------------------------------
@pytest.fixture(scope="module")
def c3_model(ltp_converted, tmp_path_factory):
    """LTP-tiny fine-tuned through the CLI on the first 4 C3 items (9 questions, C3's JSON as
    published), with 8 questions of the dialogue sample as JSON Lines for dev; (model directory,
    training file)."""
    tmp = tmp_path_factory.mktemp("c3")
    train, dev = tmp / "train.json", tmp / "dev.jsonl"
    train.write_text(json.dumps(_c3_items(C3_M)[:4], ensure_ascii=False), encoding="utf-8")
    _write_jsonl(dev, get_task("multiple-choice").read(C3_D)[:8])
    out = tmp / "model"
    argv = ["finetune", "--task", "multiple-choice", "--model", ltp_converted, "--train-file", str(train)]
    argv += ["--dev-file", str(dev), "--output", str(out), "--max-steps", "16", "--eval-steps", "8"]
    argv += ["--batch-size", "8", "--max-seq-length", str(MAX_SEQ_LENGTH), "--learning-rate", "3e-3"]
    assert main(argv + ["--logging-steps", "1"]) == 0
    return out, str(train)


def test_finetuning_lowers_the_loss_and_saves_the_task(c3_model, ltp_converted):
    out, train = c3_model
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["task"] == "multiple-choice" and config["architectures"] == ["ElectraForMultipleChoice"]
    assert config["task_options"]["max_seq_length"] == MAX_SEQ_LENGTH
    task, tokenizer = get_task("multiple-choice"), ElectraTokenizer.from_pretrained(ltp_converted)
    rows, _ = task.encode(task.read(train), tokenizer, MAX_SEQ_LENGTH, training=True)

    def loss(net):
        net.eval()
        with paddle.no_grad():
            return float(net(**collate(rows))[0])

    paddle.seed(42)  # finetune's seed: the head it started from
    before, after = loss(task.build(ltp_converted)), loss(ElectraForMultipleChoice.from_pretrained(str(out)))
    assert after < before - 0.1, (before, after)
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "eval_accuracy" in r] == [8, 16]


def test_evaluate_and_predict_through_the_cli(c3_model, tmp_path, capsys, monkeypatch):
    out = str(c3_model[0])
    capsys.readouterr()
    batch = ["--batch-size", "7"]  # the sizes of the next test's runs: their backend choices are timed once
    assert main(["evaluate", "--model", out, "--data-file", C3_D] + batch) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(metrics) == {"accuracy"} and 0.0 <= metrics["accuracy"] <= 1.0
    assert (
        main(["predict", "--model", out, "--data-file", C3_M, "--output", str(tmp_path / "p.jsonl")] + batch)
        == 0
    )
    records = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text(encoding="utf-8").splitlines()]
    examples = get_task("multiple-choice").read(C3_M)
    assert [r["id"] for r in records] == [e.qid for e in examples]
    for r, e in zip(records, examples):
        assert set(r) == {"id", "question", "answer", "probability", "probabilities"}
        assert r["answer"] in e.choices and set(r["probabilities"]) == set(e.choices)
        assert r["probability"] == pytest.approx(max(r["probabilities"].values()), abs=2e-6)
        assert sum(r["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    question = {
        "id": "q",
        "context": "女：我明天去北京。",
        "question": "女的明天去哪儿?",
        "choices": ["北京", "上海"],
    }
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(question, ensure_ascii=False) + "\n"))
    capsys.readouterr()
    assert main(["predict", "--model", out, "--batch-size", "1"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["id"] == "q" and record["answer"] in ("北京", "上海") and len(record["probabilities"]) == 2


def test_predictions_do_not_depend_on_batch_size_or_backend(c3_model):
    out = str(c3_model[0])
    runs = [
        predict(None, out, C3_M, batch_size=batch_size, runtime=runtime)
        for batch_size, runtime in ((1, None), (7, None), (7, {"backend": "dygraph"}))
    ]
    for run in runs[1:]:
        assert [r["answer"] for r in run] == [r["answer"] for r in runs[0]]
        for r, first in zip(run, runs[0]):
            assert r["probabilities"] == pytest.approx(first["probabilities"], abs=1e-5)


def test_hub_module_answers_as_predict_does(c3_model, tmp_path):
    import paddlehub as hub

    from paddle_electra.hub.module import RequestError

    out = str(c3_model[0])
    assert main(["hub", "pack", "--weights", out, "--name", "my-c3", "--out", str(tmp_path / "module")]) == 0
    module = hub.Module(directory=str(tmp_path / "module"), task="multiple-choice")
    examples = get_task("multiple-choice").read(C3_D)[:5]
    answers, probs = module.predict(
        [[e.context, e.question, *e.choices] for e in examples], max_seq_len=MAX_SEQ_LENGTH, return_prob=True
    )
    records = predict(None, out, C3_D, batch_size=7)[:5]
    assert answers == [r["answer"] for r in records]
    assert [max(p) for p in probs] == pytest.approx([r["probability"] for r in records], abs=1e-5)
    with pytest.raises(RequestError, match=r"data\[0\] must be a list of 4 or more string\(s\)"):
        module.predict([["context", "question", "only one choice"]])
    rows, _ = get_task("multiple-choice").encode(examples, module.tokenizer, 32, training=True)
    batch = collate(rows)
    step = module.training_step(
        [batch[k] for k in ("input_ids", "token_type_ids", "labels", "choice_mask")], 0
    )
    assert float(step["loss"]) > 0 and 0.0 <= step["metrics"]["acc"] <= 1.0
