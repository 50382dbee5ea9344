"""Readers of labelled (and unlabelled) files. A malformed row raises `DataError` naming the file,
the line (or question id), the reason and the fix; nothing is skipped silently.

Reader: format (used by).

- `read_table`: CSV (Python `csv` quoting), TSV or JSON Lines with a header / keys naming the
  columns (text-classification)
- `read_classification`: tsv `label  text_a` (chnsenticorp) or `text_a  text_b  label` (lcqmc,
  bq_corpus), header optional (seed presets)
- `read_xnli`: train: `premise  hypo  label`; dev/test: the XNLI-1.0 table (zh rows kept) (xnli)
- `read_tagging`: one `token tag` per line, blank line between sentences (CoNLL); or tsv
  `chars  tags` rows, space-separated (MSRA) (token-classification, msra_ner)
- `read_squad`: SQuAD json (v1; v2 `is_impossible`) (question-answering, cmrc2018, drcd)
- `read_lines`: one text per line (tab between a pair), or JSON Lines `{"question", "context"}`
  (predict on stdin)
"""

import codecs
import collections
import csv
import json
import logging
import os
import re
from dataclasses import dataclass
from typing import List, Optional

from paddle_electra.models.tokenizer import is_cjk
from paddle_electra.tasks.squad import QAExample
from paddle_electra.utils.errors import PaddleElectraError

logger = logging.getLogger(__name__)


class DataError(PaddleElectraError, ValueError):
    """A malformed data file or row: `file:line: reason: fix`."""


@dataclass
class Example:
    text_a: str
    text_b: Optional[str] = None
    label: Optional[str] = None
    line: int = 0  # where it is in its file, for error messages


@dataclass
class TaggedExample:
    tokens: List[str]
    labels: Optional[List[str]] = None
    line: int = 0
    source: Optional[str] = None  # raw text the tokens were cut from (predict); None: the tokens joined
    spans: Optional[List[tuple]] = None  # each token's (start, end) character offsets in `text`

    @property
    def text(self):
        """The sentence: the raw text, or the tokens joined ('' between single characters, else ' ')."""
        return self.source if self.source is not None else _separator(self.tokens).join(self.tokens)

    def token_spans(self):
        if self.spans is not None:
            return self.spans
        spans, start, gap = [], 0, len(_separator(self.tokens))
        for token in self.tokens:
            spans.append((start, start + len(token)))
            start += len(token) + gap
        return spans


def _separator(tokens):
    return "" if all(len(t) == 1 for t in tokens) else " "


def _open(path, encoding="utf-8"):
    """A text file for reading; UTF-8 files may start with a BOM (what Windows tools write)."""
    try:
        return open(path, encoding=codec(encoding), newline="")
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror}): check the path") from e


def codec(encoding):
    """The codec for `encoding`: UTF-8 accepts a BOM; an unknown name is a DataError naming the option."""
    try:
        name = codecs.lookup(encoding).name
    except (LookupError, TypeError):
        raise DataError(f"unknown encoding {encoding!r}: pass --encoding utf-8, gb18030, big5, ...") from None
    return "utf-8-sig" if name == "utf-8" else name


def not_decodable(path, encoding, error):
    """The DataError for a file that is not text in `encoding`, naming the option that fixes it."""
    return DataError(
        f"{path}: not {encoding} text ({error}): pass the file's encoding, e.g. --encoding gb18030 "
        "(what Excel saves on Chinese Windows), or convert the file to UTF-8"
    )


def decoded(lines, name, encoding):
    """`lines` (an open text stream), with a decoding error as the DataError naming --encoding."""
    try:
        yield from lines
    except UnicodeDecodeError as e:
        raise not_decodable(name, encoding, e) from e


def _lines(path, encoding="utf-8"):
    """(line number, line without its end) of a text file."""
    with _open(path, encoding) as f:
        try:
            for number, line in enumerate(f, start=1):
                yield number, line.rstrip("\r\n")
        except UnicodeDecodeError as e:
            raise not_decodable(path, encoding, e) from e


def _rows(path, encoding="utf-8"):
    """(line number, fields) of a tab-separated file, blank lines skipped; quotes are text, not syntax."""
    for number, line in _lines(path, encoding):
        if line.strip():
            yield number, line.split("\t")


def _check_columns(path, number, fields, expected, names):
    if len(fields) != expected:
        more = ": a tab inside a text? replace it with a space" if len(fields) > expected else ""
        raise DataError(
            f"{path}:{number}: expected {expected} tab-separated columns ({', '.join(names)}), "
            f"got {len(fields)}{more}"
        )


def read_classification(path, pair=False, labels=None, encoding="utf-8"):
    """Single-sentence (label, text_a) or pair (text_a, text_b, label) tsv, with or without header."""
    columns = ("text_a", "text_b", "label") if pair else ("label", "text_a")
    rows = list(_rows(path, encoding))
    header = rows[0][1] if rows else []
    index = {n: header.index(n) for n in columns} if set(columns) <= set(header) else None
    if index is None:  # no header: the columns in their usual order
        index, width = {name: i for i, name in enumerate(columns)}, len(columns)
    else:
        rows, width = rows[1:], len(header)
    examples = []
    for number, fields in rows:
        _check_columns(path, number, fields, width, columns if width == len(columns) else header)
        label = fields[index["label"]].strip()
        if labels and label not in labels:
            raise DataError(f"{path}:{number}: label {label!r} is not one of {', '.join(labels)}")
        text_a = fields[index["text_a"]]
        if not text_a.strip():
            raise DataError(f"{path}:{number}: empty text_a")
        examples.append(Example(text_a, fields[index["text_b"]] if pair else None, label, number))
    if not examples:
        raise DataError(f"{path}: no examples")
    return examples


XNLI_LABELS = ("contradiction", "entailment", "neutral")
_XNLI_LABELS = {"contradictory": "contradiction"}


def read_xnli(path, language="zh", encoding="utf-8"):
    """XNLI: the machine-translated train file (premise, hypo, label) or the XNLI-1.0 dev/test table."""
    examples, header = [], None
    for number, fields in _rows(path, encoding):
        if header is None:
            header = {name: i for i, name in enumerate(fields)}
            if not (
                {"premise", "hypo", "label"} <= set(header)
                or {"gold_label", "sentence1", "sentence2"} <= set(header)
            ):
                raise DataError(
                    f"{path}:1: not an XNLI file: need columns premise/hypo/label (train) "
                    "or gold_label/sentence1/sentence2 (dev, test)"
                )
            train = "premise" in header
            continue
        if len(fields) != len(header):
            raise DataError(f"{path}:{number}: expected {len(header)} columns, got {len(fields)}")
        if not train and "language" in header and fields[header["language"]] != language:
            continue  # the dev/test tables hold 15 languages; other languages are not ours
        a, b, label = (
            fields[header[k]]
            for k in (("premise", "hypo", "label") if train else ("sentence1", "sentence2", "gold_label"))
        )
        label = _XNLI_LABELS.get(label, label)
        if label not in XNLI_LABELS:
            raise DataError(f"{path}:{number}: label {label!r} is not one of {', '.join(XNLI_LABELS)}")
        examples.append(Example(a, b, label, number))
    if not examples:
        raise DataError(f"{path}: no {language} examples")
    return examples


# ---- any table: CSV, TSV, JSON Lines ---------------------------------------------------------
TEXT_COLUMNS = ("text", "text_a", "sentence", "sentence1", "content", "review")
PAIR_COLUMNS = ("text_b", "sentence2")
TABLE_TYPES = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}


def _table_records(path, encoding="utf-8"):
    """(line number, {column: value}) of a CSV / TSV (first row: the column names) or JSON Lines file."""
    kind = TABLE_TYPES.get(os.path.splitext(path)[1].lower())
    if kind is None:
        raise DataError(f"{path}: unknown file type: name it .csv, .tsv or .jsonl (JSON Lines)")
    if kind == "jsonl":
        for number, line in _lines(path, encoding):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as e:
                raise DataError(
                    f"{path}:{number}: not a JSON object ({e}): write one JSON object per line"
                ) from None
            if not isinstance(record, dict):
                raise DataError(
                    f"{path}:{number}: not a JSON object: write one object per line, "
                    'e.g. {"text": ..., "label": ...}'
                )
            yield number, record
        return
    csv.field_size_limit(max(csv.field_size_limit(), os.path.getsize(path) + 1))  # a field fits its file
    with _open(path, encoding) as f:
        rows = csv.reader(
            f,
            delimiter="," if kind == "csv" else "\t",
            strict=True,
            quoting=csv.QUOTE_MINIMAL if kind == "csv" else csv.QUOTE_NONE,
        )
        header, number = None, 0
        try:
            for fields in rows:
                number = rows.line_num
                if not any(field.strip() for field in fields):
                    continue
                if header is None:
                    header = [name.strip() for name in fields]
                    yield number, header  # the header row (a list): tells the caller the file is not empty
                    continue
                if len(fields) != len(header):
                    fix = (
                        "quote texts holding commas, as Python's csv module writes them"
                        if kind == "csv"
                        else "a tab inside a text? replace it with a space"
                    )
                    raise DataError(
                        f"{path}:{number}: {len(fields)} fields but the header has {len(header)} "
                        f"({', '.join(header)}): {fix}"
                    )
                yield number, dict(zip(header, fields))
        except csv.Error as e:
            raise DataError(
                f"{path}:{rows.line_num}: malformed CSV ({e}): "
                "quote fields as Python's csv module writes them"
            ) from None
        except UnicodeDecodeError as e:
            raise not_decodable(path, encoding, e) from e


def _column(path, columns, wanted, candidates, what, option):
    if wanted:
        if wanted not in columns:
            raise DataError(
                f"{path}: no column {wanted!r} ({what}); columns found: {', '.join(columns)}: pass {option}"
            )
        return wanted
    return next((name for name in candidates if name in columns), None)


def read_table(
    path,
    text_column=None,
    text_pair_column=None,
    label_column=None,
    labelled=True,
    encoding="utf-8",
    label_columns=("label",),
    parse_label=None,
):
    """Classification examples of a CSV / TSV / JSON Lines file. Columns: `text_column` (default
    the first of TEXT_COLUMNS found), `text_pair_column` (default text_b / sentence2 when present),
    `label_column` (default the first of `label_columns` found; not needed with labelled=False).
    Labels may be strings or ints; `parse_label(value, "file:row", column)`, when given, turns a
    row's label value into the example's label (a number, a list) or raises DataError."""
    examples, columns, header = [], None, None
    for number, record in _table_records(path, encoding):
        if isinstance(record, list):
            header = record
            continue
        if columns is None:
            columns = list(record)
            text = _column(path, columns, text_column, TEXT_COLUMNS, "the text", "--text-column NAME")
            if text is None:
                raise DataError(
                    f"{path}: no text column (looked for {', '.join(TEXT_COLUMNS)}); columns found: "
                    f"{', '.join(columns)}: pass --text-column NAME"
                )
            pair = _column(
                path, columns, text_pair_column, PAIR_COLUMNS, "the second text", "--text-pair-column NAME"
            )
            label = _column(path, columns, label_column, label_columns, "the label", "--label-column NAME")
            if labelled and label is None:
                raise DataError(
                    f"{path}: no label column {' or '.join(map(repr, label_columns))}; columns found: "
                    f"{', '.join(columns)}: pass --label-column NAME"
                )
        values = [record.get(name) for name in (text, pair)]
        for name, value in zip((text, pair), values):
            if name and not isinstance(value, str):
                raise DataError(
                    f"{path}:{number}: column {name!r} is "
                    f"{'missing' if value is None else 'not a string'}: give every row a text"
                )
        if not values[0].strip():
            raise DataError(
                f"{path}:{number}: empty text in column {text!r}: remove the row or fill in its text"
            )
        value = record.get(label) if label else None
        if parse_label is not None:
            value = parse_label(value, f"{path}:{number}", label) if labelled else None
        else:
            if labelled and (
                isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip()
            ):
                raise DataError(
                    f"{path}:{number}: no label in column {label!r}: "
                    "give every row a label (a string or an integer)"
                )
            value = str(value).strip() if value is not None else None
        examples.append(Example(values[0], values[1], value, number))
    if columns is None and header is None:
        raise DataError(f"{path}: empty file: write a header row and one example per row")
    if not examples:
        raise DataError(f"{path}: only a header, no examples: add rows below the header")
    return examples


def label_set(examples):
    """The labels found, sorted (numerically when they are all integers). Tagging: the tags, 'O' first."""
    tagged = isinstance(examples[0], TaggedExample)
    found = {label for e in examples for label in (e.labels if tagged else [e.label])}
    if all(re.fullmatch(r"-?\d+", label) for label in found):
        return tuple(sorted(found, key=int))
    if tagged:  # O, then each entity type's B- I- (E- S-) tags together
        return tuple(sorted(found, key=lambda tag: (tag != "O", tag[2:], "BIES".find(tag[0]))))
    return tuple(sorted(found))


def check_labels(examples, labels, path, fixed=False):
    """An error naming the row of the first label not in `labels`: the training file's, or a preset's
    (`fixed`)."""
    for e in examples:
        for label in e.labels if isinstance(e, TaggedExample) else [e.label]:
            if label in labels:
                continue
            if fixed:
                raise DataError(
                    f"{path}:{e.line}: label {label!r} is not one of the task's labels "
                    f"({', '.join(labels)}): fix the row"
                )
            raise DataError(
                f"{path}:{e.line}: label {label!r} does not occur in the training file (labels: "
                f"{', '.join(labels)}): fix the row, or add examples of {label!r} to the training data"
            )


# ---- tagging ---------------------------------------------------------------------------------
def read_tagging(path, labels=None, encoding="utf-8"):
    """BIO(ES) tagging: CoNLL `token tag` lines (blank line between sentences), or MSRA
    `chars<TAB>tags` rows."""
    first = next(iter(_rows(path, encoding)), (0, []))[1]
    if first == ["text_a", "label"] or len(first) == 2 and " " in first[0]:  # a whole sentence per row
        examples = _read_tagging_tsv(path, labels, encoding)
    else:
        examples = _read_conll(path, labels, encoding)
    if not examples:
        raise DataError(
            f"{path}: no sentences: write one `token tag` per line, a blank line between sentences"
        )
    return examples


def _check_tags(path, number, tokens, tags, labels):
    if len(tokens) != len(tags):
        raise DataError(f"{path}:{number}: {len(tokens)} characters but {len(tags)} tags")
    unknown = [t for t in tags if labels and t not in labels]
    if unknown:
        raise DataError(f"{path}:{number}: tag {unknown[0]!r} is not one of {', '.join(labels)}")


def _read_tagging_tsv(path, labels, encoding="utf-8"):
    examples = []
    for number, fields in _rows(path, encoding):
        if fields == ["text_a", "label"]:
            continue
        _check_columns(path, number, fields, 2, ("characters", "tags"))
        tokens, tags = fields[0].split(" "), fields[1].split(" ")
        _check_tags(path, number, tokens, tags, labels)
        examples.append(TaggedExample(tokens, tags, number))
    return examples


def _read_conll(path, labels, encoding="utf-8"):
    examples, tokens, tags, start = [], [], [], 1
    for number, line in list(_lines(path, encoding)) + [(None, "")]:
        parts = line.split()
        if parts[:1] == ["-DOCSTART-"]:
            continue
        if not parts:
            if tokens:
                _check_tags(path, start, tokens, tags, labels)
                examples.append(TaggedExample(tokens, tags, start))
            tokens, tags, start = [], [], (number or 0) + 1
            continue
        if len(parts) != 2:
            raise DataError(
                f"{path}:{number}: expected `character tag`, got {line.strip()!r}: "
                "one token and its tag per line"
            )
        tokens.append(parts[0])
        tags.append(parts[1])
    return examples


_WORDS = re.compile(r"\w+|[^\w\s]")


def split_words(text):
    """Raw text -> TaggedExample: each CJK character, run of letters/digits, or other symbol is a
    word, with its character offsets in `text` (whitespace separates words and is no word)."""
    tokens, spans = [], []
    for m in _WORDS.finditer(text):
        word, start, run = m.group(), m.start(), 0
        for i, char in enumerate(word + " "):  # CJK characters inside a \w run are words of their own
            if i == len(word) or is_cjk(char):
                if i > run:
                    tokens.append(word[run:i]), spans.append((start + run, start + i))
                if i < len(word):
                    tokens.append(char), spans.append((start + i, start + i + 1))
                run = i + 1
    return TaggedExample(tokens, source=text, spans=spans)


# ---- reading comprehension -------------------------------------------------------------------
def read_squad(path, training=False, encoding="utf-8"):
    """SQuAD-format json (CMRC 2018, DRCD, SQuAD v1/v2) -> QAExamples.

    An answer whose answer_start does not point at its text is re-anchored at the nearest occurrence
    (CMRC counts offsets in UTF-16 units, so characters outside the BMP shift them). An answer that
    does not occur in its context (annotator variants in official evaluation sets) is kept for
    evaluation, which scores answer texts; for training (`training=True`) it is skipped with a count
    in the log, and a question left with no answer it can be trained on is an error. Empty questions
    (the CMRC 2018 trial set has one) are kept, with a warning."""
    examples, counts = [], collections.Counter()  # counts: answers "moved" / "absent", "empty" questions
    for a, article in enumerate(_squad_data(path, encoding)):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise DataError(
                f"{path}: data[{a}] has no 'paragraphs' list: each article is {{\"paragraphs\": [...]}}"
            )
        for paragraph in paragraphs:
            context = paragraph.get("context") if isinstance(paragraph, dict) else None
            for qa in paragraph.get("qas", []) if isinstance(paragraph, dict) else []:
                examples.append(_squad_example(path, context, qa, training, counts))
    _log_squad_counts(path, counts, training)
    if not examples:
        raise DataError(f"{path}: no questions: a SQuAD json holds data[].paragraphs[].qas[]")
    return examples


def _squad_data(path, encoding="utf-8"):
    """The `data` list of a SQuAD-format json file (its articles), else a DataError."""
    try:
        with _open(path, encoding) as f:
            document = json.load(f)
    except UnicodeDecodeError as e:
        raise not_decodable(path, encoding, e) from e
    except ValueError as e:
        raise DataError(f'{path}: not a SQuAD-format json ({e}): pass a SQuAD json {{"data": [...]}}') from e
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list):
        found = (
            "a list"
            if isinstance(document, list)
            else f"{type(data).__name__} 'data'"
            if isinstance(document, dict)
            else type(document).__name__
        )
        raise DataError(
            f"{path}: not a SQuAD-format json: the top level must be an object with a 'data' list, found "
            f'{found}: pass a SQuAD json {{"data": [{{"paragraphs": [...]}}]}}'
        )
    return data


def _squad_example(path, context, qa, training, counts):
    """One question of a paragraph -> QAExample; adds to `counts` ("moved", "absent", "empty")."""
    qid = qa.get("id", "?") if isinstance(qa, dict) else "?"
    if not isinstance(context, str) or not isinstance(qa, dict) or not isinstance(qa.get("question"), str):
        raise DataError(
            f"{path}: question {qid}: missing context or question: "
            "give each paragraph a 'context' string and each question a 'question' string"
        )
    counts["empty"] += not qa["question"].strip()
    answers, unlocated = _locate_answers(path, qid, context, qa.get("answers", []), counts)
    impossible = bool(qa.get("is_impossible", False))
    if unlocated and training and not answers and not impossible:
        raise DataError(
            f"{path}: question {qid}: no answer occurs in its context ({unlocated[0]['text']!r}): "
            "fix the answer text, or remove the question from the training file"
        )
    counts["absent"] += len(unlocated)
    if not training:  # evaluation scores every gold text; the locatable ones first
        answers += unlocated
    return QAExample(qid, qa["question"], context, answers, impossible)


def _locate_answers(path, qid, context, raw_answers, counts):
    """(answers found in `context`, re-anchored at the occurrence nearest their answer_start, and
    the answers that do not occur in it); adds the re-anchored ones to counts["moved"]."""
    answers, unlocated = [], []
    for answer in raw_answers:
        start, text = answer.get("answer_start"), answer.get("text", "")
        if not isinstance(text, str) or not (start is None or type(start) is int):
            raise DataError(
                f"{path}: question {qid}: answer_start {start!r} is not an integer (or text not a "
                "string): write answer_start as a number, the character offset of the answer"
            )
        if context[start or 0 : (start or 0) + len(text)] != text or start is None:
            found = [i for i in range(len(context)) if context.startswith(text, i)] if text else []
            if not found:
                unlocated.append({"text": text, "answer_start": None})
                continue
            start = min(found, key=lambda i: abs(i - (start or 0)))
            counts["moved"] += 1
        answers.append({"text": text, "answer_start": start})
    return answers, unlocated


def _log_squad_counts(path, counts, training):
    if counts["moved"]:
        logger.warning(
            "%s: %d answer(s) re-anchored where answer_start did not point at the text", path, counts["moved"]
        )
    if counts["absent"]:
        logger.warning(
            "%s: %d answer(s) do not occur in their context; %s",
            path,
            counts["absent"],
            "skipped for training (their questions keep another answer)" if training else "scored as texts",
        )
    if counts["empty"]:
        logger.warning(
            "%s: %d question(s) are empty; kept (the model reads only the context)", path, counts["empty"]
        )


# ---- predict input on stdin ------------------------------------------------------------------
def read_lines(lines, name="<stdin>", kind="text"):
    """Unlabelled input, one example per line: a text (a tab between a pair's texts) for
    kind "text", a raw sentence for kind "words" (tagging), a JSON object {"question", "context"}
    (optional "id") for kind "qa"."""
    examples = []
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        if kind == "words":
            example = split_words(line)
            example.line = number
        elif kind == "qa":
            try:
                record = json.loads(line)
            except ValueError as e:
                raise DataError(
                    f"{name}:{number}: not a JSON object ({e}): "
                    'write {"question": ..., "context": ...} per line'
                ) from None
            if not isinstance(record, dict) or not all(
                isinstance(record.get(k), str) for k in ("question", "context")
            ):
                raise DataError(
                    f"{name}:{number}: need string 'question' and 'context': "
                    'write {"question": ..., "context": ...} per line'
                )
            example = QAExample(str(record.get("id", number)), record["question"], record["context"])
        else:
            parts = line.split("\t")
            if len(parts) > 2:
                raise DataError(
                    f"{name}:{number}: {len(parts)} tab-separated texts: "
                    "give one text, or a pair as `text<TAB>text`"
                )
            example = Example(parts[0], parts[1] if len(parts) > 1 else None, line=number)
        examples.append(example)
    if not examples:
        raise DataError(f"{name}: no input: give one text per line")
    return examples
