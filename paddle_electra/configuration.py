"""ElectraConfig: paddlenlp's ELECTRA config (model_type "electra") with the original code's defaults."""
from paddlenlp.transformers import ElectraConfig as _PaddleNLPElectraConfig

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
        kwargs = {k: v for k, v in original.items() if k in known}
        kwargs.update(overrides)
        return cls(**kwargs)

    def architecture(self):
        """The architecture fields as a dict (what must agree with a checkpoint)."""
        return {k: getattr(self, k) for k in ARCHITECTURE_KEYS}
