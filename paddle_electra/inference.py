"""Deprecated: moved to `paddle_electra.runtime` (export.py, engines.py, predictor.py, batching.py)."""

from paddle_electra.utils.deprecation import moved

__getattr__ = moved(
    __name__,
    "paddle_electra.runtime",
    [
        "paddle_electra.runtime",
        "paddle_electra.runtime.predictor",
        "paddle_electra.runtime.export",
        "paddle_electra.runtime.engines",
        "paddle_electra.runtime.batching",
        "paddle_electra.utils.numeric",
        "paddle_electra.utils.cpuinfo",
    ],
)
