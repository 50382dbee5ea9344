"""Deprecated: moved to `paddle_electra.training.finetune`."""

from paddle_electra.utils.deprecation import moved

__getattr__ = moved(
    __name__,
    "paddle_electra.training.finetune",
    [
        "paddle_electra.training.finetune",
        "paddle_electra.training.trainer",
        "paddle_electra.tasks",
    ],
)
