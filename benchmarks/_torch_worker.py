"""Peer side of bench_inference.py: HF transformers ElectraModel (the encoder), PyTorch eager, CPU.

Run by bench_inference.py in the reference env (torch, no paddle):
    $PADDLE_ELECTRA_REF_PYTHON benchmarks/_torch_worker.py --model-dir HF_DIR --inputs inputs.npz \
        --shapes 1x128:3,32x128:3 [--threads 2] [--outputs-out hidden.npy]
Prints one JSON object: {"BxL": {"tokens_per_s": [...], "cores": c}, ...}.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
from transformers import ElectraModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import parse_shapes, time_forward  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument(
        "--inputs", required=True, help="npz with input_ids, token_type_ids, attention_mask [B, L]"
    )
    ap.add_argument("--shapes", default="1x128:3,32x128:3", help="BATCHxLENGTH:REPETITIONS,...")
    ap.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's own)")
    ap.add_argument(
        "--outputs-out", help="save the hidden states of the first 2 rows here (for the parity check)"
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = ElectraModel.from_pretrained(args.model_dir).eval()
    data = {k: torch.from_numpy(v) for k, v in np.load(args.inputs).items()}
    result = {"threads": torch.get_num_threads()}
    with torch.inference_mode():
        if args.outputs_out:
            np.save(args.outputs_out, model(**{k: v[:2] for k, v in data.items()}).last_hidden_state.numpy())
        for b, length, n in parse_shapes(args.shapes):
            feed = {k: v[:b, :length] for k, v in data.items()}
            rates, cores = time_forward(lambda: model(**feed), b * length, n)
            result[f"{b}x{length}"] = {"tokens_per_s": rates, "cores": cores}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
