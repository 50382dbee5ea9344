"""What an `ElectraHubModule` does for each PaddleHub task name (`HUB_TASKS`): its model, the
official modules' forward and training-step contract, and `predict`. Each adapter reuses a task
kind of the task layer (its head and encoding); the task layer knows nothing of PaddleHub.

| PaddleHub task | adapter | task kind / head |
|---|---|---|
| None | `Embedding` | ElectraModel (get_embedding) |
| seq-cls | `SequenceClassification` | text-classification |
| token-cls | `TokenClassification` | token-classification |
| text-matching | `TextMatching` | ElectraForTextMatching (siamese, as the official modules) |
| reading-comprehension | `ReadingComprehension` | question-answering |
| text-regression | `Regression` | text-regression |
| multi-label | `MultiLabel` | multi-label-classification |
| multiple-choice | `MultipleChoice` | multiple-choice |
"""

import numpy as np
import paddle
import paddle.nn.functional as F

from paddle_electra.models.heads import ElectraForTextMatching
from paddle_electra.models.modeling import ElectraModel
from paddle_electra.tasks import classification, multiple_choice, question_answering, tagging
from paddle_electra.tasks.multi_label import MultiLabelClassification
from paddle_electra.tasks.readers import TaggedExample
from paddle_electra.tasks.regression import TextRegression
from paddle_electra.tasks.squad import QAExample, featurize, postprocess
from paddle_electra.utils.numeric import softmax


class HubTask:
    """One PaddleHub task name. `kind`: the task kind it reuses (None for the hub-only tasks);
    `head`: its model class; `items`: texts per item of a predict request."""

    name = None
    kind = None
    head = None
    items = (1, 2)
    needs_labels = True  # the head has one output per label

    def __init__(self, labels=()):
        self.labels = tuple(labels)
        self.task = self.kind(labels=self.labels) if self.kind else None

    def model(self, source, suffix=False, **kwargs):
        """The module's model on the weights in `source` (`suffix`: token-cls tags written as PER-B)."""
        labels = {"num_labels": len(self.labels)} if self.needs_labels else {}
        return self.head.from_pretrained(source, new_head=True, **labels, **kwargs)

    def forward(self, module, inputs):
        """The official modules' forward: probabilities, or (probs, loss, metrics) with labels."""
        ids, mask = inputs["input_ids"], inputs.get("attention_mask")
        labels = self._labels(inputs)
        out = module.model(
            ids, inputs.get("token_type_ids"), module._mask(ids) if mask is None else mask, labels=labels
        )
        return self._outputs(out, labels, inputs.get("seq_lengths"))

    def _labels(self, inputs):
        return inputs.get("labels")

    def _outputs(self, out, labels, seq_lengths=None):
        loss, logits = out if labels is not None else (None, out)
        probs = F.softmax(logits, axis=-1)
        return probs if labels is None else (probs, loss, self._metrics(probs, labels, seq_lengths))

    def _metrics(self, probs, labels, seq_lengths):
        correct = (probs.argmax(axis=-1) == labels.reshape([-1])).astype("float32")
        return {"acc": float(correct.mean())}

    def step(self, module, batch):
        """hub.Trainer's training / validation step on a batch in PaddleHub's dataset layout
        -> (loss, metrics)."""
        _, loss, metrics = module(input_ids=batch[0], token_type_ids=batch[1], labels=batch[2])
        return loss, metrics

    def predict(self, module, data, max_seq_len, split_char, batch_size, use_gpu):
        """(labels, probabilities) for a checked request's items."""
        probs = [softmax(o) for o in module._run(module._encode(data, max_seq_len), batch_size, use_gpu)]
        return [module.label_map[int(np.argmax(p))] for p in probs], [p.tolist() for p in probs]


class SequenceClassification(HubTask):
    name = "seq-cls"
    kind = classification.TextClassification
    head = kind.head


class TokenClassification(HubTask):
    """Per-word tags; F1 over entity chunks (paddlenlp's ChunkEvaluator, as the official modules)."""

    name = "token-cls"
    kind = tagging.TokenClassification
    head = kind.head
    items = (1,)

    def __init__(self, labels=()):
        super().__init__(labels)
        self.task.options["long_text"] = "truncate"  # as the official modules: None past max_seq_len

    def model(self, source, suffix=False, **kwargs):
        from paddlenlp.metrics import ChunkEvaluator

        self.chunks = ChunkEvaluator(label_list=list(self.labels), suffix=suffix)
        return super().model(source, **kwargs)

    def _labels(self, inputs):
        labels, lengths = inputs.get("labels"), inputs.get("seq_lengths")
        if labels is None or lengths is None:
            return labels
        labels = labels.reshape(labels.shape[:2])  # hub datasets give [B, L] or [B, L, 1]
        real = paddle.arange(labels.shape[1]).unsqueeze(0) < lengths.reshape([-1, 1])
        return paddle.where(real, labels, paddle.full_like(labels, -100))  # no loss on padding

    def _metrics(self, probs, labels, seq_lengths):
        counts = self.chunks.compute(
            seq_lengths, probs.argmax(axis=-1), paddle.where(labels < 0, paddle.zeros_like(labels), labels)
        )
        self.chunks.update(*[int(c.sum()) for c in counts])  # scalars: numpy 2 refuses float() of [1]-arrays
        return {"f1_score": float(self.chunks.accumulate()[2])}

    def step(self, module, batch):
        self.chunks.reset()
        _, loss, metrics = module(
            input_ids=batch[0], token_type_ids=batch[1], seq_lengths=batch[2], labels=batch[3]
        )
        return loss, metrics

    def predict(self, module, data, max_seq_len, split_char, batch_size, use_gpu):
        """Per-word labels (words split by `split_char`, else characters; None for words cut by
        max_seq_len)."""
        words = [t[0].split(split_char) if split_char in t[0] else list(t[0]) for t in data]
        rows, plans = self.task.encode([TaggedExample(w) for w in words], module.tokenizer, max_seq_len)
        token_probs = [softmax(o) for o in module._run(rows, batch_size, use_gpu)]
        probs = [
            [None if w is None else token_probs[row0 + w[0]][w[1]] for w in where] for row0, where in plans
        ]
        labels = [
            [module.label_map[int(np.argmax(p))] if p is not None else None for p in row] for row in probs
        ]
        return labels, [[p.tolist() if p is not None else None for p in row] for row in probs]


class ReadingComprehension(HubTask):
    """[question, context] -> the answer text (new: the official modules have no such task)."""

    name = "reading-comprehension"
    kind = question_answering.QuestionAnswering
    head = kind.head
    items = (2,)
    needs_labels = False

    def forward(self, module, inputs):
        ids = inputs["input_ids"]
        return module.model(ids, inputs.get("token_type_ids"), module._mask(ids))

    def step(self, module, batch):
        ids, types, starts, ends = batch[:4]
        loss, start_logits, end_logits = module.model(
            ids, types, module._mask(ids), start_positions=starts, end_positions=ends
        )
        exact = (start_logits.argmax(-1) == starts.reshape([-1])) & (
            end_logits.argmax(-1) == ends.reshape([-1])
        )
        return loss, {"span_acc": float(exact.astype("float32").mean())}

    def predict(self, module, data, max_seq_len, split_char, batch_size, use_gpu):
        """Answer texts of [question, context] items (windows of max_seq_len, half of it per stride)."""
        examples = [QAExample(qid=str(i), question=q, context=c) for i, (q, c) in enumerate(data)]
        windows = featurize(
            examples,
            module.tokenizer,
            max_seq_length=max_seq_len,
            max_query_length=min(64, max_seq_len // 2),
            doc_stride=max(1, max_seq_len // 2),
        )
        items = [{"input_ids": f.input_ids, "token_type_ids": f.token_type_ids} for f in windows]
        answers = postprocess(examples, windows, module._run(items, batch_size, use_gpu))
        return [answers[e.qid]["text"] for e in examples], [answers[e.qid]["probability"] for e in examples]


class TextMatching(HubTask):
    """Siamese text matching (the official modules' text-matching): [query, title] -> a label.
    A hub task only (fine-tune sentence pairs with text-classification and a pair column)."""

    name = "text-matching"
    head = ElectraForTextMatching
    items = (2,)

    def forward(self, module, inputs):
        labels = inputs.get("labels")
        out = module.model(
            inputs["query_input_ids"],
            inputs["title_input_ids"],
            inputs.get("query_token_type_ids"),
            inputs.get("title_token_type_ids"),
            labels=labels,
        )
        return self._outputs(out, labels)

    def step(self, module, batch):
        _, loss, metrics = module(
            query_input_ids=batch[0],
            query_token_type_ids=batch[1],
            title_input_ids=batch[2],
            title_token_type_ids=batch[3],
            labels=batch[4],
        )
        return loss, metrics

    def predict(self, module, data, max_seq_len, split_char, batch_size, use_gpu):
        queries = module._encode([[query] for query, _ in data], max_seq_len)
        titles = module._encode([[title] for _, title in data], max_seq_len)
        items = [
            {
                "query_input_ids": q["input_ids"],
                "query_token_type_ids": q["token_type_ids"],
                "title_input_ids": t["input_ids"],
                "title_token_type_ids": t["token_type_ids"],
            }
            for q, t in zip(queries, titles)
        ]
        probs = [softmax(o) for o in module._run(items, batch_size, use_gpu, keys=tuple(items[0]))]
        return [module.label_map[int(np.argmax(p))] for p in probs], [p.tolist() for p in probs]


class Embedding(HubTask):
    """The module without a task: the encoder's states and sentence vectors (get_embedding)."""

    head = ElectraModel
    needs_labels = False

    def forward(self, module, inputs):
        ids, mask = inputs["input_ids"], inputs.get("attention_mask")
        return module.model(ids, inputs.get("token_type_ids"), module._mask(ids) if mask is None else mask)

    def step(self, module, batch):
        raise RuntimeError(
            "hub.Trainer needs a task: create the module with task='seq-cls' (or another task)"
        )

    def predict(self, module, data, max_seq_len, split_char, batch_size, use_gpu):
        return module.get_embedding(
            data, max_seq_len=max_seq_len, batch_size=batch_size, use_gpu=use_gpu
        ), None


class AtLeast:
    """Item lengths of `n` or more (`len(item) in AtLeast(4)`), "4 or more" in a request's error."""

    def __init__(self, n):
        self.n = n

    def __contains__(self, length):
        return length >= self.n

    def __iter__(self):
        yield f"{self.n} or more"


class MultipleChoice(HubTask):
    """[context, question, choice, choice, ...] -> the chosen choice (new: the official modules have
    no such task); `return_prob`: the probability of each choice, in their order. hub.Trainer
    batches: (input_ids [Q, C, L], token_type_ids, labels [Q], optional choice_mask [Q, C])."""

    name = "multiple-choice"
    kind = multiple_choice.MultipleChoice
    head = kind.head
    items = AtLeast(4)
    needs_labels = False

    def step(self, module, batch):
        ids, types, labels = batch[:3]
        choice_mask = batch[3] if len(batch) > 3 else None
        loss, logits = module.model(ids, types, module._mask(ids), choice_mask=choice_mask, labels=labels)
        return loss, self._metrics(logits, labels, None)

    def predict(self, module, data, max_seq_len, split_char, batch_size, use_gpu):
        examples = [
            multiple_choice.ChoiceExample(str(i), context, question, list(choices))
            for i, (context, question, *choices) in enumerate(data)
        ]
        rows, spans = self.task.encode(examples, module.tokenizer, max_seq_len)
        predictions = self.task.decode(examples, rows, spans, module._run(rows, batch_size, use_gpu))
        return [p["answer"] for p in predictions], [p["choice_probabilities"] for p in predictions]


HUB_TASKS = {
    task.name: task
    for task in (
        Embedding,
        SequenceClassification,
        TokenClassification,
        TextMatching,
        ReadingComprehension,
        MultipleChoice,
    )
}


class Regression(SequenceClassification):
    """[text] or [text_a, text_b] -> a number (a model fine-tuned with --task text-regression: in its
    training file's scale, from the mean and std saved with it). hub.Trainer batches hold scores in
    that scale; forward returns the scores."""

    name = "text-regression"
    kind = TextRegression
    needs_labels = False

    def model(self, source, suffix=False, **kwargs):
        model = super().model(source, **{"num_labels": 1, "problem_type": "regression", **kwargs})
        self.task.options.update(getattr(model.config, "task_options", None) or {})
        return model

    def _labels(self, inputs):
        mean, std = self.task.target_scale()
        labels = inputs.get("labels")
        return None if labels is None else (labels.astype("float32") - mean) / std

    def _outputs(self, out, labels, seq_lengths=None):
        loss, logits = out if labels is not None else (None, out)
        mean, std = self.task.target_scale()
        scores = logits[:, 0] * std + mean
        return scores if labels is None else (scores, loss, {"mse": float(loss) * std**2})

    def predict(self, module, data, max_seq_len, split_char, batch_size, use_gpu):
        rows = module._encode(data, max_seq_len)
        predictions = self.task.decode(data, rows, range(len(rows)), module._run(rows, batch_size, use_gpu))
        return [p["score"] for p in predictions], None


class MultiLabel(SequenceClassification):
    """[text] or [text_a, text_b] -> the labels at or over the threshold (a model fine-tuned with --task
    multi-label-classification: its saved threshold), most probable first; `return_prob`: every
    label's probability. hub.Trainer batches hold multi-hot labels [B, num_labels]."""

    name = "multi-label"
    kind = MultiLabelClassification

    def model(self, source, suffix=False, **kwargs):
        model = super().model(source, **{"problem_type": "multi_label_classification", **kwargs})
        threshold = (getattr(model.config, "task_options", None) or {}).get("threshold")
        self.task.options.update({} if threshold is None else {"threshold": threshold})
        return model

    def _outputs(self, out, labels, seq_lengths=None):
        loss, logits = out if labels is not None else (None, out)
        probs = F.sigmoid(logits)
        if labels is None:
            return probs
        exact = ((probs >= self.task.threshold).astype(labels.dtype) == labels).all(axis=-1)
        return probs, loss, {"exact_match": float(exact.astype("float32").mean())}

    def predict(self, module, data, max_seq_len, split_char, batch_size, use_gpu):
        rows = module._encode(data, max_seq_len)
        predictions = self.task.decode(data, rows, range(len(rows)), module._run(rows, batch_size, use_gpu))
        return [p["labels"] for p in predictions], [p["probabilities"].tolist() for p in predictions]


HUB_TASKS.update({task.name: task for task in (Regression, MultiLabel)})
