"""`--task text-regression` and `--task multi-label-classification`: readers, one-line errors,
metrics against scipy / scikit-learn, the heads' losses, threshold tuning, and finetune / evaluate /
predict through the command line (LTP-tiny on ChineseSTS, the tiny fixture model tests/fixtures/tf_tiny
for multi-label).

Real data: the ChineseSTS sample in tests/fixtures/data/chinese_sts (`text_a,text_b,score`, README
there). No multi-label data set is shipped, so the multi-label files are constructed from the real
SMP2020-EWECT sample (tests/fixtures/data/smp2020_ewect_virus): each text keeps its emotion as a
label (none for `neutral`, which makes all-negative examples) and gets a second label, `emoticon`,
when it holds a Weibo emoticon code such as `[心]` (`constructed_labels`). The training file is
written as JSON Lines with label lists, the dev file as a CSV with `|`-separated cells and `[]`.
"""

import csv
import io
import json
import os
import re

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest
from conftest import DATA, TF_TINY

from paddle_electra import ElectraForSequenceClassification, ElectraTokenizer
from paddle_electra.cli import main
from paddle_electra.tasks.metrics import best_threshold, multi_label_scores, regression_scores
from paddle_electra.tasks.readers import DataError
from paddle_electra.tasks.registry import get_task
from paddle_electra.training.finetune import collate, predict
from paddle_electra_convert import convert_tf_checkpoint

STS = os.path.join(DATA, "chinese_sts")
SMP = os.path.join(DATA, "smp2020_ewect_virus")
EMOTICON = re.compile(r"\[[^\[\]\s]{1,8}\]")  # a Weibo emoticon code, e.g. [心]
MULTI_LABELS = ("angry", "emoticon", "fear", "happy", "sad", "surprise")


def constructed_labels(text, emotion):
    """The constructed multi-label example's labels: its emotion (none for neutral) and `emoticon`
    when the text holds a Weibo emoticon code."""
    return ([] if emotion == "neutral" else [emotion]) + (["emoticon"] if EMOTICON.search(text) else [])


def _rows(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _last_json(text):
    return json.loads(text.strip().splitlines()[-1])


def _one_error_line(capsys, *parts):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    for part in parts:
        assert part in err[0], (part, err[0])


# ---- reading ---------------------------------------------------------------------------------
def test_regression_reads_chinese_sts_scores_and_standardizes_them(tmp_path):
    task = get_task("text-regression")
    examples = task.read_train(os.path.join(STS, "train.csv"))
    gold = np.array([float(r["score"]) for r in _rows(os.path.join(STS, "train.csv"))])
    assert len(examples) == 213 and [e.label for e in examples] == gold.tolist()
    assert all(e.text_b for e in examples)  # text_a, text_b: a pair; the column `score` by default
    assert sum('"' in e.text_a + e.text_b for e in examples) == 3  # CSV-quoted quotes stay in the text
    assert task.options["target_mean"] == pytest.approx(gold.mean())
    assert task.options["target_std"] == pytest.approx(gold.std())
    assert task._target(examples[0]) == pytest.approx((gold[0] - gold.mean()) / gold.std())
    assert task.head_config() == {"num_labels": 1, "problem_type": "regression"}
    (tmp_path / "t.jsonl").write_text(
        '{"sentence": "很好", "label": 4.5, "y": "1"}\n{"sentence": "差", "label": 1, "y": " 2.25 "}\n',
        encoding="utf-8",
    )
    assert [(e.text_a, e.label) for e in get_task("text-regression").read(str(tmp_path / "t.jsonl"))] == [
        ("很好", 4.5),
        ("差", 1.0),
    ]
    other = get_task("text-regression", label_column="y").read(str(tmp_path / "t.jsonl"))
    assert [e.label for e in other] == [1.0, 2.25]


def test_multi_label_reads_lists_separated_cells_and_explicit_empty_lists(tmp_path):
    (tmp_path / "train.jsonl").write_text(
        '{"text": "球赛", "labels": ["sports", "news"]}\n'
        '{"text": "无", "labels": []}\n'
        '{"text": "股市", "labels": "finance|news"}\n'
        '{"text": "重复", "labels": ["news", "news", 7]}\n',
        encoding="utf-8",
    )
    task = get_task("multi-label-classification")
    examples = task.read_train(str(tmp_path / "train.jsonl"))
    assert [e.label for e in examples] == [("sports", "news"), (), ("finance", "news"), ("news", "7")]
    assert task.labels == ("7", "finance", "news", "sports")  # the union over the training file
    assert task._target(examples[0]) == [0, 0, 1, 1] and task._target(examples[1]) == [0, 0, 0, 0]
    assert task.head_config()["problem_type"] == "multi_label_classification"
    (tmp_path / "dev.csv").write_text(
        'text,label\n天气,news\n"比赛,结果","sports;news"\n空,[]\n列表,"[""finance""]"\n', encoding="utf-8"
    )
    dev = get_task("multi-label-classification", label_separator=";", labels=task.labels)
    assert [e.label for e in dev.read(str(tmp_path / "dev.csv"))] == [
        ("news",),
        ("sports", "news"),
        (),
        ("finance",),
    ]
    unlabelled = task.read(str(tmp_path / "dev.csv"), labelled=False)
    assert [e.label for e in unlabelled] == [None] * 4


def _finetune_argv(task, train, output, *more, dev=None):
    argv = ["finetune", "--task", task, "--model", str(output) + "-unused", "--train-file", str(train)]
    return argv + (["--dev-file", str(dev)] if dev else []) + ["--output", str(output), *more]


@pytest.mark.parametrize(
    "name,text,message",
    [
        (
            "train.csv",
            "text,score\n好,4\n差,abc\n",
            "train.csv:3: score 'abc' in column 'score' is not a number",
        ),
        ("train.csv", "text,score\n好,4\n差,\n", "train.csv:3: no score in column 'score'"),
        (
            "train.csv",
            "text,label\n好,4\n差,nan\n",
            "train.csv:3: score 'nan' in column 'label' is not a number",
        ),
        ("train.jsonl", '{"text": "好", "label": true}\n', "train.jsonl:1: no score in column 'label'"),
        ("train.csv", "text,score\n好,3\n差,3.0\n", "every example has score 3: a regression needs"),
        ("train.csv", "text,value\n好,3\n", "no label column 'label' or 'score'; columns found: text, value"),
    ],
)
def test_bad_regression_input_is_one_line_naming_file_row_and_fix(tmp_path, capsys, name, text, message):
    (tmp_path / name).write_text(text, encoding="utf-8")
    assert main(_finetune_argv("text-regression", tmp_path / name, tmp_path / "out")) == 2
    _one_error_line(capsys, message, ": ")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "train,dev,message",
    [
        (
            "text,label\n好,a|b\n差,\n",
            None,
            "train.csv:3: no labels in column 'label': write the example's labels separated by '|', or []",
        ),  # [] is explicit
        ("text,label\n好,a||b\n", None, "train.csv:2: an empty or non-text label '' in 'a||b'"),
        ("text,label\n好,[]\n差,[]\n", None, "train.csv: no example has a label"),
        (
            "text,label\n好,a|b\n",
            "text,label\n差,a|c\n",
            "dev.csv:2: label 'c' does not occur in the training",
        ),
        ("text,label\n好,a|b\n", None, "--tune-threshold picks the threshold on the dev file"),
    ],
)
def test_bad_multi_label_input_is_one_line(tiny, tmp_path, capsys, train, dev, message):
    (tmp_path / "train.csv").write_text(train, encoding="utf-8")
    if dev:
        (tmp_path / "dev.csv").write_text(dev, encoding="utf-8")
    more = ["--tune-threshold"] if "tune" in message else []
    argv = _finetune_argv(
        "multi-label-classification",
        tmp_path / "train.csv",
        tmp_path / "out",
        *more,
        dev=dev and tmp_path / "dev.csv",
    )
    if "tune" in message:  # the check comes when the head is built: a model is needed
        argv[argv.index("--model") + 1] = tiny
    assert main(argv) == 2
    _one_error_line(capsys, message)
    assert not (tmp_path / "out").exists()


def test_the_empty_cell_error_says_how_to_write_no_labels():
    with pytest.raises(DataError) as error:
        get_task("multi-label-classification").parse_labels("  ", "f.csv:4", "label")
    assert str(error.value) == (
        "f.csv:4: no labels in column 'label': write the example's labels separated by '|', "
        "or [] for an example with no labels"
    )


# ---- metrics ---------------------------------------------------------------------------------
def test_regression_metrics_on_a_hand_checked_case_and_against_scipy():
    from scipy.stats import pearsonr, spearmanr

    # gold 1 2 3 4, predicted 1 3 2 4: deviations (-1.5 -.5 .5 1.5) and (-1.5 .5 -.5 1.5) -> r = 4/5;
    # ranks differ by one swap -> rho = 1 - 6 * 2 / (4 * 15) = 0.8; squared errors 0 1 1 0 -> mse 0.5
    assert regression_scores([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(
        {"pearson": 0.8, "spearman": 0.8, "mse": 0.5}
    )
    rng = np.random.default_rng(0)
    gold = rng.choice([0.0, 5.0, 4.0, 2.0], size=50)  # ties, as ChineseSTS
    predicted = gold + rng.normal(0, 2, size=50)
    scores = regression_scores(gold, predicted)
    assert scores["pearson"] == pytest.approx(pearsonr(gold, predicted)[0], abs=1e-12)
    assert scores["spearman"] == pytest.approx(spearmanr(gold, predicted)[0], abs=1e-12)
    assert scores["mse"] == pytest.approx(np.mean((gold - predicted) ** 2))
    assert regression_scores([1, 2, 3], [2, 2, 2])["pearson"] == 0.0  # undefined: 0, not nan


def test_multi_label_metrics_on_a_hand_checked_case_and_against_scikit_learn():
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.preprocessing import MultiLabelBinarizer

    gold = [["a", "b"], ["a"], [], ["c"]]
    predicted = [["a"], ["a", "c"], [], ["c"]]
    # tp 3 (a, a, c), fp 1 (c), fn 1 (b): micro 2*3 / (2*3 + 1 + 1) = 0.75; per label F1: a 1,
    # b 0, c 2/3 -> macro 5/9; exact: examples 3 and 4 -> 0.5
    assert multi_label_scores(gold, predicted) == pytest.approx(
        {"micro_f1": 0.75, "macro_f1": 5 / 9, "exact_match": 0.5}
    )
    rng = np.random.default_rng(1)
    labels = list("abcdef")
    for _ in range(20):
        gold = [[x for x in labels if rng.random() < 0.3] for _ in range(30)]
        predicted = [[x for x in labels if rng.random() < 0.3] for _ in range(30)]
        present = sorted(set().union(*map(set, gold), *map(set, predicted)))
        binarize = MultiLabelBinarizer(classes=present).fit([present])
        y, p = binarize.transform(gold), binarize.transform(predicted)
        scores = multi_label_scores(gold, predicted, labels, report=True)
        assert scores["micro_f1"] == pytest.approx(f1_score(y, p, average="micro", zero_division=0))
        assert scores["macro_f1"] == pytest.approx(f1_score(y, p, average="macro", zero_division=0))
        assert scores["exact_match"] == pytest.approx(accuracy_score(y, p))  # subset accuracy
        assert list(scores["per_class"]) == present


def _brute_force_micro_f1(gold, probabilities):
    """The best micro-F1 over every threshold that changes a decision (each distinct probability,
    and above them all), by scikit-learn, label by label and example by example."""
    from sklearn.metrics import f1_score

    candidates = np.append(np.unique(probabilities), 1.01)
    return max(
        f1_score(gold.ravel(), (probabilities.ravel() >= t).astype(int), zero_division=0) for t in candidates
    )


def test_the_tuned_threshold_maximizes_micro_f1():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(2)
    for _ in range(30):
        gold = (rng.random((rng.integers(1, 15), rng.integers(1, 5))) < 0.4).astype(int)
        probabilities = np.clip(gold * 0.3 + rng.random(gold.shape) * 0.7, 0, 1).round(rng.integers(1, 4))
        threshold, f1 = best_threshold(gold, probabilities)
        at = f1_score(gold.ravel(), (probabilities.ravel() >= threshold).astype(int), zero_division=0)
        assert f1 == pytest.approx(at) and f1 == pytest.approx(_brute_force_micro_f1(gold, probabilities))
    # ties: the threshold nearest 0.5 of those that reach the best
    assert best_threshold(np.array([[1, 0]]), np.array([[0.9, 0.1]]))[0] == pytest.approx(0.5)


# ---- heads -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny TF fixture's discriminator, converted."""
    out = str(tmp_path_factory.mktemp("tiny") / "converted")
    convert_tf_checkpoint(os.path.join(TF_TINY, "release"), out, progress=False)
    return os.path.join(out, "discriminator")


def _batch(task, examples, directory, max_seq_length=48):
    tokenizer = ElectraTokenizer.from_pretrained(directory)
    rows, _ = task.encode(examples, tokenizer, max_seq_length, training=True)
    return _collate(rows)


def test_the_heads_losses_and_single_label_unchanged(tiny):
    regression = get_task("text-regression", long_text="truncate")  # one row per example
    examples = regression.read_train(os.path.join(STS, "train.csv"))[:8]
    batch = _batch(regression, examples, tiny)
    inputs = [batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")]
    paddle.seed(0)
    model = ElectraForSequenceClassification.from_pretrained(tiny, new_head=True, **regression.head_config())
    model.eval()
    loss, logits = model(*inputs, labels=batch["labels"])
    assert logits.shape == [8, 1] and batch["labels"].dtype == paddle.float32
    targets = np.array([regression._target(e) for e in examples])
    assert float(loss) == pytest.approx(np.mean((logits.numpy()[:, 0] - targets) ** 2), rel=1e-5)
    # multi-label: sigmoid + binary cross-entropy over every (example, label)
    paddle.seed(0)
    multi = ElectraForSequenceClassification.from_pretrained(
        tiny, new_head=True, num_labels=3, problem_type="multi_label_classification"
    )
    multi.eval()
    hot = paddle.to_tensor(np.array([[1, 0, 1], [0, 0, 0]] * 4, dtype="int64"))
    loss, logits = multi(*inputs, labels=hot)
    z, y = logits.numpy().astype(np.float64), hot.numpy()
    expected = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    # single-label (problem_type None): exactly the softmax cross-entropy it was
    paddle.seed(0)
    single = ElectraForSequenceClassification.from_pretrained(tiny, new_head=True, num_labels=3)
    single.eval()
    assert single.config.problem_type is None
    ids = paddle.to_tensor(np.array([0, 2] * 4, dtype="int64"))
    loss, logits = single(*inputs, labels=ids)
    np.testing.assert_array_equal(logits.numpy(), multi(*inputs).numpy())  # the same logits
    assert float(loss) == float(F.cross_entropy(logits, ids))


def test_the_regression_head_learns_real_chinese_sts(tiny):
    task = get_task("text-regression", long_text="truncate")
    examples = task.read_train(os.path.join(STS, "train.csv"))
    batch = _batch(task, examples[140:156], tiny)  # 10 pairs scored 0 and 6 scored 5
    paddle.seed(0)
    model = ElectraForSequenceClassification.from_pretrained(tiny, new_head=True, **task.head_config())
    optimizer = paddle.optimizer.AdamW(learning_rate=1e-3, parameters=model.parameters())
    model.train()
    losses = []
    for _ in range(30):
        loss, _ = model(**{k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask", "labels")})
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        losses.append(float(loss))
    assert losses[-1] < losses[0] * 0.5, losses


# ---- the command line ------------------------------------------------------------------------
def _collate_keeps_float_targets():
    return collate([{"input_ids": [5, 6], "token_type_ids": [0, 0], "labels": 0.25}])[
        "labels"
    ].numpy().tolist() == [0.25]


def _collate(rows):
    """training/trainer.py's `collate`, keeping float targets as float32: the one it has casts every
    label to int64 (see test_trainer_batches_keep_float_targets); once it keeps them, it is used as is."""
    if _collate_keeps_float_targets():
        return collate(rows)
    floats = [k for k, v in rows[0].items() if isinstance(v, float)]
    batch = collate([{k: 0 if k in floats else v for k, v in row.items()} for row in rows])
    for key in floats:
        batch[key] = paddle.to_tensor(np.array([row[key] for row in rows], dtype="float32"))
    return batch


def test_trainer_batches_keep_float_targets():
    """Regression targets are floats: the Trainer's batches must keep them (training/trainer.py
    `collate`: `np.array(values, dtype="float32" if isinstance(values[0], float) else "int64")`)."""
    assert _collate_keeps_float_targets(), "training/trainer.py collate casts float targets to int64"


@pytest.fixture(scope="module")
def sts_model(ltp_converted, tmp_path_factory):
    """LTP-tiny (a real pretrained Chinese ELECTRA) fine-tuned for 24 steps on the ChineseSTS sample."""
    out = tmp_path_factory.mktemp("sts") / "model"
    argv = _finetune_argv(
        "text-regression",
        os.path.join(STS, "train.csv"),
        out,
        "--max-steps",
        "24",
        "--batch-size",
        "16",
        "--max-seq-length",
        "48",
        "--learning-rate",
        "1e-3",
        "--logging-steps",
        "4",
        "--eval-steps",
        "12",
        dev=os.path.join(STS, "dev.csv"),
    )
    argv[argv.index("--model") + 1] = ltp_converted
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("paddle_electra.training.finetune.collate", _collate)
        assert main(argv) == 0
    return out


def test_finetune_regression_on_chinese_sts_then_evaluate_and_predict_in_its_scale(sts_model, capsys):
    config = json.loads((sts_model / "config.json").read_text(encoding="utf-8"))
    gold = np.array([float(r["score"]) for r in _rows(os.path.join(STS, "train.csv"))])
    assert config["task"] == "text-regression" and config["problem_type"] == "regression"
    assert config["task_options"]["target_mean"] == pytest.approx(gold.mean())
    log = [json.loads(line) for line in open(sts_model / "train_log.jsonl", encoding="utf-8")]
    losses = [r["loss"] for r in log if "loss" in r]
    assert len(losses) == 6 and np.mean(losses[-2:]) < 0.8 * np.mean(losses[:2]), losses  # ~1 at first
    evals = [r for r in log if "eval_spearman" in r]
    assert [r["step"] for r in evals] == [12, 24] and all(
        "eval_pearson" in r and "eval_mse" in r for r in evals
    )
    dev = os.path.join(STS, "dev.csv")
    capsys.readouterr()
    assert main(["evaluate", "--model", str(sts_model), "--data-file", dev]) == 0
    metrics = _last_json(capsys.readouterr().out)
    assert set(metrics) == {"pearson", "spearman", "mse"}
    assert (
        main(
            ["predict", "--model", str(sts_model), "--data-file", dev, "--output", str(sts_model / "p.jsonl")]
        )
        == 0
    )
    records = [json.loads(line) for line in open(sts_model / "p.jsonl", encoding="utf-8")]
    assert len(records) == 62 and set(records[0]) == {"text", "text_pair", "score"}
    gold_dev = [float(r["score"]) for r in _rows(dev)]
    assert metrics == pytest.approx(regression_scores(gold_dev, [r["score"] for r in records]), abs=1e-5)
    # in the file's scale: the standardized output times the training std, plus the training mean
    model = ElectraForSequenceClassification.from_pretrained(str(sts_model))
    model.eval()
    tokenizer = ElectraTokenizer.from_pretrained(str(sts_model))
    short = min(records, key=lambda r: len(r["text"] + r["text_pair"]))  # one window
    enc = tokenizer.encode_batch([short["text"]], [short["text_pair"]], max_length=48)
    z = float(model(paddle.to_tensor(enc["input_ids"]), paddle.to_tensor(enc["token_type_ids"]))[0, 0])
    options = config["task_options"]
    assert short["score"] == pytest.approx(z * options["target_std"] + options["target_mean"], abs=1e-4)
    assert 0 < np.mean([r["score"] for r in records]) < 5
    pair = short["text"] + "\t" + short["text_pair"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdin", io.StringIO(pair + "\n"))
        assert main(["predict", "--model", str(sts_model)]) == 0
    assert json.loads(capsys.readouterr().out)["score"] == pytest.approx(short["score"], abs=1e-5)


def _write_constructed(tmp_path):
    """The multi-label files (module docstring): train.jsonl with label lists, dev.csv with cells."""
    with open(tmp_path / "train.jsonl", "w", encoding="utf-8") as f:
        for r in _rows(os.path.join(SMP, "train.csv")):
            record = {"text": r["text"], "labels": constructed_labels(r["text"], r["label"])}
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    with open(tmp_path / "dev.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for r in _rows(os.path.join(SMP, "dev.csv")):
            labels = constructed_labels(r["text"], r["label"])
            writer.writerow([r["text"], "|".join(labels) if labels else "[]"])
    return tmp_path / "train.jsonl", tmp_path / "dev.csv"


@pytest.fixture(scope="module")
def multi_model(tiny, tmp_path_factory):
    data = tmp_path_factory.mktemp("multi")
    train, dev = _write_constructed(data)
    argv = _finetune_argv(
        "multi-label-classification",
        train,
        data / "model",
        "--tune-threshold",
        "--max-steps",
        "16",
        "--batch-size",
        "16",
        "--max-seq-length",
        "48",
        "--learning-rate",
        "1e-3",
        "--logging-steps",
        "4",
        "--eval-steps",
        "8",
        dev=dev,
    )
    argv[argv.index("--model") + 1] = tiny
    assert main(argv) == 0
    return data / "model", dev


def test_finetune_multi_label_tunes_and_saves_the_best_dev_threshold(multi_model, capsys):
    model_dir, dev = multi_model
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    assert config["problem_type"] == "multi_label_classification"
    assert tuple(config["id2label"][str(i)] for i in range(6)) == MULTI_LABELS
    threshold = config["task_options"]["threshold"]
    assert "tune_threshold" not in config["task_options"]  # evaluate never tunes on its own file
    log = [json.loads(line) for line in open(model_dir / "train_log.jsonl", encoding="utf-8")]
    evals = [r for r in log if "eval_micro_f1" in r]
    best = max(evals, key=lambda r: r["eval_micro_f1"])  # the first of equals, as the Trainer keeps
    assert [r["step"] for r in evals] == [8, 16] and threshold == best["eval_threshold"]
    # against a brute force over every threshold, on the saved model's dev probabilities
    gold = np.array([[label in labels for label in MULTI_LABELS] for labels in _dev_labels(dev)], dtype=int)
    records = predict(None, str(model_dir), str(dev), runtime={"backend": "dygraph"})
    probabilities = _all_probabilities(model_dir, dev)
    brute = _brute_force_micro_f1(gold, probabilities)
    assert multi_label_scores(_dev_labels(dev), [r["labels"] for r in records])["micro_f1"] == pytest.approx(
        brute
    )
    saved = json.loads((model_dir / "eval_results.json").read_text())
    assert saved["micro_f1"] == pytest.approx(brute) and saved["threshold"] == pytest.approx(
        threshold, abs=1e-5
    )
    # predict lists the labels at or over the threshold, most probable first
    for record, row in zip(records, probabilities):
        assert record["labels"] == sorted(
            [label for label, p in zip(MULTI_LABELS, row) if p >= threshold],
            key=lambda x: -row[MULTI_LABELS.index(x)],
        )
        assert list(record["probabilities"]) == record["labels"]
    assert any(len(r["labels"]) > 1 for r in records)
    # evaluate reads the saved threshold; --threshold replaces it
    capsys.readouterr()
    assert main(["evaluate", "--model", str(model_dir), "--data-file", str(dev), "--report"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert _last_json("\n".join(out)) == pytest.approx(
        {k: saved[k] for k in ("micro_f1", "macro_f1", "exact_match")}, abs=1e-6
    )
    assert any(line.split()[:1] == ["emoticon"] for line in out)  # the --report table
    assert main(["evaluate", "--model", str(model_dir), "--data-file", str(dev), "--threshold", "1"]) == 0
    assert _last_json(capsys.readouterr().out)["micro_f1"] == 0.0


def _dev_labels(dev):
    return [json.loads(r["label"]) if r["label"] == "[]" else r["label"].split("|") for r in _rows(dev)]


def _all_probabilities(model_dir, dev):
    """The saved model's probabilities of every label for every dev text (dygraph, unrounded)."""
    from paddle_electra.training.finetune import _predictions, load_finetuned

    task, net, tokenizer = load_finetuned(str(model_dir))
    examples = task.read(str(dev))
    predictions = _predictions(task, net, tokenizer, examples, 16, 48, {"backend": "dygraph"})
    return np.stack([p["probabilities"] for p in predictions])


# ---- the fast path: backends and batch sizes -------------------------------------------------
def _first_rows(path, out, count=14):
    """The header and the first `count` rows of a CSV file, written to `out`."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))[: count + 1]
    with open(out, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    return str(out)


@pytest.mark.parametrize("which", ["sts", "multi"])
def test_predictions_equal_under_dygraph_and_static_and_any_batch_size(
    which, sts_model, multi_model, tmp_path
):
    model_dir, data = (sts_model, os.path.join(STS, "dev.csv")) if which == "sts" else multi_model
    data = _first_rows(data, tmp_path / "data.csv")
    runs = [
        predict(None, str(model_dir), str(data), batch_size=size, runtime=runtime)
        for size in (1, 7)
        for runtime in ({"backend": "dygraph"}, None)  # None: the default static backend
    ]
    for run in runs[1:]:
        assert len(run) == len(runs[0])
        for a, b in zip(runs[0], run):
            if which == "sts":
                assert b["score"] == pytest.approx(a["score"], abs=1e-4)
            else:
                assert b["labels"] == a["labels"]
                assert list(b["probabilities"].values()) == pytest.approx(
                    list(a["probabilities"].values()), abs=1e-4
                )


def test_only_the_dev_examples_tune_the_threshold(tmp_path):
    """finetune reads the dev file, then a test file: the test examples are scored at the threshold
    tuned on dev, never tuned on themselves."""
    train, dev = _write_constructed(tmp_path)
    task = get_task("multi-label-classification", tune_threshold=True)
    task.read_train(str(train))
    dev_examples, test_examples = task.read(str(dev)), task.read(str(dev))
    rng = np.random.default_rng(3)
    predictions = [{"probabilities": rng.random(len(task.labels))} for _ in dev_examples]
    test = task.score(test_examples, predictions)
    assert "threshold" not in test and "threshold" not in task.options  # at the default 0.5
    tuned = task.score(dev_examples, predictions)
    assert task.options["threshold"] == tuned["threshold"] != 0.5
    assert task.score(test_examples, predictions) == pytest.approx(
        {k: v for k, v in tuned.items() if k != "threshold"}
    )


def test_hub_modules_of_the_new_kinds_predict_as_the_command_line(sts_model, multi_model, tmp_path):
    import paddlehub as hub

    for model_dir, name in ((sts_model, "my-sts"), (multi_model[0], "my-multi")):
        argv = ["hub", "pack", "--weights", str(model_dir), "--name", name, "--out", str(tmp_path / name)]
        assert main(argv) == 0
    pairs = [[r["text_a"], r["text_b"]] for r in _rows(os.path.join(STS, "dev.csv"))]
    pairs = [pair for pair in pairs if len(pair[0] + pair[1]) < 40][:5]  # within max_seq_len: no windows
    sts = hub.Module(directory=str(tmp_path / "my-sts"), task="text-regression")
    records = predict(None, str(sts_model), lines=["\t".join(pair) for pair in pairs])
    assert sts.predict(pairs, max_seq_len=48) == pytest.approx([r["score"] for r in records], abs=1e-5)
    texts = [r["text"] for r in _rows(os.path.join(SMP, "dev.csv")) if len(r["text"]) < 40][:6]
    multi = hub.Module(directory=str(tmp_path / "my-multi"), task="multi-label")
    assert multi.label_map == dict(enumerate(MULTI_LABELS))
    labels, probabilities = multi.predict([[t] for t in texts], max_seq_len=48, return_prob=True)
    records = predict(None, str(multi_model[0]), lines=texts)
    assert labels == [r["labels"] for r in records] and all(len(p) == 6 for p in probabilities)
    tokenizer = multi.get_tokenizer()
    ids = [tokenizer(t, max_length=16, truncation=True)["input_ids"] for t in texts[:2]]
    ids = paddle.to_tensor(np.array([i + [0] * (16 - len(i)) for i in ids]))
    hot = paddle.to_tensor(np.array([[1, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0]]))
    result = multi.training_step([ids, paddle.zeros_like(ids), hot], 0)
    assert float(result["loss"]) > 0 and 0 <= result["metrics"]["exact_match"] <= 1
