"""Overlapping windows over a sequence longer than the model reads at once.

Classification and tagging read a long text in windows of `body` tokens, each starting `stride`
tokens after the previous one (the last one ending at the text's end), as reading comprehension
does with its contexts; replaced-token detection does the same over a long text. A token's result
comes from the window where it has the most context on both sides (`best`).
"""

from paddle_electra.tasks.readers import DataError

LONG_TEXT = ("window", "truncate")  # --long-text: what a text longer than max_seq_length gets


def windows(n, body, stride=None):
    """(starts, best): the start of each window of `body` tokens over `n` tokens, `stride` apart
    (default half a window; the last one ends at `n`), and for each token the window where it is
    farthest from both edges."""
    stride = max(1, min(stride or body // 2, body))
    starts = list(range(0, max(n - body, 0) + 1, stride))
    if starts[-1] + body < n:
        starts.append(n - body)
    best = [
        max(
            range(len(starts)),
            key=lambda w: (
                min(i - starts[w], starts[w] + body - 1 - i) if starts[w] <= i < starts[w] + body else -1
            ),
        )
        for i in range(n)
    ]
    return starts, best


def check_long_text(value):
    """The --long-text value, or a DataError naming the choices."""
    if value not in LONG_TEXT:
        raise DataError(f"--long-text must be one of {', '.join(LONG_TEXT)}, got {value!r}")
    return value
