"""A long-running process's memory: the start-up heap kept out of the garbage collector's way, and
freed memory given back to the system.

Python's full garbage collection walks every tracked object; a serving worker holds about 400,000
after start-up (Paddle, paddlenlp, the web stack), and a full collection, which allocation-heavy
request handling triggers from time to time, then stops the worker for 280-370 ms (measured
with another job on the same cores): the slowest answers under load.
`freeze_start_up_objects` moves them where collections never look.

Giving freed memory back to the system. A long-running process that allocates and frees in
several threads (a server: Paddle's buffers in the model thread, requests in the event loop) makes
glibc's heap grow with freed blocks it keeps: measured, a serving worker grew by about 2 MB per
1,000 requests without `release_freed_memory` every few hundred batches, and stayed flat with it
(docs/serving.md)."""

import ctypes
import ctypes.util
import functools
import gc


@functools.lru_cache(maxsize=None)
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to do
        return None


def release_freed_memory():
    """glibc's malloc_trim(0): the free memory of every heap back to the system (a few ms); a no-op
    without glibc. Returns whether anything ran."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def freeze_start_up_objects():
    """Collect once, then gc.freeze(): the objects that exist now are never scanned again, so later
    collections walk only what requests made. Call it once start-up (imports, model, warm-up) is done."""
    gc.collect()
    gc.freeze()
