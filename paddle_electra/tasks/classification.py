"""text-classification: one text or a pair -> one label (CSV / TSV / JSON Lines, `readers.read_table`)."""

import logging

import numpy as np

from paddle_electra.models.heads import ElectraForSequenceClassification
from paddle_electra.tasks.base import TaskKind
from paddle_electra.tasks.metrics import classification_scores
from paddle_electra.tasks.readers import read_table
from paddle_electra.tasks.windows import check_long_text, windows
from paddle_electra.utils.numeric import softmax

logger = logging.getLogger(__name__)


class TextClassification(TaskKind):
    """One text or a pair -> one label. Options: text_column, text_pair_column, label_column;
    long_text and doc_stride (texts longer than the model reads: `text_rows`)."""

    kind = "text-classification"
    head = ElectraForSequenceClassification
    metric = "accuracy"
    window_pooling = "mean"  # how the logits of a long text's windows combine: "mean" or "max"

    def _read(self, path, labelled, training):
        o = self.options
        columns = (o.get("text_column"), o.get("text_pair_column"), o.get("label_column"))
        return read_table(path, *columns, labelled, encoding=self.encoding, **self._label_reading())

    def _label_reading(self):
        """How read_table finds and reads the label: its columns and parser (default: `label`, a string)."""
        return {}

    def encode(self, examples, tokenizer, max_seq_length, training=False):
        """One row per example, or per window of a text longer than `max_seq_length` (`long_text`);
        the state maps each row to its example."""
        rows, owners = text_rows(examples, tokenizer, max_seq_length, self.options)
        if training or all(e.label is not None for e in examples):
            for row, owner in zip(rows, owners):
                row["labels"] = self._target(examples[owner])
        return rows, owners

    def _target(self, example):
        """The training target of an example (a label id here)."""
        return self._label_ids()[example.label]

    def decode(self, examples, rows, owners, outputs):
        pooled = combine_windows(outputs, owners, len(examples), self.window_pooling)
        return [self._prediction(logits) for logits in pooled]

    def _prediction(self, logits):
        p = softmax(logits)
        return {
            "label": self.labels[int(p.argmax())],
            "probability": float(p.max()),
            "probabilities": dict(zip(self.labels, p.round(6).tolist())),
        }

    def score(self, examples, predictions, report=False):
        return classification_scores(
            [e.label for e in examples], [p["label"] for p in predictions], self.labels, report
        )

    def format(self, example, prediction):
        text = (
            {"text": example.text_a}
            if example.text_b is None
            else {"text": example.text_a, "text_pair": example.text_b}
        )
        return {**text, "label": prediction["label"], "probability": round(prediction["probability"], 6)}


def text_rows(examples, tokenizer, max_seq_length, options):
    """(rows, owners): the model inputs of each example, one row, or one per window of text_a when
    the text is longer than `max_seq_length` and options["long_text"] is "window" (the default; a
    pair keeps its second text, cut to at most half the length); owners[r] = the example of row r."""
    texts, pairs = [e.text_a for e in examples], [e.text_b for e in examples]
    if check_long_text(options.get("long_text", "window")) == "truncate":
        enc = tokenizer.encode_batch(texts, pairs, max_length=max_seq_length)
        rows = [
            {"input_ids": i, "token_type_ids": t} for i, t in zip(enc["input_ids"], enc["token_type_ids"])
        ]
        return rows, list(range(len(examples)))
    enc = tokenizer.encode_batch(texts, pairs)
    rows, owners, long = [], [], 0
    for owner, (ids, types) in enumerate(zip(enc["input_ids"], enc["token_type_ids"])):
        parts = (
            [(ids, types)] if len(ids) <= max_seq_length else _windows(ids, types, max_seq_length, options)
        )
        long += len(parts) > 1
        rows += [{"input_ids": i, "token_type_ids": t} for i, t in parts]
        owners += [owner] * len(parts)
    if long:
        logger.info(
            "%d of %d texts are longer than %d tokens: each is read in overlapping windows "
            "(--long-text truncate cuts them instead)",
            long,
            len(examples),
            max_seq_length,
        )
    return rows, owners


def _windows(ids, types, max_seq_length, options):
    """[(ids, types)] of the windows over text_a of one encoded [CLS] a [SEP] (b [SEP])."""
    n_a = types.count(0) - 2
    a, b = ids[1 : 1 + n_a], ids[2 + n_a : -1]
    cls, sep = ids[0], ids[1 + n_a]
    b = b[: (max_seq_length - 3) // 2] if b else []
    body = max_seq_length - 2 - (len(b) + 1 if b else 0)
    starts, _ = windows(len(a), body, options.get("doc_stride"))
    tail = b + [sep] if b else []
    return [
        ([cls, *a[s : s + body], sep, *tail], [0] * (min(body, len(a) - s) + 2) + [1] * len(tail))
        for s in starts
    ]


POOLING = {"mean": np.mean, "max": np.max}


def combine_windows(outputs, owners, count, pooling="mean"):
    """Per example, its rows' outputs pooled element-wise over its windows by `pooling` ("mean" of
    the windows' logits, or their "max": a label that any window finds; one row: itself)."""
    pool = POOLING[pooling]
    grouped = [[] for _ in range(count)]
    for output, owner in zip(outputs, owners):
        grouped[owner].append(np.asarray(output))
    return [group[0] if len(group) == 1 else pool(np.stack(group), axis=0) for group in grouped]
