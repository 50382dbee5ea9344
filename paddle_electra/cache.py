"""The one cache directory: $PADDLE_ELECTRA_CACHE, else ~/.cache/paddle-electra. It holds fetched
assets (LTP-tiny, pycorrector data), the static exports that the predictors make once per model, and
the fused training kernels compiled for this machine (kernels/)."""
import os


def cache_dir():
    return os.environ.get("PADDLE_ELECTRA_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "paddle-electra")
