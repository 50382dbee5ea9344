"""HF transformers (PyTorch) peer of `paddle_electra.training.finetune.finetune` for sentence classification,
run in the reference environment (torch + transformers, no paddle) by finetune_chnsenticorp.py and
finetune_smp2020_ewect.py. Its backbone loading, padding and training loop are shared with the reading
comprehension peer (_hf_qa.py) and the peer of the other task kinds (_hf_tasks.py).

Model: `transformers.ElectraModel` loaded from the LTP-tiny `backbone.` weights, with the same head
as ours (ELECTRA's original classification head): final [CLS] state -> Dropout(hidden_dropout_prob)
-> Linear(hidden, num_labels), weight ~ N(0, initializer_range), bias 0.
Training mirrors the paddlenlp Trainer as `finetune` configures it:
- AdamW (betas 0.9/0.999, eps 1e-8), decoupled weight decay on every parameter whose name contains
  neither "bias" nor "norm" (paddlenlp's rule; in the HF model that is every parameter except the
  biases and the LayerNorm weights, i.e. the same set as in ours);
- gradient clipping by global norm 1.0 (TrainingArguments.max_grad_norm default);
- linear schedule, warm-up int(warmup_ratio x steps) steps from 0, then linear decay to 0 (the same
  lambda as paddlenlp's get_linear_schedule_with_warmup), stepped after every optimizer step;
- a random permutation of the training set per epoch (drop_last False), each batch padded to its
  longest text (as `paddle_electra.training.finetune.collate`), mean cross-entropy.
Data: a tsv with `label<TAB>text_a` (header optional), or a CSV with a header (`--text-column`,
`--label-column`; default text/label; quoting as Python's csv module writes it). The label set is
the sorted set of the training file's labels unless `--labels` names it.
Tokenization: `transformers.BertTokenizer(vocab.txt, do_lower_case=True)`, max_length, truncation.
Throughput: training examples processed / wall time of the training loop only (from the first
batch to the last optimizer step, batch collation included; tokenization, model loading and
evaluation excluded), like paddlenlp's `train_samples_per_second`.
Metrics on --dev (and --test): accuracy and macro-F1 (mean F1 over the labels that occur).

    $PADDLE_ELECTRA_REF_PYTHON benchmarks/_hf_finetune.py --model-dir LTP_TINY_HF_DIR \
        --train CHNSENTICORP/train.tsv --dev CHNSENTICORP/dev.tsv --seed 1

Prints one JSON line: accuracy, macro_f1, train_examples, train_runtime, train_examples_per_s, threads, ...
"""

import argparse
import csv
import json
import math
import os
import random
import resource
import time


def read_tsv(path):
    """label<TAB>text_a rows with a header, as paddle_electra.tasks.readers.read_classification reads them."""
    with open(path, encoding="utf-8-sig") as f:
        rows = [line.rstrip("\r\n").split("\t") for line in f if line.strip()]
    header = rows[0]
    if "label" in header and "text_a" in header:
        li, ti = header.index("label"), header.index("text_a")
        rows = rows[1:]
    else:
        li, ti = 0, 1
    return [(r[li].strip(), r[ti]) for r in rows]


def read_csv(path, text_column="text", label_column="label"):
    """(label, text) rows of a CSV file with a header."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        return [(row[label_column].strip(), row[text_column]) for row in csv.DictReader(f)]


def read_rows(path, text_column="text", label_column="label"):
    return read_csv(path, text_column, label_column) if path.endswith(".csv") else read_tsv(path)


def busy_cpu_s():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def add_training_args(p, max_seq_length=128):
    """The recipe options both peers share."""
    p.add_argument(
        "--model-dir", required=True, help="LTP-tiny HF dir (config nested at model.backbone.config)"
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--epochs", type=float, default=1)
    p.add_argument("--learning-rate", type=float, default=3e-4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-seq-length", type=int, default=max_seq_length)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--warmup-ratio", type=float, default=0.1)
    p.add_argument("--max-grad-norm", type=float, default=1.0)
    p.add_argument(
        "--max-steps", type=int, default=-1, help="stop after this many steps (throughput-only runs)"
    )
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")


def setup(args):
    """Import torch (and keep transformers off tensorflow), seed everything, set the threads."""
    os.environ.setdefault(
        "USE_TF", "0"
    )  # the reference env also has tensorflow: keep transformers from importing it
    import numpy as np
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    return torch


def load_backbone(model_dir):
    """(ElectraConfig, ElectraModel with the LTP-tiny `backbone.` weights)."""
    import torch
    from transformers import ElectraConfig, ElectraModel

    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        raw = json.load(f)
    config = ElectraConfig(**raw.get("model", {}).get("backbone", {}).get("config", raw))
    electra = ElectraModel(config)
    state = torch.load(os.path.join(model_dir, "pytorch_model.bin"), map_location="cpu", weights_only=True)
    state = {
        k[len("backbone.") :]: v
        for k, v in state.items()
        if k.startswith("backbone.") and not k.endswith("position_ids")
    }
    missing, unexpected = electra.load_state_dict(state, strict=False)
    assert not unexpected and not [
        k for k in missing if not k.endswith(("position_ids", "token_type_ids"))
    ], (missing, unexpected)
    return config, electra


def pad_batch(sequences, pad_to=0):
    """(ids, token types, attention mask), int64 tensors [len(sequences), longest (or pad_to)], of
    (ids, types) pairs padded with zeros at the end (as `paddle_electra.training.finetune.collate`)."""
    import torch

    n = max([len(ids) for ids, _ in sequences] + [pad_to])
    ids = torch.zeros(len(sequences), n, dtype=torch.long)
    types = torch.zeros(len(sequences), n, dtype=torch.long)
    mask = torch.zeros(len(sequences), n, dtype=torch.long)
    for i, (a, t) in enumerate(sequences):
        ids[i, : len(a)] = torch.tensor(a)
        types[i, : len(t)] = torch.tensor(t)
        mask[i, : len(a)] = 1
    return ids, types, mask


def batched_outputs(forward, items, collate, batch_size):
    """forward(collate(batch)) for each batch of `items` in order, without gradients, concatenated."""
    import torch

    with torch.no_grad():
        return torch.cat(
            [forward(collate(items[b : b + batch_size])) for b in range(0, len(items), batch_size)]
        )


def train(model, items, collate, batch_loss, args, on_epoch_end=None):
    """The training loop (see the module docstring). collate(items) -> batch; batch_loss(model,
    batch) -> mean loss; on_epoch_end(model), if given, after each full epoch (inside the timed
    loop, as the paddlenlp Trainer's per-epoch evaluation). Returns the training measurements."""
    import torch
    from torch import nn

    decay = [p_ for n, p_ in model.named_parameters() if not any(nd in n.lower() for nd in ("bias", "norm"))]
    no_decay = [p_ for n, p_ in model.named_parameters() if any(nd in n.lower() for nd in ("bias", "norm"))]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.learning_rate,
        betas=(0.9, 0.999),
        eps=1e-8,
    )
    steps_per_epoch = math.ceil(len(items) / args.batch_size)
    total = args.max_steps if args.max_steps > 0 else math.ceil(steps_per_epoch * args.epochs)
    warmup = int(args.warmup_ratio * total)

    def lr_lambda(step):
        if step < warmup:
            return float(step) / float(max(1, warmup))
        return max(0.0, float(total - step) / float(max(1, total - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
    generator = torch.Generator().manual_seed(args.seed)
    model.train()
    step, seen, losses, window = 0, 0, [], 0.0
    busy0, own0 = busy_cpu_s(), own_cpu_s()
    start = time.perf_counter()
    while step < total:
        order = torch.randperm(len(items), generator=generator).tolist()
        for b in range(0, len(order), args.batch_size):
            chunk = [items[i] for i in order[b : b + args.batch_size]]
            loss = batch_loss(model, collate(chunk))
            loss.backward()
            if args.max_grad_norm > 0:
                nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            seen += len(chunk)
            window += loss.item()
            if step % 50 == 0:  # mean over the last 50 steps, as paddlenlp's logging_steps=50 reports it
                losses.append(round(window / 50, 4))
                window = 0.0
            if step >= total:
                break
        if on_epoch_end is not None and b + args.batch_size >= len(order):  # a whole epoch done
            on_epoch_end(model)
            model.train()
    runtime = time.perf_counter() - start
    own, busy = own_cpu_s() - own0, busy_cpu_s() - busy0
    model.eval()
    return {
        "train_examples": seen,
        "steps": step,
        "train_runtime": round(runtime, 2),
        "train_examples_per_s": round(seen / runtime, 2),
        "process_cores": round(own / runtime, 2),
        "foreign_cores": round(max(0.0, busy - own) / runtime, 2),
        "threads": torch.get_num_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "loss_every_50_steps": losses,
        "torch": torch.__version__,
    }


def classification_scores(gold, predicted):
    """Accuracy and macro-F1: the mean F1 over the labels present in the gold labels or the predictions
    (scikit-learn's default, as paddle_electra.tasks.metrics.classification_scores)."""
    f1s = []
    for label in set(gold) | set(predicted):
        tp = sum(g == label and p == label for g, p in zip(gold, predicted))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return {
        "accuracy": sum(g == p for g, p in zip(gold, predicted)) / len(gold),
        "macro_f1": sum(f1s) / len(f1s),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_args(p)
    p.add_argument("--train", required=True)
    p.add_argument("--dev", required=True)
    p.add_argument("--test", help="also report test_accuracy / test_macro_f1 on this file")
    p.add_argument(
        "--labels", help="comma-separated label set (default: the sorted labels of the training file)"
    )
    p.add_argument("--text-column", default="text", help="CSV: the text column (default text)")
    p.add_argument("--label-column", default="label", help="CSV: the label column (default label)")
    p.add_argument(
        "--pad-to", type=int, default=0, help="pad every training batch to this length (0: its longest text)"
    )
    p.add_argument("--no-eval", action="store_true")
    p.add_argument(
        "--select-best",
        choices=["accuracy", "macro_f1"],
        help="evaluate on --dev after every epoch (timed with training, as the Trainer does) "
        "and keep the best epoch's weights by this metric (ours: `finetune --dev-file`); "
        "default: the last weights",
    )
    args = p.parse_args()
    torch = setup(args)
    from torch import nn
    from transformers import BertTokenizer

    train_rows = read_rows(args.train, args.text_column, args.label_column)
    labels = args.labels.split(",") if args.labels else sorted({label for label, _ in train_rows})
    tokenizer = BertTokenizer(os.path.join(args.model_dir, "vocab.txt"), do_lower_case=True)

    def encode(rows):
        out = []
        for label, text in rows:
            enc = tokenizer(text, max_length=args.max_seq_length, truncation=True)
            out.append((enc["input_ids"], enc["token_type_ids"], labels.index(label)))
        return out

    train_items = encode(train_rows)
    evals = {"": args.dev, "test_": args.test} if not args.no_eval else {}
    evals = {
        prefix: encode(read_rows(path, args.text_column, args.label_column))
        for prefix, path in evals.items()
        if path
    }
    config, electra = load_backbone(args.model_dir)

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.electra = electra
            self.dropout = nn.Dropout(config.hidden_dropout_prob)
            self.classifier = nn.Linear(config.hidden_size, len(labels))

        def forward(self, input_ids, token_type_ids, attention_mask):
            cls = self.electra(
                input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask
            )[0][:, 0]
            return self.classifier(self.dropout(cls))

    model = Classifier()
    nn.init.normal_(model.classifier.weight, mean=0.0, std=config.initializer_range)
    nn.init.zeros_(model.classifier.bias)
    loss_fn = nn.CrossEntropyLoss()

    def collate(rows):
        ids, types, mask = pad_batch([(a, t) for a, t, _ in rows], args.pad_to)
        return ids, types, mask, torch.tensor([r[2] for r in rows], dtype=torch.long)

    def batch_loss(net, batch):
        ids, types, mask, y = batch
        return loss_fn(net(ids, types, mask), y)

    def scores(items):
        logits = batched_outputs(lambda batch: model(*batch[:3]), items, collate, args.batch_size)
        return classification_scores([item[2] for item in items], logits.argmax(-1).tolist())

    best = {"metric": None, "state": None, "epochs": []}

    def keep_best(net):
        net.eval()
        metric = scores(evals[""])[args.select_best]
        best["epochs"].append(round(metric, 4))
        if best["metric"] is None or metric > best["metric"]:
            best.update(metric=metric, state={k: v.detach().clone() for k, v in net.state_dict().items()})

    result = {
        "side": "hf-torch",
        "seed": args.seed,
        "labels": labels,
        **train(model, train_items, collate, batch_loss, args, keep_best if args.select_best else None),
        "attn_implementation": config._attn_implementation,
    }
    if best["state"] is not None:
        model.load_state_dict(best["state"])
        result[f"dev_{args.select_best}_per_epoch"] = best["epochs"]
    for prefix, items in evals.items():
        result.update({prefix + key: value for key, value in scores(items).items()})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
