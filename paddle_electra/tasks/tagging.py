"""token-classification: one tag per token (CoNLL `token tag` lines or MSRA-style TSV), BIO or BIOES."""

import numpy as np

from paddle_electra.models.heads import ElectraForTokenClassification
from paddle_electra.models.tokenizer import encode_words
from paddle_electra.tasks.base import TaskKind
from paddle_electra.tasks.metrics import entity_f1
from paddle_electra.tasks.readers import read_tagging


def _continuation_tag(tag, label_ids):
    """The tag of a word's later sub-tokens under label_all_tokens: inside its entity. B-X, E-X and
    S-X (BIOES) words go on as I-X when the tag set has it (so no sub-token repeats a boundary);
    O and I-X words keep their tag."""
    inside = "I-" + tag[2:]
    return inside if tag[:2] in ("B-", "E-", "S-") and inside in label_ids else tag


class TokenClassification(TaskKind):
    """One tag per token (character or word), BIO or BIOES. Only the first sub-token of a word is
    labelled unless the option label_all_tokens (then later sub-tokens are inside the entity:
    `_continuation_tag`)."""

    kind = "token-classification"
    head = ElectraForTokenClassification
    metric = "f1"
    stdin = "words"

    def _read(self, path, labelled, training):
        return read_tagging(path, encoding=self.encoding)

    def encode(self, examples, tokenizer, max_seq_length, training=False):
        label_ids, all_tokens = self._label_ids(), self.options.get("label_all_tokens", False)
        rows, firsts = [], []
        for example in examples:
            ids, first = encode_words(tokenizer, example.tokens, max_seq_length)
            row = {"input_ids": ids, "token_type_ids": [0] * len(ids)}
            if example.labels is not None:
                labels = [-100] * len(ids)
                for start, end, tag in zip(first, first[1:] + [len(ids) - 1], example.labels):
                    if start is None:
                        continue
                    labels[start] = label_ids[tag]
                    if all_tokens:
                        inside = label_ids[_continuation_tag(tag, label_ids)]
                        for i in range(start + 1, end if end is not None else len(ids) - 1):
                            labels[i] = inside
                row["labels"] = labels
            rows.append(row)
            firsts.append(first)
        return rows, firsts

    def decode(self, examples, rows, firsts, outputs):
        from seqeval.metrics.sequence_labeling import get_entities

        predictions = []
        for example, first, logits in zip(examples, firsts, outputs):
            tags = [self.labels[int(np.argmax(logits[i]))] if i is not None else "O" for i in first]
            spans, text = example.token_spans(), example.text
            entities = [
                {
                    "type": kind,
                    "text": text[spans[a][0] : spans[b][1]],
                    "start": spans[a][0],
                    "end": spans[b][1],
                }
                for kind, a, b in get_entities(tags)
            ]
            predictions.append({"tags": tags, "entities": entities})
        return predictions

    def score(self, examples, predictions, report=False):
        return entity_f1([e.labels for e in examples], [p["tags"] for p in predictions])

    def format(self, example, prediction):
        return {"text": example.text, "entities": prediction["entities"]}
