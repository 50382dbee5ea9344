"""HF transformers (PyTorch) peer of paddle-electra's multiple-choice, text-regression and
multi-label-classification kinds, run in the reference environment (torch + transformers, no paddle)
by finetune_c3.py, finetune_chinese_sts.py and finetune_multilabel.py. Backbone loading, padding and
the training loop (AdamW, decay set, clipping, linear warm-up schedule, a permutation per epoch) are
_hf_finetune.py's; see its docstring.

Models: transformers' own task classes with the LTP-tiny `backbone.` weights; their heads equal ours
with `--classifier-head two_layer` (dropout -> dense -> gelu -> dropout -> linear from the final
[CLS] state, new weights N(0, initializer_range), biases 0):
- multiple-choice: `ElectraForMultipleChoice`. Its SequenceSummary has no dropout before the dense
  layer unless the config sets one, so `summary_first_dropout = hidden_dropout_prob` is set (then it
  is ours exactly). A batch's questions with fewer choices than its widest get [PAD]-only choices whose
  logits are set to -1e4 before the cross-entropy and the argmax (ours: `choice_mask`); HF's class
  itself assumes one number of choices.
- text-regression: `ElectraForSequenceClassification(num_labels=1, problem_type="regression")`, its
  MSE loss. Targets are standardized with the training file's mean and population standard deviation
  and predictions mapped back (ours: tasks/regression.py).
- multi-label-classification: `ElectraForSequenceClassification(problem_type=
  "multi_label_classification")`, its binary cross-entropy on multi-hot targets; a label is predicted
  at sigmoid >= --threshold (0.5). Label set: the sorted union of the training file's labels.
Encoding: `transformers.BertTokenizer(vocab.txt, do_lower_case=True)`.
- multiple-choice: each choice is [CLS] context [SEP] question choice [SEP], cut as ours: the
  context first (its end), down to half of the max_seq_length - 3 tokens, then the question and the
  choice, longest first. C3's JSON as published ([lines, questions, id] items; lines joined by "\\n").
- tables (CSV with a header, or JSON Lines): tokenizer(text, pair, max_length, truncation=True).
  Ours reads a text longer than max_seq_length in windows instead: `truncated` in the output counts
  the examples where the two differ (0 for the benchmarks' data).
Metrics, as paddle_electra/tasks/metrics.py defines them: accuracy; pearson, spearman (ranks with
ties averaged), mse in the file's scale; micro_f1, macro_f1 (over the labels in gold or predicted),
exact_match.

    $PADDLE_ELECTRA_REF_PYTHON benchmarks/_hf_tasks.py --task multiple-choice --model-dir LTP_TINY_HF_DIR \\
        --train train.json --dev c3-m-dev.json --test c3-d-dev.json --seed 1

Prints one JSON line: the dev metrics, test_ ones, and _hf_finetune.train's measurements.
`--parity NPZ` trains nothing: ours' loss, logits and weight gradients on one batch (saved by
_seeds_vs_hf.parity with ours' weights under HF's names) are recomputed with the HF class on the same
weights and batch, dropout off, and the largest differences printed.
"""

import argparse
import csv
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _hf_finetune import add_training_args, batched_outputs, load_backbone, pad_batch, setup, train  # noqa: E402

TEXT_COLUMNS = ("text", "text_a", "sentence", "sentence1", "content", "review")
PAIR_COLUMNS = ("text_b", "sentence2")
LABEL_COLUMNS = {"text-regression": ("label", "score"), "multi-label-classification": ("label", "labels")}
NOT_A_CHOICE = -1e4


# ---- files -------------------------------------------------------------------------------------
def read_records(path):
    """The rows of a CSV file with a header, or of a JSON Lines file, as dicts."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        if path.endswith((".jsonl", ".json")):
            return [json.loads(line) for line in f if line.strip()]
        return list(csv.DictReader(f))


def first_key(record, names):
    return next((name for name in names if name in record), None)


def read_table(path, kind, separator):
    """[(text, pair or None, target)]: a float (regression) or a tuple of labels (multi-label)."""
    records = read_records(path)
    text, pair = first_key(records[0], TEXT_COLUMNS), first_key(records[0], PAIR_COLUMNS)
    label = first_key(records[0], LABEL_COLUMNS[kind])
    rows = []
    for r in records:
        value = r[label]
        if kind == "text-regression":
            target = float(value)
        else:
            if isinstance(value, str):
                value = json.loads(value) if value.strip().startswith("[") else value.split(separator)
            target = tuple(str(v).strip() for v in value)
        rows.append((r[text], r[pair] if pair else None, target))
    return rows


def read_c3(path):
    """[(context, question, choices, answer index)] of C3's JSON."""
    out = []
    for lines, questions, *_ in json.load(open(path, encoding="utf-8")):
        for q in questions:
            out.append(("\n".join(lines), q["question"], q["choice"], q["choice"].index(q["answer"])))
    return out


# ---- encoding ----------------------------------------------------------------------------------
def longest_first(n_a, n_b, budget):
    """The lengths kept of two sequences when the last token of the longer one (the second on a tie)
    is dropped until both fit in `budget`."""
    while n_a + n_b > budget:
        if n_a > n_b:
            n_a -= 1
        else:
            n_b -= 1
    return n_a, n_b


def encode_choices(tokenizer, examples, max_seq_length):
    """[([(ids, types) per choice], answer index)]."""
    cache = {}

    def pieces(text):
        if text not in cache:
            cache[text] = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(text))
        return cache[text]

    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    budget = max_seq_length - 3
    items = []
    for context, question, choices, answer in examples:
        c, q = pieces(context), pieces(question)
        pairs = []
        for choice in choices:
            a = pieces(choice)
            n_q, n_a = longest_first(len(q), len(a), max(budget - len(c), budget // 2))
            n_c = min(len(c), budget - n_q - n_a)
            ids = [cls, *c[:n_c], sep, *q[:n_q], *a[:n_a], sep]
            pairs.append((ids, [0] * (n_c + 2) + [1] * (n_q + n_a + 1)))
        items.append((pairs, answer))
    return items


def encode_table(tokenizer, rows, max_seq_length):
    """[(ids, types, target)] and the number of rows longer than max_seq_length."""
    items, truncated = [], 0
    for text, pair, target in rows:
        full = tokenizer(text, pair)
        truncated += len(full["input_ids"]) > max_seq_length
        enc = tokenizer(text, pair, max_length=max_seq_length, truncation=True)
        items.append((enc["input_ids"], enc["token_type_ids"], target))
    return items, truncated


# ---- metrics -----------------------------------------------------------------------------------
def ranks(values):
    """Ranks from 1, ties given their average rank."""
    import numpy as np

    order = np.argsort(values, kind="stable")
    sorted_values = np.asarray(values)[order]
    out = np.empty(len(values))
    start = 0
    for end in range(1, len(values) + 1):
        if end == len(values) or sorted_values[end] != sorted_values[start]:
            out[order[start:end]] = (start + end + 1) / 2
            start = end
    return out


def regression_scores(gold, predicted):
    import numpy as np

    gold, predicted = np.asarray(gold, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    return {
        "pearson": float(np.corrcoef(gold, predicted)[0, 1]),
        "spearman": float(np.corrcoef(ranks(gold), ranks(predicted))[0, 1]),
        "mse": float(np.mean((gold - predicted) ** 2)),
    }


def multi_label_scores(gold, predicted):
    gold, predicted = [set(g) for g in gold], [set(p) for p in predicted]
    f1s = []
    for label in set().union(*gold, *predicted):
        tp = sum(label in g and label in p for g, p in zip(gold, predicted))
        n = sum(label in g for g in gold) + sum(label in p for p in predicted)
        f1s.append(2 * tp / n)
    tp = sum(len(g & p) for g, p in zip(gold, predicted))
    decided = sum(len(g) + len(p) for g, p in zip(gold, predicted))
    return {
        "micro_f1": 2 * tp / decided if decided else 0.0,
        "macro_f1": sum(f1s) / len(f1s) if f1s else 0.0,
        "exact_match": sum(g == p for g, p in zip(gold, predicted)) / len(gold),
    }


# ---- the three kinds ---------------------------------------------------------------------------
def multiple_choice(args, tokenizer, config, torch):
    """(model, training items, {prefix: scorer}, collate, batch_loss, facts)."""
    model = hf_model(args.task, config)

    def collate(items):
        width = max(len(pairs) for pairs, _ in items)
        flat = [pairs[c] if c < len(pairs) else ([0], [0]) for pairs, _ in items for c in range(width)]
        ids, types, mask = (t.view(len(items), width, -1) for t in pad_batch(flat))
        real = torch.tensor([[c < len(pairs) for c in range(width)] for pairs, _ in items])
        return ids, types, mask, real, torch.tensor([answer for _, answer in items])

    def logits(net, batch):
        return choice_logits(net, *batch[:4])

    def batch_loss(net, batch):
        return torch.nn.functional.cross_entropy(logits(net, batch), batch[-1])

    def scorer(path):
        items = encode_choices(tokenizer, read_c3(path), args.max_seq_length)

        def score(net):
            out = batched_outputs(lambda batch: logits(net, batch), items, collate, args.batch_size)
            predicted = out.argmax(-1).tolist()
            return {"accuracy": sum(p == a for p, (_, a) in zip(predicted, items)) / len(items)}

        return score

    train_items = encode_choices(tokenizer, read_c3(args.train), args.max_seq_length)
    return model, train_items, scorer, collate, batch_loss, {"questions": len(train_items)}


def table_kind(args, tokenizer, config, torch):
    regression = args.task == "text-regression"
    train_rows = read_table(args.train, args.task, args.label_separator)
    if regression:
        targets = torch.tensor([target for *_, target in train_rows], dtype=torch.float64)
        mean, std = targets.mean().item(), targets.std(unbiased=False).item()
        facts = {"target_mean": mean, "target_std": std}
    else:
        labels = sorted({label for *_, target in train_rows for label in target})
        facts = {"labels": labels}
    model = hf_model(args.task, config, 1 if regression else len(labels))

    def target(value):
        if regression:
            return [(value - mean) / std]
        return [float(label in value) for label in labels]

    def collate(items):
        ids, types, mask = pad_batch([(a, t) for a, t, _ in items])
        return ids, types, mask, torch.tensor([target(y) for *_, y in items])

    def batch_loss(net, batch):
        ids, types, mask, y = batch
        y = y.view(-1) if regression else y  # HF's MSELoss squeezes the logits of one output
        return net(input_ids=ids, token_type_ids=types, attention_mask=mask, labels=y).loss

    def scorer(path):
        items, truncated = encode_table(
            tokenizer, read_table(path, args.task, args.label_separator), args.max_seq_length
        )

        def score(net):
            out = batched_outputs(
                lambda batch: (
                    net(input_ids=batch[0], token_type_ids=batch[1], attention_mask=batch[2]).logits
                ),
                items,
                collate,
                args.batch_size,
            )
            gold = [y for *_, y in items]
            if regression:
                return regression_scores(gold, (out.view(-1).double() * std + mean).tolist())
            chosen = torch.sigmoid(out) >= args.threshold
            predicted = [[label for label, on in zip(labels, row) if on] for row in chosen.tolist()]
            return {**multi_label_scores(gold, predicted), "truncated": truncated}

        return score

    train_items, truncated = encode_table(tokenizer, train_rows, args.max_seq_length)
    return model, train_items, scorer, collate, batch_loss, {**facts, "train_truncated": truncated}


def hf_model(task, config, num_labels=1):
    """transformers' class for `task` on `config` (see the module docstring), new weights."""
    from transformers import ElectraForMultipleChoice, ElectraForSequenceClassification

    if task == "multiple-choice":
        config.summary_first_dropout = config.hidden_dropout_prob  # ours: dropout before the dense layer too
        return ElectraForMultipleChoice(config)
    config.num_labels, config.problem_type = num_labels, PROBLEM_TYPES[task]
    return ElectraForSequenceClassification(config)


def choice_logits(net, ids, types, mask, real):
    """[questions, choices] scores, a padded choice's (real False) set to -1e4."""
    out = net(input_ids=ids, token_type_ids=types, attention_mask=mask).logits
    return out.masked_fill(~real, NOT_A_CHOICE)


def parity(args, config, torch):
    """The loss, logits and weight gradients of ours' model (`--parity NPZ`, written by
    _seeds_vs_hf.parity: HF-named weights, a batch, ours' results) recomputed by the HF class with the
    same weights and batch, dropout off; their largest differences."""
    import numpy as np

    saved = np.load(args.parity)
    weights = {k[2:]: torch.tensor(saved[k]) for k in saved.files if k.startswith("w:")}
    labels = saved["labels"]
    num_labels = labels.shape[-1] if args.task == "multi-label-classification" else 1
    model = hf_model(args.task, config, num_labels)
    missing, unexpected = model.load_state_dict(weights, strict=False)
    assert not unexpected and not [
        k for k in missing if not k.endswith(("position_ids", "token_type_ids"))
    ], (
        missing,
        unexpected,
    )
    model.eval()
    ids, types, mask = (torch.tensor(saved[k]) for k in ("input_ids", "token_type_ids", "attention_mask"))
    if args.task == "multiple-choice":
        logits = choice_logits(model, ids, types, mask, torch.tensor(saved["choice_mask"]).bool())
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor(labels))
    else:
        out = model(
            input_ids=ids, token_type_ids=types, attention_mask=mask, labels=torch.tensor(labels).float()
        )
        loss, logits = out.loss, out.logits
    loss.backward()
    params = dict(model.named_parameters())
    gradients = {
        name: float(np.abs(params[name].grad.numpy() - saved["g:" + name]).max()) for name in weights
    }
    return {
        "task": args.task,
        "examples": int(ids.shape[0]),
        "loss_ours": float(saved["loss"]),
        "loss_hf": float(loss),
        "logits_max_abs_diff": float(np.abs(logits.detach().numpy() - saved["logits"]).max()),
        "gradients": len(gradients),
        "gradient_max_abs_diff": max(gradients.values()),
        "gradient_max_abs": max(float(np.abs(saved["g:" + name]).max()) for name in weights),
    }


PROBLEM_TYPES = {"text-regression": "regression", "multi-label-classification": "multi_label_classification"}
KINDS = {
    "multiple-choice": multiple_choice,
    "text-regression": table_kind,
    "multi-label-classification": table_kind,
}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_args(p)
    p.add_argument("--task", required=True, choices=sorted(KINDS))
    p.add_argument("--train")
    p.add_argument("--dev")
    p.add_argument(
        "--parity", metavar="NPZ", help="only compare ours' loss and gradients on a batch (see parity())"
    )
    p.add_argument("--test", help="also report test_ metrics on this file")
    p.add_argument("--label-separator", default="|", help="multi-label: between a cell's labels (default |)")
    p.add_argument(
        "--threshold", type=float, default=0.5, help="multi-label: decision threshold (default 0.5)"
    )
    args = p.parse_args()
    torch = setup(args)
    from transformers import BertTokenizer

    tokenizer = BertTokenizer(os.path.join(args.model_dir, "vocab.txt"), do_lower_case=True)
    config, electra = load_backbone(args.model_dir)
    if args.parity:
        return print(json.dumps(parity(args, config, torch)))
    if not (args.train and args.dev):
        p.error("--train and --dev are required")
    model, items, scorer, collate, batch_loss, facts = KINDS[args.task](args, tokenizer, config, torch)
    model.electra = electra  # the pretrained backbone; the head keeps HF's own initialization
    evals = {"": scorer(args.dev), **({"test_": scorer(args.test)} if args.test else {})}
    result = {
        "side": "hf-torch",
        "task": args.task,
        "seed": args.seed,
        **facts,
        **train(model, items, collate, batch_loss, args),
        "attn_implementation": config._attn_implementation,
    }
    for prefix, score in evals.items():
        result.update({prefix + key: value for key, value in score(model).items()})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
