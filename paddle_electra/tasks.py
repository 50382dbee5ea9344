"""Task kinds as objects. Each kind knows how to read its files, learn or check its label set,
encode examples, build its head, turn the model's outputs into predictions, score them and
format them; `finetune.py`, the CLI and the hub module pick the object once and ask it.

| kind (`--task`) | files | head | metrics |
|---|---|---|---|
| text-classification | CSV / TSV / JSON Lines (`read_table`) | ElectraForSequenceClassification | accuracy, macro_f1 |
| token-classification | CoNLL `token tag` lines or MSRA tsv | ElectraForTokenClassification | entity precision / recall / f1 |
| question-answering | SQuAD json (v1; v2 `is_impossible` with the original head) | ElectraForQuestionAnswering | CMRC em / f1 |

The PaddleHub module (`hub.ElectraHubModule`) asks the same objects (`HUB_KINDS`, by its task
name: None = `Embedding`, seq-cls, token-cls, text-matching, reading-comprehension) for its model,
its forward / training step contract and its predict.

The seven seed tasks are presets of these (`PRESETS`): a fixed label set and their original
readers. A generic task reads its label set from the training file; it is saved in the model's
config (`id2label`, `label2id`, `task`, `task_options`) and read back by evaluate / predict / hub.
Adding a kind (say multi-label classification) is one new subclass of `TaskKind`.
"""
import numpy as np
import paddle
import paddle.nn.functional as F

from .data import (DataError, TaggedExample, XNLI_LABELS, check_labels, label_set, read_classification, read_lines,
                   read_squad, read_table, read_tagging, read_xnli)
from .heads import (ElectraForQuestionAnswering, ElectraForSequenceClassification, ElectraForTextMatching,
                    ElectraForTokenClassification)
from .inference import log_softmax
from .metrics import classification_scores, cmrc_scores, entity_f1
from .modeling import ElectraModel
from .qa import QAExample, featurize, postprocess
from .tokenizer import encode_words

QA_DEFAULTS = {"max_query_length": 64, "doc_stride": 128, "n_best_size": 20, "max_answer_length": 30}


class TaskKind:
    """One kind of task. `name`: the task name saved with the model (the kind, or a preset's name);
    `labels`: the label set (fixed by a preset, else learned from the training file);
    `options`: how files are read and examples encoded (saved in the model's config)."""

    kind = ""  # the --task name
    head = None  # the head class
    metric = ""  # the default metric for choosing the best checkpoint
    stdin = "text"  # what a line of predict's stdin holds (data.read_lines)
    needs_labels = True  # the head has one output per label

    def __init__(self, name=None, labels=(), reader=None, **options):
        self.name = name or self.kind
        self.labels = tuple(labels)
        self.fixed = bool(labels)  # a preset's label set
        self._reader = reader
        self.options = options

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r}, labels={self.labels})"

    # ---- files -------------------------------------------------------------------------------
    def read(self, path, labelled=True, training=False):
        """Examples of a file; with labels, their labels must be in the label set (if known)."""
        examples = self._reader(path) if self._reader else self._read(path, labelled, training)
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
                raise DataError(f"{path}: every example has label {self.labels[0]!r}: a classifier needs at least two labels")
        return examples

    def read_lines(self, lines, name="<stdin>"):
        return read_lines(lines, name, self.stdin)

    # ---- model -------------------------------------------------------------------------------
    def head_config(self):
        """Config fields of this task's head (saved in config.json)."""
        if not self.needs_labels:
            return {}
        return {"num_labels": len(self.labels), "id2label": dict(enumerate(self.labels)),
                "label2id": {label: i for i, label in enumerate(self.labels)}}

    def build(self, directory, **head_options):
        """The head on the (pretrained or fine-tuned) weights in `directory`."""
        net = self.head.from_pretrained(directory, **self.head_config(), **head_options)
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

    # ---- the PaddleHub module (hub.ElectraHubModule asks these) ------------------------------
    hub_task = None  # the module's task name
    hub_items = (1, 2)  # texts per item of a predict request

    def hub_model(self, source, suffix=False, **kwargs):
        """The module's model on the weights in `source` (`suffix`: token-cls tags written as PER-B)."""
        return self.head.from_pretrained(source, **({"num_labels": len(self.labels)} if self.needs_labels else {}), **kwargs)

    def hub_forward(self, module, inputs):
        """The official modules' forward: probabilities, or (probs, loss, metrics) with labels."""
        ids, mask = inputs["input_ids"], inputs.get("attention_mask")
        labels = self._hub_labels(inputs)
        out = module.model(ids, inputs.get("token_type_ids"), module._mask(ids) if mask is None else mask, labels=labels)
        return self._hub_outputs(module, out, labels, inputs.get("seq_lengths"))

    def _hub_labels(self, inputs):
        return inputs.get("labels")

    def _hub_outputs(self, module, out, labels, seq_lengths=None):
        loss, logits = out if labels is not None else (None, out)
        probs = F.softmax(logits, axis=-1)
        return probs if labels is None else (probs, loss, self._hub_metrics(module, probs, labels, seq_lengths))

    def _hub_metrics(self, module, probs, labels, seq_lengths):
        correct = (probs.argmax(axis=-1) == labels.reshape([-1])).astype("float32")
        return {"acc": float(correct.mean())}

    def hub_step(self, module, batch):
        """hub.Trainer's training / validation step on a batch in PaddleHub's dataset layout -> (loss, metrics)."""
        _, loss, metrics = module(input_ids=batch[0], token_type_ids=batch[1], labels=batch[2])
        return loss, metrics

    def hub_predict(self, module, data, max_seq_len, split_char, batch_size, use_gpu):
        """(labels, probabilities) for a checked request's items."""
        probs = _softmax(module._run(module._encode(data, max_seq_len), batch_size, use_gpu))
        return [module.label_map[int(np.argmax(p))] for p in probs], [p.tolist() for p in probs]


class TextClassification(TaskKind):
    """One text or a pair -> one label. Options: text_column, text_pair_column, label_column."""

    kind = "text-classification"
    head = ElectraForSequenceClassification
    metric = "accuracy"
    hub_task = "seq-cls"

    def _read(self, path, labelled, training):
        o = self.options
        return read_table(path, o.get("text_column"), o.get("text_pair_column"), o.get("label_column"), labelled)

    def encode(self, examples, tokenizer, max_seq_length, training=False):
        enc = tokenizer.encode_batch([e.text_a for e in examples], [e.text_b for e in examples], max_length=max_seq_length)
        rows = [{"input_ids": ids, "token_type_ids": types} for ids, types in zip(enc["input_ids"], enc["token_type_ids"])]
        if training or all(e.label is not None for e in examples):
            label_ids = self._label_ids()
            for row, e in zip(rows, examples):
                row["labels"] = label_ids[e.label]
        return rows, None

    def decode(self, examples, rows, state, outputs):
        probs = _softmax(outputs)
        return [{"label": self.labels[int(p.argmax())], "probability": float(p.max()),
                 "probabilities": dict(zip(self.labels, p.round(6).tolist()))} for p in probs]

    def score(self, examples, predictions, report=False):
        return classification_scores([e.label for e in examples], [p["label"] for p in predictions], self.labels, report)

    def format(self, example, prediction):
        text = {"text": example.text_a} if example.text_b is None else {"text": example.text_a, "text_pair": example.text_b}
        return {**text, "label": prediction["label"], "probability": round(prediction["probability"], 6)}


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
        return read_tagging(path)

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
            entities = [{"type": kind, "text": text[spans[a][0] : spans[b][1]], "start": spans[a][0], "end": spans[b][1]}
                        for kind, a, b in get_entities(tags)]
            predictions.append({"tags": tags, "entities": entities})
        return predictions

    def score(self, examples, predictions, report=False):
        return entity_f1([e.labels for e in examples], [p["tags"] for p in predictions])

    def format(self, example, prediction):
        return {"text": example.text, "entities": prediction["entities"]}

    hub_task = "token-cls"
    hub_items = (1,)

    def hub_model(self, source, suffix=False, **kwargs):
        from paddlenlp.metrics import ChunkEvaluator

        self.chunks = ChunkEvaluator(label_list=list(self.labels), suffix=suffix)
        return super().hub_model(source, **kwargs)

    def _hub_labels(self, inputs):
        labels, lengths = inputs.get("labels"), inputs.get("seq_lengths")
        if labels is None or lengths is None:
            return labels
        labels = labels.reshape(labels.shape[:2])  # hub datasets give [B, L] or [B, L, 1]
        real = paddle.arange(labels.shape[1]).unsqueeze(0) < lengths.reshape([-1, 1])
        return paddle.where(real, labels, paddle.full_like(labels, -100))  # no loss on padding

    def _hub_metrics(self, module, probs, labels, seq_lengths):
        counts = self.chunks.compute(seq_lengths, probs.argmax(axis=-1), paddle.where(labels < 0, paddle.zeros_like(labels), labels))
        self.chunks.update(*[int(c.sum()) for c in counts])  # scalars: numpy 2 refuses float() of [1]-arrays
        return {"f1_score": float(self.chunks.accumulate()[2])}

    def hub_step(self, module, batch):
        self.chunks.reset()
        _, loss, metrics = module(input_ids=batch[0], token_type_ids=batch[1], seq_lengths=batch[2], labels=batch[3])
        return loss, metrics

    def hub_predict(self, module, data, max_seq_len, split_char, batch_size, use_gpu):
        """Per-word labels (words split by `split_char`, else characters; None for words cut by max_seq_len)."""
        words = [t[0].split(split_char) if split_char in t[0] else list(t[0]) for t in data]
        rows, firsts = self.encode([TaggedExample(w) for w in words], module.tokenizer, max_seq_len)
        token_probs = _softmax(module._run(rows, batch_size, use_gpu))
        probs = [[p[i] if i is not None else None for i in first] for first, p in zip(firsts, token_probs)]
        labels = [[module.label_map[int(np.argmax(p))] if p is not None else None for p in row] for row in probs]
        return labels, [[p.tolist() if p is not None else None for p in row] for row in probs]


class QuestionAnswering(TaskKind):
    """[question, context] -> an answer span of the context. Options: max_query_length,
    doc_stride, n_best_size, max_answer_length (QA_DEFAULTS, as the original code); answerability
    (trained on SQuAD v2 `is_impossible`: an empty answer when the no-answer score wins)."""

    kind = "question-answering"
    head = ElectraForQuestionAnswering
    metric = "f1"
    stdin = "qa"
    needs_labels = False

    def __init__(self, name=None, labels=(), reader=None, **options):
        super().__init__(name, labels, reader, **{**QA_DEFAULTS, **{k: v for k, v in options.items() if v is not None}})

    def _read(self, path, labelled, training):
        return read_squad(path, training=training)

    def read_train(self, path):
        examples = super().read_train(path)
        self.options["answerability"] = any(e.is_impossible for e in examples)
        return examples

    def build(self, directory, **head_options):
        net = super().build(directory, **head_options)
        if self.options.get("answerability") and net.config.qa_head != "original":
            raise DataError("the training file has unanswerable questions (is_impossible), which only the original head "
                            "learns: pass --qa-head original")
        return net

    def encode(self, examples, tokenizer, max_seq_length, training=False):
        o = self.options
        windows = featurize(examples, tokenizer, max_seq_length=max_seq_length, max_query_length=o["max_query_length"],
                            doc_stride=o["doc_stride"], training=training)
        rows = [{"input_ids": f.input_ids, "token_type_ids": f.token_type_ids} for f in windows]
        if training:
            for row, f in zip(rows, windows):
                row.update(start_positions=f.start_position, end_positions=f.end_position)
                if o.get("answerability"):
                    row["is_impossible"] = int(examples[f.example_index].is_impossible)
        return rows, windows

    def decode(self, examples, rows, windows, outputs):
        o = self.options
        answers = postprocess(examples, windows, outputs, n_best_size=o["n_best_size"], max_answer_length=o["max_answer_length"],
                              allow_impossible=bool(o.get("answerability")))
        return [answers[e.qid] for e in examples]

    def score(self, examples, predictions, report=False):
        scores = cmrc_scores({e.qid: [a["text"] for a in e.answers] or [""] for e in examples},
                             {e.qid: p["text"] for e, p in zip(examples, predictions)})
        return {"em": scores["em"], "f1": scores["f1"]}

    hub_task = "reading-comprehension"
    hub_items = (2,)

    def hub_forward(self, module, inputs):
        ids = inputs["input_ids"]
        return module.model(ids, inputs.get("token_type_ids"), module._mask(ids))

    def hub_step(self, module, batch):
        ids, types, starts, ends = batch[:4]
        loss, start_logits, end_logits = module.model(ids, types, module._mask(ids), start_positions=starts, end_positions=ends)
        exact = (start_logits.argmax(-1) == starts.reshape([-1])) & (end_logits.argmax(-1) == ends.reshape([-1]))
        return loss, {"span_acc": float(exact.astype("float32").mean())}

    def hub_predict(self, module, data, max_seq_len, split_char, batch_size, use_gpu):
        """Answer texts of [question, context] items (windows of max_seq_len, half of it per stride)."""
        examples = [QAExample(qid=str(i), question=q, context=c) for i, (q, c) in enumerate(data)]
        windows = featurize(examples, module.tokenizer, max_seq_length=max_seq_len, max_query_length=min(64, max_seq_len // 2),
                            doc_stride=max(1, max_seq_len // 2))
        items = [{"input_ids": f.input_ids, "token_type_ids": f.token_type_ids} for f in windows]
        answers = postprocess(examples, windows, module._run(items, batch_size, use_gpu))
        return [answers[e.qid]["text"] for e in examples], [answers[e.qid]["probability"] for e in examples]

    def format(self, example, prediction):
        best = prediction["n_best"][0] if prediction["text"] and prediction["n_best"] else {"start": None, "end": None}
        return {"id": example.qid, "question": example.question, "answer": prediction["text"], "start": best["start"],
                "end": best["end"], "probability": round(prediction["probability"], 6)}


class TextMatching(TextClassification):
    """Siamese text matching (the official hub modules' text-matching): [query, title] -> a label.
    A hub task only (fine-tune sentence pairs with text-classification and a pair column)."""

    kind = "text-matching"
    head = ElectraForTextMatching
    hub_task = "text-matching"
    hub_items = (2,)

    def hub_forward(self, module, inputs):
        labels = inputs.get("labels")
        out = module.model(inputs["query_input_ids"], inputs["title_input_ids"], inputs.get("query_token_type_ids"),
                           inputs.get("title_token_type_ids"), labels=labels)
        return self._hub_outputs(module, out, labels)

    def hub_step(self, module, batch):
        _, loss, metrics = module(query_input_ids=batch[0], query_token_type_ids=batch[1], title_input_ids=batch[2],
                                  title_token_type_ids=batch[3], labels=batch[4])
        return loss, metrics

    def hub_predict(self, module, data, max_seq_len, split_char, batch_size, use_gpu):
        queries = module._encode([[query] for query, _ in data], max_seq_len)
        titles = module._encode([[title] for _, title in data], max_seq_len)
        items = [{"query_input_ids": q["input_ids"], "query_token_type_ids": q["token_type_ids"], "title_input_ids": t["input_ids"],
                  "title_token_type_ids": t["token_type_ids"]} for q, t in zip(queries, titles)]
        probs = _softmax(module._run(items, batch_size, use_gpu, keys=tuple(items[0])))
        return [module.label_map[int(np.argmax(p))] for p in probs], [p.tolist() for p in probs]


class Embedding(TaskKind):
    """The hub module without a task: the encoder's states and sentence vectors (get_embedding)."""

    kind = "embedding"
    head = ElectraModel
    needs_labels = False

    def hub_forward(self, module, inputs):
        ids, mask = inputs["input_ids"], inputs.get("attention_mask")
        return module.model(ids, inputs.get("token_type_ids"), module._mask(ids) if mask is None else mask)

    def hub_step(self, module, batch):
        raise RuntimeError("hub.Trainer needs a task: create the module with task='seq-cls' (or another task)")

    def hub_predict(self, module, data, max_seq_len, split_char, batch_size, use_gpu):
        return module.get_embedding(data, max_seq_len=max_seq_len, batch_size=batch_size, use_gpu=use_gpu), None


def _softmax(outputs):
    return [np.exp(log_softmax(o)) for o in outputs]


KINDS = {kind.kind: kind for kind in (TextClassification, TokenClassification, QuestionAnswering)}
HUB_KINDS = {kind.hub_task: kind for kind in (Embedding, TextClassification, TokenClassification, TextMatching, QuestionAnswering)}
MSRA_TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG")
# The seed tasks: a kind with a fixed label set and the dataset's own reader.
PRESETS = {
    "chnsenticorp": lambda: TextClassification("chnsenticorp", ("0", "1"), reader=read_classification),
    "lcqmc": lambda: TextClassification("lcqmc", ("0", "1"), reader=lambda path: read_classification(path, pair=True)),
    "bq_corpus": lambda: TextClassification("bq_corpus", ("0", "1"), reader=lambda path: read_classification(path, pair=True)),
    "xnli": lambda: TextClassification("xnli", XNLI_LABELS, reader=read_xnli),
    "msra_ner": lambda: TokenClassification("msra_ner", MSRA_TAGS),
    "cmrc2018": lambda: QuestionAnswering("cmrc2018"),
    "drcd": lambda: QuestionAnswering("drcd"),
}
TASK_NAMES = tuple(KINDS) + tuple(PRESETS)


def get_task(name, **options):
    """The task object for a kind (`text-classification`, ...) or a seed preset, with `options`
    (those that are None are left out)."""
    options = {k: v for k, v in options.items() if v is not None}
    if name in PRESETS:
        task = PRESETS[name]()
        task.options.update(options)
        return task
    if name not in KINDS:
        raise DataError(f"unknown task {name!r}: choose one of {', '.join(TASK_NAMES)}")
    return KINDS[name](**options)


def task_of_config(config, name=None, **options):
    """The task a fine-tuned model was trained for, from its config.json dict (labels included);
    `name`, when given, must be that task. `options` override the saved ones (e.g. columns)."""
    trained = config.get("task")
    if trained is None:
        raise DataError("the model has no task in its config.json: pass a directory written by `paddle-electra finetune`")
    if name is not None and name != trained:
        raise DataError(f"the model was fine-tuned for task {trained!r}, not {name!r}: pass --task {trained}")
    task = get_task(trained, **{**(config.get("task_options") or {}), **{k: v for k, v in options.items() if v is not None}})
    id2label = config.get("id2label") or {}
    if task.needs_labels and not task.fixed:
        task.labels = tuple(id2label[k] for k in sorted(id2label, key=int))
    return task

