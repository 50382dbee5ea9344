"""HF transformers (PyTorch) peer of our reading comprehension fine-tuning (`paddle_electra.training.finetune`
with a SQuAD-format file), run in the reference environment (torch + transformers, no paddle) by
finetune_cmrc2018.py. An independent implementation of the recipe: nothing is imported from
paddle_electra, so it checks our featurization, head, loss and answer extraction.

- Featurization as HF's `run_qa.py` does it: `BertTokenizerFast(vocab.txt, do_lower_case=True)` on
  (question, context) with `truncation="only_second"`, `return_overflowing_tokens` and
  `return_offsets_mapping`; the question cut to `--max-query-length` tokens; the overlap (HF's
  `stride`) chosen per question so that windows start every `--doc-stride` context tokens, as in
  the original BERT/ELECTRA code. A window that does not hold the whole first gold answer is
  labelled [CLS] (position 0).
- Heads on `transformers.ElectraModel` (the LTP-tiny weights), weights N(0, 0.02), zero biases:
  `linear` is HF's ElectraForQuestionAnswering (`qa_outputs`: hidden -> 2, no masking, start/end
  candidates from the 20 best logits each, score = start + end logit); `original` is ELECTRA's
  finetune/qa head (start logits; end logits from dense(512, gelu) over [start state; token state],
  teacher-forced on the gold start in training and over a beam of the 20 best starts at inference;
  non-context positions except [CLS] pushed down by 1000; answerability classifier on [CLS] and the
  start-probability-weighted summary, its BCE against "answerable" weighted 0.5).
- Loss: (cross-entropy(start) + cross-entropy(end)) / 2, mean over the batch.
- Answers: per question the best-scoring span over its windows whose start and end are context
  tokens, end >= start, at most `--max-answer-length` tokens, and whose start token has its
  maximal context in that window (BERT's rule); the text is the context's characters between
  the offsets.
- Training: the loop shared with _hf_finetune.py (AdamW, weight decay 0.01 except biases and
  LayerNorm, clipping 1.0, 10% warm-up then linear decay, shuffled batches padded to their longest).

    $PADDLE_ELECTRA_REF_PYTHON benchmarks/_hf_qa.py --model-dir LTP_TINY_HF_DIR \
        --train train.json --predict heldout.json --out predictions.json --head original

Writes {file: {max answer length: {qid: answer text}}} for every --predict file to --out; prints
one JSON line with the training measurements (train_examples counts features, i.e. windows).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _hf_finetune import add_training_args, load_backbone, setup, train  # noqa: E402

NOT_AN_ANSWER = -1000.0


def read_squad(path):
    """[(qid, question, context, first answer's start char or None, first answer's text)]; an
    answer_start that does not point at its text is moved to the nearest occurrence."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)["data"]
    out = []
    for article in data:
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                start, text = None, ""
                if qa.get("answers"):
                    start, text = qa["answers"][0]["answer_start"], qa["answers"][0]["text"]
                    if context[start : start + len(text)] != text:
                        found = [i for i in range(len(context)) if text and context.startswith(text, i)]
                        start = min(found, key=lambda i: abs(i - start)) if found else None
                out.append((qa["id"], qa["question"], context, start, text))
    return out


def featurize(examples, tokenizer, args):
    """-> features: dicts with ids, types, offsets (None outside the context), max_context, example
    index and gold positions."""
    features = []
    for index, (_, question, context, answer_start, answer_text) in enumerate(examples):
        q = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)
        if len(q["input_ids"]) > args.max_query_length:
            question = question[: q["offset_mapping"][args.max_query_length - 1][1]]
        n_query = min(len(q["input_ids"]), args.max_query_length)
        window = args.max_seq_length - n_query - 3
        enc = tokenizer(
            question,
            context,
            truncation="only_second",
            max_length=args.max_seq_length,
            stride=max(0, window - args.doc_stride),
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        windows = []
        for i in range(len(enc["input_ids"])):
            sequence_ids = enc.sequence_ids(i)
            offsets = [tuple(o) if s == 1 else None for o, s in zip(enc["offset_mapping"][i], sequence_ids)]
            windows.append(offsets)
        # BERT's max-context rule, context tokens identified by their character offsets
        spans = [[j for j, o in enumerate(w) if o is not None] for w in windows]
        best = {}
        for w, positions in enumerate(spans):
            first, length = positions[0], len(positions)
            for j in positions:
                score = min(j - first, first + length - 1 - j) + 0.01 * length
                key = windows[w][j]
                if key not in best or score > best[key][0]:
                    best[key] = (score, w)
        for w, offsets in enumerate(windows):
            start = end = 0
            if args.training and answer_start is not None:
                answer_end = answer_start + len(answer_text)
                inside = [
                    j
                    for j, o in enumerate(offsets)
                    if o is not None and o[0] < answer_end and o[1] > answer_start
                ]
                context_positions = spans[w]
                if (
                    inside
                    and offsets[context_positions[0]][0] <= answer_start
                    and offsets[context_positions[-1]][1] >= answer_end
                ):
                    start, end = inside[0], inside[-1]
            features.append(
                {
                    "example": index,
                    "ids": enc["input_ids"][w],
                    "types": enc["token_type_ids"][w],
                    "offsets": offsets,
                    "max_context": [o is not None and best[o][1] == w for o in offsets],
                    "start": start,
                    "end": end,
                }
            )
    return features


def build_model(head, config, electra, beam_size):
    import torch
    import torch.nn.functional as F
    from torch import nn

    h = config.hidden_size

    class QA(nn.Module):
        def __init__(self):
            super().__init__()
            self.electra = electra
            if head == "linear":
                self.qa_outputs = nn.Linear(h, 2)
            else:
                self.start_logits = nn.Linear(h, 1)
                self.qa_hidden = nn.Linear(2 * h, 512)
                self.qa_logits = nn.Linear(512, 1)
                self.answerable_hidden = nn.Linear(2 * h, 512)
                self.answerable_logit = nn.Linear(512, 1)
            for module in self.children():
                if isinstance(module, nn.Linear):
                    nn.init.normal_(module.weight, mean=0.0, std=config.initializer_range)
                    nn.init.zeros_(module.bias)

        def end_logits(self, start_states, hidden):
            """start_states [B, K, H], hidden [B, L, H] -> [B, K, L]."""
            k, length = start_states.shape[1], hidden.shape[1]
            pairs = torch.cat(
                [
                    start_states.unsqueeze(2).expand(-1, -1, length, -1),
                    hidden.unsqueeze(1).expand(-1, k, -1, -1),
                ],
                -1,
            )
            return self.qa_logits(F.gelu(self.qa_hidden(pairs))).squeeze(-1)

        def forward(self, ids, types, mask, start_positions=None, end_positions=None):
            hidden = self.electra(input_ids=ids, token_type_ids=types, attention_mask=mask)[0]
            if head == "linear":
                start, end = self.qa_outputs(hidden).unbind(-1)
                if start_positions is None:
                    return start, end
                return (F.cross_entropy(start, start_positions) + F.cross_entropy(end, end_positions)) / 2
            answer_mask = (mask * types).float()
            answer_mask[:, 0] = 1.0
            penalty = NOT_AN_ANSWER * (1.0 - answer_mask)
            start = self.start_logits(hidden).squeeze(-1) + penalty
            if start_positions is None:  # beam: the best starts, the best ends given each
                k = min(beam_size, ids.shape[1])
                start_lp, start_index = F.log_softmax(start, -1).topk(k, -1)
                start_states = torch.gather(hidden, 1, start_index.unsqueeze(-1).expand(-1, -1, h))
                end_lp, end_index = F.log_softmax(
                    self.end_logits(start_states, hidden) + penalty.unsqueeze(1), -1
                ).topk(k, -1)
                return start_lp, start_index, end_lp, end_index
            start_states = hidden[torch.arange(hidden.shape[0]), start_positions].unsqueeze(1)
            end = self.end_logits(start_states, hidden).squeeze(1) + penalty
            summary = (F.softmax(start, -1).unsqueeze(-1) * hidden).sum(1)
            answerable = self.answerable_logit(
                F.gelu(self.answerable_hidden(torch.cat([hidden[:, 0], summary], -1)))
            ).squeeze(-1)
            loss = (
                F.cross_entropy(start, start_positions, reduction="none")
                + F.cross_entropy(end, end_positions, reduction="none")
            ) / 2
            loss = loss + 0.5 * F.binary_cross_entropy_with_logits(
                answerable, torch.zeros_like(answerable), reduction="none"
            )
            return loss.mean()

    return QA()


def candidates(head, outputs, n_best):
    """One feature's model outputs -> [(score, start token, end token)]."""
    if head == "linear":
        start, end = outputs
        starts, ends = start.argsort()[::-1][:n_best], end.argsort()[::-1][:n_best]
        return [(float(start[s] + end[e]), int(s), int(e)) for s in starts for e in ends]
    start_lp, start_index, end_lp, end_index = outputs
    return [
        (float(start_lp[i] + end_lp[i, j]), int(start_index[i]), int(end_index[i, j]))
        for i in range(len(start_index))
        for j in range(end_index.shape[1])
    ]


def predict(model, head, examples, features, collate, args):
    """{max answer length: {qid: answer text}} for every --max-answer-length."""
    import torch

    best = {length: {} for length in args.max_answer_length}
    with torch.no_grad():
        for b in range(0, len(features), args.batch_size):
            chunk = features[b : b + args.batch_size]
            outputs = [o.numpy() for o in model(*collate(chunk)[:3])]
            for i, feature in enumerate(chunk):
                offsets = feature["offsets"]
                for score, s, e in candidates(head, [o[i] for o in outputs], args.n_best_size):
                    if s >= len(offsets) or e >= len(offsets) or offsets[s] is None or offsets[e] is None:
                        continue
                    if e < s or not feature["max_context"][s]:
                        continue
                    for length, chosen in best.items():
                        if (
                            e - s + 1 <= length
                            and score > chosen.get(feature["example"], (-float("inf"),))[0]
                        ):
                            chosen[feature["example"]] = (score, offsets[s][0], offsets[e][1])
    answers = {length: {} for length in best}
    for index, (qid, _, context, _, _) in enumerate(examples):
        for length, chosen in best.items():
            _, a, z = chosen.get(index, (0.0, 0, 0))
            answers[length][qid] = context[a:z].strip()
    return answers


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_args(p, max_seq_length=384)
    p.add_argument("--train", required=True, help="SQuAD-format json for training")
    p.add_argument(
        "--predict", nargs="*", default=[], help="SQuAD-format json files to answer after training"
    )
    p.add_argument("--out", help="write {file: {qid: answer}} here")
    p.add_argument("--head", choices=["original", "linear"], default="original")
    p.add_argument("--doc-stride", type=int, default=128)
    p.add_argument("--max-query-length", type=int, default=64)
    p.add_argument(
        "--max-answer-length",
        type=int,
        nargs="+",
        default=[30],
        help="longest answer in tokens; several: answers for each",
    )
    p.add_argument("--n-best-size", type=int, default=20)
    p.add_argument("--beam-size", type=int, default=20)
    args = p.parse_args()
    torch = setup(args)
    from transformers import BertTokenizerFast

    tokenizer = BertTokenizerFast(os.path.join(args.model_dir, "vocab.txt"), do_lower_case=True)
    train_examples = read_squad(args.train)
    args.training = True
    train_features = featurize(train_examples, tokenizer, args)
    config, electra = load_backbone(args.model_dir)
    model = build_model(args.head, config, electra, args.beam_size)

    def collate(rows):
        n = max(len(r["ids"]) for r in rows)
        ids, types, mask = (torch.zeros(len(rows), n, dtype=torch.long) for _ in range(3))
        for i, r in enumerate(rows):
            ids[i, : len(r["ids"])] = torch.tensor(r["ids"])
            types[i, : len(r["types"])] = torch.tensor(r["types"])
            mask[i, : len(r["ids"])] = 1
        positions = [torch.tensor([r[key] for r in rows], dtype=torch.long) for key in ("start", "end")]
        return ids, types, mask, *positions

    result = {
        "side": "hf-torch",
        "head": args.head,
        "seed": args.seed,
        "train_questions": len(train_examples),
        "train_features": len(train_features),
        "train_features_with_answer": sum(f["start"] > 0 for f in train_features),
        **train(model, train_features, collate, lambda net, batch: net(*batch), args),
    }
    result["train_features_per_s"] = result.pop("train_examples_per_s")
    args.training = False
    predictions = {}
    for path in args.predict:
        examples = read_squad(path)
        predictions[path] = predict(
            model, args.head, examples, featurize(examples, tokenizer, args), collate, args
        )
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(predictions, f, ensure_ascii=False)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
