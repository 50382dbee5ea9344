"""ELECTRA generator and discriminator in Paddle, numerically following google-research/electra.

Numerics of the original TF code kept here: exact (erf) GELU, LayerNorm epsilon 1e-12 everywhere,
an additive key mask of -10000 on padded positions, embeddings = word + token type + position,
a post-LN Transformer encoder, and an `embeddings_project` whenever embedding_size != hidden_size.

Parameter names equal paddlenlp's `ElectraModel` / `ElectraDiscriminator` / `ElectraGenerator`
(both build on `paddle.nn.TransformerEncoderLayer`), so saved weights load there too.
"""

import logging
import os

import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddlenlp.transformers import PretrainedModel, register_base_model
from paddlenlp.transformers.model_outputs import BaseModelOutput

from paddle_electra.models.architecture import check_architecture, safetensors_shapes
from paddle_electra.models.configuration import ElectraConfig, read_config
from paddle_electra.models.weights import SAFE_WEIGHTS, LoadError, pretrained_weights
from paddle_electra.sources.pretrained import resolve

logger = logging.getLogger(__name__)

# The original code masks padded keys by adding this to the attention scores.
MASK_ADDER = -10000.0


def _tower_fix(need, tower):
    """What to do when a directory lacks a tower's head: how to get that tower."""
    return (
        f"{need}: pass a {tower}, e.g. a zoo name (`paddle-electra zoo`; its {tower} is loaded), "
        f"`paddle-electra download NAME --tower {tower}`, or the release's {tower} checkpoint "
        f"(`paddle-electra convert tf` writes DIR/{tower})"
    )


class ElectraEmbeddings(nn.Layer):
    """word + token type + position embeddings, then LayerNorm and dropout (width embedding_size)."""

    def __init__(self, config: ElectraConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.embedding_size)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.embedding_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.embedding_size)
        self.layer_norm = nn.LayerNorm(config.embedding_size, epsilon=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids, token_type_ids):
        return self.dropout(self.layer_norm(self.sum(input_ids, token_type_ids)))

    def sum(self, input_ids, token_type_ids):
        """word + token type + position embeddings, before LayerNorm and dropout."""
        position_ids = paddle.arange(input_ids.shape[1], dtype="int64").unsqueeze(0)
        return (
            self.word_embeddings(input_ids)
            + self.token_type_embeddings(token_type_ids)
            + self.position_embeddings(position_ids)
        )


class ElectraPretrainedModel(PretrainedModel):
    """Shared loading/saving (`from_pretrained(dir)`, `save_pretrained(dir)`) and initialisation."""

    config_class = ElectraConfig
    base_model_prefix = "electra"
    pretrained_tower = "discriminator"  # the tower of a zoo model that from_pretrained(NAME) loads

    # What to do when a directory lacks this class's head (see `_check_head`); the towers say more.
    missing_head_fix = (
        "pass a model fine-tuned with `paddle-electra finetune` (whose head was trained); fine-tuning "
        "from these weights starts a new head"
    )

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path, *args, trust_pickle=False, new_head=False, **kwargs
    ):
        """The model in a directory (config.json + model.safetensors, or model_state.pdparams read
        without running code: see weights.py), or of a model name: a zoo name (`paddle-electra zoo`) or a
        Hugging Face Hub repo id, fetched and converted into the cache on first use
        (paddle_electra.sources.pretrained). `trust_pickle=True` loads a .pdparams with `paddle.load`,
        which runs any code the file holds: only for files you wrote yourself.

        Before anything is built, config.json is checked against the tensor shapes the weight file
        declares (models/architecture.py). Every weight of the class must come from the file: a head
        the directory lacks is a LoadError saying what it holds, unless `new_head=True` (fine-tuning
        starts a task head: one INFO line names it)."""
        directory = resolve(str(pretrained_model_name_or_path), cls.pretrained_tower)
        if not os.path.isdir(directory):
            raise LoadError(
                f"{directory} is not a model directory: "
                "pass a directory written by `paddle-electra convert`, "
                "or a model name (list: paddle-electra zoo)"
            )
        config = read_config(os.path.join(directory, "config.json"))
        if "state_dict" not in kwargs:
            kwargs.update(pretrained_weights(directory, trust_pickle))
        shapes = _declared_shapes(directory, kwargs)
        if shapes is not None:
            check_architecture(config, shapes, directory)
        model = super().from_pretrained(directory, *args, **kwargs)
        if shapes is not None:
            model._check_head(shapes, directory, config, new_head)
        return model

    def _check_head(self, shapes, directory, config, new_head):
        """Every parameter was in the weights; else LoadError (or, for a new head, one INFO line)."""
        have = {_without_prefix(name) for name in shapes}
        missing = [name for name in self.state_dict() if _without_prefix(name) not in have]
        if not missing:
            return
        encoder = [name for name in missing if not hasattr(self, "electra") or name.startswith("electra.")]
        if encoder:
            raise LoadError(
                f"{directory} lacks {len(encoder)} encoder weight(s) of {type(self).__name__}, e.g. "
                f"{encoder[0]}: the weights are incomplete; write the model directory again"
            )
        heads = sorted({name.split(".")[0] for name in missing})
        if new_head:
            logger.info(
                "new task head for %s: %s (%d tensors) start from random weights",
                type(self).__name__,
                ", ".join(heads),
                len(missing),
            )
            return
        held = (config.get("architectures") or ["ElectraModel"])[0]
        raise LoadError(
            f"{directory} holds an {held} without {type(self).__name__}'s head ({', '.join(heads)}): "
            f"{self.missing_head_fix}"
        )

    def _init_weights(self, layer):
        # Weights from a plain normal N(0, initializer_range) as HF transformers draws them (the original
        # TF code truncates that normal at 2 standard deviations), zero biases, LayerNorm 1 and 0.
        if isinstance(layer, (nn.Linear, nn.Embedding)):
            layer.weight.set_value(
                paddle.normal(mean=0.0, std=self.config.initializer_range, shape=layer.weight.shape)
            )
        if isinstance(layer, nn.Linear) and layer.bias is not None:
            layer.bias.set_value(paddle.zeros_like(layer.bias))
        elif isinstance(layer, nn.LayerNorm):
            layer.weight.set_value(paddle.ones_like(layer.weight))
            layer.bias.set_value(paddle.zeros_like(layer.bias))


@register_base_model
class ElectraModel(ElectraPretrainedModel):
    """The ELECTRA encoder: embeddings -> [embeddings_project] -> post-LN Transformer. No pooler.

    `forward` returns the last hidden states [batch, seq_len, hidden_size] (see there).
    """

    def __init__(self, config: ElectraConfig):
        super().__init__(config)
        self.embeddings = ElectraEmbeddings(config)
        if config.embedding_size != config.hidden_size:
            self.embeddings_project = nn.Linear(config.embedding_size, config.hidden_size)
        encoder_layer = nn.TransformerEncoderLayer(
            d_model=config.hidden_size,
            nhead=config.num_attention_heads,
            dim_feedforward=config.intermediate_size,
            dropout=config.hidden_dropout_prob,
            activation=config.hidden_act,
            attn_dropout=config.attention_probs_dropout_prob,
            act_dropout=0,
            layer_norm_eps=config.layer_norm_eps,
        )
        self.encoder = nn.TransformerEncoder(encoder_layer, config.num_hidden_layers)

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value):
        self.embeddings.word_embeddings = value

    def forward(
        self,
        input_ids,
        token_type_ids=None,
        attention_mask=None,
        output_hidden_states=False,
        return_dict=False,
        first_position_only=False,
    ):
        """Encode a batch of token ids.

        Args:
            input_ids: int64 Tensor [batch, seq_len], the token ids.
            token_type_ids: int64 Tensor [batch, seq_len], 0 for the first text and 1 for the
                second of a pair; None: all 0.
            attention_mask: Tensor [batch, seq_len] (int or float), 1 = keep, 0 = padding; None
                attends to every position, as the original code does.
            output_hidden_states: also return every layer's input and output.
            return_dict: return a paddlenlp `BaseModelOutput` (`last_hidden_state`,
                `hidden_states`) instead of a Tensor or tuple.
            first_position_only: the last layer computes the first position ([CLS]) alone
                (`first_position_output`), for heads that read nothing else.

        Returns:
            Tensor [batch, seq_len, hidden_size]: the last hidden states ([batch, 1, hidden_size]
            with `first_position_only`). With `output_hidden_states`, the tuple (last hidden
            states, hidden_states), hidden_states being the embedding output (after
            embeddings_project) and every layer's output: num_hidden_layers + 1 Tensors
            [batch, seq_len, hidden_size].
        """
        if token_type_ids is None:
            token_type_ids = paddle.zeros_like(input_ids)
        if attention_mask is None:
            attention_mask = paddle.ones_like(input_ids)
        # [B, L] keep/pad -> [B, 1, 1, L] added to the attention scores of every head and query.
        key_mask = (1.0 - attention_mask.astype(paddle.get_default_dtype())) * MASK_ADDER
        key_mask = key_mask.unsqueeze([1, 2])

        hidden = self.embeddings(input_ids, token_type_ids)
        if hasattr(self, "embeddings_project"):
            hidden = self.embeddings_project(hidden)
        hidden_states = [hidden]
        last = len(self.encoder.layers) - 1
        for i, layer in enumerate(self.encoder.layers):
            hidden = (
                first_position_output(layer, hidden, key_mask)
                if first_position_only and i == last
                else layer(hidden, key_mask)
            )
            hidden_states.append(hidden)

        if return_dict:
            return BaseModelOutput(
                last_hidden_state=hidden, hidden_states=tuple(hidden_states) if output_hidden_states else None
            )
        return (hidden, tuple(hidden_states)) if output_hidden_states else hidden


def first_position_output(layer, src, key_mask):
    """`layer(src, key_mask)[:, :1]` (a post-LN `nn.TransformerEncoderLayer`) with the work of one
    position: keys and values come from every position of `src`, but the query, the attention
    output, both residual LayerNorms and the feed-forward run for the first row only. A layer the
    fused CPU kernels train through brings its own version (`fused_first_position`)."""
    fused = getattr(layer, "fused_first_position", None)
    out = fused(src, key_mask) if fused is not None else None
    if out is not None:
        return out
    first = src[:, :1]
    h = layer.norm1(first + layer.dropout1(layer.self_attn(first, src, src, key_mask)))
    return layer.norm2(h + layer.dropout2(layer.linear2(layer.dropout(layer.activation(layer.linear1(h))))))


def _encode(electra, input_ids, token_type_ids, attention_mask, output_hidden_states):
    """Run the encoder; return (last hidden states, all hidden states or None)."""
    out = electra(input_ids, token_type_ids, attention_mask, output_hidden_states=output_hidden_states)
    return out if output_hidden_states else (out, None)


def _outputs(logits, hidden_states):
    return logits if hidden_states is None else (logits, hidden_states)


class ElectraDiscriminatorPredictions(nn.Layer):
    """Replaced-token-detection head: dense(H->H) + activation + dense(H->1)."""

    def __init__(self, config: ElectraConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dense_prediction = nn.Linear(config.hidden_size, 1)
        self.activation = config.hidden_act

    def forward(self, hidden):
        return self.dense_prediction(getattr(F, self.activation)(self.dense(hidden))).squeeze(-1)


class ElectraDiscriminator(ElectraPretrainedModel):
    """ELECTRA discriminator: encoder + replaced-token-detection head.

    forward(...) -> RTD logits [batch, seq_len] (sigmoid = probability that the token was
    replaced); with `output_hidden_states`, `(logits, hidden_states)`.
    """

    missing_head_fix = _tower_fix(
        "replaced-token detection and correction need the discriminator's head", "discriminator"
    )

    def __init__(self, config: ElectraConfig):
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.discriminator_predictions = ElectraDiscriminatorPredictions(config)

    def forward(self, input_ids, token_type_ids=None, attention_mask=None, output_hidden_states=False):
        """Replaced-token detection.

        Args:
            input_ids, token_type_ids, attention_mask, output_hidden_states: as `ElectraModel.forward`
                ([batch, seq_len] each).

        Returns:
            Tensor [batch, seq_len]: the RTD logits (sigmoid = P(the token was replaced)); with
            `output_hidden_states`, (logits, hidden_states) as `ElectraModel.forward`.
        """
        hidden, hidden_states = _encode(
            self.electra, input_ids, token_type_ids, attention_mask, output_hidden_states
        )
        return _outputs(self.discriminator_predictions(hidden), hidden_states)


class ElectraGeneratorPredictions(nn.Layer):
    """Masked-LM transform: dense(H->E) + activation + LayerNorm(E)."""

    def __init__(self, config: ElectraConfig):
        super().__init__()
        self.layer_norm = nn.LayerNorm(config.embedding_size, epsilon=config.layer_norm_eps)
        self.dense = nn.Linear(config.hidden_size, config.embedding_size)
        self.activation = config.hidden_act

    def forward(self, hidden):
        return self.layer_norm(getattr(F, self.activation)(self.dense(hidden)))


class ElectraGenerator(ElectraPretrainedModel):
    """ELECTRA generator: a small masked LM whose output layer is tied to the word embeddings.

    forward(...) -> MLM logits [batch, seq_len, vocab_size] = transform(h) . word_embeddings^T + bias;
    with `output_hidden_states`, `(logits, hidden_states)`. With `positions` ([N, 2] int64 (batch,
    position) pairs), the logits [N, vocab_size] of those positions only, as the original code's
    pretraining computes them (`gather_positions` before the MLM head): a vocab-wide output at every
    position costs several times the rest of the step.
    """

    pretrained_tower = "generator"
    missing_head_fix = _tower_fix("fill-mask and correction need the generator's masked-LM head", "generator")

    def __init__(self, config: ElectraConfig):
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.generator_predictions = ElectraGeneratorPredictions(config)
        self.generator_lm_head_bias = self.create_parameter(
            shape=[config.vocab_size], dtype=paddle.get_default_dtype(), is_bias=True
        )

    def get_input_embeddings(self):
        return self.electra.embeddings.word_embeddings

    def forward(
        self, input_ids, token_type_ids=None, attention_mask=None, output_hidden_states=False, positions=None
    ):
        """Masked-LM logits.

        Args:
            input_ids, token_type_ids, attention_mask, output_hidden_states: as `ElectraModel.forward`
                ([batch, seq_len] each).
            positions: optional int64 Tensor [N, 2] of (batch index, position) pairs: score only
                those positions.

        Returns:
            Tensor [batch, seq_len, vocab_size]: the MLM logits ([N, vocab_size] with
            `positions`); with `output_hidden_states`, (logits, hidden_states) as
            `ElectraModel.forward`.
        """
        hidden, hidden_states = _encode(
            self.electra, input_ids, token_type_ids, attention_mask, output_hidden_states
        )
        if positions is not None:
            hidden = paddle.gather_nd(hidden, positions)
        transformed = self.generator_predictions(hidden)
        logits = paddle.matmul(transformed, self.get_input_embeddings().weight, transpose_y=True)
        return _outputs(logits + self.generator_lm_head_bias, hidden_states)


def sentence_vectors(hidden, attention_mask):
    """The documented sentence vector: the mean of the hidden states of the real tokens ([CLS] and
    [SEP] included, padding excluded). hidden [B, L, H], attention_mask [B, L] -> [B, H], as paddle
    tensors or as numpy arrays."""
    mask = attention_mask.astype(hidden.dtype)[:, :, None]
    return (hidden * mask).sum(axis=1) / mask.sum(axis=1).clip(min=1.0)


def labelled_cross_entropy(logits, labels, ignore_index=-100):
    """Mean cross entropy over the positions whose label is not `ignore_index`. (Paddle 3.3's
    F.cross_entropy(..., ignore_index) with reduction "mean" divides by every position, ignored ones
    included, which would shrink token-level and MLM losses by the share of unlabelled tokens.)"""
    logits = logits.reshape([-1, logits.shape[-1]])
    labels = labels.reshape([-1])
    losses = F.cross_entropy(logits, labels, ignore_index=ignore_index, reduction="none").reshape([-1])
    labelled = (labels != ignore_index).astype(losses.dtype)
    return (losses * labelled).sum() / labelled.sum().clip(min=1.0)


def _without_prefix(name):
    """A parameter name without the encoder prefix (a base model's file loads into a head model)."""
    return name[len("electra.") :] if name.startswith("electra.") else name


def _declared_shapes(directory, load_kwargs):
    """{name: shape} of the weights `from_pretrained` is about to load (the safetensors header, or
    the arrays of a .pdparams read without running code); None for a trusted pickle (not read here)."""
    if "state_dict" in load_kwargs:
        return {name: tuple(value.shape) for name, value in load_kwargs["state_dict"].items()}
    if load_kwargs.get("use_safetensors"):
        return safetensors_shapes(os.path.join(directory, SAFE_WEIGHTS))
    return None
