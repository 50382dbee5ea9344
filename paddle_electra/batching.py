"""Dynamic padding with length buckets: every predict path pads a batch only to its own longest
text, and batches texts of similar length together, then returns results in the input order."""
import numpy as np


def pad(sequences, value=0):
    """List of int lists -> int64 array [n, longest]."""
    out = np.full((len(sequences), max(len(s) for s in sequences)), value, dtype="int64")
    for i, s in enumerate(sequences):
        out[i, : len(s)] = s
    return out


def bucketed(lengths, batch_size):
    """Yield lists of indices, each a batch of similar lengths (longest first)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def run_bucketed(items, batch_size, length, run_batch):
    """Apply `run_batch(list of items) -> list of per-item results` over length buckets; results in input order."""
    results = [None] * len(items)
    for indices in bucketed([length(item) for item in items], batch_size):
        for i, result in zip(indices, run_batch([items[i] for i in indices])):
            results[i] = result
    return results
