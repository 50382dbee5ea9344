"""The two pretrained towers at work, on raw text.

    fill = FillMask.from_pretrained("converted/generator")
    fill(["今天[MASK]气很好"], top_k=5)   # per text, per [MASK]: [(token, probability), ...]
    rtd = ReplacedTokenDetection.from_pretrained("converted/discriminator")
    rtd(["今天天汽很好"])                  # per text: tokens, character spans, P(replaced) per token

Both pad each batch only to its longest text and group texts by length, and run the model through
a `Predictor` (the fast static path by default; runtime={"backend": "dygraph"} runs the Layer itself).
Texts longer than `max_length` tokens (with [CLS] and [SEP]): rtd runs overlapping windows and
gives every token the probability from the window where it has the most context on both sides;
fill-mask answers the [MASK]s of the first window and logs a warning saying how many it dropped.
"""

import logging

import numpy as np

from paddle_electra.models.modeling import ElectraDiscriminator, ElectraGenerator
from paddle_electra.models.tokenizer import ElectraTokenizer
from paddle_electra.runtime.batching import predict_items
from paddle_electra.runtime.predictor import Predictor
from paddle_electra.sources.pretrained import resolve
from paddle_electra.tasks.windows import windows
from paddle_electra.utils.numeric import log_softmax, sigmoid

logger = logging.getLogger(__name__)


class _Pipeline:
    model_class = None

    def __init__(self, model, tokenizer, runtime=None):
        """model: a Layer or a directory; runtime: Predictor options (backend, precision, threads, device)."""
        self.predictor, self.tokenizer = Predictor(model, **(runtime or {})), tokenizer

    @classmethod
    def from_pretrained(cls, directory, runtime=None):
        """`directory`: a model directory, a zoo name or a Hub repo id (paddle_electra.sources.pretrained)."""
        directory = resolve(directory, cls.model_class.pretrained_tower)
        return cls(
            cls.model_class.from_pretrained(directory), ElectraTokenizer.from_pretrained(directory), runtime
        )

    def _run(self, items, batch_size, on_batch):
        return predict_items(
            self.predictor,
            items,
            batch_size,
            keys=("input_ids",),
            on_batch=lambda batch, out: on_batch(batch, out[0]),
        )


class FillMask(_Pipeline):
    """The generator's top-k candidates, with probabilities, for every [MASK] in each text."""

    model_class = ElectraGenerator

    def __call__(self, texts, top_k=5, batch_size=8, max_length=512):
        mask_id = self.tokenizer.mask_token_id
        items = [
            {"input_ids": ids}
            for ids in self.tokenizer.encode_batch(texts, max_length=max_length)["input_ids"]
        ]
        for i, (text, item) in enumerate(zip(texts, items)):
            dropped = text.count(self.tokenizer.mask_token) - item["input_ids"].count(mask_id)
            if dropped > 0:
                logger.warning(
                    "text %d: %d of its [MASK]s lie beyond the first %d tokens and get no candidates: "
                    "split the text",
                    i + 1,
                    dropped,
                    max_length,
                )

        def on_batch(batch, logits):
            results = []
            for row, item in enumerate(batch):
                per_mask = []
                for p in (i for i, t in enumerate(item["input_ids"]) if t == mask_id):
                    probs = np.exp(log_softmax(logits[row, p]))
                    best = np.argsort(-probs, kind="stable")[:top_k]
                    per_mask.append(
                        list(zip(self.tokenizer.convert_ids_to_tokens(best.tolist()), probs[best].tolist()))
                    )
                results.append(per_mask)
            return results

        return self._run(items, batch_size, on_batch)


class ReplacedTokenDetection(_Pipeline):
    """The discriminator's probability that each token was replaced (sigmoid of the RTD logit)."""

    model_class = ElectraDiscriminator

    def __call__(self, texts, batch_size=8, max_length=512):
        """Per text: its tokens (with [CLS] and [SEP]), their character spans and P(replaced);
        a text longer than `max_length` tokens is run in overlapping windows (module doc)."""
        cls_id, sep_id, body = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id, max_length - 2
        encoded = [self.tokenizer.encode_with_spans(text) for text in texts]
        items, plans = [], []
        for ids, spans in encoded:
            starts, best = windows(len(ids), body)
            plans.append((len(items), best, starts))
            items += [{"input_ids": [cls_id] + ids[s : s + body] + [sep_id]} for s in starts]
        window_probs = self._run(
            items,
            batch_size,
            lambda batch, logits: [
                sigmoid(logits[row, : len(item["input_ids"])]) for row, item in enumerate(batch)
            ],
        )
        results = []
        for (ids, spans), (first, best, starts) in zip(encoded, plans):
            mine = window_probs[first : first + len(starts)]
            probs = [mine[0][0]] + [mine[w][1 + i - starts[w]] for i, w in enumerate(best)] + [mine[-1][-1]]
            results.append(
                {
                    "tokens": self.tokenizer.convert_ids_to_tokens([cls_id] + ids + [sep_id]),
                    "spans": [None] + spans + [None],
                    "probs": [float(p) for p in probs],
                }
            )
        return results
