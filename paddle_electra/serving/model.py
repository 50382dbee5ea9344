"""`ServedModel`: what a server does with one model, split where requests are batched together.

    model = ServedModel("runs/chnsenticorp")            # a fine-tuned directory, a name, a hub module
    examples = model.parse({"texts": ["很好", "太差了"]})  # a request body -> examples (RequestError: 400)
    rows, state = model.prepare(examples)               # tokenized model inputs
    outputs = model.run(rows)                           # one forward per length bucket; rows of
    records = model.finish(examples, rows, state, outputs)   # many requests may run together;
    results = model.finish(examples, rows, state, outputs, hub=True)  # PaddleHub's per-item results

A fine-tuned directory serves its task (`task` in its config.json: labels, tags with offsets,
answers, ...), as `predict` does; a bare encoder (a converted model, a zoo name) serves embeddings.
"""

import json
import os

import numpy as np

from paddle_electra.models.modeling import ElectraModel, sentence_vectors
from paddle_electra.models.tokenizer import ElectraTokenizer
from paddle_electra.runtime.batching import predict_items
from paddle_electra.runtime.predictor import Predictor
from paddle_electra.tasks.readers import DataError, Example, split_words
from paddle_electra.tasks.registry import task_of_config
from paddle_electra.training.finetune import resolve_model
from paddle_electra.utils.errors import PaddleElectraError

MAX_REQUEST_TEXTS = 1024  # items in one request
PAD_TO = 16  # batches are padded to a multiple of this many tokens
# the /v1/predict body's key, by what the task's predict reads per line (TaskKind.stdin)
BODY_KEYS = {"text": "texts", "words": "texts", "qa": "questions", "multiple-choice": "items"}
WARM_UP_ITEMS = {  # a request of each body key, run once before a worker takes requests
    "texts": ["今天天气很好"],
    "questions": [{"question": "天气怎么样？", "context": "今天天气很好。"}],
    "items": [{"context": "今天天气很好。", "question": "天气怎么样？", "choices": ["好", "不好"]}],
}


class RequestError(PaddleElectraError, ValueError):
    """A malformed request: HTTP 400 with this message."""


class Embeddings:
    """The bare encoder's task: per text (or pair), the sentence vector (the mean of its real
    tokens' final states) and the [CLS] state; PaddleHub's `get_embedding` result for the hub route."""

    name = kind = "embeddings"
    stdin = "text"
    hub_field = "hub"

    def encode(self, examples, tokenizer, max_seq_length, training=False):
        enc = tokenizer.encode_batch(
            [e.text_a for e in examples], [e.text_b for e in examples], max_length=max_seq_length
        )
        return [
            {"input_ids": i, "token_type_ids": t} for i, t in zip(enc["input_ids"], enc["token_type_ids"])
        ], None

    def decode(self, examples, rows, state, outputs):
        predictions = []
        for row, hidden in zip(rows, outputs):
            states = np.ascontiguousarray(np.asarray(hidden)[: len(row["input_ids"])])
            vector = sentence_vectors(states[None], np.ones((1, len(states))))[0]
            predictions.append({"vector": vector, "cls": states[0], "hub": [vector, states]})
        return predictions  # numpy arrays: the server writes them to JSON as they are (app.JSON)

    def format(self, example, prediction):
        text = (
            {"text": example.text_a}
            if example.text_b is None
            else {"text": example.text_a, "text_pair": example.text_b}
        )
        return {**text, "embedding": prediction["vector"], "cls": prediction["cls"]}


class ServedModel:
    """One model behind a server. `model`: a model directory (fine-tuned or bare), a model name (zoo
    name or Hub repo id) or an installed PaddleHub module's name; `max_seq_length`: default the
    training length (128 for a bare encoder); `runtime`: Predictor options (backend, precision,
    threads)."""

    def __init__(self, model, max_seq_length=None, runtime=None, name=None):
        directory = resolve_model(model)
        with open(os.path.join(directory, "config.json"), encoding="utf-8") as f:
            config = json.load(f)
        self.task = task_of_config(config) if config.get("task") else Embeddings()
        self.name = name or os.path.basename(os.path.normpath(model))
        positions = config.get("max_position_embeddings", 512)
        trained = (getattr(self.task, "options", {}) or {}).get("max_seq_length")
        self.max_seq_length = max_seq_length or trained or min(128, positions)
        if self.max_seq_length > positions:
            raise DataError(
                f"max_seq_length {self.max_seq_length} is more than the model's {positions} positions: "
                f"pass --max-seq-length {positions} or less"
            )
        self.tokenizer = ElectraTokenizer.from_pretrained(directory)
        # a fine-tuned directory runs its own head; embeddings come from the encoder under any head
        model = directory if config.get("task") else ElectraModel.from_pretrained(directory)
        self.predictor = Predictor(model, **(runtime or {}))

    @property
    def kind(self):
        return self.task.kind

    # ---- requests -----------------------------------------------------------------------------
    def parse(self, body):
        """The examples of a /v1/predict body: {"texts": [text or [text_a, text_b], ...]} for text
        tasks (tagging: one text each), {"questions": [{"question", "context"}, ...]} for question
        answering, {"items": [{"context", "question", "choices"}, ...]} for multiple choice."""
        want = BODY_KEYS[self.task.stdin]
        if not isinstance(body, dict) or set(body) != {want}:
            raise RequestError(
                f'the body must be a JSON object {{"{want}": [...]}} for this {self.kind} model'
            )
        return self._examples(body[want], want)

    def parse_hub(self, body):
        """The examples of PaddleHub's serving body {"data": [[text], [text_a, text_b], ...]} (question
        answering: [question, context]; other keys PaddleHub sends, e.g. batch_size, are ignored)."""
        if not isinstance(body, dict) or "data" not in body:
            raise RequestError('the body must be a JSON object {"data": [[text], ...]}')
        data = body["data"]
        if self.task.stdin == "qa" and isinstance(data, list):
            if not all(isinstance(d, list) and len(d) == 2 for d in data):
                raise RequestError("data: each item must be [question, context]")
            data = [{"question": q, "context": c} for q, c in data]
        elif isinstance(data, list):
            data = [d[0] if isinstance(d, list) and len(d) == 1 else d for d in data]
        return self._examples(data, "data")

    def _examples(self, items, key):
        if not isinstance(items, list) or not items:
            raise RequestError(f"{key} must be a non-empty list")
        if len(items) > MAX_REQUEST_TEXTS:
            raise RequestError(
                f"at most {MAX_REQUEST_TEXTS} items per request, got {len(items)}: split the request"
            )
        try:
            if self.task.stdin in ("qa", "multiple-choice"):
                if not all(isinstance(item, dict) for item in items):
                    raise RequestError(f"{key}: each item must be a JSON object")
                return self.task.read_lines([json.dumps(item, ensure_ascii=False) for item in items], key)
            return [self._text_example(item, f"{key}[{i}]") for i, item in enumerate(items)]
        except DataError as e:
            raise RequestError(str(e)) from None

    def _text_example(self, item, where):
        texts = [item] if isinstance(item, str) else item
        pairs = self.task.stdin == "text"
        if not isinstance(texts, list) or not 1 <= len(texts) <= (2 if pairs else 1):
            raise RequestError(f"{where}: give a text{' or [text_a, text_b]' if pairs else ''}")
        if not all(isinstance(t, str) and t.strip() for t in texts):
            raise RequestError(f"{where}: texts must be non-empty strings")
        return split_words(texts[0]) if self.task.stdin == "words" else Example(*texts)

    # ---- the three stages ---------------------------------------------------------------------
    def prepare(self, examples):
        """(rows, state): the model inputs of the examples (one or more rows each)."""
        return self.task.encode(examples, self.tokenizer, self.max_seq_length)

    def run(self, rows, batch_size=32):
        """The model's outputs per row: rows of similar length batched together, each batch padded
        to a multiple of PAD_TO tokens (see `padded_length`)."""
        return predict_items(self.predictor, rows, batch_size, length=self.padded_length)

    def padded_length(self, longest):
        """Batches are padded to a multiple of PAD_TO tokens (at most max_seq_length): a server
        then sees a few input shapes, all of them run at warm-up, so neither latency (a new shape's
        first run) nor memory (the engines keep every shape's kernels) grows after start-up."""
        return max(longest, min(-(-longest // PAD_TO) * PAD_TO, self.max_seq_length))

    def finish(self, examples, rows, state, outputs, hub=False):
        """The records as `predict` writes them, or with `hub` PaddleHub's per-item results (the
        module's `predict`); values may be numpy arrays and scalars."""
        predictions = self.task.decode(examples, rows, state, outputs)
        if hub:
            return [p[self.task.hub_field] for p in predictions]
        return [self.task.format(e, p) for e, p in zip(examples, predictions)]

    def predict(self, examples, hub=False):
        """`finish(prepare(...))` in one go."""
        rows, state = self.prepare(examples)
        return self.finish(examples, rows, state, self.run(rows), hub)

    def warm_up(self, max_batch_size):
        """Every input shape a batch can have run once (batch 1 .. max_batch_size, each padded
        length): the engine timed first for each size class the export has no choice for yet; then
        one request from end to end (the tokenizer's and the decoder's first use)."""
        lengths = sorted({self.padded_length(n) for n in range(1, self.max_seq_length + 1)})
        self.predictor.warm_up(range(1, max_batch_size + 1), lengths)
        key = BODY_KEYS[self.task.stdin]
        self.predict(self.parse({key: WARM_UP_ITEMS[key]}))
