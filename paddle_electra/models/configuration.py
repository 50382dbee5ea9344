"""ElectraConfig: paddlenlp's ELECTRA config (model_type "electra") with the original code's defaults."""

import json
import numbers

from paddlenlp.transformers import ElectraConfig as _PaddleNLPElectraConfig

from paddle_electra.models.weights import LoadError

# The fields that fix an ELECTRA tower's architecture (the rest are training-time settings).
ARCHITECTURE_KEYS = (
    "vocab_size",
    "embedding_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "max_position_embeddings",
    "type_vocab_size",
)


class ElectraConfig(_PaddleNLPElectraConfig):
    """Configuration of one ELECTRA tower (discriminator or generator).

    Defaults are chinese-electra-base's discriminator. Saved as config.json with model_type
    "electra", so paddlenlp's own ELECTRA classes read it too. LayerNorm epsilon is 1e-12 as in
    the original TF code.
    """

    def __init__(
        self,
        vocab_size=21128,
        embedding_size=None,
        hidden_size=768,
        classifier_head="original",
        qa_head="original",
        beam_size=20,
        answerable_weight=0.5,
        **kwargs,
    ):
        # The original BERT-style json files may omit embedding_size: then it equals hidden_size.
        super().__init__(
            vocab_size=vocab_size,
            embedding_size=hidden_size if embedding_size is None else embedding_size,
            hidden_size=hidden_size,
            **kwargs,
        )
        # Task-head options (see heads.py), declared here so from_pretrained(dir, qa_head=...) sets them.
        self.classifier_head = classifier_head  # "original" (ELECTRA) or "two_layer" (HF / KoELECTRA)
        self.qa_head = qa_head  # "original" (ELECTRA's beam head) or "linear"
        self.beam_size = beam_size  # QA: best starts x best ends kept at inference
        self.answerable_weight = answerable_weight  # QA: weight of the answerability loss
        problem = config_problem(self.to_dict())
        if problem:
            raise LoadError(f"invalid ELECTRA config: {problem}")

    @classmethod
    def from_original(cls, original: dict, **overrides):
        """Build from a google-research/electra or HF transformers config dict (same key names)."""
        known = set(ARCHITECTURE_KEYS) | {
            "hidden_act",
            "hidden_dropout_prob",
            "attention_probs_dropout_prob",
            "initializer_range",
            "layer_norm_eps",
            "pad_token_id",
        }
        if not isinstance(original, dict):
            raise LoadError(f"invalid ELECTRA config: a JSON {type(original).__name__} instead of an object")
        kwargs = {k: v for k, v in original.items() if k in known}
        kwargs.update(overrides)
        return cls(**kwargs)

    def architecture(self):
        """The architecture fields as a dict (what must agree with a checkpoint)."""
        return {k: getattr(self, k) for k in ARCHITECTURE_KEYS}


POSITIVE_INTS = ARCHITECTURE_KEYS  # every architecture field is a size
PROBABILITIES = ("hidden_dropout_prob", "attention_probs_dropout_prob")


def config_problem(config):
    """What makes a config dict unusable (None if nothing): not an object, a size that is not a
    positive integer, a dropout outside [0, 1), hidden_size not divisible by num_attention_heads."""
    if not isinstance(config, dict):
        return f"a JSON {type(config).__name__} instead of an object"
    for key in POSITIVE_INTS:
        value = config.get(key)
        if key in config and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            return f"{key} must be a positive integer, got {value!r}"
    for key in PROBABILITIES:
        value = config.get(key)
        if key in config and (
            not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0 <= value < 1
        ):
            return f"{key} must be a number in [0, 1), got {value!r}"
    if "hidden_act" in config and not isinstance(config["hidden_act"], str):
        return f"hidden_act must be a string such as 'gelu', got {config['hidden_act']!r}"
    hidden, heads = config.get("hidden_size", 768), config.get("num_attention_heads", 12)
    if hidden % heads:
        return f"hidden_size {hidden} is not divisible by num_attention_heads {heads}"
    return None


def read_config(path):
    """The dict in a model directory's config.json; LoadError naming `path` and the problem if it
    cannot make a model."""
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as e:  # ValueError: not JSON, not UTF-8
        raise LoadError(
            f"cannot read {path} ({e}): write it again (`paddle-electra convert` or `finetune`)"
        ) from None
    problem = config_problem(config)
    if problem:
        raise LoadError(f"{path}: {problem}: fix it or write the model directory again")
    return config
