"""The two pretrained towers at work, on raw text.

    fill = FillMask.from_pretrained("converted/generator")
    fill(["今天[MASK]气很好"], top_k=5)   # per text, per [MASK]: [(token, probability), ...]
    rtd = ReplacedTokenDetection.from_pretrained("converted/discriminator")
    rtd(["今天天汽很好"])                  # per text: tokens, character spans, P(replaced) per token

Both pad each batch only to its longest text and group texts by length, and run the model through
a `Predictor` (the fast static path by default; runtime={"backend": "dygraph"} runs the Layer itself).
"""
import numpy as np

from .inference import Predictor, log_softmax, predict_items, sigmoid
from .modeling import ElectraDiscriminator, ElectraGenerator
from .pretrained import resolve
from .tokenizer import ElectraTokenizer


class _Pipeline:
    model_class = None

    def __init__(self, model, tokenizer, runtime=None):
        """model: a Layer or a directory; runtime: Predictor options (backend, precision, threads, device)."""
        self.predictor, self.tokenizer = Predictor(model, **(runtime or {})), tokenizer

    @classmethod
    def from_pretrained(cls, directory, runtime=None):
        """`directory`: a model directory, a zoo name or a Hub repo id (paddle_electra.pretrained)."""
        directory = resolve(directory, cls.model_class.pretrained_tower)
        return cls(cls.model_class.from_pretrained(directory), ElectraTokenizer.from_pretrained(directory), runtime)

    def _encode(self, texts, max_length):
        items = []
        for text in texts:
            ids, spans = self.tokenizer.encode_with_spans(text)
            ids, spans = ids[: max_length - 2], spans[: max_length - 2]
            # character span of each token in `text`; None for [CLS] / [SEP]
            items.append({"input_ids": [self.tokenizer.cls_token_id] + ids + [self.tokenizer.sep_token_id],
                          "spans": [None] + spans + [None]})
        return items

    def _run(self, items, batch_size, on_batch):
        return predict_items(self.predictor, items, batch_size, keys=("input_ids",), on_batch=lambda batch, out: on_batch(batch, out[0]))


class FillMask(_Pipeline):
    """The generator's top-k candidates, with probabilities, for every [MASK] in each text."""

    model_class = ElectraGenerator

    def __call__(self, texts, top_k=5, batch_size=8, max_length=512):
        mask_id = self.tokenizer.mask_token_id
        items = [{"input_ids": ids} for ids in self.tokenizer.encode_batch(texts, max_length=max_length)["input_ids"]]

        def on_batch(batch, logits):
            results = []
            for row, item in enumerate(batch):
                per_mask = []
                for p in (i for i, t in enumerate(item["input_ids"]) if t == mask_id):
                    probs = np.exp(log_softmax(logits[row, p]))
                    best = np.argsort(-probs, kind="stable")[:top_k]
                    per_mask.append(list(zip(self.tokenizer.convert_ids_to_tokens(best.tolist()), probs[best].tolist())))
                results.append(per_mask)
            return results

        return self._run(items, batch_size, on_batch)


class ReplacedTokenDetection(_Pipeline):
    """The discriminator's probability that each token was replaced (sigmoid of the RTD logit)."""

    model_class = ElectraDiscriminator

    def __call__(self, texts, batch_size=8, max_length=512):
        items = self._encode(texts, max_length)

        def on_batch(batch, logits):
            probs = sigmoid(logits)
            return [
                {
                    "tokens": self.tokenizer.convert_ids_to_tokens(item["input_ids"]),
                    "spans": item["spans"],
                    "probs": probs[row, : len(item["input_ids"])].tolist(),
                }
                for row, item in enumerate(batch)
            ]

        return self._run(items, batch_size, on_batch)
