"""The one base of paddle-electra's own errors: bad input, a missing file, a model that cannot run as
asked. Each message names the problem and the fix, in one line; the CLI prints it as `error: ...`
and exits 2. Callers catch `PaddleElectraError`; each layer raises its own subclass
(`DataError`, `LoadError`, `InferenceError`, `OutputError`, `FetchError`, `ConversionError`, ...),
which also keeps the built-in class it always had (ValueError or RuntimeError)."""


class PaddleElectraError(Exception):
    """Base of every error paddle-electra raises on purpose (see the module docstring)."""
