"""Overlapping windows over a sequence longer than the model reads at once.

Classification and tagging read a long text in windows of `body` tokens, each starting `stride`
tokens after the previous one (the last one ending at the text's end), as reading comprehension
does with its contexts; replaced-token detection does the same over a long text. A token's result
comes from the window where it has the most context on both sides (`best`). A tagger trained on
sentences can read a long text sentence by sentence instead (`sentence_windows`).
"""

from paddle_electra.tasks.readers import DataError

# --long-text: what a text longer than max_seq_length gets (sentences: tagging only)
LONG_TEXT = ("window", "sentences", "truncate")
SENTENCE_ENDS = frozenset("。！？!?")
CLOSERS = frozenset("”’」』）)》】\"'")  # closing quotes and brackets stay with the sentence they close


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


def sentence_starts(words):
    """The indices of the words that start a sentence, the first word excepted: each word after a
    run of sentence-final punctuation (。！？!?) and the closing quotes or brackets that follow it."""
    starts, ended = [], False
    for i, word in enumerate(words):
        if ended and word[:1] not in SENTENCE_ENDS | CLOSERS:
            starts.append(i)
        ended = bool(word) and (word[-1] in SENTENCE_ENDS or (ended and word[-1] in CLOSERS))
    return starts


def sentence_windows(n, body, cuts, stride=None):
    """(spans, best): rows over `n` tokens that hold whole sentences, the tokens being cut before
    each index of `cuts`: each sentence is a row of its own, one longer than `body` is read in
    windows (`windows`); spans are (start, end) token ranges, best[i] the span token i is read from."""
    bounds = [0, *sorted({c for c in cuts if 0 < c < n}), n]
    spans, best = [], []
    for a, b in zip(bounds, bounds[1:]):
        starts, inner = windows(b - a, body, stride)
        best += [len(spans) + w for w in inner]
        spans += [(a + s, min(a + s + body, b)) for s in starts]
    return spans, best


def _context(i, start, body):
    """Tokens on the nearer side of token i in the window starting at `start` (-1: not in it)."""
    return min(i - start, start + body - 1 - i) if start <= i < start + body else -1


def check_long_text(value, choices=("window", "truncate")):
    """The --long-text value, or a DataError naming the task's choices."""
    if value not in choices:
        raise DataError(f"--long-text must be one of {', '.join(choices)} for this task, got {value!r}")
    return value
