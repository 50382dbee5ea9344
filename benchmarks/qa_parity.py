"""Our reading comprehension path against independent implementations, on the CMRC 2018 trial split
that finetune_cmrc2018.py makes (run that first, or pass --split-dir).

1. Featurization: `paddle_electra.tasks.squad.featurize` against `_hf_qa.featurize` (HF BertTokenizerFast
   with offsets and overflowing windows, as HF's run_qa.py): windows per question, ids, token types,
   character spans, gold positions and max-context flags, over the training and held-out files;
   also the gold answers' lengths in tokens.
2. The original ELECTRA QA head: ours (Paddle) against `_hf_qa.build_model` (PyTorch) with the same
   weights (LTP-tiny backbone + our randomly initialised head), dropout 0, on the first training
   windows: loss, the head's weight gradients and the beam outputs. The PyTorch side runs in the
   reference environment ($PADDLE_ELECTRA_REF_PYTHON) on arrays this script saves.

    PADDLE_ELECTRA_REF_PYTHON=REF_ENV/bin/python .venv/bin/python benchmarks/qa_parity.py
"""

import argparse
import collections
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import CLEAN_ENV, ref_python  # noqa: E402

SPLIT = "/tmp/paddle-electra-results/cmrc2018/data-204of256"
HEAD_LAYERS = ("start_logits", "qa_hidden", "qa_logits", "answerable_hidden", "answerable_logit")


def compare_features(args, tokenizer):
    import _hf_qa
    from transformers import BertTokenizerFast

    from paddle_electra.tasks.readers import read_squad
    from paddle_electra.tasks.squad import featurize

    fast = BertTokenizerFast(os.path.join(args.model, "vocab.txt"), do_lower_case=True)
    hf_args = argparse.Namespace(
        max_query_length=64, max_seq_length=args.max_seq_length, doc_stride=128, training=True
    )
    report = {}
    for name in ("train/train.json", "heldout.json"):
        path = os.path.join(args.split_dir, name)
        ours = featurize(read_squad(path), tokenizer, max_seq_length=args.max_seq_length, training=True)
        theirs = _hf_qa.featurize(_hf_qa.read_squad(path), fast, hf_args)
        diff = collections.Counter(windows=len(ours) != len(theirs))
        for a, b in zip(ours, theirs):
            diff["ids"] += a.input_ids != b["ids"]
            diff["token_types"] += a.token_type_ids != b["types"]
            diff["spans"] += [tuple(s) if s else None for s in a.token_spans] != b["offsets"]
            diff["positions"] += (a.start_position, a.end_position) != (b["start"], b["end"])
            diff["max_context"] += a.max_context != b["max_context"]
        report[name] = {
            "windows": len(ours),
            "windows_differing": dict(diff),
            "answer_tokens": answer_lengths(ours),
        }
    return report


def answer_lengths(windows):
    """Gold answer length in tokens per question (its first window holding the answer): mean and the
    shares longer than 30 (the default max_answer_length) and 64 tokens."""
    lengths = {}
    for w in windows:
        if w.start_position > 0:
            lengths.setdefault(w.example_index, w.end_position - w.start_position + 1)
    n = len(lengths)
    return {
        "questions": n,
        "mean": round(sum(lengths.values()) / n, 1),
        "share_over_30": round(sum(v > 30 for v in lengths.values()) / n, 3),
        "share_over_64": round(sum(v > 64 for v in lengths.values()) / n, 3),
    }


def paddle_head(args, tokenizer):
    import numpy as np
    import paddle

    from paddle_electra.models.heads import ElectraForQuestionAnswering
    from paddle_electra.tasks.readers import read_squad
    from paddle_electra.tasks.registry import get_task
    from paddle_electra.training.finetune import collate

    examples = read_squad(os.path.join(args.split_dir, "train", "train.json"))[:3]
    batch = collate(get_task("cmrc2018").encode(examples, tokenizer, args.max_seq_length, training=True)[0])
    paddle.seed(0)
    net = ElectraForQuestionAnswering.from_pretrained(
        args.model, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, new_head=True
    )
    net.train()
    inputs = [batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")]
    loss = net(*inputs, batch["start_positions"], batch["end_positions"])[0]
    loss.backward()
    net.eval()
    with paddle.no_grad():
        beam = net(*inputs)
    arrays = {
        k: batch[k].numpy()
        for k in ("input_ids", "token_type_ids", "attention_mask", "start_positions", "end_positions")
    }
    arrays.update(loss=loss.numpy(), **{f"beam{i}": o.numpy() for i, o in enumerate(beam[:4])})
    for layer in HEAD_LAYERS:
        arrays[f"{layer}.weight"] = getattr(net, layer).weight.numpy()
        arrays[f"{layer}.bias"] = getattr(net, layer).bias.numpy()
        arrays[f"{layer}.grad"] = getattr(net, layer).weight.grad.numpy()
    np.savez(args.arrays, **arrays)


def torch_head(args):
    """The PyTorch side (reference environment): compare with the saved Paddle arrays."""
    import _hf_qa
    import numpy as np
    from _hf_finetune import load_backbone, setup

    torch = setup(argparse.Namespace(seed=0, threads=0))
    d = np.load(args.arrays)
    config, electra = load_backbone(args.hf_model)
    for module in electra.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    model = _hf_qa.build_model("original", config, electra, 20)
    with torch.no_grad():
        for layer in HEAD_LAYERS:
            getattr(model, layer).weight.copy_(torch.tensor(d[f"{layer}.weight"]).T)  # Paddle keeps [in, out]
            getattr(model, layer).bias.copy_(torch.tensor(d[f"{layer}.bias"]))
    t = {
        k: torch.tensor(d[k])
        for k in ("input_ids", "token_type_ids", "attention_mask", "start_positions", "end_positions")
    }
    inputs = (t["input_ids"], t["token_type_ids"], t["attention_mask"])
    model.train()
    loss = model(*inputs, t["start_positions"], t["end_positions"])
    loss.backward()
    model.eval()
    with torch.no_grad():
        beam = [o.numpy() for o in model(*inputs)]
    print(
        json.dumps(
            {
                "loss_paddle": float(d["loss"]),
                "loss_torch": float(loss),
                "head_grad_max_abs_diff": max(
                    float(np.abs(getattr(model, layer).weight.grad.T.numpy() - d[f"{layer}.grad"]).max())
                    for layer in HEAD_LAYERS
                ),
                "beam_indices_equal": bool((beam[1] == d["beam1"]).all() and (beam[3] == d["beam3"]).all()),
                "beam_log_prob_max_abs_diff": max(
                    float(np.abs(beam[i] - d[f"beam{i}"]).max()) for i in (0, 2)
                ),
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--split-dir", default=SPLIT, help=f"the split finetune_cmrc2018.py wrote (default {SPLIT})"
    )
    parser.add_argument("--max-seq-length", type=int, default=384)
    parser.add_argument(
        "--model", help="converted LTP-tiny (default ~/.cache/paddle-electra/ltp_tiny_paddle)"
    )
    parser.add_argument(
        "--hf-model", help="LTP-tiny HF dir (default paddle_electra_convert.assets.ltp_tiny_dir())"
    )
    parser.add_argument(
        "--arrays", default="/tmp/paddle-electra-results/cmrc2018/qa_head_parity.npz", help=argparse.SUPPRESS
    )
    parser.add_argument("--torch-side", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_side:
        return torch_head(args)
    from finetune_chnsenticorp import hf_model_dir, paddle_model_dir

    from paddle_electra.models.tokenizer import ElectraTokenizer

    ref = ref_python()
    args.model = args.model or paddle_model_dir()
    args.hf_model = args.hf_model or hf_model_dir()
    tokenizer = ElectraTokenizer.from_pretrained(args.model)
    report = {"featurization": compare_features(args, tokenizer)}
    paddle_head(args, tokenizer)
    p = subprocess.run(
        [
            ref,
            os.path.abspath(__file__),
            "--torch-side",
            "--arrays",
            args.arrays,
            "--hf-model",
            args.hf_model,
        ],
        env=CLEAN_ENV,
        capture_output=True,
        text=True,
    )
    if p.returncode:
        sys.exit(f"error: the PyTorch side failed:\n{p.stderr[-3000:]}")
    report["original_head"] = json.loads(p.stdout.strip().splitlines()[-1])
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
