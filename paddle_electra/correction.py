"""Deprecated: moved to `paddle_electra.pipelines.correction`."""

from paddle_electra.utils.deprecation import moved

__getattr__ = moved(__name__, "paddle_electra.pipelines.correction", ["paddle_electra.pipelines.correction"])
