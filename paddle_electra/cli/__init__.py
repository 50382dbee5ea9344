"""The `paddle-electra` command: one module per command group, each registering its sub-commands."""

from paddle_electra.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
