"""The one cache directory: $PADDLE_ELECTRA_CACHE, else ~/.cache/paddle-electra. It holds fetched
assets (LTP-tiny, the SIGHAN-15 pairs), the static exports that the predictors make once per model, and
the fused training kernels compiled for this machine (kernels/).

Everything enters the cache through `staged(final)`: the block writes into a private `.NAME.partial-*`
folder beside `final`, which is renamed into place only when the block succeeds. Two processes that
fill the same entry at once both succeed: the first rename wins and the other's copy is discarded.
"""
import contextlib
import os
import shutil
import tempfile


def cache_dir():
    return os.environ.get("PADDLE_ELECTRA_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "paddle-electra")


def publish(tmp_dir, final_dir):
    """Rename the finished `tmp_dir` to `final_dir`; if another process published it first, keep
    theirs and remove `tmp_dir`. Returns `final_dir`."""
    try:
        os.rename(tmp_dir, final_dir)
    except OSError:
        if not os.path.isdir(final_dir):
            raise
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return final_dir


@contextlib.contextmanager
def staged(final_dir):
    """Yield a temporary folder beside `final_dir`; on success it is published as `final_dir`
    (see `publish`), on any error it is removed and `final_dir` is left as it was."""
    parent = os.path.dirname(os.path.abspath(final_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(final_dir)}.partial-", dir=parent)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    publish(tmp, final_dir)
