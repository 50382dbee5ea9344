"""Deprecated: moved to `paddle_electra.sources.zoo`."""

from paddle_electra.utils.deprecation import moved

__getattr__ = moved(__name__, "paddle_electra.sources.zoo", ["paddle_electra.sources.zoo"])
