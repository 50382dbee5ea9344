"""float64 numpy helpers that turn logits into probabilities (predict, pipelines, task decoding)."""

import numpy as np


def sigmoid(logits):
    """float64 sigmoid of numpy logits."""
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))


def log_softmax(logits, axis=-1):
    """float64 log-softmax of numpy logits."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(logits, axis=-1):
    """float64 softmax of numpy logits."""
    return np.exp(log_softmax(logits, axis))
