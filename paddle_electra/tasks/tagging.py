"""token-classification: one tag per token (CoNLL `token tag` lines or MSRA-style TSV), BIO or BIOES."""

import logging

import numpy as np

from paddle_electra.models.heads import ElectraForTokenClassification
from paddle_electra.tasks.base import TaskKind
from paddle_electra.tasks.metrics import entity_f1
from paddle_electra.tasks.readers import DataError, read_tagging
from paddle_electra.tasks.windows import (
    LONG_TEXT,
    check_long_text,
    sentence_starts,
    sentence_windows,
    windows,
)

logger = logging.getLogger(__name__)
READ_AS = {  # --long-text, as the notice says it
    "sentences": "sentence by sentence (a sentence longer than that in overlapping windows)",
    "window": "in overlapping windows",
}


def tag_scheme(labels):
    """ "prefix" (B-PER, I-PER.NAM: BIO / BIOES, the type may hold dots or dashes) or "suffix"
    (PER-B, PER-I: KoELECTRA / Naver NER) for a tag set; a DataError for a tag in neither form."""
    tags = [t for t in labels if t != "O"]
    if all(t[:2] in PREFIXES and len(t) > 2 for t in tags):
        return "prefix"
    if all(t[-2:] in SUFFIXES and len(t) > 2 for t in tags):
        return "suffix"
    odd = next(t for t in tags if not (t[:2] in PREFIXES or t[-2:] in SUFFIXES) or len(t) <= 2)
    raise DataError(
        f"tag {odd!r} is neither B-TYPE / I-TYPE (BIO or BIOES) nor TYPE-B / TYPE-I: write every tag in "
        "one of these forms, O for outside"
    )


PREFIXES = ("B-", "I-", "E-", "S-")
SUFFIXES = ("-B", "-I", "-E", "-S")


def _continuation_tag(tag, label_ids, scheme="prefix"):
    """The tag of a word's later sub-tokens under label_all_tokens: inside its entity. B, E and S
    words (BIOES) go on as I of their type when the tag set has it (so no sub-token repeats a
    boundary); O and I words keep their tag."""
    if scheme == "suffix":
        inside, boundary = tag[:-2] + "-I", tag[-2:] in ("-B", "-E", "-S")
    else:
        inside, boundary = "I-" + tag[2:], tag[:2] in ("B-", "E-", "S-")
    return inside if boundary and inside in label_ids else tag


class TokenClassification(TaskKind):
    """One tag per token (character or word), BIO or BIOES, tags written B-TYPE or TYPE-B
    (`tag_scheme`). Only the first sub-token of a word is labelled unless the option
    label_all_tokens (then later sub-tokens are inside the entity: `_continuation_tag`). A text
    longer than the model reads is tagged sentence by sentence (a sentence longer than that in
    windows), or in overlapping windows over the whole text, each word from the window where it
    has the most context (options long_text: sentences, the default, window or truncate; doc_stride)."""

    kind = "token-classification"
    hub_field = "tags"  # per word
    head = ElectraForTokenClassification
    metric = "f1"
    stdin = "words"

    def _read(self, path, labelled, training):
        return read_tagging(path, encoding=self.encoding)

    @property
    def scheme(self):
        return tag_scheme(self.labels)

    def encode(self, examples, tokenizer, max_seq_length, training=False):
        """Rows of [CLS] sub-tokens [SEP], one per example or per window; the state holds, per
        example, its first row, the windows' starts and each word's (window, position)."""
        label_ids, scheme = self._label_ids(), self.scheme
        rows, plans, long = [], [], 0
        for example in examples:
            pieces = [
                tokenizer.convert_tokens_to_ids(tokenizer.tokenize(w)) or [tokenizer.unk_token_id]
                for w in example.tokens
            ]
            ends = np.cumsum([len(p) for p in pieces]).tolist()
            firsts = [end - len(p) for end, p in zip(ends, pieces)]
            flat = [i for p in pieces for i in p]
            spans, where = self._windows(example.tokens, firsts, ends, max_seq_length)
            long += len(spans) > 1
            plans.append((len(rows), where))
            for s, e in spans:
                ids = [tokenizer.cls_token_id] + flat[s:e] + [tokenizer.sep_token_id]
                row = {"input_ids": ids, "token_type_ids": [0] * len(ids)}
                if example.labels is not None:
                    row["labels"] = self._window_labels(
                        example.labels, pieces, firsts, s, len(ids), label_ids, scheme
                    )
                rows.append(row)
        if long:
            logger.info(
                "%d of %d texts are longer than %d tokens: each is tagged %s (--long-text: sentences, "
                "window or truncate)",
                long,
                len(examples),
                max_seq_length,
                READ_AS[self.long_text],
            )
        return rows, plans

    @property
    def long_text(self):
        """What a text longer than the length gets: options["long_text"], by default "sentences"."""
        return check_long_text(self.options.get("long_text", "sentences"), LONG_TEXT)

    def _windows(self, words, firsts, ends, max_seq_length):
        """(rows' (start, end) token spans, per word (row, position of its first sub-token in that
        row), or None for a word that `long_text` "truncate" cuts off)."""
        body, n, long_text = max_seq_length - 2, ends[-1] if ends else 0, self.long_text
        if n <= body or long_text == "truncate":
            return [(0, body)], [(0, 1 + f) if end <= body else None for f, end in zip(firsts, ends)]
        stride = self.options.get("doc_stride")
        if long_text == "sentences":
            spans, best = sentence_windows(n, body, [firsts[i] for i in sentence_starts(words)], stride)
        else:
            starts, best = windows(n, body, stride)
            spans = [(s, s + body) for s in starts]
        return spans, [(best[f], 1 + f - spans[best[f]][0]) for f in firsts]

    def _window_labels(self, tags, pieces, firsts, start, length, label_ids, scheme):
        """The label of each position of the window starting at token `start` (-100: not trained)."""
        labels, all_tokens = [-100] * length, self.options.get("label_all_tokens", False)
        for tag, piece, first in zip(tags, pieces, firsts):
            for k in range(len(piece) if all_tokens else 1):
                position = 1 + first + k - start
                if 1 <= position < length - 1:
                    labels[position] = label_ids[tag if k == 0 else _continuation_tag(tag, label_ids, scheme)]
        return labels

    def decode(self, examples, rows, plans, outputs):
        from seqeval.metrics.sequence_labeling import get_entities

        predictions, suffix = [], self.scheme == "suffix"
        for example, (row0, where) in zip(examples, plans):
            tags = [
                "O" if w is None else self.labels[int(np.argmax(outputs[row0 + w[0]][w[1]]))] for w in where
            ]
            spans, text = example.token_spans(), example.text
            entities = [
                {
                    "type": kind,
                    "text": text[spans[a][0] : spans[b][1]],
                    "start": spans[a][0],
                    "end": spans[b][1],
                }
                for kind, a, b in get_entities(tags, suffix=suffix)
            ]
            predictions.append({"tags": tags, "entities": entities})
        return predictions

    def score(self, examples, predictions, report=False):
        gold, predicted = [e.labels for e in examples], [p["tags"] for p in predictions]
        return entity_f1(gold, predicted, suffix=self.scheme == "suffix")

    def format(self, example, prediction):
        return {"text": example.text, "entities": prediction["entities"]}
