"""Reading comprehension data path, as the original ELECTRA/BERT SQuAD code does it.

- `featurize`: question (at most `max_query_length` tokens) + a window of the context, windows every
  `doc_stride` tokens so a long document becomes several features; each context token remembers its
  character span in the original context and whether this window gives it its maximal context.
- `postprocess`: from the model's beam (top starts x top ends per feature) to each question's best
  answer text in the original characters, with an n-best list and probabilities.
"""

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np


@dataclass
class QAExample:
    qid: str
    question: str
    context: str
    answers: List[dict] = field(default_factory=list)  # [{"text": ..., "answer_start": char index}]
    is_impossible: bool = False


@dataclass
class QAFeature:
    example_index: int
    input_ids: List[int]
    token_type_ids: List[int]
    token_spans: List[Optional[Tuple[int, int]]]  # context char span of each token; None outside the context
    max_context: List[bool]  # whether this window is the token's best (most centred) window
    start_position: int = 0  # gold token positions for training; 0 = [CLS] = no answer in this window
    end_position: int = 0


def _windows(num_tokens, max_tokens, doc_stride):
    start = 0
    while True:
        length = min(num_tokens - start, max_tokens)
        yield start, length
        if start + length >= num_tokens:
            return
        start += min(length, doc_stride)


def _is_max_context(windows, current, position):
    """BERT's rule: a token's best window has the most context on its shorter side (ties: longer window)."""
    best_score, best = None, None
    for i, (start, length) in enumerate(windows):
        if start <= position < start + length:
            score = min(position - start, start + length - 1 - position) + 0.01 * length
            if best_score is None or score > best_score:
                best_score, best = score, i
    return best == current


def featurize(examples, tokenizer, max_seq_length=512, max_query_length=64, doc_stride=128, training=False):
    """QAExamples -> QAFeatures (several per example when the context is longer than one window)."""
    cls_id, sep_id = tokenizer.convert_tokens_to_ids([tokenizer.cls_token, tokenizer.sep_token])
    features = []
    for index, example in enumerate(examples):
        query = tokenizer(example.question, add_special_tokens=False)["input_ids"][:max_query_length]
        ids, spans = tokenizer.encode_with_spans(example.context)
        max_tokens = max_seq_length - len(query) - 3
        if max_tokens < 1:
            raise ValueError(
                f"max_seq_length {max_seq_length} leaves no room for the context: "
                "raise it or lower max_query_length"
            )
        windows = list(_windows(len(ids), max_tokens, doc_stride))
        gold = _gold_token_span(example, spans) if training else None
        prefix = len(query) + 2
        for w, (start, length) in enumerate(windows):
            feature = QAFeature(
                example_index=index,
                input_ids=[cls_id] + query + [sep_id] + ids[start : start + length] + [sep_id],
                token_type_ids=[0] * prefix + [1] * (length + 1),
                token_spans=[None] * prefix + spans[start : start + length] + [None],
                max_context=[False] * prefix
                + [_is_max_context(windows, w, p) for p in range(start, start + length)]
                + [False],
            )
            if gold and start <= gold[0] and gold[1] < start + length:
                feature.start_position, feature.end_position = (
                    gold[0] - start + prefix,
                    gold[1] - start + prefix,
                )
            features.append(feature)
    return features


def _gold_token_span(example, spans):
    """First gold answer's (first token, last token) in the context, or None if impossible/unmatched."""
    if example.is_impossible or not example.answers:
        return None
    answer = example.answers[0]
    char_start = answer["answer_start"]
    char_end = char_start + len(answer["text"])
    covering = [i for i, (a, b) in enumerate(spans) if a < char_end and b > char_start]
    return (covering[0], covering[-1]) if covering else None


def postprocess(
    examples,
    features,
    outputs,
    n_best_size=20,
    max_answer_length=30,
    allow_impossible=False,
    no_answer_threshold=0.0,
):
    """Best answer per example from the model's beam outputs.

    outputs: one tuple per feature (start_top_log_probs [K], start_top_index [K], end_top_log_probs
    [K, K], end_top_index [K, K], no_answer_logit), as numpy arrays; `ElectraForQuestionAnswering`
    returns them batched. Returns {qid: {"text", "probability", "n_best": [{"text", "probability",
    "start", "end"}]}} with character offsets into the context. With `allow_impossible`, an example
    whose best no-answer logit exceeds `no_answer_threshold` gets the empty answer.
    """
    by_example = {}
    for feature, output in zip(features, outputs):
        by_example.setdefault(feature.example_index, []).append((feature, output))
    results = {}
    for index, example in enumerate(examples):
        candidates, no_answer = {}, -np.inf
        for feature, (start_lp, start_idx, end_lp, end_idx, no_answer_logit) in by_example.get(index, []):
            no_answer = max(no_answer, float(no_answer_logit))
            for i in range(len(start_idx)):
                for j in range(end_idx.shape[1]):
                    s, e = int(start_idx[i]), int(end_idx[i, j])
                    if not _valid_span(feature, s, e, max_answer_length):
                        continue
                    char_span = (feature.token_spans[s][0], feature.token_spans[e][1])
                    score = float(start_lp[i] + end_lp[i, j])
                    if score > candidates.get(char_span, -np.inf):
                        candidates[char_span] = score
        best = sorted(candidates.items(), key=lambda kv: -kv[1])[:n_best_size]
        probs = np.exp(np.array([s for _, s in best]) - (best[0][1] if best else 0.0))
        probs = probs / probs.sum() if best else probs
        n_best = [
            {"text": example.context[a:b].strip(), "probability": float(p), "start": a, "end": b}
            for ((a, b), _), p in zip(best, probs)
        ]
        answer = n_best[0] if n_best else {"text": "", "probability": 0.0}
        if allow_impossible and no_answer > no_answer_threshold:
            answer = {"text": "", "probability": float(1.0 / (1.0 + np.exp(-no_answer)))}
        results[example.qid] = {
            "text": answer["text"],
            "probability": answer["probability"],
            "n_best": n_best,
        }
    return results


def _valid_span(feature, start, end, max_answer_length):
    spans = feature.token_spans
    return (
        start < len(spans)
        and end < len(spans)
        and spans[start] is not None
        and spans[end] is not None
        and feature.max_context[start]
        and start <= end < start + max_answer_length
    )
