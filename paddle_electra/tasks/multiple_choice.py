"""multiple-choice: a context, a question and its choices -> one choice (C3's JSON as published, or
JSON Lines).

Files:

- C3 (nlpdata/c3, CLUE's C3) as published: a JSON list of [paragraph lines, [{"question", "choice":
  [...], "answer"}, ...], id]; the lines are joined with newlines into the context, question k of
  item `id` is `id-k`.
- JSON Lines: {"context", "question", "choices": [...], "answer"} per line ("answer": the text of one
  of the choices; "id" optional, default the line number).
- predict's stdin: {"context", "question", "choices"} (and "id") per line.

Encoding: each choice is the pair (context, question + " " + choice), [CLS] context [SEP] question
choice [SEP], cut to max_seq_length: the context first (its end), down to half the tokens when the
question and choice need more than the other half, which are then cut longest first (the original
C3 baselines cut the context first too, keeping every choice). Training rows hold one id list per
choice (`training.trainer.grouped` pads them to [questions, choices, length]); prediction rows are
one per choice, and a question's probabilities are the softmax of its rows' scores.
"""

import json
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from paddle_electra.models.heads import ElectraForMultipleChoice
from paddle_electra.models.tokenizer import longest_first
from paddle_electra.tasks.base import TaskKind
from paddle_electra.tasks.metrics import accuracy
from paddle_electra.tasks.readers import DataError, codec, decoded, not_decodable
from paddle_electra.utils.numeric import softmax

JSONL_EXAMPLE = '{"context": ..., "question": ..., "choices": [...], "answer": ...}'
STDIN_EXAMPLE = '{"context": ..., "question": ..., "choices": [...]}'


@dataclass
class ChoiceExample:
    qid: str
    context: str
    question: str
    choices: List[str] = field(default_factory=list)
    answer: Optional[str] = None  # the text of the right choice
    line: int = 0  # where it is in its file (JSON Lines), for error messages


class MultipleChoice(TaskKind):
    """[context, question, choices] -> one choice (2 or more choices; any number per question)."""

    kind = "multiple-choice"
    hub_field = "answer"
    head = ElectraForMultipleChoice
    metric = "accuracy"
    stdin = "multiple-choice"  # one {"context", "question", "choices"} object per line (`read_lines`)
    needs_labels = False  # one score per choice, whatever the number of choices

    def _read(self, path, labelled, training):
        return read_choices(path, labelled, self.encoding)

    def read_lines(self, lines, name="<stdin>"):
        examples = []
        for number, line in enumerate(lines, start=1):
            if line.strip():
                record = _json_object(line, name, number, STDIN_EXAMPLE)
                examples.append(_record_example(record, f"{name}:{number}", False, str(number), number))
        if not examples:
            raise DataError(f"{name}: no input: give one {STDIN_EXAMPLE} object per line")
        return examples

    def encode(self, examples, tokenizer, max_seq_length, training=False):
        pieces = _pieces(tokenizer, [t for e in examples for t in (e.context, e.question, *e.choices)])
        cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
        rows, spans = [], []
        for e in examples:
            pairs = [
                _pair(pieces[e.context], pieces[e.question], pieces[c], max_seq_length, cls, sep)
                for c in e.choices
            ]
            if training:
                rows.append(
                    {
                        "input_ids": [ids for ids, _ in pairs],
                        "token_type_ids": [types for _, types in pairs],
                        "labels": e.choices.index(e.answer),
                    }
                )
            else:
                spans.append((len(rows), len(pairs)))
                rows += [{"input_ids": ids, "token_type_ids": types} for ids, types in pairs]
        return rows, spans

    def decode(self, examples, rows, spans, outputs):
        predictions = []
        for e, (start, count) in zip(examples, spans):
            p = softmax([float(np.ravel(o)[0]) for o in outputs[start : start + count]])
            best = int(p.argmax())
            probabilities = {}
            for choice, q in zip(e.choices, p.tolist()):  # a repeated choice text: their sum
                probabilities[choice] = probabilities.get(choice, 0.0) + q
            predictions.append(
                {
                    "answer": e.choices[best],
                    "index": best,
                    "probability": float(p[best]),
                    "probabilities": {c: round(q, 6) for c, q in probabilities.items()},
                    "choice_probabilities": p.tolist(),  # in the choices' order
                }
            )
        return predictions

    def score(self, examples, predictions, report=False):
        return {"accuracy": accuracy([e.answer for e in examples], [p["answer"] for p in predictions])}

    def format(self, example, prediction):
        return {
            "id": example.qid,
            "question": example.question,
            "answer": prediction["answer"],
            "probability": round(prediction["probability"], 6),
            "probabilities": prediction["probabilities"],
        }


# ---- encoding --------------------------------------------------------------------------------
def _pieces(tokenizer, texts):
    """{text: its token ids, without [CLS] / [SEP]} (each distinct text tokenized once)."""
    unique = list(dict.fromkeys(texts))
    encoded = tokenizer.encode_batch(unique)["input_ids"] if unique else []
    return {text: ids[1:-1] for text, ids in zip(unique, encoded)}


def _pair(context, question, choice, max_seq_length, cls, sep):
    """(ids, types) of [CLS] context [SEP] question choice [SEP] in `max_seq_length` tokens: the
    context is cut first (its end), to no less than half the budget; then the question and the
    choice, longest first."""
    budget = max(max_seq_length - 3, 0)
    n_q, n_c = longest_first(len(question), len(choice), max(budget - len(context), budget // 2))
    n_a = min(len(context), budget - n_q - n_c)
    ids = [cls, *context[:n_a], sep, *question[:n_q], *choice[:n_c], sep]
    return ids, [0] * (n_a + 2) + [1] * (n_q + n_c + 1)


# ---- reading ---------------------------------------------------------------------------------
def read_choices(path, labelled=True, encoding="utf-8"):
    """ChoiceExamples of a C3 json (a list: [paragraph lines, questions, id] per item) or of a JSON
    Lines file ({"context", "question", "choices", "answer"} per line). `labelled`: every question
    needs its answer, one of its choices."""
    try:
        with open(path, encoding=codec(encoding), newline="") as f:
            text = "".join(decoded(f, path, encoding))
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror}): check the path") from e
    except UnicodeDecodeError as e:
        raise not_decodable(path, encoding, e) from e
    start = text.lstrip()[:1]
    if start == "[":
        examples = _read_c3(path, text, labelled)
    elif start == "{":
        examples = _read_jsonl(path, text, labelled)
    elif not start:
        raise DataError(f"{path}: empty file: write C3's JSON list, or one {JSONL_EXAMPLE} object per line")
    else:
        raise DataError(
            f"{path}: neither C3's JSON (a list) nor JSON Lines (objects): write one {JSONL_EXAMPLE} per line"
        )
    if not examples:
        raise DataError(f"{path}: no questions: add at least one")
    return examples


def _read_c3(path, text, labelled):
    try:
        items = json.loads(text)
    except ValueError as e:
        raise DataError(f"{path}: not valid JSON ({e}): fix the file (C3: a list of items)") from None
    examples = []
    for i, item in enumerate(items, start=1):
        if not (isinstance(item, list) and len(item) in (2, 3)):
            raise DataError(
                f"{path}: item {i}: not a C3 item: "
                "write [[paragraph lines], [{question, choice, answer}, ...], id]"
            )
        lines, questions = item[0], item[1]
        qid = str(item[2]) if len(item) == 3 else str(i)
        where = f"{path}: item {i} (id {qid})"
        if not (isinstance(lines, list) and all(isinstance(line, str) for line in lines)):
            raise DataError(f"{where}: the first field must be the list of the text's lines (strings)")
        if not isinstance(questions, list):
            raise DataError(f"{where}: the second field must be the list of questions")
        for k, question in enumerate(questions, start=1):
            if not isinstance(question, dict):
                raise DataError(f"{where}, question {k}: not an object: write {{question, choice, answer}}")
            record = {**question, "context": "\n".join(lines), "choices": question.get("choice")}
            record.pop("choice", None)
            examples.append(
                _record_example(record, f"{where}, question {k}", labelled, f"{qid}-{k}", c3=True)
            )
    return examples


def _read_jsonl(path, text, labelled):
    examples = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            record = _json_object(line, path, number, JSONL_EXAMPLE)
            examples.append(_record_example(record, f"{path}:{number}", labelled, str(number), number))
    return examples


def _json_object(line, name, number, example):
    try:
        record = json.loads(line)
    except ValueError as e:
        raise DataError(f"{name}:{number}: not a JSON object ({e}): write {example} per line") from None
    if not isinstance(record, dict):
        raise DataError(f"{name}:{number}: not a JSON object: write {example} per line")
    return record


def _record_example(record, where, labelled, qid, line=0, c3=False):
    """A ChoiceExample of a {context, question, choices, answer} dict; `where` names it in errors."""
    choices_key = "choice" if c3 else "choices"
    for key in ("context", "question"):
        if not isinstance(record.get(key), str):
            found = "missing" if record.get(key) is None else "not a string"
            raise DataError(f"{where}: {key!r} is {found}: give every question its {key} (a string)")
    choices = record.get("choices")
    if not (isinstance(choices, list) and all(isinstance(c, str) for c in choices)):
        raise DataError(
            f"{where}: {choices_key!r} is missing or not a list of strings: list the choices' texts"
        )
    if len(choices) < 2:
        raise DataError(
            f"{where}: {len(choices)} choice(s) ({', '.join(map(repr, choices)) or 'none'}): "
            "a question needs two or more choices"
        )
    answer = record.get("answer")
    if labelled:
        if not isinstance(answer, str):
            raise DataError(f"{where}: no 'answer': give the text of the right choice")
        if answer not in choices:
            raise DataError(
                f"{where}: answer {answer!r} is not among its choices ({', '.join(map(repr, choices))}): "
                "make the answer one of the choice texts, exactly"
            )
    qid = str(record["id"]) if record.get("id") is not None else qid
    return ChoiceExample(
        qid, record["context"], record["question"], choices, answer if labelled else None, line
    )
