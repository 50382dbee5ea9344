"""Readers for the seed tasks' original file formats. A malformed row raises `DataError` naming the
file, the line (or question id) and the reason; nothing is skipped silently.

| task | format | reader |
|---|---|---|
| chnsenticorp | tsv with header `label  text_a` | read_classification |
| lcqmc, bq_corpus | tsv `text_a  text_b  label` (header optional) | read_classification |
| xnli | train: `premise  hypo  label`; dev/test: the XNLI-1.0 table (language, gold_label, sentence1, sentence2, ...; zh rows kept) | read_xnli |
| msra_ner | tsv `text_a  label`, space-separated characters and BIO tags; or one `char tag` per line, blank line between sentences | read_tagging |
| cmrc2018, drcd | SQuAD json | read_squad |
"""
import json
import logging
from dataclasses import dataclass
from typing import List, Optional

from .qa import QAExample

logger = logging.getLogger(__name__)


class DataError(ValueError):
    """A malformed data file or row: `file:line: reason`."""


@dataclass
class Example:
    text_a: str
    text_b: Optional[str] = None
    label: Optional[str] = None


@dataclass
class TaggedExample:
    tokens: List[str]
    labels: List[str]


@dataclass(frozen=True)
class Task:
    name: str
    kind: str  # "classification" (accuracy) | "tagging" (entity F1) | "qa" (CMRC EM / F1)
    labels: tuple = ()


TASKS = {
    "chnsenticorp": Task("chnsenticorp", "classification", ("0", "1")),
    "lcqmc": Task("lcqmc", "classification", ("0", "1")),
    "bq_corpus": Task("bq_corpus", "classification", ("0", "1")),
    "xnli": Task("xnli", "classification", ("contradiction", "entailment", "neutral")),
    "msra_ner": Task("msra_ner", "tagging", ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG")),
    "cmrc2018": Task("cmrc2018", "qa"),
    "drcd": Task("drcd", "qa"),
}


def _rows(path):
    """(line number, fields) of a tab-separated file; quotes are text, not syntax."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            for number, line in enumerate(f, start=1):
                line = line.rstrip("\r\n")
                if line.strip():
                    yield number, line.split("\t")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e}): convert the file to UTF-8") from e
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror}): check the path") from e


def _header_index(fields, names):
    """Column positions if `fields` is a header naming all `names`, else None."""
    return {n: fields.index(n) for n in names} if set(names) <= set(fields) else None


def read_classification(path, pair=False, labels=None):
    """Single-sentence (label, text_a) or pair (text_a, text_b, label) tsv, with or without header."""
    columns = ("text_a", "text_b", "label") if pair else ("label", "text_a")
    rows = list(_rows(path))
    index = _header_index(rows[0][1], columns) if rows else None
    if index is None:  # no header: the columns in their usual order
        index = {name: i for i, name in enumerate(columns)}
    else:
        rows = rows[1:]
    examples = []
    for number, fields in rows:
        if len(fields) <= max(index.values()):
            raise DataError(f"{path}:{number}: expected {len(columns)} tab-separated columns ({', '.join(columns)}), got {len(fields)}")
        label = fields[index["label"]].strip()
        if labels and label not in labels:
            raise DataError(f"{path}:{number}: label {label!r} is not one of {', '.join(labels)}")
        text_a = fields[index["text_a"]]
        if not text_a.strip():
            raise DataError(f"{path}:{number}: empty text_a")
        examples.append(Example(text_a, fields[index["text_b"]] if pair else None, label))
    if not examples:
        raise DataError(f"{path}: no examples")
    return examples


_XNLI_LABELS = {"contradictory": "contradiction"}


def read_xnli(path, language="zh"):
    """XNLI: the machine-translated train file (premise, hypo, label) or the XNLI-1.0 dev/test table."""
    examples, header = [], None
    for number, fields in _rows(path):
        if header is None:
            header = {name: i for i, name in enumerate(fields)}
            if not ({"premise", "hypo", "label"} <= set(header) or {"gold_label", "sentence1", "sentence2"} <= set(header)):
                raise DataError(f"{path}:1: not an XNLI file: need columns premise/hypo/label (train) or gold_label/sentence1/sentence2 (dev, test)")
            train = "premise" in header
            continue
        if len(fields) != len(header):
            raise DataError(f"{path}:{number}: expected {len(header)} columns, got {len(fields)}")
        if not train and "language" in header and fields[header["language"]] != language:
            continue  # the dev/test tables hold 15 languages; other languages are not ours
        a, b, label = (fields[header[k]] for k in (("premise", "hypo", "label") if train else ("sentence1", "sentence2", "gold_label")))
        label = _XNLI_LABELS.get(label, label)
        if label not in TASKS["xnli"].labels:
            raise DataError(f"{path}:{number}: label {label!r} is not one of {', '.join(TASKS['xnli'].labels)}")
        examples.append(Example(a, b, label))
    if not examples:
        raise DataError(f"{path}: no {language} examples")
    return examples


def read_tagging(path, labels=None):
    """Character-level BIO(ES) tagging: `chars<TAB>tags` rows (space-separated), or CoNLL columns."""
    rows = list(_rows(path))
    first = rows[0][1] if rows else []
    if first == ["text_a", "label"] or len(first) == 2 and " " in first[0]:  # a whole sentence per row
        return _read_tagging_tsv(path, rows, labels)
    return _read_conll(path, labels)


def _check_tags(path, number, tokens, tags, labels):
    if len(tokens) != len(tags):
        raise DataError(f"{path}:{number}: {len(tokens)} characters but {len(tags)} tags")
    unknown = [t for t in tags if labels and t not in labels]
    if unknown:
        raise DataError(f"{path}:{number}: tag {unknown[0]!r} is not one of {', '.join(labels)}")


def _read_tagging_tsv(path, rows, labels):
    examples = []
    for number, fields in rows:
        if fields == ["text_a", "label"]:
            continue
        if len(fields) != 2:
            raise DataError(f"{path}:{number}: expected 2 tab-separated columns (characters, tags), got {len(fields)}")
        tokens, tags = fields[0].split(" "), fields[1].split(" ")
        _check_tags(path, number, tokens, tags, labels)
        examples.append(TaggedExample(tokens, tags))
    return examples


def _read_conll(path, labels):
    examples, tokens, tags, start = [], [], [], 1
    try:
        f = open(path, encoding="utf-8-sig")
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror}): check the path") from e
    with f:
        for number, line in enumerate(list(f) + ["\n"], start=1):
            parts = line.split()
            if not parts:
                if tokens:
                    _check_tags(path, start, tokens, tags, labels)
                    examples.append(TaggedExample(tokens, tags))
                tokens, tags, start = [], [], number + 1
                continue
            if len(parts) != 2:
                raise DataError(f"{path}:{number}: expected `character tag`, got {line.strip()!r}")
            tokens.append(parts[0])
            tags.append(parts[1])
    if not examples:
        raise DataError(f"{path}: no sentences")
    return examples


def read_squad(path):
    """SQuAD-format json (CMRC 2018, DRCD) -> QAExamples. An answer whose answer_start does not
    point at its text is re-anchored at the nearest occurrence (CMRC counts offsets in UTF-16 units,
    so characters outside the BMP shift them); an answer absent from its context is an error. Empty
questions (the CMRC 2018 trial set has one) are kept, with a warning."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)["data"]
    except (OSError, ValueError, KeyError) as e:
        raise DataError(f"{path}: not a SQuAD-format json with a 'data' list ({e})") from e
    examples, moved, empty = [], 0, 0
    for article in data:
        for paragraph in article.get("paragraphs", []):
            context = paragraph.get("context")
            for qa in paragraph.get("qas", []):
                qid = qa.get("id", "?")
                if not isinstance(context, str) or not isinstance(qa.get("question"), str):
                    raise DataError(f"{path}: question {qid}: missing context or question")
                empty += not qa["question"].strip()
                answers = []
                for answer in qa.get("answers", []):
                    start, text = answer.get("answer_start"), answer.get("text", "")
                    if context[start : start + len(text)] != text:
                        found = [i for i in range(len(context)) if context.startswith(text, i)] if text else []
                        if not found:
                            raise DataError(f"{path}: question {qid}: answer {text!r} does not occur in its context")
                        start, moved = min(found, key=lambda i: abs(i - (start or 0))), moved + 1
                    answers.append({"text": text, "answer_start": start})
                examples.append(QAExample(qid, qa["question"], context, answers, bool(qa.get("is_impossible", False))))
    if moved:
        logger.warning("%s: %d answer(s) re-anchored where answer_start did not point at the text", path, moved)
    if empty:
        logger.warning("%s: %d question(s) are empty; kept (the model reads only the context)", path, empty)
    if not examples:
        raise DataError(f"{path}: no questions")
    return examples


def read_task(task, path):
    """Examples of a seed task's file."""
    if task not in TASKS:
        raise DataError(f"unknown task {task!r}: choose one of {', '.join(TASKS)}")
    if task == "xnli":
        return read_xnli(path)
    kind = TASKS[task].kind
    if kind == "qa":
        return read_squad(path)
    if kind == "tagging":
        return read_tagging(path, TASKS[task].labels)
    return read_classification(path, pair=task in ("lcqmc", "bq_corpus"), labels=TASKS[task].labels)
