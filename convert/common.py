"""What both converters share: their error type and the all-or-nothing output directory."""
import contextlib
import os
import shutil
import tempfile


class ConversionError(Exception):
    """A checkpoint or its files cannot be converted; the message says what is wrong and how to fix it."""


@contextlib.contextmanager
def atomic_output_dir(out_dir, overwrite=False):
    """Yield a temporary directory that becomes `out_dir` only if the block finishes without error."""
    out_dir = os.path.abspath(out_dir)
    if os.path.exists(out_dir) and (not os.path.isdir(out_dir) or os.listdir(out_dir)) and not overwrite:
        raise ConversionError(f"output directory {out_dir} already exists and is not empty: pass --overwrite or choose another")
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.partial-", dir=parent)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)


def empty_model(model_cls, config):
    """`model_cls(config)` without random initialisation (its weights are about to be overwritten)."""
    from paddlenlp.transformers.model_utils import no_init_weights

    with no_init_weights():
        return model_cls(config)


def check_shapes(model, found_shapes, what, config_flag):
    """`found_shapes`: our parameter name -> (source name, shape or None if absent). One clear error
    for missing variables or shapes that disagree with the config."""
    expected = {name: tuple(p.shape) for name, p in model.state_dict().items()}
    missing = [src for ours, (src, shape) in found_shapes.items() if shape is None]
    if missing:
        raise ConversionError(
            f"the checkpoint lacks {len(missing)} variable(s) the {what} config needs, e.g. {missing[0]}: "
            f"check that the checkpoint and {config_flag} belong together"
        )
    for ours, (src, shape) in found_shapes.items():
        if tuple(shape) != expected[ours]:
            raise ConversionError(
                f"{src} has shape {tuple(shape)} but the {what} config implies {expected[ours]}: "
                f"the config does not match the checkpoint, pass the right {config_flag}"
            )


def save_model_dir(model, weights, vocab_file, do_lower_case, out_dir):
    """Load `weights` (our names -> numpy arrays) into `model` and save a complete model directory:
    config.json, model.safetensors, vocab.txt, tokenizer_config.json."""
    from paddle_electra.tokenizer import save_tokenizer

    expected = set(model.state_dict())
    missing, unexpected = expected - set(weights), set(weights) - expected
    if missing or unexpected:  # the name table and the model disagree: a bug, not a user error
        raise RuntimeError(f"internal name mismatch: missing {sorted(missing)}, unexpected {sorted(unexpected)}")
    model.set_state_dict(weights)
    model.config.architectures = [type(model).__name__]
    model.save_pretrained(out_dir, safe_serialization=True)
    save_tokenizer(vocab_file, out_dir, do_lower_case=do_lower_case)


SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def check_vocab(vocab_file, vocab_size):
    if not vocab_file or not os.path.isfile(vocab_file):
        raise ConversionError(f"vocabulary file {vocab_file} not found: pass --vocab path/to/vocab.txt")
    with open(vocab_file, encoding="utf-8") as f:
        tokens = f.read().rstrip("\n").split("\n")  # one token a line; some tokens are whitespace
    if len(tokens) != vocab_size:
        raise ConversionError(
            f"{vocab_file} has {len(tokens)} tokens but the model's vocab_size is {vocab_size}: pass the vocab.txt released with this checkpoint"
        )
    missing = [t for t in SPECIAL_TOKENS if t not in set(tokens)]
    if missing:
        raise ConversionError(f"{vocab_file} lacks the special token(s) {', '.join(missing)}: pass the vocab.txt released with this checkpoint")
