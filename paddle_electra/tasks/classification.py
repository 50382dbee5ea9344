"""text-classification: one text or a pair -> one label (CSV / TSV / JSON Lines, `readers.read_table`)."""

from paddle_electra.models.heads import ElectraForSequenceClassification
from paddle_electra.tasks.base import TaskKind
from paddle_electra.tasks.metrics import classification_scores
from paddle_electra.tasks.readers import read_table
from paddle_electra.utils.numeric import softmax


class TextClassification(TaskKind):
    """One text or a pair -> one label. Options: text_column, text_pair_column, label_column."""

    kind = "text-classification"
    head = ElectraForSequenceClassification
    metric = "accuracy"

    def _read(self, path, labelled, training):
        o = self.options
        columns = (o.get("text_column"), o.get("text_pair_column"), o.get("label_column"))
        return read_table(path, *columns, labelled, encoding=self.encoding)

    def encode(self, examples, tokenizer, max_seq_length, training=False):
        enc = tokenizer.encode_batch(
            [e.text_a for e in examples], [e.text_b for e in examples], max_length=max_seq_length
        )
        rows = [
            {"input_ids": ids, "token_type_ids": types}
            for ids, types in zip(enc["input_ids"], enc["token_type_ids"])
        ]
        if training or all(e.label is not None for e in examples):
            label_ids = self._label_ids()
            for row, e in zip(rows, examples):
                row["labels"] = label_ids[e.label]
        return rows, None

    def decode(self, examples, rows, state, outputs):
        probs = [softmax(o) for o in outputs]
        return [
            {
                "label": self.labels[int(p.argmax())],
                "probability": float(p.max()),
                "probabilities": dict(zip(self.labels, p.round(6).tolist())),
            }
            for p in probs
        ]

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
