"""text-regression: one text or a pair -> a number (CSV / TSV / JSON Lines, `readers.read_table`).

The head is ElectraForSequenceClassification with one output and `problem_type="regression"` (MSE
loss). Targets are standardized for training with the training file's mean and standard deviation;
both are saved in the task options (`target_mean`, `target_std`, in the model's config.json), so
predictions and metrics (pearson, spearman, mse) are in the file's own scale.
"""

import math

import numpy as np

from paddle_electra.tasks.classification import TextClassification
from paddle_electra.tasks.metrics import regression_scores
from paddle_electra.tasks.readers import DataError

SCORE_COLUMNS = ("label", "score")  # the score column by default: the first of these found


def parse_score(value, where, column):
    """A row's score as a float: a JSON number, or a cell holding a decimal number; else a DataError
    naming the file and row (`where`) and the fix."""
    if isinstance(value, bool) or value is None or isinstance(value, str) and not value.strip():
        raise DataError(f"{where}: no score in column {column!r}: give every row a number, such as 3.5")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise DataError(
            f"{where}: score {value!r} in column {column!r} is not a number: write a number such as 3.5 "
            "(a decimal point, no units, no thousands separators)"
        )
    return number


class TextRegression(TextClassification):
    """One text or a pair -> a number. Options: text_column, text_pair_column, label_column (default
    `label`, else `score`), long_text / doc_stride (windows of a long text: their outputs averaged);
    target_mean / target_std (set from the training file)."""

    kind = "text-regression"
    hub_field = "score"
    metric = "spearman"
    needs_labels = False  # no label set: one output

    def _label_reading(self):
        return {"label_columns": SCORE_COLUMNS, "parse_label": parse_score}

    def read_train(self, path):
        """The training file's examples; their mean and standard deviation become the options that
        standardize the targets."""
        examples = self.read(path, training=True)
        scores = np.array([e.label for e in examples], dtype=np.float64)
        if scores.std() == 0:
            raise DataError(
                f"{path}: every example has score {scores[0]:g}: a regression needs examples with "
                "different scores"
            )
        self.options["target_mean"], self.options["target_std"] = float(scores.mean()), float(scores.std())
        return examples

    def target_scale(self):
        """(mean, std) of the training file's scores (0, 1 before one is read)."""
        return self.options.get("target_mean", 0.0), self.options.get("target_std", 1.0)

    def head_config(self):
        return {"num_labels": 1, "problem_type": "regression"}

    def _target(self, example):
        mean, std = self.target_scale()
        return (example.label - mean) / std

    def _prediction(self, logits):
        mean, std = self.target_scale()
        return {"score": float(np.asarray(logits).reshape(-1)[0]) * std + mean}

    def score(self, examples, predictions, report=False):
        return regression_scores([e.label for e in examples], [p["score"] for p in predictions])

    def format(self, example, prediction):
        text = {"text": example.text_a}
        if example.text_b is not None:
            text["text_pair"] = example.text_b
        return {**text, "score": round(prediction["score"], 6)}
