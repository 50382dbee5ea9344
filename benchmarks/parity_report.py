"""Print the max-abs differences between our converted models and the reference outputs.

    .venv/bin/python benchmarks/parity_report.py

Rows: the shared TF fixture (tests/fixtures/tf_small_like: original google-research/electra outputs), our own
TF fixture (HF transformers outputs) and LTP-tiny (real weights, HF transformers outputs).
Only real (unpadded) tokens are compared.
"""

import os
import sys
import tempfile

import numpy as np
import paddle

from paddle_electra import ElectraDiscriminator, ElectraGenerator, ElectraModel
from paddle_electra_convert import convert_hf, convert_tf_checkpoint
from paddle_electra_convert.assets import ltp_tiny_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "tests", "fixtures", "tf_small_like")


def run(model, ids, types, mask):
    model.eval()
    tensors = [paddle.to_tensor(np.asarray(a).astype("int64")) for a in (ids, types, mask)]
    out, states = model(*tensors, output_hidden_states=True)
    return out.numpy(), states[-1].numpy()


def diff(a, b, mask):
    return float(np.abs(a - b)[mask.astype(bool)].max())


def tf_rows(name, checkpoint, ref, keys, tmp):
    out = os.path.join(tmp, name)
    convert_tf_checkpoint(checkpoint, out, progress=False)
    ids, types, mask = (ref[k] for k in keys)
    rtd, disc_h = run(
        ElectraDiscriminator.from_pretrained(os.path.join(out, "discriminator")), ids, types, mask
    )
    mlm, gen_h = run(ElectraGenerator.from_pretrained(os.path.join(out, "generator")), ids, types, mask)
    names = (
        ("disc_sequence_output", "rtd_logits", "gen_sequence_output", "gen_logits")
        if "segment_ids" in keys
        else ("disc_hidden_states", "rtd_logits", "gen_hidden_states", "gen_logits")
    )
    for label, ours, ref_key in zip(
        ("discriminator hidden", "RTD logits", "generator hidden", "MLM logits"),
        (disc_h, rtd, gen_h, mlm),
        names,
    ):
        print(f"| {name} | {label} | {diff(ours, ref[ref_key], mask):.2e} |")


def main():
    print("| checkpoint | output | max abs diff |\n|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        ref = np.load(os.path.join(SHARED, "reference.npz"))
        tf_rows(
            "shared TF fixture vs original TF code",
            SHARED,
            ref,
            ("input_ids", "segment_ids", "input_mask"),
            tmp,
        )
        tiny = os.path.join(ROOT, "tests", "fixtures", "tf_tiny")
        ref = np.load(os.path.join(tiny, "reference.npz"))
        tf_rows(
            "own TF fixture vs HF transformers",
            os.path.join(tiny, "training"),
            ref,
            ("input_ids", "token_type_ids", "attention_mask"),
            tmp,
        )
        ref = np.load(os.path.join(ROOT, "tests", "fixtures", "ltp_tiny_reference.npz"))
        convert_hf(ltp_tiny_dir(), os.path.join(tmp, "ltp"))
        model = ElectraModel.from_pretrained(os.path.join(tmp, "ltp"))
        model.eval()
        tensors = [paddle.to_tensor(ref[k]) for k in ("input_ids", "token_type_ids", "attention_mask")]
        _, states = model(*tensors, output_hidden_states=True)
        worst = max(diff(s.numpy(), r, ref["attention_mask"]) for s, r in zip(states, ref["hidden_states"]))
        print(
            f"| LTP-tiny (real weights) vs HF transformers | all {len(states)} hidden states | {worst:.2e} |"
        )


if __name__ == "__main__":
    sys.exit(main())
