"""One table of parameter names: ours (= paddlenlp's) <-> original TF checkpoint <-> HF transformers.

Layouts: TF kernels and Paddle `nn.Linear` weights are both [in, out]; HF (PyTorch) Linear weights
are [out, in], so `hf_transposed` marks the entries that need a transpose from HF.
"""

from dataclasses import dataclass

# (ours inside an encoder layer, TF inside layer_N, HF inside layer.N, is a Linear weight)
_LAYER = [
    ("self_attn.q_proj.weight", "attention/self/query/kernel", "attention.self.query.weight", True),
    ("self_attn.q_proj.bias", "attention/self/query/bias", "attention.self.query.bias", False),
    ("self_attn.k_proj.weight", "attention/self/key/kernel", "attention.self.key.weight", True),
    ("self_attn.k_proj.bias", "attention/self/key/bias", "attention.self.key.bias", False),
    ("self_attn.v_proj.weight", "attention/self/value/kernel", "attention.self.value.weight", True),
    ("self_attn.v_proj.bias", "attention/self/value/bias", "attention.self.value.bias", False),
    ("self_attn.out_proj.weight", "attention/output/dense/kernel", "attention.output.dense.weight", True),
    ("self_attn.out_proj.bias", "attention/output/dense/bias", "attention.output.dense.bias", False),
    ("norm1.weight", "attention/output/LayerNorm/gamma", "attention.output.LayerNorm.weight", False),
    ("norm1.bias", "attention/output/LayerNorm/beta", "attention.output.LayerNorm.bias", False),
    ("linear1.weight", "intermediate/dense/kernel", "intermediate.dense.weight", True),
    ("linear1.bias", "intermediate/dense/bias", "intermediate.dense.bias", False),
    ("linear2.weight", "output/dense/kernel", "output.dense.weight", True),
    ("linear2.bias", "output/dense/bias", "output.dense.bias", False),
    ("norm2.weight", "output/LayerNorm/gamma", "output.LayerNorm.weight", False),
    ("norm2.bias", "output/LayerNorm/beta", "output.LayerNorm.bias", False),
]

_EMBEDDINGS = [
    ("word_embeddings.weight", "word_embeddings", "word_embeddings.weight"),
    ("position_embeddings.weight", "position_embeddings", "position_embeddings.weight"),
    ("token_type_embeddings.weight", "token_type_embeddings", "token_type_embeddings.weight"),
    ("layer_norm.weight", "LayerNorm/gamma", "LayerNorm.weight"),
    ("layer_norm.bias", "LayerNorm/beta", "LayerNorm.bias"),
]

# Heads: ours, TF, HF, is a Linear weight.
_HEADS = {
    "discriminator": [
        (
            "discriminator_predictions.dense.weight",
            "discriminator_predictions/dense/kernel",
            "discriminator_predictions.dense.weight",
            True,
        ),
        (
            "discriminator_predictions.dense.bias",
            "discriminator_predictions/dense/bias",
            "discriminator_predictions.dense.bias",
            False,
        ),
        (
            "discriminator_predictions.dense_prediction.weight",
            "discriminator_predictions/dense_1/kernel",
            "discriminator_predictions.dense_prediction.weight",
            True,
        ),
        (
            "discriminator_predictions.dense_prediction.bias",
            "discriminator_predictions/dense_1/bias",
            "discriminator_predictions.dense_prediction.bias",
            False,
        ),
    ],
    "generator": [
        (
            "generator_predictions.dense.weight",
            "generator_predictions/dense/kernel",
            "generator_predictions.dense.weight",
            True,
        ),
        (
            "generator_predictions.dense.bias",
            "generator_predictions/dense/bias",
            "generator_predictions.dense.bias",
            False,
        ),
        (
            "generator_predictions.layer_norm.weight",
            "generator_predictions/LayerNorm/gamma",
            "generator_predictions.LayerNorm.weight",
            False,
        ),
        (
            "generator_predictions.layer_norm.bias",
            "generator_predictions/LayerNorm/beta",
            "generator_predictions.LayerNorm.bias",
            False,
        ),
        ("generator_lm_head_bias", "generator_predictions/output_bias", "generator_lm_head.bias", False),
    ],
    "encoder": [],
    # Fine-tuned task heads of HF transformers (no TF names: the original code saves no such heads).
    # ElectraForSequenceClassification's head is our classifier_head="two_layer".
    "seq-cls": [
        ("dense.weight", "", "classifier.dense.weight", True),
        ("dense.bias", "", "classifier.dense.bias", False),
        ("classifier.weight", "", "classifier.out_proj.weight", True),
        ("classifier.bias", "", "classifier.out_proj.bias", False),
    ],
    "token-cls": [
        ("classifier.weight", "", "classifier.weight", True),
        ("classifier.bias", "", "classifier.bias", False),
    ],
    # ElectraForQuestionAnswering's head is our qa_head="linear".
    "qa": [
        ("qa_outputs.weight", "", "qa_outputs.weight", True),
        ("qa_outputs.bias", "", "qa_outputs.bias", False),
    ],
}

# TF variable scope of each tower's encoder in the original pretraining graph.
TF_SCOPES = {
    "discriminator": "electra",
    "generator": "generator",
    "encoder": "electra",
    "seq-cls": "electra",
    "token-cls": "electra",
    "qa": "electra",
}
# Our models' prefix for the encoder: the bare ElectraModel has none.
OUR_PREFIX = {
    "discriminator": "electra.",
    "generator": "electra.",
    "encoder": "",
    "seq-cls": "electra.",
    "token-cls": "electra.",
    "qa": "electra.",
}


@dataclass(frozen=True)
class Param:
    ours: str
    tf: str
    hf: str  # relative to the HF base-model prefix for encoder weights, absolute for heads
    hf_transposed: bool
    in_encoder: bool


def tower_params(config, tower, tf_embedding_scope="electra"):
    """Every parameter of one tower ('discriminator', 'generator' or bare 'encoder') for `config`.

    `tf_embedding_scope` is where the TF graph keeps this tower's embeddings: "electra" when the
    generator shares the discriminator's (the default of the original code), "generator" when untied.
    """
    scope, ours = TF_SCOPES[tower], OUR_PREFIX[tower]
    params = [
        Param(f"{ours}embeddings.{o}", f"{tf_embedding_scope}/embeddings/{t}", f"embeddings.{h}", False, True)
        for o, t, h in _EMBEDDINGS
    ]
    if config.embedding_size != config.hidden_size:
        params += [
            Param(
                f"{ours}embeddings_project.weight",
                f"{scope}/embeddings_project/kernel",
                "embeddings_project.weight",
                True,
                True,
            ),
            Param(
                f"{ours}embeddings_project.bias",
                f"{scope}/embeddings_project/bias",
                "embeddings_project.bias",
                False,
                True,
            ),
        ]
    for i in range(config.num_hidden_layers):
        params += [
            Param(
                f"{ours}encoder.layers.{i}.{o}",
                f"{scope}/encoder/layer_{i}/{t}",
                f"encoder.layer.{i}.{h}",
                lin,
                True,
            )
            for o, t, h, lin in _LAYER
        ]
    params += [Param(o, t, h, lin, False) for o, t, h, lin in _HEADS[tower]]
    return params


def is_optimizer_state(tf_name):
    """Adam/Adafactor slots, step counters and learning-rate state: not model weights."""
    last = tf_name.rsplit("/", 1)[-1]
    return (
        last in ("adam_m", "adam_v", "Adam", "Adam_1")
        or tf_name in ("global_step",)
        or last.endswith("_power")
    )
