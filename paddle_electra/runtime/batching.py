"""Dynamic padding with length buckets: every predict path pads a batch only to its own longest
text, and batches texts of similar length together, then returns results in the input order."""

import numpy as np


def pad(sequences, value=0, length=None):
    """List of int lists -> int64 array [n, longest] (or [n, length], at least the longest)."""
    out = np.full((len(sequences), max(length or 0, *(len(s) for s in sequences))), value, dtype="int64")
    for i, s in enumerate(sequences):
        out[i, : len(s)] = s
    return out


def feed(batch, keys=("input_ids", "token_type_ids"), length=None):
    """A batch of items (dicts of id lists) -> padded int64 arrays: every key in `keys`, and for
    each `<prefix>input_ids` key an attention mask (1 on real tokens) and, where the items hold
    none, all-zero token types (prefix "" or, for text matching, "query_" / "title_"). `length`:
    a function(longest item) -> the length to pad to (default: the longest)."""
    longest = max(len(item[key]) for item in batch for key in keys)
    length = length(longest) if length else None
    arrays = {key: pad([item[key] for item in batch], length=length) for key in keys}
    for key in keys:
        if key.endswith("input_ids"):
            prefix = key[: -len("input_ids")]
            arrays[prefix + "attention_mask"] = pad([[1] * len(item[key]) for item in batch], length=length)
            arrays.setdefault(prefix + "token_type_ids", np.zeros_like(arrays[key]))
    return arrays


def bucketed(lengths, batch_size):
    """Yield lists of indices, each a batch of similar lengths (longest first)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def run_bucketed(items, batch_size, length, run_batch):
    """Apply `run_batch(list of items) -> list of per-item results` over length buckets; results in
    input order."""
    results = [None] * len(items)
    for indices in bucketed([length(item) for item in items], batch_size):
        for i, result in zip(indices, run_batch([items[i] for i in indices])):
            results[i] = result
    return results


def predict_items(
    predictor, items, batch_size, keys=("input_ids", "token_type_ids"), on_batch=None, length=None
):
    """Per-item results of `predictor` over `items` (dicts holding id lists under `keys`), padding
    each batch only to its longest item (or to `length(longest)`) and batching items of similar
    length (results in input order). `on_batch(batch, outputs)` turns a batch's numpy outputs into
    per-item results; by default each item gets its row of every output (a tuple when the model
    has several)."""

    def run_batch(batch):
        outputs = predictor(**feed(batch, keys, length))
        if on_batch is not None:
            return on_batch(batch, outputs)
        return list(zip(*outputs)) if len(outputs) > 1 else list(outputs[0])

    return run_bucketed(items, batch_size, lambda item: len(item[keys[0]]), run_batch)
