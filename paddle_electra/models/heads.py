"""Task heads on the ELECTRA discriminator's encoder, as in google-research/electra `finetune/`.

Every head's forward returns the loss first when labels are given, `(loss, logits...)`, else the
logits, so the paddlenlp Trainer works unchanged. Head options are config fields (saved in
config.json), e.g. `ElectraForSequenceClassification.from_pretrained(dir, num_labels=3,
classifier_head="two_layer")`.
"""

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from paddle_electra.models.modeling import (
    ElectraModel,
    ElectraPretrainedModel,
    labelled_cross_entropy,
    sentence_vectors,
)

# The original code pushes the logits of positions that cannot be an answer down by this much.
_NOT_AN_ANSWER = -1000.0


def _add_classifier(head, config, outputs):
    """The encoder and a [CLS] classifier with `outputs` outputs: "original" (dropout -> linear) or
    "two_layer" (dropout -> dense -> gelu -> dropout -> linear), by config.classifier_head."""
    head.electra = ElectraModel(config)
    head.dropout = nn.Dropout(config.hidden_dropout_prob)
    head.two_layer = config.classifier_head == "two_layer"
    if head.two_layer:
        head.dense = nn.Linear(config.hidden_size, config.hidden_size)
    head.classifier = nn.Linear(config.hidden_size, outputs)


class ElectraForSequenceClassification(ElectraPretrainedModel):
    """Single sentence or sentence-pair classification from the final [CLS] state.

    config.classifier_head: "original" (default; ELECTRA's finetune/classification: dropout ->
    linear) or "two_layer" (HF transformers / paddlenlp / KoELECTRA: dropout -> dense -> gelu ->
    dropout -> linear). forward(..., labels=None) -> logits [B, num_labels], or (loss, logits).
    Only [CLS] is read, so the last layer computes that position alone (`first_position_only`).

    config.problem_type, as in HF transformers: None or "single_label_classification" (default:
    softmax cross-entropy on label ids), "regression" (MSE of the logits against float targets,
    num_labels outputs, usually 1) or "multi_label_classification" (sigmoid binary cross-entropy
    against multi-hot [B, num_labels] labels). The logits are the same in every case (raw scores).
    """

    def __init__(self, config):
        super().__init__(config)
        _add_classifier(self, config, config.num_labels)
        self.problem_type = getattr(config, "problem_type", None)

    def forward(self, input_ids, token_type_ids=None, attention_mask=None, labels=None):
        cls = self.electra(input_ids, token_type_ids, attention_mask, first_position_only=True)[:, 0]
        if self.two_layer:
            cls = F.gelu(self.dense(self.dropout(cls)))
        logits = self.classifier(self.dropout(cls))
        if labels is None:
            return logits
        if self.problem_type == "regression":  # float targets (ints are cast)
            return F.mse_loss(logits, labels.astype(logits.dtype).reshape(logits.shape)), logits
        if self.problem_type == "multi_label_classification":  # multi-hot 0/1 labels [B, num_labels]
            return F.binary_cross_entropy_with_logits(logits, labels.astype(logits.dtype)), logits
        return F.cross_entropy(logits, labels.reshape([-1])), logits


class ElectraForTokenClassification(ElectraPretrainedModel):
    """Sequence labelling: one label per token (label -100 = ignored, e.g. non-first sub-tokens).

    forward(..., labels=None) -> logits [B, L, num_labels], or (loss, logits).
    """

    def __init__(self, config):
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, input_ids, token_type_ids=None, attention_mask=None, labels=None):
        logits = self.classifier(self.dropout(self.electra(input_ids, token_type_ids, attention_mask)))
        if labels is None:
            return logits
        return labelled_cross_entropy(logits, labels), logits


class ElectraForTextMatching(ElectraPretrainedModel):
    """Siamese text matching (the official PaddleHub modules' 'text-matching' task): both texts are
    encoded separately, mean-pooled over real tokens, and [u, v, |u - v|] is classified.

    forward(query_input_ids, title_input_ids, ..., labels=None) -> logits [B, num_labels], or (loss, logits).
    """

    def __init__(self, config):
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.classifier = nn.Linear(3 * config.hidden_size, config.num_labels)

    def _encode(self, input_ids, token_type_ids, attention_mask):
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).astype("int64")
        return sentence_vectors(
            self.dropout(self.electra(input_ids, token_type_ids, attention_mask)), attention_mask
        )

    def forward(
        self,
        query_input_ids,
        title_input_ids,
        query_token_type_ids=None,
        title_token_type_ids=None,
        query_attention_mask=None,
        title_attention_mask=None,
        labels=None,
    ):
        u = self._encode(query_input_ids, query_token_type_ids, query_attention_mask)
        v = self._encode(title_input_ids, title_token_type_ids, title_attention_mask)
        logits = self.classifier(paddle.concat([u, v, paddle.abs(u - v)], axis=-1))
        if labels is None:
            return logits
        return F.cross_entropy(logits, labels.reshape([-1])), logits


def _gather_rows(hidden, index):
    """hidden [B, L, H], index [B, K] -> hidden[b, index[b, k]] as [B, K, H]."""
    expanded = index.unsqueeze(-1).expand([index.shape[0], index.shape[1], hidden.shape[-1]])
    return paddle.take_along_axis(hidden, expanded, axis=1)


def _not_an_answer_penalty(attention_mask, token_type_ids, dtype):
    """[B, L]: 0 where an answer may lie (the context, segment 1, and [CLS]), _NOT_AN_ANSWER elsewhere
    (the question, [SEP]s after it and padding), added to the start and end logits."""
    answer_mask = (attention_mask * token_type_ids).astype(dtype)
    answer_mask = paddle.concat([paddle.ones_like(answer_mask[:, :1]), answer_mask[:, 1:]], axis=1)  # + [CLS]
    return _NOT_AN_ANSWER * (1.0 - answer_mask)


def _position_loss(logits, positions):
    return F.cross_entropy(logits, positions.reshape([-1]), reduction="none")


class ElectraForQuestionAnswering(ElectraPretrainedModel):
    """Span-extraction reading comprehension (question = segment 0, context = segment 1).

    config.qa_head:
    - "original" (default): ELECTRA's finetune/qa head. Start logits from a linear layer; end logits
      conditioned on the start: dense(512, gelu) over [start state; token state]; at inference the
      beam of `config.beam_size` (20) best starts x best ends. An answerability classifier reads
      [CLS] and the start-probability-weighted summary (dense 512 gelu -> 1); its logit is the
      "no answer" score (trained against is_impossible, weight `answerable_weight` 0.5).
    - "linear": one linear layer giving start and end logits (BERT's SQuAD head).
    Only context tokens and [CLS] can be answer positions.

    forward(...) with start_positions/end_positions -> (loss, start_logits, end_logits); without ->
    (start_top_log_probs [B, K], start_top_index [B, K], end_top_log_probs [B, K, K],
    end_top_index [B, K, K], no_answer_logit [B]) for `qa.postprocess`.
    """

    def __init__(self, config):
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.original = config.qa_head == "original"
        self.beam_size = config.beam_size
        self.answerable_weight = config.answerable_weight
        hidden = config.hidden_size
        if self.original:
            self.start_logits = nn.Linear(hidden, 1)
            self.qa_hidden = nn.Linear(2 * hidden, 512)
            self.qa_logits = nn.Linear(512, 1)
            self.answerable_hidden = nn.Linear(2 * hidden, 512)
            self.answerable_logit = nn.Linear(512, 1)
        else:
            self.qa_outputs = nn.Linear(hidden, 2)

    def _end_logits(self, start_states, hidden):
        """start_states [B, K, H], hidden [B, L, H] -> end logits [B, K, L] given each start.

        The original applies qa_hidden to [start state; token state] for every (start, token)
        pair. That layer is linear in the concatenation, W [s; t] + b = W_s s + (W_t t + b), so
        the start half runs once per start and the token half once per token, and only their
        broadcast sum, GELU and qa_logits run per pair: the same function, K times less work."""
        size = hidden.shape[-1]
        from_start = paddle.matmul(start_states, self.qa_hidden.weight[:size])  # [B, K, 512]
        from_token = paddle.matmul(hidden, self.qa_hidden.weight[size:]) + self.qa_hidden.bias  # [B, L, 512]
        pairs = F.gelu(from_start.unsqueeze(2) + from_token.unsqueeze(1))  # [B, K, L, 512]
        return self.qa_logits(pairs).squeeze(-1)

    def forward(
        self,
        input_ids,
        token_type_ids=None,
        attention_mask=None,
        start_positions=None,
        end_positions=None,
        is_impossible=None,
    ):
        if token_type_ids is None:
            token_type_ids = paddle.zeros_like(input_ids)
        if attention_mask is None:
            attention_mask = paddle.ones_like(input_ids)
        hidden = self.electra(input_ids, token_type_ids, attention_mask)
        penalty = _not_an_answer_penalty(attention_mask, token_type_ids, hidden.dtype)

        if self.original:
            start_logits, end_logits = self.start_logits(hidden).squeeze(-1) + penalty, None
        else:
            start_logits, end_logits = paddle.unstack(
                self.qa_outputs(hidden) + penalty.unsqueeze(-1), axis=-1
            )
        no_answer_logit = self._no_answer_logit(hidden, start_logits)

        if start_positions is not None:
            if self.original:  # end conditioned on the gold start (teacher forcing), as in training there
                gold_start = _gather_rows(hidden, start_positions.reshape([-1, 1]))
                end_logits = self._end_logits(gold_start, hidden).squeeze(1) + penalty
            logits = (start_logits, end_logits, no_answer_logit)
            loss = self._loss(logits, start_positions, end_positions, is_impossible, hidden.dtype)
            return loss, start_logits, end_logits
        start_top_log_probs, start_top_index, end_top_log_probs, end_top_index = self._beam(
            input_ids, hidden, penalty, start_logits, end_logits
        )
        return start_top_log_probs, start_top_index, end_top_log_probs, end_top_index, no_answer_logit

    def _loss(self, logits, start_positions, end_positions, is_impossible, dtype):
        """The mean over the batch of the start and end cross-entropies' average (plus, for the
        original head, `answerable_weight` x the answerability loss against `is_impossible`).
        logits: (start [B, L], end [B, L], no-answer [B])."""
        start_logits, end_logits, no_answer_logit = logits
        loss = (
            _position_loss(start_logits, start_positions) + _position_loss(end_logits, end_positions)
        ) / 2.0
        if self.original:
            impossible = (
                paddle.zeros_like(no_answer_logit)
                if is_impossible is None
                else is_impossible.astype(dtype).reshape([-1])
            )
            loss += self.answerable_weight * F.binary_cross_entropy_with_logits(
                no_answer_logit, impossible, reduction="none"
            )
        return loss.mean()

    def _beam(self, input_ids, hidden, penalty, start_logits, end_logits):
        """The K best starts and, per start, the K best ends: (start_top_log_probs [B, K],
        start_top_index [B, K], end_top_log_probs [B, K, K], end_top_index [B, K, K])."""
        # the beam cannot be wider than the sequence (computed on the tensor's shape: static graphs know
        # no length)
        k = paddle.minimum(paddle.shape(input_ids)[1], paddle.to_tensor(self.beam_size, dtype="int64"))
        start_top_log_probs, start_top_index = paddle.topk(F.log_softmax(start_logits, axis=-1), k)
        if self.original:
            start_states = _gather_rows(hidden, start_top_index)
            end_logits = self._end_logits(start_states, hidden) + penalty.unsqueeze(1)
        else:
            end_logits = end_logits.unsqueeze(1).expand([-1, k, -1])
        end_top_log_probs, end_top_index = paddle.topk(F.log_softmax(end_logits, axis=-1), k)
        return start_top_log_probs, start_top_index, end_top_log_probs, end_top_index

    def _no_answer_logit(self, hidden, start_logits):
        if not self.original:
            return paddle.zeros([hidden.shape[0]], dtype=hidden.dtype)
        summary = (F.softmax(start_logits, axis=-1).unsqueeze(-1) * hidden).sum(axis=1)
        features = paddle.concat([hidden[:, 0], summary], axis=-1)
        return self.answerable_logit(F.gelu(self.answerable_hidden(features))).squeeze(-1)


TASK_MODELS = {
    "seq-cls": ElectraForSequenceClassification,
    "token-cls": ElectraForTokenClassification,
    "text-matching": ElectraForTextMatching,
    "reading-comprehension": ElectraForQuestionAnswering,
}


# A padded choice's logit: its softmax share underflows to exactly 0 (fp32, bf16 and fp16 alike).
_NOT_A_CHOICE = -1e4


class ElectraForMultipleChoice(ElectraPretrainedModel):
    """Multiple choice, as HF transformers' and paddlenlp's ElectraForMultipleChoice: every choice is
    encoded as a pair with its context, scored from its final [CLS] state, and the softmax over a
    question's choices picks one. config.classifier_head as ElectraForSequenceClassification's:
    "original" (dropout -> linear to 1 score) or "two_layer" (dropout -> dense -> gelu first, the
    sequence summary of HF and paddlenlp).

    forward(input_ids [Q, C, L], token_type_ids, attention_mask, choice_mask [Q, C] (1: a choice,
    0: padding, whose logit is pushed to -1e4), labels [Q]) -> logits [Q, C], or (loss, logits).
    forward(input_ids [N, L], ...) -> scores [N, 1], one per (context, question + choice) row: the
    exported graph; `tasks.multiple_choice` takes the softmax over each question's rows.
    """

    def __init__(self, config):
        super().__init__(config)
        _add_classifier(self, config, 1)

    def forward(self, input_ids, token_type_ids=None, attention_mask=None, choice_mask=None, labels=None):
        grouped = len(input_ids.shape) == 3  # [questions, choices, length]
        if grouped:
            choices = input_ids.shape[1]
            input_ids, token_type_ids, attention_mask = (
                None if t is None else t.reshape([-1, t.shape[-1]])
                for t in (input_ids, token_type_ids, attention_mask)
            )
        cls = self.electra(input_ids, token_type_ids, attention_mask, first_position_only=True)[:, 0]
        if self.two_layer:
            cls = F.gelu(self.dense(self.dropout(cls)))
        scores = self.classifier(self.dropout(cls))
        if not grouped:
            if labels is not None:
                raise ValueError("labels need input_ids grouped by question: [questions, choices, length]")
            return scores
        logits = scores.reshape([-1, choices])
        if choice_mask is not None:
            logits = paddle.where(choice_mask.astype("bool"), logits, paddle.full_like(logits, _NOT_A_CHOICE))
        if labels is None:
            return logits
        return F.cross_entropy(logits, labels.reshape([-1])), logits
