"""Other libraries' own output kept out of the way of results.

Paddle's C++ code logs through glog straight to file descriptor 2 (e.g. `W... eager_utils.cc...
PIR not support input out tensor` while a model is exported) and paddle2onnx prints its progress to
descriptor 1; no Python-level setting reaches either once paddle is imported. `native_output()`
captures both descriptors during a block: the text is dropped when the block succeeds and written
to stderr when it fails, so an error still shows its cause. Verbose (PADDLE_ELECTRA_VERBOSE=1, set
by the command line's --verbose) passes the text through to stderr instead, never to stdout, where
the command line prints its results. The descriptors are the process's: output that another
thread writes during the block is captured with it.
"""

import contextlib
import os
import sys
import tempfile

VERBOSE_ENV = "PADDLE_ELECTRA_VERBOSE"


def verbose():
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


@contextlib.contextmanager
def native_output():
    """Capture what is written to file descriptors 1 and 2 during the block (see the module)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as sink:
        target = saved_err if verbose() else sink.fileno()
        os.dup2(target, 1)
        os.dup2(target, 2)
        failed = True
        try:
            yield
            failed = False
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            if failed and target == sink.fileno():
                sink.seek(0)
                sys.stderr.write(sink.read().decode("utf-8", "replace"))
                sys.stderr.flush()
