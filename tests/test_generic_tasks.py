"""Your own files: `--task text-classification | token-classification | question-answering` with
--train-file / --dev-file, labels read from the training file, Trainer options, predict to JSON
Lines, and one-line errors for bad input. Real data: samples in tests/fixtures/data (README there)."""

import io
import json
import os

import numpy as np
import pytest
from conftest import FIXTURES

from paddle_electra.cli import main
from paddle_electra.tasks.metrics import classification_scores, cmrc_scores
from paddle_electra.tasks.readers import DataError, read_squad, read_table, split_words
from paddle_electra.tasks.registry import get_task
from paddle_electra.tasks.tagging import TokenClassification

DATA = os.path.join(FIXTURES, "data")
SMP = os.path.join(DATA, "smp2020_ewect_virus")
EMOTIONS = ("angry", "fear", "happy", "neutral", "sad", "surprise")


def _last_json(text):
    return json.loads(text.strip().splitlines()[-1])


def _log(path):
    return [json.loads(line) for line in open(path, encoding="utf-8")]


# ---- readers ---------------------------------------------------------------------------------
def test_user_csv_with_quoted_texts_and_its_label_set():
    examples = read_table(os.path.join(SMP, "train.csv"))
    assert len(examples) == 250 and get_task("text-classification").read_train(os.path.join(SMP, "train.csv"))
    quoted = [e for e in examples if "," in e.text_a or '"' in e.text_a]
    assert (
        len(quoted) == 6
    )  # CSV quoting as Python's csv module writes it: commas and quotes stay in the text
    task = get_task("text-classification")
    task.read_train(os.path.join(SMP, "train.csv"))
    assert task.labels == EMOTIONS and task.head_config()["id2label"] == dict(enumerate(EMOTIONS))


def test_tsv_and_json_lines_with_columns_and_integer_labels(tmp_path):
    (tmp_path / "t.tsv").write_text("id\tq\tp\ty\n1\t今天\t明天\t2\n2\t好\t坏\t10\n", encoding="utf-8")
    pairs = read_table(str(tmp_path / "t.tsv"), text_column="q", text_pair_column="p", label_column="y")
    assert [(e.text_a, e.text_b, e.label, e.line) for e in pairs] == [
        ("今天", "明天", "2", 2),
        ("好", "坏", "10", 3),
    ]
    task = get_task("text-classification", text_column="q", text_pair_column="p", label_column="y")
    task.read_train(str(tmp_path / "t.tsv"))
    assert task.labels == ("2", "10")  # integers sort as numbers
    (tmp_path / "t.jsonl").write_text(
        '{"sentence": "很好", "label": 1}\n\n{"sentence": "差", "label": 0}\n', encoding="utf-8"
    )
    assert [(e.text_a, e.label) for e in read_table(str(tmp_path / "t.jsonl"))] == [
        ("很好", "1"),
        ("差", "0"),
    ]


def _squad(qas, context="今天北京天气很好，明天下雨。"):
    return {"data": [{"paragraphs": [{"context": context, "qas": qas}]}]}


def test_qa_gold_answers_not_in_the_context_are_scored_and_skipped_for_training(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(
        json.dumps(
            _squad(
                [
                    {
                        "id": "a",
                        "question": "哪里？",
                        "answers": [{"text": "北平", "answer_start": 2}, {"text": "北京", "answer_start": 2}],
                    },
                    {"id": "b", "question": "天气？", "answers": [{"text": "很好", "answer_start": 6}]},
                ]
            )
        ),
        encoding="utf-8",
    )
    evaluation = read_squad(str(path))
    assert [a["text"] for a in evaluation[0].answers] == [
        "北京",
        "北平",
    ]  # every gold text kept, locatable first
    training = read_squad(str(path), training=True)
    assert [a["text"] for a in training[0].answers] == ["北京"] and training[0].answers[0][
        "answer_start"
    ] == 2
    # the official metric takes the best gold answer, the variant included
    scores = cmrc_scores(
        {e.qid: [a["text"] for a in e.answers] for e in evaluation}, {"a": "北平", "b": "很好"}
    )
    assert scores["em"] == 100.0


def test_squad_v2_unanswerable_questions_train_the_answerability_classifier(ltp_converted, tmp_path):
    from paddle_electra.models.tokenizer import ElectraTokenizer
    from paddle_electra.training.finetune import collate

    path = tmp_path / "v2.json"
    path.write_text(
        json.dumps(
            _squad(
                [
                    {"id": "n", "question": "谁写的？", "answers": [], "is_impossible": True},
                    {"id": "a", "question": "哪里？", "answers": [{"text": "北京", "answer_start": 2}]},
                ]
            )
        ),
        encoding="utf-8",
    )
    task = get_task("question-answering")
    examples = task.read_train(str(path))
    assert task.options["answerability"] is True
    with pytest.raises(DataError, match="pass --qa-head original"):
        task.build(ltp_converted, qa_head="linear")
    net = task.build(ltp_converted)
    rows, windows = task.encode(examples, ElectraTokenizer.from_pretrained(ltp_converted), 64, training=True)
    assert [(r["is_impossible"], r["start_positions"] > 0) for r in rows] == [(1, False), (0, True)]
    net.train()
    assert float(net(**collate(rows))[0]) > 0  # span loss + the answerability term on is_impossible


def test_predict_lines_on_stdin():
    from paddle_electra.tasks.readers import read_lines

    pair = get_task("text-classification").read_lines(["今天\t明天\n", "\n", "好\n"])
    assert [(e.text_a, e.text_b, e.line) for e in pair] == [("今天", "明天", 1), ("好", None, 3)]
    qa = get_task("question-answering").read_lines(['{"question": "哪里？", "context": "在北京", "id": "x"}'])
    assert (qa[0].qid, qa[0].question, qa[0].context) == ("x", "哪里？", "在北京")
    with pytest.raises(DataError, match=r"<stdin>:1: need string 'question' and 'context'"):
        read_lines(['{"question": "哪里？"}'], kind="qa")
    with pytest.raises(DataError, match="<stdin>: no input"):
        read_lines(["\n"])


# ---- metrics ---------------------------------------------------------------------------------
def test_macro_f1_equals_scikit_learn():
    from sklearn.metrics import f1_score

    gold = ["a", "b", "b", "c", "c", "c", "a", "b"]
    predicted = ["a", "b", "c", "c", "c", "a", "a", "d"]
    scores = classification_scores(gold, predicted, ("a", "b", "c", "d"), report=True)
    assert scores["macro_f1"] == pytest.approx(f1_score(gold, predicted, average="macro"))
    assert scores["accuracy"] == pytest.approx(5 / 8)
    assert scores["per_class"]["b"] == {
        "precision": 1.0,
        "recall": pytest.approx(1 / 3),
        "f1": pytest.approx(0.5),
        "support": 3,
    }  # 1 of 3


# ---- tagging: entities with offsets into the original text -----------------------------------
def test_entities_point_into_the_original_text(ltp_converted):
    from paddle_electra.models.tokenizer import ElectraTokenizer

    tokenizer = ElectraTokenizer.from_pretrained(ltp_converted)
    # a Mongolian word: one multi-character [UNK]; full-width letters
    text = "昨天 ᠮᠣᠩᠭᠣᠯ张三丰和ＡＢＣ公司去了北京。"
    example = split_words(text)
    assert [text[a:b] for a, b in example.spans] == example.tokens and "ᠮᠣᠩᠭᠣᠯ" in example.tokens
    task = TokenClassification(labels=("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"))
    rows, firsts = task.encode([example], tokenizer, 64)
    assert tokenizer.convert_ids_to_tokens(rows[0]["input_ids"]).count("[UNK]") >= 1
    gold = {
        "张": "B-PER",
        "三": "I-PER",
        "丰": "I-PER",
        "北": "B-LOC",
        "京": "I-LOC",
        "ＡＢＣ": "B-ORG",
        "公": "I-ORG",
        "司": "I-ORG",
    }
    logits = np.zeros((len(rows[0]["input_ids"]), len(task.labels)))
    for word, (_, position) in zip(example.tokens, firsts[0][1]):  # (window, position) per word
        logits[position, task.labels.index(gold.get(word, "O"))] = 5.0
    entities = task.decode([example], rows, firsts, [logits])[0]["entities"]
    assert [(e["type"], e["text"]) for e in entities] == [
        ("PER", "张三丰"),
        ("ORG", "ＡＢＣ公司"),
        ("LOC", "北京"),
    ]
    assert all(text[e["start"] : e["end"]] == e["text"] for e in entities)


# ---- the command line on a user's CSV --------------------------------------------------------
@pytest.fixture(scope="module")
def smp_model(ltp_converted, tmp_path_factory):
    """LTP-tiny fine-tuned for a few steps on the SMP2020-EWECT sample, evaluated every 2 steps."""
    out = tmp_path_factory.mktemp("smp") / "model"
    argv = [
        "finetune",
        "--task",
        "text-classification",
        "--model",
        ltp_converted,
        "--train-file",
        os.path.join(SMP, "train.csv"),
        "--dev-file",
        os.path.join(SMP, "dev.csv"),
        "--output",
        str(out),
        "--max-steps",
        "4",
        "--batch-size",
        "8",
        "--max-seq-length",
        "48",
        "--learning-rate",
        "3e-4",
        "--logging-steps",
        "1",
        "--eval-steps",
        "2",
        "--metric-for-best-model",
        "macro_f1",
        "--early-stopping-patience",
        "3",
    ]  # 2 evaluations: no stop
    assert main(argv) == 0
    return out


def test_finetune_a_user_csv_saves_its_labels_and_logs(smp_model, capsys):
    config = json.loads((smp_model / "config.json").read_text(encoding="utf-8"))
    assert config["task"] == "text-classification" and config["label2id"] == {
        label: i for i, label in enumerate(EMOTIONS)
    }
    assert config["task_options"]["max_seq_length"] == 48
    log = _log(smp_model / "train_log.jsonl")
    steps = [r for r in log if "loss" in r]
    assert [r["step"] for r in steps] == [1, 2, 3, 4] and all(r["loss"] > 0 for r in steps)
    rates = [r["learning_rate"] for r in steps]
    assert rates[0] <= 3e-4 and rates == sorted(rates, reverse=True) and rates[-1] < rates[0]  # linear decay
    evals = [r for r in log if "eval_macro_f1" in r]
    assert [r["step"] for r in evals] == [2, 4]
    # the best evaluation's checkpoint is the model saved (evaluated again on the static path)
    best = max(evals, key=lambda r: r["eval_macro_f1"])
    saved = json.loads((smp_model / "eval_results.json").read_text())
    assert set(saved) == {"accuracy", "macro_f1"} and saved["macro_f1"] == pytest.approx(
        best["eval_macro_f1"], abs=1e-6
    )


def test_evaluate_and_predict_use_the_saved_labels(smp_model, capsys, monkeypatch):
    dev = os.path.join(SMP, "dev.csv")
    capsys.readouterr()  # what came before
    assert main(["evaluate", "--model", str(smp_model), "--data-file", dev, "--report"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    metrics = json.loads(out[-1])
    out = out[
        next(i for i, line in enumerate(out) if line.startswith("label ")) :
    ]  # the table (after any export output)
    assert out[0].split() == ["label", "precision", "recall", "f1", "support"] and [
        line.split()[0] for line in out[1:7]
    ] == list(EMOTIONS)
    assert sum(int(line.split()[-1]) for line in out[1:7]) == 64
    assert (
        main(
            ["predict", "--model", str(smp_model), "--data-file", dev, "--output", str(smp_model / "p.jsonl")]
        )
        == 0
    )
    records = [json.loads(line) for line in (smp_model / "p.jsonl").read_text(encoding="utf-8").splitlines()]
    gold = [e.label for e in read_table(dev)]
    assert (
        len(records) == 64
        and {r["label"] for r in records} <= set(EMOTIONS)
        and all(0 < r["probability"] <= 1 for r in records)
    )
    recomputed = classification_scores(
        gold, [r["label"] for r in records], EMOTIONS
    )  # evaluate == predict + the metric
    assert metrics == pytest.approx(recomputed)
    monkeypatch.setattr("sys.stdin", io.StringIO(records[0]["text"] + "\n\n" + records[1]["text"] + "\n"))
    assert main(["predict", "--model", str(smp_model)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [(r["text"], r["label"]) for r in lines] == [(r["text"], r["label"]) for r in records[:2]]
    assert [r["probability"] for r in lines] == pytest.approx(
        [r["probability"] for r in records[:2]], abs=1e-5
    )


def test_hub_module_of_a_finetuned_model_keeps_its_label_set(smp_model, tmp_path):
    """`hub pack` of a user's 6-label model: label_map from its config, predict in those labels as the
    CLI does, and the hub.Trainer step accepts any of the six label ids."""
    import paddle
    import paddlehub as hub

    from paddle_electra.training.finetune import predict

    assert (
        main(
            [
                "hub",
                "pack",
                "--weights",
                str(smp_model),
                "--name",
                "my-emotions",
                "--out",
                str(tmp_path / "module"),
            ]
        )
        == 0
    )
    module = hub.Module(directory=str(tmp_path / "module"), task="seq-cls")
    assert module.label_map == dict(enumerate(EMOTIONS)) and module.num_classes == 6
    texts = [e.text_a for e in read_table(os.path.join(SMP, "dev.csv"))[:4]]
    labels, probs = module.predict(
        [[t] for t in texts], max_seq_len=48, return_prob=True
    )  # the training length
    # what `paddle-electra predict --long-text truncate` writes (hub modules cut at max_seq_len, as the
    # official ones do; predict reads longer texts in windows by default)
    records = predict(
        None, str(smp_model), os.path.join(SMP, "dev.csv"), task_options={"long_text": "truncate"}
    )[:4]
    assert labels == [r["label"] for r in records] and [max(p) for p in probs] == pytest.approx(
        [r["probability"] for r in records], abs=1e-5
    )
    tokenizer = module.get_tokenizer()
    ids = [tokenizer(t, max_length=32, truncation=True)["input_ids"] for t in texts]
    ids = paddle.to_tensor(np.array([i + [0] * (32 - len(i)) for i in ids]))
    result = module.training_step([ids, paddle.zeros_like(ids), paddle.to_tensor([5, 0, 3, 1])], 0)
    assert float(result["loss"]) > 0 and 0.0 <= result["metrics"]["acc"] <= 1.0
    assert (
        module.label_map
        == hub.Module(
            directory=str(tmp_path / "module"),
            task="seq-cls",
            label_map={label: i for i, label in enumerate(EMOTIONS)},
        ).label_map
    )  # label2id too


def test_token_classification_on_msra_tsv_and_conll_then_predict_raw_text(
    ltp_converted, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "ner"
    assert (
        main(
            [
                "finetune",
                "--task",
                "token-classification",
                "--model",
                ltp_converted,
                "--train-file",
                os.path.join(DATA, "msra_ner", "dev.tsv"),
                "--dev-file",
                os.path.join(DATA, "msra_ner", "dev.conll"),
                "--output",
                str(out),
                "--max-steps",
                "2",
                "--batch-size",
                "8",
                "--max-seq-length",
                "64",
            ]
        )
        == 0
    )
    assert set(_last_json(capsys.readouterr().out)) == {"precision", "recall", "f1"}
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert list(config["id2label"].values()) == [
        "O",
        "B-LOC",
        "I-LOC",
        "B-ORG",
        "I-ORG",
        "B-PER",
        "I-PER",
    ]  # read from the file
    text = "张三在ᠮᠣᠩᠭᠣᠯ的北京大学读书。"
    monkeypatch.setattr("sys.stdin", io.StringIO(text + "\n"))
    assert main(["predict", "--model", str(out)]) == 0
    record = _last_json(capsys.readouterr().out)
    assert record["text"] == text and all(
        text[e["start"] : e["end"]] == e["text"] for e in record["entities"]
    )


def test_question_answering_file_and_stdin(ltp_converted, tmp_path, capsys, monkeypatch):
    out = tmp_path / "qa"
    squad = os.path.join(DATA, "cmrc2018", "trial.json")
    assert (
        main(
            [
                "finetune",
                "--task",
                "question-answering",
                "--model",
                ltp_converted,
                "--train-file",
                squad,
                "--output",
                str(out),
                "--max-steps",
                "2",
                "--batch-size",
                "8",
                "--max-seq-length",
                "128",
            ]
        )
        == 0
    )
    context = "基于《跑跑卡丁车》与《泡泡堂》上所开发的游戏，由韩国Nexon开发与发行。"
    monkeypatch.setattr(
        "sys.stdin", io.StringIO(json.dumps({"id": "x", "question": "谁开发的？", "context": context}) + "\n")
    )
    capsys.readouterr()
    assert main(["predict", "--model", str(out)]) == 0
    record = _last_json(capsys.readouterr().out)
    assert (
        record["id"] == "x"
        and record["answer"]
        and context[record["start"] : record["end"]].strip() == record["answer"]
    )
    assert main(["evaluate", "--model", str(out), "--data-file", squad]) == 0
    assert set(_last_json(capsys.readouterr().out)) == {"em", "f1"}


def test_resume_from_checkpoint_continues_the_step_count(ltp_converted, tmp_path):
    """Two runs of the command (as a user runs them: optimizer state is keyed by parameter names,
    which a fresh process gives again)."""
    import subprocess
    import sys

    out = tmp_path / "model"
    command = [
        sys.executable,
        "-m",
        "paddle_electra.cli",
        "finetune",
        "--task",
        "text-classification",
        "--model",
        ltp_converted,
        "--train-file",
        os.path.join(SMP, "train.csv"),
        "--output",
        str(out),
        "--batch-size",
        "4",
        "--max-seq-length",
        "32",
        "--logging-steps",
        "1",
        "--save-steps",
        "2",
    ]
    for extra in (["--max-steps", "2"], ["--max-steps", "3", "--resume-from-checkpoint"]):
        result = subprocess.run(command + extra, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        assert (out / "checkpoint-2").is_dir()
    assert [r["step"] for r in _log(out / "train_log.jsonl") if "loss" in r] == [
        1,
        2,
        3,
    ]  # step 3 only, after the first run's


# ---- bad input: one line naming file, row and fix; exit 2; nothing saved ---------------------
BAD_INPUT = [
    (
        "train.csv",
        "text,label\n好,pos\n差,neg\n",
        "dev.csv",
        "text,label\n差,neg\n还行,neutral\n",
        "dev.csv:3: label 'neutral' does not occur in the training file",
    ),
    (
        "train.csv",
        "sentence,y\n好,pos\n",
        None,
        None,
        "train.csv: no label column 'label'; columns found: sentence, y: pass --label-column",
    ),
    ("train.csv", "", None, None, "train.csv: empty file"),
    ("train.csv", "text,label\n", None, None, "train.csv: only a header, no examples"),
    (
        "train.csv",
        "text,label\n好,pos\n差,neg,extra\n",
        None,
        None,
        "train.csv:3: 3 fields but the header has 2",
    ),
    (
        "train.tsv",
        "text\tlabel\n好\tpos\n差\tneg\textra\n",
        None,
        None,
        "train.tsv:3: 3 fields but the header has 2",
    ),
    ("train.csv", 'text,label\n"好,pos\n', None, None, "train.csv:2: malformed CSV"),
    (
        "train.jsonl",
        '{"text": "好", "label": "pos"}\n["差"]\n',
        None,
        None,
        "train.jsonl:2: not a JSON object",
    ),
    ("train.csv", "text,label\n好,pos\n好,pos\n", None, None, "a classifier needs at least two labels"),
    ("train.xlsx", "text,label\n", None, None, "train.xlsx: unknown file type"),
]


@pytest.mark.parametrize("train_name,train,dev_name,dev,message", BAD_INPUT)
def test_bad_classification_input_is_one_line_and_saves_nothing(
    tmp_path, capsys, train_name, train, dev_name, dev, message
):
    (tmp_path / train_name).write_text(train, encoding="utf-8")
    argv = [
        "finetune",
        "--task",
        "text-classification",
        "--model",
        str(tmp_path / "unused"),
        "--train-file",
        str(tmp_path / train_name),
        "--output",
        str(tmp_path / "out"),
    ]
    if dev_name:
        (tmp_path / dev_name).write_text(dev, encoding="utf-8")
        argv += ["--dev-file", str(tmp_path / dev_name)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1
        and err[0].startswith("error: ")
        and message in err[0]
        and ": " in err[0][len("error: ") :]
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "document,message",
    [
        ([{"paragraphs": []}], "the top level must be an object with a 'data' list, found a list"),
        ({"data": {"paragraphs": []}}, "found dict 'data'"),
        (
            _squad([{"id": "q1", "question": "?", "answers": [{"text": "北京", "answer_start": "2"}]}]),
            "question q1: answer_start '2' is not an integer",
        ),
        (
            _squad([{"id": "q2", "question": "?", "answers": [{"text": "上海", "answer_start": 2}]}]),
            "question q2: no answer occurs in its context",
        ),
    ],
)
def test_bad_squad_files_are_one_line_errors(tmp_path, document, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(DataError) as error:
        read_squad(str(path), training=True)
    assert (
        str(error.value).startswith(str(path))
        and message in str(error.value)
        and "\n" not in str(error.value)
    )


def test_seed_tsv_row_with_an_extra_column_is_an_error(tmp_path):
    from paddle_electra.tasks.readers import read_classification

    (tmp_path / "train.tsv").write_text("label\ttext_a\n1\t好\n0\t差\t多余\n", encoding="utf-8")
    with pytest.raises(
        DataError, match=r"train.tsv:3: expected 2 tab-separated columns .* got 3: a tab inside a text"
    ):
        read_classification(str(tmp_path / "train.tsv"))


def test_mixed_precision_on_a_machine_without_gpu_says_so(tmp_path, capsys, monkeypatch):
    import paddle

    monkeypatch.setattr(paddle.device.cuda, "device_count", lambda: 0)  # as on this CPU machine
    argv = [
        "finetune",
        "--task",
        "text-classification",
        "--model",
        "x",
        "--train-file",
        os.path.join(SMP, "train.csv"),
        "--output",
        str(tmp_path / "out"),
        "--fp16",
    ]
    assert main(argv) == 2
    assert "--fp16: mixed-precision training needs a CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
