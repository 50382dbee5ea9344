"""multi-label-classification: one text or a pair -> any number of labels (CSV / TSV / JSON Lines,
`readers.read_table`).

Labels (column `label`, else `labels`): a JSON list (a JSON Lines value, or a CSV / TSV cell such
as `["sports", "news"]`), or one string with the labels separated by `label_separator` (default
`|`: `sports|news`). An example with no labels (all negative) is written explicitly as `[]`; an
empty cell is an error, since it is more often a label forgotten than none meant. The label set is
the union over the training file.

The head is ElectraForSequenceClassification with `problem_type="multi_label_classification"`
(sigmoid + binary cross-entropy). A label is predicted where its probability is >= `threshold`
(default 0.5); `tune_threshold` picks, at each dev evaluation, the threshold that maximizes dev
micro-F1, and the one of the evaluation with the best micro-F1 (the default best checkpoint's) is
saved with the model as its `threshold`. The dev examples are those of the first labelled file read
after the training file (finetune reads the dev file before a test file); any other file (a test
file) is scored at the task's threshold, never tuned on.
"""

import json

import numpy as np

from paddle_electra.tasks.classification import TextClassification
from paddle_electra.tasks.metrics import best_threshold, multi_label_scores
from paddle_electra.tasks.readers import DataError, Example, check_labels, label_set
from paddle_electra.utils.numeric import sigmoid

DEFAULT_THRESHOLD = 0.5
DEFAULT_SEPARATOR = "|"
LABEL_COLUMNS = ("label", "labels")  # the label column by default: the first of these found


class MultiLabelClassification(TextClassification):
    """One text or a pair -> a set of labels. Options: the columns of text-classification (long_text
    / doc_stride: windows of a long text, each label's logit the max over the windows, so a label
    found in any part of the text is predicted), label_separator, threshold;
    tune_threshold (fine-tuning only: not saved, so evaluate never tunes on its own file)."""

    kind = "multi-label-classification"
    hub_field = "labels"
    metric = "micro_f1"
    window_pooling = "max"  # a label any window of a long text finds is the text's

    def __init__(self, name=None, labels=(), reader=None, **options):
        self.tune = bool(options.pop("tune_threshold", False))
        super().__init__(name, labels, reader, **options)
        threshold = options.get("threshold")
        if threshold is not None and not 0 <= threshold <= 1:
            raise DataError(f"threshold {threshold}: give a probability between 0 and 1, e.g. 0.4")
        if options.get("label_separator") == "":
            raise DataError("empty label separator: pass one character, e.g. --label-separator ';'")
        self.default_threshold = DEFAULT_THRESHOLD if threshold is None else float(threshold)
        self._dev_examples = None  # the first labelled file read after the training file
        self._best = None  # tune_threshold: the best dev micro-F1 so far

    @property
    def threshold(self):
        return float(self.options.get("threshold", DEFAULT_THRESHOLD))

    @property
    def separator(self):
        return self.options.get("label_separator") or DEFAULT_SEPARATOR

    # ---- files -------------------------------------------------------------------------------
    def _label_reading(self):
        return {"label_columns": LABEL_COLUMNS, "parse_label": self.parse_labels}

    def parse_labels(self, value, where, column):
        """A row's labels as a tuple (each once, in the order given): a JSON list, `[]` for none, or
        a string of labels separated by `label_separator`; else a DataError naming the row."""
        sep, fix = self.separator, "or [] for an example with no labels"
        if isinstance(value, str) and value.strip().startswith("["):
            try:
                value = json.loads(value)
            except ValueError:
                pass  # a label that starts with "["
        if isinstance(value, str) and not value.strip() or value is None:
            raise DataError(
                f"{where}: no labels in column {column!r}: write the example's labels separated by "
                f"{sep!r}, {fix}"
            )
        if isinstance(value, list):
            items = value
        elif isinstance(value, str):
            items = value.split(sep)
        elif isinstance(value, int) and not isinstance(value, bool):
            items = [value]
        else:
            raise DataError(
                f"{where}: labels {value!r} in column {column!r} are neither text nor a list: write them "
                f"separated by {sep!r} or as a JSON list of strings, {fix}"
            )
        labels = []
        for item in items:
            if isinstance(item, bool) or not isinstance(item, (str, int)) or not str(item).strip():
                raise DataError(
                    f"{where}: an empty or non-text label {item!r} in {value!r} (column {column!r}): "
                    f"write labels (strings or integers) separated by {sep!r}, {fix}"
                )
            if str(item).strip() not in labels:
                labels.append(str(item).strip())
        return tuple(labels)

    def read(self, path, labelled=True, training=False):
        """Examples of a file; with labels, every label must be in the label set (once it is known)."""
        examples = self._read(path, labelled, training)
        if labelled and self.labels:
            check_labels(_each_label(examples), self.labels, path, self.fixed)
        if labelled and not training and self._dev_examples is None:
            self._dev_examples = examples
        return examples

    def read_train(self, path):
        """The training file's examples; the label set is the union of their labels."""
        examples = self.read(path, training=True)
        self._dev_examples, self._best = None, None  # a new fine-tuning run
        if not self.fixed:
            found = _each_label(examples)
            if not found:
                raise DataError(
                    f"{path}: no example has a label: give the examples their labels separated by "
                    f"{self.separator!r} (an example with none is [])"
                )
            self.labels = label_set(found)
        return examples

    # ---- model -------------------------------------------------------------------------------
    def head_config(self):
        return {**super().head_config(), "problem_type": "multi_label_classification"}

    def build(self, directory, **head_options):
        if self.tune and self._dev_examples is None:
            raise DataError("--tune-threshold picks the threshold on the dev file: pass --dev-file FILE")
        return super().build(directory, **head_options)

    def _target(self, example):
        ids, hot = self._label_ids(), [0] * len(self.labels)
        for label in example.label:
            hot[ids[label]] = 1
        return hot

    def _prediction(self, logits):
        probabilities = sigmoid(np.asarray(logits).reshape(-1))
        chosen = sorted(
            (i for i, p in enumerate(probabilities) if p >= self.threshold), key=lambda i: -probabilities[i]
        )
        return {"labels": [self.labels[i] for i in chosen], "probabilities": probabilities}

    def score(self, examples, predictions, report=False):
        """micro_f1, macro_f1, exact_match at the threshold; with tune_threshold, on the dev examples,
        at the one that maximizes their micro-F1 (also returned, as "threshold"; the one of the best
        evaluation so far becomes the task's, which is saved with the model)."""
        probabilities = np.stack([p["probabilities"] for p in predictions])
        threshold, tune = self.threshold, self.tune and examples is self._dev_examples
        if tune:
            gold = np.array([self._target(e) for e in examples]).reshape(probabilities.shape)
            threshold, _ = best_threshold(gold, probabilities, self.default_threshold)
        predicted = [[label for label, p in zip(self.labels, row) if p >= threshold] for row in probabilities]
        scores = multi_label_scores([e.label for e in examples], predicted, self.labels, report)
        if tune:
            scores["threshold"] = threshold
            if self._best is None or scores[self.metric] > self._best:
                self._best, self.options["threshold"] = scores[self.metric], threshold
        return scores

    def format(self, example, prediction):
        text = {"text": example.text_a}
        if example.text_b is not None:
            text["text_pair"] = example.text_b
        probabilities = dict(zip(self.labels, prediction["probabilities"]))
        return {
            **text,
            "labels": prediction["labels"],
            "probabilities": {label: round(float(probabilities[label]), 6) for label in prediction["labels"]},
        }


def _each_label(examples):
    """One Example per (example, label), for the readers' label checks."""
    return [Example(e.text_a, label=label, line=e.line) for e in examples for label in e.label]
