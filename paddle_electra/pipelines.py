"""The two pretrained towers at work, on raw text.

    fill = FillMask.from_pretrained("converted/generator")
    fill(["今天[MASK]气很好"], top_k=5)   # per text, per [MASK]: [(token, probability), ...]
    rtd = ReplacedTokenDetection.from_pretrained("converted/discriminator")
    rtd(["今天天汽很好"])                  # per text: tokens, character spans, P(replaced) per token

Both pad each batch only to its longest text and group texts by length.
"""
import numpy as np
import paddle
import paddle.nn.functional as F

from .batching import pad, run_bucketed
from .modeling import ElectraDiscriminator, ElectraGenerator
from .tokenizer import ElectraTokenizer


class _Pipeline:
    model_class = None

    def __init__(self, model, tokenizer):
        self.model, self.tokenizer = model, tokenizer
        self.model.eval()

    @classmethod
    def from_pretrained(cls, directory):
        return cls(cls.model_class.from_pretrained(directory), ElectraTokenizer.from_pretrained(directory))

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
        def run_batch(batch):
            ids = paddle.to_tensor(pad([item["input_ids"] for item in batch]))
            mask = paddle.to_tensor(pad([[1] * len(item["input_ids"]) for item in batch]))
            with paddle.no_grad():
                return on_batch(batch, self.model(ids, paddle.zeros_like(ids), mask))

        return run_bucketed(items, batch_size, lambda item: len(item["input_ids"]), run_batch)


class FillMask(_Pipeline):
    """The generator's top-k candidates, with probabilities, for every [MASK] in each text."""

    model_class = ElectraGenerator

    def __call__(self, texts, top_k=5, batch_size=8, max_length=512):
        mask_id = self.tokenizer.mask_token_id
        items = self._encode(texts, max_length)

        def on_batch(batch, logits):
            probs, ids = paddle.topk(F.softmax(logits, axis=-1), k=top_k)
            probs, ids = probs.numpy(), ids.numpy()
            results = []
            for row, item in enumerate(batch):
                positions = [i for i, t in enumerate(item["input_ids"]) if t == mask_id]
                results.append([
                    list(zip(self.tokenizer.convert_ids_to_tokens(ids[row, p].tolist()), probs[row, p].tolist()))
                    for p in positions
                ])
            return results

        return self._run(items, batch_size, on_batch)


class ReplacedTokenDetection(_Pipeline):
    """The discriminator's probability that each token was replaced (sigmoid of the RTD logit)."""

    model_class = ElectraDiscriminator

    def __call__(self, texts, batch_size=8, max_length=512):
        items = self._encode(texts, max_length)

        def on_batch(batch, logits):
            probs = F.sigmoid(logits).numpy()
            return [
                {
                    "tokens": self.tokenizer.convert_ids_to_tokens(item["input_ids"]),
                    "spans": item["spans"],
                    "probs": probs[row, : len(item["input_ids"])].astype(np.float64).tolist(),
                }
                for row, item in enumerate(batch)
            ]

        return self._run(items, batch_size, on_batch)
