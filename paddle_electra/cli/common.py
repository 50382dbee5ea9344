"""What the command handlers share: the usage error, model names to directories, text arguments."""

import os

from paddle_electra.utils.errors import PaddleElectraError


class UsageError(PaddleElectraError):
    """Bad input to a command: printed as one `error:` line, exit status 2."""


def model_dir(path, tower="discriminator", made_by="paddle-electra convert"):
    """The model directory `path` names: the directory itself, or a zoo name / Hub repo id fetched
    and converted into the cache on first use (that `tower` of a zoo model); else a one-line
    UsageError naming the fix."""
    from paddle_electra.sources.pretrained import resolve

    path = resolve(path, tower)
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise UsageError(
            f"{path} is not a model directory (no config.json): pass a directory written by `{made_by}`, "
            "or a model name (list: paddle-electra zoo)"
        )
    return path


def utf8_texts(texts):
    """The text arguments, or a UsageError naming the first one that is not UTF-8 (bytes that do
    not decode arrive as lone surrogates)."""
    for i, text in enumerate(texts):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise UsageError(
                f"text argument {i + 1} is not UTF-8 (byte 0x{ord(text[e.start]) & 0xFF:02x} at character "
                f"{e.start}): pass UTF-8 text"
            ) from None
    return texts
