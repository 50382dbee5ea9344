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
import logging
import os
import sys
import tempfile
import warnings

VERBOSE_ENV = "PADDLE_ELECTRA_VERBOSE"


def verbose():
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def configure_output(verbose):
    """Results on stdout; on stderr our notices (INFO and up) and, with `verbose` only, what the
    libraries log and warn about (the C++ lines too: `native_output`). Each process of the command
    line calls it (its worker processes too)."""
    if verbose:
        os.environ[VERBOSE_ENV] = "1"
    else:  # other modules' warnings (deprecations inside paddle/paddlehub, pkg_resources notices)
        warnings.filterwarnings("ignore", module=r"(?!paddle_electra)")
    # Paddle gives the root logger its own handler (timestamps, file:line) when imported: ours replaces it
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s: %(message)s", force=True
    )
    for name in ("paddle_electra", "paddle_electra_convert"):
        logging.getLogger(name).setLevel(logging.INFO)
    from paddlenlp.utils.log import logger as paddlenlp_logger

    paddlenlp_logger.set_level("INFO" if verbose else "WARNING")


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
