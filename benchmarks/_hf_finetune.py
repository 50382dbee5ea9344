"""HF transformers (PyTorch) peer of `paddle_electra.finetune.finetune` for sentence classification,
run in the reference environment (torch + transformers, no paddle) by finetune_chnsenticorp.py.

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
  longest text (as `paddle_electra.finetune.collate`), mean cross-entropy.
Tokenization: `transformers.BertTokenizer(vocab.txt, do_lower_case=True)`, max_length, truncation.
Throughput: training examples processed / wall time of the training loop only (from the first
batch to the last optimizer step, batch collation included; tokenization, model loading and
evaluation excluded), like paddlenlp's `train_samples_per_second`.

    $PADDLE_ELECTRA_REF_PYTHON benchmarks/_hf_finetune.py --model-dir LTP_TINY_HF_DIR \
        --train CHNSENTICORP/train.tsv --dev CHNSENTICORP/dev.tsv --seed 1

Prints one JSON line: accuracy, train_examples, train_runtime, train_examples_per_s, threads, ...
"""
import argparse
import json
import math
import os
import random
import resource
import time


def read_tsv(path):
    """label<TAB>text_a rows with a header, as paddle_electra.data.read_classification reads them."""
    with open(path, encoding="utf-8-sig") as f:
        rows = [line.rstrip("\r\n").split("\t") for line in f if line.strip()]
    header = rows[0]
    if "label" in header and "text_a" in header:
        li, ti = header.index("label"), header.index("text_a")
        rows = rows[1:]
    else:
        li, ti = 0, 1
    return [(r[li].strip(), r[ti]) for r in rows]


def busy_cpu_s():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", required=True, help="LTP-tiny HF dir (config nested at model.backbone.config)")
    p.add_argument("--train", required=True)
    p.add_argument("--dev", required=True)
    p.add_argument("--labels", default="0,1")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--epochs", type=float, default=1)
    p.add_argument("--learning-rate", type=float, default=3e-4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-seq-length", type=int, default=128)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--warmup-ratio", type=float, default=0.1)
    p.add_argument("--max-grad-norm", type=float, default=1.0)
    p.add_argument("--max-steps", type=int, default=-1, help="stop after this many steps (throughput-only runs)")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    p.add_argument("--pad-to", type=int, default=0, help="pad every training batch to this length (0: its longest text)")
    p.add_argument("--no-eval", action="store_true")
    args = p.parse_args()

    os.environ.setdefault("USE_TF", "0")  # the reference env also has tensorflow: keep transformers from importing it
    import numpy as np
    import torch
    from torch import nn
    from transformers import BertTokenizer, ElectraConfig, ElectraModel

    if args.threads:
        torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    labels = args.labels.split(",")
    tokenizer = BertTokenizer(os.path.join(args.model_dir, "vocab.txt"), do_lower_case=True)

    def encode(path):
        out = []
        for label, text in read_tsv(path):
            enc = tokenizer(text, max_length=args.max_seq_length, truncation=True)
            out.append((enc["input_ids"], enc["token_type_ids"], labels.index(label)))
        return out

    train, dev = encode(args.train), encode(args.dev)

    with open(os.path.join(args.model_dir, "config.json"), encoding="utf-8") as f:
        raw = json.load(f)
    config = ElectraConfig(**raw.get("model", {}).get("backbone", {}).get("config", raw))

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.electra = ElectraModel(config)
            self.dropout = nn.Dropout(config.hidden_dropout_prob)
            self.classifier = nn.Linear(config.hidden_size, len(labels))

        def forward(self, input_ids, token_type_ids, attention_mask):
            cls = self.electra(input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask)[0][:, 0]
            return self.classifier(self.dropout(cls))

    model = Classifier()
    state = torch.load(os.path.join(args.model_dir, "pytorch_model.bin"), map_location="cpu", weights_only=True)
    state = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.") and not k.endswith("position_ids")}
    missing, unexpected = model.electra.load_state_dict(state, strict=False)
    assert not unexpected and not [k for k in missing if not k.endswith(("position_ids", "token_type_ids"))], (missing, unexpected)
    nn.init.normal_(model.classifier.weight, mean=0.0, std=config.initializer_range)
    nn.init.zeros_(model.classifier.bias)

    decay = [p_ for n, p_ in model.named_parameters() if not any(nd in n.lower() for nd in ("bias", "norm"))]
    no_decay = [p_ for n, p_ in model.named_parameters() if any(nd in n.lower() for nd in ("bias", "norm"))]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=args.learning_rate, betas=(0.9, 0.999), eps=1e-8)
    steps_per_epoch = math.ceil(len(train) / args.batch_size)
    total = args.max_steps if args.max_steps > 0 else math.ceil(steps_per_epoch * args.epochs)
    warmup = int(args.warmup_ratio * total)

    def lr_lambda(step):
        if step < warmup:
            return float(step) / float(max(1, warmup))
        return max(0.0, float(total - step) / float(max(1, total - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
    loss_fn = nn.CrossEntropyLoss()

    def collate(rows):
        n = max([len(r[0]) for r in rows] + [pad_to])
        ids = torch.zeros(len(rows), n, dtype=torch.long)
        types = torch.zeros(len(rows), n, dtype=torch.long)
        mask = torch.zeros(len(rows), n, dtype=torch.long)
        for i, (a, t, _) in enumerate(rows):
            ids[i, : len(a)] = torch.tensor(a)
            types[i, : len(t)] = torch.tensor(t)
            mask[i, : len(a)] = 1
        return ids, types, mask, torch.tensor([r[2] for r in rows], dtype=torch.long)

    pad_to = args.pad_to
    generator = torch.Generator().manual_seed(args.seed)
    model.train()
    step, seen, losses, window = 0, 0, [], 0.0
    busy0, own0 = busy_cpu_s(), own_cpu_s()
    start = time.perf_counter()
    while step < total:
        order = torch.randperm(len(train), generator=generator).tolist()
        for b in range(0, len(order), args.batch_size):
            ids, types, mask, y = collate([train[i] for i in order[b: b + args.batch_size]])
            loss = loss_fn(model(ids, types, mask), y)
            loss.backward()
            if args.max_grad_norm > 0:
                nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            seen += len(y)
            window += loss.item()
            if step % 50 == 0:  # mean over the last 50 steps, as paddlenlp's logging_steps=50 reports it
                losses.append(round(window / 50, 4))
                window = 0.0
            if step >= total:
                break
    runtime = time.perf_counter() - start
    own, busy = own_cpu_s() - own0, busy_cpu_s() - busy0

    result = {
        "side": "hf-torch", "seed": args.seed, "train_examples": seen, "steps": step, "train_runtime": round(runtime, 2),
        "train_examples_per_s": round(seen / runtime, 2), "process_cores": round(own / runtime, 2),
        "foreign_cores": round(max(0.0, busy - own) / runtime, 2), "threads": torch.get_num_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "attn_implementation": config._attn_implementation,
        "loss_every_50_steps": losses, "torch": torch.__version__,
    }
    if not args.no_eval:
        model.eval()
        correct = 0
        with torch.no_grad():
            for b in range(0, len(dev), args.batch_size):
                ids, types, mask, y = collate(dev[b: b + args.batch_size])
                correct += int((model(ids, types, mask).argmax(-1) == y).sum())
        result["accuracy"] = correct / len(dev)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
