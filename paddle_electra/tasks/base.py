"""`TaskKind`: what every task kind knows. A kind reads its files, learns or checks its label set,
encodes examples, builds its head, turns the model's outputs into predictions, scores them and
formats them; training (finetune / evaluate / predict), the CLI and the hub layer pick the object
once and ask it. A new kind is one subclass, registered in `tasks/registry.py`.
"""

from paddle_electra.tasks.readers import DataError, check_labels, label_set, read_lines


class TaskKind:
    """One kind of task. `name`: the task name saved with the model (the kind, or a preset's name);
    `labels`: the label set (fixed by a preset, else learned from the training file);
    `options`: how files are read and examples encoded (saved in the model's config)."""

    kind = ""  # the --task name
    head = None  # the head class
    metric = ""  # the default metric for choosing the best checkpoint
    stdin = "text"  # what a line of predict's stdin holds (data.read_lines)
    needs_labels = True  # the head has one output per label
    hub_field = "label"  # the prediction's field PaddleHub's `predict` returns per item (serving)

    def __init__(self, name=None, labels=(), reader=None, **options):
        self.name = name or self.kind
        self.labels = tuple(labels)
        self.fixed = bool(labels)  # a preset's label set
        self._reader = reader
        self.options = options
        self.encoding = "utf-8"  # of the files read (not saved with the model): --encoding

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r}, labels={self.labels})"

    # ---- files -------------------------------------------------------------------------------
    def read(self, path, labelled=True, training=False):
        """Examples of a file; with labels, their labels must be in the label set (if known)."""
        if self._reader:
            examples = self._reader(path, encoding=self.encoding)
        else:
            examples = self._read(path, labelled, training)
        if labelled and self.labels and self.needs_labels:
            check_labels(examples, self.labels, path, self.fixed)
        return examples

    def _read(self, path, labelled, training):
        raise NotImplementedError

    def read_train(self, path):
        """The training file's examples; a generic task learns its label set from them."""
        examples = self.read(path, training=True)
        if not self.fixed and self.needs_labels:
            self.labels = label_set(examples)
            if len(self.labels) < 2:
                raise DataError(
                    f"{path}: every example has label {self.labels[0]!r}: "
                    "a classifier needs at least two labels"
                )
        return examples

    def read_lines(self, lines, name="<stdin>"):  # text already decoded
        return read_lines(lines, name, self.stdin)

    # ---- model -------------------------------------------------------------------------------
    def head_config(self):
        """Config fields of this task's head (saved in config.json)."""
        if not self.needs_labels:
            return {}
        return {
            "num_labels": len(self.labels),
            "id2label": dict(enumerate(self.labels)),
            "label2id": {label: i for i, label in enumerate(self.labels)},
        }

    def build(self, directory, **head_options):
        """The head on the (pretrained or fine-tuned) weights in `directory`."""
        net = self.head.from_pretrained(directory, new_head=True, **self.head_config(), **head_options)
        net.config.task, net.config.task_options = self.name, self.options  # saved in config.json
        return net

    def encode(self, examples, tokenizer, max_seq_length, training=False):
        """-> (rows: dicts of the model's inputs and labels, state needed by `decode`)."""
        raise NotImplementedError

    def decode(self, examples, rows, state, outputs):
        """The model's outputs (per row) -> one prediction dict per example."""
        raise NotImplementedError

    def score(self, examples, predictions, report=False):
        raise NotImplementedError

    def format(self, example, prediction):
        """One line of predict's JSON Lines output."""
        raise NotImplementedError

    def _label_ids(self):
        return {label: i for i, label in enumerate(self.labels)}
