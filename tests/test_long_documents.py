"""Long documents in classification and tagging: overlapping windows instead of a silent cut, and
tag sets written TYPE-B (KoELECTRA / Naver NER) or with punctuation in the type (B-PER.NAM)."""

import json
import os
import shutil

import numpy as np
import pytest
from conftest import DATA, TF_TINY

from paddle_electra import ElectraTokenizer
from paddle_electra.cli import main
from paddle_electra.tasks import DataError, get_task
from paddle_electra.tasks.readers import Example, TaggedExample, read_tagging
from paddle_electra.tasks.tagging import tag_scheme
from paddle_electra.tasks.windows import sentence_starts, sentence_windows, windows
from paddle_electra_convert import convert_tf_checkpoint

MSRA_TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("long") / "converted"
    convert_tf_checkpoint(os.path.join(TF_TINY, "release"), str(out), progress=False)
    return out / "discriminator"


@pytest.fixture(scope="module")
def tokenizer(tiny):
    return ElectraTokenizer.from_pretrained(str(tiny))


@pytest.fixture(scope="module")
def msra_document():
    """The MSRA NER dev sample's sentences joined into one document (characters and tags)."""
    sentences = read_tagging(os.path.join(DATA, "msra_ner", "dev.tsv"))
    return TaggedExample([c for s in sentences for c in s.tokens], [t for s in sentences for t in s.labels])


@pytest.mark.parametrize("n,body,stride", [(10, 4, None), (100, 30, 7), (31, 30, None), (5, 8, None)])
def test_windows_cover_every_token_and_each_takes_the_most_context(n, body, stride):
    starts, best = windows(n, body, stride)
    assert (
        starts[0] == 0
        and starts[-1] + body >= n
        and all(b - a <= (stride or body // 2) for a, b in zip(starts, starts[1:]))
    )
    for i, w in enumerate(best):
        assert starts[w] <= i < starts[w] + body
        context = [min(i - s, s + body - 1 - i) for s in starts if s <= i < s + body]
        assert min(i - starts[w], starts[w] + body - 1 - i) == max(context)


def test_windows_equal_the_definition_on_random_sizes():
    """`windows` looks only at the windows holding each token (linear in the text, so a 200,000-token
    text takes a fraction of a second); its choice equals the brute-force definition, ties to the
    first window."""
    import random

    def brute_force(n, body, stride):
        stride = max(1, min(stride or body // 2, body))
        starts = list(range(0, max(n - body, 0) + 1, stride))
        starts += [n - body] if starts[-1] + body < n else []

        def context(i, w):
            return min(i - starts[w], starts[w] + body - 1 - i) if starts[w] <= i < starts[w] + body else -1

        return starts, [max(range(len(starts)), key=lambda w: context(i, w)) for i in range(n)]

    rng = random.Random(0)
    for _ in range(500):
        n, body, stride = rng.randint(1, 300), rng.randint(1, 64), rng.choice([None, rng.randint(1, 80)])
        assert windows(n, body, stride) == brute_force(n, body, stride), (n, body, stride)


def _position_only_logits(rows, labels_of_id, width):
    """Logits that depend only on each token's id (as a perfect, context-free tagger would give)."""
    return [np.stack([np.eye(width)[labels_of_id(i)] * 5.0 for i in row["input_ids"]]) for row in rows]


def test_a_long_document_is_tagged_in_windows_like_the_whole_text(msra_document, tokenizer, caplog):
    """A context-free tagger read in windows of 32 tokens gives the same tags as one pass over the
    whole document: every word gets the prediction of exactly one window, and its entity offsets
    point into the original text."""
    task = get_task("token-classification", long_text="window")
    task.labels = MSRA_TAGS
    doc = TaggedExample(msra_document.tokens[:600], msra_document.labels[:600])
    gold = {}
    for word, tag in zip(doc.tokens, doc.labels):
        ids = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(word)) or [tokenizer.unk_token_id]
        gold.setdefault(ids[0], MSRA_TAGS.index(tag))

    def label_of(token_id):
        return gold.get(token_id, 0)

    with caplog.at_level("INFO", logger="paddle_electra"):
        rows, plans = task.encode([doc], tokenizer, 32)
    assert len(rows) > 30 and all(len(r["input_ids"]) <= 32 for r in rows)
    assert sum("tagged in overlapping windows" in r.getMessage() for r in caplog.records) == 1
    windowed = task.decode([doc], rows, plans, _position_only_logits(rows, label_of, 7))[0]
    whole_rows, whole_plans = task.encode([doc], tokenizer, 100_000)
    assert len(whole_rows) == 1
    whole = task.decode([doc], whole_rows, whole_plans, _position_only_logits(whole_rows, label_of, 7))[0]
    assert windowed == whole and len(windowed["tags"]) == 600 and windowed["entities"]
    text = doc.text
    assert all(text[e["start"] : e["end"]] == e["text"] for e in windowed["entities"])
    task.options["long_text"] = "truncate"
    rows, plans = task.encode([doc], tokenizer, 32)
    cut = task.decode([doc], rows, plans, _position_only_logits(rows, label_of, 7))[0]
    assert len(rows) == 1 and cut["tags"][30:] == ["O"] * 570  # what follows the cut is lost


def test_sentences_end_after_their_punctuation_and_closing_quotes():
    words = list("他说：“好。”我走了！！你呢？") + ["Yes!", "OK"]
    assert [words[i] for i in sentence_starts(words)] == ["我", "你", "Yes!", "OK"]
    assert sentence_starts(list("没有句号的一段话")) == []


def test_sentence_windows_keep_each_sentence_to_its_own_rows():
    spans, best = sentence_windows(20, 6, [4, 15, 15, 0, 20])  # repeated and edge cuts are ignored
    assert spans == [(0, 4), (4, 10), (7, 13), (9, 15), (15, 20)]  # the 11-token sentence: windows
    sentence = [0] * 4 + [1] * 11 + [2] * 5
    owner = {0: 0, 1: 1, 2: 1, 3: 1, 4: 2}
    for i, w in enumerate(best):
        assert spans[w][0] <= i < spans[w][1] and owner[w] == sentence[i]
    assert best[4:15] == [1 + w for w in windows(11, 6)[1]]  # the most context within the sentence


def test_a_long_document_read_by_sentences_is_tagged_as_its_sentences_are(tokenizer):
    """`--long-text sentences`, tagging's default: a document longer than the length is read one
    sentence per row, the same rows (ids and labels) as its sentences tagged one by one, so a tagger
    trained on sentences sees what it was trained on; classification refuses the mode in one line."""
    sentences = read_tagging(os.path.join(DATA, "msra_ner", "dev.tsv"))[:12]
    sentences = [s for s in sentences if s.tokens[-1] in "。！？"]  # what the document is cut after
    doc = TaggedExample([c for s in sentences for c in s.tokens], [t for s in sentences for t in s.labels])
    task = get_task("token-classification")
    task.labels = MSRA_TAGS
    longest = max(len(s.tokens) for s in sentences) + 2
    assert len(doc.tokens) + 2 > longest
    rows, plans = task.encode([doc], tokenizer, longest, training=True)
    alone, _ = task.encode(sentences, tokenizer, longest, training=True)
    assert len(sentences) > 3 and rows == alone
    logits = [np.random.default_rng(len(r["input_ids"])).normal(size=(len(r["input_ids"]), 7)) for r in rows]
    whole = task.decode([doc], rows, plans, logits)[0]
    one_by_one = task.decode(sentences, alone, _, logits)
    assert whole["tags"] == [t for p in one_by_one for t in p["tags"]]
    with pytest.raises(DataError, match="--long-text must be one of window, truncate"):
        get_task("text-classification", long_text="sentences").encode([Example("很好。" * 40)], tokenizer, 32)


def test_training_windows_label_each_word_where_its_first_sub_token_lies(msra_document, tokenizer):
    task = get_task("token-classification", doc_stride=10, long_text="window")
    task.labels = MSRA_TAGS
    doc = TaggedExample(msra_document.tokens[:200], msra_document.labels[:200])
    rows, plans = task.encode([doc], tokenizer, 32, training=True)
    assert len(rows) > 10
    labelled = [sum(label != -100 for label in row["labels"]) for row in rows]
    assert all(n == 30 for n in labelled[:-1])  # characters: one sub-token each, all 30 labelled
    assert rows[0]["labels"][0] == rows[0]["labels"][-1] == -100  # [CLS], [SEP]


def test_a_long_text_is_classified_by_the_mean_of_its_windows(tokenizer, caplog):
    task = get_task("text-classification", doc_stride=8)
    task.labels = ("neg", "pos")
    long = Example("这家酒店的服务很好，房间也干净。" * 10, "早餐一般", "pos")
    short = Example("不好", None, "neg")
    with caplog.at_level("INFO", logger="paddle_electra"):
        rows, owners = task.encode([short, long], tokenizer, 24, training=True)
    assert "1 of 2 texts are longer than 24 tokens" in caplog.text
    assert owners[0] == 0 and set(owners[1:]) == {1} and len(owners) > 3
    assert all(len(r["input_ids"]) <= 24 and r["labels"] == (owners[k] == 1) for k, r in enumerate(rows))
    pair = tokenizer.convert_tokens_to_ids(tokenizer.tokenize("早餐一般"))
    for row in rows[1:]:  # every window: [CLS] part of text_a [SEP] text_b [SEP]
        ids, types = row["input_ids"], row["token_type_ids"]
        assert ids[-len(pair) - 1 : -1] == pair and types.count(1) == len(pair) + 1
    outputs = [np.array([float(k), -float(k)]) for k in range(len(rows))]
    predictions = task.decode([short, long], rows, owners, outputs)
    mean = np.mean(outputs[1:], axis=0)
    assert predictions[1]["probability"] == pytest.approx(float(np.exp(mean).max() / np.exp(mean).sum()))
    task.options["long_text"] = "truncate"
    assert len(task.encode([short, long], tokenizer, 24)[0]) == 2


def test_a_long_text_gets_every_label_any_of_its_windows_finds(tokenizer):
    """Multi-label classification pools the windows by max: a label whose evidence lies only in the
    last window of a long text is predicted (the mean of the windows' logits would miss it, and
    still misses it for single-label classification, which keeps the mean)."""
    task = get_task("multi-label-classification", doc_stride=8)
    task.labels = ("finance", "sports")
    long = Example("球队今天比赛。" * 12 + "股价大涨。", None, ("finance", "sports"))
    rows, owners = task.encode([long], tokenizer, 24)
    assert len(rows) > 3 and set(owners) == {0}
    # sports in every window, finance only in the last one (where 股价大涨 is)
    outputs = [np.array([-4.0, 3.0]) for _ in rows[:-1]] + [np.array([5.0, 3.0])]
    prediction = task.decode([long], rows, owners, outputs)[0]
    assert prediction["labels"] == ["finance", "sports"]  # most probable first
    assert prediction["probabilities"][0] == pytest.approx(1 / (1 + np.exp(-5.0)))
    assert task.score([long], [prediction])["exact_match"] == 1.0
    single = get_task("text-classification", doc_stride=8)
    single.labels = ("finance", "sports")
    mean = np.mean(outputs, axis=0)
    assert single.decode([long], rows, owners, outputs)[0]["label"] == "sports"
    assert single.decode([long], rows, owners, outputs)[0]["probability"] == pytest.approx(
        float(np.exp(mean).max() / np.exp(mean).sum())
    )


SUFFIX = """김 PER-B
철 PER-I
수 PER-I
는 O
서 LOC-B
울 LOC-I
에 O

부 ORG-B
산 ORG-I
"""


def test_suffix_tags_are_read_as_prefix_tags_are(tmp_path, tokenizer):
    path = tmp_path / "train.txt"
    path.write_text(SUFFIX, encoding="utf-8")
    task = get_task("token-classification", label_all_tokens=True)
    examples = task.read_train(str(path))
    assert task.scheme == "suffix" and set(task.labels) == {
        "O",
        "PER-B",
        "PER-I",
        "LOC-B",
        "LOC-I",
        "ORG-B",
        "ORG-I",
    }
    rows, plans = task.encode(examples, tokenizer, 32, training=True)
    ids = task._label_ids()
    logits = [np.eye(len(task.labels))[[max(v, 0) for v in row["labels"]]] * 5.0 for row in rows]
    predicted = task.decode(examples, rows, plans, logits)
    assert [(e["type"], e["text"]) for e in predicted[0]["entities"]] == [("PER", "김철수"), ("LOC", "서울")]
    assert task.score(examples, predicted)["f1"] == 1.0
    from paddle_electra.tasks.tagging import _continuation_tag

    assert (
        _continuation_tag("PER-B", ids, "suffix") == "PER-I"
        and _continuation_tag("PER-I", ids, "suffix") == "PER-I"
    )


def test_types_with_punctuation_and_a_mixed_tag_set():
    assert tag_scheme(["O", "B-PER.NAM", "I-PER.NAM", "B-LOC.NOM", "I-LOC.NOM"]) == "prefix"
    assert tag_scheme(["O", "PER.NAM-B", "PER.NAM-I"]) == "suffix"
    with pytest.raises(DataError, match="neither B-TYPE"):
        tag_scheme(["O", "B-PER", "PER-I", "X"])


def test_predict_offsets_stay_in_the_original_long_text(tiny, tmp_path, msra_document, capsys, monkeypatch):
    """The command line end to end: a tagger fine-tuned for two steps on MSRA sentences predicts a
    600-character document at --max-seq-length 32 in windows; every entity's offsets index the text,
    and batch sizes 1 and 7 give the same records."""
    import io

    train = tmp_path / "train.txt"
    shutil.copy(os.path.join(DATA, "msra_ner", "dev.conll"), train)
    out = tmp_path / "model"
    argv = ["finetune", "--task", "token-classification", "--model", str(tiny), "--train-file", str(train)]
    assert main(argv + ["--output", str(out), "--max-steps", "2", "--max-seq-length", "32"]) == 0
    text = "".join(msra_document.tokens[:600])
    records = []
    for batch in ("1", "7"):
        capsys.readouterr()
        monkeypatch.setattr("sys.stdin", io.StringIO(text + "\n"))
        assert main(["predict", "--model", str(out), "--batch-size", batch]) == 0
        lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
        records.append([json.loads(line) for line in lines])
    assert records[0] == records[1] and records[0][0]["text"] == text
    assert all(text[e["start"] : e["end"]] == e["text"] for e in records[0][0]["entities"])
