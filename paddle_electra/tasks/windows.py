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
    best = []
    for i in range(n):  # only the windows holding token i: those on the stride grid, and the last one
        grid = range(max(0, -(-(i - body + 1) // stride)), min(i // stride, len(starts) - 1) + 1)
        candidates = sorted({*grid, len(starts) - 1})  # ascending: ties go to the first window
        best.append(max(candidates, key=lambda w: _context(i, starts[w], body)))
    return starts, best


def _context(i, start, body):
    """Tokens on the nearer side of token i in the window starting at `start` (-1: not in it)."""
    return min(i - start, start + body - 1 - i) if start <= i < start + body else -1


def check_long_text(value):
    """The --long-text value, or a DataError naming the choices."""
    if value not in LONG_TEXT:
        raise DataError(f"--long-text must be one of {', '.join(LONG_TEXT)}, got {value!r}")
    return value
